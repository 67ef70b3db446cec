"""Non-plastic baselines run under the same protocol as the plastic models."""
from baselines.lstm import LSTMBaseline, LSTMState
from baselines.rnn import NonPlasticRNN

__all__ = ["LSTMBaseline", "LSTMState", "NonPlasticRNN"]
