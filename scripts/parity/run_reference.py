"""Run one of the authors' scripts (uber-research/differentiable-plasticity, yuvenduan/PlasticRNNs) on the CPU with
per-episode (per-update) logging, from a checkout outside this repository; their files on disk are not changed and
none of them is stored here.

    python scripts/parity/run_reference.py full --source CHECKOUT/simple --log runs/b1000_s0.csv -- --nbiter 500 --rngseed 0
    python scripts/parity/run_reference.py maze --source CHECKOUT/maze --log runs/maze_s0.csv -- --type plastic ...
    python scripts/parity/run_reference.py omniglot --source CHECKOUT/omniglot --log runs/omni_s0.csv -- --rule oja ...
    python scripts/parity/run_reference.py duan --source PLASTICRNNS --log runs/cr_hebb_s0.csv -- \
        experiment=cuereward_demo where.plasticity_mode=hebbian where.rnn=RNN seed=0 max_batch=500

``duan`` builds the configurations of one of PlasticRNNs' experiments (``configs/experiments.py``), keeps the one
whose fields equal every ``where.KEY=VALUE``, sets every other ``KEY=VALUE`` on it (values read as Python literals),
and runs the repository's own ``train.model_train`` on it, with validation and the final test turned off by
configuration (``perform_val`` and ``perform_test`` False; they only evaluate, and would triple the run's time).

Edits, applied to the source text in memory before it runs (each also listed in the reference's ``edits``):
 1. CPU: ``ttype`` is ``torch.FloatTensor`` instead of ``torch.cuda.FloatTensor``; every ``.cuda()`` call is
    dropped (maze.py);
 2. after each episode's score is computed, ``episode,<score>,seconds`` is appended to ``--log``: for ``full`` the
    script's ``lossnum`` (the fraction of bits of the wrong sign at the last step), for ``maze`` its ``sumreward``
    (the episode's total reward, before the optional squashing, which the paper flags leave off), for ``images``
    its ``lossnum`` (the summed squared error of the completed image), for ``omniglot``
    whether the query's most probable class is its label (1 or 0; the script's every ``test_every``-th episode,
    drawn from the withheld classes and not trained on, is logged like the others);
 3. torch >= 0.4 refuses maze.py's in-place ``loss -= logprobs[t] * advantage`` (a 0-d tensor made 1-d in
    place); it is written ``loss = loss - ...``, the same value (the torch of 2018 broadcast it silently);
    omniglot.py's and images.py's ``loss.data[0]`` (indexing a 0-d tensor, refused since torch 0.5) is
    ``loss.item()``;
    ``omniglot_u8`` also reads the images as the script expects: today's scikit-image returns Omniglot's 1-bit PNGs
    as booleans, which the script's ``/ 255.0`` turns into 0 and 1/255 (it expects 0-255 integers); booleans are
    scaled to 0-255 first, so the pixels are 0 and 1 as intended;
 4. at exit, the process's peak RSS (``ru_maxrss``) and its total seconds go to ``<log>.meta``.
For ``duan`` (``train.py``): after each update its training loss (``loss.item()``, the batch's MSE) is appended to
``--log``; the reload of the best validated network after training is dropped (with validation off there is none,
and nothing after it is run); no GPU is made visible (``CUDA_VISIBLE_DEVICES`` empty). Edit 4 as above.
Nothing else changes: the networks, the episode generators, the optimizers and the seeding are the scripts' own.
Use one thread (``OMP_NUM_THREADS=1``), as this harness's runs do, so that the speed ratio compares like with like.
"""
from __future__ import annotations

import argparse
import ast
import os
import resource
import sys
import time
from pathlib import Path

LOG = "_LOG.write('%d,%r,%r\\n' % (numiter + 1, float({score}), time.time() - _T0)); _LOG.flush(); _T0 = time.time()"
OPEN = "_LOG = open(_LOG_PATH, 'w'); _LOG.write('episode,{column},seconds\\n'); _T0 = time.time()"
OMNIGLOT = [  # omniglot.py as released, on the CPU, with per-episode logging
    ("ttype = torch.cuda.FloatTensor;", "ttype = torch.FloatTensor;", 1),
    (".cuda()", "", None),
    ("        lossnum = loss.data[0]\n",
     "        lossnum = loss.item()\n        " + LOG.format(score="y.data[0].argmax() == target.argmax()") + "\n", 1),
    ("    for numiter in range(params['nbiter']):",
     "    " + OPEN.format(column="correct") + "\n    for numiter in range(params['nbiter']):", 1)]
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
    "images": ("images.py", "loss", [
        ("ttype = torch.cuda.FloatTensor;", "ttype = torch.FloatTensor;", 1),
        ("        lossnum = loss.data[0]\n",
         "        lossnum = loss.item()\n        " + LOG.format(score="lossnum") + "\n", 1),
        ("    for numiter in range(params['nbiter']):",
         "    " + OPEN.format(column="loss") + "\n    for numiter in range(params['nbiter']):", 1)]),
    "omniglot": ("omniglot.py", "correct", OMNIGLOT),
    "omniglot_u8": ("omniglot.py", "correct", OMNIGLOT + [  # omniglot, and the images read as the script expects
        ("filedata = skimage.io.imread(fn) / 255.0",
         "_image = skimage.io.imread(fn); filedata = (_image * 255.0 if _image.dtype == bool else _image) / 255.0", 1)]),
    "duan": ("train.py", "loss", [
        ("            train_loss += loss.item()\n",
         "            train_loss += loss.item()\n            "
         + LOG.format(score="loss.item()").replace("numiter", "i_b") + "\n", 1),
        ("    i_b = 0\n", "    " + OPEN.format(column="loss") + "\n    i_b = 0\n", 1),
        ("    net.load_state_dict(torch.load(osp.join(config.save_path, 'net_best.pth')))\n", "", 1)]),
}


def edited(recipe: str, folder: Path) -> str:
    name, _, edits = RECIPES[recipe]
    source = (folder / name).read_text()
    for anchor, replacement, count in edits:
        if anchor not in source:
            raise SystemExit(f"{folder / name}: '{anchor.strip()}' not found: another version of the script?")
        source = source.replace(anchor, replacement, -1 if count is None else count)
    return source


def literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_duan(source: Path, log: Path, pairs: list[str]) -> None:
    """PlasticRNNs: one configuration of one experiment, trained by the (edited) ``train.model_train``."""
    import types
    settings = dict(p.split("=", 1) for p in pairs if "=" in p)
    if len(settings) != len(pairs) or "experiment" not in settings:
        raise SystemExit("duan takes experiment=NAME, where.KEY=VALUE (select) and KEY=VALUE (set) pairs")
    os.chdir(source)
    sys.path.insert(0, str(source))
    module = types.ModuleType("train")
    module.__dict__.update(__file__=str(source / "train.py"), _LOG_PATH=str(log), time=time)
    exec(compile(edited("duan", source), "train.py", "exec"), module.__dict__)
    sys.modules["train"] = module
    import configs.experiments as experiments  # the checkout's, on sys.path
    built = getattr(experiments, settings.pop("experiment"))()
    configs = [c for group in (built.values() if isinstance(built, dict) else [built]) for c in group]
    where = {k[len("where."):]: literal(v) for k, v in settings.items() if k.startswith("where.")}
    chosen = [c for c in configs if all(getattr(c, k, object()) == v for k, v in where.items())]
    if len(chosen) != 1:
        raise SystemExit(f"{len(chosen)} configurations match {where}; name fields until exactly one does")
    config = chosen[0]
    for key, value in settings.items():
        if not key.startswith("where."):
            if not hasattr(config, key):
                raise SystemExit(f"the configuration has no field {key!r}")
            setattr(config, key, literal(value))
    config.perform_val = config.perform_test = False
    config.save_path = str(log.resolve().with_suffix("")) + "_out"
    os.makedirs(config.save_path, exist_ok=True)
    print({k: v for k, v in vars(config).items() if k != "save_path"}, file=sys.stderr)
    module.model_train(config)


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--source", type=Path, required=True, help="the checkout's folder holding the script")
    parser.add_argument("--log", type=Path, required=True, help="per-episode CSV to write")
    args = parser.parse_args(argv[:split])
    start = time.time()
    if args.recipe == "duan":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        run_duan(args.source.resolve(), args.log.resolve(), argv[split + 1:])
        _write_meta(args.log, start)
        return 0
    source = edited(args.recipe, args.source)
    sys.path.insert(0, str(args.source))
    sys.argv = [RECIPES[args.recipe][0], *argv[split + 1:]]
    try:
        exec(compile(source, RECIPES[args.recipe][0], "exec"), {"__name__": "__main__", "_LOG_PATH": str(args.log)})
    except SystemExit as done:  # click's standalone mode (omniglot.py) exits when its command returns
        if done.code not in (0, None):
            raise
    _write_meta(args.log, start)
    return 0


def _write_meta(log: Path, start: float) -> None:
    log.with_name(log.name + ".meta").write_text(
        f"peak_rss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\nseconds={time.time() - start:.1f}\n")


if __name__ == "__main__":
    sys.exit(main())
