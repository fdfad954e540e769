"""The warehouse resource: concurrent writers to the one DuckDB file lose and duplicate nothing,
readers see a consistent snapshot, and a writer never waits forever."""

import multiprocessing as mp
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import fsspec
import pandas as pd
import pytest

from ionic_assets.lib.records import SupercellRow
from ionic_assets.lib.storage import DUCKDB, StorageError
from ionic_assets.lib.warehouse import Warehouse, read_rows, replace_rows, upsert

N_WRITERS, N_ROWS = 4, 6
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def supercell_row(material_id: str, n_atoms: int) -> SupercellRow:
    """A supercells record whose only meaningful values are its key and atom count."""
    return SupercellRow(
        material_id=material_id, formula="Li", min_width_A=10.0, replication=[1, 1, 1],
        widths_A=[10.0] * 3, n_atoms=n_atoms, n_li=n_atoms, volume_A3=1000.0,
        occupancy_fixes=[], unit_cell_cif="", supercell_cif="",
    )  # fmt: skip


def _writer(storage_url: str, writer: int) -> None:
    warehouse = Warehouse(storage_url=storage_url, lock_timeout_s=120)
    for i in range(N_ROWS):
        for attempt in range(2):  # the second pass re-writes the same keys: must replace
            row = pd.DataFrame(
                [
                    {
                        "method": f"m{writer}",
                        "material_id": f"x{i}",
                        "temperature_K": 1000.0,
                        "seed": attempt,
                    }
                ]
            )
            with warehouse.get_connection() as conn:
                replace_rows(
                    conn, "md_trajectories", row, ["method", "material_id", "temperature_K"]
                )


def test_concurrent_upserts_from_processes(tmp_path):
    """Step subprocesses of Dagster's local executor, each writing through the resource."""
    context = mp.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(N_WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with duckdb.connect(str(tmp_path / DUCKDB), read_only=True) as conn:
        rows = conn.execute("SELECT method, material_id, seed FROM md_trajectories").fetchall()
    assert len(rows) == N_WRITERS * N_ROWS
    assert len(set(rows)) == len(rows) and {seed for *_, seed in rows} == {1}
    assert not (tmp_path / f"{DUCKDB}.lock").exists()


def test_read_only_connections_are_snapshots(tmp_path):
    warehouse = Warehouse(storage_url=str(tmp_path))
    with warehouse.get_connection(read_only=True) as conn:  # no database yet: empty tables
        assert read_rows(conn, "supercells").empty
    assert not (tmp_path / DUCKDB).exists()  # a reader creates nothing on the store
    upsert(warehouse, supercell_row("gvd", 4))
    with warehouse.get_connection(read_only=True) as conn:
        assert list(read_rows(conn, "supercells")["n_atoms"]) == [4]
        conn.execute("DELETE FROM supercells")  # a snapshot's changes are discarded
    with warehouse.get_connection(read_only=True) as conn:
        assert len(read_rows(conn, "supercells")) == 1


def test_warehouse_on_object_storage(monkeypatch):
    """The default resource follows IONIC_ASSETS_STORAGE_URL: the file lives on the store."""
    url = f"memory://ionic-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("IONIC_ASSETS_STORAGE_URL", url)
    warehouse = Warehouse()
    upsert(warehouse, supercell_row("gvd", 4))
    upsert(warehouse, supercell_row("fft", 8))
    store = warehouse.artifacts()
    assert store.exists(DUCKDB) and not store.exists(f"{DUCKDB}.lock")
    with warehouse.get_connection(read_only=True) as conn:
        assert sorted(read_rows(conn, "supercells")["material_id"]) == ["fft", "gvd"]
    fsspec.filesystem("memory").rm(store.root, recursive=True)


def test_a_held_lock_times_out_with_the_holder_named(tmp_path):
    warehouse = Warehouse(storage_url=str(tmp_path), lock_timeout_s=0.3)
    with (
        warehouse.artifacts().lock(DUCKDB) as held,
        pytest.raises(StorageError, match=f"still held by {held.owner}.*after 0.3 s"),
        warehouse.get_connection(),
    ):
        pass


def test_a_crashed_writers_lock_is_broken_at_once(tmp_path):
    crash = (
        "import os, signal, sys\n"
        "from ionic_assets.lib.storage import ArtifactStore\n"
        "ArtifactStore(sys.argv[1]).lock('ionic.duckdb').acquire()\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no release, no cleanup: a crashed step\n"
    )
    done = subprocess.run([sys.executable, "-c", crash, str(tmp_path)], cwd=PROJECT_ROOT)
    assert done.returncode == -signal.SIGKILL
    assert (tmp_path / f"{DUCKDB}.lock").exists()
    # Far below the stale time (1 h): the holder ran here and its process is gone.
    warehouse = Warehouse(storage_url=str(tmp_path), lock_timeout_s=5)
    upsert(warehouse, supercell_row("x", 1))
    assert not (tmp_path / f"{DUCKDB}.lock").exists()
