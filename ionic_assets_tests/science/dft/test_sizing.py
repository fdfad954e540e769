"""DFT pod sizes by system size, and the CPU count seen through a cgroup limit."""

import os

import pytest

from ionic_assets.science.dft.sizing import available_cpus, dft_resources
from ionic_assets.science.errors import InputError


@pytest.mark.parametrize(
    ("n_atoms", "memory_GiB", "n_nodes"),
    [
        (4, 16.25, 1),
        (64, 20.0, 1),
        (127, 23.9375, 1),
        (128, 24.0, 2),
        (256, 32.0, 4),
        (900, 32.0, 14),
    ],
)
def test_paper_node_rule_and_bounded_memory(n_atoms, memory_GiB, n_nodes):
    assert dft_resources(n_atoms) == {"cpu": 64, "memory_GiB": memory_GiB, "n_nodes": n_nodes}


def test_cpus_per_node_sets_the_node_rule():
    assert dft_resources(64, cpus_per_node=32) == {"cpu": 32, "memory_GiB": 20.0, "n_nodes": 2}


def test_no_atoms_is_an_input_error():
    with pytest.raises(InputError, match="n_atoms"):
        dft_resources(0)


def test_available_cpus_honours_a_cgroup_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert available_cpus(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")  # half a CPU: still one process
    assert available_cpus(cpu_max) == 1
    assert available_cpus(tmp_path / "absent") == affinity
