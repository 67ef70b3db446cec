"""Turn per-episode logs of the authors' code into a parity reference (benchmarks/report/parity/<setting>.csv and
the ``seeds`` of <setting>.yaml); the YAML's provenance is written by hand before, this fills in the numbers.

    python scripts/parity/ingest.py benchmarks/report/parity/binary_patterns_1000.yaml LOG_SEED0.csv LOG_SEED1.csv ...

Each log is ``episode,<metric>,seconds`` (one row per training episode, or per update for a setting with
``batch_size`` > 1, as scripts/parity/run_reference.py writes it: the metric is the second column, whatever its
name) with ``<log>.meta`` beside it (``peak_rss_kib=...``); the seed is read from the file name (``..._s<K>.csv``).
Seconds per episode: the mean over the run (training seconds / episodes, as our records state it; an update's
seconds divided by the setting's ``batch_size``). Values are rounded to 6 significant digits."""
from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from pathlib import Path

import yaml


def read_log(path: Path) -> tuple[list[float], float, float | None]:
    with path.open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        names = reader.fieldnames or []
    if len(names) != 3 or names[0] != "episode" or names[2] != "seconds":
        raise SystemExit(f"{path}: expected the columns episode,<metric>,seconds, found {names}")
    episodes = [int(r["episode"]) for r in rows]
    if episodes != list(range(1, len(rows) + 1)):
        raise SystemExit(f"{path}: episodes are not 1..N (an unfinished run?)")
    seconds = statistics.fmean(float(r["seconds"]) for r in rows)  # as ours: training seconds / episodes
    meta = path.with_name(path.name + ".meta")
    peak = None
    if meta.is_file():
        found = re.search(r"peak_rss_kib=(\d+)", meta.read_text())
        peak = int(found.group(1)) / 1024 if found else None
    return [float(r[names[1]]) for r in rows], seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting", type=Path, help="the setting's YAML (provenance written, seeds filled in here)")
    parser.add_argument("logs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.setting.read_text())
    batch = int(spec.get("batch_size", 1))
    seeds, rows = {}, []
    for log in args.logs:
        found = re.search(r"_s(\d+)\.csv$", log.name)
        if not found:
            raise SystemExit(f"{log}: the file name must end in _s<seed>.csv")
        seed = int(found.group(1))
        values, seconds, peak = read_log(log)
        seeds[seed] = {"episodes": len(values) * batch, "seconds_per_episode": float(f"{seconds / batch:.4g}"),
                       **({"peak_rss_mb": round(peak, 1)} if peak else {})}
        rows += [(seed, i + 1, float(f"{v:.6g}")) for i, v in enumerate(values)]
    spec["seeds"] = dict(sorted(seeds.items()))
    with args.setting.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "episode", "value"])
        writer.writerows(sorted(rows))
    args.setting.write_text(yaml.safe_dump(spec, sort_keys=False, width=116, allow_unicode=True))
    print(f"{args.setting}: {len(seeds)} seeds, {len(rows)} episodes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
