"""The folders the report reads and writes: the record folders it is given (checked before anything is
written), its default --out, the README's results block (between the markers) and the manifest of generated
files, so a re-run removes what it no longer generates and nothing else."""
from __future__ import annotations

from pathlib import Path

from benchmarks.harness.atomic import atomic_write_text
from benchmarks.harness.config import CONF
from benchmarks.harness.errors import UserError

DEFAULT_RUNS, DEFAULT_OUT = "results/runs", "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
MANIFEST = ".report-manifest"  # the files the last report wrote under its --out folder, one relative path a line


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def contained(out: Path, path: Path) -> Path:
    """``path``, if it resolves (links followed) inside ``out``; UserError otherwise: a name from a record or a link
    in a shared folder never makes the report write or delete outside the folder it was given."""
    if not path.resolve().is_relative_to(out.resolve()):
        raise UserError(f"refusing to write {path}: it resolves outside --out {out} (a link, or a name from a record "
                        "or manifest); remove the link or give another --out")
    return path


def update_readme(readme: Path, text: str) -> None:
    """Replace the block between the results markers (asked for with --update-readme, so a README that cannot
    take it is an error)."""
    if not readme.is_file():
        raise UserError(f"--readme {readme} is not a file; give the README whose results block to update")
    content = readme.read_text()
    if START not in content or END not in content or content.index(START) > content.index(END):
        raise UserError(f"{readme} lacks the markers {START} ... {END}; add them around the results block")
    head, rest = content.split(START, 1)
    updated = f"{head}{START}\n{text}{END}{rest.split(END, 1)[1]}"
    if updated != content:
        atomic_write_text(readme, updated)


def remove_stale(out: Path, written: set[Path]) -> None:
    """Remove the files the previous report generated (its manifest) that this one did not write again, then
    record this report's files. Files the report never generated (hand-made, committed) are never touched."""
    manifest = out / MANIFEST
    keep = sorted({relative(p, out) for p in written} | {"REPORT.md"})
    if manifest.is_file():
        for line in sorted(set(manifest.read_text().splitlines()) - set(keep)):
            path = out / line
            if line and not Path(line).is_absolute() and ".." not in Path(line).parts and path.is_file() \
                    and path.resolve().is_relative_to(out.resolve()):
                path.unlink()
    atomic_write_text(manifest, "".join(f"{line}\n" for line in keep))


def check_readme_source(dirs: list[str], readme: str) -> None:
    """The repository's README shows the published results only: its results block is written from
    ``results/runs`` alone (another README file may be written from any records)."""
    if Path(readme).resolve() == Path("README.md").resolve() and \
            [Path(d).resolve() for d in dirs] != [Path(DEFAULT_RUNS).resolve()]:
        raise UserError(f"--update-readme writes README.md's results block from the published records "
                        f"({DEFAULT_RUNS}) only, not from {', '.join(dirs)}; drop --update-readme, or give "
                        "--readme OTHER.md")


def default_out(dirs: list[str]) -> Path:
    """results/ for the default records folder (the committed layout), else a report/ folder inside the first
    records folder: a report never lands beside records it was not made from."""
    if [Path(d).resolve() for d in dirs] == [Path(DEFAULT_RUNS).resolve()]:
        return Path(DEFAULT_OUT)
    return Path(dirs[0]) / "report"


def check_record_dirs(dirs: list[str]) -> None:
    """Every folder given must exist and hold at least one record file: a typo must not yield an empty report."""
    for folder in dirs:
        path = Path(folder)
        if not path.is_dir():
            why = "is a file" if path.is_file() else "is a symbolic link that leads nowhere (or round a loop)" \
                if path.is_symlink() else "does not exist"
            raise UserError(f"records folder {folder} {why}; give the folder holding the run records "
                            f"(the out_dir of benchmarks.run / --out-dir of benchmarks.reproduce)")
        if next(iter(path.rglob("*.json")), None) is None:
            raise UserError(f"records folder {folder} holds no run records (*.json): nothing to report; give the "
                            f"folder where the runs wrote their records")


def check_experiment(experiment: str) -> None:
    known = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
    if experiment and experiment not in known:
        raise UserError(f"--experiment {experiment!r} is unknown; known: {known} ('' for none)")
