"""Plain, hand-written oracles: one episode, one neuron pair at a time, straight from the paper's equations.

Every fast path in ``plastic/`` must match these (values and, through autograd, gradients).
"""
from __future__ import annotations

import torch
from torch import Tensor


def miconi_step(x_prev: Tensor, hebb: Tensor, drive: Tensor, w: Tensor, alpha: Tensor, eta: Tensor, rule: str,
                coupling: str, input_scale: float) -> tuple[Tensor, Tensor]:
    """One episode (no batch). x_prev, drive: (N,); hebb, w: (N, N); alpha: (N, N) or (1,)."""
    n = x_prev.shape[0]
    alpha_full = alpha.expand(n, n)
    x = []
    for j in range(n):
        total = sum((w[i, j] + alpha_full[i, j] * hebb[i, j]) * x_prev[i] for i in range(n))
        if coupling == "additive":
            x.append(torch.tanh(total + input_scale * drive[j]))
        else:
            x.append(drive[j] if drive[j] != 0 else torch.tanh(total))
    x = torch.stack(x)
    rows = []
    for i in range(n):
        row = []
        for j in range(n):
            if rule == "hebb":
                row.append((1 - eta[0]) * hebb[i, j] + eta[0] * x_prev[i] * x[j])
            else:
                row.append(hebb[i, j] + eta[0] * x[j] * (x_prev[i] - x[j] * hebb[i, j]))
        rows.append(torch.stack(row))
    return x, torch.stack(rows)
