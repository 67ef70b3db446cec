"""Model families the harness can build, and the bridge from a model config to a module.

A family is a constructor from ``plastic/`` or ``baselines/``; its keyword arguments (minus what the task
supplies, see ``Task.model_io``) become the typed config schema ``base_<family>`` of the ``model`` group, so a
misspelt key fails when hydra composes the config. Adding a model family = its class + one line here + a YAML.
"""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Callable, Optional

from omegaconf import MISSING
from torch import nn

from baselines.fewshot import MAMLClassifier, ProtoNetClassifier
from baselines.lstm import LSTMBaseline
from baselines.maml_regression import MAMLRegressor
from baselines.rnn import NonPlasticRNN
from plastic.duan import DuanNet
from plastic.duan_fewshot import DuanFewShotClassifier
from plastic.miconi import PlasticRecurrentNet

FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "miconi": PlasticRecurrentNet,
    "rnn": NonPlasticRNN,
    "lstm": LSTMBaseline,
    "maml": MAMLClassifier,  # few-shot: input_size = image side, output_size = ways
    "protonet": ProtoNetClassifier,  # few-shot: input_size = image side, output_size = ways
    "duan": DuanNet,  # Duan et al. 2023: encoder -> plastic RNN/LSTM cell -> readout (rule none = non-plastic)
    "maml_mlp": MAMLRegressor,  # few-shot regression: input_size = d (x only), adapted on the support set
    "duan_fewshot": DuanFewShotClassifier,  # few-shot: conv backbone -> DuanNet; input_size = image side
}
TASK_SUPPLIED = {"input_size", "output_size"}
HARNESS_FIELDS = {"name", "family"}


def _optional(tp: Any) -> Any:
    """``X | None`` -> ``Optional[X]`` (the spelling OmegaConf understands)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else Any
    return tp


def family_schema(family: str) -> type:
    """A dataclass whose fields are the family constructor's keyword arguments, plus ``name`` and ``family``."""
    ctor = FAMILIES[family]
    hints = typing.get_type_hints(ctor.__init__)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=MISSING)),
                                          ("family", str, dataclasses.field(default=family))]
    for pname, param in inspect.signature(ctor.__init__).parameters.items():
        if pname == "self" or pname in TASK_SUPPLIED:
            continue
        default = param.default if param.default is not inspect.Parameter.empty else MISSING
        fields.append((pname, _optional(hints.get(pname, Any)), dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{family.title()}ModelConf", fields)


def model_kwargs(model_cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k not in HARNESS_FIELDS}


def build_model(model_cfg: dict[str, Any], io: dict[str, Any]) -> nn.Module:
    """Instantiate ``model_cfg['family']`` with the task's I/O sizes and the config's keyword arguments."""
    family = model_cfg["family"]
    if family not in FAMILIES:
        raise ValueError(f"model.family={family!r} is unknown; known families: {sorted(FAMILIES)}")
    return FAMILIES[family](**io, **model_kwargs(model_cfg))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
