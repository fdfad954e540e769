"""Warehouse concurrency benchmark: many writer processes upserting partitions at once.

For each backend (`duckdb`: the embedded file; `ducklake`: DuckLake on the PostgreSQL catalog
that `--catalog` names, an empty database; `python -m ionic_assets_tests.pg_local` starts a
throwaway local server and prints its string), `--processes` spawned processes each
upsert `--partitions` arrhenius_fits rows through the `Warehouse` resource, one upsert (one
connection, one transaction) per partition, as the assets do; all start together. Measured:
rows/s (all rows over the wall time from the start to the last commit) and commit latency (one
upsert call: waiting for the file or retrying a conflict included), median, p95 and max. Then
every row is checked to be there exactly once and benchmark_table rebuilt from it.

    python -m ionic_assets.benchmarks.warehouse_concurrency --processes 16 --partitions 100 \
        --catalog "host=127.0.0.1 port=5432 user=postgres dbname=ionic_warehouse"

Writes data/benchmarks/warehouse_concurrency.json and .md (`--out` for another folder).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

#: The protocol of the upserted fits (no MD behind them).
PROTOCOL = "synthetic"


def _writer(options: dict, method: str, n: int, start, out) -> None:
    from ionic_assets.lib.records import ArrheniusRow
    from ionic_assets.lib.warehouse import Warehouse, upsert

    warehouse = Warehouse(**options)
    with warehouse.get_connection(read_only=True):
        pass  # connected (extensions loaded) before the clock starts
    start.wait()
    latencies_s = []
    for i in range(n):
        row = ArrheniusRow(
            method=method, material_id=f"x{i}", protocol=PROTOCOL, temperatures_K=[1000.0],
            n_temperatures=1,
            n_reliable=1, estimable=True, sigma300_mS_cm=float(i + 1),
        )  # fmt: skip
        t0 = time.perf_counter()
        upsert(warehouse, row)
        latencies_s.append(time.perf_counter() - t0)
    out.put((time.time(), latencies_s))


def _check(options: dict, processes: int, partitions: int) -> dict:
    """Every row once, and benchmark_table rebuilt over all of them."""
    import pandas as pd

    from ionic_assets.defs.benchmark.assets import rebuild_benchmark_table
    from ionic_assets.lib.warehouse import KEYS, Warehouse, replace_rows

    warehouse = Warehouse(**options)
    subset = pd.DataFrame({"material_id": [f"x{i}" for i in range(partitions)]})
    subset["sigma_exp_mS_cm"] = 1.0
    with warehouse.get_connection() as conn:
        replace_rows(conn, "obelix_subset", subset, KEYS["obelix_subset"])
        methods = conn.execute("SELECT DISTINCT method FROM arrhenius_fits").fetchall()
        rebuild_benchmark_table(conn, {m: PROTOCOL for (m,) in methods})
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (method, material_id)) FROM arrhenius_fits"
        ).fetchone()
        bench = conn.execute("SELECT count(*) FROM benchmark_table").fetchone()[0]
    once = rows == distinct == processes * partitions
    return {"rows": rows, "rows_exactly_once": once, "benchmark_rows": bench}


def run_backend(options: dict, processes: int, partitions: int) -> dict:
    context = mp.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_writer, args=(options, f"m{w}", partitions, start, out))
        for w in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5 + 0.3 * processes)  # every writer connected and waiting
    t0 = time.time()
    start.set()
    results = [out.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    wall_s = max(end for end, _ in results) - t0
    latencies_ms = 1e3 * np.concatenate([lat for _, lat in results])
    return {
        "backend": options["backend"],
        "processes": processes,
        "partitions_per_process": partitions,
        "wall_s": round(wall_s, 2),
        "rows_per_s": round(processes * partitions / wall_s, 1),
        "commit_latency_median_ms": round(float(np.median(latencies_ms)), 1),
        "commit_latency_p95_ms": round(float(np.percentile(latencies_ms, 95)), 1),
        "commit_latency_max_ms": round(float(latencies_ms.max()), 1),
        **_check(options, processes, partitions),
    }


def write_report(rows: list[dict], environment: dict, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "environment": environment, "rows": rows}
    (out / "warehouse_concurrency.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# Warehouse concurrency: writer processes upserting at once",
        "",
        f"Command: `{command}`",
        "",
        *(f"- {key}: {value}" for key, value in environment.items()),
        "",
        "| backend | processes x partitions | wall (s) | rows/s | commit median (ms) "
        "| p95 (ms) | max (ms) | every row once | benchmark_table rows |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['processes']} x {r['partitions_per_process']} "
            f"| {r['wall_s']} | {r['rows_per_s']} | {r['commit_latency_median_ms']} "
            f"| {r['commit_latency_p95_ms']} | {r['commit_latency_max_ms']} "
            f"| {r['rows_exactly_once']} | {r['benchmark_rows']} |"
        )
    (out / "warehouse_concurrency.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=16, help="writer processes")
    parser.add_argument("--partitions", type=int, default=100, help="upserts per process")
    parser.add_argument("--backends", nargs="+", default=["duckdb", "ducklake"])
    parser.add_argument("--catalog", help="libpq string of an empty DuckLake catalog database "
                        "(needed for the ducklake backend)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"), help="result folder")
    args = parser.parse_args(argv)
    if "ducklake" in args.backends and not args.catalog:
        parser.error("--catalog: the ducklake backend needs a catalog database "
                     "(python -m ionic_assets_tests.pg_local starts a throwaway one)")  # fmt: skip

    environment = {
        "cpus": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="ionic-bench-") as tmp:
        for backend in args.backends:
            options = {"backend": backend, "storage_url": f"{tmp}/{backend}"}
            if backend == "ducklake":
                options["ducklake_catalog"] = args.catalog
            rows.append(run_backend(options, args.processes, args.partitions))
            print(json.dumps(rows[-1]), flush=True)
    environment["load_average_1min_at_end"] = round(os.getloadavg()[0], 1)
    module = "ionic_assets.benchmarks.warehouse_concurrency"
    write_report(rows, environment, args.out, shlex.join(["python", "-m", module, *sys.argv[1:]]))


if __name__ == "__main__":
    main()
