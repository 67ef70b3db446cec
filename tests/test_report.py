"""The reporter end to end on a small, deterministic set of synthetic records (no training).

Golden files: tests/golden/*.md. After an intended change of the report's format, regenerate them with
``PLASTICBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py`` and review the diff.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import types
from pathlib import Path

import pytest
import yaml

from benchmarks.harness.records import RunRecord, config_hash, write_record
from benchmarks.report import folders, main as report
from benchmarks.report.collect import build_sections, load_dirs
from benchmarks.report.published import PUBLISHED, judge_all, load_published
from benchmarks.report.summary import summarise
from benchmarks.tasks import TASKS

HERE = Path(__file__).parent
SMALL = HERE / "data" / "published_small.yaml"
GOLDEN = HERE / "golden"
EPISODES = 1000


def curve(start: float, end: float, switch: int) -> dict[str, list[float]]:
    """A binned training curve: one point per 20 episodes, ``start`` up to episode ``switch``, then ``end``."""
    episodes = list(range(20, EPISODES + 1, 20))
    return {"episode": episodes, "value": [start if e <= switch else end for e in episodes]}


def make_record(task: str, model: str, seed: int, final: float, train: dict[str, list[float]], *,
                metric: str = "bit_error", lower: bool = True, budget: str = "quick", kind: str = "synthetic",
                status: str = "ok", lr: float = 1e-3, extra: dict | None = None) -> RunRecord:
    config = {"task": {"name": task, "kind": kind}, "model": {"name": model, "lr": lr}, "seed": seed,
              "budget": {"name": budget, "tasks": {task: {"episodes": EPISODES, "eval_episodes": 100, "seeds": 3}}}}
    curves = {"episode": train["episode"], metric: train["value"]}
    return RunRecord(task=task, model=model, budget=budget, seed=seed, status=status, config=config,
                     config_hash=config_hash(config), git_commit="0123abc", data_digest=None,
                     seeds={"init": seed}, episodes=EPISODES, optimizer_steps=EPISODES, batch_size=1,
                     n_params={"plastic": 5203, "plastic_shared": 2603}.get(model, 4206601),
                     wall_time_s=10.0 + seed, threads=1, torch_version="test", primary_metric=metric,
                     lower_is_better=lower, final={metric: final} if final is not None else {}, curves=curves,
                     eval_curve={}, diverged_at=37 if status == "diverged" else None, extra=extra or {})


def write_synthetic_runs(root: Path) -> None:
    """Every case the report must show: converging and censored runs, a diverged run, a run without its final
    metric, mixed configs, identical scores, a skipped task, a corrupt and a foreign file, a duplicate."""
    runs = root / "runs"
    bp = "binary_patterns_50"
    records = [make_record(bp, "plastic", s, f, curve(0.3, 0.0, c)) for s, f, c in
               ((0, 0.01, 200), (1, 0.02, 300), (2, 0.0, 400))]
    records += [make_record(bp, "rnn", s, f, curve(0.2, 0.2, 0)) for s, f in ((0, 0.12), (1, 0.13), (2, 0.11))]
    records.append(make_record(bp, "rnn", 3, None, curve(0.2, 0.2, 0)))  # final metric missing
    records += [make_record(bp, "lstm", s, 0.25, curve(0.25, 0.25, 0)) for s in (0, 1)]  # identical scores
    records.append(make_record(bp, "lstm", 2, float("nan"), curve(0.25, 0.25, 0), status="diverged"))
    records += [make_record(bp, "plastic_shared", s, 0.05, curve(0.3, 0.0, 100), lr=lr)
                for s, lr in ((0, 1e-3), (1, 3e-4))]  # two configs in one cell
    records += [make_record("omniglot", "plastic", s, a, curve(0.5, 0.95, c), metric="accuracy", lower=False)
                for s, a, c in ((0, 0.97, 300), (1, 0.98, 500), (2, 0.99, 400))]
    records += [make_record("omniglot", "maml", s, a, curve(0.5, 0.8, 100), metric="accuracy", lower=False)
                for s, a in ((0, 0.95), (1, 0.96))]
    records.append(make_record("image_memory", "plastic", 0, None, curve(0, 0, 0), metric="loss", status="skipped",
                               extra={"reason": "CIFAR-10 not found in data/: accepts cifar-10-python.tar.gz"}))
    for record in records:
        write_record(runs, record)
    (runs / "corrupt.json").write_text("{not json")
    (runs / "foreign.json").write_text('{"hello": "world"}\n')
    incomplete = json.loads(records[3].to_json())
    del incomplete["curves"]
    (runs / "missing_field.json").write_text(json.dumps(incomplete))
    write_record(root / "runs_copy", records[0])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The report of the synthetic runs, generated in a temporary folder with relative paths."""
    root = tmp_path_factory.mktemp("report")
    write_synthetic_runs(root)
    with contextlib.chdir(root):
        report.generate(["runs", "runs_copy"], Path("out"), SMALL)
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name, generated_path", [("binary_patterns_50_table.md", "out/tables/binary_patterns_50.md"),
                                                  ("omniglot_table.md", "out/tables/omniglot.md"),
                                                  ("REPORT.md", "out/REPORT.md")])
def test_golden(generated, name, generated_path):
    text = (generated / generated_path).read_text()
    golden = GOLDEN / name
    if os.environ.get("PLASTICBENCH_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{generated_path} differs from {golden} (see the module docstring)"


def test_report_is_byte_identical_when_regenerated(generated):
    before = snapshot(generated / "out")
    assert {"REPORT.md", "tables/omniglot.tex", "tables/omniglot.csv", "figures/binary_patterns_50-quick-curves.svg",
            "figures/binary_patterns_50-quick-convergence.png"} <= set(before)
    with contextlib.chdir(generated):
        report.generate(["runs", "runs_copy"], Path("out"), SMALL)
    assert snapshot(generated / "out") == before


def test_problems_are_listed_never_dropped(generated):
    text = (generated / "out" / "REPORT.md").read_text()
    assert "not a run record, skipped: `runs/corrupt.json`" in text
    assert "not a run record, skipped: `runs/foreign.json`" in text
    assert "not a run record, skipped: `runs/missing_field.json`" in text and "'curves'" in text
    assert "duplicate run (same config_hash and seed), ignored: `runs_copy/binary_patterns_50/plastic/" in text
    assert "lstm seed 2: diverged at episode 37" in text
    assert "rnn seed 3: final metric 'bit_error' missing" in text
    assert "plastic seed 0: skipped: CIFAR-10 not found" in text
    assert "mixed configs for plastic_shared: 2 config hashes" in text and "differ in model.lr" in text
    assert "| lstm | 2 (+1 excluded) |" in text and "| rnn | 3 (+1 excluded) |" in text


def test_verdicts_follow_their_rules(tmp_path):
    write_synthetic_runs(tmp_path)
    published = load_published(SMALL)
    summaries = {(s.task, s.budget): summarise(s, published.get(s.task, {}))
                 for s in build_sections(load_dirs([str(tmp_path / "runs")]).records, published)}
    verdicts = {}
    for summary in summaries.values():
        judge_all(summary)
        verdicts.update({(summary.section.task, c.claim["id"]): c.verdict for c in summary.claims})
    assert verdicts == {
        # KM median 400 <= 500, but 3 of 3 runs by episode 500 gives sign-test p = 1/8: 3 runs cannot decide
        ("binary_patterns_50", "plastic_converges"): "inconclusive",
        # seeds 0-2 of both arms, paired: 3 of 3 better gives the paired floor 1/8, an indication only
        ("binary_patterns_50", "plastic_beats_rnn"): "inconclusive",
        ("binary_patterns_50", "plastic_beats_lstm"): "inconclusive",  # 3 vs 2 seeds, unpaired: smallest p = 1/10
        # rnn censored at 1000: even the least favourable ratio, 1000 / 500 (plastic's CI high end), reaches 2
        ("binary_patterns_50", "speedup_vs_rnn"): "reproduced",
        ("binary_patterns_50", "rnn_plateau"): "not comparable",  # published at budget paper only
        # pooled 294/300 against 0.983 +- 0.01: even a perfect result over 300 test episodes cannot decide
        ("omniglot", "icml"): "inconclusive",
        ("omniglot", "above_chance"): "reproduced",
        ("omniglot", "maml"): "context",
    }
    claims = {c.claim["id"]: c for c in summaries[("binary_patterns_50", "quick")].claims}
    assert claims["plastic_beats_rnn"].indication == "3/3 seeds in the claimed direction"
    assert claims["plastic_beats_rnn"].test.startswith("exact Wilcoxon signed-rank, 3 pairs")
    assert claims["plastic_beats_lstm"].beside.startswith("unpaired: the arms ran different seeds")
    assert "can decide" in next(c for c in summaries[("omniglot", "quick")].claims if c.claim["id"] == "icml").why
    plastic = summaries[("binary_patterns_50", "quick")].rows[0]
    assert plastic.conv_times == [300.0, 400.0, 500.0] and plastic.survival.median == 400.0
    lstm = next(r for r in summaries[("binary_patterns_50", "quick")].rows if r.cell.model == "lstm")
    assert lstm.boot_ci.method == "undefined" and "below 5 seeds" in lstm.boot_ci.note  # 2 seeds: no bootstrap
    assert plastic.t_ci.method == "t, clipped" and plastic.t_ci.low == 0.0  # an error rate's interval stays >= 0


def test_real_published_yaml_covers_both_papers():
    published = load_published(PUBLISHED)
    assert {"binary_patterns", "binary_patterns_paper", "binary_patterns_50", "image_memory", "omniglot", "maze",
            "cue_reward", "seq_reproduction", "regression"} <= set(published)
    icml = next(c for c in published["omniglot"]["claims"] if c["id"] == "icml")
    assert (icml["value"], icml["pm"], icml["estimate"], icml["margin"]) == (0.983, 0.0081, "wilson", 0.01)
    for task, spec in published.items():
        for claim in spec["claims"]:
            assert claim["rule"] != "equivalence" or claim["margin_reason"], (task, claim["id"])
            assert claim["rule"] != "converges_within" or "window_range" in spec["convergence"], (task, claim["id"])


def test_every_experiment_grid_task_has_published_claims():
    """A grid task without an entry in published.yaml would run every night and never get a verdict."""
    from omegaconf import OmegaConf

    published = load_published(PUBLISHED)
    experiments = sorted((Path(report.CONF) / "experiment").glob("*.yaml"))
    assert experiments
    from benchmarks.report import parity
    compared = {(s.harness["task"], s.harness["model"]) for s in parity.load_settings()}  # judged against the authors'
    for path in experiments:  # code instead (benchmarks/report/parity/)
        grid = OmegaConf.load(path).experiment.get("grid") or {}
        lacking = [task for task, models in grid.items() if not published.get(task, {}).get("claims")
                   and not all((task, model) in compared for model in models)]
        assert not lacking, f"{path.name}: grid tasks without published claims or a parity reference: {lacking}"
    sweep = published["seq_reproduction_n5_m10"]
    assert [c["id"] for c in sweep["claims"]] == [c["id"] for c in published["seq_reproduction"]["claims"]]
    assert "sweeps" in sweep["paper"] and "n=20, m=20" in published["seq_reproduction"]["paper"]


def test_bad_published_yaml_names_the_key(tmp_path):
    bad = tmp_path / "published.yaml"
    bad.write_text("t:\n  metric: m\n  lower_is_better: true\n"
                   "  claims:\n    - {id: x, rule: guess, text: a, pm_meaning: b}\n")
    with pytest.raises(ValueError, match=r"t.claims\[0\].rule='guess'"):
        load_published(bad)


def test_no_records_still_writes_a_report(tmp_path):
    (tmp_path / "runs").mkdir()
    text = report.generate([str(tmp_path / "runs"), str(tmp_path / "absent")], tmp_path / "out", SMALL)
    written = (tmp_path / "out" / "REPORT.md").read_text()
    assert "No run records found" in written and "No run records yet" in text
    assert f"missing folder `{tmp_path / 'absent'}`" in written


def test_readme_block_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n{folders.START}\nold table\n{folders.END}\nrest\n")
    folders.update_readme(readme, "| new |\n")
    assert readme.read_text() == f"# Title\n{folders.START}\n| new |\n{folders.END}\nrest\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    with pytest.raises(ValueError, match="lacks the markers"):
        folders.update_readme(plain, "| new |\n")
    assert plain.read_text() == "# no markers\n"


def test_task_figure_hook_is_called(tmp_path, monkeypatch):
    calls = []

    def report_figures(records, out_dir):
        calls.append(sorted(r.seed for r in records))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "extra.png").write_bytes(b"png")
        return [out_dir / "extra.png"]

    monkeypatch.setitem(TASKS, "hooked", (types.SimpleNamespace(report_figures=report_figures), None))
    runs = tmp_path / "runs"
    for seed in (0, 1):
        write_record(runs, make_record("hooked_task", "plastic", seed, 0.1, curve(0.3, 0.1, 100), kind="hooked"))
    (tmp_path / "out" / "tables").mkdir(parents=True)
    (tmp_path / "out" / "tables" / "gone.md").write_text("stale")  # from a task that has no records any more
    (tmp_path / "out" / "tables" / "mine.md").write_text("hand-made")  # never generated: never removed
    (tmp_path / "out" / folders.MANIFEST).write_text("tables/gone.md\n../outside.md\n")
    (tmp_path / "outside.md").write_text("not under --out")
    with contextlib.chdir(tmp_path):
        assert report.main(["runs", "--out", "out", "--readme", "README.md", "--published", str(SMALL)]) == 0
    assert calls == [[0, 1]]
    assert "![extra](figures/hooked_task-quick/extra.png)" in (tmp_path / "out" / "REPORT.md").read_text()
    assert not (tmp_path / "out" / "tables" / "gone.md").exists()
    assert (tmp_path / "out" / "tables" / "mine.md").exists() and (tmp_path / "outside.md").exists()
    assert "tables/hooked_task.md" in (tmp_path / "out" / folders.MANIFEST).read_text()
    shutil.rmtree(tmp_path / "out")


def test_no_pooled_wilson_over_repeated_evaluation_pools(tmp_path):
    """Records whose seeds share one evaluation pool would count the same episodes several times."""
    for seed in range(3):
        record = make_record("omniglot", "plastic", seed, 0.9, curve(0.5, 0.9, 100), metric="accuracy", lower=False)
        record.seeds = {"init": seed, "eval": 7}  # one pool for every seed
        write_record(tmp_path / "runs", record)
    published = load_published(SMALL)
    section = next(iter(build_sections(load_dirs([str(tmp_path / "runs")]).records, published)))
    summary = summarise(section, published["omniglot"])
    assert summary.rows[0].wilson is None and any("share an evaluation pool" in n for n in summary.notes)


@pytest.mark.parametrize("budgets, message", [
    (", budgets: [nightly]", r"budgets names unknown budget\(s\) \['nightly'\]"),
    (", budgets: []", r"budgets=\[\]: give \"any\" or a list of budget names"),
    (", budgets: quick", r"budgets='quick': give \"any\" or a list of budget names"),
    ("", r"budgets=None: give \"any\" or a list of budget names"),  # every verdict-bearing claim states its budgets
])
def test_claim_budgets_must_name_real_budgets(tmp_path, budgets, message):
    bad = tmp_path / "published.yaml"
    bad.write_text("t:\n  metric: m\n  lower_is_better: true\n  claims:\n"
                   f"    - {{id: x, rule: order, better: a, worse: b, text: a, pm_meaning: b{budgets}}}\n")
    with pytest.raises(ValueError, match=r"t.claims\[0\] \(x\)." + message):
        load_published(bad)


def test_a_claim_is_judged_only_at_its_budgets_and_the_headline_sets_budgets_side_by_side(tmp_path):
    """The same runs at budget quick and at budget overnight: a claim comparable at [overnight, paper] gets a
    verdict from the overnight records and "not comparable" from the quick ones; the README block has one verdict
    column per budget (longest first) and a section per budget."""
    spec = tmp_path / "published.yaml"
    spec.write_text("binary_patterns_50:\n  metric: bit_error\n  lower_is_better: true\n  claims:\n"
                    "    - {id: beats, rule: order, better: plastic, worse: rnn, budgets: [overnight, paper],"
                    " text: plastic beats rnn, pm_meaning: q}\n"
                    "    - {id: beats_any, rule: order, better: plastic, worse: rnn, budgets: any,"
                    " text: plastic beats rnn anywhere, pm_meaning: q}\n")
    for budget in ("quick", "overnight"):
        for seed in range(5):
            write_record(tmp_path / "runs", make_record("binary_patterns_50", "plastic", seed, 0.01 + seed / 1000,
                                                        curve(0.3, 0.0, 200), budget=budget))
            write_record(tmp_path / "runs", make_record("binary_patterns_50", "rnn", seed, 0.1 + seed / 1000,
                                                        curve(0.2, 0.2, 0), budget=budget))
    published = load_published(spec)
    verdicts = {}
    for section in build_sections(load_dirs([str(tmp_path / "runs")]).records, published):
        summary = summarise(section, published[section.task])
        judge_all(summary)
        verdicts.update({(section.budget, c.claim["id"]): c.verdict for c in summary.claims})
    assert verdicts == {("quick", "beats"): "not comparable", ("quick", "beats_any"): "reproduced",
                        ("overnight", "beats"): "reproduced", ("overnight", "beats_any"): "reproduced"}
    text = report.generate([str(tmp_path / "runs")], tmp_path / "out", spec)
    assert "| Task | Claim | Published | overnight | quick |" in text
    assert "| binary_patterns_50 | beats | plastic beats rnn | reproduced | not comparable |" in text
    assert text.index("#### Budget `overnight`") < text.index("#### Budget `quick`")


def test_a_convergence_verdict_that_flips_with_the_window_reads_sensitive(tmp_path):
    """Every run's error drops to 0 at episode 460: a 20-episode window crosses by 500 (5 of 5: reproduced), the
    fixed 100-episode window only at 560 (0 of 5: contradicted). The claim reads "sensitive to window", in the
    task section and in the summary."""
    spec = tmp_path / "published.yaml"
    spec.write_text("binary_patterns_50:\n  metric: bit_error\n  lower_is_better: true\n"
                    "  convergence: {metric: bit_error, below: 0.01, window: 100, window_range: [20, 100]}\n"
                    "  claims:\n"
                    "    - {id: conv, rule: converges_within, model: plastic, episodes: 500, budgets: any,"
                    " text: plastic converges within 500, pm_meaning: q}\n")
    for seed in range(5):
        write_record(tmp_path / "runs", make_record("binary_patterns_50", "plastic", seed, 0.0, curve(0.3, 0.0, 450),
                                                    budget="overnight"))
    published = load_published(spec)
    section = build_sections(load_dirs([str(tmp_path / "runs")]).records, published)[0]
    summary = summarise(section, published[section.task])
    judge_all(summary)
    conv = summary.claims[0]
    assert conv.verdict == "sensitive" and conv.why.startswith("to window:")
    assert "window 20 → reproduced, 100 → contradicted" in conv.sensitivity
    assert "not more runs" in conv.decide
    text = report.generate([str(tmp_path / "runs")], tmp_path / "out", spec)
    assert "sensitive to window" in text


def test_claims_left_for_the_paper_budget():
    """scripts/paper_compute.py lists exactly the claims a budget cannot decide; at overnight, only those whose
    horizon needs the papers' episode counts (README, "Budgets")."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("paper_compute", HERE.parent / "scripts" / "paper_compute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    overnight = {(task, claim["id"]) for task, claim in module.claims_beyond("overnight")}
    assert overnight == {("binary_patterns_50", "rnn_plateau"), ("binary_patterns_50", "speedup_vs_lstm"),
                         ("image_memory", "plastic_value"), ("image_memory", "shared_value"),
                         ("omniglot", "icml"), ("omniglot", "v1"),
                         ("maze", "plastic_value"), ("maze", "rnn_value"), ("maze", "plastic_beats_rnn")}
    quick = {(task, claim["id"]) for task, claim in module.claims_beyond("quick")}
    assert overnight < quick and ("binary_patterns", "plastic_converges") in quick
    assert ("image_memory", "free_beats_shared") in quick and not module.claims_beyond("paper")


def test_the_deviations_register_loads_and_names_a_bad_entry(tmp_path):
    from benchmarks.report import deviations

    published = load_published(PUBLISHED)
    register = deviations.load_deviations(published=published)
    assert {"omniglot_eta_start", "maze_learning_rate", "binary_convergence_smoothing"} <= {d["id"] for d in register}
    assert [d["id"] for d in deviations.touching(register, "omniglot", "v1", "overnight")] == [
        "omniglot_eta_start", "omniglot_init", "omniglot_resize", "omniglot_batch_and_horizon",
        "omniglot_evaluation_fixes"]
    # the paper's protocols (paper, pilot) start eta at the paper's 0.01: that deviation does not touch them; the
    # pilot's 3 seeds do
    assert [d["id"] for d in deviations.touching(register, "omniglot", "v1", "paper")] == [
        "omniglot_init", "omniglot_resize", "omniglot_evaluation_fixes"]
    assert [d["id"] for d in deviations.touching(register, "omniglot", "v1", "pilot")] == [
        "omniglot_init", "omniglot_resize", "omniglot_evaluation_fixes", "pilot_seeds"]
    # the resize check runs the authors' resize: that deviation does not touch it
    assert [d["id"] for d in deviations.touching(register, "omniglot_bilinear", "v1", "pilot")] == [
        "omniglot_init", "omniglot_evaluation_fixes", "pilot_seeds"]
    bad = tmp_path / "deviations.yaml"
    entry = {k: "x" for k in deviations.FIELDS} | {"tasks": ["omniglot"], "budgets": "any"}
    for change, message in (({"budgets": ["nightly"]}, r"\(x\)\.budgets names unknown budget"),
                            ({"tasks": ["nope"]}, r"\(x\)\.tasks names \['nope'\]"),
                            ({"claims": ["nope"]}, r"\(x\)\.claims names \['nope'\]")):
        bad.write_text(yaml.safe_dump([entry | change]))
        with pytest.raises(ValueError, match=message):
            deviations.load_deviations(bad, published)
    bad.write_text(yaml.safe_dump([{k: v for k, v in entry.items() if k != "effect"}]))
    with pytest.raises(ValueError, match=r"\[0\] \(x\) lacks \['effect'\]"):
        deviations.load_deviations(bad, published)


@pytest.mark.parametrize("claim, message", [
    ("{id: v, rule: equivalence, model: m, value: 1, margin: 0.1, margin_reason: r, estimate: mode}", "estimate='mode'"),
    ("{id: v, rule: equivalence, model: m, value: 1, margin: -1, margin_reason: r, estimate: mean}", "margin=-1"),
    ("{id: v, rule: equivalence, model: m, value: 1, margin: 1, estimate: mean}", "lacks \\['margin_reason'\\]"),
    ("{id: v, rule: converges_within, model: m, episodes: 300, episodes_range: [200, 250]}", "must be a list holding"),
])
def test_bad_value_and_convergence_claims_name_the_key(tmp_path, claim, message):
    spec = tmp_path / "published.yaml"
    spec.write_text(f"t:\n  metric: m\n  lower_is_better: true\n  claims:\n    - {claim[:-1]}, text: t, "
                    "pm_meaning: q, budgets: any}\n")
    with pytest.raises(ValueError, match=message):
        load_published(spec)
