"""Miconi, Clune & Stanley (2018): a fully recurrent network with differentiable Hebbian plasticity.

Effective weight of connection i -> j is ``w[i, j] + alpha[i, j] * hebb[i, j]``::

    x_j(t) = tanh( sum_i (w_ij + alpha_ij hebb_ij(t)) x_i(t-1) + input_j(t) )
    hebb   (decaying):  hebb(t+1) = (1 - eta) hebb(t) + eta x(t-1) x(t)^T
    oja:                hebb(t+1) = hebb(t) + eta x_j(t) (x_i(t-1) - x_j(t) hebb_ij(t))

``w``, ``alpha`` and ``eta`` are trained by backpropagation through time; ``hebb`` is per-episode state,
reset to zero by ``initial_state``. Row index = presynaptic neuron, column = postsynaptic neuron, so the
recurrent drive of a batch of row vectors is ``x @ (w + alpha * hebb)``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from plastic.common import RULE_ALIASES, canonical_rule, check_choice, check_input, unroll
from plastic.miconi_fast import FastState, fast_forward

RULES = ("hebbian", "oja")  # "hebb" is accepted as an alias of "hebbian" (plastic.common.RULE_ALIASES)
ALPHA_MODES = ("free", "shared", "none")
COUPLINGS = ("additive", "clamp")
INITS = ("normal", "uniform")
IMPLS = ("auto", "plain", "fast")
# impl="auto" takes the fast path from this many neurons on. Below it the matrices are small, per-op overhead
# dominates and the two paths run within ~20% of each other (measured: N = 50-100 plain up to 1.2x faster,
# N = 200 fast 1.2x, N = 400 fast 1.9x, N = 1001 fast 2-5x).
AUTO_FAST_MIN_NEURONS = 128


class MiconiState(NamedTuple):
    x: Tensor  # (B, N) neuron activations at the previous step
    hebb: Tensor  # (B, N, N) Hebbian trace; (B, 0, 0) for a non-plastic network


def check_plastic_options(rule: str, alpha: str, eta: float, init: str, alpha_init: str | None, impl: str,
                          chunk: int) -> str:
    """The options that the fully recurrent Miconi net and the Miconi core cell share; returns the rule's
    one spelling."""
    rule = canonical_rule(rule, RULES)
    for name, value, allowed in (("alpha", alpha, ALPHA_MODES), ("init", init, INITS),
                                 ("alpha_init", alpha_init or init, INITS), ("impl", impl, IMPLS)):
        check_choice(name, value, allowed)
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta={eta} must lie in (0, 1]")
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be >= 1 (steps per chunk of the fast path)")
    return rule


def hebb_update(rule: str, hebb: Tensor, pre: Tensor, post: Tensor, eta: Tensor) -> Tensor:
    """One step of the plastic trace. pre, post: (B, N); hebb: (B, N, N); rule: "hebbian" (alias "hebb") or "oja"."""
    if RULE_ALIASES.get(rule, rule) == "hebbian":
        return (1 - eta) * hebb + eta * pre.unsqueeze(2) * post.unsqueeze(1)
    # Oja: hebb + eta * post_j * (pre_i - post_j * hebb_ij)
    post_row = post.unsqueeze(1)  # (B, 1, N)
    return hebb + eta * post_row * (pre.unsqueeze(2) - post_row * hebb)


class PlasticRecurrentNet(nn.Module):
    """Miconi's plastic recurrent network, batched over episodes.

    Neurons: the first ``max(input_size, output_size)`` carry inputs/outputs, then ``extra_neurons`` hidden
    ones, then (optionally) one bias neuron whose input is the constant 1. Inputs drive the first
    ``input_size`` neurons; the output is the activation of the first ``output_size`` neurons.

    ``impl`` picks how ``forward`` runs a sequence: ``"plain"`` one ``step`` at a time (the papers' formulation;
    the one to use for double backward), ``"fast"`` the chunked path of ``plastic/miconi_fast.py`` (same values
    and gradients, faster and O(T/chunk) traces in memory for large N), ``"auto"`` = fast from
    ``AUTO_FAST_MIN_NEURONS`` neurons on, plain below. ``chunk``: steps of the fast path between materialised
    traces. ``checkpoint_every`` (recompute the plain path's steps in backward) applies to the plain path only:
    the fast path keeps O(T/chunk) traces without recomputing.

    Args:
        input_size: task inputs per step; they drive the first ``input_size`` neurons.
        output_size: outputs per step, read from the first ``output_size`` neurons.
        extra_neurons: hidden neurons after the input/output ones (>= 0).
        rule: plasticity rule of the trace, ``"hebbian"`` (decaying Hebb; alias ``"hebb"``) or ``"oja"``.
        alpha: ``"free"`` (one plasticity coefficient per connection), ``"shared"`` (one scalar) or ``"none"``
            (no plastic term: a plain recurrent network).
        eta: initial trace rate, in (0, 1]; learned unless ``learn_eta`` is false.
        learn_eta: whether ``eta`` is a trained parameter (else a fixed buffer).
        coupling: how inputs enter, ``"additive"`` (``input_scale`` times the input added to the
            pre-activation) or ``"clamp"`` (neurons with a non-zero input take that value).
        input_scale: factor on the inputs of the additive coupling (the reference code uses 20).
        bias_neuron: add one neuron whose input is the constant 1.
        init, alpha_init: draws of ``w`` and ``alpha`` (``alpha_init`` None = ``init``): ``"normal"`` N(0, 1) or
            ``"uniform"`` U(0, 1), times ``init_scale``.
        init_scale: factor on the initial draws of ``w`` and ``alpha``.
        checkpoint_every: plain path only, recompute every this many steps in backward (0 = keep every step).
        impl: ``"auto"``, ``"plain"`` or ``"fast"`` (see above).
        chunk: steps between materialised traces on the fast path (>= 1).
        zero_alpha_diagonal: per-connection alpha only (a shared alpha has no diagonal): set alpha's diagonal
            (each neuron's plasticity onto itself) to zero once, right after the draw, as the 1000-bit reference
            code ``full.py`` does; it is trained like the rest afterwards. False keeps the drawn diagonal, as the
            simpler reference ``simple.py`` does. Either way every random draw is the same.

    ``forward`` takes time-first inputs (T, B, input_size) and checks their shape.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        extra_neurons: int = 0,
        rule: str = "hebbian",
        alpha: str = "free",
        eta: float = 0.01,
        learn_eta: bool = True,
        coupling: str = "additive",
        input_scale: float = 20.0,
        bias_neuron: bool = True,
        init: str = "normal",
        init_scale: float = 0.01,
        alpha_init: str | None = None,
        checkpoint_every: int = 0,
        impl: str = "auto",
        chunk: int = 16,
        zero_alpha_diagonal: bool = True,
    ) -> None:
        super().__init__()
        rule = check_plastic_options(rule, alpha, eta, init, alpha_init, impl, chunk)
        check_choice("coupling", coupling, COUPLINGS)
        if input_size < 1 or output_size < 1 or extra_neurons < 0:
            raise ValueError("input_size and output_size must be >= 1 and extra_neurons >= 0")
        self.input_size, self.output_size = input_size, output_size
        self.rule, self.alpha_mode, self.coupling = rule, alpha, coupling
        self.input_scale, self.bias_neuron = input_scale, bias_neuron
        self.checkpoint_every, self.impl = checkpoint_every, impl
        # chunk: steps of the fast path between materialised traces. Step t of a chunk multiplies t*B rows by
        # alpha; 16 measured best here for N = 1001 at B = 1..64, free and shared alpha (8 and 32: 5-30% slower).
        self.chunk = chunk
        self.n_neurons = max(input_size, output_size) + extra_neurons + int(bias_neuron)
        n = self.n_neurons
        self.plastic = alpha != "none"
        register_plastic_parameters(self, (n, n), alpha, eta, learn_eta, init, alpha_init, init_scale)
        if zero_alpha_diagonal and alpha == "free":
            with torch.no_grad():
                self.alpha.fill_diagonal_(0.0)

    @property
    def uses_fast_path(self) -> bool:
        """Whether ``forward`` runs ``plastic.miconi_fast`` (impl="fast", or "auto" for a large network)."""
        return self.impl == "fast" or (self.impl == "auto" and self.n_neurons >= AUTO_FAST_MIN_NEURONS)

    def initial_state(self, batch_size: int) -> MiconiState:
        n = self.n_neurons
        hebb_n = n if self.plastic else 0
        return MiconiState(self.w.new_zeros(batch_size, n), self.w.new_zeros(batch_size, hebb_n, hebb_n))

    def _drive(self, inputs: Tensor) -> Tensor:
        """Task inputs (B, input_size) -> per-neuron input (B, N), with the bias neuron's constant 1."""
        drive = inputs.new_zeros(inputs.shape[0], self.n_neurons)
        drive[:, : self.input_size] = inputs
        if self.bias_neuron:
            drive[:, -1] = 1.0
        return drive

    def _activate(self, recurrent: Tensor, drive: Tensor) -> Tensor:
        """New activations (B, N) from the recurrent drive and the per-neuron input (B, N)."""
        if self.coupling == "additive":
            return torch.tanh(recurrent + self.input_scale * drive)
        # hard clamp: neurons with a non-zero input take that value, the others evolve
        return torch.where(drive != 0, drive, torch.tanh(recurrent))

    def step(self, inputs: Tensor, state: MiconiState) -> tuple[Tensor, MiconiState]:
        """One time step. inputs: (B, input_size) -> (y: (B, output_size), new state)."""
        check_input(inputs, self.input_size, step=True)
        x_prev, hebb = state
        drive = self._drive(inputs)  # (B, N)
        recurrent = x_prev @ self.w  # (B, N)
        if self.plastic:
            fast = torch.bmm(x_prev.unsqueeze(1), hebb if self.alpha_mode == "shared"
                             else self.alpha * hebb).squeeze(1)  # (B, N)
            recurrent = recurrent + (self.alpha * fast if self.alpha_mode == "shared" else fast)
        x = self._activate(recurrent, drive)
        if self.plastic:
            hebb = hebb_update(self.rule, hebb, x_prev, x, self.eta)
        return x[:, : self.output_size], MiconiState(x, hebb)

    def _run(self, inputs: Tensor, x: Tensor, hebb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        outputs, state = unroll(self.step, inputs, MiconiState(x, hebb))
        return outputs, state.x, state.hebb

    def forward(self, inputs: Tensor, state: MiconiState | FastState | None = None
                ) -> tuple[Tensor, MiconiState | FastState]:
        """Whole sequence. inputs: (T, B, input_size) -> (outputs (T, B, output_size), final state).

        ``impl="fast"`` (``"auto"`` for large N) runs ``plastic.miconi_fast.fast_forward``: the same values and
        gradients, chunks of ``chunk`` steps, O(T/chunk) traces kept for backward, first-order backward only; its
        final state is a ``FastState`` (``x``, ``hebb`` and unpacking as a ``MiconiState``; the trace is built
        only when read).
        ``impl="plain"`` steps with ``step``; there, ``checkpoint_every = k > 0`` keeps only the state at every
        k-th step for backward and recomputes the steps in between: memory O(T/k + k) traces instead of O(T).
        """
        check_input(inputs, self.input_size, step=False)
        if self.uses_fast_path:
            x, hebb = state if state is not None else (self.w.new_zeros(inputs.shape[1], self.n_neurons), None)
            return fast_forward(self, inputs, x, hebb, self.chunk)
        state = state if state is not None else self.initial_state(inputs.shape[1])
        k = self.checkpoint_every
        if k <= 0 or not torch.is_grad_enabled():
            outputs, x, hebb = self._run(inputs, *state)
            return outputs, MiconiState(x, hebb)
        chunks = []
        x, hebb = state
        for start in range(0, inputs.shape[0], k):
            out, x, hebb = checkpoint(self._run, inputs[start: start + k], x, hebb, use_reentrant=False)
            chunks.append(out)
        return torch.cat(chunks), MiconiState(x, hebb)


def _draw(kind: str, shape: tuple[int, ...]) -> Tensor:
    return torch.randn(shape) if kind == "normal" else torch.rand(shape)


def register_plastic_parameters(module: nn.Module, shape: tuple[int, int], alpha: str, eta: float, learn_eta: bool,
                                init: str, alpha_init: str | None, init_scale: float) -> None:
    """Give ``module`` the parameters every Miconi layer has: ``w`` of ``shape`` and, unless alpha is "none",
    ``alpha`` (per connection, or one shared scalar) and ``eta`` (a parameter, or a buffer when not learned).
    Drawn in this order (w, then alpha) from torch's generator, which the harness seeds per run."""
    module.w = nn.Parameter(init_scale * _draw(init, shape))
    if alpha == "none":
        return
    module.alpha = nn.Parameter(init_scale * _draw(alpha_init or init, shape if alpha == "free" else (1,)))
    eta_t = torch.tensor([eta])
    if learn_eta:
        module.eta = nn.Parameter(eta_t)
    else:
        module.register_buffer("eta", eta_t)
