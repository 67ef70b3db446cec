"""The adapters that run a sequence model on the maze and on Omniglot (``benchmarks.harness.adapters``).

The few-shot adapter is checked against ``plastic.DuanFewShotClassifier``, which runs Duan's network by the same
protocol with its own code: the same weights give the same log-probabilities and gradients. Refusals name the
missing method and the fix."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from baselines.rnn import NonPlasticRNN
from benchmarks.harness.adapters import SequenceCore, SequenceFewShot, check_stepped, describe
from plastic import ConvBackbone, DuanFewShotClassifier, DuanNet


def episode(batch: int = 3, ways: int = 5, queries: int = 1, side: int = 31, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    support = torch.rand(batch, ways, 1, side, side, generator=g)
    labels = torch.rand(batch, ways, generator=g).argsort(-1)
    query = torch.rand(batch, queries, 1, side, side, generator=g)
    return support, labels, query


def test_the_fewshot_adapter_equals_duan_s_own_classifier_values_and_gradients():
    torch.manual_seed(0)
    reference = DuanFewShotClassifier(31, 5, channels=8, hidden_size=16)
    adapter = SequenceFewShot(ConvBackbone(31, channels=8),
                              DuanNet(reference.backbone.feature_size + 5, 5, hidden_size=16), 5)
    adapter.backbone.load_state_dict(reference.backbone.state_dict())
    adapter.model.load_state_dict(reference.rnn.state_dict())
    support, labels, query = episode(queries=3)
    ours, theirs = adapter.classify(support, labels, query), reference.classify(support, labels, query)
    torch.testing.assert_close(ours, theirs)
    g_ours = torch.autograd.grad(ours.sum(), list(adapter.parameters()))
    g_theirs = torch.autograd.grad(theirs.sum(), [*reference.backbone.parameters(), *reference.rnn.parameters()])
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_every_query_is_scored_from_the_support_alone():
    torch.manual_seed(0)
    net = NonPlasticRNN(ConvBackbone(31, channels=8).feature_size + 5, 5, extra_neurons=8)
    adapter = SequenceFewShot(ConvBackbone(31, channels=8), net, 5)
    support, labels, query = episode(queries=4)
    together = adapter.classify(support, labels, query)
    for q in range(4):
        alone = adapter.classify(support, labels, query[:, q:q + 1])
        torch.testing.assert_close(together[:, q:q + 1], alone)
    assert describe(adapter)["adapter"] == "sequence_fewshot"
    shuffled = adapter.classify(support, labels, query.flip(1))
    torch.testing.assert_close(shuffled.flip(1), together)


def test_the_maze_adapter_refuses_a_model_it_cannot_step_naming_the_fix():
    class WholeSequenceOnly(nn.Module):
        def forward(self, inputs):
            return inputs, None

    with pytest.raises(ValueError, match=r"model 'whole' \(WholeSequenceOnly\) has no initial_state or step; task "
                                         r"'maze' steps its agent one observation at a time: give the class "
                                         r"initial_state\(batch_size\)"):
        check_stepped(WholeSequenceOnly(), "whole", "task 'maze'")
    core = SequenceCore(NonPlasticRNN(12, 12), 17, 12)
    assert describe(nn.Sequential(core)) == {"adapter": "sequence_core", "adapter_width": 12}
    assert describe(NonPlasticRNN(3, 3)) == {}
