"""The Omniglot task on synthetic images (the loader is replaced), covering the three pitfalls of the reference
evaluation: a test split that moved with the run seed, unsorted listings (see test_omniglot_data.py) and a /255
scaling applied in training but not in evaluation. Real-data runs are marked ``data``."""
import math

import pytest
import torch
from hydra.errors import ConfigCompositionException

from benchmarks.data import omniglot as loader
from benchmarks.harness.config import compose_config
from benchmarks.harness.seeding import run_streams
from benchmarks.harness.train import build_task
from benchmarks.run import run
from benchmarks.tasks import omniglot
from benchmarks.tasks.omniglot import OmniglotConfig, class_split, rotate_quarters
from tests.conftest import data_dir_or_skip

N_CLASSES = 1623


def fake_images(image_size: int = 31) -> loader.OmniglotImages:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N_CLASSES, 20, image_size, image_size), generator=g, dtype=torch.uint8)
    classes = [f"images_background/A/c{i:04d}" for i in range(964)] + \
              [f"images_evaluation/B/c{i:04d}" for i in range(659)]
    return loader.OmniglotImages(images, classes, {"images_background": "x", "images_evaluation": "y"}, {})


@pytest.fixture
def fake_data(monkeypatch):
    data = fake_images()
    monkeypatch.setattr(omniglot, "load_omniglot", lambda *a, **k: data)
    return data


def make_task(**kw):
    return omniglot.Omniglot(OmniglotConfig(**kw))


def locate(images: torch.Tensor, picture: torch.Tensor, cls: int) -> set[tuple[int, int]]:
    """(drawing, quarter turns) of class ``cls`` whose scaled (inverted), rotated image equals ``picture``."""
    unit = 1 - images[cls].float() / 255  # (20, S, S)
    return {(d, k) for k in range(4) for d in (torch.rot90(unit, k, dims=(-2, -1)) == picture).flatten(1)
            .all(-1).nonzero().flatten().tolist()}


def test_paper_split_sizes_disjoint_and_fixed_by_split_seed_only():
    classes = [str(i) for i in range(N_CLASSES)]
    train, test = class_split(classes, "paper", 0, 100)
    assert len(train) == 1523 and len(test) == 100
    assert not set(train.tolist()) & set(test.tolist()) and len(set(train.tolist()) | set(test.tolist())) == 1623
    again = class_split(classes, "paper", 0, 100)
    assert torch.equal(again[1], test) and not torch.equal(class_split(classes, "paper", 1, 100)[1], test)


def test_standard_split_is_background_vs_evaluation(fake_data):
    task = make_task(split="standard")
    assert task.train_classes.tolist() == list(range(964)) and task.test_classes.tolist() == list(range(964, 1623))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_class_of_the_evaluation_pool_is_ever_trained_on(fake_data, seed):
    """Pitfall 1: the reference's test split used seed 0 for every run. Here the split is a task setting; the
    run seed changes the training episodes but never which classes are held out."""
    cfg = compose_config(["task=omniglot", "model=plastic_head", "budget=smoke", f"seed={seed}"])
    task = build_task(dict(cfg.task), None)
    assert torch.equal(task.test_classes, make_task().test_classes)
    streams = run_streams("omniglot", "plastic_head", seed)
    trained = task.sample(400, torch.Generator().manual_seed(streams["train"])).classes
    held_out = task.sample_eval(400, torch.Generator().manual_seed(streams["eval"])).classes
    assert set(held_out.flatten().tolist()) <= set(task.test_classes.tolist())
    assert not set(trained.flatten().tolist()) & set(task.test_classes.tolist())


@pytest.mark.parametrize("held_out", [False, True])
def test_episode_structure_and_one_scaling_for_training_and_evaluation(fake_data, held_out):
    """Pitfall 3: every image, training or held out, is the cached uint8 drawing through the same /255."""
    task = make_task()
    sample = task.sample_eval if held_out else task.sample
    batch = sample(6, torch.Generator().manual_seed(4))
    assert batch.support.shape == (6, 5, 1, 31, 31) and batch.query.shape == (6, 1, 1, 31, 31)
    assert batch.support.min() >= 0 and batch.support.max() <= 1
    for b in range(6):
        assert sorted(batch.support_labels[b].tolist()) == [0, 1, 2, 3, 4]
        for pos in range(5):
            label = batch.support_labels[b, pos].item()
            assert locate(fake_data.images, batch.support[b, pos, 0], batch.classes[b, label].item())
        target = batch.query_labels[b, 0].item()
        target_class = batch.classes[b, target].item()
        shown = locate(fake_data.images, batch.support[b, batch.support_labels[b].tolist().index(target), 0],
                       target_class)
        query = locate(fake_data.images, batch.query[b, 0, 0], target_class)
        assert {k for _, k in query} == {k for _, k in shown}  # same class, same rotation as its labelled drawing
        assert not {d for d, _ in query} & {d for d, _ in shown}  # but another drawing


@pytest.mark.parametrize("held_out", [False, True])
def test_rotations_vary_per_class_and_episode(fake_data, held_out):
    """Held-out classes are rotated like training ones by default, as in the reference's test script."""
    task = make_task()
    batch = (task.sample_eval if held_out else task.sample)(40, torch.Generator().manual_seed(0))
    turns = [min(k for _, k in locate(fake_data.images, batch.query[b, 0, 0],
                                      batch.classes[b, batch.query_labels[b, 0]].item())) for b in range(40)]
    assert set(turns) == {0, 1, 2, 3}


def test_rotate_quarters_per_item():
    x = torch.arange(2 * 4 * 4).reshape(2, 4, 4)
    out = rotate_quarters(x, torch.tensor([1, 3]))
    assert torch.equal(out[0], torch.rot90(x[0], 1)) and torch.equal(out[1], torch.rot90(x[1], 3))


def test_sampling_is_a_function_of_the_generator(fake_data):
    task = make_task()
    a, b = (task.sample(3, torch.Generator().manual_seed(7)) for _ in range(2))
    c = task.sample(3, torch.Generator().manual_seed(8))
    assert torch.equal(a.support, b.support) and torch.equal(a.query_labels, b.query_labels)
    assert not torch.equal(a.support, c.support)


@pytest.mark.parametrize("key, value", [("split", "random"), ("n_test_classes", 0), ("n_way", 1),
                                        ("image_size", 28)])
def test_bad_config_values_are_named(key, value):
    with pytest.raises(ValueError, match=f"task.{key}"):
        OmniglotConfig(**{key: value})


@pytest.mark.parametrize("model", ["plastic_head", "plastic_shared_head", "maml", "protonet", "duan_rnn_fewshot"])
def test_every_model_trains_at_smoke_budget_on_synthetic_images(fake_data, model, tmp_path):
    record = run(compose_config(["task=omniglot", f"model={model}", "budget=smoke", f"out_dir={tmp_path}",
                                 "progress=false"]))
    assert record.status == "ok" and 0 <= record.final["accuracy"] <= 1 and math.isfinite(record.final["loss"])
    assert record.extra["n_test_classes"] == 100 and record.extra["split_seed"] == 0
    assert record.data_digest == "images_background:sha256:x;images_evaluation:sha256:y"


def test_the_plastic_head_config_has_only_its_constructor_arguments(fake_data):
    with pytest.raises(ConfigCompositionException, match="extra_neurons"):
        compose_config(["task=omniglot", "model=plastic_head", "budget=smoke", "model.extra_neurons=3"])
    cfg = compose_config(["task=omniglot", "model=plastic_core", "budget=smoke"])
    with pytest.raises(ValueError, match="task 'omniglot' takes fewshot or head or sequence models"):
        make_task().build_model(dict(cfg.model))


def test_missing_data_gives_a_skipped_record_and_a_later_run_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(tmp_path / "cache"))
    overrides = ["task=omniglot", "model=plastic_head", "budget=smoke", f"out_dir={tmp_path / 'runs'}",
                 f"data_dir={tmp_path / 'empty'}", "progress=false", "skip_existing=true"]
    record = run(compose_config(overrides))
    assert record.status == "skipped" and record.final == {} and record.curves == {}
    assert str(tmp_path / "empty") in record.extra["reason"] and "images_background" in record.extra["reason"]
    data = fake_images()
    monkeypatch.setattr(omniglot, "load_omniglot", lambda *a, **k: data)
    assert run(compose_config(overrides)).status == "ok"  # a skipped record is not reused by skip_existing


@pytest.mark.data
@pytest.mark.parametrize("model", ["plastic_head", "maml", "protonet"])
def test_real_data_smoke_run(model, tmp_path, monkeypatch):
    record = run(compose_config(["task=omniglot", f"model={model}", "budget=smoke", f"out_dir={tmp_path}",
                                 f"data_dir={data_dir_or_skip()}", "progress=false"]))
    assert record.status == "ok" and record.extra["data_matches_reference"]
    assert record.data_digest.startswith("images_background:sha256:6936c7e0")


def _checks_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("omniglot_checks", ROOT / "scripts" / "omniglot_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_checks_swap_in_the_labelled_drawing_only_where_asked(fake_data):
    checks = _checks_module()
    task = make_task()
    batch = task.sample_eval(64, torch.Generator().manual_seed(3))
    same = torch.arange(64) % 3 == 0
    swapped = checks.with_shown_query(batch, same)
    for i in range(64):
        shown = batch.support[i, (batch.support_labels[i] == batch.query_labels[i, 0]).nonzero().item()]
        assert torch.equal(swapped.query[i, 0], shown) == bool(same[i])
        assert same[i] or torch.equal(swapped.query[i], batch.query[i])
    assert checks.wilson(50, 100)[0] < 0.5 < checks.wilson(50, 100)[1]


def test_checks_script_scores_a_checkpoint_and_refuses_another_cell_s(fake_data, tmp_path, capsys):
    import json
    from benchmarks.harness.checkpoint import Checkpointer, TrainState
    from benchmarks.harness.config import resolve_cell
    checks = _checks_module()
    cell_args = ["task=omniglot", "model=plastic_shared_head", "budget=smoke", "seed=0"]
    cell = resolve_cell(compose_config(cell_args))
    task = build_task(cell.config["task"])
    model = task.build_model(cell.config["model"])
    Checkpointer(tmp_path / "ck.pt", 1, {"config_hash": cell.config_hash}).save(
        model, torch.optim.Adam(model.parameters()), torch.Generator(), TrainState(seen=7))
    out = tmp_path / "out"
    assert checks.main(["--checkpoint", str(tmp_path / "ck.pt"), "--out", str(out), "--episodes", "40", *cell_args]) == 0
    result = json.loads((out / "omniglot_checks.json").read_text())
    assert result["episodes_trained"] == 7 and set(result["checks"]) == {
        "held_out", "training_classes", "reference_sampling", "no_rotation", "identical_query", "without_w"}
    assert 0 <= result["features"]["saturated_fraction"] <= 1 and result["features"]["norm_mean"] > 0
    assert all(c["episodes"] == 40 and c["ci95"][0] <= c["accuracy"] <= c["ci95"][1] for c in result["checks"].values())
    with pytest.raises(SystemExit) as exit_info:
        checks.main(["--checkpoint", str(tmp_path / "ck.pt"), "--out", str(out), "--episodes", "10", "task=omniglot",
                     "model=plastic_head", "budget=smoke"])
    assert exit_info.value.code != 0
    assert "belongs to another config" in capsys.readouterr().err


def test_backbone_init_torch_is_torch_s_default_and_glorot_stays_the_harness_s(fake_data):
    """``model.backbone_init``: torch keeps nn.Conv2d's own init (the authors' script's), glorot (or unset) the
    harness's Glorot-uniform with tanh's gain and zero biases; the cell's hash changes only when torch is set, so
    every record from before the key existed keeps its hash."""
    from plastic.conv import ConvBackbone
    from benchmarks.harness.config import resolve_cell
    from benchmarks.harness.records import config_hash

    torch.manual_seed(3)
    own = ConvBackbone(31, init="torch")
    torch.manual_seed(3)
    plain = [torch.nn.Conv2d(1 if i == 0 else 64, 64, 3, stride=2) for i in range(4)]
    convs = [m for m in own if isinstance(m, torch.nn.Conv2d)]
    for mine, ref in zip(convs, plain, strict=True):
        torch.testing.assert_close(mine.weight, ref.weight.to(memory_format=torch.channels_last))
        torch.testing.assert_close(mine.bias, ref.bias)
    glorot = [m for m in ConvBackbone(31) if isinstance(m, torch.nn.Conv2d)]
    bound = 5 / 3 * math.sqrt(6 / (64 * 9 + 64 * 9))  # layers 2-4: fan in = fan out = 64 x 3 x 3
    assert all(m.bias.abs().max() == 0 for m in glorot) and glorot[1].weight.abs().max() <= bound
    assert glorot[1].weight.abs().max() > 0.9 * bound > 1 / 24  # torch's bound there is 1/sqrt(576)
    with pytest.raises(ValueError, match="init='he'"):
        ConvBackbone(31, init="he")

    cells = {name: resolve_cell(compose_config(["task=omniglot", "budget=smoke", *over]))
             for name, over in {"unset": ["model=plastic_shared_head"],
                                "glorot": ["model=plastic_shared_head", "model.backbone_init=glorot"],
                                "torch": ["model=plastic_shared_head", "model.backbone_init=torch"],
                                "config": ["model=plastic_shared_head_torch_init"]}.items()}
    hashes = {name: config_hash(cell.config) for name, cell in cells.items()}
    assert hashes["unset"] == hashes["glorot"] != hashes["torch"]
    net = make_task().build_model(cells["config"].config["model"])
    assert net.backbone[2].weight.abs().max() <= 1 / 24  # torch's default: bound 1/sqrt(fan in)
    net = make_task().build_model(cells["unset"].config["model"])
    assert net.backbone[2].weight.abs().max() > 1 / 24


@pytest.mark.parametrize("overrides, message", [
    (["task=omniglot", "model=plastic_shared_head", "model.backbone_init=kaiming"], "not one of"),
    (["task=omniglot", "model=protonet", "+model.backbone_init=torch"], "not by model=protonet"),
    (["task=binary_patterns_50", "model=plastic", "+model.backbone_init=torch"], "read only by task kind omniglot"),
])
def test_a_backbone_init_nothing_reads_or_that_is_unknown_is_refused(overrides, message):
    from benchmarks.harness.config import resolve_cell
    with pytest.raises((ValueError, ConfigCompositionException), match=message):
        resolve_cell(compose_config(overrides))


def test_task_resize_reaches_the_loader_and_the_hash_only_when_not_the_default(monkeypatch):
    """``task.resize``: the task asks the loader for its resize; lanczos (the default) leaves the config hash as it
    was before the key existed (committed records keep their hashes), bilinear (task omniglot_bilinear) changes
    it; an unknown resize is refused naming the key."""
    from benchmarks.harness.config import resolve_cell
    from benchmarks.harness.records import config_hash
    asked = []
    monkeypatch.setattr(omniglot, "load_omniglot", lambda *a, **k: asked.append(a) or fake_images())
    make_task()
    make_task(resize="bilinear")
    assert [a[3] for a in asked] == ["lanczos", "bilinear"]
    default = resolve_cell(compose_config(["task=omniglot", "model=plastic_shared_head", "budget=smoke"])).config
    assert default["task"]["resize"] == "lanczos"
    before = {**default, "task": {k: v for k, v in default["task"].items() if k != "resize"}}
    assert config_hash(default) == config_hash(before)
    assert config_hash({**default, "task": {**default["task"], "resize": "bilinear"}}) != config_hash(default)
    check = resolve_cell(compose_config(["task=omniglot_bilinear", "model=plastic_shared_head",
                                         "experiment=pilot"])).config
    assert check["task"]["resize"] == "bilinear" and check["model"]["eta"] == 0.01
    assert {k: v for k, v in check["task"].items() if k not in ("name", "resize")} == \
        {k: v for k, v in default["task"].items() if k not in ("name", "resize")}
    assert check["budget"]["tasks"]["omniglot_bilinear"]["episodes"] == 1_000_000
    with pytest.raises(ValueError, match="task.resize='nearest'"):
        make_task(resize="nearest")
