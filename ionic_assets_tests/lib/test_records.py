"""Table records: the schema comes from them, JSON columns round-trip, and the benchmark query
produces exactly the columns of its record."""

import json

import duckdb
import pandas as pd

from ionic_assets.defs.benchmark.assets import BENCHMARK_QUERY, query_params
from ionic_assets.lib.records import (
    RECORDS,
    ArrheniusRow,
    BenchmarkRow,
    DiffusionRow,
    MDTrajectoryRow,
)
from ionic_assets.lib.warehouse import KEYS, TABLES, ensure_tables, read_rows, replace_rows


def test_schema_is_derived_from_the_records():
    assert set(TABLES) == {r.TABLE for r in RECORDS}
    assert TABLES["md_trajectories"]["seed"] == "BIGINT"
    assert TABLES["md_trajectories"]["provenance"] == "JSON"
    assert TABLES["diffusion_estimates"]["D_samples_cm2_s"] == "DOUBLE[]"
    assert TABLES["supercells"]["replication"] == "INTEGER[]"
    assert KEYS["diffusion_estimates"] == ("method", "material_id", "temperature_K")
    assert KEYS["obelix_subset"] is None


def test_a_not_estimable_row_stores_nulls_and_its_reason():
    row = DiffusionRow(
        method="chgnet", material_id="gvd", temperature_K=800.0, estimable=False,
        reason="too short", msd_threshold_A2=20.0, reliable=False,
    ).as_row()  # fmt: skip
    assert row["D_cm2_s"] is None and row["provenance"] is None and row["reason"] == "too short"
    assert list(row) == list(TABLES["diffusion_estimates"])


def test_json_columns_are_encoded_once():
    row = MDTrajectoryRow(
        method="m", material_id="gvd", temperature_K=1000.0, protocol="smoke",
        trajectory_path="x.h5", n_frames=2, n_atoms=4, n_li=3, volume_A3=50.0,
        equilibration_ps=0.0, device="cpu", uses_gpu=False, n_invocations=1,
        provenance={"seed": 7, "packages": {"ase": "3.29"}},
    ).as_row()  # fmt: skip
    assert json.loads(row["provenance"]) == {"seed": 7, "packages": {"ase": "3.29"}}


def test_benchmark_query_yields_the_benchmark_record():
    with duckdb.connect() as conn:
        ensure_tables(conn)
        run = query_params({"chgnet": "smoke"})
        produced = [d[0] for d in conn.execute(BENCHMARK_QUERY, run).description]
        assert produced == list(BenchmarkRow.columns())
        assert read_rows(conn, "benchmark_table").columns.tolist() == produced


def test_a_fit_stored_before_the_protocol_column_takes_its_trajectories_protocol():
    """Opening a warehouse of an earlier version adds arrhenius_fits.protocol: the protocol of
    the material's trajectories when they share one, else NULL; the new key lets a fit of
    another protocol sit beside it."""
    with duckdb.connect() as conn:
        ensure_tables(conn)
        conn.execute("ALTER TABLE arrhenius_fits DROP COLUMN protocol")
        for material, protocols in {"a": ["smoke"], "b": ["smoke", "paper"]}.items():
            for T, protocol in zip((1000.0, 1200.0), protocols * 2, strict=False):
                md = MDTrajectoryRow(
                    method="chgnet", material_id=material, temperature_K=T, protocol=protocol,
                    trajectory_path="x.h5", n_frames=2, n_atoms=4, n_li=3, volume_A3=50.0,
                    equilibration_ps=0.0, device="cpu", uses_gpu=False, n_invocations=1,
                    provenance={},
                ).as_row()  # fmt: skip
                conn.register("md", pd.DataFrame([md]))
                conn.execute("INSERT INTO md_trajectories BY NAME SELECT * FROM md")
            conn.execute(
                "INSERT INTO arrhenius_fits (method, material_id, temperatures_K, n_temperatures, "
                "n_reliable, estimable) VALUES ('chgnet', ?, [1000.0, 1200.0], 2, 2, false)",
                [material],
            )
        ensure_tables(conn)
        stored = dict(conn.execute("SELECT material_id, protocol FROM arrhenius_fits").fetchall())
        assert stored == {"a": "smoke", "b": None}
        relaxed = ArrheniusRow(
            method="chgnet", material_id="a", protocol="smoke-relaxed", temperatures_K=[1000.0],
            n_temperatures=1, n_reliable=1, estimable=False,
        ).as_row()  # fmt: skip
        replace_rows(conn, "arrhenius_fits", pd.DataFrame([relaxed]), KEYS["arrhenius_fits"])
        rows = conn.execute("SELECT protocol FROM arrhenius_fits WHERE material_id = 'a'")
        assert sorted(p for (p,) in rows.fetchall()) == ["smoke", "smoke-relaxed"]
