"""The CIFAR-10 image memorisation task on synthetic images (the loader is replaced); real data marked ``data``."""
import pytest
import torch

from benchmarks.data import cifar10
from benchmarks.harness.config import compose_config
from benchmarks.harness.models import build_model, count_parameters
from benchmarks.run import run
from benchmarks.tasks import image_memory
from benchmarks.tasks.image_memory import ImageMemory, ImageMemoryConfig, grayscale
from tests.conftest import data_dir_or_skip

SHORT = ["task.steps_per_image=2", "task.n_presentations=1", "task.gap_steps=1", "task.test_steps=1"]  # T = 10


def fake_cifar() -> cifar10.Cifar10:
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 200, (50, 3, 32, 32), generator=g, dtype=torch.uint8)
    test = torch.randint(0, 200, (20, 3, 32, 32), generator=g, dtype=torch.uint8)
    test[:, 0, 0, 0] = 255  # a mark: only held-out images have R = 255 in their first pixel
    return cifar10.Cifar10(train, torch.zeros(50, dtype=torch.long), test, torch.zeros(20, dtype=torch.long),
                           "d" * 64, {}, "fake")


@pytest.fixture
def fake_data(monkeypatch):
    data = fake_cifar()
    monkeypatch.setattr(image_memory, "load_cifar10", lambda *a, **k: data)
    return data


@pytest.mark.parametrize("config, steps", [(ImageMemoryConfig(), 201),
                                           (ImageMemoryConfig(gap_steps=3, preprocess="paper"), 210)])
def test_episode_lengths_match_the_protocol(config, steps):
    assert config.n_steps == steps


def test_preprocessing_variants():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    code, paper = grayscale(images, "code"), grayscale(images, "paper")
    assert code.shape == (4, 1024)
    torch.testing.assert_close(code.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(code.abs().amax(1), torch.ones(4))
    torch.testing.assert_close(paper, images.float().mean(1).flatten(1) / 255)


@pytest.mark.parametrize("held_out", [False, True])
def test_episode_structure_and_splits(fake_data, held_out):
    task = ImageMemory(ImageMemoryConfig())
    ep = (task.sample_eval if held_out else task.sample)(8, torch.Generator().manual_seed(1))
    x = ep.inputs  # (201, 8, 1024)
    pool = grayscale(fake_data.test_images if held_out else fake_data.train_images, "code")
    for b in range(8):
        shown = [x[t, b] for t in range(0, 198, 22)]  # first step of each presentation
        assert all(torch.equal(x[t, b], x[t + 19, b]) for t in range(0, 198, 22))
        assert all((x[t + 20: t + 22, b] == 0).all() for t in range(0, 198, 22))  # gaps
        assert all((pool == s).all(1).any() for s in shown)  # images from the right split only
        assert len({tuple(s.tolist()) for s in shown}) == 3  # 3 images, 3 times each
        probe, target = x[-1, b].view(32, 32), ep.targets[b].view(32, 32)
        top_zero = (probe[:16] == 0).all() and torch.equal(probe[16:], target[16:])
        bottom_zero = (probe[16:] == 0).all() and torch.equal(probe[:16], target[:16])
        assert top_zero != bottom_zero and any(torch.equal(ep.targets[b], s) for s in shown)
    assert ep.extras["zeroed"].sum(1).eq(512).all()


def test_loss_is_the_sum_of_squared_errors_at_the_last_step(fake_data):
    task = ImageMemory(ImageMemoryConfig())
    ep = task.sample(3, torch.Generator().manual_seed(0))
    perfect = torch.zeros_like(ep.inputs)
    perfect[-1] = ep.targets
    assert task.loss(perfect, ep).item() == 0.0
    echo = ep.inputs.clone()  # output = the probe: the error is the zeroed half
    expected = (ep.targets ** 2 * ep.extras["zeroed"]).sum(1).mean()
    torch.testing.assert_close(task.loss(echo, ep), expected)
    assert task.metrics(echo, ep)["loss_zeroed_half"] == pytest.approx(expected.item())


@pytest.mark.parametrize("model, n_params", [("plastic", 2 * 1025 ** 2 + 1), ("plastic_shared", 1025 ** 2 + 2),
                                             ("rnn", 1025 ** 2)])
def test_arms_have_1025_clamped_neurons(model, n_params):
    cfg = compose_config(["task=image_memory", f"model={model}", "budget=smoke"])
    net = build_model(dict(cfg.model), {"input_size": 1024, "output_size": 1024})
    assert net.n_neurons == 1025 and net.coupling == "clamp" and count_parameters(net) == n_params


@pytest.mark.parametrize("model", ["plastic", "plastic_shared"])
def test_memory_light_paths_equal_plain_bptt_on_the_task(fake_data, model):
    """Checkpointed stepping and the chunked fast path (the default) against plain BPTT: loss and gradients."""
    task = ImageMemory(ImageMemoryConfig(steps_per_image=3, n_presentations=2, gap_steps=1, test_steps=2))
    ep = task.sample(2, torch.Generator().manual_seed(0))
    cfg = dict(compose_config(["task=image_memory", f"model={model}", "budget=smoke"]).model)
    results = []
    for variant in ({"impl": "plain"}, {"impl": "plain", "checkpoint_every": 4}, {"impl": "fast", "chunk": 5}):
        torch.manual_seed(0)
        net = build_model({**cfg, **variant}, task.model_io())
        loss, _ = task.episode_loss(net, ep)
        results.append((loss, torch.autograd.grad(loss, [net.w, net.alpha, net.eta])))
    for other in results[1:]:
        torch.testing.assert_close(other[0], results[0][0])
        for a, b in zip(other[1], results[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["plastic", "plastic_shared", "rnn", "lstm"])
def test_every_arm_trains_at_smoke_budget(fake_data, model, tmp_path):
    record = run(compose_config(["task=image_memory", f"model={model}", "budget=smoke", f"out_dir={tmp_path}",
                                 "progress=false", *SHORT]))
    assert record.status == "ok" and record.final["loss"] > 0
    memory = record.extra["memory"]
    assert memory["updates"] == record.optimizer_steps and memory["update_peak_rss_mb"]["max"] > 0
    assert record.data_digest == "cifar-10-batches-py:sha256:" + "d" * 64


@pytest.mark.parametrize("key, value", [("steps_per_image", 0), ("gap_steps", -1), ("preprocess", "rgb")])
def test_bad_config_values_are_named(key, value):
    with pytest.raises(ValueError, match=f"task.{key}"):
        ImageMemoryConfig(**{key: value})


@pytest.mark.data
def test_real_data_smoke_run(tmp_path):
    record = run(compose_config(["task=image_memory", "model=plastic", "budget=smoke", f"out_dir={tmp_path}",
                                 f"data_dir={data_dir_or_skip()}", "progress=false", *SHORT]))
    assert record.status == "ok" and record.extra["data_copy"] == "reconstructed"


def test_record_carries_figure_data_and_figures_are_drawn(fake_data, tmp_path):
    record = run(compose_config(["task=image_memory", "model=plastic", "budget=smoke", f"out_dir={tmp_path}",
                                 "progress=false", *SHORT]))
    figure = record.extra["figure"]
    assert len(figure["probe"]) == 2 and len(figure["shown"][0]) == 3 and len(figure["output"][0]) == 1024
    assert len(figure["w"]) == 64 and len(figure["alpha"][0]) == 64
    paths = image_memory.report_figures([record], tmp_path / "figures")
    assert sorted(p.name for p in paths) == ["image_memory_plastic_reconstructions.png",
                                             "image_memory_plastic_weights.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
