"""`ionic-assets warehouse copy`: a local DuckDB warehouse into DuckLake and back, row for row,
column types kept (lists, JSON, NULLs), views included."""

import pandas as pd
import pytest

from ionic_assets import cli
from ionic_assets.defs.benchmark.assets import rebuild_benchmark_table
from ionic_assets.lib.records import ArrheniusRow, DiffusionRow
from ionic_assets.lib.warehouse import KEYS, TABLES, Warehouse, read_rows, replace_rows, upsert
from ionic_assets.lib.warehouse_backends import EmbeddedFile
from ionic_assets_tests.lib.test_warehouse import supercell_row


def _fill(warehouse: Warehouse) -> None:
    subset = pd.DataFrame({"material_id": ["gvd", "fft"], "sigma_exp_mS_cm": [0.5767, 1e-3]})
    with warehouse.get_connection() as conn:
        replace_rows(conn, "obelix_subset", subset, KEYS["obelix_subset"])
    upsert(warehouse, supercell_row("gvd", 192))
    for T in (1000.0, 1200.0):
        upsert(
            warehouse,
            DiffusionRow(
                method="chgnet", material_id="gvd", temperature_K=T, estimable=True,
                reliable=True, msd_threshold_A2=20.0, D_samples_cm2_s=[1e-5, 2e-5],
                provenance={"T_K": T},
            ),
        )  # fmt: skip
    upsert(
        warehouse,
        ArrheniusRow(
            method="chgnet", material_id="gvd", protocol="smoke", temperatures_K=[1000.0, 1200.0],
            n_temperatures=2, n_reliable=2, estimable=True, sigma300_mS_cm=0.3,
        ),
    )  # fmt: skip
    with warehouse.get_connection() as conn:
        rebuild_benchmark_table(conn, {"chgnet": "smoke"})


def _contents(backend) -> dict[str, tuple[list, list]]:
    """Every table and view: (column types, sorted rows as text)."""
    names = [*TABLES, "benchmark_mae", "benchmark_cost"]
    with backend.connect(read_only=True) as conn:
        out = {}
        for name in names:
            described = conn.execute(f"DESCRIBE {name}").fetchall()
            rows = conn.execute(f"SELECT * FROM {name}").fetchall()
            out[name] = ([c[:2] for c in described], sorted(map(repr, rows)))
    return out


@pytest.mark.slow
def test_round_trip_row_for_row(home, ducklake, tmp_path, capsys):
    local = Warehouse(backend="duckdb")
    _fill(local)
    original = _contents(local.tables())
    assert len(original["diffusion_estimates"][1]) == 2 and original["benchmark_table"][1]

    assert cli.main(["warehouse", "copy", "--from", "duckdb", "--to", "ducklake"]) == 0
    assert "diffusion_estimates: 2 rows" in capsys.readouterr().out
    assert _contents(ducklake) == original
    with Warehouse().get_connection(read_only=True) as conn:  # the lake is now the default
        assert len(read_rows(conn, "arrhenius_fits")) == 1

    back = tmp_path / "pulled.duckdb"
    assert cli.main(["warehouse", "copy", "--from", "ducklake", "--to", str(back)]) == 0
    assert _contents(EmbeddedFile(back)) == original


def test_copy_errors_are_one_line(home, tmp_path, capsys):
    missing = str(tmp_path / "none.duckdb")
    assert cli.main(["warehouse", "copy", "--from", missing, "--to", "duckdb"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: warehouse DuckDB file {missing}: no warehouse there to copy"
    )
    assert cli.main(["warehouse", "copy", "--from", "duckdb", "--to", "sqlite"]) == 2
    assert "one of duckdb, ducklake or a .duckdb file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["warehouse", "copy", "--from", "duckdb"])
