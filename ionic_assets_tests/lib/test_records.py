"""Table records: the schema comes from them, JSON columns round-trip, and the benchmark query
produces exactly the columns of its record."""

import json

import duckdb

from ionic_assets.defs.benchmark.assets import BENCHMARK_QUERY
from ionic_assets.lib.records import RECORDS, BenchmarkRow, DiffusionRow, MDTrajectoryRow
from ionic_assets.lib.warehouse import KEYS, TABLES, ensure_tables, read_rows


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
        produced = [d[0] for d in conn.execute(BENCHMARK_QUERY).description]
        assert produced == list(BenchmarkRow.columns())
        assert read_rows(conn, "benchmark_table").columns.tolist() == produced
