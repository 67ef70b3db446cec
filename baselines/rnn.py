"""Non-plastic recurrent baseline: Miconi's network with alpha = none (w only), optionally widened."""
from __future__ import annotations

from plastic.miconi import PlasticRecurrentNet


class NonPlasticRNN(PlasticRecurrentNet):
    """The same fully recurrent tanh network as the plastic arm, with no Hebbian term.

    ``extra_neurons`` widens it (the 50-bit comparison uses 2,000 extra neurons, 2,051 in all).
    """

    def __init__(self, input_size: int, output_size: int, extra_neurons: int = 0, coupling: str = "additive",
                 input_scale: float = 20.0, bias_neuron: bool = True, init: str = "normal",
                 init_scale: float = 0.01, checkpoint_every: int = 0) -> None:
        super().__init__(input_size, output_size, extra_neurons=extra_neurons, alpha="none", coupling=coupling,
                         input_scale=input_scale, bias_neuron=bias_neuron, init=init, init_scale=init_scale,
                         checkpoint_every=checkpoint_every)
