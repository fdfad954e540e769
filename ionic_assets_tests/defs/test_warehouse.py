"""Concurrent writers to the one DuckDB file lose and duplicate nothing."""

import multiprocessing as mp

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from ionic_assets.lib.warehouse import replace_rows

N_WRITERS, N_ROWS = 4, 6


def _writer(database: str, writer: int) -> None:
    resource = DuckDBResource(database=database)
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
            with resource.get_connection() as conn:
                replace_rows(
                    conn, "md_trajectories", row, ["method", "material_id", "temperature_K"]
                )


def test_concurrent_upserts_from_processes(tmp_path):
    database = str(tmp_path / "ionic.duckdb")
    context = mp.get_context("spawn")
    workers = [context.Process(target=_writer, args=(database, w)) for w in range(N_WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with duckdb.connect(database, read_only=True) as conn:
        rows = conn.execute("SELECT method, material_id, seed FROM md_trajectories").fetchall()
    assert len(rows) == N_WRITERS * N_ROWS
    assert len(set(rows)) == len(rows) and {seed for *_, seed in rows} == {1}
