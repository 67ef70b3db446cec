"""plastic: differentiable synaptic plasticity layers and networks (pure torch, no I/O), imported like ``torch.nn``:

    from plastic import PlasticRecurrentNet, PlasticRecurrentCore, PlasticOutputLayer, DuanNet

Every layer takes time-first sequences (T, B, features) in ``forward`` and one step (B, features) in ``step``,
from a state made by ``initial_state(batch_size)``; both check the input's shape. Errors name the constructor
argument. Rules have one spelling across the package (``RULES``, ``DUAN_RULES``; ``"hebb"`` = ``"hebbian"``).
"""
from plastic.common import RULE_ALIASES, unroll
from plastic.conv import ConvBackbone, conv_output_side
from plastic.duan import CELLS, DUAN_RULES, DuanNet, DuanState
from plastic.duan_fewshot import DuanFewShotClassifier
from plastic.duan_layers import LSTMGates, PlasticLinear, lstm_cell
from plastic.fewshot import PlasticFewShotClassifier
from plastic.miconi import ALPHA_MODES, COUPLINGS, RULES, MiconiState, PlasticRecurrentNet, hebb_update
from plastic.miconi_core import PlasticRecurrentCore
from plastic.output_layer import PlasticOutputLayer

__all__ = ["ALPHA_MODES", "CELLS", "COUPLINGS", "DUAN_RULES", "RULES", "RULE_ALIASES", "ConvBackbone",
           "DuanFewShotClassifier", "DuanNet", "DuanState", "LSTMGates", "MiconiState", "PlasticFewShotClassifier",
           "PlasticLinear", "PlasticOutputLayer", "PlasticRecurrentCore", "PlasticRecurrentNet", "conv_output_side",
           "hebb_update", "lstm_cell", "unroll"]
