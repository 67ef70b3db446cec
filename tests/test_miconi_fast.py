"""The fast Miconi path (plastic/miconi_fast.py) against the plain path (one step at a time, autograd through
everything; itself tested against tests/reference.py): outputs, final state and gradients, in float64."""
import gc
import itertools
import weakref

import pytest
import torch

from benchmarks.harness.model_extra import model_extra

from plastic.miconi import MiconiState, PlasticRecurrentNet
from tests.reference import miconi_step

pytestmark = pytest.mark.usefixtures("float64")  # oracle comparisons in double precision


def make_net(impl, rule="hebb", alpha="free", coupling="additive", chunk=16, **kw):
    torch.manual_seed(0)
    return PlasticRecurrentNet(3, 3, extra_neurons=2, rule=rule, alpha=alpha, coupling=coupling, init_scale=0.5,
                               eta=0.3, input_scale=0.7, impl=impl, chunk=chunk, **kw)


def episode(batch, n_steps=9, initial=False, alpha="free", seed=1):
    """Inputs with zeros (so clamp coupling lets some neurons evolve) and optionally a non-zero start state."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n_steps, batch, 3, generator=g) * (torch.rand(n_steps, batch, 3, generator=g) > 0.3)
    if not initial:
        return inputs, None, []
    n, m = 6, 6 if alpha != "none" else 0
    x0 = torch.tanh(torch.randn(batch, n, generator=g)).requires_grad_()
    hebb0 = (0.3 * torch.randn(batch, m, m, generator=g)).requires_grad_(alpha != "none")
    return inputs, MiconiState(x0, hebb0), [x0] + ([hebb0] if alpha != "none" else [])


def outputs_and_grads(net, inputs, state, leaves):
    out, final = net(inputs, state)
    loss = out.square().sum() + final.x.sin().sum()
    if net.plastic:  # a weighting that differs per column, so the final trace's gradient is not uniform
        loss = loss + (final.hebb * torch.linspace(-1, 1, net.n_neurons)).sum()
    grads = torch.autograd.grad(loss, list(net.parameters()) + leaves)
    return out, final, grads


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1].x, b[1].x)
    torch.testing.assert_close(a[1].hebb, b[1].hebb)
    for ga, gb in zip(a[2], b[2], strict=True):
        torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("rule, alpha, coupling, batch, initial", list(itertools.product(
    ["hebb", "oja"], ["free", "shared", "none"], ["additive", "clamp"], [1, 3], [False, True])))
def test_fast_equals_plain(rule, alpha, coupling, batch, initial):
    """Values, final state and gradients w.r.t. w, alpha, eta (and the start state) over several chunks."""
    inputs, state, leaves = episode(batch, initial=initial, alpha=alpha)
    plain = outputs_and_grads(make_net("plain", rule, alpha, coupling), inputs, state, leaves)
    fast = outputs_and_grads(make_net("fast", rule, alpha, coupling, chunk=4), inputs, state, leaves)
    assert_same(plain, fast)


@pytest.mark.parametrize("chunk", [1, 2, 3, 9, 50])
@pytest.mark.parametrize("rule, alpha", [("hebb", "free"), ("oja", "free"), ("oja", "shared")])
def test_chunk_size_does_not_change_results(rule, alpha, chunk):
    inputs, state, leaves = episode(2, initial=True, alpha=alpha)
    plain = outputs_and_grads(make_net("plain", rule, alpha), inputs, state, leaves)
    assert_same(plain, outputs_and_grads(make_net("fast", rule, alpha, chunk=chunk), inputs, state, leaves))


def test_fast_matches_the_oracle_directly():
    net = make_net("fast", "oja", "free", chunk=2)
    inputs, _, _ = episode(1, n_steps=5)
    out, final = net(inputs)
    ref = (torch.zeros(6), torch.zeros(6, 6))
    for t in range(5):
        drive = torch.cat([inputs[t, 0], torch.zeros(2), torch.ones(1)])
        ref = miconi_step(*ref, drive, net.w, net.alpha, net.eta, "oja", "additive", 0.7)
        torch.testing.assert_close(out[t, 0], ref[0][:3])
    torch.testing.assert_close(final.hebb[0], ref[1])


def test_gradient_reaches_the_inputs():
    inputs, _, _ = episode(2)
    grads = []
    for impl in ("plain", "fast"):
        leaf = inputs.clone().requires_grad_()
        out, _ = make_net(impl, "hebb", "free", chunk=4)(leaf)
        grads.append(torch.autograd.grad(out.square().sum(), leaf)[0])
    torch.testing.assert_close(grads[0], grads[1])


def test_no_grad_and_auto_give_the_same_outputs():
    inputs, _, _ = episode(3)
    expected, _ = make_net("plain")(inputs)
    with torch.no_grad():
        fast, _ = make_net("fast", chunk=4)(inputs)
    auto, _ = make_net("auto")(inputs)
    torch.testing.assert_close(fast, expected)
    torch.testing.assert_close(auto, expected)


def test_auto_takes_the_fast_path_for_large_networks(monkeypatch):
    import plastic.miconi as miconi
    calls = []
    real = miconi.fast_forward
    monkeypatch.setattr(miconi, "fast_forward", lambda *args: calls.append(1) or real(*args))
    PlasticRecurrentNet(200, 200)(torch.zeros(2, 1, 200))
    assert calls == [1]
    PlasticRecurrentNet(20, 20)(torch.zeros(2, 1, 20))  # small: per-op overhead dominates, plain is as fast
    assert calls == [1]
    assert model_extra(PlasticRecurrentNet(200, 200), [1]) == {"miconi": {"impl": "fast", "chunk": 16}}
    assert model_extra(PlasticRecurrentNet(20, 20), [1])["miconi"]["impl"] == "plain"


def _saved_trace_bytes(net, inputs):
    """Bytes of the tensors at least N x N per episode that autograd keeps for the backward."""
    n = net.n_neurons
    ptrs = {}

    def pack(t):
        if t.numel() >= n * n * inputs.shape[1]:
            ptrs[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(inputs)
    return sum(ptrs.values())


def test_fast_path_keeps_a_trace_per_chunk_not_per_step():
    """Memory-light backward: O(T / chunk) traces where the plain path keeps O(T) (N > T here, so the shared
    path's (B, t, N) histories fall below the (B, N, N) size counted)."""
    torch.manual_seed(0)
    inputs = torch.randn(40, 2, 100)
    trace = 2 * 101 * 101 * 8  # one (B, N, N) float64 trace
    plain = _saved_trace_bytes(PlasticRecurrentNet(100, 100, impl="plain").double(), inputs)
    fast = _saved_trace_bytes(PlasticRecurrentNet(100, 100, impl="fast", chunk=10).double(), inputs)
    shared = _saved_trace_bytes(PlasticRecurrentNet(100, 100, alpha="shared", impl="fast").double(), inputs)
    assert plain >= 40 * trace
    assert fast <= 2 * 4 * trace  # per chunk: the trace and alpha * trace
    assert shared == 0  # the shared-alpha trace stays factored: no (B, N, N) tensor until the final state


def test_graph_is_freed_after_backward():
    """The deferred gradients must not tie the graph into a reference cycle (that leaked ~200 MB/update)."""
    net = make_net("fast", chunk=2)
    inputs, _, _ = episode(2)
    out, final = net(inputs)
    ref = weakref.ref(final.hebb)
    out.sum().backward()
    del out, final
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("kwargs, message", [({"impl": "cuda"}, "impl='cuda'"), ({"chunk": -1}, "chunk=-1")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlasticRecurrentNet(2, 2, **kwargs)


@pytest.mark.parametrize("alpha", ["free", "shared"])
def test_final_trace_is_built_only_when_read_and_once(alpha):
    inputs, _, _ = episode(2, alpha=alpha)
    net = make_net("fast", "hebb", alpha, chunk=4)
    out, final = net(inputs)
    assert final.stepper._final is None  # a loss on the outputs alone never builds the (B, N, N) trace
    hebb = final.hebb
    assert final.hebb is hebb  # read twice, built once
    _, plain = make_net("plain", "hebb", alpha)(inputs)
    torch.testing.assert_close(hebb, plain.hebb)
