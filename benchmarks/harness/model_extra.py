"""What a model's layers ran, for the run record (``extra.miconi``, ``extra.duan``): the config may say only
``impl: auto``. Read from the layers by the harness, so the library carries no record hooks."""
from __future__ import annotations

from typing import Any

from torch import nn

from plastic import DuanNet, PlasticRecurrentCore, PlasticRecurrentNet


def model_extra(model: nn.Module, train_batch_sizes: list[int]) -> dict[str, Any]:
    """Entries for every Miconi or Duan layer in ``model``; ``train_batch_sizes``: episodes per training update
    (a Miconi core picks its path per batch size)."""
    extra: dict[str, Any] = {}
    for layer in model.modules():
        if isinstance(layer, PlasticRecurrentNet):
            extra["miconi"] = {"impl": "fast" if layer.uses_fast_path else "plain", "chunk": layer.chunk}
        elif isinstance(layer, PlasticRecurrentCore):
            ran = {f"batch {n}": "fast" if layer.fast_for(n) else "plain" for n in set(train_batch_sizes)}
            extra["miconi"] = {"impl": layer.impl, "chunk": layer.chunk, "ran": dict(sorted(ran.items()))}
        elif isinstance(layer, DuanNet):
            extra["duan"] = duan_extra(layer)
    return extra


def duan_extra(net: DuanNet) -> dict[str, Any]:
    gradient = net.rule == "gradient"
    return {"cell": net.cell, "rule": net.rule, "hidden_size": net.hidden_size,
            "fast_weights": net.fast_weights if net.rule != "none" else None,
            "grad_impl": net.grad_impl if gradient else None,
            "internal_loss_norm": net.loss_norm if gradient else None}
