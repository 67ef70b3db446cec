"""Advantage actor-critic (A2C) as in Miconi et al.'s maze experiment: a recurrent agent, Monte-Carlo returns over
whole episodes (no bootstrapping: episodes end), one loss per batch of episodes.

    R_t      = r_t + gamma * R_{t+1},  R_T = 0
    loss     = ( sum_t [ -log pi(a_t) * (R_t - V_t).detach() + value_weight * (R_t - V_t)^2
                         + penalty_weight * P(pi_t) ] ) / T,   averaged over the batch's episodes
    P(pi)    = sum_a pi(a)^2 ("sum_sq": the reference's penalty on concentrated policies) or -entropy(pi)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PENALTIES = ("sum_sq", "entropy")


class ActorCritic(nn.Module):
    """A recurrent core (``initial_state``/``step``/``forward`` returning its hidden state, width
    ``core.hidden_size``) with a linear policy head (``n_actions`` logits) and a linear value head.

    Output of ``step`` (B, n_actions + 1) and ``forward`` (T, B, n_actions + 1): logits, then the value.
    """

    def __init__(self, core: nn.Module, n_actions: int) -> None:
        super().__init__()
        self.core, self.n_actions = core, n_actions
        self.policy = nn.Linear(core.hidden_size, n_actions)
        self.value = nn.Linear(core.hidden_size, 1)

    def initial_state(self, batch_size: int) -> Any:
        return self.core.initial_state(batch_size)

    def _heads(self, h: Tensor) -> Tensor:
        return torch.cat([self.policy(h), self.value(h)], dim=-1)

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        """inputs: (B, D) -> ((B, n_actions + 1), new state)."""
        h, state = self.core.step(inputs, state)
        return self._heads(h), state

    def forward(self, inputs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """inputs: (T, B, D) -> ((T, B, n_actions + 1), final state)."""
        h, state = self.core(inputs, state)
        return self._heads(h), state


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """rewards: (T, B) -> returns (T, B), R_t = r_t + gamma R_{t+1} with R_T = 0."""
    returns = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def a2c_loss(logits: Tensor, values: Tensor, actions: Tensor, rewards: Tensor, gamma: float = 0.9,
             value_weight: float = 0.03, penalty: str = "sum_sq", penalty_weight: float = 0.1,
             ) -> tuple[Tensor, dict[str, float]]:
    """logits: (T, B, A); values, rewards: (T, B); actions: (T, B) int64 -> (loss, its parts per episode)."""
    if penalty not in PENALTIES:
        raise ValueError(f"penalty={penalty!r} is not one of {PENALTIES}")
    steps = logits.shape[0]
    advantage = discounted_returns(rewards, gamma) - values  # (T, B)
    log_probs = F.log_softmax(logits, dim=-1)  # (T, B, A)
    chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # (T, B)
    policy_loss = -(chosen * advantage.detach()).sum(0).mean()
    value_loss = advantage.pow(2).sum(0).mean()
    probs = log_probs.exp()
    if penalty == "sum_sq":
        regulariser = probs.pow(2).sum(-1).sum(0).mean()
    else:
        regulariser = (probs * log_probs).sum(-1).sum(0).mean()  # = -entropy: minimising it raises the entropy
    loss = (policy_loss + value_weight * value_loss + penalty_weight * regulariser) / steps
    parts = {"loss": loss.item(), "policy_loss": policy_loss.item() / steps, "value_loss": value_loss.item() / steps}
    return loss, parts
