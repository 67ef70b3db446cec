"""The task registry and the model families: explicit, typed, and open to a new model without editing a task.

``test_a_new_recurrent_core_runs_on_the_maze`` adds a core the way README's "Adding a task or a model" says (one
class, one registry entry, one YAML) and the maze trains it; tests/test_new_model.py does README's worked example,
a sequence model on every task kind."""
from __future__ import annotations

import dataclasses
import inspect
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from benchmarks.harness import config as schema, models
from benchmarks.harness.config import compose_config
from benchmarks.run import run
from benchmarks.tasks import TASKS, lookup
from benchmarks.tasks.base import Task

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf"


def test_every_task_config_names_a_registered_kind_and_every_kind_has_a_config():
    kinds = {compose_config([f"task={p.stem}"]).task.kind for p in (CONF / "task").glob("*.yaml")}
    assert kinds == set(TASKS)
    for kind, (task_cls, config_cls) in TASKS.items():
        assert issubclass(task_cls, Task) and dataclasses.is_dataclass(config_cls), kind
    with pytest.raises(ValueError, match=r"task.kind='nope' is unknown; known task kinds: \['binary_patterns'"):
        lookup("nope")


@pytest.mark.parametrize("family", sorted(models.FAMILIES))
def test_a_family_schema_is_its_constructor_arguments(family):
    """The YAML fields of a family are its constructor's keyword arguments, minus what the task supplies."""
    build, kind = models.FAMILIES[family].build, models.FAMILIES[family].kind
    params = [p for p in inspect.signature(build.__init__).parameters if p != "self"]
    fields = [f.name for f in dataclasses.fields(models.family_schema(family))]
    harness = ["name", "family", "peer"] + (["adapter_width"] if kind == "sequence" else []) \
        + (["backbone_init"] if kind in ("head", "sequence") else [])
    assert fields == harness + [p for p in params if p not in models.KINDS[kind]]
    assert set(models.KINDS[kind]) <= set(params), f"{family} lacks the arguments a {kind} model is given"


def test_every_task_accepts_only_known_kinds():
    for kind, (task_cls, _) in TASKS.items():
        assert task_cls.model_kinds and set(task_cls.model_kinds) <= set(models.KINDS), kind


class GRUCore(nn.Module):
    """A recurrent core the harness has never seen: a GRU cell whose hidden state feeds the maze's heads.

    Args:
        input_size: observation size (given by the task).
        hidden_size: GRU units.
    """

    def __init__(self, input_size: int, hidden_size: int = 16) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = nn.GRUCell(input_size, hidden_size)

    def initial_state(self, batch_size: int) -> Tensor:
        return self.cell.weight_hh.new_zeros(batch_size, self.hidden_size)

    def step(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self.cell(inputs, state)
        return h, h

    def forward(self, inputs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        state = state if state is not None else self.initial_state(inputs.shape[1])
        outputs = []
        for x in inputs:
            y, state = self.step(x, state)
            outputs.append(y)
        return torch.stack(outputs), state


@pytest.fixture
def gru_core(monkeypatch, tmp_path):
    """README's three steps for a core: the class (above), one entry in FAMILIES, one YAML in a model folder.
    Named ``registry_gru``/``registry_gru_core`` so that a real ``gru`` model a user adds does not clash."""
    assert not (CONF / "model" / "registry_gru.yaml").exists(), \
        "benchmarks/conf/model/registry_gru.yaml exists: this test needs that name free; rename the model"
    assert "registry_gru_core" not in models.FAMILIES, "this test needs the family name registry_gru_core free"
    monkeypatch.setitem(models.FAMILIES, "registry_gru_core", models.Family(GRUCore, "core"))
    schema.register()  # stores base_registry_gru_core (done at import time for the families in models.py)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "registry_gru.yaml").write_text(
        "defaults:\n  - base_registry_gru_core\n  - _self_\nname: registry_gru\nhidden_size: 12\n")
    return f"hydra.searchpath=[file://{tmp_path}]"


def test_a_new_recurrent_core_runs_on_the_maze(gru_core, tmp_path):
    cfg = compose_config(["task=maze", "model=registry_gru", gru_core, "budget=smoke",
                          f"out_dir={tmp_path / 'runs'}", "progress=false"])
    assert OmegaConf.to_container(cfg.model) == {"name": "registry_gru", "family": "registry_gru_core", "peer": None,
                                                 "hidden_size": 12}
    record = run(cfg)
    assert record.status == "ok" and math.isfinite(record.final["reward"])
    gru = 3 * 12 * (17 + 12) + 2 * 3 * 12  # GRUCell on the 17 reference observations
    assert record.n_params == gru + (12 + 1) * 4 + (12 + 1)  # + the maze's policy and value heads


def test_a_new_core_config_is_typed_and_refused_by_tasks_that_take_no_cores(gru_core):
    with pytest.raises(Exception, match="hidden_sise"):
        compose_config(["task=maze", "model=registry_gru", gru_core, "model.hidden_sise=3"])
    cfg = compose_config(["task=cue_reward", "model=registry_gru", gru_core])
    task_cls, config_cls = lookup(cfg.task.kind)
    own = {k: v for k, v in cfg.task.items() if k not in schema.TASK_HARNESS_FIELDS}
    with pytest.raises(ValueError, match="model 'registry_gru' .family 'registry_gru_core'. is a core model; task "
                                         "'cue_reward' takes sequence models, of the families .* To run it here, "
                                         "provide a sequence model: a class built from .input_size, output_size."):
        task_cls(config_cls(**own), name=cfg.task.name).build_model(dict(cfg.model))
