"""plastic/ as a library: every layer exported, constructor arguments documented, errors naming the argument,
input shapes checked, one spelling of the rules; the import rules between the packages; the maze made through
gymnasium without the harness."""
from __future__ import annotations

import ast
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import plastic
from plastic import (ConvBackbone, DuanFewShotClassifier, DuanNet, PlasticFewShotClassifier, PlasticLinear,
                     PlasticOutputLayer, PlasticRecurrentCore, PlasticRecurrentNet)

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [obj for obj in vars(plastic).values() if inspect.isclass(obj) and issubclass(obj, nn.Module)]


def test_every_layer_of_the_package_is_exported():
    defined = {obj for info in pkgutil.iter_modules(plastic.__path__)
               for obj in vars(__import__(f"plastic.{info.name}", fromlist=["_"])).values()
               if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__.startswith("plastic.")
               and not obj.__name__.startswith("_")}
    assert {cls.__name__ for cls in defined} <= set(plastic.__all__)
    assert all(hasattr(plastic, name) for name in plastic.__all__)


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_every_constructor_argument_is_documented(cls):
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    missing = [p for p in params if p not in (cls.__doc__ or "")]
    assert not missing, f"{cls.__name__}'s docstring does not document {missing}"


@pytest.mark.parametrize("build, argument", [
    (lambda: PlasticRecurrentNet(3, 3, rule="stdp"), "rule='stdp'"),
    (lambda: PlasticRecurrentNet(3, 3, alpha="yoked"), "alpha='yoked'"),
    (lambda: PlasticRecurrentNet(3, 3, coupling="mult"), "coupling='mult'"),
    (lambda: PlasticRecurrentNet(3, 3, eta=1.5), "eta=1.5"),
    (lambda: PlasticRecurrentCore(3, 0), "hidden_size=0"),
    (lambda: PlasticRecurrentCore(3, 4, impl="gpu"), "impl='gpu'"),
    (lambda: PlasticOutputLayer(8, 5, rule="stdp"), "rule='stdp'"),
    (lambda: PlasticOutputLayer(8, 5, alpha="none"), "alpha='none'"),
    (lambda: DuanNet(3, 2, rule="stdp"), "rule='stdp'"),
    (lambda: DuanNet(3, 2, p_lr=0.9), "p_lr=0.9"),
    (lambda: PlasticLinear(3, 2, 0.1, True, False, "normal", True), "alpha_init='normal'"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_errors_name_the_constructor_argument_never_a_config_key(build, argument):
    with pytest.raises(ValueError) as err:
        build()
    assert str(err.value).startswith(argument) and "model." not in str(err.value)


@pytest.mark.parametrize("layer, width", [
    (PlasticRecurrentNet(3, 2, extra_neurons=2), 3), (PlasticRecurrentCore(3, 4), 3),
    (PlasticOutputLayer(4, 2), 6), (DuanNet(3, 2, hidden_size=8), 3)], ids=lambda x: type(x).__name__)
def test_forward_and_step_check_the_input_shape_and_name_the_expected_one(layer, width):
    layer(torch.zeros(5, 2, width))  # time-first (T, B, width) is accepted
    with pytest.raises(ValueError, match=r"do not fit \(T, B, input_size\).*input_size=%d" % width):
        layer(torch.zeros(2, width + 1))  # one step passed to forward
    with pytest.raises(ValueError, match=r"do not fit \(T, B, input_size\)"):
        layer(torch.zeros(5, 2, width + 1))  # wrong width
    with pytest.raises(ValueError, match=r"do not fit \(B, input_size\)"):
        layer.step(torch.zeros(5, 2, width), layer.initial_state(2))


def test_few_shot_classifiers_check_the_episode_shapes():
    support, query = torch.zeros(2, 5, 1, 31, 31), torch.zeros(2, 1, 1, 31, 31)
    labels = torch.arange(5).repeat(2, 1)
    torch.manual_seed(0)
    models = [PlasticFewShotClassifier(ConvBackbone(31), PlasticOutputLayer(64, 5), (1, 31, 31)),
              DuanFewShotClassifier(31, 5, hidden_size=8)]
    for model in models:
        assert model.classify(support, labels, query).shape == (2, 1, 5)
        with pytest.raises(ValueError, match=r"do not fit support \(B, S, C, H, W\)"):
            model.classify(support[0], labels, query)


def test_one_spelling_of_the_rules_with_hebb_as_an_alias(float64):
    assert "hebbian" in plastic.RULES and "hebbian" in plastic.DUAN_RULES
    assert plastic.RULE_ALIASES == {"hebb": "hebbian"}
    inputs = torch.randn(6, 2, 3)
    outputs = []
    for rule in ("hebb", "hebbian"):
        torch.manual_seed(0)
        net = PlasticRecurrentNet(3, 3, extra_neurons=2, rule=rule, eta=0.3, init_scale=0.5)
        assert net.rule == "hebbian"
        outputs.append(net(inputs)[0])
    torch.testing.assert_close(outputs[0], outputs[1])
    assert DuanNet(3, 2, rule="hebb").rule == "hebbian" and PlasticOutputLayer(4, 2, rule="hebb").rule == "hebbian"


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (function-level imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package, forbidden", [
    ("plastic", ("baselines", "benchmarks", "hydra", "omegaconf")),
    ("baselines", ("benchmarks", "hydra", "omegaconf")),
])
def test_import_rules_between_the_packages(package, forbidden):
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = {name for name in _imports(path) if name.split(".")[0] in forbidden}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


TRAINER = ("benchmarks.run", "benchmarks.harness.train")
REPORT_MODULES = sorted(p.stem for p in (ROOT / "benchmarks" / "report").glob("*.py"))
HARNESS_MODULES = sorted(str(p.relative_to(ROOT / "benchmarks" / "harness")) for p in
                         (ROOT / "benchmarks" / "harness").rglob("*.py"))


def test_the_floors_hold_modules():
    assert {"main", "collect", "summary", "stats", "tables", "figures", "published"} <= set(REPORT_MODULES)
    assert {"train.py", "config/__init__.py", "checkpoint.py", "records.py"} <= set(HARNESS_MODULES)


@pytest.mark.parametrize("module", REPORT_MODULES)
def test_report_modules_do_not_import_the_trainer(module):
    bad = {name for name in _imports(ROOT / "benchmarks" / "report" / f"{module}.py") if name.startswith(TRAINER)}
    assert not bad, f"benchmarks/report/{module}.py imports {sorted(bad)}"


@pytest.mark.parametrize("module", HARNESS_MODULES)
def test_harness_modules_do_not_import_the_report(module):
    bad = {name for name in _imports(ROOT / "benchmarks" / "harness" / module)
           if name.startswith(("benchmarks.report", "benchmarks.perf", "benchmarks.run", "benchmarks.reproduce"))}
    assert not bad, f"benchmarks/harness/{module} imports {sorted(bad)}"


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout


def test_the_imports_hold_transitively_in_a_fresh_interpreter():
    loaded = _fresh("import sys, plastic, benchmarks.report.main\n"
                    "print(' '.join(sorted(m for m in sys.modules if m.startswith(('benchmarks', 'baselines')))))")
    assert "benchmarks.report.main" in loaded.split()
    assert not [m for m in loaded.split() if m in TRAINER]
    alone = _fresh("import sys, plastic; print(' '.join(sorted(sys.modules)))").split()
    assert not [m for m in alone if m.split(".")[0] in ("baselines", "benchmarks", "hydra", "omegaconf")]


def test_gymnasium_makes_the_maze_without_the_harness():
    """gymnasium >= 1.0 loads no plugins: the id names the module that registers it (gymnasium's
    ``module:env_id`` form), which imports only the environment, never the harness."""
    out = _fresh("import sys, gymnasium\n"
                 "env = gymnasium.make('benchmarks.envs.maze:plasticbench/Maze-v0')\n"
                 "obs, info = env.reset(seed=0)\n"
                 "obs, reward, terminated, truncated, info = env.step(0)\n"
                 "print(obs.shape, sorted(m for m in sys.modules if m.startswith(('benchmarks', 'hydra'))))")
    assert out.strip() == "(17,) ['benchmarks', 'benchmarks.envs', 'benchmarks.envs.maze']"
