"""LSTM baseline with the optional hard-wired input clamping of Miconi's 50-bit comparison."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

READOUTS = ("slice", "linear")


class LSTMState(NamedTuple):
    h: Tensor  # (B, H)
    c: Tensor  # (B, H)


class LSTMBaseline(nn.Module):
    """torch LSTM; output = the first ``output_size`` hidden units ("slice", as in the reference) or a linear
    readout of the hidden state. Inputs are multiplied by ``input_scale`` (the reference uses 100).

    ``clamp_inputs`` initialises the first ``input_size`` units to copy their own input (cell-input weight 10
    from it, input-gate bias +10, forget-gate bias -1000, output-gate bias +10, hidden-hidden biases 0). These
    are initial values: like every other weight they are trained afterwards.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int, input_scale: float = 1.0,
                 readout: str = "slice", clamp_inputs: bool = False) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r} is not one of {READOUTS}; pick one of those")
        if readout == "slice" and hidden_size < output_size:
            raise ValueError(f"readout='slice' needs hidden_size >= output_size ({hidden_size} < {output_size}); "
                             "raise hidden_size or use readout='linear'")
        if clamp_inputs and hidden_size < input_size:
            raise ValueError("clamp_inputs needs hidden_size >= input_size")
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.input_scale, self.readout_kind = input_scale, readout
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size) if readout == "linear" else None
        if clamp_inputs:
            self._clamp_inputs()

    @torch.no_grad()
    def _clamp_inputs(self) -> None:
        h, n = self.hidden_size, self.input_size
        units = torch.arange(n)
        self.lstm.weight_ih_l0[2 * h + units, units] = 10.0  # cell input g_j from input j (gate order i, f, g, o)
        self.lstm.bias_ih_l0[units] = 10.0  # input gate open
        self.lstm.bias_ih_l0[h + units] = -1000.0  # forget gate shut
        self.lstm.bias_ih_l0[3 * h + units] = 10.0  # output gate open
        self.lstm.bias_hh_l0.zero_()

    def initial_state(self, batch_size: int) -> LSTMState:
        zeros = self.lstm.weight_hh_l0.new_zeros(batch_size, self.hidden_size)
        return LSTMState(zeros, zeros.clone())

    def _read(self, h: Tensor) -> Tensor:
        return self.readout(h) if self.readout is not None else h[..., : self.output_size]

    def step(self, inputs: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """inputs: (B, input_size) -> (y: (B, output_size), new state)."""
        out, (h, c) = self.lstm((self.input_scale * inputs).unsqueeze(0), (state.h.unsqueeze(0), state.c.unsqueeze(0)))
        return self._read(out[0]), LSTMState(h[0], c[0])

    def forward(self, inputs: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """inputs: (T, B, input_size) -> (outputs (T, B, output_size), final state), one fused LSTM call."""
        state = state if state is not None else self.initial_state(inputs.shape[1])
        out, (h, c) = self.lstm(self.input_scale * inputs, (state.h.unsqueeze(0), state.c.unsqueeze(0)))
        return self._read(out), LSTMState(h[0], c[0])
