"""README's "Adding a task or a model", done as a new researcher would: one class, one line in FAMILIES, a YAML for
the model and one for its declared non-plastic peer; then the model runs at the smoke budget on one task of every
kind (sequence tasks, regression, the maze through its input projection, Omniglot on the conv backbone) from the
same YAML, and the report shows it: in the tables, in the across-task comparison beside its peer, and in a colour
of its own in every figure.

The models are named ``readme_fast_weights`` and ``readme_fast_weights_off`` (README calls them ``fast_weights``),
so that a real model a user adds under README's name never clashes with this test."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.colors
import pytest
import torch
from torch import Tensor, nn

from benchmarks.harness import config as schema, models
from benchmarks.harness.config import compose_config
from benchmarks.harness.records import load_record
from benchmarks.report import figure_parts
from benchmarks.report.main import main as report_main
from benchmarks.run import run
from benchmarks.tasks import omniglot
from plastic import unroll
from tests.test_omniglot_task import fake_images

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("readme_fast_weights", "readme_fast_weights_off")
# one task of every kind a sequence model runs on: three sequence tasks, regression, the maze, Omniglot
TASKS = ("binary_patterns_50", "cue_reward", "seq_reproduction_n5_m0", "regression", "maze", "omniglot")


class FastWeightsRNN(nn.Module):
    """Ba et al. (2016)-style fast weights: h(t) = tanh(x(t) W_in + h(t-1) (W + A(t))), A(t+1) = decay A(t) +
    rate h(t-1)^T h(t); y(t) = h(t) W_out.

    Args:
        input_size: inputs per step (given by the task).
        output_size: outputs per step (given by the task).
        hidden_size: recurrent units.
        decay: factor on the fast weights per step.
        rate: of the Hebbian write into the fast weights (0: none, the non-plastic peer).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 16, decay: float = 0.9,
                 rate: float = 0.5) -> None:
        super().__init__()
        self.hidden_size, self.decay, self.rate = hidden_size, decay, rate
        self.inp = nn.Linear(input_size, hidden_size)
        self.w = nn.Parameter(torch.randn(hidden_size, hidden_size) / hidden_size ** 0.5)
        self.out = nn.Linear(hidden_size, output_size)

    def initial_state(self, batch_size: int) -> tuple[Tensor, Tensor]:
        h = self.w.new_zeros(batch_size, self.hidden_size)
        return h, self.w.new_zeros(batch_size, self.hidden_size, self.hidden_size)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h_prev, fast = state
        h = torch.tanh(self.inp(x) + h_prev @ self.w + torch.bmm(h_prev.unsqueeze(1), fast).squeeze(1))
        fast = self.decay * fast + self.rate * h_prev.unsqueeze(2) * h.unsqueeze(1)
        return self.out(h), (h, fast)

    def forward(self, inputs: Tensor, state: tuple[Tensor, Tensor] | None = None):
        return unroll(self.step, inputs, state if state is not None else self.initial_state(inputs.shape[1]))


@pytest.fixture
def fast_weights(monkeypatch, tmp_path):
    """README's steps: the class (above), one line in FAMILIES, the model's YAML (declaring its peer) and the
    peer's YAML, in a model folder on hydra's search path."""
    for name in NAMES:
        assert not (ROOT / "benchmarks" / "conf" / "model" / f"{name}.yaml").exists(), \
            f"benchmarks/conf/model/{name}.yaml exists: this test needs that name free; rename the model"
    assert "readme_fast_weights" not in models.FAMILIES, "this test needs the family name readme_fast_weights free"
    monkeypatch.setitem(models.FAMILIES, "readme_fast_weights", models.Family(FastWeightsRNN, "sequence", plastic=True))
    schema.register()  # stores base_readme_fast_weights (done at import time for the families in models.py)
    folder = tmp_path / "conf" / "model"
    folder.mkdir(parents=True)
    (folder / "readme_fast_weights.yaml").write_text(
        "defaults:\n  - base_readme_fast_weights\n  - _self_\nname: readme_fast_weights\n"
        "peer: readme_fast_weights_off\nhidden_size: 16\n")
    (folder / "readme_fast_weights_off.yaml").write_text(
        "defaults:\n  - base_readme_fast_weights\n  - _self_\nname: readme_fast_weights_off\nhidden_size: 16\n"
        "rate: 0.0\n")
    data = fake_images()
    monkeypatch.setattr(omniglot, "load_omniglot", lambda *a, **k: data)
    return f"hydra.searchpath=[file://{tmp_path / 'conf'}]"


def test_a_new_model_runs_on_every_task_kind_and_the_report_shows_it(fast_weights, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for task in TASKS:
        for name in NAMES:
            for seed in (0, 1):
                record = run(compose_config([f"task={task}", f"model={name}", fast_weights, "budget=smoke",
                                             f"seed={seed}", f"out_dir={runs}", "progress=false"]))
                assert record.status == "ok", (task, name, record.extra)
                assert all(math.isfinite(v) for v in record.final.values()), (task, name, record.final)
    # the same YAML on the maze and Omniglot, through the adapters, under the model's own name
    maze = load_record(next((runs / "maze" / "readme_fast_weights").glob("*.json")))
    assert maze.extra["adapter"] == "sequence_core" and maze.extra["adapter_width"] == 100
    fast = (100 * 16 + 16) + 16 * 16 + (16 * 100 + 100)  # the model: 100 -> 16 units -> 100
    assert maze.n_params == fast + (17 * 100 + 100) + (100 + 1) * 4 + (100 + 1)  # + projection, policy, value
    fewshot = load_record(next((runs / "omniglot" / "readme_fast_weights").glob("*.json")))
    assert fewshot.extra["adapter"] == "sequence_fewshot" and fewshot.config["model"]["peer"] == NAMES[1]

    calls: list[dict] = []
    real = figure_parts.figure_colors

    def spy(names):
        colors = real(names)
        calls.append({m: colors[m] for m in names})
        return colors

    monkeypatch.setattr(figure_parts, "figure_colors", spy)
    out = tmp_path / "report"
    assert report_main([str(runs), "--out", str(out)]) == 0
    report = (out / "REPORT.md").read_text()
    for task in TASKS:  # a table row per model in every task's section
        section = report.split(f"### {task} — budget smoke", 1)[1].split("\n### ", 1)[0]
        assert all(f"| {name} |" in section for name in NAMES), task
    across = report.split("## Across tasks: does plasticity help?", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:5] for line in across.splitlines() if line.startswith("| smoke | ")]
    arms = {task.strip(): (arm.strip(), other.strip()) for _, task, arm, other in rows}
    assert all(arms.get(task) == NAMES for task in TASKS), across  # every task, beside its peer
    assert arms.get("mean over tasks") == NAMES, across
    assert "readme_fast_weights (" not in across  # not listed among plastic models without a peer
    configured = {tuple(matplotlib.colors.to_rgb(c)) for c in figure_parts.MODEL_COLORS.values()}
    drawn = [colors for colors in calls if NAMES[0] in colors]
    assert drawn, "no figure drew the new model"
    for colors in drawn:
        rgb = {m: tuple(matplotlib.colors.to_rgb(c)) for m, c in colors.items()}
        assert len(set(rgb.values())) == len(rgb), colors  # every model of the figure its own colour
        assert all(rgb[m] not in configured for m in NAMES if m in rgb), colors  # never a configured colour
