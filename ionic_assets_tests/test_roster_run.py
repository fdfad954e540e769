"""The roster through the graph: the README's command line with every offline roster model that
is not already in the main job's test, the smoke protocol, one material at two temperatures."""

import dagster as dg
import pytest

from ionic_assets.lib.methods import load_methods
from ionic_assets_tests.stored import cli_run, query

ROSTER = (
    "sevenn-0-22may2024",
    "sevenn-l3i5",
    "sevenn-mf-0-pbe",
    "sevenn-mf-0-r2scan",
    "chgnet-0-2-0",
    "chgnet-r2scan",
)


@pytest.fixture(scope="module")
def roster_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("roster_run")
    argv = ["run", "--methods", ",".join(ROSTER), "--protocol", "smoke", "--materials", "gvd",
            "--temperatures", "1000,1200"]  # fmt: skip
    with cli_run(home, argv) as (rc, instance):
        yield rc, home, instance


@pytest.mark.slow
def test_every_roster_model_reaches_the_benchmark(roster_run):
    rc, home, instance = roster_run
    assert rc == 0
    md = query(home, "SELECT method, temperature_K, n_frames FROM md_trajectories")
    assert sorted(md["method"].unique()) == sorted(ROSTER)
    assert (md.groupby("method").size() == 2).all()
    bench = query(home, "SELECT method, sigma_pred_mS_cm FROM benchmark_table")
    assert sorted(bench["method"]) == sorted(ROSTER)
    cost = query(home, "SELECT * FROM benchmark_cost")
    assert sorted(cost["method"]) == sorted(ROSTER)
    # Figure 2: a parity figure for every pair of methods in the run.
    reports = home / "reports"
    names = sorted(ROSTER)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            assert (reports / f"parity_{x}_vs_{y}.html").is_file()


@pytest.mark.slow
def test_each_trajectory_names_its_model_and_fidelity(roster_run):
    _, _, instance = roster_run
    for name in ROSTER:
        method = load_methods()[name]
        key = dg.AssetKey([method.key, "md_trajectories"])
        model = instance.get_latest_materialization_event(key).asset_materialization.metadata
        identity = model["model"].value
        assert identity["name"] == method.settings["model"]["name"]
        assert identity.get("modal") == method.settings["model"].get("modal")
        assert len(identity["weights_sha256"]) == 64
