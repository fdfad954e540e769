"""What a cluster does to a run, on the tests' real Kubernetes control plane (`cluster.py`):
a step pod deleted mid-MD (preemption) and a pod that no node can take.

The runs are `ionic-assets run` with the executor `k8s`; the reference of a resumed MD is the same
run uninterrupted on the cluster (each step its own process there, as a pod's is: a float32 model
in the test's own process differs in the last bits, see test_main_job.py). MD uses the smoke
protocol cut to 100 steps with a checkpoint every 25 (as in defs/test_step_retries.py), so that a
pod can be deleted between a checkpoint and the end.
"""

import threading
import time

import dagster as dg
import h5py
import numpy as np
import pytest
import yaml

from ionic_assets.lib import settings
from ionic_assets.lib.k8s import md_step_name
from ionic_assets.lib.methods import get_methods
from ionic_assets_tests.defs.test_step_retries import _short_smoke
from ionic_assets_tests.stored import cli_run, query

#: (method, temperatures, extra environment, deletion grace): CHGNet's MD one partition per step
#: (ASE), its pod force-deleted (grace 0: SIGKILL, as when its node is lost; found by the step
#: health check); SevenNet-0's as one batched step over two partitions (torch-sim), as a
#: backfill's run does, its pod deleted gracefully (SIGTERM first, as a drain or preemption:
#: defs/preemption.py).
CASES = {
    "ase-node-lost": ("chgnet", ["1000"], {}, 0),
    "batched-pod-deleted": (
        "sevenn-0",
        ["800", "900"],
        {"IONIC_ASSETS_MD_ENGINE": "torch-sim"},
        None,
    ),
}
#: What the retry says in each case.
CAUSES = {0: "was deleted or lost with its node", None: "StepPreempted"}
DEADLINE_S = 600.0


def _argv(method: str, temperatures: list[str]) -> list[str]:
    return ["run", "--methods", method, "--protocol", "smoke", "--materials", "gvd",
            "--temperatures", ",".join(temperatures)]  # fmt: skip


def _frames(home) -> dict[tuple, np.ndarray]:
    rows = query(home, "SELECT temperature_K, trajectory_path FROM md_trajectories")
    frames = {}
    for temperature, path in rows.itertuples(index=False):
        with h5py.File(path if path.startswith("/") else home / path) as h5:
            for name in ("positions_A", "time_ps", "step"):
                frames[(temperature, name)] = h5[name][()]
    return frames


def _delete_md_pod_after_a_checkpoint(cluster, home, step: str, grace_s, deleted: list) -> None:
    """Once a checkpoint of the MD exists, delete its running pod with `grace_s` (None: the
    pod's own grace period); `deleted` gets the pod's name."""
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        if any((home / "trajectories").rglob("*.ckpt")):
            for pod in cluster.core.list_namespaced_pod(
                cluster.namespace, label_selector=f"dagster/op={step}"
            ).items:
                if pod.status.phase == "Running" and pod.metadata.name not in deleted:
                    cluster.core.delete_namespaced_pod(
                        pod.metadata.name, cluster.namespace, grace_period_seconds=grace_s
                    )
                    deleted.append(pod.metadata.name)
                    return
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_a_pod_deleted_mid_md_is_retried_and_resumes_bitwise(case, k8s_cluster, tmp_path):
    method, temperatures, extra, grace_s = CASES[case]
    # One thread in every pod: a reduction's order, so a float32 model's last bits, depends on
    # the thread count (SevenNet's batched MD differs run to run from the third frame on with 2).
    env = {"IONIC_ASSETS_PROTOCOLS_FILE": str(_short_smoke(tmp_path / "protocols.yaml")),
           "IONIC_ASSETS_STEP_RETRY_DELAY_S": "0", "OMP_NUM_THREADS": "1", **extra}  # fmt: skip
    obelix = {"OBELIX_DATA_DIR": settings.OBELIX_DATA_DIR.read(), **env}
    reference = tmp_path / "uninterrupted"
    deployed = k8s_cluster.deploy(reference, obelix)
    with cli_run(reference, _argv(method, temperatures), **deployed) as (rc, _):
        assert rc == 0
    uninterrupted = _frames(reference)

    home = tmp_path / "cluster"
    deployed = k8s_cluster.deploy(home, obelix)
    step = md_step_name(get_methods([method])[0].key)
    deleted: list = []
    watcher = threading.Thread(
        target=_delete_md_pod_after_a_checkpoint, args=(k8s_cluster, home, step, grace_s, deleted)
    )
    watcher.start()
    with cli_run(home, _argv(method, temperatures), **deployed) as (rc, instance):
        watcher.join()
        assert rc == 0 and len(deleted) == 1
        (md_run,) = _runs_of(instance, method)
        events = [e.dagster_event for e in instance.all_logs(md_run.run_id) if e.dagster_event]
        retries = [e for e in events if e.is_step_up_for_retry]
        assert len(retries) == 1
        assert CAUSES[grace_s] in _causes(retries[0].event_specific_data.error)
        materialized = [e for e in events if e.is_step_materialization and e.step_key == step]
        invocations = [
            e.event_specific_data.materialization.metadata["n_invocations"].value
            for e in materialized
        ]
        assert invocations == [2] * len(temperatures)  # resumed from the checkpoint, not afresh
    resumed = _frames(home)
    assert resumed.keys() == uninterrupted.keys()
    for name, expected in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], expected, err_msg=str(name))


def _causes(error) -> str:
    """An error and the errors that caused it, as text (a retry wraps the step's own error)."""
    text = ""
    while error is not None:
        text += f"{error.cls_name}: {error.message}\n"
        error = error.cause
    return text


def _runs_of(instance, method: str) -> list:
    """The runs of the method's md_trajectories."""
    key = dg.AssetKey([get_methods([method])[0].key, "md_trajectories"])
    return [run for run in instance.get_runs() if key in (run.asset_selection or ())]


@pytest.mark.slow
def test_a_pod_no_node_can_take_fails_its_step_in_the_set_time(k8s_cluster, tmp_path, capsys):
    """CHGNet asking for 4 GPUs (the GPU node has 1): the real scheduler leaves the pod of its
    first GPU step (relaxed_cells, on the GPU pool like its MD) Pending, and the step fails with
    the scheduler's reason once IONIC_ASSETS_K8S_PENDING_TIMEOUT_S has passed (plus the
    executor's 20 s between health checks), not never; the MD after it is skipped."""
    methods = yaml.safe_load(settings.METHODS_FILE.default.read_text())
    methods["methods"]["chgnet"]["resources"] = {"gpu": 4}
    methods_file = tmp_path / "methods.yaml"
    methods_file.write_text(yaml.safe_dump(methods))
    env = {
        "IONIC_ASSETS_METHODS_FILE": str(methods_file),
        "IONIC_ASSETS_K8S_PENDING_TIMEOUT_S": "5",
    }
    home = tmp_path / "cluster"
    deployed = k8s_cluster.deploy(home, {"OBELIX_DATA_DIR": settings.OBELIX_DATA_DIR.read(), **env})
    step = "chgnet__relaxed_cells"
    with cli_run(home, _argv("chgnet", ["1000"]), **deployed) as (rc, instance):
        assert rc != 0
        key = dg.AssetKey(["chgnet", "relaxed_cells"])
        (run,) = [r for r in instance.get_runs() if key in (r.asset_selection or ())]
        logs = [e for e in instance.all_logs(run.run_id) if e.step_key == step]
        launched = logs[0].timestamp  # the step's Job created (dagster-k8s's STEP_WORKER_STARTING)
        failure = next(e for e in logs if e.dagster_event and e.dagster_event.is_step_failure)
        assert failure.timestamp - launched < 5 + 20 + 60  # timeout + check interval + load
    err = capsys.readouterr()
    assert f"chgnet/relaxed_cells gvd: Step {step} failed health check" in err.err
    assert "could not be scheduled" in err.err and "Insufficient nvidia.com/gpu" in err.err
    assert "chgnet/md_trajectories gvd|1000: skipped, upstream failed" in err.out
    (pod,) = [p for p in k8s_cluster.pods() if p.metadata.labels["dagster/op"] == step
              and p.metadata.labels["dagster/run-id"] == run.run_id]  # fmt: skip
    assert pod.status.phase == "Pending" and pod.spec.node_name is None
