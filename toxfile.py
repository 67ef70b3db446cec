"""tox inline plugin (tox loads ``toxfile.py`` beside tox.ini): every environment of this project shares one
virtualenv, ``.tox/plasticbench`` (~5.5 GB: torch and torchvision).

tox stores in an environment's ``.tox-info.json`` the name of the environment that built it, and rebuilds the
whole environment when another name uses it ("recreate env because env type changed from py311 to reproduce").
The environments here differ only in their commands (the same deps, constraints and package), so the runner
below records one shared name: switching between ``tox``, ``tox -e reproduce``, ``report``, ``perf`` and
``overnight`` reuses the environment. A change of deps, constraints or Python still rebuilds it: tox compares
those on their own.
"""
from __future__ import annotations

from typing import Any

from tox.plugin import impl
from tox.tox_env.info import Info
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner

SHARED_NAME = "plasticbench"


class SharedInfo(Info):
    """The environment's cache, with every environment's name recorded as the shared one."""

    def compare(self, value: Any, section: str, sub_section: str | None = None) -> Any:
        if section == "ToxEnv" and isinstance(value, dict) and "name" in value:
            value = {**value, "name": SHARED_NAME}
        return super().compare(value, section, sub_section)


class SharedVirtualEnvRunner(VirtualEnvRunner):
    """A virtualenv runner whose environment directory is shared by every environment of this project."""

    @staticmethod
    def id() -> str:
        return "plasticbench-shared"

    @property
    def cache(self) -> Info:
        return SharedInfo(self.env_dir)


@impl
def tox_register_tox_env(register: Any) -> None:
    register.add_run_env(SharedVirtualEnvRunner)
