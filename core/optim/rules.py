"""NumPy update rules, one per algorithm of the registry, for the vectorised 2-D races.

Each rule follows its torch.optim class step for step (tests hold them to it) and moves
many runs at once: p and g have shape (R, 2), lr has shape (R, 1), t counts from 1, `state`
is the rule's own dict (it fills it on the first step) and `hp` holds every keyword of the
update but the rate (`OptimizerSpec.settings`). Each returns the new p.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray
Rule = Callable[[Array, Array, dict, Array, int, dict], Array]  # (p, g, state, lr, t, hp) -> p


def sgd(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    """SGD, with momentum where hp["momentum"] > 0, Nesterov's where hp["nesterov"]."""
    mu = hp.get("momentum", 0.0)
    if mu == 0:
        return p - lr * g
    state["buf"] = g.copy() if t == 1 else mu * state["buf"] + g
    return p - lr * (g + mu * state["buf"] if hp.get("nesterov") else state["buf"])


def rmsprop(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    state["v"] = hp["alpha"] * state.get("v", 0.0) + (1 - hp["alpha"]) * g * g
    return p - lr * g / (np.sqrt(state["v"]) + hp["eps"])


def adagrad(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    state["sum"] = state.get("sum", 0.0) + g * g
    return p - lr * g / (np.sqrt(state["sum"]) + hp["eps"])


def adadelta(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    rho, eps = hp["rho"], hp["eps"]
    state["v"] = rho * state.get("v", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(state.get("u", 0.0) + eps) / np.sqrt(state["v"] + eps) * g
    state["u"] = rho * state.get("u", 0.0) + (1 - rho) * delta * delta
    return p - lr * delta


def _moments(g: Array, state: dict, hp: dict) -> tuple[float, float]:
    """Update the first and second moment averages; (beta1, beta2)."""
    b1, b2 = hp["beta1"], hp["beta2"]
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    return b1, b2


def adam(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    """Adam, and AdamW where hp["weight_decay"] > 0 (decoupled decay)."""
    p = p * (1 - lr * hp.get("weight_decay", 0.0))
    b1, b2 = _moments(g, state, hp)
    denom = np.sqrt(state["v"]) / np.sqrt(1 - b2**t) + hp["eps"]
    return p - lr / (1 - b1**t) * state["m"] / denom


def nadam(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    b1, b2 = _moments(g, state, hp)
    psi = hp["momentum_decay"]
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    state["mu_product"] = state.get("mu_product", 1.0) * mu
    denom = np.sqrt(state["v"] / (1 - b2**t)) + hp["eps"]
    p = p - lr * (1 - mu) / (1 - state["mu_product"]) * g / denom
    return p - lr * mu_next / (1 - state["mu_product"] * mu_next) * state["m"] / denom


def radam(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    b1, b2 = _moments(g, state, hp)
    m_hat = state["m"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:  # too few steps for a trustworthy variance: plain momentum
        return p - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = np.sqrt(1 - b2**t) / (np.sqrt(state["v"]) + hp["eps"])
    return p - lr * m_hat * rect * adaptive


def lion(p: Array, g: Array, state: dict, lr: Array, t: int, hp: dict) -> Array:
    """Lion (core.optim.lion): the sign of a momentum blend, decoupled decay."""
    m = state.get("m", 0.0)
    p = p * (1 - lr * hp["weight_decay"])
    p = p - lr * np.sign(hp["beta1"] * m + (1 - hp["beta1"]) * g)
    state["m"] = hp["beta2"] * m + (1 - hp["beta2"]) * g
    return p
