"""Duan, Jia, Zhang, Li & Liu (ICLR 2023): plastic RNN/LSTM networks with Hebbian or gradient-based rules.

Network (every linear layer plastic): input encoder ``e = relu(x W_e + b_e)`` -> cell (ReLU RNN
``h = relu(h_prev W_hh + b_hh + e W_ih + b_ih)`` or LSTM with plastic ``W_hh``, ``W_ih``) -> readout
``o = h W_o + b_o`` with ``o = [task outputs | extra units | modulation unit m]``; the model returns the task
outputs. Each step, after the readout, every plastic tensor is updated (``F = alpha ⊙ A``, see
``plastic.duan_layers``)::

    F <- (1 - lam) F + eta * s * alpha ⊙ G,   eta = p_lr * 2 sigmoid(m),   lam = p_decay * 2 sigmoid(m)
    s = min(1, clip / ||G||)                  (L2 norm per sample over all plastic tensors together)

    hebbian:   G = outer(pre, post), post after the nonlinearity (LSTM: the 4H gate activations); biases fixed
    gradient:  G = dL/dF of the internal loss L = mean((omega ⊙ o)^2), this step only (no BPTT in the rule)

The gradient rule is computed in closed form (``grad_impl='closed_form'``: outer product of each layer's input
and the internal-loss gradient at its pre-activation, written out) or by autograd with ``create_graph=True``
(``'autograd'``, as the reference does); both are tested equal, values and outer gradients.

Normalisation of the internal loss (``internal_loss_norm``): the reference averages over outputs *and batch*,
so each episode's G shrinks as 1/B and its update depends on how many episodes share the batch (and changes
between training and evaluation batch sizes). ``'per_sample'`` (default) averages over outputs only, so an
episode's update is independent of the batch; ``'batch_mean'`` is the reference. At a fixed batch B they differ
only by omega: batch_mean equals per_sample with omega / sqrt(B).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from plastic.duan_layers import ALPHA_INITS, PlasticLinear, cell_bound, lstm_cell, lstm_cell_backward
from plastic.common import canonical_rule, check_choice, check_input, unroll

CELLS = ("rnn", "lstm")
DUAN_RULES = ("hebbian", "gradient", "none")  # "hebb" is accepted as an alias of "hebbian"
GRAD_IMPLS = ("closed_form", "autograd")
LOSS_NORMS = ("per_sample", "batch_mean")
FAST_WEIGHTS = ("factored", "dense")


class DuanState(NamedTuple):
    h: Tensor  # (B, H) hidden state
    c: Tensor  # (B, H) LSTM cell state; (B, 0) for the RNN
    traces: tuple[Tensor, ...]  # dense A: every plastic tensor ((B, in, out), (B, out)); factored: biases only
    pre: tuple[Tensor, ...] = ()  # factored: per plastic weight, the pre factors so far (B, t, in)
    post: tuple[Tensor, ...] = ()  # factored: per plastic weight, the post factors so far (B, t, out)
    weight: Tensor | None = None  # factored: (B, t) weight of each outer product (eta * s and decays since)


class _Step(NamedTuple):
    """What one forward step computed; the rules read their pre/post factors from it."""
    x: Tensor  # (B, D) input
    ze: Tensor  # (B, H) encoder pre-activation
    e: Tensor  # (B, H) encoder output
    h_prev: Tensor  # (B, H)
    c_prev: Tensor  # (B, H) or (B, 0)
    z: Tensor  # (B, H) or (B, 4H) cell pre-activation
    h: Tensor  # (B, H)
    c: Tensor  # (B, H) or (B, 0)
    post: Tensor  # (B, H) relu output or (B, 4H) LSTM gate activations
    gates: Any  # LSTMGates or None
    o: Tensor  # (B, K) full readout


class DuanNet(nn.Module):
    """Encoder -> plastic RNN/LSTM cell -> readout, with per-episode fast weights in the state.

    ``rule='none'`` is the same architecture without plasticity (widen it for matched parameters).

    Args:
        input_size, output_size: task inputs and outputs per step.
        cell: ``"rnn"`` (ReLU RNN) or ``"lstm"``.
        hidden_size: units of the cell.
        rule: ``"hebbian"`` (alias ``"hebb"``), ``"gradient"`` or ``"none"`` (no plasticity).
        grad_impl: the gradient rule computed in ``"closed_form"`` or by ``"autograd"`` (needs dense fast weights).
        internal_loss_norm: ``"per_sample"`` or ``"batch_mean"`` (the reference's; see the module docstring).
        modulation: add the modulation unit m to the readout (eta and lam depend on it).
        extra_units: readout units beyond the task outputs and m (>= 0).
        p_lr, p_decay: plasticity rate and decay scale, in [0, 0.5] (``p_decay`` None = ``p_lr``).
        update_clip: per-sample bound on the norm of a step's update; None = no clipping.
        alpha_init: per-connection alpha drawn ``"uniform"`` on (-1, 1), or all ``"ones"`` / ``"neg_ones"``.
        learn_alpha: whether alpha is trained.
        fast_weights: fast weights kept ``"factored"`` (history of rank-one updates) or ``"dense"``.

    ``forward`` takes time-first inputs (T, B, input_size) and checks their shape.
    """

    def __init__(self, input_size: int, output_size: int, cell: str = "rnn", hidden_size: int = 128,
                 rule: str = "gradient", grad_impl: str = "closed_form", internal_loss_norm: str = "per_sample",
                 modulation: bool = True, extra_units: int = 4, p_lr: float = 0.1, p_decay: float | None = None,
                 update_clip: float | None = 1.0, alpha_init: str = "uniform", learn_alpha: bool = True,
                 fast_weights: str = "factored") -> None:
        super().__init__()
        rule = canonical_rule(rule, DUAN_RULES)
        for name, value, allowed in (("cell", cell, CELLS), ("grad_impl", grad_impl, GRAD_IMPLS),
                                     ("internal_loss_norm", internal_loss_norm, LOSS_NORMS),
                                     ("alpha_init", alpha_init, ALPHA_INITS),
                                     ("fast_weights", fast_weights, FAST_WEIGHTS)):
            check_choice(name, value, allowed)
        if rule == "gradient" and grad_impl == "autograd" and fast_weights != "dense":
            raise ValueError("grad_impl='autograd' differentiates w.r.t. materialised fast weights: "
                             "set fast_weights='dense' (or grad_impl='closed_form')")
        self._check_numbers(input_size, output_size, hidden_size, extra_units, p_lr, p_decay, update_clip)
        if rule == "none" and (modulation or extra_units):
            raise ValueError("rule='none' has no plasticity to modulate: set modulation=False and "
                             "extra_units=0 (they would only add unused readout units)")
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.cell, self.rule, self.grad_impl, self.loss_norm = cell, rule, grad_impl, internal_loss_norm
        self.modulation, self.extra_units = modulation, extra_units
        self.p_lr, self.p_decay = p_lr, p_lr if p_decay is None else p_decay
        self.update_clip, self.fast_weights = update_clip, fast_weights
        self.readout_size = output_size + extra_units + int(modulation)
        gate_size = hidden_size * (4 if cell == "lstm" else 1)
        kw = dict(plastic=rule != "none", plastic_bias=rule == "gradient", alpha_init=alpha_init,
                  learn_alpha=learn_alpha)
        self.enc = PlasticLinear(input_size, hidden_size, 1 / math.sqrt(hidden_size), **kw)
        self.hh = PlasticLinear(hidden_size, gate_size, cell_bound(hidden_size), **kw)
        self.ih = PlasticLinear(hidden_size, gate_size, cell_bound(hidden_size), **kw)
        self.out = PlasticLinear(hidden_size, self.readout_size, 1 / math.sqrt(self.readout_size), **kw)
        self.layers = (self.enc, self.hh, self.ih, self.out)
        if rule == "gradient":
            self.omega = nn.Parameter(torch.ones(self.readout_size))  # per-output weight of the internal loss

    @staticmethod
    def _check_numbers(input_size: int, output_size: int, hidden_size: int, extra_units: int, p_lr: float,
                       p_decay: float | None, update_clip: float | None) -> None:
        if min(input_size, output_size, hidden_size) < 1 or extra_units < 0:
            raise ValueError(f"input_size={input_size}, output_size={output_size} and hidden_size={hidden_size} "
                             f"must be >= 1, extra_units={extra_units} >= 0")
        if not 0 <= p_lr <= 0.5 or (p_decay is not None and not 0 <= p_decay <= 0.5):
            raise ValueError(f"p_lr={p_lr} and p_decay={p_decay} must lie in [0, 0.5] "
                             "(eta and lam reach 2x that, and the decay factor 1 - lam must stay >= 0)")
        if update_clip is not None and not update_clip > 0:
            raise ValueError(f"update_clip={update_clip} must be > 0 or None (no clipping)")

    def trace_shapes(self) -> list[tuple[int, ...]]:
        """Per-sample shapes of every plastic tensor, in update order (weight then bias, layer by layer)."""
        return [shape for layer in self.layers for shape in layer.trace_shapes()]

    def initial_state(self, batch_size: int) -> DuanState:
        zeros = self.hh.w.new_zeros
        c_size = self.hidden_size if self.cell == "lstm" else 0
        h, c = zeros(batch_size, self.hidden_size), zeros(batch_size, c_size)
        shapes = self.trace_shapes()
        if self.fast_weights == "dense":
            return DuanState(h, c, tuple(zeros(batch_size, *shape) for shape in shapes))
        weights = [shape for shape in shapes if len(shape) == 2]
        return DuanState(h, c, tuple(zeros(batch_size, *shape) for shape in shapes if len(shape) == 1),
                         tuple(zeros(batch_size, 0, n_in) for n_in, _ in weights),
                         tuple(zeros(batch_size, 0, n_out) for _, n_out in weights), zeros(batch_size, 0))

    def _fast(self, state: DuanState) -> list[tuple[Any, Tensor | None]]:
        """Per layer (fast weight view or None, fast bias alpha_b ⊙ A_b or None)."""
        if self.rule == "none":
            return [(None, None)] * len(self.layers)
        dense = self.fast_weights == "dense"
        traces, fast = iter(state.traces), []
        for i, layer in enumerate(self.layers):
            view = layer.dense_view(next(traces)) if dense else \
                layer.factored_view(state.pre[i], state.post[i], state.weight)
            fast.append((view, layer.alpha_b * next(traces) if layer.plastic_bias else None))
        return fast

    def _forward(self, x: Tensor, state: DuanState, fast: list) -> _Step:
        ze = self.enc(x, *fast[0])  # (B, H)
        e = torch.relu(ze)
        z = self.hh(state.h, *fast[1]) + self.ih(e, *fast[2])  # (B, H) or (B, 4H)
        if self.cell == "rnn":
            h = torch.relu(z)
            c, post, gates = state.c, h, None
        else:
            h, c, gates = lstm_cell(z, state.c)
            post = torch.cat(gates, dim=-1)  # (B, 4H)
        o = self.out(h, *fast[3])  # (B, K)
        return _Step(x, ze, e, state.h, state.c, z, h, c, post, gates, o)

    def _loss_scale(self, batch_size: int) -> float:
        return 1.0 / (self.readout_size * (batch_size if self.loss_norm == "batch_mean" else 1))

    def internal_loss(self, o: Tensor) -> Tensor:
        """Sum over episodes of mean((omega ⊙ o)^2), divided by B for 'batch_mean'."""
        return (self.omega * o).square().sum() * self._loss_scale(o.shape[0])

    def _hebbian_factors(self, s: _Step) -> list[tuple[Tensor | None, Tensor]]:
        """G of each plastic tensor as (pre, post): G = outer(pre, post)."""
        return [(s.x, s.e), (s.h_prev, s.post), (s.e, s.post), (s.h, s.o)]

    def _gradient_factors(self, s: _Step, fast: list) -> list[tuple[Tensor | None, Tensor]]:
        """Closed-form G = dL/dF: outer(layer input, dL/d pre-activation) for weights, dL/dz for biases."""
        g_o = 2 * self.omega.square() * s.o * self._loss_scale(s.o.shape[0])  # (B, K)
        g_h = self.out.back(g_o, fast[3][0])  # (B, H)
        if self.cell == "rnn":
            g_z = g_h * (s.z > 0)  # (B, H); relu'(0) = 0 as in autograd
        else:
            g_z = lstm_cell_backward(g_h, s.gates, s.c_prev, s.c)  # (B, 4H)
        g_e = self.ih.back(g_z, fast[2][0]) * (s.ze > 0)  # (B, H)
        return [(s.x, g_e), (None, g_e), (s.h_prev, g_z), (None, g_z), (s.e, g_z), (None, g_z),
                (s.h, g_o), (None, g_o)]

    def _rates(self, o: Tensor) -> tuple[Tensor, Tensor]:
        """(eta, lam), each (B,): neuromodulated by the last readout unit, or the constants p_lr, p_decay."""
        if self.modulation:
            gain = 2 * torch.sigmoid(o[:, -1])
            return self.p_lr * gain, self.p_decay * gain
        ones = o.new_ones(o.shape[0])
        return self.p_lr * ones, self.p_decay * ones

    def _update(self, state: DuanState, grads: list, o: Tensor) -> DuanState:
        """A <- (1 - lam) A + eta s G for every plastic tensor. ``grads``: per tensor a full G (autograd) or a
        (pre, post) pair, G = outer(pre, post) (pre None for a bias: G = post)."""
        sq = sum(_sq_norm(g) for g in grads)  # (B,) squared L2 norm of G over all plastic tensors together
        eta, lam = self._rates(o)
        coef = eta if self.update_clip is None else \
            eta * self.update_clip / torch.sqrt(torch.clamp(sq, min=self.update_clip ** 2))  # eta * s
        keep = 1 - lam  # (B,) the decay; s scales only the learning term
        if self.fast_weights == "dense":
            return state._replace(traces=tuple(_decayed_add(a, g, keep, coef) for a, g in zip(state.traces, grads)))
        weight_grads = [g for g in grads if g[0] is not None]  # factored: weights append to their history
        bias_grads = [g for g in grads if g[0] is None]  # biases stay dense (B, out)
        return state._replace(
            traces=tuple(_decayed_add(a, g, keep, coef) for a, g in zip(state.traces, bias_grads)),
            pre=tuple(torch.cat([p, g[0].unsqueeze(1)], 1) for p, g in zip(state.pre, weight_grads)),
            post=tuple(torch.cat([q, g[1].unsqueeze(1)], 1) for q, g in zip(state.post, weight_grads)),
            weight=torch.cat([state.weight * keep.unsqueeze(1), coef.unsqueeze(1)], 1))

    def step(self, x: Tensor, state: DuanState) -> tuple[Tensor, DuanState]:
        """One time step. x: (B, input_size) -> (y: (B, output_size), new state)."""
        check_input(x, self.input_size, step=True)
        if self.rule == "gradient" and self.grad_impl == "autograd":
            return self._step_autograd(x, state)
        fast = self._fast(state)
        s = self._forward(x, state, fast)
        state = state._replace(h=s.h, c=s.c)
        if self.rule == "hebbian":
            state = self._update(state, self._hebbian_factors(s), s.o)
        elif self.rule == "gradient":
            state = self._update(state, self._gradient_factors(s, fast), s.o)
        return s.o[:, : self.output_size], state

    def _step_autograd(self, x: Tensor, state: DuanState) -> tuple[Tensor, DuanState]:
        """The gradient rule through ``torch.autograd.grad`` (second order when the outer pass needs grads)."""
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            fast = self._fast(state)
            for view, fast_b in fast:  # evaluation: differentiate w.r.t. the fast weights all the same
                if not view.fast_w.requires_grad:
                    view.fast_w = view.fast_w.detach().requires_grad_()
            fast = [(view, b if b.requires_grad else b.detach().requires_grad_()) for view, b in fast]
            s = self._forward(x, state, fast)
            leaves = [t for view, fast_b in fast for t in (view.fast_w, fast_b)]
            grads = torch.autograd.grad(self.internal_loss(s.o), leaves, create_graph=outer)
            new = self._update(state._replace(h=s.h, c=s.c), list(grads), s.o)
        if outer:
            return s.o[:, : self.output_size], new
        return s.o[:, : self.output_size].detach(), DuanState(new.h.detach(), new.c.detach(),
                                                               tuple(t.detach() for t in new.traces))

    def forward(self, inputs: Tensor, state: DuanState | None = None) -> tuple[Tensor, DuanState]:
        """Whole sequence. inputs: (T, B, input_size) -> (outputs (T, B, output_size), final state)."""
        check_input(inputs, self.input_size, step=False)
        state = state if state is not None else self.initial_state(inputs.shape[1])
        return unroll(self.step, inputs, state)


def _decayed_add(trace: Tensor, g: Tensor | tuple[Tensor | None, Tensor], keep: Tensor, coef: Tensor) -> Tensor:
    """keep * trace + coef * G, per sample; G full, or outer(pre, post) scaled on the (shorter) pre side."""
    keep = keep.view(-1, *[1] * (trace.dim() - 1))
    if isinstance(g, Tensor):
        return keep * trace + coef.view_as(keep) * g
    if g[0] is None:  # bias: G = post
        return keep * trace + coef.unsqueeze(1) * g[1]
    return torch.baddbmm(keep * trace, (coef.unsqueeze(1) * g[0]).unsqueeze(2), g[1].unsqueeze(1))


def _sq_norm(g: Tensor | tuple[Tensor | None, Tensor]) -> Tensor:
    """Per-sample squared Frobenius norm of G; for G = outer(pre, post) it is |pre|^2 |post|^2."""
    if isinstance(g, Tensor):
        return g.square().flatten(1).sum(1)
    pre, post = g
    post_sq = post.square().sum(1)
    return post_sq if pre is None else pre.square().sum(1) * post_sq
