"""DuckLake under load and faults, on a real PostgreSQL catalog: 8 processes x 100 partitions
concurrently, every row exactly once and the benchmark table complete; a writer SIGKILLed
mid-transaction leaves nothing; writers and readers wait out a catalog server stopped for 3 s
and for 30 s, every key keeping exactly one row with its last value; a catalog down for longer
than the wait fails in one line naming it, with nothing stored lost."""

import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time
import uuid

import pandas as pd
import pytest

from ionic_assets.defs.benchmark.assets import rebuild_benchmark_table
from ionic_assets.lib.records import ArrheniusRow, SupercellRow
from ionic_assets.lib.warehouse import KEYS, Warehouse, read_rows, replace_rows, upsert
from ionic_assets.lib.warehouse_backends import INLINE_ROWS, WarehouseUnavailable
from ionic_assets_tests.lib.test_warehouse import HOLD, PROJECT_ROOT, supercell_row

N_PROCESSES, N_PARTITIONS = 8, 100
COUNT_SQL = "SELECT count(*), count(DISTINCT (method, material_id)) FROM benchmark_table"
#: Every writer's method and the protocol of its fits.
PROTOCOLS = {f"m{w}": "smoke" for w in range(N_PROCESSES)}


def fit_row(method: str, material: str, version: int = 0) -> ArrheniusRow:
    """An arrhenius_fits record whose predicted sigma tells its partition and version (mS/cm)."""
    return ArrheniusRow(
        method=method,
        material_id=material,
        protocol="smoke",
        temperatures_K=[800.0, 1000.0, 1200.0],
        n_temperatures=3,
        n_reliable=3,
        estimable=True,
        sigma300_mS_cm=float(int(material[1:]) + 1 + 1000 * version),
    )


def write_partitions(method: str, n: int, versions: int = 1) -> None:
    """One process materializing `n` partitions of `method`, `versions` times over (each time
    with a new value), as re-materializations do."""
    warehouse = Warehouse()
    for version in range(versions):
        for i in range(n):
            upsert(warehouse, fit_row(method, f"x{i}", version))


def _subset(n: int) -> None:
    rows = pd.DataFrame({"material_id": [f"x{i}" for i in range(n)], "sigma_exp_mS_cm": 1.0})
    with Warehouse().get_connection() as conn:
        replace_rows(conn, "obelix_subset", rows, KEYS["obelix_subset"])


def _fits() -> pd.DataFrame:
    return Warehouse().run(lambda conn: read_rows(conn, "arrhenius_fits"), read_only=True)


@pytest.mark.slow
def test_eight_writers_a_killed_one_and_the_benchmark_table(ducklake):
    _subset(N_PARTITIONS)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "inside"
    context = mp.get_context("spawn")
    writers = [
        context.Process(target=write_partitions, args=(f"m{w}", N_PARTITIONS))
        for w in range(N_PROCESSES)
    ]
    for writer in writers:
        writer.start()
    while len(_fits()) < N_PARTITIONS:  # the load is under way: kill the one mid-transaction
        time.sleep(0.2)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    with Warehouse().get_connection() as conn:  # a rebuild during the load: one snapshot
        rebuild_benchmark_table(conn, PROTOCOLS)
        partial = conn.execute(COUNT_SQL).fetchone()
    assert partial[0] == partial[1] and partial[0] >= N_PARTITIONS
    for writer in writers:
        writer.join(timeout=600)
        assert writer.exitcode == 0

    fits = _fits()
    assert len(fits) == N_PROCESSES * N_PARTITIONS
    assert not fits.duplicated(["method", "material_id"]).any()
    assert (fits["sigma300_mS_cm"] == fits["material_id"].str[1:].astype(int) + 1).all()
    with Warehouse().get_connection() as conn:
        assert read_rows(conn, "supercells").empty  # nothing of the killed transaction
        rebuild_benchmark_table(conn, PROTOCOLS)
        bench = read_rows(conn, "benchmark_table")
    assert len(bench) == N_PROCESSES * N_PARTITIONS
    assert set(zip(bench["method"], bench["material_id"], strict=True)) == set(
        zip(fits["method"], fits["material_id"], strict=True)
    )


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [3.0, 30.0])
def test_writers_and_readers_wait_out_a_stopped_catalog(ducklake, postgres_server, outage_s):
    n_writers, n_keys, versions = 6, 20, 3
    context = mp.get_context("spawn")
    writers = [
        context.Process(target=write_partitions, args=(f"m{w}", n_keys, versions))
        for w in range(n_writers)
    ]
    for writer in writers:
        writer.start()
    while len(_fits()) < 2 * n_keys:  # the load is under way
        time.sleep(0.05)
    postgres_server.stop()
    read_during_outage: list[pd.DataFrame] = []
    reader = threading.Thread(target=lambda: read_during_outage.append(_fits()))
    try:
        reader.start()
        time.sleep(outage_s)
        reader_waited, writers_waited = reader.is_alive(), [w.is_alive() for w in writers]
    finally:
        postgres_server.start()  # whatever happened, the next tests get their server back
    assert reader_waited, "a read finished while its catalog was stopped"
    assert all(writers_waited), "a writer gave up during the outage"
    reader.join(timeout=120)
    assert len(read_during_outage) == 1 and len(read_during_outage[0]) >= 2 * n_keys
    for writer in writers:
        writer.join(timeout=300)
        assert writer.exitcode == 0
    fits = _fits()
    assert len(fits) == n_writers * n_keys and not fits.duplicated(["method", "material_id"]).any()
    last = fits["material_id"].str[1:].astype(int) + 1 + 1000 * (versions - 1)
    assert (fits["sigma300_mS_cm"] == last).all()


@pytest.mark.slow
def test_a_catalog_down_longer_than_the_wait_fails_in_one_line(
    ducklake, postgres_server, monkeypatch
):
    upsert(Warehouse(), fit_row("m", "x0"))
    monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE_RECONNECT_S", "2")
    postgres_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailable) as failed:
            upsert(Warehouse(), fit_row("m", "x1"))
        waited_s = time.monotonic() - started
    finally:
        postgres_server.start()
    assert 2.0 <= waited_s < 20.0
    line = str(failed.value)
    assert "\n" not in line and "warehouse catalog postgres:" in line
    assert ducklake.catalog.split("dbname=")[1] in line
    fits = _fits()
    assert fits["material_id"].tolist() == ["x0"]  # the stored row is intact, nothing half-written


@pytest.fixture
def s3_bucket(monkeypatch):
    """A local S3-protocol server (moto's; no S3 can be reached from here) with one bucket, and
    the standard AWS variables pointing at it, as a deployment sets them."""
    import socket

    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for _ in range(100):
        try:
            client.create_bucket(Bucket="ionic-lake")
            break
        except Exception:  # not listening yet
            time.sleep(0.1)
    yield client
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.slow
def test_lake_data_on_object_storage(postgres_server, s3_bucket, monkeypatch, tmp_path):
    catalog = postgres_server.create_database(f"lake_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("IONIC_ASSETS_STORAGE_URL", str(tmp_path / "store"))
    monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE", "ducklake")
    monkeypatch.setenv("IONIC_ASSETS_DUCKLAKE_CATALOG", catalog)
    monkeypatch.setenv("IONIC_ASSETS_DUCKLAKE_DATA_PATH", "s3://ionic-lake/warehouse/")
    # More rows than DuckLake inlines into the catalog, so they go to Parquet on the bucket.
    rows = pd.DataFrame([supercell_row(f"m{i}", i).as_row() for i in range(2 * INLINE_ROWS)])
    with Warehouse().get_connection() as conn:
        replace_rows(conn, "supercells", rows, SupercellRow.KEY)
    upsert(Warehouse(), supercell_row("m1", 4))
    with Warehouse().get_connection(read_only=True) as conn:
        stored = read_rows(conn, "supercells")
    assert len(stored) == 2 * INLINE_ROWS
    assert stored.set_index("material_id").n_atoms.to_dict() == {
        f"m{i}": i for i in range(2 * INLINE_ROWS)
    } | {"m1": 4}
    listed = s3_bucket.list_objects_v2(Bucket="ionic-lake", Prefix="warehouse/")
    assert any(obj["Key"].endswith(".parquet") for obj in listed.get("Contents", []))
