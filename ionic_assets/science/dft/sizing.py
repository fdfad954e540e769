"""CPU, memory and node counts for DFT molecular dynamics, by system size.

The paper (appendix A.4) ran VASP on 64-CPU nodes with ``n_nodes = max(1, n_atoms // 64)`` and
says that this was always one node in practice (its largest cells would give more by the
formula), and reports at most 32 GB of memory per run (table 1). A Kubernetes step pod is one
node, so the platform requests one node's CPUs and memory and records `n_nodes` only.

Memory per node: a floor of 16 GiB (64 MPI ranks with ~0.25 GiB of code, buffers and FFT
workspace each), plus 1 GiB per 16 atoms for wavefunctions and grids, capped at the paper's
32 GiB: 64 atoms -> 20 GiB, 128 -> 24 GiB, 256 and more -> 32 GiB.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ionic_assets.science.errors import InputError

CPUS_PER_NODE = 64
MEMORY_FLOOR_GIB = 16.0
MEMORY_CEILING_GIB = 32.0
ATOMS_PER_GIB = 16
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def dft_resources(n_atoms: int, cpus_per_node: int = CPUS_PER_NODE) -> dict:
    """Resources of one DFT MD run of `n_atoms` atoms.

    Returns:
        cpu: CPUs per node (one MPI rank each), memory_GiB: memory per node in GiB,
        n_nodes: number of nodes, ``max(1, n_atoms // cpus_per_node)`` as in the paper.
    """
    if n_atoms < 1:
        raise InputError(f"dft_resources: n_atoms must be positive, got {n_atoms}")
    memory_GiB = MEMORY_FLOOR_GIB + n_atoms / ATOMS_PER_GIB
    return {
        "cpu": cpus_per_node,
        "memory_GiB": min(MEMORY_CEILING_GIB, memory_GiB),
        "n_nodes": max(1, n_atoms // cpus_per_node),
    }


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity set, lowered to the cgroup (pod) CPU limit.

    A Kubernetes CPU limit shows up only in ``cpu.max`` (cgroup v2), not in the affinity set.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))
