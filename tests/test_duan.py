import pytest
import torch

from plastic.duan import DuanNet
from tests.reference import duan_reference

pytestmark = pytest.mark.usefixtures("float64")  # oracle comparisons in double precision


def make_net(cell="rnn", rule="gradient", **kw):
    torch.manual_seed(0)
    kw = {"hidden_size": 5, "extra_units": 2, "p_lr": 0.3, **kw}
    if rule == "none":
        kw.update(extra_units=0, modulation=False)
    return DuanNet(4, 2, cell=cell, rule=rule, **kw)


def random_inputs(t=4, b=3, d=4, seed=1):
    return torch.randn(t, b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def outer_grads(net, out):
    """Gradients of a loss on the outputs of every step w.r.t. every parameter (None -> error)."""
    params = [p for p in net.parameters()]
    return torch.autograd.grad((out * torch.linspace(-1, 2, out.numel()).view_as(out)).square().sum(), params)


def dense_traces(net, state):
    """Every plastic tensor's trace A (B, ...) in update order, whichever way the state holds it."""
    if net.fast_weights == "dense":
        return list(state.traces)
    weights = [torch.einsum("bt,bti,bto->bio", state.weight, p, q) for p, q in zip(state.pre, state.post)]
    biases = iter(state.traces)
    return [weights[i // 2] if i % 2 == 0 else next(biases)
            for i in range(2 * len(weights)) if i % 2 == 0 or net.rule == "gradient"]


def assert_all_close(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y)


ORACLE_CASES = [
    dict(), dict(update_clip=1e-3), dict(update_clip=None), dict(modulation=False, p_decay=0.05),
    dict(internal_loss_norm="batch_mean"), dict(internal_loss_norm="batch_mean", update_clip=1e-3),
    dict(alpha_init="ones", learn_alpha=False),
]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("rule", ["hebbian", "gradient"])
@pytest.mark.parametrize("options", ORACLE_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("fast_weights", ["factored", "dense"])
def test_values_and_gradients_match_plain_oracle(cell, rule, options, batch, fast_weights):
    net = make_net(cell, rule, fast_weights=fast_weights, **options)
    inputs = random_inputs(b=batch)
    out, _ = net(inputs)
    ref = duan_reference(net, inputs)
    torch.testing.assert_close(out, ref)
    assert_all_close(outer_grads(net, out), outer_grads(net, ref))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_non_plastic_matches_oracle(cell):
    net = make_net(cell, "none")
    inputs = random_inputs()
    out, _ = net(inputs)
    ref = duan_reference(net, inputs)
    torch.testing.assert_close(out, ref)
    assert_all_close(outer_grads(net, out), outer_grads(net, ref))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("norm", ["per_sample", "batch_mean"])
@pytest.mark.parametrize("clip", [1.0, 1e-3])
def test_closed_form_equals_autograd(cell, norm, clip):
    inputs = random_inputs(t=5)
    results = []
    for impl, fast_weights in (("autograd", "dense"), ("closed_form", "dense"), ("closed_form", "factored")):
        net = make_net(cell, "gradient", grad_impl=impl, internal_loss_norm=norm, update_clip=clip,
                       fast_weights=fast_weights)
        out, state = net(inputs)
        results.append((out, dense_traces(net, state), outer_grads(net, out)))
    for out, traces, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0])
        assert_all_close(traces, results[0][1])
        assert_all_close(grads, results[0][2])


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_factored_traces_equal_dense_traces_hebbian(cell):
    inputs = random_inputs(t=5)
    runs = [make_net(cell, "hebbian", fast_weights=f) for f in ("dense", "factored")]
    (out_d, state_d), (out_f, state_f) = [net(inputs) for net in runs]
    torch.testing.assert_close(out_d, out_f)
    assert_all_close(dense_traces(runs[0], state_d), dense_traces(runs[1], state_f))


def test_plasticity_changes_the_output():
    """Guard against a vacuous oracle: with the same slow weights, the plastic nets differ from p_lr = 0."""
    inputs = random_inputs(t=6)
    for rule in ("hebbian", "gradient"):
        out, state = make_net("rnn", rule)(inputs)
        still, _ = make_net("rnn", rule, p_lr=0.0)(inputs)
        assert (out - still).abs().max() > 1e-3, rule
        assert all(t.abs().max() > 0 for t in state.traces), rule


@pytest.mark.parametrize("impl, fast_weights", [("closed_form", "factored"), ("closed_form", "dense"),
                                                ("autograd", "dense")])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_per_sample_update_does_not_depend_on_the_batch(impl, fast_weights, cell):
    inputs = random_inputs(t=5, b=4)
    net = make_net(cell, "gradient", grad_impl=impl, fast_weights=fast_weights)
    alone, state_alone = net(inputs[:, :1])
    together, state_together = net(inputs)
    torch.testing.assert_close(alone[:, 0], together[:, 0])
    assert_all_close([t[:1] for t in dense_traces(net, state_together)], dense_traces(net, state_alone))
    # the reference's batch mean shrinks each episode's update with the batch size
    net = make_net(cell, "gradient", grad_impl=impl, internal_loss_norm="batch_mean", update_clip=None,
                   fast_weights=fast_weights)
    alone, _ = net(inputs[:, :1])
    together, _ = net(inputs)
    assert (alone[:, 0] - together[:, 0]).abs().max() > 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("rule", ["hebbian", "gradient", "none"])
@pytest.mark.parametrize("fast_weights", ["factored", "dense"])
def test_forward_equals_stepping(cell, rule, fast_weights):
    net = make_net(cell, rule, fast_weights=fast_weights)
    inputs = random_inputs(t=5, b=2)
    out, final = net(inputs)
    state = net.initial_state(2)
    for t in range(5):
        y, state = net.step(inputs[t], state)
        torch.testing.assert_close(out[t], y)
    torch.testing.assert_close(final.h, state.h)
    torch.testing.assert_close(final.c, state.c)
    assert_all_close(dense_traces(net, final), dense_traces(net, state))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("rule, impl", [("hebbian", "closed_form"), ("none", "closed_form"),
                                        ("gradient", "closed_form"), ("gradient", "autograd")])
def test_every_parameter_gets_a_finite_nonzero_gradient(cell, rule, impl):
    net = make_net(cell, rule, grad_impl=impl, hidden_size=16,
                   fast_weights="dense" if impl == "autograd" else "factored")
    out, _ = net(random_inputs(t=5, b=2))
    grads = outer_grads(net, out)
    for (name, _), g in zip(net.named_parameters(), grads):
        assert torch.isfinite(g).all(), name
        assert g.abs().sum() > 0, name
    expected = {"enc.w", "enc.b", "hh.w", "hh.b", "ih.w", "ih.b", "out.w", "out.b"}
    if rule != "none":
        expected |= {"enc.alpha_w", "hh.alpha_w", "ih.alpha_w", "out.alpha_w"}
    if rule == "gradient":
        expected |= {"enc.alpha_b", "hh.alpha_b", "ih.alpha_b", "out.alpha_b", "omega"}
    assert {name for name, _ in net.named_parameters()} == expected


@pytest.mark.parametrize("impl", ["closed_form", "autograd"])
def test_evaluation_without_grad_gives_the_same_values(impl):
    net = make_net("lstm", "gradient", grad_impl=impl, fast_weights="dense" if impl == "autograd" else "factored")
    inputs = random_inputs()
    out, _ = net(inputs)
    with torch.no_grad():
        quiet, state = net(inputs)
    torch.testing.assert_close(out.detach(), quiet)
    assert not quiet.requires_grad and not any(t.requires_grad for t in dense_traces(net, state))


def test_fixed_alpha_is_not_trained():
    net = make_net("rnn", "hebbian", alpha_init="ones", learn_alpha=False)
    assert not any("alpha" in name for name, _ in net.named_parameters())
    assert torch.equal(net.hh.alpha_w, torch.ones(5, 5))


def test_alpha_init_uniform_in_minus_one_one():
    alpha = DuanNet(4, 2, hidden_size=64).hh.alpha_w
    assert alpha.min() < -0.9 and alpha.max() > 0.9 and alpha.abs().max() <= 1


def test_readout_layout_and_rates():
    net = make_net("rnn", "gradient", extra_units=4)
    assert net.readout_size == 2 + 4 + 1 and net.omega.shape == (7,)
    o = torch.zeros(3, 7)
    o[:, -1] = torch.tensor([-100.0, 0.0, 100.0])
    eta, lam = net._rates(o)
    torch.testing.assert_close(eta, torch.tensor([0.0, 0.3, 0.6]))  # p_lr * 2 sigmoid(m), in (0, 2 p_lr)
    torch.testing.assert_close(lam, eta)  # p_decay defaults to p_lr
    assert make_net("rnn", "gradient", modulation=False).readout_size == 2 + 2


def test_parameter_counts_are_matched_on_cue_reward():
    """benchmarks/protocols.md (Duan 2023): plastic RNN 256 / LSTM 128 vs non-plastic RNN 384 / LSTM 192,
    ~270k-305k parameters."""
    def count(**kw):
        return sum(p.numel() for p in DuanNet(16, 1, **kw).parameters())
    counts = {
        "rnn_gradient": count(cell="rnn", hidden_size=256),
        "rnn_hebbian": count(cell="rnn", hidden_size=256, rule="hebbian"),
        "lstm_gradient": count(cell="lstm", hidden_size=128),
        "rnn_none": count(cell="rnn", hidden_size=384, rule="none", extra_units=0, modulation=False),
        "lstm_none": count(cell="lstm", hidden_size=192, rule="none", extra_units=0, modulation=False),
    }
    assert all(260_000 <= n <= 310_000 for n in counts.values()), counts


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "gru"}, "^cell='gru'"), ({"rule": "oja"}, "^rule='oja'"),
    ({"grad_impl": "jax"}, "^grad_impl='jax'"), ({"internal_loss_norm": "sum"}, "^internal_loss_norm='sum'"),
    ({"p_lr": 0.9}, "^p_lr=0.9"), ({"update_clip": 0.0}, "^update_clip=0.0"),
    ({"rule": "none"}, "modulation=False"), ({"alpha_init": "normal"}, "^alpha_init='normal'"),
    ({"grad_impl": "autograd"}, "fast_weights='dense'"), ({"fast_weights": "sparse"}, "^fast_weights='sparse'"),
])
def test_bad_arguments_are_named(kwargs, message):
    """The library names its constructor arguments, never a harness config key."""
    with pytest.raises(ValueError, match=message) as err:
        DuanNet(4, 2, **kwargs)
    assert "model." not in str(err.value)
