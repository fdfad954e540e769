"""The Kubernetes Job of one md_trajectories partition of each method, as the cluster would get it.

The definitions load with the environment deploy/helm/values.yaml gives the user code, the
instance has the K8sRunLauncher the chart configures, the executor is the one the definitions
choose (k8s_job_executor), and dagster-k8s's own `K8sStepHandler.launch_step` builds the Job
for the step of one (material, temperature) partition; only the Kubernetes API call is caught.
DFT pods are sized by the partition's material (defs/k8s_executor.py): the supercell that the
`supercells` asset stored for the run's protocol, materialized here first; the expected sizes are
computed independently, from the CIF with pymatgen and numpy and the paper's rule by hand.
"""

import base64
import math
import uuid
import warnings
import zlib
from types import SimpleNamespace

import dagster as dg
import dagster_k8s.executor
import numpy as np
import pytest
import yaml
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan
from dagster._core.executor.step_delegating import StepDelegatingExecutor
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
from dagster._core.storage.tags import get_multidimensional_partition_tag
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import deserialize_value
from dagster_k8s import K8sRunLauncher
from kubernetes.utils import parse_quantity
from pymatgen.core import Structure

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs import k8s_executor
from ionic_assets.defs.materials.partitions import material_partitions
from ionic_assets.defs.resources import SimulationResource
from ionic_assets.lib.k8s import dft_pod_resources, md_step_name, pod_tags
from ionic_assets.lib.metadata import RANGE_END_TAG, RANGE_START_TAG
from ionic_assets.lib.methods import Method, load_methods
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
        # ... and its warehouse, a DuckDB file there (the pods' is DuckLake on the chart's
        # Postgres), holding the supercells the DFT pods are sized from.
        env.setenv("IONIC_ASSETS_WAREHOUSE", "duckdb")
        env.setenv("DAGSTER_CURRENT_IMAGE", chart.IMAGE)
        defs = load_definitions()
        store_supercells(defs, ["gvd", "mdp"], "paper")
        store_supercells(defs, ["gvd"], "smoke")
        with chart_instance(vals, str(kubeconfig)) as instance:
            yield SimpleNamespace(values=vals, instance=instance, defs=defs)


def store_supercells(defs, materials: list[str], protocol: str) -> None:
    """Materialize `supercells` of `materials` for `protocol`'s width into this test's home."""
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(material_partitions.name, materials)
    resources = {**defs.resources, "simulation": SimulationResource(protocol=protocol)}
    for material in materials:
        result = dg.materialize(
            assets=defs.assets,
            selection=["supercells"],
            partition_key=material,
            instance=instance,
            resources=resources,
        )
        assert result.success


def launch_md_step(
    cluster, method, monkeypatch, partition=PARTITION, run_config=None, execution=None,
    partition_range=None,
):  # fmt: skip
    """The V1Job that k8s_job_executor submits for `method`'s md_trajectories at `partition`
    (None: a run without partition tags; or the (first, last) keys of `partition_range`, a
    backfill's multi-partition run), in a run with `run_config` whose executor has the
    config `execution`. Returns the step key, the run, the Job as a dict, its namespace, and what
    was logged on the step: [(level, message)]."""
    key = dg.AssetKey([method.key, "md_trajectories"])
    job_def = cluster.defs.resolve_implicit_job_def_def_for_assets([key])
    assert job_def.executor_def.name == "k8s"

    full_run_config = {**(run_config or {})}
    if execution is not None:
        full_run_config["execution"] = {"config": execution}
    resolved = ResolvedRunConfig.build(job_def, full_run_config)
    executor = job_def.executor_def.executor_creation_fn(
        dg.InitExecutorContext(
            job=InMemoryJob(job_def),
            executor_def=job_def.executor_def,
            executor_config=resolved.execution.execution_engine_config,
            instance=cluster.instance,
        )
    )
    # dagster-k8s's own executor and step handler, the handler extended by defs/k8s_executor.py.
    assert type(executor) is StepDelegatingExecutor
    handler = executor._step_handler  # noqa: SLF001
    assert type(handler) is k8s_executor.PartitionSizedK8sStepHandler
    assert isinstance(handler, dagster_k8s.executor.K8sStepHandler)
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

    run_tags = {}
    if partition_range is not None:
        run_tags = dict(zip((RANGE_START_TAG, RANGE_END_TAG), partition_range, strict=True))
    if partition is not None:
        run_tags = {
            "dagster/partition": str(partition),
            **{f"dagster/partition/{d}": k for d, k in partition.keys_by_dimension.items()},
        }
    plan = create_execution_plan(
        job_def, run_config=full_run_config, tags=run_tags, instance_ref=None
    )
    step_key = plan.get_step_by_key(md_step_name(method.key)).key
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
        run_config=full_run_config,
        job_code_origin=origin,
    )
    logged = []
    log = SimpleNamespace(
        info=lambda msg: logged.append(("info", msg)),
        warning=lambda msg: logged.append(("warning", msg)),
    )
    context = SimpleNamespace(
        execute_step_args=ExecuteStepArgs(origin, run.run_id, [step_key]),
        dagster_run=run,
        instance=cluster.instance,
        step_tags={step_key: plan.get_step_by_key(step_key).tags},
        get_step_context=lambda key: SimpleNamespace(
            step=plan.get_step_by_key(key),
            log=log,
            job=InMemoryJob(job_def),
            run_config=full_run_config,
        ),
    )
    list(handler.launch_step(context))
    assert len(submitted) == 1
    job, namespace = submitted[0]
    return step_key, run, job.to_dict(), namespace, logged


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


SIMULATED = [m for m in load_methods().values() if m.kind in ("mlip", "dft")]
DFT = [m for m in SIMULATED if m.kind == "dft"]
GiB = 2**30


def expected_n_atoms(material: str, min_width_A: float = 10.0) -> int:
    """Atoms of the material's supercell, computed here from the CIF: the smallest diagonal
    replication whose perpendicular widths (volume / area of the opposite face) reach
    `min_width_A`, times the atoms of the (ordered) unit cell."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = Structure.from_file(SHARED_OBELIX / "all_randomized_cifs" / f"{material}.cif")
    assert unit.is_ordered
    a = unit.lattice.matrix
    volume = abs(np.linalg.det(a))
    widths = [volume / np.linalg.norm(np.cross(a[(i + 1) % 3], a[(i + 2) % 3])) for i in range(3)]
    return len(unit) * math.prod(max(1, math.ceil(min_width_A / w)) for w in widths)


def assert_sized_for(job: dict, n_atoms: int) -> None:
    """A DFT pod of `n_atoms` atoms as the paper sizes it: one 64-CPU node, 16 GiB plus 1 GiB
    per 16 atoms up to 32 GiB; limits equal to requests (the CPU limit is what the pod's cgroup
    cpu.max, hence the MPI rank count, shows); no GPU; the CPU pool's placement is checked by
    the caller."""
    template = job["spec"]["template"]
    (container,) = template["spec"]["containers"]
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert resources["requests"]["cpu"] == "64"
    memory = parse_quantity(resources["requests"]["memory"])
    assert memory == min(32.0, 16.0 + n_atoms / 16) * GiB
    # A memory-backed /dev/shm for Open MPI's shared-memory segments (4 MiB per rank).
    assert {"name": "ionic-dshm", "mount_path": "/dev/shm"} in [
        {k: m[k] for k in ("name", "mount_path")} for m in container["volume_mounts"]
    ]
    (shm,) = [v for v in template["spec"]["volumes"] if v["name"] == "ionic-dshm"]
    assert shm["empty_dir"] == {"medium": "Memory", "size_limit": "1Gi"}
    assert template["metadata"]["annotations"] == {
        k8s_executor.SIZING_ANNOTATION: "supercell",
        k8s_executor.N_ATOMS_ANNOTATION: str(n_atoms),
    }


@pytest.mark.parametrize("method", SIMULATED, ids=lambda m: m.name)
def test_md_trajectories_step_job(cluster, method, monkeypatch):
    step_key, run, job, namespace, logged = launch_md_step(cluster, method, monkeypatch)
    env = chart.user_env(cluster.values)
    pool = "gpu" if method.uses_gpu else "cpu"
    tags = pod_tags(method)["dagster-k8s/config"]

    assert namespace == chart.NAMESPACE
    assert job["metadata"]["labels"]["dagster/op"] == step_key
    assert job["metadata"]["labels"]["dagster/run-id"] == run.run_id
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    # The image of the code location, unless the method's engine has one of its own.
    engine = method.engine.upper()
    assert container["image"] == env.get(f"IONIC_ASSETS_K8S_IMAGE_{engine}", chart.IMAGE)

    # Resources: GPU methods one nvidia.com/gpu (a limit, as Kubernetes requires), CPU/memory;
    # DFT methods the CPUs and memory of this partition's material.
    resources = container["resources"]
    wanted = tags["container_config"]["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert "nvidia.com/gpu" not in resources["requests"] or method.uses_gpu
    if method.uses_gpu:
        assert {k: resources[k] for k in ("requests", "limits")} == wanted
        assert resources["limits"]["nvidia.com/gpu"] == "1"
        assert resources["requests"]["nvidia.com/gpu"] == "1"
        assert "cpu" not in resources["limits"]
        assert logged == []
        assert not job["spec"]["template"]["metadata"]["annotations"]
    else:
        assert_sized_for(job, expected_n_atoms(PARTITION.keys_by_dimension["material"]))
        ((level, message),) = logged
        assert level == "info" and f"{method.name}: DFT pod for material gvd" in message
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
    # The warehouse settings: DuckLake on the chart's Postgres, its password from the Secret.
    assert step_env["IONIC_ASSETS_WAREHOUSE"] == "ducklake"
    assert step_env["IONIC_ASSETS_DUCKLAKE_CATALOG"] == env["IONIC_ASSETS_DUCKLAKE_CATALOG"]
    secrets = [e["secret_ref"]["name"] for e in container["env_from"] if e.get("secret_ref")]
    assert "ionic-assets-warehouse" in secrets
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


def test_a_batched_run_of_many_partitions_is_one_gpu_pod(cluster, monkeypatch):
    sevenn = load_methods()["sevenn-0"]
    assert sevenn.batchable
    step_key, run, job, _, _ = launch_md_step(
        cluster, sevenn, monkeypatch, partition=None, partition_range=("gvd|800", "gvd|1200")
    )  # launch_md_step checks that exactly one Job was submitted for the step
    assert run.tags[RANGE_END_TAG] == "gvd|1200"
    assert step_key == "sevenn_0__md_trajectories"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_steps_run_in_the_image_of_their_engine(cluster, monkeypatch):
    """IONIC_ASSETS_K8S_IMAGE_<ENGINE>: the md_trajectories pods of MACE methods in the MACE-only
    image, of DFT methods in their engine's image; every other step in the code location's."""
    images = {
        "mace": "registry.example.org/ionic-assets:0.1.0-mace",
        "cp2k": "registry.example.org/ionic-assets:0.1.0-cp2k",
        "vasp": "registry.example.org/my-vasp:6.4",
    }
    for engine, image in images.items():
        monkeypatch.setenv(f"IONIC_ASSETS_K8S_IMAGE_{engine.upper()}", image)
    monkeypatch.setattr(cluster, "defs", load_definitions())
    assert {m.engine for m in SIMULATED} >= set(images)
    for method in SIMULATED:
        job = launch_md_step(cluster, method, monkeypatch)[2]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == images.get(method.engine, chart.IMAGE), method.name
        if method.kind == "dft":  # the image override and the sizing merge
            assert_sized_for(job, expected_n_atoms("gvd"))


@pytest.mark.parametrize("method", DFT, ids=lambda m: m.name)
def test_dft_pods_are_sized_by_the_partitions_material(cluster, method, monkeypatch):
    """A small and a large supercell: the paper's rule by hand, 16 GiB + n_atoms / 16 GiB."""
    memory = {}
    for material, n_atoms, GiB_by_hand, nodes in (
        ("mdp", 84, 21.25, ""),
        ("gvd", 192, 28.0, " (the paper's rule would use 3 nodes; a step pod is one node)"),
    ):
        assert expected_n_atoms(material) == n_atoms  # 42 atoms x 1x1x2; 4 atoms x 4x4x3
        partition = dg.MultiPartitionKey({"material": material, "temperature_K": "1200"})
        *_, job, _, logged = launch_md_step(cluster, method, monkeypatch, partition)
        assert_sized_for(job, n_atoms)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        memory[material] = parse_quantity(container["resources"]["limits"]["memory"])
        assert memory[material] == GiB_by_hand * GiB
        assert logged == [
            (
                "info",
                f"{method.name}: DFT pod for material {material} sized for {n_atoms} atoms "
                "(supercell of protocol paper, widths >= 10 Å): 64 CPUs and "
                f"{int(GiB_by_hand * 1024)}Mi{nodes}",
            )
        ]
    assert memory["mdp"] < memory["gvd"]


def test_dft_pod_follows_the_runs_protocol(cluster, monkeypatch):
    """`smoke` runs on the unit cell (widths >= 0 Å): gvd's 4 atoms, 16.25 GiB. The protocol
    comes from the run config of the `simulation` resource, as the step itself reads it."""
    method = DFT[0]
    run_config = {"resources": {"simulation": {"config": {"protocol": "smoke"}}}}
    *_, job, _, logged = launch_md_step(cluster, method, monkeypatch, run_config=run_config)
    assert expected_n_atoms("gvd", 0.0) == 4
    assert_sized_for(job, 4)
    assert "protocol smoke, widths >= 0 Å" in logged[0][1]
    # The deployment's IONIC_ASSETS_PROTOCOL when the run does not say.
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke")
    assert_sized_for(launch_md_step(cluster, method, monkeypatch)[2], 4)


@pytest.mark.parametrize(
    "material, reason",
    [
        ("0ii", "no supercell for widths >= 10 Å yet"),  # supercells not materialized
        (None, "the run has no dagster/partition/material tag"),
    ],
)
def test_dft_pod_falls_back_to_the_static_request(cluster, monkeypatch, material, reason):
    """A material that cannot be sized keeps the method's static request, with a warning on the
    step; the launch itself never fails for it."""
    method = DFT[0]
    partition = (
        None
        if material is None
        else dg.MultiPartitionKey({"material": material, "temperature_K": "1000"})
    )
    *_, job, _, logged = launch_md_step(cluster, method, monkeypatch, partition)
    template = job["spec"]["template"]
    (container,) = template["spec"]["containers"]
    static = pod_tags(method)["dagster-k8s/config"]["container_config"]["resources"]
    assert {k: container["resources"][k] for k in ("requests", "limits")} == static
    assert static["requests"] == static["limits"] == {"cpu": "64", "memory": "32Gi"}
    assert template["spec"]["node_selector"] == {"ionic-assets/pool": "cpu"}
    assert template["metadata"]["annotations"][k8s_executor.SIZING_ANNOTATION] == "fallback"
    ((level, message),) = logged
    assert level == "warning"
    assert reason in message and "using the method's static request of 64 CPUs and 32Gi" in message


def test_executor_per_step_config_still_wins_over_sizing(cluster, monkeypatch):
    """`per_step_k8s_config` (executor config) is merged after the sizing, as after op tags."""
    method = DFT[0]
    override = {"container_config": {"resources": {"requests": {"cpu": "8"}}}}
    execution = {"per_step_k8s_config": {f"{method.key}__md_trajectories": override}}
    job = launch_md_step(cluster, method, monkeypatch, execution=execution)[2]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"] == "8"
    sized_memory = min(32.0, 16.0 + expected_n_atoms("gvd") / 16) * GiB
    assert parse_quantity(container["resources"]["requests"]["memory"]) == sized_memory


def test_method_resources_override_the_sized_ones():
    """`resources:` of a dft method in methods.yaml replaces the sized value, key by key."""
    method = Method("dft-small-nodes", "dft", settings={"engine": "cp2k", "resources": {"cpu": 32}})
    resources = dft_pod_resources(method, 192)
    assert resources["requests"] == resources["limits"] == {"cpu": "32", "memory": "28672Mi"}


def test_imported_steps_are_small():
    """An imported trajectory is only copied: 1 CPU and 4Gi, no GPU, no CPU limit."""
    method = Method("aimd-elsewhere", "imported")
    config = pod_tags(method)["dagster-k8s/config"]
    resources = config["container_config"]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}


def test_material_tag_is_the_partition_dimensions():
    assert get_multidimensional_partition_tag(material_partitions.name) == k8s_executor.MATERIAL_TAG
