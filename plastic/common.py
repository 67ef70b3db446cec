"""Helpers every layer of ``plastic`` shares: option checks, rule names, input-shape checks, the time loop.

Errors name the constructor argument (``rule='stdp'``), never a config key: a harness that reads these options
from a config file may re-wrap the error with its own key.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

# One spelling of the plasticity rules for every layer of the package: "hebbian" (a decaying Hebbian trace for
# Miconi's layers, outer(pre, post) for Duan's), "oja" (Miconi), "gradient" (Duan), "none" (Duan: no plasticity).
# "hebb" is accepted as an alias of "hebbian" (the spelling of Miconi's code and of older configs).
RULE_ALIASES = {"hebb": "hebbian"}


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """A constructor argument that must be one of ``allowed``; the error names the argument."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {allowed}; pick one of those")


def canonical_rule(rule: str, allowed: tuple[str, ...]) -> str:
    """``rule`` in its one spelling (aliases resolved), checked against the layer's ``allowed`` rules."""
    rule = RULE_ALIASES.get(rule, rule)
    aliases = tuple(alias for alias, target in RULE_ALIASES.items() if target in allowed)
    check_choice("rule", rule, allowed + aliases)
    return rule


def check_input(inputs: Tensor, width: int, step: bool) -> None:
    """``inputs`` of a whole sequence (T, B, width) or of one step (B, width); the error names the shape."""
    rank, shape = (2, "(B, input_size)") if step else (3, "(T, B, input_size): time first, then batch")
    if inputs.dim() != rank or inputs.shape[-1] != width:
        raise ValueError(f"inputs of shape {tuple(inputs.shape)} do not fit {shape} with input_size={width}"
                         + ("" if step else "; a batch-first (B, T, input_size) tensor needs .transpose(0, 1)"))


def unroll(step: Callable[[Tensor, Any], tuple[Tensor, Any]], inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Run ``step`` over the time axis: inputs (T, B, ...) -> (stacked outputs (T, B, ...), final state).

    The plain whole-sequence forward of every stepped model in this package."""
    outputs = []
    for t in range(inputs.shape[0]):
        y, state = step(inputs[t], state)
        outputs.append(y)
    return torch.stack(outputs), state


def check_episode(support: Tensor, support_labels: Tensor, query: Tensor) -> None:
    """A few-shot batch: support (B, S, C, H, W), support_labels (B, S), query (B, Q, C, H, W)."""
    if (support.dim() != 5 or query.dim() != 5 or support_labels.shape != support.shape[:2]
            or query.shape[0] != support.shape[0] or query.shape[2:] != support.shape[2:]):
        raise ValueError(f"support {tuple(support.shape)}, support_labels {tuple(support_labels.shape)} and query "
                         f"{tuple(query.shape)} do not fit support (B, S, C, H, W), support_labels (B, S) and "
                         "query (B, Q, C, H, W)")
