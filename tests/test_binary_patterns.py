import pytest
import torch

from benchmarks.tasks.binary_patterns import BinaryPatterns, BinaryPatternsConfig

CODE = BinaryPatternsConfig()
PAPER = BinaryPatternsConfig(steps_per_pattern=10, gap_steps=3, n_cycles=3, test_steps=10, balanced=False)
FIFTY = BinaryPatternsConfig(n_bits=50, n_patterns=2, steps_per_pattern=3, gap_steps=1, n_cycles=1, test_steps=3)


@pytest.mark.parametrize("config, steps", [(CODE, 106), (PAPER, 205), (FIFTY, 11)])
def test_episode_length_matches_protocol(config, steps):
    assert config.n_steps == steps
    episode = BinaryPatterns(config).sample(2, torch.Generator().manual_seed(0))
    assert episode.inputs.shape == (steps, 2, config.n_bits)


def test_presentations_gaps_and_test_pattern():
    task = BinaryPatterns(FIFTY)
    ep = task.sample(4, torch.Generator().manual_seed(3))
    x = ep.inputs
    assert torch.equal(x[3], torch.zeros_like(x[3])) and torch.equal(x[7], torch.zeros_like(x[7]))  # gaps
    for b in range(4):
        shown = {tuple(x[0, b].tolist()), tuple(x[4, b].tolist())}
        assert len(shown) == 2  # two different patterns, each held for 3 steps
        assert torch.equal(x[0, b], x[2, b]) and torch.equal(x[4, b], x[6, b])
        assert tuple(ep.targets[b].tolist()) in shown  # the test probes a stored pattern
        probe = x[-1, b]
        assert (probe == 0).sum() == 25  # exactly half the bits zeroed
        kept = probe != 0
        assert torch.equal(probe[kept], ep.targets[b][kept])
        assert torch.equal(x[-3, b], probe)


def test_balanced_patterns_have_exactly_half_positive_bits():
    ep = BinaryPatterns(CODE).sample(3, torch.Generator().manual_seed(0))
    assert ((ep.targets == 1).sum(dim=1) == 500).all()


def test_every_pattern_shown_once_per_cycle_in_random_order():
    config = BinaryPatternsConfig(n_bits=20, n_patterns=5, steps_per_pattern=1, gap_steps=0, n_cycles=2, test_steps=1)
    ep = BinaryPatterns(config).sample(1, torch.Generator().manual_seed(0))
    first = [tuple(ep.inputs[t, 0].tolist()) for t in range(5)]
    second = [tuple(ep.inputs[t, 0].tolist()) for t in range(5, 10)]
    assert sorted(first) == sorted(second) and len(set(first)) == 5


def test_same_generator_same_episode_and_different_seed_differs():
    task = BinaryPatterns(FIFTY)
    a = task.sample(3, torch.Generator().manual_seed(7))
    b = task.sample(3, torch.Generator().manual_seed(7))
    c = task.sample(3, torch.Generator().manual_seed(8))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


def test_loss_and_bit_error_values():
    task = BinaryPatterns(FIFTY)
    ep = task.sample(2, torch.Generator().manual_seed(0))
    perfect = torch.zeros(11, 2, 50)
    perfect[-1] = ep.targets
    assert task.loss(perfect, ep).item() == 0.0
    assert task.metrics(perfect, ep)["bit_error"] == 0.0
    flipped = perfect.clone()
    flipped[-1, :, :10] *= -1  # 10 of 50 bits wrong, each off by 2
    assert task.loss(flipped, ep).item() == pytest.approx(10 * 4.0)
    assert task.metrics(flipped, ep)["bit_error"] == pytest.approx(0.2)
    assert task.metrics(torch.zeros(11, 2, 50), ep)["bit_error"] == 1.0  # zero output has no sign


@pytest.mark.parametrize("key, value", [("n_bits", 0), ("gap_steps", -1), ("degrade_fraction", 1.0)])
def test_bad_config_values_are_named(key, value):
    with pytest.raises(ValueError, match=f"task.{key}"):
        BinaryPatternsConfig(**{key: value})
