"""A plastic softmax output layer taught by its labels (Miconi, Clune & Stanley 2018, Omniglot network).

Features ``x`` (pre-synaptic) connect to ``K`` softmax outputs (post-synaptic) through ``w + alpha * hebb``.
During labelled steps the one-hot label, times ``label_scale`` (1000 in the paper), is added to the softmax
input, so the outputs take the label's value and the Hebbian trace stores the feature of each class::

    y(t)      = softmax( x(t) @ (w + alpha * hebb(t)) + label_scale * label(t) )
    hebb(t+1) = hebb_update(rule, hebb(t), pre=x(t), post=y(t), eta)      # Oja or decaying Hebb

At an unlabelled (query) step the plastic term ``x @ (alpha * hebb)`` scores the query against every stored
class. ``w``, ``alpha`` and ``eta`` are trained; ``hebb`` is per-episode state, reset by ``initial_state``.
Row index = feature (pre), column = output (post). No bias, as in the paper's 111,746-parameter count.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from plastic.common import canonical_rule, check_choice, check_input, unroll
from plastic.miconi import INITS, RULES, hebb_update, register_plastic_parameters

HEAD_ALPHA_MODES = ("free", "shared")


class PlasticOutputLayer(nn.Module):
    """Inputs per step: ``[features (in_features) | label (out_features)]``, the label all zeros when unknown.

    Outputs: log-probabilities of the softmax, (B, out_features). ``alpha="free"``: one alpha per connection;
    ``"shared"``: one learned scalar. ``w`` starts at ``init_scale`` times a draw from ``init``, ``alpha`` from
    ``alpha_init`` (default: ``init``); ``normal`` = N(0, 1), ``uniform`` = U(0, 1).

    Args:
        in_features: features per step (pre-synaptic).
        out_features: softmax outputs = classes (>= 2).
        rule: ``"hebbian"`` (decaying Hebb; alias ``"hebb"``) or ``"oja"``.
        alpha: ``"free"`` (per connection) or ``"shared"`` (one scalar).
        eta: initial trace rate, in (0, 1]; learned unless ``learn_eta`` is false.
        learn_eta: whether ``eta`` is trained.
        label_scale: factor on the one-hot label added to the softmax input (the paper: 1000).
        init, alpha_init: draws of ``w`` and ``alpha`` (None = ``init``): ``"normal"`` or ``"uniform"``.
        init_scale: factor on those draws.
    """

    def __init__(self, in_features: int, out_features: int, rule: str = "oja", alpha: str = "free",
                 eta: float = 0.01, learn_eta: bool = True, label_scale: float = 1000.0, init: str = "normal",
                 init_scale: float = 0.01, alpha_init: str | None = None) -> None:
        super().__init__()
        rule = canonical_rule(rule, RULES)
        for name, value, allowed in (("alpha", alpha, HEAD_ALPHA_MODES), ("init", init, INITS),
                                     ("alpha_init", alpha_init or init, INITS)):
            check_choice(name, value, allowed)
        if not 0.0 < eta <= 1.0:
            raise ValueError(f"eta={eta} must lie in (0, 1]")
        if in_features < 1 or out_features < 2:
            raise ValueError(f"in_features={in_features} must be >= 1 and out_features={out_features} >= 2")
        self.in_features, self.out_features = in_features, out_features
        self.rule, self.alpha_mode, self.label_scale = rule, alpha, label_scale
        register_plastic_parameters(self, (in_features, out_features), alpha, eta, learn_eta, init, alpha_init,
                                    init_scale)

    def initial_state(self, batch_size: int) -> Tensor:
        return self.w.new_zeros(batch_size, self.in_features, self.out_features)  # hebb: (B, in, out)

    def step(self, inputs: Tensor, hebb: Tensor) -> tuple[Tensor, Tensor]:
        """inputs: (B, in + out) = [features | label]; hebb: (B, in, out) -> (log-probs (B, out), new hebb)."""
        check_input(inputs, self.in_features + self.out_features, step=True)
        x, label = inputs[:, : self.in_features], inputs[:, self.in_features:]
        fast = torch.bmm(x.unsqueeze(1), self.alpha * hebb).squeeze(1)  # (B, out); alpha broadcasts if shared
        log_y = F.log_softmax(x @ self.w + fast + self.label_scale * label, dim=-1)  # (B, out)
        hebb = hebb_update(self.rule, hebb, x, log_y.exp(), self.eta)
        return log_y, hebb

    def forward(self, inputs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """inputs: (T, B, in + out) -> (log-probs (T, B, out), final hebb)."""
        check_input(inputs, self.in_features + self.out_features, step=False)
        hebb = state if state is not None else self.initial_state(inputs.shape[1])
        return unroll(self.step, inputs, hebb)
