"""One module per task. A task module exposes ``CONFIG`` (a frozen dataclass of the task's own settings) and
``TASK`` (the class built from it); ``benchmarks.schema`` discovers them, so adding a task is this file plus its
YAML in ``benchmarks/conf/task/``."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def task_modules() -> dict[str, ModuleType]:
    """Every module in this package that defines a task, by kind (= module name)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "TASK") and hasattr(module, "CONFIG"):
            found[info.name] = module
    return found
