"""Model families the harness can build, and the bridge from a model config to a module.

A family is a constructor from ``plastic/`` or ``baselines/``; its keyword arguments (minus what the task
supplies: ``KINDS``, given by ``Task.model_io``) become the typed config schema ``base_<family>`` of the ``model``
group, so a misspelt key fails when hydra composes the config. Adding a model family = its class + one line in
``FAMILIES`` + a YAML ``conf/model/<name>.yaml``; a task runs every family of the kinds it accepts
(``Task.model_kinds``), so no task is edited.
"""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Callable, NamedTuple, Optional

from omegaconf import MISSING
from torch import nn

from baselines.cores import LSTMCore, NonPlasticCore
from baselines.fewshot import MAMLClassifier, ProtoNetClassifier
from baselines.lstm import LSTMBaseline
from baselines.maml_regression import MAMLRegressor
from baselines.rnn import NonPlasticRNN
from plastic import (DuanFewShotClassifier, DuanNet, PlasticOutputLayer, PlasticRecurrentCore,
                     PlasticRecurrentNet)

# What a family's models are, and so which constructor arguments the task supplies (the rest is the schema):
KINDS: dict[str, tuple[str, ...]] = {
    "sequence": ("input_size", "output_size"),  # stepped network: inputs -> outputs, every step
    "core": ("input_size",),  # recurrent core returning its hidden state (``hidden_size`` wide); the task adds heads
    "head": ("in_features", "out_features"),  # plastic output layer on the task's own feature extractor
    "fewshot": ("input_size", "output_size"),  # classify(support, labels, query); image side, ways
    "regressor": ("input_size", "output_size"),  # regress(support_x, support_y, query_x); x size, 1
}


class Family(NamedTuple):
    build: Callable[..., nn.Module]  # the constructor; its keyword arguments are the model YAML's fields
    kind: str  # a key of KINDS


FAMILIES: dict[str, Family] = {
    "miconi": Family(PlasticRecurrentNet, "sequence"),
    "rnn": Family(NonPlasticRNN, "sequence"),
    "lstm": Family(LSTMBaseline, "sequence"),
    "duan": Family(DuanNet, "sequence"),  # Duan et al. 2023: encoder -> plastic RNN/LSTM cell -> readout
    "miconi_core": Family(PlasticRecurrentCore, "core"),  # Miconi's maze network: i2h -> plastic recurrent layer
    "rnn_core": Family(NonPlasticCore, "core"),  # the same core without plasticity
    "lstm_core": Family(LSTMCore, "core"),
    "miconi_head": Family(PlasticOutputLayer, "head"),  # Miconi's Omniglot plastic softmax layer
    "maml": Family(MAMLClassifier, "fewshot"),
    "protonet": Family(ProtoNetClassifier, "fewshot"),
    "duan_fewshot": Family(DuanFewShotClassifier, "fewshot"),  # conv backbone -> DuanNet
    "maml_mlp": Family(MAMLRegressor, "regressor"),  # adapted on the support set
}
HARNESS_FIELDS = {"name", "family", "peer"}  # read by the harness and the report, never passed to the constructor


def _optional(tp: Any) -> Any:
    """``X | None`` -> ``Optional[X]`` (the spelling OmegaConf understands)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else Any
    return tp


def family_schema(family: str) -> type:
    """A dataclass whose fields are the family constructor's keyword arguments, plus ``name`` and ``family``."""
    ctor, kind = FAMILIES[family]
    hints = typing.get_type_hints(ctor.__init__)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=MISSING)),
                                          ("family", str, dataclasses.field(default=family)),
                                          # the same network without plasticity, which the report's across-task
                                          # view compares this model with; None for a model with no such peer
                                          ("peer", Optional[str], dataclasses.field(default=None))]
    for pname, param in inspect.signature(ctor.__init__).parameters.items():
        if pname == "self" or pname in KINDS[kind]:
            continue
        default = param.default if param.default is not inspect.Parameter.empty else MISSING
        fields.append((pname, _optional(hints.get(pname, Any)), dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{family.title()}ModelConf", fields)


def model_kwargs(model_cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k not in HARNESS_FIELDS}


def family_of(model_cfg: dict[str, Any]) -> Family:
    family = model_cfg["family"]
    if family not in FAMILIES:
        raise ValueError(f"model.family={family!r} is unknown; known families: {sorted(FAMILIES)}")
    return FAMILIES[family]


def build_model(model_cfg: dict[str, Any], io: dict[str, Any], accepts: tuple[str, ...] | None = None,
                task: str = "this task") -> nn.Module:
    """Instantiate ``model_cfg['family']`` with the task's ``io`` and the config's keyword arguments.

    ``accepts``: the kinds of model the task can run (None: any). A constructor's error, which names its
    argument (``rule='stdp'``), is re-raised naming the config key (``model.rule='stdp'``)."""
    family = family_of(model_cfg)
    if accepts is not None and family.kind not in accepts:
        fitting = sorted(name for name, f in FAMILIES.items() if f.kind in accepts)
        raise ValueError(f"model {model_cfg['name']!r} (family {model_cfg['family']!r}) is a {family.kind} model; "
                         f"{task} takes {' or '.join(accepts)} models, of the families {fitting}")
    kwargs = model_kwargs(model_cfg)
    try:
        return family.build(**io, **kwargs)
    except ValueError as err:
        message = str(err)
        key = message.split("=", 1)[0]
        raise ValueError(f"model.{message}" if key in kwargs else f"model {model_cfg['name']!r}: {message}") from err


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
