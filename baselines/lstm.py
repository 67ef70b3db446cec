"""LSTM baseline with the optional hard-wired input clamping of Miconi's 50-bit comparison."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

READOUTS = ("slice", "linear")


class LSTMState(NamedTuple):
    h: Tensor  # (B, H)
    c: Tensor  # (B, H)


def clamp_pattern(n_inputs: int, hidden_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The reference's clamp of units 0..n_inputs-1 (torch gate order i, f, g, o):
    (cell-gate rows of weight_ih (n,), their values (n, n_inputs) = 10 * identity, gate rows of the biases (4n,),
    their bias_ih values (4n,): input gate +10, forget gate -1000, cell gate 0, output gate +10)."""
    units = torch.arange(n_inputs)
    bias_rows = torch.cat([gate * hidden_size + units for gate in range(4)])
    bias_values = torch.tensor([10.0, -1000.0, 0.0, 10.0]).repeat_interleave(n_inputs)
    return 2 * hidden_size + units, 10.0 * torch.eye(n_inputs), bias_rows, bias_values


class LSTMBaseline(nn.Module):
    """torch LSTM; output = the first ``output_size`` hidden units ("slice", as in the reference) or a linear
    readout of the hidden state. Inputs are multiplied by ``input_scale`` (the reference uses 100).

    ``clamp_inputs`` hard-wires the first ``input_size`` units to copy their own input, as the reference
    ``lstm.py --clamp 1`` of the 50-bit comparison does: for each clamped unit j the whole cell-gate input row is
    zero except weight 10 from input j, its cell-gate bias is 0, input-gate bias +10, forget-gate bias -1000,
    output-gate bias +10, and its ``bias_hh`` entries are 0 (``clamp_pattern``). Like the reference, which writes
    the pattern before every forward pass, the pattern is re-imposed at the start of every episode
    (``initial_state``, which every sequence starts from), so the optimizer's moves of those entries never reach a
    forward pass. It is not re-imposed inside ``step``: the parameters of a running episode are saved for backward
    and must not change under it.
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
        self.clamp_inputs = clamp_inputs
        if clamp_inputs:
            self._clamp()

    @torch.no_grad()
    def _clamp(self) -> None:
        """Write ``clamp_pattern`` into the clamped entries; every other parameter is left as it is."""
        weight_rows, weight_ih, bias_rows, bias_ih = clamp_pattern(self.input_size, self.hidden_size)
        self.lstm.weight_ih_l0[weight_rows] = weight_ih.to(self.lstm.weight_ih_l0)
        self.lstm.bias_ih_l0[bias_rows] = bias_ih.to(self.lstm.bias_ih_l0)
        self.lstm.bias_hh_l0[bias_rows] = 0.0

    def initial_state(self, batch_size: int) -> LSTMState:
        if self.clamp_inputs:
            self._clamp()
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
