"""Contract tests over every config: every task composes under every budget, every experiment composes and names
existing tasks and models, and every (task, model) cell of every experiment grid trains at the smoke budget
(one seed) and writes a complete record."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from benchmarks.harness.config import compose_config
from benchmarks.harness.records import load_record
from benchmarks.run import run

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf"
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
BUDGETS = ("smoke", "quick", "overnight", "paper")
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GRIDS = {name: OmegaConf.load(CONF / "experiment" / f"{name}.yaml").experiment.grid for name in EXPERIMENTS}
CELLS = sorted({(task, model) for grid in GRIDS.values() for task, models in grid.items() for model in models})
SMOKE_SEEDS = 2


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_an_entry_in_every_budget(task, budget):
    cfg = compose_config([f"task={task}", f"budget={budget}"])
    assert task in cfg.budget.tasks, f"add {task} to benchmarks/conf/budget/{budget}.yaml"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_names_existing_tasks_and_models(experiment):
    cfg = compose_config([f"experiment={experiment}"])  # typed: a misspelt key fails here
    exp = cfg.experiment
    assert exp.name == experiment
    assert set(exp.grid) <= set(TASKS), f"{experiment}: unknown tasks {set(exp.grid) - set(TASKS)}"
    for task, models in exp.grid.items():
        assert set(models) <= set(MODELS), f"{experiment}/{task}: unknown models {set(models) - set(MODELS)}"
        assert task in compose_config([f"task={task}", f"budget={cfg.budget.name}"]).budget.tasks


BUDGET_FILES = sorted(p.stem for p in (CONF / "budget").glob("*.yaml"))
BUDGET_MODELS = sorted(p.stem for p in (CONF / "budget_model").glob("*.yaml"))


def split_budget_model(stem: str) -> tuple[str, str, str]:
    """``<budget>_<task>_<model>`` of a budget_model file, split at the names that exist (names hold "_")."""
    for budget in BUDGET_FILES:
        for task in TASKS:
            prefix = f"{budget}_{task}_"
            if stem.startswith(prefix) and stem[len(prefix):] in MODELS:
                return budget, task, stem[len(prefix):]
    raise AssertionError(f"benchmarks/conf/budget_model/{stem}.yaml names no existing <budget>_<task>_<model>: "
                         "hydra would never select it")


def test_budget_model_files_exist_and_name_real_cells():
    assert BUDGET_MODELS, "benchmarks/conf/budget_model holds the paper's initial values at the paper budgets"
    for stem in BUDGET_MODELS:
        split_budget_model(stem)


@pytest.mark.parametrize("stem", BUDGET_MODELS)
def test_budget_model_settings_apply_at_their_budget_only_and_the_command_line_wins(stem):
    budget, task, model = split_budget_model(stem)
    settings = OmegaConf.load(CONF / "budget_model" / f"{stem}.yaml").model
    assert settings, f"{stem}: sets nothing"
    here = compose_config([f"budget={budget}", f"task={task}", f"model={model}"])
    elsewhere = compose_config(["budget=quick", f"task={task}", f"model={model}"])
    for key, value in settings.items():
        assert here.model[key] == value
        assert elsewhere.model[key] != value, f"{stem}: {key} is the model's own default, so the file changes nothing"
        other = 0.5 if isinstance(value, float) else value
        overridden = compose_config([f"budget={budget}", f"task={task}", f"model={model}", f"model.{key}={other}"])
        assert overridden.model[key] == other


def test_pilot_budget_is_the_paper_protocol_with_three_seeds():
    """The pilot changes only the seed count: every other budget field of its tasks equals the paper budget's (3
    seeds for the claims' tasks, one for the check of Omniglot's resize)."""
    pilot, paper = (OmegaConf.load(CONF / "budget" / f"{b}.yaml").tasks for b in ("pilot", "paper"))
    assert {task: entry.seeds for task, entry in pilot.items()} == {"omniglot": 3, "image_memory": 3,
                                                                     "omniglot_bilinear": 1}
    for task, entry in pilot.items():
        assert {k: v for k, v in entry.items() if k != "seeds"} == {k: v for k, v in paper[task].items() if k != "seeds"}
    for model in ("plastic_head", "plastic_shared_head"):
        assert (compose_config(["budget=pilot", "task=omniglot", f"model={model}"]).model
                == compose_config(["budget=paper", "task=omniglot", f"model={model}"]).model)


@pytest.mark.parametrize("task, model", CELLS)
def test_cell_runs_at_smoke_budget_and_writes_a_complete_record(task, model, tmp_path):
    cfg = compose_config([f"task={task}", f"model={model}", "budget=smoke", f"out_dir={tmp_path}",
                          "progress=false"])
    record = run(cfg)
    paths = list(tmp_path.rglob("*.json"))
    assert len(paths) == 1
    assert load_record(paths[0]) == record
    assert record.status in ("ok", "skipped")
    if record.status == "skipped":
        pytest.skip(f"{task}: {record.extra.get('reason')}")
    budget = cfg.budget.tasks[task]
    assert record.episodes == budget.episodes
    assert record.optimizer_steps == math.ceil(budget.episodes / budget.batch_size)
    assert record.n_params > 0 and record.wall_time_s > 0
    assert record.primary_metric in record.final and math.isfinite(record.final[record.primary_metric])
    assert record.curves["episode"][-1] == budget.episodes
    assert record.eval_curve["episode"][-1] == budget.episodes
    assert record.seeds["eval"] != record.seeds["train"]
    assert record.config["task"]["name"] == task and record.config["model"]["name"] == model
    assert len(record.config_hash) == 64 and record.git_commit


def comparable(record) -> dict:
    """A record as a dict without what legitimately differs between identical runs (timing, output folder)."""
    data = json.loads(record.to_json())
    for key in ("wall_time_s",):
        data.pop(key)
    data["extra"].pop("memory", None)
    data["extra"].pop("seconds_per_episode", None)
    data["config"].pop("out_dir")
    return data


def test_same_seed_identical_record_different_seed_differs(tmp_path):
    overrides = ["task=binary_patterns_50", "model=plastic", "budget=smoke", "progress=false"]
    first = run(compose_config(overrides + ["seed=0", f"out_dir={tmp_path / 'a'}"]))
    again = run(compose_config(overrides + ["seed=0", f"out_dir={tmp_path / 'b'}"]))
    other = run(compose_config(overrides + ["seed=1", f"out_dir={tmp_path / 'c'}"]))
    assert comparable(first) == comparable(again)
    assert first.config_hash == other.config_hash  # the seed is not part of the cell's identity
    assert first.curves["loss"] != other.curves["loss"]
    assert first.seeds["eval"] != other.seeds["eval"]  # each seed its own evaluation pool
    assert first.seeds["init"] != other.seeds["init"] and first.seeds["train"] != other.seeds["train"]


def test_models_share_training_episodes_and_evaluation_pool():
    a = compose_config(["task=binary_patterns_50", "model=plastic"])
    b = compose_config(["task=binary_patterns_50", "model=lstm"])
    from benchmarks.harness.seeding import run_streams
    sa, sb = run_streams(a.task.name, a.model.name, 0), run_streams(b.task.name, b.model.name, 0)
    assert sa["train"] == sb["train"] and sa["eval"] == sb["eval"] and sa["init"] != sb["init"]


@pytest.mark.parametrize("task_name", ["binary_patterns_50", "maze", "cue_reward"])
def test_evaluation_pools_differ_between_seeds_and_match_between_models_of_a_seed(task_name):
    from benchmarks.harness.train import build_task, eval_pool
    from benchmarks.harness.seeding import run_streams
    cfg = compose_config([f"task={task_name}", "budget=smoke"])
    task, budget = build_task(OmegaConf.to_container(cfg.task, resolve=True)), cfg.budget.tasks[task_name]

    def plain(value):  # an episode batch (dataclass of tensors, dicts, lists) as comparable plain values
        if hasattr(value, "tolist"):
            return value.tolist()
        if isinstance(value, dict) or hasattr(value, "__dict__"):
            return {k: plain(v) for k, v in sorted((value if isinstance(value, dict) else vars(value)).items())}
        return value

    def pool(model, seed):
        return [plain(b) for b in eval_pool(task, budget, run_streams(task_name, model, seed)["eval"])]

    models = {"binary_patterns_50": ("plastic", "lstm"), "maze": ("plastic", "rnn"),
              "cue_reward": ("duan_rnn_hebbian", "duan_rnn_nonplastic")}[task_name]
    assert pool(models[0], 0) == pool(models[1], 0) and pool(models[0], 1) == pool(models[1], 1)
    assert pool(models[0], 0) != pool(models[0], 1)


def test_skip_existing_returns_the_stored_record(tmp_path):
    overrides = ["task=binary_patterns_50", "model=plastic", "budget=smoke", "progress=false", f"out_dir={tmp_path}"]
    first = run(compose_config(overrides))
    again = run(compose_config(overrides + ["skip_existing=true"]))
    assert again == first
