"""One torch thread for this area's tests: on a small shared CPU box, two threads contend and run ~10x slower."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
