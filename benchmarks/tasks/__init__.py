"""The task registry: kind -> (Task class, config dataclass). A task config's ``kind`` names its entry; the typed
schema ``base_<kind>`` of the ``task`` group is generated from the config dataclass
(``benchmarks.harness.config.schema``).
Adding a task = its module here + one line in ``TASKS`` + its YAML in ``benchmarks/conf/task/``."""
from __future__ import annotations

from benchmarks.tasks.base import Task
from benchmarks.tasks.binary_patterns import BinaryPatterns, BinaryPatternsConfig
from benchmarks.tasks.cue_reward import CueReward, CueRewardConfig
from benchmarks.tasks.image_memory import ImageMemory, ImageMemoryConfig
from benchmarks.tasks.maze import Maze, MazeConfig
from benchmarks.tasks.omniglot import Omniglot, OmniglotConfig
from benchmarks.tasks.regression import Regression, RegressionConfig
from benchmarks.tasks.seq_reproduction import SeqReproduction, SeqReproductionConfig

TASKS: dict[str, tuple[type[Task], type]] = {
    "binary_patterns": (BinaryPatterns, BinaryPatternsConfig),
    "cue_reward": (CueReward, CueRewardConfig),
    "image_memory": (ImageMemory, ImageMemoryConfig),
    "maze": (Maze, MazeConfig),
    "omniglot": (Omniglot, OmniglotConfig),
    "regression": (Regression, RegressionConfig),
    "seq_reproduction": (SeqReproduction, SeqReproductionConfig),
}


def lookup(kind: str) -> tuple[type[Task], type]:
    """(Task class, config dataclass) of ``kind``; the error lists the known kinds."""
    if kind not in TASKS:
        raise ValueError(f"task.kind={kind!r} is unknown; known task kinds: {sorted(TASKS)}")
    return TASKS[kind]
