"""Bad configs fail at compose time (or before training) with a message naming the key."""
import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from benchmarks.harness.config import compose_config
from benchmarks.run import run


def test_unknown_model_lists_valid_choices():
    with pytest.raises(MissingConfigException, match="plastic_shared"):
        compose_config(["model=nope"])


@pytest.mark.parametrize("override, error, key", [
    ("model.rulez=oja", ConfigCompositionException, "rulez"),
    ("task.n_bitz=3", ConfigCompositionException, "n_bitz"),
    ("task.n_bits=many", ConfigCompositionException, "n_bits"),
])
def test_typos_and_wrong_types_fail_at_compose_time(override, error, key):
    with pytest.raises(error) as info:
        compose_config([override])
    text = str(info.value) + str(info.value.__cause__)
    assert key in text


@pytest.mark.parametrize("override, message", [
    ("budget.tasks.binary_patterns_50.episodes=-5", "episodes=-5 must be >= 1"),
    ("budget.tasks.binary_patterns_50.batch_size=0", "batch_size=0 must be >= 1"),
    ("optim.lr=-1", "optim.lr=-1.0 must be > 0"),
    ("optim.name=sgd", "optim.name='sgd'"),
    ("model.eta=1.5", "eta=1.5 must lie in"),
    ("model.rule=stdp", "rule='stdp'"),
    ("model.alpha=yoked", "alpha='yoked'"),
    ("task.degrade_fraction=1.0", "task.degrade_fraction"),
])
def test_out_of_range_values_are_rejected_before_training(override, message, tmp_path):
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke", override, f"out_dir={tmp_path}"])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("+", r"\+")):
        run(cfg)
    assert not list(tmp_path.rglob("*.json"))


def test_budget_without_the_task_names_the_file(tmp_path):
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke", "~budget.tasks.binary_patterns_50"])
    with pytest.raises(ValueError, match="benchmarks/conf/budget/smoke.yaml"):
        run(cfg)


def test_learning_rate_precedence_command_line_then_budget_then_task():
    from benchmarks.harness.config import learning_rate, validate
    task_only = compose_config(["task=image_memory", "model=plastic", "budget=smoke"])
    assert learning_rate(task_only) == task_only.task.lr == 1e-4  # smoke sets no lr for the task
    budget = compose_config(["task=image_memory", "model=plastic", "budget=quick"])
    assert learning_rate(budget) == budget.budget.tasks.image_memory.lr == 3e-4
    command_line = compose_config(["task=image_memory", "model=plastic", "budget=quick", "optim.lr=1e-5"])
    assert learning_rate(command_line) == 1e-5
    with pytest.raises(ValueError, match="lr=-1.0 must be > 0"):
        validate(compose_config(["task=image_memory", "model=plastic", "budget=quick",
                                 "budget.tasks.image_memory.lr=-1"]))


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_adam_kernels_give_the_for_loop_update(impl):
    import torch
    from benchmarks.harness.train import make_optimizer
    optim = {"name": "adam", "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    params = []
    for kernel in ("for_loop", impl):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 3)
        opt = make_optimizer(model, {**optim, "impl": kernel}, 1e-2)
        for step in range(5):
            model.zero_grad()
            model(torch.randn(4, 5, generator=torch.Generator().manual_seed(step))).square().sum().backward()
            opt.step()
        params.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*params):
        torch.testing.assert_close(a, b)
