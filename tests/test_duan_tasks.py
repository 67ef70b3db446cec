import pytest
import torch

from baselines.maml_regression import MAMLRegressor
from benchmarks.tasks.cue_reward import CueReward, CueRewardConfig
from benchmarks.tasks.regression import Regression, RegressionConfig
from benchmarks.tasks.seq_reproduction import SeqReproduction, SeqReproductionConfig


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


TASKS = [CueReward(CueRewardConfig()), SeqReproduction(SeqReproductionConfig(seq_length=5, delay=3)),
         Regression(RegressionConfig()), Regression(RegressionConfig(function="mlp", n_vars=6, support=10))]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.__class__.__name__)
def test_same_generator_same_batch_and_different_seed_differs(task):
    a, b, c = task.sample(3, gen(7)), task.sample(3, gen(7)), task.sample(3, gen(8))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert a.batch_size == 3 and a.inputs.shape[-1] == task.model_io()["input_size"]


def test_cue_reward_layout_flags_and_targets():
    task = CueReward(CueRewardConfig())
    ep = task.sample(64, gen())
    x, y, cue = ep.inputs, ep.targets, ep.extras["cue"]
    assert x.shape == (20, 64, 16) and y.shape == (20, 64, 1) and cue.shape == (20, 64)
    assert torch.equal(x[:10, :, 15], torch.zeros(10, 64)) and torch.equal(x[10:, :, 15], torch.ones(10, 64))
    assert torch.equal(x[:10, :, 14], y[:10, :, 0]) and torch.equal(x[10:, :, 14], torch.zeros(10, 64))
    assert y.min() >= -1 and y.max() <= 1 and cue.max() == 4
    for b in range(4):  # one reward per cue; a cue's stimulus repeats up to the N(0, 0.1^2) noise
        for k in cue[:, b].unique():
            steps = (cue[:, b] == k).nonzero().flatten()
            assert torch.all(y[steps, b] == y[steps[0], b])
            if len(steps) > 1:
                assert (x[steps, b, :14] - x[steps[0], b, :14]).abs().max() < 1.0
    diffs = [x[s, b, :14] - x[t, b, :14] for b in range(64) for s in range(20) for t in range(s)
             if cue[s, b] == cue[t, b]]
    assert torch.stack(diffs).std().item() == pytest.approx(0.1 * 2 ** 0.5, rel=0.05)


def test_cue_reward_no_memory_floor_is_one_sixth():
    task = CueReward(CueRewardConfig())
    ep = task.sample(4000, gen())
    memoryless = torch.where(ep.inputs[:, :, 15:16] == 0, ep.inputs[:, :, 14:15], 0.0)  # copy if shown, else 0
    assert task.no_memory_floor() == pytest.approx(1 / 6)
    assert task.loss(memoryless, ep).item() == pytest.approx(1 / 6, rel=0.03)
    assert task.loss(ep.targets, ep).item() == 0.0
    assert task.metrics(memoryless, ep)["mse_shown"] == 0.0


def test_seq_reproduction_layout_and_floor():
    task = SeqReproduction(SeqReproductionConfig(seq_length=5, delay=3))
    ep = task.sample(2000, gen())
    x, y = ep.inputs, ep.targets
    assert x.shape == (13, 2000, 3) and y.shape == (5, 2000, 1)
    assert torch.equal(x[:5, :, 0:1], y) and torch.equal(x[:5, :, 1], torch.ones(5, 2000))
    assert torch.equal(x[5:8], torch.zeros(3, 2000, 3))  # the delay
    assert torch.equal(x[8:, :, 2], torch.ones(5, 2000)) and torch.equal(x[8:, :, :2], torch.zeros(5, 2000, 2))
    assert torch.equal(x[:8, :, 2], torch.zeros(8, 2000))
    assert task.loss(torch.zeros(13, 2000, 1), ep).item() == pytest.approx(1 / 3, rel=0.03)
    perfect = torch.cat([torch.randn(8, 2000, 1), y])  # only the recall steps count
    assert task.loss(perfect, ep).item() == 0.0
    assert SeqReproductionConfig().n_steps == 60


@pytest.mark.parametrize("function, d", [("linear", 12), ("mlp", 6)])
def test_regression_layout_standardisation_and_noise(function, d):
    task = Regression(RegressionConfig(function=function, n_vars=d, support=10))
    ep = task.sample(500, gen())
    x, y = ep.inputs, ep.targets
    assert x.shape == (30, 500, d + 2) and y.shape == (30, 500, 1)
    assert x[:, :, :d].abs().max() <= 1
    assert torch.equal(x[:10, :, d + 1], torch.ones(10, 500)) and torch.equal(x[10:, :, d:], torch.zeros(20, 500, 2))
    torch.testing.assert_close(y.mean(0), torch.zeros(500, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(0), torch.ones(500, 1), atol=1e-5, rtol=0)
    noise = x[:10, :, d] - y[:10, :, 0]
    assert noise.std().item() == pytest.approx(0.1, rel=0.05)
    design = torch.cat([x[:, :, :d], torch.ones(30, 500, 1)], dim=2).transpose(0, 1)  # (B, N, d + 1)
    fit = torch.linalg.lstsq(design.double(), y.transpose(0, 1).double()).solution
    residual = (design.double() @ fit - y.transpose(0, 1).double()).square().mean().item()
    if function == "linear":
        assert residual < 1e-8  # an exactly linear function of x, up to standardisation
    else:
        assert residual > 1e-4  # the tanh bends it
    assert task.metrics(torch.zeros_like(y), ep)["mse_query"] == pytest.approx(1.0, rel=0.1)


def test_maml_regressor_adapts_to_the_support_set_and_the_task_dispatches_to_it():
    torch.manual_seed(0)
    task = Regression(RegressionConfig(support=10))
    model = task.build_model({"name": "maml_mlp", "family": "maml_mlp", "hidden_size": 16, "n_layers": 1,
                              "inner_steps": 3, "inner_lr": 0.3, "first_order": False, "test_inner_steps": None})
    assert isinstance(model, MAMLRegressor) and model.maml.module[0].in_features == 12
    ep = task.sample(4, gen())
    loss, metrics = task.episode_loss(model, ep)
    assert loss.requires_grad and set(metrics) == {"loss", "mse_query"}
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    sx = ep.inputs[:10, :, :12].transpose(0, 1)
    sy = ep.inputs[:10, :, 12].t().unsqueeze(2)
    before = (model(sx) - sy).square().mean()
    with torch.no_grad():
        after = (model.regress(sx, sy, sx) - sy).square().mean()
    assert not after.requires_grad and after < before


@pytest.mark.parametrize("config, key", [
    (lambda: CueRewardConfig(n_cues=0), "task.n_cues"),
    (lambda: CueRewardConfig(reward_steps=21), "task.reward_steps"),
    (lambda: CueRewardConfig(noise_std=-1), "task.noise_std"), (lambda: SeqReproductionConfig(delay=-1), "task.delay"),
    (lambda: SeqReproductionConfig(seq_length=0), "task.seq_length"),
    (lambda: RegressionConfig(function="cubic"), "task.function"),
    (lambda: RegressionConfig(support=0), "task.support"),
])
def test_bad_config_values_are_named(config, key):
    with pytest.raises(ValueError, match=key):
        config()


def test_duan_tasks_compose_with_the_papers_optimizer():
    from benchmarks.harness.config import compose_config
    for task in ("cue_reward", "seq_reproduction", "seq_reproduction_n5_m40", "regression_mlp_k10"):
        cfg = compose_config([f"task={task}", "model=duan_rnn_gradient"])
        assert (cfg.optim.name, cfg.optim.amsgrad, cfg.optim.grad_clip, cfg.task.lr) == ("adamw", True, 5.0, 1e-3)
    assert compose_config(["task=cue_reward", "optim.grad_clip=1.0"]).optim.grad_clip == 1.0
    assert compose_config(["task=binary_patterns_50"]).optim.name == "adam"  # other tasks keep their own


def test_duan_few_shot_classifier_scores_each_query_from_the_support_state():
    from plastic.duan_fewshot import DuanFewShotClassifier
    torch.manual_seed(0)
    model = DuanFewShotClassifier(31, 5, channels=8, hidden_size=16)
    support, labels = torch.rand(2, 5, 1, 31, 31), torch.arange(5).repeat(2, 1)
    query = torch.rand(2, 3, 1, 31, 31)
    log_probs = model.classify(support, labels, query)
    assert log_probs.shape == (2, 3, 5)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 3))
    alone = model.classify(support, labels, query[:, 1:2])  # a query's answer ignores the other queries
    torch.testing.assert_close(alone[:, 0], log_probs[:, 1])
    log_probs[:, :, 0].sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("task, model", [
    ("binary_patterns_50", "duan_rnn_gradient"), ("binary_patterns_50", "duan_lstm_hebbian"),
    ("binary_patterns_50", "duan_rnn_nonplastic"), ("seq_reproduction_n5_m40", "duan_lstm_gradient"),
    ("regression_mlp", "maml_mlp"),
])
def test_duan_arms_run_outside_the_reproduce_grid(task, model, tmp_path):
    """Cells the reproduce grid does not hold (its cells run in tests/test_contract.py): both papers' models
    meet on the binary-pattern task; sweep points and variants compose and train."""
    from benchmarks.harness.config import compose_config
    from benchmarks.run import run
    record = run(compose_config([f"task={task}", f"model={model}", "budget=smoke", f"out_dir={tmp_path}",
                                 "progress=false"]))
    assert record.status == "ok" and record.n_params > 0
    assert torch.isfinite(torch.tensor(record.final[record.primary_metric]))
    if model.startswith("duan"):
        assert record.extra["duan"]["rule"] in ("gradient", "hebbian", "none")
        assert record.config["optim"]["name"] == "adamw"


@pytest.mark.data
def test_duan_rnn_fewshot_runs_on_omniglot(tmp_path):
    from benchmarks.harness.config import compose_config
    from benchmarks.run import run
    from tests.conftest import data_dir_or_skip
    data_dir = data_dir_or_skip()
    record = run(compose_config(["task=omniglot", "model=duan_rnn_fewshot", "budget=smoke", f"out_dir={tmp_path}",
                                 f"data_dir={data_dir}", "progress=false"]))
    assert record.status == "ok" and 0 <= record.final["accuracy"] <= 1
    assert record.extra["duan"] == {"cell": "rnn", "rule": "gradient", "hidden_size": 256, "fast_weights": "factored",
                                    "grad_impl": "closed_form", "internal_loss_norm": "per_sample"}
