"""Moving batches of any task to the run's device: tensors inside dataclasses, dicts, lists and tuples."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch


DEVICE_TYPES = ("cpu", "cuda")


def check_device(name: str) -> torch.device | None:
    """The spelling of ``device`` ('cpu', 'cuda', 'cuda:N', 'auto'; None for auto), checked without asking
    for a GPU, so a grid for a GPU cluster can be validated on a machine without one."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"device={name!r} is not a device; use cpu, cuda, cuda:N or auto")
    return device


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:1' or 'auto' (cuda when available, else cpu); a GPU that is not there is an error."""
    device = check_device(name)
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but torch sees no CUDA device; use device=cpu or device=auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device={name!r} but torch sees {torch.cuda.device_count()} CUDA device(s); "
                         f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return device


def to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: to_device(getattr(obj, f.name), device)
                                           for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(to_device(value, device) for value in obj)
    return obj
