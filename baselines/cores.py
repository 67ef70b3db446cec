"""Non-plastic recurrent cores for agents (the maze): ``step``/``forward`` return the whole hidden state
(width ``hidden_size``), and the task puts its heads on top, as it does on ``plastic.PlasticRecurrentCore``."""
from __future__ import annotations

from baselines.lstm import LSTMBaseline
from plastic.miconi_core import PlasticRecurrentCore


class NonPlasticCore(PlasticRecurrentCore):
    """``PlasticRecurrentCore`` without the plastic term (w only), the maze's non-plastic arm.

    Args:
        input_size: inputs per step (through ``i2h``).
        hidden_size: recurrent tanh units.
        init: draw of ``w``, ``"normal"`` N(0, 1) or ``"uniform"`` U(0, 1), times ``init_scale``.
        init_scale: factor on that draw.
    """

    def __init__(self, input_size: int, hidden_size: int, init: str = "uniform", init_scale: float = 0.01) -> None:
        super().__init__(input_size, hidden_size, alpha="none", init=init, init_scale=init_scale)


class LSTMCore(LSTMBaseline):
    """A torch LSTM whose output is its whole hidden state.

    Args:
        input_size: inputs per step.
        hidden_size: LSTM units (= the output width).
        input_scale: factor on the inputs.
    """

    def __init__(self, input_size: int, hidden_size: int, input_scale: float = 1.0) -> None:
        super().__init__(input_size, hidden_size, hidden_size, input_scale=input_scale, readout="slice")
