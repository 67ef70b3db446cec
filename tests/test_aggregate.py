"""The across-task view: P(plastic arm better than its non-plastic peer) on hand-made records."""
from __future__ import annotations

import math

import pytest
import scipy.stats

from benchmarks.harness.records import config_hash
from benchmarks.report import aggregate
from benchmarks.report.collect import build_sections
from benchmarks.report.summary import summarise
from tests.test_report import curve, make_record


def summaries(values: dict[tuple[str, str], list[float]], lower: bool = True):
    records = [(f"{task}/{model}/{seed}.json", make_record(task, model, seed, v, curve(0.5, 0.5, 0), lower=lower))
               for (task, model), vs in values.items() for seed, v in enumerate(vs)]
    return [summarise(section, {}) for section in build_sections(records, {})]


def test_peers_are_the_same_network_without_plasticity():
    assert aggregate.peer("plastic") == aggregate.peer("plastic_shared") == "rnn"
    assert aggregate.peer("duan_lstm_hebbian") == aggregate.peer("duan_lstm_gradient") == "duan_lstm_nonplastic"
    assert aggregate.peer("duan_rnn_gradient") == "duan_rnn_nonplastic"
    assert aggregate.peer("rnn") is None and aggregate.peer("duan_rnn_nonplastic") is None
    assert aggregate.peer("maml") is None
    assert aggregate.peer("plastic_core") == aggregate.peer("plastic_shared_core") == "rnn_core"
    assert aggregate.peer("rnn_core") is None and aggregate.peer("lstm_core") is None


def test_probability_of_improvement_per_task_and_mean_over_tasks():
    a_plastic, a_rnn = [0.1, 0.2, 0.3, 0.4, 0.5], [0.15, 0.25, 0.35, 0.45, 0.55]  # 15 of 25 pairs better
    items = aggregate.comparisons(summaries({
        ("task_a", "plastic"): a_plastic, ("task_a", "rnn"): a_rnn,
        ("task_b", "plastic"): [0.1, 0.1], ("task_b", "rnn"): [0.1, 0.4],  # 2 wins + 2 ties: (2 + 2/2) / 4
        ("task_b", "lstm"): [0.0, 0.0],  # no peer rule for lstm: not compared
    }))
    by_task = {c.task: c for c in items}
    assert set(by_task) == {"task_a", "task_b", aggregate.ALL_TASKS}
    assert by_task["task_a"].p == pytest.approx(15 / 25) and by_task["task_a"].seeds == "5 x 5"
    assert by_task["task_b"].p == pytest.approx(0.75)
    mean = by_task[aggregate.ALL_TASKS]
    assert mean.p == pytest.approx((15 / 25 + 0.75) / 2) and mean.seeds == "2 tasks" and math.isnan(mean.p_value)
    for c in items:
        assert c.arm == "plastic" and c.peer == "rnn"
    a = by_task["task_a"]  # 5 seeds per arm: a bootstrap interval, not a point
    assert 0 <= a.low < a.p < a.high <= 1
    # 2 seeds (task_b) and a mean that includes them: no bootstrap interval below 5 seeds per arm
    assert math.isnan(by_task["task_b"].low) and math.isnan(mean.low) and math.isnan(mean.high)
    # the arms share seeds 0-4: the primary p is the paired signed-rank test, Mann-Whitney beside it
    assert a.test == "signed-rank" and a.p_value == pytest.approx(1 / 32)  # plastic lower in 5 of 5 seeds
    assert scipy.stats.mannwhitneyu(a_plastic, a_rnn, alternative="less", method="exact").pvalue \
        == pytest.approx(a.mw_p)


def test_direction_follows_the_metric_and_the_table_renders():
    higher = aggregate.comparisons(summaries({("t", "duan_rnn_hebbian"): [0.9, 0.8, 0.7],
                                              ("t", "duan_rnn_nonplastic"): [0.1, 0.2, 0.3]}, lower=False))
    assert [c.p for c in higher] == [1.0] and higher[0].p_value == pytest.approx(1 / 8)  # 3 pairs: floor 1/8
    assert higher[0].mw_p == pytest.approx(1 / 20)
    headers, rows = aggregate.table(higher)
    assert rows == [["quick", "t", "duan_rnn_hebbian", "duan_rnn_nonplastic", "1",
                     "undefined (not computed below 5 seeds per arm)", "0.125 (signed-rank)", "0.05", "3 x 3"]]
    assert aggregate.to_csv(higher).splitlines()[1].startswith("quick,t,duan_rnn_hebbian,duan_rnn_nonplastic,1.0,")


def test_a_peer_is_declared_where_the_model_is_and_a_plastic_model_without_one_is_listed():
    """The peer comes from the record's model config (new records) or the model's YAML (older ones); a plastic
    model that declares none is named under the across-task table instead of silently left out."""
    assert aggregate.peer("new_arm", {"model": {"peer": "rnn"}}) == "rnn"
    assert aggregate.peer("../../etc/passwd") is None
    records = [(f"t/{m}/{s}.json", make_record("t", m, s, v, curve(0.5, 0.5, 0)))
               for m, v in (("fast_weights", 0.1), ("rnn", 0.2)) for s in range(2)]
    for _, record in records:
        record.config["model"].update({"family": "miconi", "rule": "hebbian", "alpha": "shared"}
                                      if record.model == "fast_weights" else {"family": "rnn"})
        record.config_hash = config_hash(record.config)
    sums = [summarise(section, {}) for section in build_sections(records, {})]
    assert aggregate.comparisons(sums) == []
    assert aggregate.without_peer(sums) == ["fast_weights (t, quick: declares no peer)"]
    for _, record in records:
        if record.model == "fast_weights":
            record.config["model"]["peer"] = "rnn"
    sums = [summarise(section, {}) for section in build_sections(records, {})]
    assert [(c.arm, c.peer) for c in aggregate.comparisons(sums)] == [("fast_weights", "rnn")]
    assert aggregate.without_peer(sums) == []
