"""Seed replicas, the collective route, the OLS check and the size check through the Dagster
graph for real: CHGNet on CPU, the smoke protocol with `replicas: 2`, Li3N (gvd) at two
temperatures, then the size check of one partition in a wider cell."""

import dagster as dg
import pytest
import yaml

from ionic_assets.cli.runner import load_definitions
from ionic_assets.science.protocols import DEFAULT_PATH
from ionic_assets_tests.stored import cli_run, query

TEMPERATURES = ("1000", "1200")


@pytest.fixture(scope="module")
def replica_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("replicas")
    smoke = yaml.safe_load(DEFAULT_PATH.read_text())["smoke"]
    protocols = home / "protocols.yaml"
    protocols.write_text(yaml.safe_dump({"smoke": {**smoke, "replicas": 2}}))
    argv = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", "gvd",
            "--temperatures", ",".join(TEMPERATURES)]  # fmt: skip
    env = {"IONIC_ASSETS_PROTOCOLS_FILE": str(protocols), "IONIC_ASSETS_FIGURE_PNG": "0"}
    with cli_run(home, argv, **env) as (rc, instance):
        yield rc, home, instance


@pytest.mark.slow
def test_two_replicas_per_partition_reach_the_benchmark(replica_run):
    rc, home, _ = replica_run
    assert rc == 0
    md = query(home, "SELECT * FROM md_trajectories")
    assert (md["n_replicas"] == 2).all()
    for _, row in md.iterrows():
        assert list(row["replica_seeds"]) == [row["seed"], row["seed"] + 1]
        first, second = row["replica_paths"]
        assert first == row["trajectory_path"] and second.endswith(".r1.h5")
    assert len(list((home / "trajectories").rglob("*K.r1.h5"))) == 2
    estimates = query(home, "SELECT * FROM diffusion_estimates")
    assert (estimates["n_replicas"] == 2).all() and estimates["estimable"].all()
    for _, row in estimates.iterrows():
        assert len(row["replica_D_cm2_s"]) == 2 and len(row["replica_D_ols_cm2_s"]) == 2
        assert row["replicas_consistent"] in (True, False)
        # a 0.5 ps run: the collective route is a reason or a number with its interval
        assert (row["collective_reason"] is not None) or row["sigma_collective_mS_cm"] > 0
    bench = query(home, "SELECT * FROM benchmark_table")
    for column in ("sigma_collective_mS_cm", "haven_ratio_300", "Ea_nonphysical",
                   "non_arrhenius", "n_replicas", "n_ols_flagged", "size_consistent",
                   "collective_reason"):  # fmt: skip
        assert column in bench.columns
    assert bench.loc[0, "n_replicas"] == 2
    fits = query(home, "SELECT * FROM arrhenius_fits").iloc[0]
    if fits["estimable"]:  # a 0.5 ps run may leave a temperature whose D reaches zero
        assert fits["Ea_nonphysical"] in (True, False)
        assert len(fits["residuals_log10_D"]) == len(fits["temperatures_fit_K"])
    else:
        assert fits["reason"]


@pytest.mark.slow
def test_new_checks_ran(replica_run):
    _, _, instance = replica_run
    storage = instance.event_log_storage
    for asset, check, runs in (("diffusion_estimates", "kinisi_matches_ols", 2),
                               ("arrhenius_fits", "Ea_physical", 1)):  # fmt: skip
        key = dg.AssetCheckKey(dg.AssetKey(["chgnet", asset]), check)
        assert len(storage.get_asset_check_execution_history(key, limit=10)) == runs


@pytest.mark.slow
def test_size_check_in_a_wider_cell(replica_run):
    _, home, instance = replica_run
    defs = load_definitions()
    partition = dg.MultiPartitionKey({"material": "gvd", "temperature_K": "1000"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IONIC_ASSETS_HOME", str(home))
        mp.setenv("IONIC_ASSETS_PROTOCOLS_FILE", str(home / "protocols.yaml"))
        mp.setenv("IONIC_ASSETS_FIGURE_PNG", "0")
        from ionic_assets.defs.resources import SimulationResource

        resources = {**defs.resources, "simulation": SimulationResource(protocol="smoke")}
        result = dg.materialize(
            assets=defs.assets,
            selection=[dg.AssetKey(["chgnet", "size_check"])],
            partition_key=partition,
            instance=instance,
            resources=resources,
            run_config={"ops": {"chgnet__size_check": {"config": {"min_width_A": 3.5}}}},
            raise_on_error=False,
        )
        assert result.success
        row = query(home, "SELECT * FROM size_checks").iloc[0]
        assert row["check_width_A"] == 3.5 and row["check_n_atoms"] > row["n_atoms"]
        assert row["check_trajectory_path"].endswith("1000K.w3.5.h5")
        assert (row["reason"] is not None) or (row["D_ratio"] > 0 and row["agree"] in (True, False))
        rebuilt = dg.materialize(
            assets=defs.assets, selection=[dg.AssetKey("benchmark_table")], instance=instance,
            resources=resources,
        )  # fmt: skip
        assert rebuilt.success
        bench = query(home, "SELECT * FROM benchmark_table").iloc[0]
        assert bench["size_check_width_A"] == 3.5
