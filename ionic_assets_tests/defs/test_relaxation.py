"""<method>/relaxed_cells through the Dagster graph for real: CHGNet on CPU, the smoke-relaxed
protocol, Li3N (gvd) at one temperature; its checks, its row, md_trajectories' provenance naming
it; and a divergence that fails the material in one line and skips its MD."""

import json

import dagster as dg
import pytest

from ionic_assets.science.relax import RelaxationDiverged
from ionic_assets_tests.stored import cli_run, query

ARGV = ["run", "--methods", "chgnet", "--protocol", "smoke-relaxed", "--materials", "gvd",
        "--temperatures", "1000"]  # fmt: skip
RELAXED = dg.AssetKey(["chgnet", "relaxed_cells"])


@pytest.mark.slow
def test_relaxed_cells_feed_the_md_and_are_checked(tmp_path):
    home = tmp_path / "home"
    with cli_run(home, ARGV, IONIC_ASSETS_FIGURE_PNG="0") as (rc, instance):
        assert rc == 0
        for check in ("relaxation_converged", "relaxation_moderate"):
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(RELAXED, check), limit=5
            )
            assert len(history) == 1
        event = instance.get_latest_materialization_event(RELAXED)
        metadata = event.asset_materialization.metadata
        assert metadata["mode"].value == "cell" and metadata["model"].value["family"] == "chgnet"
    relaxed = query(home, "SELECT * FROM relaxed_cells").iloc[0]
    assert (relaxed["method"], relaxed["protocol"], relaxed["mode"]) == (
        "chgnet", "smoke-relaxed", "cell"
    )  # fmt: skip
    assert json.loads(relaxed["provenance"])["settings"]["optimizer"] == "ase.optimize.FIRE"
    md = query(home, "SELECT * FROM md_trajectories").iloc[0]
    provenance = json.loads(md["provenance"])
    assert provenance["relaxation"]["checksum"] == relaxed["checksum"]
    assert md["volume_A3"] == pytest.approx(relaxed["volume_A3"])


@pytest.mark.slow
def test_a_diverging_relaxation_fails_in_one_line_and_skips_the_md(tmp_path, monkeypatch):
    def diverge(cells, labels, model, *args, **kwargs):
        cause = "relaxation diverged (energy rose 3.00 eV/atom, limit 1)"
        return None, [RelaxationDiverged(f"material {labels[0]}, model chgnet: {cause}")]

    monkeypatch.setattr("ionic_assets.defs.simulation.relaxation.relax_cells", diverge)
    home = tmp_path / "home"
    with cli_run(home, ARGV, IONIC_ASSETS_FIGURE_PNG="0") as (rc, _):
        assert rc == 1
    assert query(home, "SELECT * FROM relaxed_cells").empty
    assert query(home, "SELECT * FROM md_trajectories").empty
