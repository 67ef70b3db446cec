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
