"""The tests' Kubernetes cluster: the real control plane (`k8s_local.py`), a GPU and a CPU node
played by the kubelet stand-in, and the namespace the Helm chart would prepare.

`Cluster.deploy(home, env)` makes a data home a deployment on it, as the chart would: the
instance's run launcher is dagster-k8s's K8sRunLauncher with the chart's config
(`deploy.chart.run_launcher_config`, pointing at this cluster's kubeconfig), and the user code's
environment reaches the step pods through a ConfigMap in the run launcher's `env_config_maps`,
as the chart's user-env ConfigMap does. It returns the environment of the `ionic-assets` command
(executor `k8s`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, config

from ionic_assets_tests.deploy import chart
from ionic_assets_tests.k8s_local import ControlPlane, control_plane
from ionic_assets_tests.kubelet_stand_in import CPU_NODE, GPU_NODE, KubeletStandIn

IMAGE = "ionic-assets:test"


@dataclass
class Cluster:
    plane: ControlPlane
    api: client.ApiClient
    kubelet: KubeletStandIn
    namespace: str = chart.NAMESPACE

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def deploy(self, home: Path, env: dict[str, str]) -> dict[str, str]:
        """Make `home` a deployment on this cluster; the `ionic-assets` command's environment."""
        user_env = {
            "IONIC_ASSETS_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            **env,
        }
        env_map = f"ionic-assets-user-env-{uuid.uuid4().hex[:8]}"
        self.core.create_namespaced_config_map(
            self.namespace, {"metadata": {"name": env_map}, "data": user_env}
        )
        launcher = chart.run_launcher_config(chart.values(), str(self.plane.kubeconfig))
        launcher["dagster_home"] = user_env["DAGSTER_HOME"]
        launcher["env_config_maps"] = [*launcher.get("env_config_maps", []), env_map]
        instance = {
            "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher}
        }
        (home / "dagster").mkdir(parents=True, exist_ok=True)
        (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(instance))
        return {**user_env, "IONIC_ASSETS_EXECUTOR": "k8s", "IONIC_ASSETS_K8S_IMAGE": IMAGE}

    def pods(self) -> list:
        return self.core.list_namespaced_pod(self.namespace).items


def _prepare_namespace(core: client.CoreV1Api, namespace: str) -> None:
    """What the chart and its operator create before any run: the namespace, the run launcher's
    service account, the warehouse Secret its envSecrets name."""
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": chart.RELEASE}})
    values = chart.values()["runLauncher"]["config"]["k8sRunLauncher"]
    for secret in values.get("envSecrets", []):
        core.create_namespaced_secret(namespace, {"metadata": {"name": secret["name"]}})


@contextlib.contextmanager
def local_cluster(logdir: Path) -> Iterator[Cluster]:
    with control_plane() as plane:
        api = config.new_client_from_config(str(plane.kubeconfig))
        kubelet = KubeletStandIn(api, [GPU_NODE, CPU_NODE], logdir).start()
        try:
            _prepare_namespace(client.CoreV1Api(api), chart.NAMESPACE)
            yield Cluster(plane, api, kubelet)
        finally:
            kubelet.stop()
            api.close()
