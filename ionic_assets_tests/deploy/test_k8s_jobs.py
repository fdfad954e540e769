"""The Kubernetes Job of one md_trajectories partition of each method, as the cluster would get it.

The definitions load with the environment deploy/helm/values.yaml gives the user code, the
instance has the K8sRunLauncher the chart configures, the executor is the one the definitions
choose (k8s_job_executor), and dagster-k8s's own `K8sStepHandler.launch_step` builds the Job
for the step of one (material, temperature) partition; only the Kubernetes API call is caught.
"""

import base64
import uuid
import zlib
from types import SimpleNamespace

import dagster as dg
import dagster_k8s.executor
import pytest
import yaml
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan
from dagster._core.instance import DagsterInstance, InstanceType
from dagster._core.origin import (
    DEFAULT_DAGSTER_ENTRY_POINT,
    JobPythonOrigin,
    RepositoryPythonOrigin,
)
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import deserialize_value
from dagster_k8s import K8sRunLauncher

from ionic_assets.lib.k8s import pod_tags
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.runner import load_definitions
from ionic_assets_tests.conftest import SHARED_OBELIX
from ionic_assets_tests.deploy import chart

PARTITION = dg.MultiPartitionKey({"material": "gvd", "temperature_K": "1000"})


def chart_instance(vals: dict, kubeconfig: str) -> DagsterInstance:
    """An in-memory instance whose run launcher is the chart's K8sRunLauncher (its config checked
    against dagster-k8s's schema)."""
    config = process_config(
        K8sRunLauncher.config_type(), chart.run_launcher_config(vals, kubeconfig)
    )
    assert config.success, config.errors
    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=InMemoryEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=K8sRunLauncher.from_config_value(None, config.value),
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Env of the user-code pod, a Dagster instance with the chart's K8sRunLauncher, the defs."""
    vals = chart.values()
    home = tmp_path_factory.mktemp("home")
    kubeconfig = chart.kubeconfig(home / "kubeconfig")
    with pytest.MonkeyPatch.context() as env:
        for name, value in chart.user_env(vals).items():
            env.setenv(name, value)
        # This test's data home and OBELiX copy (the pod's are on the shared volume).
        env.setenv("IONIC_ASSETS_HOME", str(home))
        env.setenv("OBELIX_DATA_DIR", str(SHARED_OBELIX))
        env.setenv("DAGSTER_CURRENT_IMAGE", chart.IMAGE)
        with chart_instance(vals, str(kubeconfig)) as instance:
            yield SimpleNamespace(values=vals, instance=instance, defs=load_definitions())


def launch_md_step(cluster, method, monkeypatch):
    """The V1Job that k8s_job_executor submits for `method`'s md_trajectories at PARTITION."""
    key = dg.AssetKey([method.key, "md_trajectories"])
    job_def = cluster.defs.resolve_implicit_job_def_def_for_assets([key])
    assert job_def.executor_def.name == "k8s"

    run_config = ResolvedRunConfig.build(job_def, {})
    executor = job_def.executor_def.executor_creation_fn(
        dg.InitExecutorContext(
            job=InMemoryJob(job_def),
            executor_def=job_def.executor_def,
            executor_config=run_config.execution.execution_engine_config,
            instance=cluster.instance,
        )
    )
    handler = executor._step_handler  # noqa: SLF001  (dagster_k8s.executor.K8sStepHandler)
    submitted = []
    handler._api_client = SimpleNamespace(  # noqa: SLF001
        create_namespaced_job_with_retries=lambda body, namespace: submitted.append(
            (body, namespace)
        )
    )
    # launch_step announces the step with an event that needs a live run; not under test here.
    monkeypatch.setattr(
        dagster_k8s.executor,
        "DagsterEvent",
        SimpleNamespace(step_worker_starting=lambda *args, **kwargs: None),
    )

    run_tags = {
        "dagster/partition": str(PARTITION),
        **{f"dagster/partition/{dim}": key for dim, key in PARTITION.keys_by_dimension.items()},
    }
    plan = create_execution_plan(job_def, run_config={}, tags=run_tags, instance_ref=None)
    step_key = next(s.key for s in plan.steps if s.key.startswith(method.key))
    origin = JobPythonOrigin(
        job_def.name,
        RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("ionic_assets.definitions", "defs", None),
            container_image=chart.IMAGE,
            entry_point=DEFAULT_DAGSTER_ENTRY_POINT,
            container_context=chart.container_context(cluster.values),
        ),
    )
    run = dg.DagsterRun(
        job_name=job_def.name,
        run_id=str(uuid.uuid4()),
        tags=run_tags,
        job_code_origin=origin,
    )
    context = SimpleNamespace(
        execute_step_args=ExecuteStepArgs(origin, run.run_id, [step_key]),
        dagster_run=run,
        instance=cluster.instance,
        step_tags={step_key: plan.get_step_by_key(step_key).tags},
        get_step_context=lambda key: SimpleNamespace(step=plan.get_step_by_key(key)),
    )
    list(handler.launch_step(context))
    assert len(submitted) == 1
    job, namespace = submitted[0]
    return step_key, run, job.to_dict(), namespace


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


SIMULATED = [m for m in load_methods().values() if m.kind in ("mlip", "dft")]


@pytest.mark.parametrize("method", SIMULATED, ids=lambda m: m.name)
def test_md_trajectories_step_job(cluster, method, monkeypatch):
    step_key, run, job, namespace = launch_md_step(cluster, method, monkeypatch)
    env = chart.user_env(cluster.values)
    pool = "gpu" if method.uses_gpu else "cpu"
    tags = pod_tags(method)["dagster-k8s/config"]

    assert namespace == chart.NAMESPACE
    assert job["metadata"]["labels"]["dagster/op"] == step_key
    assert job["metadata"]["labels"]["dagster/run-id"] == run.run_id
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    # The image of the code location, unless the method's model family has one of its own.
    family = str((method.settings.get("model") or {}).get("family", "")).upper()
    assert container["image"] == env.get(f"IONIC_ASSETS_K8S_IMAGE_{family}", chart.IMAGE)

    # Resources: GPU methods one nvidia.com/gpu (a limit, as Kubernetes requires), CPU/memory.
    resources = container["resources"]
    wanted = tags["container_config"]["resources"]
    assert resources["requests"]["cpu"] == wanted["requests"]["cpu"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    if method.uses_gpu:
        assert resources["limits"]["nvidia.com/gpu"] == "1"
        assert resources["requests"]["nvidia.com/gpu"] == "1"
    else:
        assert "nvidia.com/gpu" not in resources["limits"]
    # Nothing from the deployment leaks into the step's requests (values set no `resources`).
    assert set(resources["limits"]) == set(wanted["limits"])

    # Placement: the pool's node selector and tolerations, from the chart's env.
    assert pod["node_selector"] == yaml.safe_load(env[f"IONIC_ASSETS_{pool.upper()}_NODE_SELECTOR"])
    tolerations = [
        {k: v for k, v in t.items() if v is not None} for t in pod.get("tolerations") or []
    ]
    assert tolerations == yaml.safe_load(env[f"IONIC_ASSETS_{pool.upper()}_TOLERATIONS"])

    # The command: `dagster api execute_step`, its arguments (this step of this run) in env.
    assert container["args"] == ["dagster", "api", "execute_step"]
    step_env = _env(container)
    args = deserialize_value(
        zlib.decompress(
            base64.b64decode(step_env["DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"])
        ).decode(),
        ExecuteStepArgs,
    )
    assert args.step_keys_to_execute == [step_key] == [f"{method.key}__md_trajectories"]
    assert args.run_id == run.run_id
    assert step_env["DAGSTER_RUN_STEP_KEY"] == step_key

    # The chart's env and shared volume reach the step: the executor switch, the data home.
    assert step_env["IONIC_ASSETS_EXECUTOR"] == "k8s"
    assert step_env["IONIC_ASSETS_HOME"] == "/data/ionic"
    mounts = [(m["name"], m["mount_path"]) for m in container["volume_mounts"]]
    assert ("ionic-data", "/data/ionic") in mounts
    # Kubernetes refuses a pod with two mounts at one path or two volumes of one name.
    assert len({path for _, path in mounts}) == len(mounts)
    assert len({v["name"] for v in pod["volumes"]}) == len(pod["volumes"])
    claims = {v["name"]: v for v in pod["volumes"]}
    assert claims["ionic-data"]["persistent_volume_claim"]["claim_name"] == "ionic-assets-data"
    # Non-root, and the volume group-owned by the image's user.
    assert pod["security_context"]["run_as_non_root"] is True
    assert pod["security_context"]["fs_group"] == 1000
    assert pod["service_account_name"].endswith("user-deployments")


def test_mace_steps_can_run_in_the_mace_only_image(cluster, monkeypatch):
    """IONIC_ASSETS_K8S_IMAGE_MACE: MACE's md_trajectories pods use the MACE-only image."""
    mace_image = "registry.example.org/ionic-assets:0.1.0-mace"
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE_MACE", mace_image)
    monkeypatch.setattr(cluster, "defs", load_definitions())
    for method in SIMULATED:
        if method.kind != "mlip":
            continue
        job = launch_md_step(cluster, method, monkeypatch)[2]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        family = method.settings["model"]["family"]
        assert container["image"] == (mace_image if family == "mace" else chart.IMAGE)
