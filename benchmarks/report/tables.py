"""The report's tables as plain (headers, rows) and their Markdown, LaTeX (booktabs) and CSV renderings."""
from __future__ import annotations

import csv
import io
import math
from typing import Any

Table = tuple[list[str], list[list[str]]]

CI_T = "95% t CI across seeds"
CI_BOOT = "95% bootstrap CI across seeds (BCa; † = percentile, BCa undefined)"
CI_WILSON = "pooled Wilson 95% CI over all test episodes of all seeds (k/n)"


def fmt(x: Any, nan: str = "n/a", digits: int = 4) -> str:
    if isinstance(x, bool) or x is None:
        return nan if x is None else str(x)
    if isinstance(x, int):
        return str(x)
    return nan if math.isnan(x) else f"{x:.{digits}g}"


def fmt_interval(ci: Any, unit: str = "") -> str:
    if math.isnan(ci.low) and math.isnan(ci.high):
        return f"undefined ({ci.note})" if ci.note else "undefined"
    clipped = " (clipped to range)" if ci.method.endswith("clipped") else ""
    return f"[{fmt(ci.low, '?')}, {fmt(ci.high, 'not reached')}]{clipped}"


def _values(values: list[int]) -> str:
    return "/".join(str(v) for v in values)


def main_table(summary: Any) -> Table:
    """One row per model: the final held-out metric with every interval named in its header."""
    metric = summary.section.metric
    wilson = any(row.wilson for row in summary.rows)
    excluded: dict[str, int] = {}
    for model, *_ in summary.section.excluded:
        excluded[model] = excluded.get(model, 0) + 1
    headers = ["Model", "Seeds", f"{metric} (mean)", CI_T, CI_BOOT, *([CI_WILSON] if wilson else []),
               "Parameters", "Episodes", "Wall time per run (s)"]
    rows = []
    for row in summary.rows:
        boot = fmt_interval(row.boot_ci) + ("†" if row.boot_ci.method == "percentile" else "")
        extra = excluded.pop(row.cell.model, 0) if row.cell.label == row.cell.model else 0
        seeds = f"{len(row.values)}" + (f" (+{extra} excluded)" if extra else "")
        pooled = [f"{fmt_interval(row.wilson[2])} ({row.wilson[0]}/{row.wilson[1]})" if row.wilson else "n/a"]
        rows.append([row.cell.label, seeds, fmt(row.mean), fmt_interval(row.t_ci), boot, *(pooled if wilson else []),
                     _values(row.n_params), _values(row.episodes), fmt(row.wall_time_s, digits=3)])
    shown = {row.cell.model for row in summary.rows}
    for model, count in sorted(excluded.items()):
        if model not in shown:  # every run of this model was excluded: still a row, so it cannot go unnoticed
            rows.append([model, f"0 (+{count} excluded)", *["n/a"] * (len(headers) - 2)])
    return headers, rows


def verdict_text(c: Any) -> str:
    """A claim's verdict with its reason and, when its seeds cannot decide, what they lean towards."""
    text = c.verdict + (f" ({c.why})" if c.why else "")
    return text + (f"; indication only: {c.indication}" if c.indication else "")


def test_text(c: Any) -> str:
    """The primary test with its one-sided p in the claimed direction (opposite direction when contradicted) and the
    smallest p the seeds can reach."""
    if not c.test:
        return "n/a"
    if math.isnan(c.p):
        return c.test
    p = c.p_opposite if c.verdict == "contradicted" else c.p
    side = "opposite direction" if c.verdict == "contradicted" else "claimed direction"
    return f"{c.test}: p = {fmt(p)} ({side}; smallest attainable {fmt(c.p_floor)})"


def family_text(c: Any, alpha: float = 0.05) -> str:
    if math.isnan(c.holm):
        return "n/a"
    if c.verdict in ("reproduced", "contradicted"):
        keeps = lambda q: "survives" if q <= alpha else "does not survive"  # noqa: E731
        return f"Holm {fmt(c.holm)} ({keeps(c.holm)}); BH {fmt(c.bh)} ({keeps(c.bh)})"
    return f"Holm {fmt(c.holm)}; BH {fmt(c.bh)}"


def claims_table(summary: Any) -> Table:
    headers = ["Claim", "Published (± meaning; margin)", "Ours", "Verdict", "Primary test", "Across the budget's "
               "tests (adjusted p)", "Beside", "What would decide it", "Rule"]
    rows = [[c.claim["id"], c.published, c.ours or "n/a", verdict_text(c), test_text(c), family_text(c),
             c.beside or "", c.decide or "", c.rule] for c in summary.claims]
    return headers, rows


def convergence_table(summary: Any) -> Table:
    ref = summary.reference.cell.label if summary.reference else "reference"
    headers = ["Model", "Converged", "KM median episode", "95% CI of the median (KM log-log)",
               f"Log-rank p vs {ref}", f"{ref} faster by (ratio of medians)"]
    rows = []
    for row in summary.rows:
        km = row.survival
        if km is None:
            continue
        ratio, kind = row.ratio
        faster = {"exact": f"{fmt(ratio)}x", "lower bound": f"≥ {fmt(ratio)}x (median not reached)",
                  "undefined": "undefined (a median is not reached)"}[kind]
        if row is summary.reference:
            faster = "reference"
        rows.append([row.cell.label, f"{km.converged}/{km.n}", fmt(km.median, "not reached"),
                     fmt_interval(km.median_ci), "reference" if row is summary.reference else fmt(row.logrank_p),
                     faster])
    return headers, rows


def pairwise_table(summary: Any) -> Table:
    headers = ["A", "B", "Mann-Whitney U p (two-sided)", "P(A better than B) + ties/2"]
    return headers, [[p.a, p.b, fmt(p.p_two_sided), fmt(p.p_improvement)] for p in summary.pairs]


def one_line(text: Any) -> str:
    """Text from a record (a path, a label, a value) as one printable line: a newline or other control character
    is shown escaped (\\n), so it cannot start a heading or a table row in a rendered file."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in str(text))


def to_markdown(table: Table) -> str:
    headers, rows = table
    clean = [[one_line(cell).replace("|", "\\|") for cell in row] for row in [headers, *rows]]
    lines = ["| " + " | ".join(clean[0]) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in clean[1:]]
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "≤": r"$\le$", "≥": r"$\ge$",
        "†": r"$^\dagger$", "×": r"$\times$", "<": r"$<$", ">": r"$>$", "√": r"$\surd$", "·": r"$\cdot$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in one_line(text))


def to_latex(table: Table, caption: str, wrap: bool = False) -> str:
    """A booktabs table scaled to the text width (needs booktabs and graphicx); ``wrap`` gives every column a
    fixed width (for long claim texts), otherwise headers wrap in fixed-width cells and numbers align right."""
    headers, rows = table
    spec = "".join("p{3.2cm}" if wrap else ("l" if i == 0 else "r") for i in range(len(headers)))
    head = [tex_escape(h) if wrap else rf"\multicolumn{{1}}{{p{{2.4cm}}}}{{{tex_escape(h)}}}" for h in headers]
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", rf"\caption{{{tex_escape(caption)}}}",
             r"\resizebox{\textwidth}{!}{%", rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(head) + r" \\",
             r"\midrule"]
    lines += [" & ".join(tex_escape(cell) for cell in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["task", "budget", "model", "config_hash", "metric", "lower_is_better", "n_seeds", "seeds", "mean",
              "t_low", "t_high", "t_method", "boot_low", "boot_high", "boot_method", "median", "wilson_k", "wilson_n",
              "wilson_low", "wilson_high", "n_params", "episodes", "wall_time_s", "converged", "n_convergence",
              "km_median", "km_median_low", "km_median_high", "logrank_p", "median_ratio", "median_ratio_kind"]


def to_csv(summaries: list[Any]) -> str:
    """Every row of every budget of one task, numbers at full precision (repr)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for s in summaries:
        for r in s.rows:
            km = r.survival
            wk, wn, wci = r.wilson if r.wilson else ("", "", None)
            writer.writerow([s.section.task, s.section.budget, r.cell.model, r.cell.config_hash, s.section.metric,
                             s.section.lower_is_better, len(r.values), " ".join(map(str, r.seeds)), repr(r.mean),
                             repr(r.t_ci.low), repr(r.t_ci.high), r.t_ci.method, repr(r.boot_ci.low), repr(r.boot_ci.high),
                             r.boot_ci.method, repr(r.median), wk, wn, repr(wci.low) if wci else "",
                             repr(wci.high) if wci else "", _values(r.n_params), _values(r.episodes),
                             repr(r.wall_time_s), km.converged if km else "", km.n if km else "",
                             repr(km.median) if km else "", repr(km.median_ci.low) if km else "",
                             repr(km.median_ci.high) if km else "", repr(r.logrank_p), repr(r.ratio[0]),
                             r.ratio[1]])
    return out.getvalue()
