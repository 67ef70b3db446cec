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
    plastic: bool = False  # its connections change within an episode (unless a config sets rule or alpha "none");
    # the report lists a plastic model that declares no ``peer`` instead of leaving it out of the across-task view


FAMILIES: dict[str, Family] = {
    "miconi": Family(PlasticRecurrentNet, "sequence", plastic=True),
    "rnn": Family(NonPlasticRNN, "sequence"),
    "lstm": Family(LSTMBaseline, "sequence"),
    "duan": Family(DuanNet, "sequence", plastic=True),  # Duan et al. 2023: encoder -> plastic RNN/LSTM -> readout
    "miconi_core": Family(PlasticRecurrentCore, "core", plastic=True),  # Miconi's maze network: i2h -> plastic layer
    "rnn_core": Family(NonPlasticCore, "core"),  # the same core without plasticity
    "lstm_core": Family(LSTMCore, "core"),
    "miconi_head": Family(PlasticOutputLayer, "head", plastic=True),  # Miconi's Omniglot plastic softmax layer
    "maml": Family(MAMLClassifier, "fewshot"),
    "protonet": Family(ProtoNetClassifier, "fewshot"),
    "duan_fewshot": Family(DuanFewShotClassifier, "fewshot", plastic=True),  # conv backbone -> DuanNet
    "maml_mlp": Family(MAMLRegressor, "regressor"),  # adapted on the support set
}
# read by the harness and the report, never passed to the constructor (adapter_width: sequence families only;
# backbone_init: the init of the conv backbone that the Omniglot task puts under a head or sequence model)
HARNESS_FIELDS = {"name", "family", "peer", "adapter_width", "backbone_init"}
# What a model of each kind is, for the refusal of a task that does not take it (README: Adding a task or a model)
KIND_CONTRACTS: dict[str, str] = {
    "sequence": "a class built from (input_size, output_size) with initial_state(batch_size), step(x (B, input_size), "
                "state) -> (y (B, output_size), state) and forward(inputs (T, B, input_size)) -> (outputs, state)",
    "core": "a class built from (input_size, hidden_size, ...) whose step/forward return its whole hidden state "
            "(hidden_size wide) for the task's heads",
    "head": "an output layer built from (in_features, out_features) that the task puts on its own feature extractor",
    "fewshot": "a classifier built from (input_size = image side, output_size = ways) with classify(support, "
               "support_labels, query) -> log-probabilities and a loss_kind ('ce' or 'bce')",
    "regressor": "a model built from (input_size, output_size) with regress(support_x, support_y, query_x)",
}


def how_to_provide(kinds: tuple[str, ...]) -> str:
    """The end of a refusal: what a model of each kind a task takes must offer, and where it is registered."""
    return ("To run it here, provide " + "; or ".join(f"a {kind} model: {KIND_CONTRACTS[kind]}" for kind in kinds)
            + ", registered as Family(<class>, '<kind>') in benchmarks/harness/models.py::FAMILIES (README: Adding a "
              "task or a model)")


def unread_width(width: Any, task: str, model: str) -> str:
    """The refusal of ``model.adapter_width`` where no adapter reads it (checked on the config and at build)."""
    return (f"model.adapter_width={width} is read only where a task wraps a sequence model in an adapter (task=maze); "
            f"{task} runs model {model} as built: drop the setting")


def _optional(tp: Any) -> Any:
    """``X | None`` -> ``Optional[X]`` (the spelling OmegaConf understands)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else Any
    return tp


def family_schema(family: str) -> type:
    """A dataclass whose fields are the family constructor's keyword arguments, plus the harness's: ``name``,
    ``family``, ``peer``, for sequence families ``adapter_width``, and for head and sequence families
    ``backbone_init``."""
    ctor, kind = FAMILIES[family].build, FAMILIES[family].kind
    hints = typing.get_type_hints(ctor.__init__)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=MISSING)),
                                          ("family", str, dataclasses.field(default=family)),
                                          # the same network without plasticity, which the report's across-task
                                          # view compares this model with; None for a model with no such peer
                                          ("peer", Optional[str], dataclasses.field(default=None))]
    if kind == "sequence":  # the width a task's adapter gives it (benchmarks.harness.adapters; None: the task's)
        fields.append(("adapter_width", Optional[int], dataclasses.field(default=None)))
    if kind in ("head", "sequence"):  # the init of the conv backbone a task puts under it (None: the task's own)
        fields.append(("backbone_init", Optional[str], dataclasses.field(default=None)))
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
                task: str = "this task", reads_width: bool = False) -> nn.Module:
    """Instantiate ``model_cfg['family']`` with the task's ``io`` and the config's keyword arguments.

    ``accepts``: the kinds of model the task can run (None: any). A constructor's error, which names its
    argument (``rule='stdp'``), is re-raised naming the config key (``model.rule='stdp'``). ``reads_width``: the
    task wraps the model in an adapter that reads ``model.adapter_width``; elsewhere a set value is refused."""
    family = family_of(model_cfg)
    if accepts is not None and family.kind not in accepts:
        fitting = sorted(name for name, f in FAMILIES.items() if f.kind in accepts)
        raise ValueError(f"model {model_cfg['name']!r} (family {model_cfg['family']!r}) is a {family.kind} model; "
                         f"{task} takes {' or '.join(accepts)} models, of the families {fitting}. "
                         + how_to_provide(accepts))
    if not reads_width and model_cfg.get("adapter_width") is not None:
        raise ValueError(unread_width(model_cfg["adapter_width"], task, repr(model_cfg["name"])))
    kwargs = model_kwargs(model_cfg)
    try:
        return family.build(**io, **kwargs)
    except ValueError as err:
        message = str(err)
        key = message.split("=", 1)[0]
        raise ValueError(f"model.{message}" if key in kwargs else f"model {model_cfg['name']!r}: {message}") from err


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
