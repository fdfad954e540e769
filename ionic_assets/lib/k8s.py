"""What a method's md_trajectories step asks of Kubernetes, as dagster-k8s tags.

By kind (lib/methods.py):

    mlip      one `nvidia.com/gpu` (plus 4 CPUs, 32Gi) on the GPU pool
    dft       CPUs and memory on the CPU pool, sized per partition by its supercell's atom count
              (`dft_pod_resources`, applied by the executor in defs/executor.py; the static
              request below, 64 CPUs and 32Gi, is the fallback). The CPU *limit* equals the
              request: it is what the pod's cgroup `cpu.max` shows, so the DFT engine's MPI ranks
              (`science.dft.sizing.available_cpus`) match the CPUs Kubernetes gave the pod;
              requests equal to limits also make the pod Guaranteed QoS.
              A DFT pod also mounts a memory-backed /dev/shm (`SHM_VOLUME`): Open MPI keeps a
              4 MiB shared-memory segment per rank there (btl_vader), 256 MiB for 64 ranks,
              more than a container's default 64 MiB /dev/shm.
    imported  1 CPU and 4Gi on the CPU pool: the step only copies a trajectory file

The node selectors and tolerations of each pool come from the deployment (environment variables
holding JSON, set in deploy/helm/values.yaml):

    IONIC_ASSETS_GPU_NODE_SELECTOR, IONIC_ASSETS_GPU_TOLERATIONS
    IONIC_ASSETS_CPU_NODE_SELECTOR, IONIC_ASSETS_CPU_TOLERATIONS

A method may override its requests in config/methods.yaml with `resources: {cpu, memory, gpu}`;
for a dft method each key given there replaces the sized value.
"""

from __future__ import annotations

import math

from ionic_assets.lib import settings
from ionic_assets.lib.cells import stored_row
from ionic_assets.lib.methods import Method
from ionic_assets.lib.warehouse import Warehouse
from ionic_assets.science.dft.sizing import dft_resources

GPU_POOL = "gpu"
CPU_POOL = "cpu"

#: What a step pod of each pool asks for (its node selector and tolerations: `lib.settings`).
POOL_RESOURCES = {
    "gpu": {"cpu": "4", "memory": "32Gi", "gpu": 1},
    # The paper ran each AIMD simulation on one 64-CPU node with up to 32 GB.
    "cpu": {"cpu": "64", "memory": "32Gi", "gpu": 0},
}
#: An imported trajectory is only validated and copied: nothing is computed.
IMPORTED_RESOURCES = {"cpu": "1", "memory": "4Gi", "gpu": 0}
#: /dev/shm of DFT pods, for MPI's shared memory; what it holds counts against the memory limit.
SHM_VOLUME = {"name": "ionic-dshm", "empty_dir": {"medium": "Memory", "size_limit": "1Gi"}}
SHM_MOUNT = {"name": "ionic-dshm", "mount_path": "/dev/shm"}


def md_step_name(method_key: str) -> str:
    """Op name of a method's md_trajectories asset (its key path joined by '__')."""
    return f"{method_key}__md_trajectories"


def pool_of(method: Method) -> str:
    return GPU_POOL if method.uses_gpu else CPU_POOL


def _requirements(method: Method, wanted: dict) -> dict:
    """Kubernetes `resources` (requests, limits) of `wanted` after the method's own overrides."""
    wanted = {**wanted, **method.settings.get("resources", {})}
    requests = {"cpu": str(wanted["cpu"]), "memory": str(wanted["memory"])}
    limits = {"memory": str(wanted["memory"])}
    if method.kind == "dft":
        limits["cpu"] = requests["cpu"]
    if int(wanted["gpu"]):
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(wanted["gpu"])
    return {"requests": requests, "limits": limits}


def pod_tags(method: Method) -> dict:
    """`dagster-k8s/config` op tags for the method's md_trajectories step."""
    pool = pool_of(method)
    wanted = IMPORTED_RESOURCES if method.kind == "imported" else POOL_RESOURCES[pool]
    container = {"resources": _requirements(method, wanted)}
    pod = {
        "node_selector": settings.POOL_SETTINGS[(pool, "node_selector")].value(),
        "tolerations": settings.POOL_SETTINGS[(pool, "tolerations")].value(),
    }
    if method.kind == "dft":
        container["volume_mounts"] = [SHM_MOUNT]
        pod["volumes"] = [SHM_VOLUME]
    return {"dagster-k8s/config": {"container_config": container, "pod_spec_config": pod}}


def memory_quantity(GiB: float) -> str:
    """A Kubernetes memory quantity of at least `GiB` gibibytes, in whole MiB ("21760Mi")."""
    return f"{math.ceil(GiB * 1024)}Mi"


def dft_pod_resources(method: Method, n_atoms: int) -> dict:
    """Kubernetes `resources` of a dft method's pod simulating `n_atoms` atoms.

    CPUs and memory of one node from `science.dft.sizing.dft_resources` (the paper's rule),
    CPU and memory limits equal to the requests, the method's `resources` overrides on top.
    A step is one pod, so one node: the paper's `n_nodes` is not requested (see
    `dft_resources`); the executor logs it.
    """
    size = dft_resources(n_atoms)
    return _requirements(
        method, {"cpu": size["cpu"], "memory": memory_quantity(size["memory_GiB"]), "gpu": 0}
    )


def supercell_atoms(material_id: str, min_width_A: float) -> int:
    """Atoms in the material's simulation cell for widths >= `min_width_A`: the cell the
    `supercells` asset stored (`lib.cells`), the one md_trajectories simulates. InputError when
    none is stored for that width yet."""
    return int(stored_row(Warehouse(), material_id, float(min_width_A))["n_atoms"])
