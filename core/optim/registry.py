"""The optimizer registry, shared by the optimizer page and the CNN page: one `OptimizerSpec`
per optimizer the app offers, with its hyperparameters, how the real torch optimizer is
built, and its NumPy twin for the 2-D races (`core.optim.rules`).

    spec("AdamW").build(model.parameters(), lr=1e-3)   # torch.optim.AdamW
    list(REGISTRY)                                     # the names, in the order offered

torch is imported only when a torch optimizer is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from core.optim import rules

# torch_class -> the module of ours that defines it, where torch.optim has no such class
OWN_CLASSES = {"Lion": "core.optim.lion"}


@dataclass(frozen=True, kw_only=True)
class Hyper:
    """One exposed hyperparameter."""

    name: str  # keyword as the update rule and torch take it (betas split in two)
    default: float
    low: float  # smallest sensible value
    high: float  # largest sensible value
    help: str = ""


@dataclass(frozen=True, kw_only=True)
class OptimizerSpec:
    """An optimizer as the app offers it."""

    name: str  # shown in the app, e.g. "SGD + momentum"
    torch_class: str  # class name in torch.optim, or one of OWN_CLASSES
    rule: rules.Rule  # its NumPy update rule on (R, 2) points (core.optim.rules)
    hypers: tuple[Hyper, ...] = ()  # exposed hyperparameters, defaults as in torch
    fixed: dict = field(default_factory=dict)  # kwargs that make the variant (nesterov=True)
    default_lr: float = 1e-3  # a sensible starting learning rate

    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hypers}

    def settings(self, overrides: dict | None = None) -> dict:
        """Every keyword of the update but the rate: the variant's, the defaults, `overrides`."""
        return {**self.fixed, **self.defaults(), **(overrides or {})}

    def torch_kwargs(self, overrides: dict | None = None) -> dict:
        """Keyword arguments for the torch class, beta1/beta2 folded into betas."""
        hp = self.settings(overrides)
        kwargs = {k: v for k, v in hp.items() if k not in ("beta1", "beta2")}
        if "beta1" in hp:
            kwargs["betas"] = (hp["beta1"], hp["beta2"])
        return kwargs

    def build(self, params, lr: float, overrides: dict | None = None):
        """The torch optimizer over `params` at learning rate `lr`."""
        if self.torch_class in OWN_CLASSES:
            cls = getattr(importlib.import_module(OWN_CLASSES[self.torch_class]), self.torch_class)
        else:
            import torch

            cls = getattr(torch.optim, self.torch_class)
        return cls(params, lr=lr, **self.torch_kwargs(overrides))


MOMENTUM = Hyper(
    name="momentum", default=0.9, low=0.0, high=0.999, help="Share of the last step carried over"
)
EPS = Hyper(
    name="eps", default=1e-8, low=1e-12, high=1e-2, help="Added to the denominator for stability"
)
BETA1 = Hyper(name="beta1", default=0.9, low=0.0, high=0.999, help="Decay of the gradient average")
BETA2 = Hyper(
    name="beta2", default=0.999, low=0.5, high=0.99999, help="Decay of the squared-gradient average"
)
# each algorithm's exposed hyperparameters, defaults as in torch
ADAM = (BETA1, BETA2, EPS)
RMSPROP = (
    Hyper(name="alpha", default=0.99, low=0.5, high=0.9999, help="Decay of the average"),
    EPS,
)
ADAGRAD = (Hyper(name="eps", default=1e-10, low=1e-12, high=1e-2),)
ADADELTA = (
    Hyper(name="rho", default=0.9, low=0.5, high=0.9999, help="Decay of the averages"),
    Hyper(name="eps", default=1e-6, low=1e-10, high=1e-2),
)
ADAMW = (*ADAM, Hyper(name="weight_decay", default=0.01, low=0.0, high=1.0, help="Decoupled decay"))
NADAM = (
    *ADAM,
    Hyper(name="momentum_decay", default=4e-3, low=0.0, high=0.1, help="Nesterov schedule"),
)
LION = (
    Hyper(name="beta1", default=0.9, low=0.0, high=0.999, help="Interpolation for the update sign"),
    Hyper(name="beta2", default=0.99, low=0.5, high=0.9999, help="Decay of the momentum"),
    Hyper(name="weight_decay", default=0.0, low=0.0, high=1.0, help="Decoupled decay"),
)

REGISTRY: dict[str, OptimizerSpec] = {
    s.name: s
    for s in (
        OptimizerSpec(name="SGD", torch_class="SGD", rule=rules.sgd, default_lr=1e-2),
        OptimizerSpec(
            name="SGD + momentum",
            torch_class="SGD",
            rule=rules.sgd,
            hypers=(MOMENTUM,),
            default_lr=1e-2,
        ),
        OptimizerSpec(
            name="Nesterov",
            torch_class="SGD",
            rule=rules.sgd,
            hypers=(MOMENTUM,),
            fixed={"nesterov": True},
            default_lr=1e-2,
        ),
        OptimizerSpec(name="RMSprop", torch_class="RMSprop", rule=rules.rmsprop, hypers=RMSPROP),
        OptimizerSpec(
            name="Adagrad",
            torch_class="Adagrad",
            rule=rules.adagrad,
            hypers=ADAGRAD,
            default_lr=1e-2,
        ),
        OptimizerSpec(
            name="Adadelta",
            torch_class="Adadelta",
            rule=rules.adadelta,
            hypers=ADADELTA,
            default_lr=1.0,
        ),
        OptimizerSpec(name="Adam", torch_class="Adam", rule=rules.adam, hypers=ADAM),
        OptimizerSpec(name="AdamW", torch_class="AdamW", rule=rules.adam, hypers=ADAMW),
        OptimizerSpec(name="NAdam", torch_class="NAdam", rule=rules.nadam, hypers=NADAM),
        OptimizerSpec(name="RAdam", torch_class="RAdam", rule=rules.radam, hypers=ADAM),
        OptimizerSpec(
            name="Lion", torch_class="Lion", rule=rules.lion, hypers=LION, default_lr=1e-4
        ),
    )
}


def spec(name: str) -> OptimizerSpec:
    """The registry entry called `name`."""
    if name not in REGISTRY:
        raise ValueError(f"Unknown optimizer {name!r}: choose one of {', '.join(REGISTRY)}.")
    return REGISTRY[name]
