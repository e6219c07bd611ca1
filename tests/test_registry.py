"""core.optim.registry: every entry builds its torch optimizer with its hyperparameters'
defaults, variants carry their fixed keywords, and unknown names are refused."""

import pytest
import torch

from core.optim import registry


def test_registry_builds_every_torch_optimizer_with_its_hyperparameters():
    w = torch.nn.Parameter(torch.zeros(3))
    for name, entry in registry.REGISTRY.items():
        built = entry.build([w], 0.01)
        group = built.param_groups[0]
        assert group["lr"] == 0.01
        for h in entry.hypers:
            if h.name in ("beta1", "beta2"):
                assert group["betas"][0 if h.name == "beta1" else 1] == h.default, name
            else:
                assert group[h.name] == h.default, name
    assert registry.REGISTRY["Nesterov"].build([w], 0.1).param_groups[0]["nesterov"] is True


def test_overrides_reach_torch_and_the_rule_alike():
    entry = registry.spec("Nesterov")
    assert entry.settings({"momentum": 0.5}) == {"nesterov": True, "momentum": 0.5}
    assert entry.torch_kwargs({"momentum": 0.5}) == {"nesterov": True, "momentum": 0.5}
    assert registry.spec("Adam").torch_kwargs({"beta2": 0.9})["betas"] == (0.9, 0.9)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="Unknown optimizer 'Shampoo'"):
        registry.spec("Shampoo")
