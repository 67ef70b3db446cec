"""Loading files that other people wrote without running their code.

Results folders are shared and merged, so a checkpoint, a cache or a dataset file may have been written by anyone.
Python's pickle runs whatever callable a file names; these loaders accept only plain data:

- ``load_torch``: ``torch.load(weights_only=True)``: tensors, numbers, strings, lists, tuples, dicts (torch's own
  restricted unpickler); anything else is refused with the file named.
- ``load_data_pickle``: the CIFAR-10 python batches (pickles of dicts of numpy arrays and lists): an unpickler that
  resolves only numpy's array and dtype constructors and ``_codecs.encode`` (how Python 3 pickles bytes at
  protocol 2); any other class or function a file names is refused before it is called.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class UnsafeFile(ValueError):
    """A file that names code to run when loaded."""


class DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, and a data file may hold only arrays, numbers, "
                                     "strings, lists and dicts: refused before anything in it ran")


def load_data_pickle(path: str | Path, encoding: str = "latin1") -> Any:
    with open(path, "rb") as handle:
        return DataOnlyUnpickler(handle, encoding=encoding).load()


def load_torch(path: str | Path) -> Any:
    """``torch.load`` that runs nothing: a file naming a class or function raises UnsafeFile naming the file and
    the global; a truncated or foreign file raises what torch raises (the caller reports it as corrupt)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        if not named:
            raise
        raise UnsafeFile(f"{path} holds more than plain data (tensors, numbers, strings, lists, dicts): it names "
                         f"{named.group(1)}; it was not loaded, so nothing in it ran") from err
