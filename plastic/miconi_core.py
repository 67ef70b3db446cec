"""A plastic recurrent layer with an input projection (Miconi et al. 2018, maze network), for agents and models
whose inputs and outputs are not neurons of the recurrent layer.

Unlike ``PlasticRecurrentNet`` (inputs drive neurons directly, outputs are neuron activations), this core maps
inputs through a trained ``i2h`` layer and returns the whole hidden state, so heads (policy, value, readouts)
can sit on top::

    h(t)    = tanh( i2h(input(t)) + h(t-1) @ (w + alpha * hebb(t)) )
    hebb(t+1) = hebb_update(rule, hebb(t), pre=h(t-1), post=h(t), eta)

The rule is ``plastic.miconi.hebb_update`` (decaying Hebb or Oja), the same code as the fully recurrent net.
Row index = presynaptic unit, column = postsynaptic unit. ``alpha="none"`` gives the non-plastic RNN with the
same input projection (w only); ``"shared"`` one learned scalar alpha; ``"free"`` one alpha per connection.

``impl="fast"`` steps through ``plastic.miconi_fast.FastStepper``: the trace folded in every ``chunk`` steps
instead of rewritten every step, the same values and gradients (tests/test_miconi_core.py); its state is a
``FastState`` that can be stepped from once. ``"auto"`` takes it for batches of ``AUTO_FAST_MIN_BATCH`` episodes
or more: measured on the maze agent (100 units, chunk 8, one thread), fast/plain episodes/s 0.6x at batch 1,
0.9x at 4, 1.0x at 8, 1.2x at 16, 2x at 64.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from plastic.common import check_input, unroll
from plastic.miconi import MiconiState, check_plastic_options, hebb_update, register_plastic_parameters
from plastic.miconi_fast import FastState, FastStepper

AUTO_FAST_MIN_BATCH = 8


class PlasticRecurrentCore(nn.Module):
    """Recurrent tanh layer of ``hidden_size`` units with an input projection and an optional plastic term.

    Parameters: ``i2h`` (input_size x hidden_size + bias, torch's default init), ``w`` (H, H), and when plastic
    ``alpha`` ((H, H) or (1,)) and ``eta`` (learned scalar unless ``learn_eta`` is false). ``w`` and ``alpha``
    start at ``init_scale`` times a draw from ``init`` (normal or uniform on [0, 1)).

    Args:
        input_size: inputs per step (through ``i2h``).
        hidden_size: recurrent units; ``step`` and ``forward`` return all of them.
        rule: ``"hebbian"`` (decaying Hebb; alias ``"hebb"``) or ``"oja"``.
        alpha: ``"free"`` (per connection), ``"shared"`` (one scalar) or ``"none"`` (non-plastic).
        eta: initial trace rate, in (0, 1]; learned unless ``learn_eta`` is false.
        learn_eta: whether ``eta`` is trained.
        init, alpha_init: draws of ``w`` and ``alpha`` (None = ``init``): ``"normal"`` or ``"uniform"``.
        init_scale: factor on those draws.
        impl: ``"auto"``, ``"plain"`` or ``"fast"`` (see the module docstring).
        chunk: steps between folds of the trace on the fast path (>= 1).
    """

    def __init__(self, input_size: int, hidden_size: int, rule: str = "oja", alpha: str = "free",
                 eta: float = 0.01, learn_eta: bool = True, init: str = "uniform", init_scale: float = 0.01,
                 alpha_init: str | None = None, impl: str = "auto", chunk: int = 16) -> None:
        super().__init__()
        rule = check_plastic_options(rule, alpha, eta, init, alpha_init, impl, chunk)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if value < 1:
                raise ValueError(f"{name}={value} must be >= 1")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.impl, self.chunk = impl, chunk
        self.rule, self.alpha_mode = rule, alpha
        self.plastic = alpha != "none"
        self.i2h = nn.Linear(input_size, hidden_size)
        register_plastic_parameters(self, (hidden_size, hidden_size), alpha, eta, learn_eta, init, alpha_init,
                                    init_scale)

    def initial_state(self, batch_size: int) -> MiconiState:
        n = self.hidden_size if self.plastic else 0
        return MiconiState(self.w.new_zeros(batch_size, self.hidden_size), self.w.new_zeros(batch_size, n, n))

    def fast_for(self, batch_size: int) -> bool:
        """Whether ``step`` runs the fast path for a batch of this many episodes."""
        return self.plastic and (self.impl == "fast" or (self.impl == "auto" and batch_size >= AUTO_FAST_MIN_BATCH))

    def step(self, inputs: Tensor, state: MiconiState | FastState) -> tuple[Tensor, MiconiState | FastState]:
        """One time step. inputs: (B, input_size) -> (h: (B, H), new state)."""
        check_input(inputs, self.input_size, step=True)
        if isinstance(state, FastState) or self.fast_for(state.x.shape[0]):
            stepper = state.current() if isinstance(state, FastState) else \
                FastStepper(self, _add_tanh, state.x, state.hebb, self.chunk)
            h = stepper.step(self.i2h(inputs))
            return h, FastState(stepper)
        h_prev, hebb = state
        recurrent = h_prev @ self.w  # (B, H)
        if self.plastic:
            # shared alpha is a scalar: scale the plastic drive once instead of every (B, H, H) trace element
            weights = hebb if self.alpha_mode == "shared" else self.alpha * hebb  # (B, H, H)
            fast = torch.bmm(h_prev.unsqueeze(1), weights).squeeze(1)  # (B, H)
            recurrent = recurrent + (self.alpha * fast if self.alpha_mode == "shared" else fast)
        h = torch.tanh(self.i2h(inputs) + recurrent)  # (B, H)
        if self.plastic:
            hebb = hebb_update(self.rule, hebb, h_prev, h, self.eta)
        return h, MiconiState(h, hebb)

    def forward(self, inputs: Tensor, state: MiconiState | None = None) -> tuple[Tensor, MiconiState]:
        """Whole sequence. inputs: (T, B, input_size) -> (h for every step (T, B, H), final state)."""
        check_input(inputs, self.input_size, step=False)
        state = state if state is not None else self.initial_state(inputs.shape[1])
        return unroll(self.step, inputs, state)


def _add_tanh(recurrent: Tensor, drive: Tensor) -> Tensor:
    return torch.tanh(drive + recurrent)
