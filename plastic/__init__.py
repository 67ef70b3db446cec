"""plastic: differentiable synaptic plasticity layers and networks (pure torch, no I/O)."""
from plastic.duan import DuanNet, DuanState
from plastic.miconi import ALPHA_MODES, COUPLINGS, RULES, MiconiState, PlasticRecurrentNet, hebb_update
from plastic.miconi_core import PlasticRecurrentCore

__all__ = ["ALPHA_MODES", "COUPLINGS", "RULES", "DuanNet", "DuanState", "MiconiState", "PlasticRecurrentCore",
           "PlasticRecurrentNet", "hebb_update"]
