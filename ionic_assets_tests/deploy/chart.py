"""What the Dagster Helm chart makes of deploy/helm/values.yaml, for the tests.

No Helm here: these functions restate, for the values these tests use, what the chart's templates
render (dagster 1.13 chart: `dagsterYaml.runLauncher.k8s` in the instance ConfigMap, and
`dagsterUserDeployments.k8sContainerContext`, the container context the user-code server hands
to runs and steps). Release "dagster" in namespace NAMESPACE.
"""

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VALUES = DEPLOY / "helm" / "values.yaml"
RELEASE = "dagster"
NAMESPACE = "ionic-assets"
DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's global.dagsterHome default
IMAGE = "registry.example.org/ionic-assets:0.1.0"


def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def user_deployment(vals: dict) -> dict:
    return vals["dagster-user-deployments"]["deployments"][0]


def user_env(vals: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in user_deployment(vals)["env"]}


def _camel_to_snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def run_launcher_config(vals: dict, kubeconfig_file: str) -> dict:
    """The K8sRunLauncher config of the rendered dagster.yaml (kubeconfig instead of in-cluster)."""
    launcher = vals["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    cfg = launcher["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": False,
        "kubeconfig_file": kubeconfig_file,
        "job_namespace": cfg.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": cfg["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": vals["global"]["postgresqlSecretName"],
    }
    for key in ("envConfigMaps", "envSecrets"):
        if cfg.get(key):
            config[_camel_to_snake(key)] = [item["name"] for item in cfg[key]]
    for key in ("envVars", "volumeMounts", "volumes", "labels", "resources"):
        if cfg.get(key):
            config[_camel_to_snake(key)] = cfg[key]
    if cfg.get("runK8sConfig"):
        config["run_k8s_config"] = {
            _camel_to_snake(k): v for k, v in cfg["runK8sConfig"].items() if v
        }
    return config


def container_context(vals: dict) -> dict:
    """The code location's container context (DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT)."""
    dep = user_deployment(vals)
    k8s = {
        "image_pull_policy": dep["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{dep['name']}-user-env"]
        + [c["name"] for c in dep.get("envConfigMaps", []) if "name" in c],
        "namespace": NAMESPACE,
        "service_account_name": f"{RELEASE}-dagster-user-deployments-user-deployments",
    }
    if dep.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in dep["envSecrets"] if "name" in s]
    for key in ("volumeMounts", "volumes", "labels", "resources"):
        if dep.get(key):
            k8s[_camel_to_snake(key)] = dep[key]
    if isinstance(dep.get("env"), list):
        k8s["env"] = dep["env"]
    return {"k8s": k8s}


def kubeconfig(path: Path) -> Path:
    """A kubeconfig naming a cluster nobody talks to (nothing here opens a connection)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "t", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "t", "user": {"token": "unused"}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                "current-context": "t",
            }
        )
    )
    return path
