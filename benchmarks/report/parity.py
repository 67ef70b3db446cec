"""Parity with the authors' code: their learning curves, measured by running their code, beside ours.

A reference setting is two files in ``benchmarks/report/parity/``: ``<setting>.yaml`` (what was run, with
provenance: repository, commit, file, flags, every edit in words, machine, date; the harness cell that matches it;
the checkpoints, the smoothing window, the margin and its reason; per seed the seconds per episode and the peak
memory) and ``<setting>.csv`` (``seed,episode,value``: the metric of every training episode of every seed). Only
numbers are stored, never the authors' code. A setting trained on batches (``batch_size`` > 1, e.g. Duan's 64
episodes per update) counts updates instead: its CSV's ``episode`` is the update's number, its value the batch's
metric, and its window and checkpoints are in updates; seconds per episode stay per episode on both sides.

Ours come from run records of the matching cell (``harness``: task, model, budget), whose training curves must
hold every episode (the parity experiment sets ``curve_points`` to the horizon). Both sides go through the same
code: ``value_at`` (the mean over the ``window`` episodes ending at a checkpoint) and ``stats.convergence_episode``
(the first episode whose trailing ``window`` mean crosses the criterion).

The test, per checkpoint: the exact two-sided Mann-Whitney test of equal distributions (ours vs theirs, seeds as
units), and the Hodges-Lehmann shift (median of all ours - theirs differences) with its exact 90% confidence
interval (order statistics of those differences at the Mann-Whitney critical value): within ± margin at every
checkpoint = **matches** (two one-sided tests at 5% each); entirely beyond the margin at a checkpoint, or a
Holm-adjusted Mann-Whitney p <= 0.05 with the shift beyond the margin = **differs** (at those checkpoints, by how
much); anything else = **inconclusive** (the seeds cannot tell a difference of the margin's size apart).
"""
from __future__ import annotations

import csv
import functools
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.harness.records import SAFE_NAME, RunRecord
from benchmarks.report import exact, stats
from benchmarks.report.tables import fmt, one_line

PARITY = Path(__file__).resolve().parent / "parity"
ALPHA = 0.05  # each one-sided test of the equivalence (a 90% interval)
SETTING_KEYS = {"setting", "title", "harness", "metric", "lower_is_better", "window", "checkpoints", "margin",
                "margin_reason", "criterion", "reference", "seeds", "notes", "unavailable", "batch_size"}
REFERENCE_KEYS = {"repository", "commit", "file", "flags", "edits", "machine", "date", "torch", "python"}


@dataclass
class Setting:
    name: str
    title: str
    harness: dict[str, str]  # task, model, budget of the matching cell
    metric: str  # key of our records' training curves
    lower_is_better: bool
    window: int  # episodes averaged at a checkpoint and in the criterion's trailing mean
    checkpoints: list[int]
    margin: float
    margin_reason: str
    criterion: dict[str, Any]  # {threshold, margin, margin_reason}: first episode whose trailing mean crosses it
    reference: dict[str, Any]  # provenance
    seeds: dict[int, dict[str, float]]  # per reference seed: seconds_per_episode, peak_rss_mb
    curves: dict[int, np.ndarray]  # per reference seed: the metric of episodes 1..N
    notes: str = ""
    unavailable: str = ""  # why the authors' code was not (yet) run at this setting; no curves then
    batch_size: int = 1  # episodes per update: above 1 the curves, window and checkpoints count updates

    @property
    def unit(self) -> str:
        """What one point of the curves is: a training episode, or an update of ``batch_size`` episodes."""
        return "episode" if self.batch_size == 1 else "update"


@dataclass
class Checkpoint:
    episode: int
    theirs: list[float]
    ours: list[float]
    shift: float  # Hodges-Lehmann: median of ours - theirs
    low: float  # its exact 90% interval
    high: float
    p: float  # two-sided exact Mann-Whitney
    p_holm: float = math.nan
    outcome: str = ""  # "within" | "beyond" | "undecided"


@dataclass
class Result:
    setting: Setting
    ours: dict[int, np.ndarray]  # per seed of our records: the metric of episodes 1..N
    checkpoints: list[Checkpoint] = field(default_factory=list)
    crossing: Checkpoint | None = None  # first episode meeting the criterion, as a checkpoint of episodes
    verdict: str = "not run"  # matches | differs | inconclusive | not run
    detail: str = ""
    speed_ratio: float = math.nan  # our seconds per episode / theirs (medians over seeds)
    memory_ratio: float = math.nan  # our peak process memory / theirs (medians over seeds)


def _check(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise ValueError(f"{path}: {message}")


def load_setting(path: Path) -> Setting:
    """One reference setting (``path`` the YAML; its CSV beside it), checked: every key known, the curves
    complete (every seed has episodes 1..N without a gap, N >= the last checkpoint)."""
    raw = yaml.safe_load(path.read_text()) or {}
    _check(isinstance(raw, dict), path, "is not a mapping")
    unknown = set(raw) - SETTING_KEYS
    _check(not unknown, path, f"unknown keys {sorted(unknown)}; known: {sorted(SETTING_KEYS)}")
    missing = {"setting", "title", "harness", "metric", "window", "checkpoints", "margin", "margin_reason",
               "reference", "seeds"} - set(raw)
    _check(not missing, path, f"lacks {sorted(missing)}")
    _check(set(raw["reference"]) <= REFERENCE_KEYS and {"repository", "commit", "file", "flags", "edits"}
           <= set(raw["reference"]), path, f"reference must give repository, commit, file, flags and edits "
                                           f"(known: {sorted(REFERENCE_KEYS)})")
    _check(set(raw["harness"]) == {"task", "model", "budget"}, path, "harness must give task, model and budget")
    _check(isinstance(raw.get("batch_size", 1), int) and raw.get("batch_size", 1) >= 1, path,
           f"batch_size={raw.get('batch_size')!r} must be an integer >= 1 (episodes per update)")
    _check(SAFE_NAME.fullmatch(str(raw["setting"])) is not None and raw["setting"] == path.stem, path,
           f"setting={raw['setting']!r} must be the file's name ({path.stem}), a plain name")
    if raw.get("unavailable"):
        _check(not raw["seeds"] and not path.with_suffix(".csv").exists(), path,
               "a setting marked unavailable has no seeds and no curves")
        return _setting(raw, {})
    curves: dict[int, list[tuple[int, float]]] = {}
    csv_path = path.with_suffix(".csv")
    _check(csv_path.is_file(), path, f"its curves {csv_path.name} are missing")
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    _check(bool(rows) and set(rows[0]) == {"seed", "episode", "value"}, csv_path, "needs the columns seed,episode,value")
    for row in rows:
        curves.setdefault(int(row["seed"]), []).append((int(row["episode"]), float(row["value"])))
    arrays = {}
    for seed, points in sorted(curves.items()):
        points.sort()
        episodes = [e for e, _ in points]
        _check(episodes == list(range(1, len(episodes) + 1)), csv_path, f"seed {seed}: episodes are not 1..N")
        arrays[seed] = np.array([v for _, v in points])
    horizon = min(a.size for a in arrays.values())
    _check(max(raw["checkpoints"]) <= horizon, path, f"checkpoint {max(raw['checkpoints'])} beyond the curves' "
                                                     f"{horizon} episodes")
    _check(set(arrays) == {int(s) for s in raw["seeds"]}, path, "the seeds of the YAML and of the CSV differ")
    return _setting(raw, arrays)


def _setting(raw: dict[str, Any], curves: dict[int, np.ndarray]) -> Setting:
    """The checked YAML ``raw`` and its curves ({} for a setting marked unavailable) as a ``Setting``."""
    return Setting(raw["setting"], raw["title"], dict(raw["harness"]), raw["metric"],
                   bool(raw.get("lower_is_better", True)), int(raw["window"]), [int(c) for c in raw["checkpoints"]],
                   float(raw["margin"]), str(raw["margin_reason"]), dict(raw.get("criterion") or {}),
                   dict(raw["reference"]), {int(k): dict(v) for k, v in (raw["seeds"] or {}).items()}, curves,
                   str(raw.get("notes", "")), str(raw.get("unavailable") or ""), int(raw.get("batch_size", 1)))


def load_settings(folder: Path = PARITY) -> list[Setting]:
    return [load_setting(p) for p in sorted(Path(folder).glob("*.yaml"))]


def value_at(curve: np.ndarray, episode: int, window: int) -> float:
    """Mean of the metric over the ``window`` episodes ending at ``episode`` (1-based, inclusive)."""
    return float(np.mean(curve[max(0, episode - window):episode]))


def first_crossing(curve: np.ndarray, window: int, threshold: float, below: bool) -> tuple[float, bool]:
    """The first episode whose trailing ``window`` mean is past ``threshold``; (horizon, False) if none."""
    episodes = np.arange(1, curve.size + 1)
    return stats.convergence_episode(episodes, curve, window, threshold, below, curve.size)


@functools.lru_cache(maxsize=None)
def _u_null(n: int, m: int) -> tuple[float, ...]:
    """P(U = u), u = 0..n*m, of the Mann-Whitney U of samples of n and m without ties (every arrangement equally
    likely): counts c(n, m, u) = c(n - 1, m, u - m) + c(n, m - 1, u)."""
    table = {(0, j): np.array([1.0]) for j in range(m + 1)}
    for i in range(1, n + 1):
        table[(i, 0)] = np.array([1.0])
        for j in range(1, m + 1):
            counts = np.zeros(i * j + 1)
            left, down = table[(i - 1, j)], table[(i, j - 1)]
            counts[j:j + left.size] += left
            counts[:down.size] += down
            table[(i, j)] = counts
    counts = table[(n, m)]
    return tuple(counts / counts.sum())


def shift_interval(ours: list[float], theirs: list[float], level: float = 1 - 2 * ALPHA) -> tuple[float, float, float]:
    """(Hodges-Lehmann shift, low, high): the median of every ours - theirs difference and the exact ``level``
    interval [d_(k), d_(nm + 1 - k)], k the largest with P(U < k) <= (1 - level) / 2 (Lehmann 1975). The interval
    is (-inf, inf) when the seeds are too few for any k."""
    # rounded to 12 decimals: windowed means of the same values differ by float noise (1e-10), not by a shift
    diffs = np.sort(np.round(np.subtract.outer(np.asarray(ours, float), np.asarray(theirs, float)).ravel(), 12))
    null = np.cumsum(_u_null(len(ours), len(theirs)))
    k = int(np.searchsorted(null, (1 - level) / 2, side="right"))  # P(U <= k - 1) <= tail
    shift = float(np.median(diffs))
    if k < 1:
        return shift, -math.inf, math.inf
    return shift, float(diffs[k - 1]), float(diffs[diffs.size - k])


def _compare(episode: int, theirs: list[float], ours: list[float], margin: float) -> Checkpoint:
    shift, low, high = shift_interval(ours, theirs)
    point = Checkpoint(episode, theirs, ours, shift, low, high, exact.mann_whitney(ours, theirs, "two-sided"))
    point.outcome = "within" if -margin <= low and high <= margin else \
        "beyond" if low > margin or high < -margin else "undecided"
    return point


def our_curves(setting: Setting, records: list[RunRecord]) -> tuple[dict[int, np.ndarray], dict[int, RunRecord]]:
    """Per seed, the metric of every training update of our records of the setting's cell (status ok): at batch 1
    every episode; at the setting's ``batch_size`` b, the batch means at episodes b, 2b, ..., as our curves keep them."""
    h, b = setting.harness, setting.batch_size
    curves, chosen = {}, {}
    for r in records:
        if (r.task, r.model, r.budget, r.status) != (h["task"], h["model"], h["budget"], "ok"):
            continue
        episodes, values = r.curves.get("episode", []), r.curves.get(setting.metric)
        if (values is None or r.batch_size != b or r.episodes % b
                or list(episodes) != list(range(b, r.episodes + 1, b))):
            raise ValueError(f"record {r.task}/{r.model}/{r.budget} seed {r.seed}: parity needs the metric "
                             f"{setting.metric!r} of every update at batch {b} (curve_points >= updates; the parity "
                             "experiment sets it)")
        curves[r.seed], chosen[r.seed] = np.asarray(values, float), r
    return curves, chosen


def judge(setting: Setting, records: list[RunRecord]) -> Result:
    ours, chosen = our_curves(setting, records)
    result = Result(setting, ours)
    if setting.unavailable:
        result.detail = f"the authors' code was not run at this setting: {setting.unavailable}"
        return result
    if not ours:
        result.detail = (f"no records of {setting.harness['task']}/{setting.harness['model']} at budget "
                         f"{setting.harness['budget']} (run python -m benchmarks.reproduce --experiment parity)")
        return result
    horizon = min(c.size for c in ours.values())
    reachable = [c for c in setting.checkpoints if c <= horizon]
    for c in reachable:
        result.checkpoints.append(_compare(c, [value_at(v, c, setting.window) for v in setting.curves.values()],
                                           [value_at(v, c, setting.window) for v in ours.values()], setting.margin))
    for point, adjusted in zip(result.checkpoints, exact.holm([p.p for p in result.checkpoints])):
        point.p_holm = adjusted
    crit = setting.criterion
    if crit:
        below = setting.lower_is_better
        theirs = [first_crossing(v[:horizon], setting.window, crit["threshold"], below)[0]
                  for v in setting.curves.values()]
        mine = [first_crossing(v[:horizon], setting.window, crit["threshold"], below)[0] for v in ours.values()]
        result.crossing = _compare(horizon, theirs, mine, float(crit["margin"]))
    points = result.checkpoints + ([result.crossing] if result.crossing else [])
    beyond = [p for p in points if p.outcome == "beyond" or
              (p.p_holm <= ALPHA and abs(p.shift) > _margin_of(setting, p, result))]
    if beyond:
        result.verdict = "differs"
        result.detail = "; ".join(f"{_where(p, result)}: ours - theirs {fmt(p.shift)} [{fmt(p.low)}, {fmt(p.high)}]"
                                  for p in beyond)
    elif all(p.outcome == "within" for p in points) and len(reachable) == len(setting.checkpoints):
        result.verdict = "matches"
        result.detail = f"every checkpoint's 90% interval of ours - theirs inside ± {fmt(setting.margin)}"
    else:
        result.verdict = "inconclusive"
        undecided = [p for p in points if p.outcome != "within"]
        result.detail = ("not every checkpoint reached (our horizon " f"{horizon})" if not undecided else
                         "undecided at " + ", ".join(_where(p, result) for p in undecided)
                         + f": the seeds cannot tell a difference of the margin apart")
    theirs_speed = [s["seconds_per_episode"] for s in setting.seeds.values() if "seconds_per_episode" in s]
    ours_speed = [r.extra.get("seconds_per_episode", r.wall_time_s / r.episodes) for r in chosen.values()]
    if theirs_speed and ours_speed:
        result.speed_ratio = float(np.median(ours_speed) / np.median(theirs_speed))
    theirs_mem = [s["peak_rss_mb"] for s in setting.seeds.values() if "peak_rss_mb" in s]
    ours_mem = [r.extra.get("memory", {}).get("process_peak_rss_mb") for r in chosen.values()]
    ours_mem = [m for m in ours_mem if isinstance(m, (int, float))]
    if theirs_mem and ours_mem:
        result.memory_ratio = float(np.median(ours_mem) / np.median(theirs_mem))
    return result


def _margin_of(setting: Setting, point: Checkpoint, result: Result) -> float:
    return float(setting.criterion["margin"]) if point is result.crossing else setting.margin


def _where(point: Checkpoint, result: Result) -> str:
    return "first crossing" if point is result.crossing else f"{result.setting.unit} {point.episode}"


def _band(values: list[float]) -> str:
    a = np.asarray(values, float)
    return f"{fmt(float(np.median(a)))} [{fmt(float(a.min()))}, {fmt(float(a.max()))}] (n={a.size})"


def markdown(results: list[Result], figure_paths: dict[str, str]) -> str:
    """The report's section: per setting its provenance, the bands at each checkpoint, the test and the verdict."""
    if not results:
        return ""
    out = ["## Parity with the authors' code\n",
           "Their curves, measured by running their code (only numbers are stored, `benchmarks/report/parity/`), "
           "beside ours at the same settings (`python -m benchmarks.reproduce --experiment parity`). At each "
           "checkpoint: the mean of the metric over the window ending there, per seed; median [min, max] over seeds "
           "on each side; the Hodges-Lehmann shift ours - theirs with its exact 90% interval; the exact two-sided "
           "Mann-Whitney p (Holm over the checkpoints). **matches**: every interval inside ± the margin; "
           "**differs**: an interval beyond it, or a significant test with the shift beyond it; else "
           "**inconclusive**. Speed and memory: ours / theirs, medians over seeds.\n",
           "| setting | verdict | why | speed ours/theirs | peak memory ours/theirs |", "|---|---|---|---|---|"]
    for r in results:
        out.append(f"| {one_line(r.setting.title)} | **{r.verdict}** | {one_line(r.detail)} | "
                   f"{_ratio(r.speed_ratio)} | {_ratio(r.memory_ratio)} |")
    out.append("")
    for r in results:
        s, ref = r.setting, r.setting.reference
        out.append(f"### {one_line(s.title)}\n")
        out.append(f"Reference: `{one_line(ref['repository'])}` at `{one_line(str(ref['commit']))[:12]}`, "
                   f"`{one_line(ref['file'])} {one_line(str(ref['flags']))}`; edits: "
                   + "; ".join(one_line(e) for e in ref["edits"])
                   + (f"; run on {one_line(str(ref.get('machine', '?')))}, {one_line(str(ref.get('date', '?')))}"
                      if ref.get("machine") else "") + ".")
        out.append(f"Ours: task `{s.harness['task']}`, model `{s.harness['model']}`, budget `{s.harness['budget']}`. "
                   + (f"Batches of {s.batch_size} episodes: the curves, the window and the checkpoints count "
                      "updates, each point the batch's mean. " if s.batch_size > 1 else "")
                   + f"Metric: `{s.metric}`, window {s.window} {s.unit}s. Margin ± {fmt(s.margin)}: "
                   f"{one_line(s.margin_reason).rstrip('.')}." + (f" {one_line(s.notes)}" if s.notes else "") + "\n")
        if r.checkpoints:
            out.append("| checkpoint | theirs | ours | ours - theirs [90% CI] | Mann-Whitney p (Holm) | |")
            out.append("|---|---|---|---|---|---|")
            for p in r.checkpoints + ([r.crossing] if r.crossing else []):
                label = (f"first {s.unit} with the {s.window}-{s.unit} mean "
                         f"{'<' if s.lower_is_better else '>'} {fmt(s.criterion['threshold'])} (margin ± "
                         f"{fmt(float(s.criterion['margin']))})" if p is r.crossing else f"{s.unit} {p.episode}")
                out.append(f"| {label} | {_band(p.theirs)} | {_band(p.ours)} | {fmt(p.shift)} [{fmt(p.low)}, "
                           f"{fmt(p.high)}] | {fmt(p.p)} ({fmt(p.p_holm) if p is not r.crossing else 'n/a'}) | "
                           f"{p.outcome} |")
            out.append("")
        if s.name in figure_paths:
            out.append(f"![parity-{s.name}]({figure_paths[s.name]})\n")
        if r.verdict == "not run":
            out.append(f"{one_line(r.detail).rstrip('.')}.\n")
    return "\n".join(out)


def _ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def figure(result: Result, path: Path) -> Path:
    """Both sides' smoothed curves: median over seeds and the min-max band, theirs and ours."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.harness.atomic import atomic_savefig
    s = result.setting
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, curves, color in (("authors' code", s.curves, "black"), ("this harness", result.ours, "tab:blue")):
        if not curves:
            continue
        horizon = min(c.size for c in curves.values())
        xs = np.arange(s.window, horizon + 1, max(1, s.window // 2))
        ys = np.array([[value_at(c, x, s.window) for x in xs] for c in curves.values()])
        ax.plot(xs, np.median(ys, axis=0), color=color, label=f"{label} (median of {ys.shape[0]} seeds)")
        ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.2)
    for c in s.checkpoints:
        ax.axvline(c, color="grey", lw=0.5, ls=":")
    ax.set_xlabel(f"training {s.unit}" + (f" (batch of {s.batch_size})" if s.batch_size > 1 else ""))
    ax.set_ylabel(f"{s.metric} ({s.window}-{s.unit} mean)")
    ax.set_title(textwrap.fill(s.title, 70), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path)
    plt.close(fig)
    return path
