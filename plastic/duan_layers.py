"""Building blocks of Duan et al. (2023): linear layers with per-sample fast weights, and the two cells.

Convention (as in ``plastic/miconi.py``): a weight is stored ``(in, out)``, row = presynaptic unit, so a batch of
row vectors is driven by ``x @ w``. A plastic layer's effective weight for episode b is ``w + alpha ⊙ A[b]``
(and bias ``b + alpha_b ⊙ A_b[b]``), where ``A`` is the per-episode trace kept in the recurrent state.

Why ``alpha ⊙ A`` and not a fast weight ``F`` directly: the paper updates ``F <- (1 - lam) F + eta s alpha ⊙ G``.
alpha is constant within an episode, so ``F = alpha ⊙ A`` with ``A <- (1 - lam) A + eta s G`` exactly (both start
at 0). Keeping ``A`` lets the update be one batched outer product added to a decayed trace, never an
``alpha ⊙ G`` tensor; the oracle in ``tests/reference.py`` keeps ``F`` itself and checks the two agree.
``A`` is held either dense, (B, in, out) per layer (``DenseFast``), or as the history of its outer products
(``FactoredFast``), which needs no per-sample matrix at all.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from plastic.common import check_choice, check_input

ALPHA_INITS = ("uniform", "ones", "neg_ones")


def _alpha(shape: tuple[int, ...], init: str) -> Tensor:
    if init == "uniform":
        return torch.rand(shape) * 2 - 1  # U(-1, 1), the paper's per-connection init
    return torch.full(shape, 1.0 if init == "ones" else -1.0)


class PlasticLinear(nn.Module):
    """``z = x @ (w + fast_w) + (b + fast_b)`` with ``fast_w = alpha ⊙ A`` per sample.

    Slow weights and biases ~ U(-bound, bound). ``plastic`` adds a per-connection ``alpha`` for the weight;
    ``plastic_bias`` one for the bias (the gradient rule has a non-zero bias update; Hebbian does not).

    Args:
        in_features, out_features: sizes of ``x`` and ``z``.
        bound: slow weights and biases start uniform on (-bound, bound).
        plastic: give the weight a per-connection ``alpha_w`` (fast weights ``alpha_w ⊙ A``).
        plastic_bias: give the bias a per-unit ``alpha_b``.
        alpha_init: alphas drawn ``"uniform"`` on (-1, 1), or all ``"ones"`` / ``"neg_ones"``.
        learn_alpha: whether the alphas are trained (else fixed buffers).
    """

    def __init__(self, in_features: int, out_features: int, bound: float, plastic: bool, plastic_bias: bool,
                 alpha_init: str, learn_alpha: bool) -> None:
        super().__init__()
        check_choice("alpha_init", alpha_init, ALPHA_INITS)
        self.in_features, self.out_features = in_features, out_features
        self.plastic, self.plastic_bias = plastic, plastic_bias
        self.w = nn.Parameter((torch.rand(in_features, out_features) * 2 - 1) * bound)
        self.b = nn.Parameter((torch.rand(out_features) * 2 - 1) * bound)
        for name, flag, shape in (("alpha_w", plastic, (in_features, out_features)),
                                  ("alpha_b", plastic_bias, (out_features,))):
            if not flag:
                setattr(self, name, None)
            elif learn_alpha:
                setattr(self, name, nn.Parameter(_alpha(shape, alpha_init)))
            else:
                self.register_buffer(name, _alpha(shape, alpha_init))

    def trace_shapes(self) -> list[tuple[int, ...]]:
        """Per-sample shapes of this layer's traces, in order: weight, then bias."""
        shapes = [(self.in_features, self.out_features)] if self.plastic else []
        return shapes + ([(self.out_features,)] if self.plastic_bias else [])

    def dense_view(self, trace: Tensor) -> "DenseFast":
        return DenseFast(self.alpha_w * trace)

    def factored_view(self, pre: Tensor, post: Tensor, weight: Tensor) -> "FactoredFast | None":
        return FactoredFast(self.alpha_w, pre, post, weight) if pre.shape[1] else None

    def forward(self, x: Tensor, fast: "DenseFast | FactoredFast | None" = None,
                fast_b: Tensor | None = None) -> Tensor:
        """x: (B, in) -> z: (B, out)."""
        check_input(x, self.in_features, step=True)
        z = torch.addmm(self.b, x, self.w)
        if fast is not None:
            z = z + fast.drive(x)
        if fast_b is not None:
            z = z + fast_b
        return z

    def back(self, g: Tensor, fast: "DenseFast | FactoredFast | None") -> Tensor:
        """dL/dx from dL/dz: ``g @ (w + alpha ⊙ A)^T``. g: (B, out) -> (B, in)."""
        gx = g @ self.w.t()
        return gx if fast is None else gx + fast.back(g)


class DenseFast:
    """The fast weight materialised per sample: ``fast_w = alpha ⊙ A``, (B, in, out)."""

    def __init__(self, fast_w: Tensor) -> None:
        self.fast_w = fast_w

    def drive(self, x: Tensor) -> Tensor:
        return torch.bmm(x.unsqueeze(1), self.fast_w).squeeze(1)  # (B, out)

    def back(self, g: Tensor) -> Tensor:
        return torch.bmm(g.unsqueeze(1), self.fast_w.transpose(1, 2)).squeeze(1)  # (B, in)


class FactoredFast:
    """The trace kept as its history: ``A = sum_tau weight_tau outer(pre_tau, post_tau)``.

    Every update adds one outer product to a decayed trace, so after t steps A is a weighted sum of t outer
    products (``weight`` carries eta * s and the decays since). Then, with no (B, in, out) tensor::

        x @ (alpha ⊙ A)   = sum_tau weight_tau post_tau ⊙ ((x ⊙ pre_tau) @ alpha)
        g @ (alpha ⊙ A)^T = sum_tau weight_tau pre_tau ⊙ ((g ⊙ post_tau) @ alpha^T)

    one (B t, in) x (in, out) matrix product per step instead of streaming B dense traces. The cost grows with
    the step index t (O(T^2) per episode) but is compute-bound; the dense trace is memory-bound. Measured on a
    2-core CPU (RNN-256, gradient rule, B = 64): 0.40 vs 2.15 s per update at T = 20, 3.5 vs 10 s at T = 60.
    """

    def __init__(self, alpha: Tensor, pre: Tensor, post: Tensor, weight: Tensor) -> None:
        self.alpha, self.pre, self.post, self.weight = alpha, pre, post, weight  # (in, out), (B,t,in), (B,t,out), (B,t)

    def drive(self, x: Tensor) -> Tensor:
        m = (x.unsqueeze(1) * self.pre) @ self.alpha  # (B, t, out)
        return (self.weight.unsqueeze(2) * self.post * m).sum(1)

    def back(self, g: Tensor) -> Tensor:
        m = (g.unsqueeze(1) * self.post) @ self.alpha.t()  # (B, t, in)
        return (self.weight.unsqueeze(2) * self.pre * m).sum(1)


def cell_bound(hidden_size: int) -> float:
    """Slow-weight init bound of the recurrent layers: 1/sqrt(H), torch's RNNCell/LSTMCell default (the
    reference's scale/sqrt(fan_out) with scale 1 for (H, H) and 2 for (H, 4H) gives the same number)."""
    return 1.0 / math.sqrt(hidden_size)


class LSTMGates(NamedTuple):
    i: Tensor  # (B, H) input gate
    f: Tensor  # (B, H) forget gate
    g: Tensor  # (B, H) cell input
    o: Tensor  # (B, H) output gate


def lstm_cell(z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor, LSTMGates]:
    """Gate pre-activations z: (B, 4H) in order i, f, g, o -> (h, c, gates)."""
    zi, zf, zg, zo = z.chunk(4, dim=-1)
    gates = LSTMGates(torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo))
    c = gates.f * c_prev + gates.i * gates.g
    return gates.o * torch.tanh(c), c, gates


def lstm_cell_backward(g_h: Tensor, gates: LSTMGates, c_prev: Tensor, c: Tensor) -> Tensor:
    """dL/dz (B, 4H) from dL/dh (B, H) through one LSTM step (h = o tanh(c), c = f c_prev + i g)."""
    tc = torch.tanh(c)
    g_c = g_h * gates.o * (1 - tc * tc)
    return torch.cat([
        g_c * gates.g * gates.i * (1 - gates.i),
        g_c * c_prev * gates.f * (1 - gates.f),
        g_c * gates.i * (1 - gates.g * gates.g),
        g_h * tc * gates.o * (1 - gates.o),
    ], dim=-1)
