import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Two threads on two shared cores thrash badly; one is faster for these small cells.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
