import pytest
import torch

from baselines.lstm import LSTMBaseline


@pytest.mark.parametrize("readout", ["slice", "linear"])
def test_forward_equals_stepping(readout):
    torch.manual_seed(0)
    net = LSTMBaseline(4, 3, hidden_size=6, input_scale=2.0, readout=readout)
    x = torch.randn(5, 2, 4)
    out, final = net(x)
    state = net.initial_state(2)
    for t in range(5):
        y, state = net.step(x[t], state)
        torch.testing.assert_close(out[t], y)
    torch.testing.assert_close(final.c, state.c)


def test_hardwired_clamping_copies_the_sign_of_each_input():
    torch.manual_seed(0)
    net = LSTMBaseline(50, 50, hidden_size=200, input_scale=100.0, clamp_inputs=True)
    with torch.no_grad():
        pattern = torch.sign(torch.randn(1, 50))
        y, _ = net.step(pattern, net.initial_state(1))
    assert torch.equal(torch.sign(y), pattern)


def test_reference_lstm_parameter_count():
    net = LSTMBaseline(50, 50, hidden_size=2000)
    assert sum(p.numel() for p in net.parameters()) == 4 * (2000 * 50 + 2000 * 2000 + 2 * 2000)


def test_slice_readout_needs_enough_units():
    with pytest.raises(ValueError, match="hidden_size >= output_size"):
        LSTMBaseline(4, 10, hidden_size=5)


def reference_clamp(weight_ih, bias_ih, bias_hh, n_inputs, hidden):
    """The reference's clamp written out unit by unit (gate order i, f, g, o): what every forward must see."""
    weight_ih, bias_ih, bias_hh = weight_ih.clone(), bias_ih.clone(), bias_hh.clone()
    for j in range(n_inputs):
        weight_ih[2 * hidden + j, :] = 0.0
        weight_ih[2 * hidden + j, j] = 10.0
        bias_ih[j], bias_ih[hidden + j], bias_ih[2 * hidden + j], bias_ih[3 * hidden + j] = 10.0, -1000.0, 0.0, 10.0
        for gate in range(4):
            bias_hh[gate * hidden + j] = 0.0
    return weight_ih, bias_ih, bias_hh


def test_clamp_holds_after_optimizer_steps_and_equals_the_reference():
    torch.manual_seed(0)
    n, hidden = 5, 12
    net = LSTMBaseline(n, n, hidden_size=hidden, input_scale=100.0, clamp_inputs=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-1)
    for _ in range(4):
        out, _ = net(torch.randn(3, 2, n))
        loss = (out - 1.0).pow(2).sum() + net.lstm.weight_ih_l0.pow(2).sum() + net.lstm.bias_hh_l0.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    lstm = net.lstm
    moved = lstm.weight_ih_l0.detach().clone()
    expected = reference_clamp(moved, lstm.bias_ih_l0.detach(), lstm.bias_hh_l0.detach(), n, hidden)
    assert not torch.equal(moved, expected[0])  # the optimizer did move the clamped entries...
    net.initial_state(1)  # ...and the next episode starts from the reference pattern again
    for got, want in zip((lstm.weight_ih_l0, lstm.bias_ih_l0, lstm.bias_hh_l0), expected):
        torch.testing.assert_close(got.detach(), want, rtol=0, atol=0)
    free = torch.ones(4 * hidden, dtype=torch.bool)
    free[2 * hidden: 2 * hidden + n] = False
    assert torch.equal(lstm.weight_ih_l0[free].detach(), moved[free])  # the other units train freely


def test_clamped_forward_uses_the_reference_pattern_whatever_the_parameters_hold():
    torch.manual_seed(1)
    n, hidden = 6, 10
    net = LSTMBaseline(n, n, hidden_size=hidden, input_scale=100.0, clamp_inputs=True)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))  # what many optimizer steps could do to every entry
        lstm = net.lstm
        moved = [t.clone() for t in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)]
        weight_ih, bias_ih, bias_hh = reference_clamp(moved[0], moved[2], moved[3], n, hidden)
        plain = torch.nn.LSTM(n, hidden)
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               (weight_ih, moved[1], bias_ih, bias_hh)):
            getattr(plain, name).copy_(value)
        x = torch.randn(4, 3, n)
        out, _ = net(x)
        want, _ = plain(100.0 * x)
    torch.testing.assert_close(out, want[..., :n])
