"""The README's main job, for real: CHGNet, the smoke protocol, two materials, two temperatures;
and one of its materials again on the tests' Kubernetes cluster, with the same rows."""

import os
from functools import partial

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ionic_assets.lib.k8s import md_step_name
from ionic_assets.lib.warehouse import Warehouse
from ionic_assets.science.protocols import load_protocol
from ionic_assets_tests.kubelet_stand_in import CPU_NODE, GPU_NODE
from ionic_assets_tests.stored import cli_run, query

MATERIALS, TEMPERATURES = ("gvd", "fft"), ("1000", "1200")


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    home = tmp_path_factory.mktemp("main_job")
    argv = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", ",".join(MATERIALS),
            "--temperatures", ",".join(TEMPERATURES)]  # fmt: skip
    with cli_run(home, argv) as (rc, instance):
        yield rc, home, instance


@pytest.mark.slow
def test_main_job_fills_the_benchmark(main_job):
    rc, home, _ = main_job
    assert rc == 0
    md = query(home, "SELECT * FROM md_trajectories")
    assert len(md) == 4 and (md["protocol"] == "smoke").all()
    assert (md["n_frames"] == load_protocol("smoke").n_frames).all()
    assert (md["wall_time_s"] > 0).all()
    assert (md["steps_per_s"] > 0).all() and md["device"].notna().all()
    bench = query(home, "SELECT * FROM benchmark_table").set_index("material_id")
    assert set(bench.index) == set(MATERIALS)
    assert (bench["n_temperatures"] == 2).all()
    assert bench["sigma_exp_mS_cm"].to_dict() == pytest.approx({"gvd": 0.5767, "fft": 0.2085})
    mae = query(home, "SELECT * FROM benchmark_mae")
    assert list(mae["method"]) == ["chgnet"]


@pytest.mark.slow
def test_main_job_records_runs_checks_and_figures(main_job):
    rc, home, instance = main_job
    key = dg.AssetKey(["chgnet", "md_trajectories"])
    materialized = instance.get_materialized_partitions(key)
    assert len(materialized) == 4
    event = instance.get_latest_materialization_event(key)
    metadata = event.asset_materialization.metadata
    for name in ("wall_time_s", "steps_per_s", "atom_steps_per_s", "device", "model", "seed"):
        assert name in metadata
    assert metadata["model"].value["weights_sha256"]
    check = dg.AssetCheckKey(dg.AssetKey(["chgnet", "diffusion_estimates"]), "msd_reliable")
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    assert len(history) == 4
    reports = home / "reports"
    assert (reports / "parity.html").is_file() and (reports / "log_error.html").is_file()
    for material in MATERIALS:
        assert "plotly" in (reports / "chgnet" / material / "arrhenius.html").read_text()[:200000]
    logs = instance.all_logs(event.run_id)
    assert any("steps/s" in (e.user_message or "") and "ETA" in e.user_message for e in logs)


#: Columns that say how and where a row was computed, not what: wall times and rates, the
#: trajectory files' places (each home has its own), the machine's resources.
WHERE_AND_HOW_LONG = ("trajectory_path", "replica_paths", "wall_time_s", "cpu_hours", "gpu_hours",
                      "steps_per_s", "atom_steps_per_s", "peak_host_memory_GiB",
                      "peak_gpu_memory_GiB", "n_cpus", "provenance")  # fmt: skip
CLUSTER_MATERIAL = "gvd"
TABLES = ("supercells", "md_trajectories", "diffusion_estimates", "arrhenius_fits",
          "benchmark_table")  # fmt: skip


@pytest.fixture(scope="module")
def cluster_job(k8s_cluster, postgres_server, tmp_path_factory):
    """The main job for one material on the tests' Kubernetes cluster: executor `k8s`, each step
    a Job of dagster-k8s, the tables in DuckLake on a PostgreSQL catalog."""
    home = tmp_path_factory.mktemp("cluster_job")
    lake = {
        "IONIC_ASSETS_WAREHOUSE": "ducklake",
        "IONIC_ASSETS_DUCKLAKE_CATALOG": postgres_server.create_database("cluster_lake"),
        "IONIC_ASSETS_DUCKLAKE_DATA_PATH": str(home / "lake"),
    }
    env = k8s_cluster.deploy(home, {"OBELIX_DATA_DIR": os.environ["OBELIX_DATA_DIR"], **lake})
    argv = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", CLUSTER_MATERIAL,
            "--temperatures", ",".join(TEMPERATURES)]  # fmt: skip
    with cli_run(home, argv, **env) as (rc, instance):
        runs = {run.run_id for run in instance.get_runs()}
        pods = [p for p in k8s_cluster.pods() if p.metadata.labels.get("dagster/run-id") in runs]
        tables = {table: Warehouse().run(partial(_rows, table), read_only=True) for table in TABLES}
        yield rc, pods, tables


def _rows(table: str, conn) -> pd.DataFrame:
    rows = conn.execute(f"SELECT * FROM {table} WHERE material_id = ?", [CLUSTER_MATERIAL]).df()
    return _comparable(rows)


def _comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without WHERE_AND_HOW_LONG, in key order, arrays as lists (comparable)."""
    rows = rows.drop(columns=[c for c in WHERE_AND_HOW_LONG if c in rows])
    keys = [c for c in ("method", "material_id", "temperature_K", "min_width_A") if c in rows]
    rows = rows.map(lambda v: v.tolist() if isinstance(v, np.ndarray) else v)
    return rows.sort_values(keys).reset_index(drop=True)


@pytest.mark.slow
def test_the_main_job_on_kubernetes_gives_the_local_rows(main_job, cluster_job):
    rc, pods, tables = cluster_job
    assert rc == 0
    _, home, _ = main_job
    for table, rows in tables.items():
        local = _comparable(query(home, f"SELECT * FROM {table} WHERE material_id = 'gvd'"))
        assert len(rows) == len(local) > 0 and set(rows.columns) == set(local.columns), table
        for column in rows.columns:
            for cluster, here in zip(rows[column], local[column], strict=True):
                _assert_same(cluster, here, f"{table}.{column}")


#: CHGNet is float32, and a step pod's process and this test's own differ in the last bits of
#: the forces (threads): frames agree to ~1e-5 Å after 300 steps, what is derived from them to
#: far better than this. Everything else (keys, counts, flags, texts) is compared exactly.
RTOL = 1e-3


def _assert_same(cluster, here, what: str) -> None:
    if _missing(cluster) or _missing(here):
        assert _missing(cluster) and _missing(here), what
        return
    try:
        numbers = np.asarray(cluster, dtype=float), np.asarray(here, dtype=float)
    except (TypeError, ValueError):
        assert cluster == here, what
        return
    np.testing.assert_allclose(*numbers, rtol=RTOL, equal_nan=True, err_msg=what)


def _missing(value) -> bool:
    """A scalar SQL NULL (pandas' NA, None or NaN); lists are values, even with NaN inside."""
    return np.ndim(value) == 0 and bool(pd.isna(value))


@pytest.mark.slow
def test_each_step_of_the_cluster_run_was_a_pod_on_its_pool(cluster_job):
    """CHGNet's relaxation and MD (the force model's steps) on the GPU node with the request,
    selector and tolerations the API server received; every other step (CPU work) on the CPU
    node, which has no GPU taint."""
    _, pods, _ = cluster_job
    by_op = {}
    for pod in pods:
        assert pod.status.phase == "Succeeded", pod.metadata.name
        by_op.setdefault(pod.metadata.labels["dagster/op"], []).append(pod)
    md = by_op.pop(md_step_name("chgnet"))
    assert len(md) == len(TEMPERATURES)  # one partition per run: CHGNet's MD is not batched
    for pod in md + by_op.pop("chgnet__relaxed_cells"):
        assert pod.spec.node_name == GPU_NODE.name
        assert pod.spec.containers[0].resources.requests["nvidia.com/gpu"] == "1"
        assert pod.spec.node_selector == GPU_NODE.labels
        assert {t.key for t in pod.spec.tolerations} >= {t["key"] for t in GPU_NODE.taints}
    steps = {"obelix_subset", "supercells", "chgnet__diffusion_estimates",
             "chgnet__arrhenius_fits", "benchmark_table"}  # fmt: skip
    assert steps <= set(by_op)
    for pod in (p for group in by_op.values() for p in group):
        assert pod.spec.node_name == CPU_NODE.name, pod.metadata.labels["dagster/op"]
