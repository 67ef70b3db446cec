"""plastic: differentiable synaptic plasticity layers and networks (pure torch, no I/O)."""
from plastic.miconi import ALPHA_MODES, COUPLINGS, RULES, MiconiState, PlasticRecurrentNet, hebb_update

__all__ = ["ALPHA_MODES", "COUPLINGS", "RULES", "MiconiState", "PlasticRecurrentNet", "hebb_update"]
