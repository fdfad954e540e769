"""md_trajectories through the batched engine, for real: SevenNet-0 (weights in its wheel), the
smoke protocol, Li3N (gvd) at two temperatures; from the command line and as one Dagster run
materializing several partitions, as a backfill's run does."""

import json

import dagster as dg
import pytest

from ionic_assets.cli import main
from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import add_partition_keys
from ionic_assets.lib.metadata import RANGE_END_TAG, RANGE_START_TAG
from ionic_assets.science.md.torchsim_thermostat import INTEGRATOR
from ionic_assets.science.protocols import load_protocol
from ionic_assets_tests.stored import query

MD_KEY = dg.AssetKey(["sevenn_0", "md_trajectories"])


def _md_rows(home):
    return query(home, "SELECT * FROM md_trajectories ORDER BY temperature_K")


@pytest.mark.slow
def test_cli_smoke_run_goes_through_the_batched_engine_in_one_run(home, instance, monkeypatch,
                                                                   capsys):  # fmt: skip
    monkeypatch.setenv("IONIC_ASSETS_MD_ENGINE", "torch-sim")
    argv = ["run", "--methods", "sevenn-0", "--protocol", "smoke", "--materials", "gvd"]
    rc = main([*argv, "--temperatures", "800,900"])  # consecutive keys: one range
    out = capsys.readouterr()
    assert rc == 0, out.err
    rows = _md_rows(home)
    assert list(rows["temperature_K"]) == [800.0, 900.0]
    for _, row in rows.iterrows():
        assert row["engine"] == "torch-sim" and row["stop_reason"] == "max_duration"
        assert row["n_frames"] == load_protocol("smoke").n_frames
        assert row["simulated_ps"] == pytest.approx(load_protocol("smoke").duration_ps)
        provenance = json.loads(row["provenance"])
        assert provenance["integrator"]["integrator"] == INTEGRATOR
        assert provenance["engine_choice"]["engine"] == "torch-sim"
    # The MD is one run over the range of both partitions (the other stages one per partition).
    md_runs = {r.run_id for r in instance.fetch_materializations(MD_KEY, limit=10).records}
    ranges = [r.tags for r in instance.get_runs() if r.run_id in md_runs]
    assert [(t[RANGE_START_TAG], t[RANGE_END_TAG]) for t in ranges] == [("gvd|800", "gvd|900")]
    assert "sevenn_0/md_trajectories gvd|800: done" in out.out
    assert "sevenn_0/md_trajectories gvd|900: done" in out.out
    assert "sevenn_0/md_trajectories gvd|800..gvd|900: MD engine: torch-sim" in out.out


@pytest.mark.slow
def test_one_run_materializes_many_partitions_with_their_own_metadata_and_checks(
    home, instance, monkeypatch
):
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke")
    monkeypatch.setenv("IONIC_ASSETS_MD_ENGINE", "torch-sim")
    add_partition_keys(instance, ["gvd"], ["900", "1000"])
    defs = load_definitions()
    for asset, partition in (("obelix_subset", None), ("supercells", "gvd")):
        dg.materialize(defs.assets, selection=[asset], partition_key=partition,
                       instance=instance, resources=dict(defs.resources))  # fmt: skip
    result = dg.materialize(
        assets=defs.assets,
        selection=[MD_KEY],
        instance=instance,
        resources=dict(defs.resources),
        tags={
            RANGE_START_TAG: "gvd|900",  # in the order keys were added
            RANGE_END_TAG: "gvd|1000",
        },
    )
    assert result.success
    events = result.get_asset_materialization_events()
    by_partition = {e.materialization.partition: e.materialization.metadata for e in events}
    assert set(by_partition) == {"gvd|900", "gvd|1000"}
    for metadata in by_partition.values():
        assert metadata["engine"].value == "torch-sim"
        assert metadata["n_frames"].value == load_protocol("smoke").n_frames
    checks = result.get_asset_check_evaluations()
    assert {c.partition for c in checks} == {"gvd|900", "gvd|1000"}
    rows = _md_rows(home)
    assert list(rows["temperature_K"]) == [900.0, 1000.0]
