"""The maze core's fast path (``FastStepper`` one step at a time) against its plain step: outputs, final state
and gradients of every parameter in float64, for both rules and both plastic alphas, chunks that do and do not
divide the sequence, a trace read midway, and a state stepped from twice."""
import itertools

import pytest
import torch

from benchmarks.harness.model_extra import model_extra

from plastic.miconi_core import AUTO_FAST_MIN_BATCH, PlasticRecurrentCore
from plastic.miconi_fast import FastState

pytestmark = pytest.mark.usefixtures("float64")


def make(impl, rule, alpha, chunk=3):
    torch.manual_seed(0)
    return PlasticRecurrentCore(3, 5, rule=rule, alpha=alpha, eta=0.3, init="normal", init_scale=0.5, impl=impl,
                                chunk=chunk)


def stepped(core, inputs, read_midway=None):
    """Step through inputs (T, B, 3); the loss weights outputs, the final state and (optionally) the trace
    read after step ``read_midway``."""
    state = core.initial_state(inputs.shape[1])
    outs, loss = [], 0.0
    for t in range(inputs.shape[0]):
        h, state = core.step(inputs[t], state)
        outs.append(h)
        if read_midway == t:
            loss = loss + (state.hebb * torch.linspace(-1, 1, 5)).sum()
    x, hebb = state
    out = torch.stack(outs)
    loss = loss + out.square().sum() + x.sin().sum() + (hebb * torch.linspace(-1, 2, 5)).sum()
    return out, x, hebb, torch.autograd.grad(loss, list(core.parameters()))


@pytest.mark.parametrize("rule, alpha, batch, chunk", list(itertools.product(
    ["hebb", "oja"], ["free", "shared"], [1, 3], [1, 3, 7, 16])))
def test_fast_steps_equal_plain_steps(rule, alpha, batch, chunk):
    inputs = torch.randn(7, batch, 3, generator=torch.Generator().manual_seed(1))
    plain = stepped(make("plain", rule, alpha), inputs)
    fast_core = make("fast", rule, alpha, chunk)
    fast = stepped(fast_core, inputs)
    assert fast_core.fast_for(batch)
    for a, b in zip(plain[:3], fast[:3]):
        torch.testing.assert_close(a, b)
    for a, b in zip(plain[3], fast[3], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("alpha", ["free", "shared"])
def test_reading_the_trace_midway_and_going_on(alpha):
    inputs = torch.randn(8, 2, 3, generator=torch.Generator().manual_seed(2))
    plain = stepped(make("plain", "oja", alpha), inputs, read_midway=4)
    fast = stepped(make("fast", "oja", alpha, chunk=3), inputs, read_midway=4)
    for a, b in zip(plain[:3] + tuple(plain[3]), fast[:3] + tuple(fast[3])):
        torch.testing.assert_close(a, b)


def test_auto_is_fast_for_plastic_cores_from_the_threshold_batch_on():
    assert make("auto", "oja", "free").fast_for(AUTO_FAST_MIN_BATCH)
    assert not make("auto", "oja", "free").fast_for(AUTO_FAST_MIN_BATCH - 1)
    assert not make("auto", "oja", "none").fast_for(64)
    assert not make("plain", "oja", "free").fast_for(64) and make("fast", "oja", "shared").fast_for(1)
    core = make("auto", "hebb", "free")
    for batch in (1, AUTO_FAST_MIN_BATCH):  # the harness's record says which path each training batch took
        state = core.step(torch.randn(batch, 3), core.initial_state(batch))[1]
        assert isinstance(state, FastState) == (batch >= AUTO_FAST_MIN_BATCH)
    ran = model_extra(core, [1, AUTO_FAST_MIN_BATCH, 1])["miconi"]["ran"]
    assert ran == {"batch 1": "plain", f"batch {AUTO_FAST_MIN_BATCH}": "fast"}


def test_a_fast_state_is_stepped_from_once():
    core = make("fast", "hebb", "free")
    x = torch.randn(1, 3)
    _, first = core.step(x, core.initial_state(1))
    assert isinstance(first, FastState)
    _, second = core.step(x, first)
    with pytest.raises(ValueError, match="stepped from once"):
        core.step(x, first)
    core.step(x, second)  # the newest state still steps
