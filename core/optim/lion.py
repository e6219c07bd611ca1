"""Lion for torch (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

The paper's update, per parameter with gradient g and momentum m:
    c = beta1 * m + (1 - beta1) * g
    p = p * (1 - lr * weight_decay) - lr * sign(c)
    m = beta2 * m + (1 - beta2) * g
No maintained package ships it for this torch release, so it lives here (tests check it
against the rule above).
"""

from __future__ import annotations

import torch


class Lion(torch.optim.Optimizer):
    """Sign-of-momentum optimizer; use a learning rate 3-10x smaller than AdamW's."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        if not lr > 0:
            raise ValueError(f"Learning rate must be above zero, got {lr}.")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Betas must lie in [0, 1), got {betas}.")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                p.mul_(1 - lr * wd)
                p.add_(torch.sign(m * beta1 + p.grad * (1 - beta1)), alpha=-lr)
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss
