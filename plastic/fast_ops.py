"""Two autograd building blocks of the fast Miconi path (``plastic/miconi_fast.py``), written out because on a
CPU every fresh N x N buffer is a full pass over memory (and, on a loaded machine, page faults: ~8 ms to write a
new 4 MB tensor vs ~0.6 ms to update one in place, measured under load; ~0.35 ms idle), and autograd's generic
backward allocates several per step.

- ``Deferred``: ``y_i = a_i @ W`` for row blocks ``a_i`` computed one step at a time, where autograd would form
  one N x N outer product per step for ``W``'s gradient; here ``W``'s gradient is ``stack(a)^T @ stack(g)``,
  one matrix product after the last step.
- ``chunk_end``: the trace after a chunk, ``h0 * decay[col] + pres_t @ v_t``, and ``alpha *`` that trace, with
  a backward that allocates three (B, N, N) tensors where autograd's mul/baddbmm/mul chain allocates ~12.

Both backwards are first order only: asked for a second-order gradient (``create_graph=True``) they raise, naming
the fix (``impl='plain'``), instead of returning gradients that silently lack the terms through these blocks.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch
from torch import Tensor


def first_order_only(backward: Callable[..., Any]) -> Callable[..., Any]:
    """A backward that runs without building a graph, and refuses to be differentiated: autograd enables grad mode
    during backward only when create_graph=True, i.e. when a second-order gradient was asked for."""
    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        if torch.is_grad_enabled():
            raise RuntimeError("the fast Miconi path (plastic/fast_ops.py) has a first-order backward only: a "
                               "second-order gradient (create_graph=True) would silently miss its terms; build the "
                               "model with impl='plain' for higher-order gradients")
        return backward(ctx, *grads)
    return wrapper


class _ZerosWithDeferredGrad(torch.autograd.Function):
    """Zeros of ``shape`` whose gradient w.r.t. ``weight`` is ``saved^T @ grad`` over the row blocks that the
    list ``saved`` holds by then. Autograd runs this backward only after every consumer of the zeros has sent
    its gradient, that is after the backward of every step that appended to ``saved``."""

    @staticmethod
    def forward(ctx, weight: Tensor, saved: list[Tensor], batched: bool, shape: tuple[int, ...]) -> Tensor:
        ctx.saved, ctx.batched = saved, batched  # a plain list, filled by the steps after this call
        return weight.new_zeros(shape)

    @staticmethod
    @first_order_only
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        # a sequence may end before every probe was used: those rows' gradients are zeros, dropped here
        if ctx.batched:  # a: (steps, B, N); grad: (steps * B, N) -> one (N, N) per episode: (B, N, N)
            a = torch.stack(ctx.saved)
            g = grad[: a.shape[0] * a.shape[1]].view(a.shape[0], a.shape[1], -1).transpose(0, 1)  # (B, steps, N)
            return torch.bmm(a.permute(1, 2, 0), g), None, None, None
        a = torch.cat(ctx.saved)
        return a.T @ grad[: a.shape[0]], None, None, None  # (rows, N)^T @ (rows, N)


class Deferred:
    """``a_i @ weight`` for a sequence of row blocks ``a_i`` (``rows[i]`` rows each) with a deferred gradient.

    ``weight`` enters each product detached, plus a zero "probe" (a slice of one ``_ZerosWithDeferredGrad``
    output) whose gradient is that product's output gradient. ``batched``: ``weight`` is (B, N, N), one matrix
    per episode, and each ``a_i`` is (B, N). Without gradients (``torch.no_grad`` or a weight that needs none)
    it is a plain product. Holds no reference cycle through the graph: the graph keeps only ``saved``.
    """

    def __init__(self, weight: Tensor, rows: list[int], batched: bool = False) -> None:
        self.weight, self.batched, self.saved = weight.detach(), batched, []
        self.probes = None
        if torch.is_grad_enabled() and weight.requires_grad:
            shape = (sum(rows), weight.shape[-1])
            self.probes = _ZerosWithDeferredGrad.apply(weight, self.saved, batched, shape).split(rows)

    def __call__(self, a: Tensor) -> Tensor:
        y = torch.bmm(a.unsqueeze(1), self.weight).squeeze(1) if self.batched else a @ self.weight
        if self.probes is None:
            return y
        self.saved.append(a.detach())
        return y + self.probes[len(self.saved) - 1]


class _ChunkEnd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h0, alpha, decay, pres_t, v_t):
        if h0 is None:
            hebb = torch.bmm(pres_t, v_t)
        elif decay.dim() == 1:  # Hebb: one scalar decay, folded into the product (one pass over h0, not two)
            hebb = torch.baddbmm(h0, pres_t, v_t, beta=decay.item())
        else:  # Oja: one decay per (episode, column)
            hebb = torch.mul(h0, decay.unsqueeze(-2)).baddbmm_(pres_t, v_t)
        m = alpha * hebb if alpha is not None else hebb.new_zeros(())
        ctx.save_for_backward(h0, hebb if alpha is not None else None, alpha, decay, pres_t, v_t)
        ctx.set_materialize_grads(False)
        return hebb, m

    @staticmethod
    @first_order_only
    def backward(ctx, g_hebb, g_m):
        h0, hebb, alpha, decay, pres_t, v_t = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_alpha = g_h0 = g_decay = None
        if alpha is not None and g_m is not None:
            if need[1]:
                g_alpha = (g_m * hebb).sum(0) if g_m.shape[0] > 1 else (g_m * hebb)[0]
            # (B, N, N), owned here: updated in place below; one pass for g_hebb + g_m * alpha
            g = g_m * alpha if g_hebb is None else torch.addcmul(g_hebb, g_m, alpha)
        elif g_hebb is None:
            return None, None, None, None, None
        else:  # g_hebb belongs to autograd: copy before scaling it in place
            g = g_hebb.clone() if h0 is not None and need[0] else g_hebb
        g_pres = torch.bmm(g, v_t.transpose(1, 2)) if need[3] else None  # (B, N, k)
        g_v = torch.bmm(pres_t.transpose(1, 2), g) if need[4] else None  # (B, k, N)
        if h0 is not None and need[2]:
            if decay.dim() == 2:  # Oja: one decay per (episode, column)
                g_decay = (g * h0).sum(-2)  # (B, N)
            else:  # Hebb: one scalar decay, a dot product needs no N x N buffer
                g_decay = torch.dot(g.reshape(-1), h0.reshape(-1)).reshape(decay.shape)
        if h0 is not None and need[0]:
            g_h0 = g.mul_(decay.unsqueeze(-2))
        return g_h0, g_alpha, g_decay, g_pres, g_v


def chunk_end(h0: Tensor | None, alpha: Tensor | None, decay: Tensor, pres_t: Tensor,
              v_t: Tensor) -> tuple[Tensor, Tensor | None]:
    """The trace after a chunk and, when ``alpha`` is given, ``alpha *`` that trace.

    h0: (B, N, N) trace before the chunk, or None (zero); decay: its decay over the chunk, (B, N) (Oja) or
    (1,) (Hebb), applied per column; pres_t: (B, N, k); v_t: (B, k, N) -> hebb = h0 * decay + pres_t @ v_t.
    """
    hebb, m = _ChunkEnd.apply(h0, alpha, decay, pres_t, v_t)
    return hebb, (m if alpha is not None else None)
