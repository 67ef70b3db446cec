import os

import pytest
import torch

torch.set_num_threads(1)


def data_dir_or_skip() -> str:
    path = os.environ.get("PLASTICBENCH_DATA")
    if not path or not os.path.isdir(path):
        pytest.skip("real data absent: set PLASTICBENCH_DATA to a folder holding the Omniglot/CIFAR-10 archives")
    return path


@pytest.fixture
def float64():
    """Double precision for oracle comparisons, restored afterwards for the other tests."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
