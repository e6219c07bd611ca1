"""core.optim.lion: Lion follows its paper's update rule and refuses a rate of zero."""

import numpy as np
import pytest
import torch

from core.optim.lion import Lion


def test_lion_follows_the_paper_rule():
    g = torch.tensor([0.5, -2.0, 0.0], dtype=torch.float64)
    p = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    lion = Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    m, ref = np.zeros(3), np.ones(3)
    for _ in range(3):
        p.grad = g.clone()
        lion.step()
        c = 0.9 * m + 0.1 * g.numpy()
        ref = ref * (1 - 0.1 * 0.5) - 0.1 * np.sign(c)
        m = 0.99 * m + 0.01 * g.numpy()
    np.testing.assert_allclose(p.detach().numpy(), ref, rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        Lion([p], lr=0.0)
