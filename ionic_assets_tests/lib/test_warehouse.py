"""The warehouse resource on both backends (the embedded DuckDB file; DuckLake on a real
PostgreSQL catalog): concurrent writers lose and duplicate nothing, readers see a private
snapshot, a writer killed mid-transaction leaves nothing behind and never blocks the next one."""

import multiprocessing as mp
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from ionic_assets.lib.records import ObelixSubsetRow, SupercellRow
from ionic_assets.lib.storage import DUCKDB
from ionic_assets.lib.warehouse import Warehouse, read_rows, replace_rows, upsert
from ionic_assets.lib.warehouse_backends import WarehouseUnavailable

N_WRITERS, N_ROWS = 4, 6
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["duckdb", "ducklake"])
def backend(request, tmp_path, monkeypatch):
    """Each test on each backend, set through the environment as a deployment sets it."""
    monkeypatch.setenv("IONIC_ASSETS_STORAGE_URL", str(tmp_path / "store"))
    if request.param == "ducklake":
        request.getfixturevalue("ducklake")
    else:
        monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE", "duckdb")
    return request.param


def supercell_row(material_id: str, n_atoms: int) -> SupercellRow:
    """A supercells record whose only meaningful values are its key and atom count."""
    return SupercellRow(
        material_id=material_id, formula="Li", min_width_A=10.0, replication=[1, 1, 1],
        widths_A=[10.0] * 3, n_atoms=n_atoms, n_li=n_atoms, volume_A3=1000.0,
        occupancy_fixes=[], ordering_strategy="none", target_composition={"Li": n_atoms},
        achieved_composition={"Li": n_atoms}, ordering={}, supercell_cif="",
    )  # fmt: skip


def _writer(writer: int) -> None:
    warehouse = Warehouse()
    for i in range(N_ROWS):
        for attempt in range(2):  # the second pass re-writes the same keys: must replace
            key = {"method": f"m{writer}", "material_id": f"x{i}", "temperature_K": 1000.0}
            with warehouse.get_connection() as conn:
                replace_rows(
                    conn,
                    "md_trajectories",
                    pd.DataFrame([{**key, "seed": attempt}]),
                    ["method", "material_id", "temperature_K"],
                )


@pytest.mark.slow
def test_concurrent_upserts_from_processes(backend, tmp_path):
    """Step subprocesses of Dagster's local executor, each writing through the resource."""
    context = mp.get_context("spawn")
    workers = [context.Process(target=_writer, args=(w,)) for w in range(N_WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with Warehouse().get_connection(read_only=True) as conn:
        rows = conn.execute("SELECT method, material_id, seed FROM md_trajectories").fetchall()
    assert len(rows) == N_WRITERS * N_ROWS
    assert len(set(rows)) == len(rows) and {seed for *_, seed in rows} == {1}
    # No lock file of ours: the file's lock is DuckDB's own, the lake's the catalog's.
    assert not list((tmp_path / "store").glob("*.lock"))


def test_read_only_connections_are_snapshots(backend, tmp_path):
    warehouse = Warehouse()
    with warehouse.get_connection(read_only=True) as conn:  # no database yet: empty tables
        assert read_rows(conn, "supercells").empty
    assert not (tmp_path / "store" / DUCKDB).exists()  # a reader creates no file
    upsert(warehouse, supercell_row("gvd", 4))
    with warehouse.get_connection(read_only=True) as conn:
        assert list(read_rows(conn, "supercells")["n_atoms"]) == [4]
        upsert(warehouse, supercell_row("fft", 8))
        assert len(read_rows(conn, "supercells")) == 1  # the snapshot does not move
        conn.execute("DELETE FROM supercells")  # a snapshot's changes are discarded
    with warehouse.get_connection(read_only=True) as conn:
        assert sorted(read_rows(conn, "supercells")["material_id"]) == ["fft", "gvd"]


def test_a_table_of_an_earlier_version_gains_the_new_columns_and_keeps_its_rows(backend):
    warehouse = Warehouse()
    with warehouse.get_connection() as conn:
        conn.execute("CREATE TABLE obelix_subset (material_id VARCHAR, sigma_exp_mS_cm DOUBLE)")
        conn.execute("INSERT INTO obelix_subset VALUES ('gvd', 0.5)")
    with warehouse.get_connection(read_only=True) as conn:
        rows = read_rows(conn, "obelix_subset")
    assert set(rows.columns) == set(ObelixSubsetRow.columns())  # the new ones at the end
    assert rows[["material_id", "sigma_exp_mS_cm"]].values.tolist() == [["gvd", 0.5]]
    assert rows["formula"].isna().all()


def test_the_file_needs_a_local_store(monkeypatch):
    """Object storage cannot hold a DuckDB file that many write: one line says what to use."""
    monkeypatch.setenv("IONIC_ASSETS_STORAGE_URL", f"memory://ionic-test-{uuid.uuid4().hex}")
    monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE", "duckdb")
    with pytest.raises(WarehouseUnavailable, match="needs a local store.*ducklake") as error:
        upsert(Warehouse(), supercell_row("gvd", 1))
    assert "\n" not in str(error.value)
    monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE", "sqlite")
    with pytest.raises(WarehouseUnavailable, match="'sqlite': one of duckdb, ducklake"):
        Warehouse().tables()


def test_a_failed_write_lands_nothing(backend):
    """A step that fails inside its write (here: a row with an undeclared column after a good
    one) leaves the table as it was: the write is one transaction."""
    warehouse = Warehouse()
    upsert(warehouse, supercell_row("gvd", 4))
    rows = pd.DataFrame({"material_id": ["gvd", "x"], "n_atoms": ["5", "?"]})
    with (
        pytest.raises(Exception, match="Could not convert|Conversion Error"),
        warehouse.get_connection() as conn,
    ):
        replace_rows(conn, "supercells", rows, ["material_id"])
    with warehouse.get_connection(read_only=True) as conn:
        assert read_rows(conn, "supercells")[["material_id", "n_atoms"]].values.tolist() == [
            ["gvd", 4]
        ]


HOLD = """
import sys, time
from ionic_assets.lib.warehouse import Warehouse, ensure_tables
with Warehouse().get_connection() as conn:
    ensure_tables(conn)
    conn.execute("BEGIN TRANSACTION")
    conn.execute("INSERT INTO supercells (material_id) SELECT 'partial' || i FROM range(50) t(i)")
    print("inside", flush=True)
    time.sleep(120)  # SIGKILLed here, mid-transaction
"""


@pytest.mark.slow
def test_a_writer_killed_mid_transaction_leaves_nothing(backend, tmp_path):
    """A crashed step: no partial row, and the next writers go on (DuckDB's file lock dies
    with its process; DuckLake never blocked them)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "inside"
        warehouse = Warehouse(busy_timeout_s=0.3)
        if backend == "duckdb":  # the file is held: a writer waits, then names it in one line
            with pytest.raises(WarehouseUnavailable, match=r"DuckDB file .* in use after 0.3 s"):
                upsert(warehouse, supercell_row("waiting", 1))
        else:  # the lake takes other writers meanwhile
            upsert(warehouse, supercell_row("meanwhile", 1))
    finally:
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
    upsert(Warehouse(busy_timeout_s=5), supercell_row("after", 1))
    with Warehouse().get_connection(read_only=True) as conn:
        ids = set(read_rows(conn, "supercells")["material_id"])
    assert ids == ({"after"} if backend == "duckdb" else {"after", "meanwhile"})
