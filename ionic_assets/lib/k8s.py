"""What a method's md_trajectories step asks of Kubernetes, as dagster-k8s tags.

ML potentials ask for one `nvidia.com/gpu` on the GPU pool; DFT methods ask for CPUs and memory
on the CPU pool. The node selectors and tolerations of each pool come from the deployment
(environment variables holding JSON, set in deploy/helm/values.yaml):

    IONIC_ASSETS_GPU_NODE_SELECTOR, IONIC_ASSETS_GPU_TOLERATIONS
    IONIC_ASSETS_CPU_NODE_SELECTOR, IONIC_ASSETS_CPU_TOLERATIONS

A method may override its requests in config/methods.yaml with `resources: {cpu, memory, gpu}`.
"""

from __future__ import annotations

import json
import os

from ionic_assets.lib.methods import Method

GPU_POOL = "gpu"
CPU_POOL = "cpu"

_DEFAULTS = {
    "gpu": {
        "node_selector": {"ionic-assets/pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"cpu": "4", "memory": "32Gi", "gpu": 1},
    },
    "cpu": {
        "node_selector": {"ionic-assets/pool": "cpu"},
        "tolerations": [],
        # The paper ran each AIMD simulation on one 64-CPU node with up to 32 GB.
        "resources": {"cpu": "64", "memory": "32Gi", "gpu": 0},
    },
}


def _from_env(pool: str, what: str):
    value = os.environ.get(f"IONIC_ASSETS_{pool.upper()}_{what.upper()}")
    return json.loads(value) if value else _DEFAULTS[pool][what]


def pool_of(method: Method) -> str:
    return GPU_POOL if method.uses_gpu else CPU_POOL


def pod_tags(method: Method) -> dict:
    """`dagster-k8s/config` op tags for the method's md_trajectories step."""
    pool = pool_of(method)
    wanted = {**_DEFAULTS[pool]["resources"], **method.settings.get("resources", {})}
    requests = {"cpu": str(wanted["cpu"]), "memory": str(wanted["memory"])}
    limits = {"memory": str(wanted["memory"])}
    if int(wanted["gpu"]):
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(wanted["gpu"])
    return {
        "dagster-k8s/config": {
            "container_config": {"resources": {"requests": requests, "limits": limits}},
            "pod_spec_config": {
                "node_selector": _from_env(pool, "node_selector"),
                "tolerations": _from_env(pool, "tolerations"),
            },
        }
    }
