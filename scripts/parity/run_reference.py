"""Run one of the authors' scripts (uber-research/differentiable-plasticity) on the CPU with per-episode logging,
from a checkout outside this repository; their files on disk are not changed and none of them is stored here.

    python scripts/parity/run_reference.py full --source CHECKOUT/simple --log runs/b1000_s0.csv -- --nbiter 500 --rngseed 0
    python scripts/parity/run_reference.py maze --source CHECKOUT/maze --log runs/maze_s0.csv -- --type plastic ...

Edits, applied to the source text in memory before it runs (each also listed in the reference's ``edits``):
 1. CPU: ``ttype`` is ``torch.FloatTensor`` instead of ``torch.cuda.FloatTensor``; every ``.cuda()`` call is
    dropped (maze.py);
 2. after each episode's score is computed, ``episode,<score>,seconds`` is appended to ``--log``: for ``full`` the
    script's ``lossnum`` (the fraction of bits of the wrong sign at the last step), for ``maze`` its ``sumreward``
    (the episode's total reward, before the optional squashing, which the paper flags leave off);
 3. torch >= 0.4 refuses maze.py's in-place ``loss -= logprobs[t] * advantage`` (a 0-d tensor made 1-d in
    place); it is written ``loss = loss - ...``, the same value (the torch of 2018 broadcast it silently);
 4. at exit, the process's peak RSS (``ru_maxrss``) and its total seconds go to ``<log>.meta``.
Nothing else changes: the networks, the episode generators, the optimizers and the seeding are the scripts' own.
Use one thread (``OMP_NUM_THREADS=1``), as this harness's runs do, so that the speed ratio compares like with like.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

LOG = "_LOG.write('%d,%r,%r\\n' % (numiter + 1, float({score}), time.time() - _T0)); _LOG.flush(); _T0 = time.time()"
OPEN = "_LOG = open(_LOG_PATH, 'w'); _LOG.write('episode,{column},seconds\\n'); _T0 = time.time()"
RECIPES = {  # script -> (file, column, [(anchor, replacement, count)]); count None: every occurrence
    "full": ("full.py", "error", [
        ("ttype = torch.cuda.FloatTensor;", "ttype = torch.FloatTensor;", 1),
        ("    total_loss  += lossnum\n", "    total_loss  += lossnum\n    " + LOG.format(score="lossnum") + "\n", 1),
        ("for numiter in range(params['nbiter']):",
         OPEN.format(column="error") + "\nfor numiter in range(params['nbiter']):", 1)]),
    "maze": ("maze.py", "reward", [
        ("ttype = torch.cuda.FloatTensor;", "ttype = torch.FloatTensor;", 1),
        (".cuda()", "", None),
        ("            loss -= logprobs[numstepb] * (R - vs[numstepb].data[0][0])",
         "            loss = loss - logprobs[numstepb] * (R - vs[numstepb].data[0][0])", 1),
        ("        lossnum = loss.data[0]\n",
         "        lossnum = loss.data[0]\n        " + LOG.format(score="sumreward") + "\n", 1),
        ("    for numiter in range(params['nbiter']):",
         "    global _T0\n    " + OPEN.format(column="reward") + "\n    for numiter in range(params['nbiter']):", 1)]),
}


def edited(recipe: str, folder: Path) -> str:
    name, _, edits = RECIPES[recipe]
    source = (folder / name).read_text()
    for anchor, replacement, count in edits:
        if anchor not in source:
            raise SystemExit(f"{folder / name}: '{anchor.strip()}' not found: another version of the script?")
        source = source.replace(anchor, replacement, -1 if count is None else count)
    return source


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--source", type=Path, required=True, help="the checkout's folder holding the script")
    parser.add_argument("--log", type=Path, required=True, help="per-episode CSV to write")
    args = parser.parse_args(argv[:split])
    source = edited(args.recipe, args.source)
    sys.path.insert(0, str(args.source))
    sys.argv = [RECIPES[args.recipe][0], *argv[split + 1:]]
    start = time.time()
    exec(compile(source, RECIPES[args.recipe][0], "exec"), {"__name__": "__main__", "_LOG_PATH": str(args.log)})
    args.log.with_name(args.log.name + ".meta").write_text(
        f"peak_rss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\nseconds={time.time() - start:.1f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
