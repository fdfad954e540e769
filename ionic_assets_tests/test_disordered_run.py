"""The main command on a partially occupied material, for real: CHGNet, smoke protocol, jqc.

jqc (Li7BiO6) holds Li at 0.875 on 8 sites of its 15-site cell: the default `sampled` ordering
puts 7 Li on them (8 x 0.875, by hand), and the ordered 14-atom cell runs through
md_trajectories, diffusion_estimates and arrhenius_fits into benchmark_table.
"""

import duckdb
import pytest

from ionic_assets.cli import main


@pytest.mark.slow
def test_disordered_material_reaches_the_benchmark_table(tmp_path, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    argv = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", "jqc",
            "--temperatures", "1000,1200"]  # fmt: skip
    assert main(argv) == 0
    with duckdb.connect(str(tmp_path / "ionic.duckdb"), read_only=True) as conn:
        strategy, n_atoms, n_li, charge = conn.execute(
            "SELECT ordering_strategy, n_atoms, n_li, charge_e FROM supercells"
        ).fetchone()
        md_atoms = conn.execute("SELECT DISTINCT n_atoms FROM md_trajectories").fetchall()
        bench = conn.execute("SELECT material_id, n_temperatures FROM benchmark_table").fetchall()
    assert (strategy, n_atoms, n_li, charge) == ("sampled", 14, 7, 0.0)
    assert md_atoms == [(14,)]
    assert bench == [("jqc", 2)]
