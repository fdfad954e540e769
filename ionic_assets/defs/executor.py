"""Which executor runs the steps of a run, chosen by one setting: IONIC_ASSETS_EXECUTOR.

    unset or "local"  Dagster's default executor, unchanged (`multi_or_in_process_executor`:
                      each step a subprocess of the run); `dagster dev` and the README's commands.
    "k8s"             `dagster_k8s.k8s_job_executor`, built by dagster-k8s, same name "k8s" and
                      config schema: each step, so each (material, temperature) partition of
                      `<method>/md_trajectories`, is its own Kubernetes Job, with the pod
                      resources, node selector and tolerations of its op tags (lib/k8s.py). One
                      addition (defs/k8s_executor.py): the md_trajectories pod of a dft method
                      asks for the CPUs and memory of the run's material, which op tags, static
                      per asset, cannot. deploy/helm/values.yaml sets this on the user code.

In the cluster the Dagster chart already gives each step pod the code location's image
(DAGSTER_CURRENT_IMAGE), namespace, service account, env and volumes. These settings are read only
where it does not:

    IONIC_ASSETS_K8S_IMAGE            image of every step pod (default: the code location's image)
    IONIC_ASSETS_K8S_NAMESPACE        namespace of the step Jobs (default: the run launcher's)
    IONIC_ASSETS_K8S_IMAGE_<ENGINE>   image of the md_trajectories steps of the methods whose
                                      `Method.engine` (model family or DFT engine) is <ENGINE>,
                                      upper case: IONIC_ASSETS_K8S_IMAGE_MACE for the MACE-only
                                      image with MACE's own e3nn pin, IONIC_ASSETS_K8S_IMAGE_VASP
                                      for an image with your VASP, IONIC_ASSETS_K8S_IMAGE_CP2K
                                      (docs/kubernetes.md)
"""

from __future__ import annotations

import dagster as dg

from ionic_assets.defs.k8s_executor import k8s_partition_sized_executor
from ionic_assets.lib import settings
from ionic_assets.lib.k8s import md_step_name
from ionic_assets.lib.methods import load_methods
from ionic_assets.science.errors import InputError

EXECUTOR_ENV = settings.EXECUTOR.name
CHOICES = ("local", "k8s")


def executor_choice() -> str:
    choice = (settings.EXECUTOR.read() or "local").strip().lower()
    if choice not in CHOICES:
        raise InputError(f"{EXECUTOR_ENV}={choice!r}: must be one of {', '.join(CHOICES)}")
    return choice


def engine_images() -> dict[str, dict]:
    """`per_step_k8s_config` giving the md_trajectories steps of an engine their own image."""
    overrides = {}
    for method in load_methods().values():
        image = settings.K8S_ENGINE_IMAGE.read(engine=method.engine)
        if image:
            overrides[md_step_name(method.key)] = {"container_config": {"image": image}}
    return overrides


def k8s_executor_config() -> dict:
    """Config of the k8s executor, from the environment; empty where the chart injects it."""
    config: dict = {}
    if image := settings.K8S_IMAGE.read():
        config["job_image"] = image
    if namespace := settings.K8S_NAMESPACE.read():
        config["job_namespace"] = namespace
    if per_step := engine_images():
        config["per_step_k8s_config"] = per_step
    return config


def build_executor() -> dg.ExecutorDefinition | None:
    """The executor for IONIC_ASSETS_EXECUTOR; None keeps Dagster's default."""
    if executor_choice() == "local":
        return None
    config = k8s_executor_config()
    if not config:
        return k8s_partition_sized_executor
    return k8s_partition_sized_executor.configured(config)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(executor=build_executor())
