import pytest
import torch

from plastic.miconi import MiconiState, PlasticRecurrentNet
from tests.reference import miconi_step


pytestmark = pytest.mark.usefixtures("float64")  # oracle comparisons in double precision


def make_net(rule="hebb", alpha="free", coupling="additive", **kw):
    torch.manual_seed(0)
    net = PlasticRecurrentNet(3, 3, extra_neurons=1, rule=rule, alpha=alpha, coupling=coupling,
                              init_scale=0.5, eta=0.3, **kw).double()
    return net


def random_inputs(t, b, n, zero_prob=0.3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(t, b, n, generator=g, dtype=torch.float64)
    return x * (torch.rand(t, b, n, generator=g, dtype=torch.float64) > zero_prob)


@pytest.mark.parametrize("rule", ["hebb", "oja"])
@pytest.mark.parametrize("alpha", ["free", "shared"])
@pytest.mark.parametrize("coupling", ["additive", "clamp"])
@pytest.mark.parametrize("batch", [1, 3])
def test_step_matches_plain_oracle(rule, alpha, coupling, batch):
    net = make_net(rule, alpha, coupling, input_scale=0.7)
    inputs = random_inputs(4, batch, 3)
    state = net.initial_state(batch)
    # start from a non-zero trace so the plastic term matters from the first step
    state = MiconiState(torch.tanh(torch.randn(batch, net.n_neurons)), 0.3 * torch.randn(batch, 5, 5))
    ref = [(state.x[b].clone(), state.hebb[b].clone()) for b in range(batch)]
    for t in range(inputs.shape[0]):
        y, state = net.step(inputs[t], state)
        for b in range(batch):
            drive = torch.zeros(5)
            drive[:3] = inputs[t, b]
            drive[-1] = 1.0
            ref[b] = miconi_step(*ref[b], drive, net.w, net.alpha, net.eta, rule, coupling, 0.7)
            torch.testing.assert_close(state.x[b], ref[b][0])
            torch.testing.assert_close(state.hebb[b], ref[b][1])
            torch.testing.assert_close(y[b], ref[b][0][:3])


@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_oracle_gradients_match(rule):
    net = make_net(rule)
    inputs = random_inputs(3, 1, 3)
    out, _ = net(inputs)
    grads = torch.autograd.grad(out[-1].square().sum(), [net.w, net.alpha, net.eta])
    state = (torch.zeros(5), torch.zeros(5, 5))
    for t in range(3):
        drive = torch.cat([inputs[t, 0], torch.zeros(1), torch.ones(1)])
        state = miconi_step(*state, drive, net.w, net.alpha, net.eta, rule, "additive", 20.0)
    ref = torch.autograd.grad(state[0][:3].square().sum(), [net.w, net.alpha, net.eta])
    for g, r in zip(grads, ref):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("alpha", ["free", "shared", "none"])
def test_forward_equals_stepping(alpha):
    net = make_net(alpha=alpha)
    inputs = random_inputs(6, 2, 3)
    out, final = net(inputs)
    state = net.initial_state(2)
    for t in range(6):
        y, state = net.step(inputs[t], state)
        torch.testing.assert_close(out[t], y)
    torch.testing.assert_close(final.hebb, state.hebb)


@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_checkpointed_forward_equals_plain(rule):
    inputs = random_inputs(7, 2, 3)
    results = []
    for k in (0, 3):
        net = make_net(rule, checkpoint_every=k, impl="plain")  # checkpointing applies to the plain path
        out, _ = net(inputs)
        grads = torch.autograd.grad(out.square().sum(), list(net.parameters()))
        results.append((out, grads))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("alpha", ["free", "shared"])
@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_every_parameter_gets_finite_nonzero_gradient(rule, alpha):
    net = make_net(rule, alpha)
    out, _ = net(random_inputs(5, 2, 3))
    out.square().sum().backward()
    names = {name for name, _ in net.named_parameters()}
    assert names == {"w", "alpha", "eta"}
    for name, p in net.named_parameters():
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fixed_eta_is_not_trained():
    net = PlasticRecurrentNet(2, 2, learn_eta=False)
    assert "eta" not in dict(net.named_parameters())
    assert net.eta.item() == pytest.approx(0.01)


def test_parameter_counts_match_paper():
    assert sum(p.numel() for p in PlasticRecurrentNet(1000, 1000).parameters()) == 2_004_002 + 1
    assert sum(p.numel() for p in PlasticRecurrentNet(50, 50).parameters()) == 5_202 + 1
    assert sum(p.numel() for p in PlasticRecurrentNet(50, 50, alpha="none", extra_neurons=2000).parameters()) \
        == 2051 ** 2


def test_bias_neuron_is_constant_input():
    net = PlasticRecurrentNet(2, 2, coupling="clamp")
    _, state = net.step(torch.zeros(1, 2), net.initial_state(1))
    assert state.x[0, -1] == 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"rule": "stdp"}, "rule='stdp'"), ({"alpha": "yoked"}, "alpha='yoked'"), ({"coupling": "soft"}, "coupling"),
    ({"eta": 0.0}, "eta=0.0"), ({"eta": 1.5}, "eta=1.5"), ({"extra_neurons": -1}, "extra_neurons"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        PlasticRecurrentNet(2, 2, **kwargs)


def test_alpha_diagonal_zeroed_once_at_init_by_default_as_the_1000_bit_code():
    torch.manual_seed(3)
    zeroed = PlasticRecurrentNet(6, 6, extra_neurons=2)
    torch.manual_seed(3)
    kept = PlasticRecurrentNet(6, 6, extra_neurons=2, zero_alpha_diagonal=False)
    n = zeroed.n_neurons
    off = ~torch.eye(n, dtype=torch.bool)
    assert torch.all(zeroed.alpha.diagonal() == 0) and torch.all(kept.alpha.diagonal() != 0)
    assert torch.equal(zeroed.alpha[off], kept.alpha[off]) and torch.equal(zeroed.w, kept.w)  # same draws
    assert zeroed.alpha.requires_grad  # zeroed once, trained afterwards like every other entry
