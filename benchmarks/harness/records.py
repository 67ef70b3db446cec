"""Run records: one JSON document per run, written atomically (temp file + rename)."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness.atomic import atomic_write_text

if TYPE_CHECKING:  # the config imports this module (record_path, config_hash)
    from benchmarks.harness.config import Cell

SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 32 << 20  # a record's curves are binned to curve_points (2,000 by default): a few hundred kB
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # names that become one path component of a record
# run options that do not change what is computed (where files go, how it is logged, which sweep launched it)
UNHASHED_KEYS = ("seed", "out_dir", "data_dir", "threads", "progress", "skip_existing",
                 "checkpoint_every", "device", "log_dir", "logger", "experiment", "compile", "memory_every")


@dataclass
class RunRecord:
    task: str
    model: str
    budget: str
    seed: int
    status: str  # "ok" | "diverged" | "skipped" (data missing: extra["reason"] says why)
    config: dict[str, Any]
    config_hash: str
    git_commit: str
    data_digest: str | None
    seeds: dict[str, int]
    episodes: int
    optimizer_steps: int
    batch_size: int
    n_params: int
    wall_time_s: float
    threads: int
    torch_version: str
    primary_metric: str
    lower_is_better: bool
    final: dict[str, float]  # held-out evaluation metrics at the end of training
    curves: dict[str, list[float]]  # training curves; "episode" = episodes seen at each point
    eval_curve: dict[str, list[float]]  # held-out metrics at each evaluation; "episode" as above
    diverged_at: int | None = None  # episode at which the loss became NaN/inf
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific details (e.g. peak memory)
    environment: dict[str, Any] = field(default_factory=dict)  # versions and machine (benchmarks.harness.environment)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=True)


# Keys added to a config group after records existed: hashed only when set to something other than these values,
# so records from before the key keep their hashes. model.peer is never hashed: whom the report compares a model
# with, not what the run computes.
HASHED_UNLESS = {"model": {"adapter_width": (None,),  # unset: the task's default width
                           "backbone_init": (None, "glorot")},  # unset or the default Glorot init
                 "task": {"resize": ("lanczos",)}}  # Omniglot's default resize
NEVER_HASHED = {"model": ("peer",)}


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what defines the experiment cell (the seed and paths excluded)."""
    cell = {k: v for k, v in config.items() if k not in UNHASHED_KEYS}
    for group, defaults in HASHED_UNLESS.items():
        if isinstance(cell.get(group), dict):
            cell[group] = {k: v for k, v in cell[group].items()
                           if k not in NEVER_HASHED.get(group, ()) and not (k in defaults and v in defaults[k])}
    return hashlib.sha256(json.dumps(cell, sort_keys=True).encode()).hexdigest()


def git_commit() -> str:
    """HEAD of the repository holding this package, with '+dirty' for uncommitted changes; 'unknown' outside git."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def record_path(out_dir: str | Path, task: str, model: str, budget: str, seed: int, cfg_hash: str) -> Path:
    """``out_dir/task/model/budget-seedK-hash.json``; names that would make it leave ``out_dir`` are refused."""
    for key, value in (("task", task), ("model", model), ("budget", budget)):
        if not SAFE_NAME.fullmatch(str(value)):
            raise ValueError(f"{key}.name={value!r} is not a plain name (letters, digits, '_', '-', '.'; no '/' and "
                             "no leading '.'): it names the record's folder and must not leave out_dir")
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed={seed!r} must be a whole number >= 0")
    return Path(out_dir) / task / model / f"{budget}-seed{seed}-{cfg_hash[:10]}.json"


def write_record(out_dir: str | Path, record: RunRecord) -> Path:
    path = record_path(out_dir, record.task, record.model, record.budget, record.seed, record.config_hash)
    atomic_write_text(path, record.to_json() + "\n")
    return path


def load_record(path: str | Path) -> RunRecord:
    """Read one record; raises ValueError naming the file when it is not a plasticbench record."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"{size / 2**20:.0f} MB, larger than any run record (at most {MAX_RECORD_BYTES >> 20} MB: "
                             "curves are binned to curve_points): not read")
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            found = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"schema_version {found!r}, expected {SCHEMA_VERSION}")
        record = RunRecord(**data)
        check_fields(record)
        return record
    except (json.JSONDecodeError, TypeError, AttributeError, ValueError, RecursionError) as err:
        raise ValueError(f"{path}: not a valid plasticbench run record ({err})") from err
    except OSError as err:  # a folder or a dangling/looping link named *.json, an unreadable file
        raise ValueError(f"{path}: not a readable run record file ({err.strerror or err})") from err


NUMBER = (int, float)
FIELD_TYPES = {"task": str, "model": str, "budget": str, "status": str, "config": dict, "config_hash": str,
               "git_commit": str, "seeds": dict, "episodes": int, "optimizer_steps": int, "batch_size": int,
               "n_params": int, "wall_time_s": NUMBER, "threads": int, "torch_version": str, "primary_metric": str,
               "lower_is_better": bool, "final": dict, "curves": dict, "eval_curve": dict, "extra": dict,
               "environment": dict}
NAMED = ("task", "model", "budget", "primary_metric")  # names that become path components or report headings


def check_fields(record: RunRecord) -> None:
    """A record from someone else's folder is checked before anything uses it: every field of its type, the
    names it contributes to paths and headings safe (no "..", "/", newlines: ``SAFE_NAME``), the seed a whole
    number >= 0, counts not negative; ValueError naming the field otherwise (the report lists the file)."""
    for name, kind in FIELD_TYPES.items():
        value = getattr(record, name)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"field {name!r} is {type(value).__name__} {str(value)[:40]!r}, expected "
                             f"{getattr(kind, '__name__', 'a number')}")
    if not isinstance(record.seed, int) or isinstance(record.seed, bool) or record.seed < 0:
        raise ValueError(f"field 'seed' is {record.seed!r}, expected a whole number >= 0")
    for name in NAMED:
        value = getattr(record, name)
        if not SAFE_NAME.fullmatch(value) or ".." in value or len(value) > 200:
            raise ValueError(f"field {name!r} is {value[:60]!r}: not a safe name (letters, digits, '_', '.', '-', "
                             "no '..'), so it is never joined into a path")
    for name in ("episodes", "optimizer_steps", "batch_size", "n_params", "threads"):
        if getattr(record, name) < 0:
            raise ValueError(f"field {name!r} is {getattr(record, name)}, expected >= 0")
    if record.diverged_at is not None and (not isinstance(record.diverged_at, int) or isinstance(record.diverged_at,
                                                                                                 bool)):
        raise ValueError(f"field 'diverged_at' is {record.diverged_at!r}, expected a whole number or null")


def current_record(cell: Cell) -> RunRecord | None:
    """The cell's record if a re-run would not redo it; None when there is none, it is unreadable, it is
    ``skipped`` (the data may be there now), or its random streams are not the cell's: the config hash names
    what the config decides, the streams what the harness draws (e.g. the evaluation pool), and a record made
    with other streams is stale even where its config hash still matches."""
    if not cell.record_path.exists():
        return None
    try:
        record = load_record(cell.record_path)
    except ValueError:
        return None
    return record if record.status != "skipped" and record.seeds == cell.streams else None


def existing_record(cell: Cell) -> RunRecord | None:
    """The cell's current record (``current_record``) when ``skip_existing`` is set."""
    record = current_record(cell) if cell.config["skip_existing"] else None
    if record is None:
        return None
    if cell.config["progress"]:
        print(f"[{cell.task}/{cell.model} seed {cell.seed}] record exists, skipped: {cell.record_path}", flush=True)
    return record
