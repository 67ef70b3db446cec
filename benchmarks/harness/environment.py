"""What a run ran on, stored in every record: Python, numpy and torch versions, CPU and GPU model, host name."""
from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any

import numpy as np
import torch


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def gpu_model(device: torch.device | str) -> str | None:
    """The GPU's name when the run used one; None on CPU."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def describe(device: torch.device | str = "cpu") -> dict[str, Any]:
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "cpu": cpu_model(), "gpu": gpu_model(device), "host": socket.gethostname(),
            "platform": platform.platform()}
