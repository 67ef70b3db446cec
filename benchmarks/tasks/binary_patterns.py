"""Binary pattern memorisation and completion (Miconi et al. 2018, sections 4.1 and 4.2).

Each episode shows ``n_patterns`` random +-1 patterns, each for ``steps_per_pattern`` steps followed by
``gap_steps`` zero steps, repeated for ``n_cycles`` cycles (each cycle in a fresh random order); then one of the
stored patterns with a fraction of its bits zeroed is shown for ``test_steps`` steps. The network must output
the full pattern at the final step.

Timing variants (benchmarks/protocols.md): ``code`` = the reference code (6/4/2 cycles/6 test steps, T = 106
for 5 patterns), ``paper`` = the paper text (10/3/3 cycles, T = 205 with a 10-step test).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmarks.tasks.base import MEMORY_BOUND_NEURONS, Episode, SequenceTask


@dataclass(frozen=True)
class BinaryPatternsConfig:
    n_bits: int = 1000  # bits per pattern (= pattern neurons of the plastic network)
    n_patterns: int = 5  # patterns stored per episode
    steps_per_pattern: int = 6  # steps each presentation lasts
    gap_steps: int = 4  # zero-input steps after each presentation
    n_cycles: int = 2  # times the whole set is shown, each in a fresh random order
    test_steps: int = 6  # steps the degraded test pattern is shown
    degrade_fraction: float = 0.5  # fraction of test bits set to zero
    balanced: bool = True  # exactly half the bits of each pattern are +1 (reference code) vs i.i.d. signs
    shuffle_cycles: bool = True  # random presentation order in every cycle

    def __post_init__(self) -> None:
        for key in ("n_bits", "n_patterns", "steps_per_pattern", "n_cycles", "test_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{key}={getattr(self, key)} must be >= 1")
        if self.gap_steps < 0:
            raise ValueError(f"task.gap_steps={self.gap_steps} must be >= 0")
        if not 0.0 <= self.degrade_fraction < 1.0:
            raise ValueError(f"task.degrade_fraction={self.degrade_fraction} must lie in [0, 1)")

    @property
    def n_steps(self) -> int:
        return self.n_cycles * self.n_patterns * (self.steps_per_pattern + self.gap_steps) + self.test_steps


def _random_signs(shape: tuple[int, ...], balanced: bool, generator: torch.Generator) -> Tensor:
    if not balanced:
        return torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
    n = shape[-1]
    base = torch.ones(shape)
    base[..., n // 2:] = -1  # exactly floor(n/2) +1 bits; odd n gets one extra -1
    order = torch.rand(shape, generator=generator).argsort(dim=-1)
    return torch.gather(base, -1, order)


class BinaryPatterns(SequenceTask):
    primary_metric = "bit_error"
    lower_is_better = True
    name = "binary_patterns"
    config: BinaryPatternsConfig

    @classmethod
    def memory_bound(cls, config: BinaryPatternsConfig) -> bool:
        return config.n_bits >= MEMORY_BOUND_NEURONS  # one neuron per bit

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.config.n_bits, "output_size": self.config.n_bits}

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        c = self.config
        patterns = _random_signs((batch_size, c.n_patterns, c.n_bits), c.balanced, generator)  # (B, P, n)
        inputs = torch.zeros(c.n_steps, batch_size, c.n_bits)
        block = c.steps_per_pattern + c.gap_steps
        for cycle in range(c.n_cycles):
            if c.shuffle_cycles:
                order = torch.rand(batch_size, c.n_patterns, generator=generator).argsort(dim=-1)  # (B, P)
            else:
                order = torch.arange(c.n_patterns).expand(batch_size, -1)
            for slot in range(c.n_patterns):
                start = (cycle * c.n_patterns + slot) * block
                shown = patterns[torch.arange(batch_size), order[:, slot]]  # (B, n)
                inputs[start: start + c.steps_per_pattern] = shown
        which = torch.randint(0, c.n_patterns, (batch_size,), generator=generator)
        target = patterns[torch.arange(batch_size), which]  # (B, n)
        n_zero = int(round(c.degrade_fraction * c.n_bits))
        zeroed = torch.rand(batch_size, c.n_bits, generator=generator).argsort(dim=-1)[:, :n_zero]
        probe = target.clone().scatter_(1, zeroed, 0.0)
        inputs[-c.test_steps:] = probe
        return Episode(inputs=inputs, targets=target, extras={"zeroed": zeroed})

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        """Sum of squared errors over the pattern bits at the final step, averaged over episodes."""
        return ((outputs[-1] - episode.targets) ** 2).sum(dim=-1).mean()

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        wrong = (outputs[-1] * episode.targets) <= 0  # wrong sign (0 counts as wrong)
        zeroed_wrong = torch.gather(wrong, 1, episode.extras["zeroed"])
        return {"bit_error": wrong.float().mean().item(), "bit_error_zeroed": zeroed_wrong.float().mean().item()}
