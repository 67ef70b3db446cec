"""The pieces the report's figures share: colours, reference lines, the y range, held-out points, labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.report import figure_parts as parts
from benchmarks.report.collect import build_sections
from benchmarks.report.labels import budget_label
from benchmarks.report.summary import summarise
from benchmarks.tasks.image_memory import _shared_alpha
from benchmarks.tasks.maze import _legend_handles
from tests.test_report import curve, make_record


def test_one_colour_per_model_everywhere():
    configured = sorted(p.stem for p in (Path(parts.__file__).parents[1] / "conf" / "model").glob("*.yaml"))
    assert configured, "the model configs are found"
    assert set(configured) <= set(parts.MODEL_COLORS), "give the new model a colour in figure_parts.MODEL_COLORS"
    assert len(set(parts.MODEL_COLORS.values())) == len(parts.MODEL_COLORS)  # no two models share a colour
    new = parts.figure_colors(["a_model_from_elsewhere"])["a_model_from_elsewhere"]
    assert new == parts.figure_colors(["plastic", "a_model_from_elsewhere"])["a_model_from_elsewhere"]
    assert new in parts.FALLBACK


def test_clipping_leaves_out_an_early_spike_only():
    x = np.arange(1.0, 101.0)
    spike = np.where(x < 5, 10.0, 0.2 + 0.001 * x)
    low, high = parts.clipped_range([(x, spike)], keep=[0.25])
    assert low < 0.2 + 0.001 * 11 and 0.3 <= high < 1  # the late curve and the reference line stay inside
    assert parts.clipped_range([(x, 1.0 / x)], keep=[]) is not None  # 1/x: the first 10% take most of the axis
    assert parts.clipped_range([(x, 0.5 + 0.001 * x)], keep=[]) is None  # nothing to clip


def _summary(task, spec, extra=None, episodes=None):
    records = []
    for model in ("plastic", "rnn"):
        for seed in range(2):
            r = make_record(task, model, seed, 0.1, curve(0.5, 0.1, 200), extra=extra)
            r.eval_curve = {"episode": [500, 1000], "bit_error": [0.3 + seed, 0.1]}
            if episodes is not None:
                r.config["budget"]["tasks"][task]["episodes"] = episodes
            records.append((f"{model}{seed}", r))
    return summarise(build_sections(records, {task: spec})[0], spec)


def test_reference_lines_held_out_points_and_budget_label():
    spec = {"metric": "bit_error", "lower_is_better": True, "reference_lines": [{"value": 0.2, "label": "chance"}],
            "claims": [{"id": "c1", "rule": "equivalence", "model": "plastic", "value": 0.05},
                       {"id": "c2", "rule": "equivalence", "model": "lstm", "value": 0.5},  # lstm not drawn: no line
                       {"id": "c3", "rule": "order", "better": "plastic", "worse": "rnn"}]}
    summary = _summary("cue_reward", spec, extra={"no_memory_floor": 1 / 6})
    lines = parts.reference_lines(summary)
    assert [(v, label) for v, label, _ in lines] == [(0.2, "chance"), (pytest.approx(1 / 6), "no-memory floor"),
                                                     (0.05, "paper: c1 (plastic)")]
    assert lines[2][2] == parts.MODEL_COLORS["plastic"]
    episodes, medians = parts.eval_points(summary.rows[0], "bit_error")
    assert episodes.tolist() == [500, 1000] and medians.tolist() == pytest.approx([0.8, 0.1])
    assert budget_label(summary.section) == "quick, entries overridden: episodes=1000, eval_episodes=100"


def test_shared_alpha_value_and_maze_legend():
    assert _shared_alpha({"alpha": [0.015]}) == 0.015 and _shared_alpha({"alpha": 0.5}) == 0.5
    assert _shared_alpha({"alpha": [[0.1, 0.2], [0.3, 0.4]]}) is None and _shared_alpha({}) is None
    assert [h.get_label() for h in _legend_handles()] == ["agent", "its last 12 steps", "hidden reward square", "wall"]


def test_every_model_of_a_figure_gets_a_colour_of_its_own():
    """A new model never draws in a configured model's colour (the GRU drew in plastic's blue), and two new models
    of one figure never share one."""
    import matplotlib.colors as mc
    import numpy as np
    configured = [mc.to_rgb(c) for c in parts.MODEL_COLORS.values()]
    for color in parts.FALLBACK:
        assert min(np.linalg.norm(np.subtract(color, c)) for c in configured) > parts.MIN_DISTANCE
    new = [f"model_{k}" for k in range(30)]  # more new models than the hash can keep apart
    colors = parts.figure_colors(["plastic", "rnn", "duan_rnn_hebbian", *new, "gru", "fast_weights_nonplastic"])
    assert colors["plastic"] == parts.MODEL_COLORS["plastic"]
    rgb = [tuple(mc.to_rgb(c)) for c in colors.values()]
    assert len(set(rgb)) == len(rgb)


@pytest.mark.parametrize("budget, drawn", [("pilot", True), ("quick", False)])
def test_value_claims_at_their_budget_get_every_seeds_held_out_curve_against_the_paper(tmp_path, budget, drawn):
    from benchmarks.report import figures
    from benchmarks.report.main import judged_summaries
    records = []
    for model, level in (("plastic_shared", 27.5), ("plastic", 15.5)):
        for seed in range(3):
            r = make_record("image_memory", model, seed, level + seed, curve(60.0, level, 100), metric="loss",
                            budget=budget, kind="image_memory")
            r.eval_curve = {"episode": [1000, 2000, 3000], "loss": [50.0, 35.0 + seed, level + seed]}
            records.append((f"{model}{seed}", r))
    summary = next(s for s in judged_summaries(records) if s.section.task == "image_memory")
    paths = figures.value_claim_curves(summary, tmp_path / "image_memory-claim")
    value_claims = {c.claim["id"]: c for c in summary.claims if c.claim["rule"] == "equivalence"}
    assert set(value_claims) == {"plastic_value", "shared_value"}
    if not drawn:  # not comparable at quick: nothing to draw
        assert paths == [] and all(c.verdict == "not comparable" for c in value_claims.values())
        return
    assert sorted(p.name for p in paths) == sorted(f"image_memory-claim-{claim}.{ext}" for claim in value_claims
                                                   for ext in ("png", "svg"))
    svg = (tmp_path / "image_memory-claim-shared_value.svg").read_text()
    assert all(f"seed {seed}" in svg for seed in range(3)) and "paper: 27" in svg and "margin" in svg
    verdict = value_claims["shared_value"]
    assert verdict.verdict == "inconclusive" and verdict.p_floor == pytest.approx(0.125)  # 3 seeds: 1/2^3
    assert verdict.verdict in svg and "no result of this many seeds" in verdict.why


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_episode_tick_labels_print_as_numbers_with_mathtext_off(scale):
    """The figures turn mathtext off (a "$" in a label must print); a log axis's own labels are mathtext, so they
    printed as raw "$\\mathdefault{10^{3}}$" until the episode ticks wrote them out."""
    import matplotlib
    from matplotlib.figure import Figure

    from benchmarks.report.figures import RC

    with matplotlib.rc_context(RC):
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([1_000, 10_000, 1_000_000], [0.4, 0.7, 0.9])
        ax.set_xscale(scale)
        parts.integer_episode_ticks(ax)
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_text()]
    assert labels and not any("$" in label or "mathdefault" in label for label in labels), labels
    if scale == "log":
        assert {"1,000", "10,000", "100,000", "1,000,000"} <= set(labels)
    else:  # whole episodes with thousands separators, as on the log axis
        assert any("," in label for label in labels), labels
        assert all(label.replace(",", "").lstrip("-\u2212").isdigit() for label in labels), labels
