"""The README's main job, for real: CHGNet, the smoke protocol, two materials, two temperatures."""

import dagster as dg
import pytest

from ionic_assets.science.protocols import load_protocol
from ionic_assets_tests.stored import cli_run, query

MATERIALS, TEMPERATURES = ("gvd", "fft"), ("1000", "1200")


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    home = tmp_path_factory.mktemp("main_job")
    argv = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", ",".join(MATERIALS),
            "--temperatures", ",".join(TEMPERATURES)]  # fmt: skip
    with cli_run(home, argv) as (rc, instance):
        yield rc, home, instance


@pytest.mark.slow
def test_main_job_fills_the_benchmark(main_job):
    rc, home, _ = main_job
    assert rc == 0
    md = query(home, "SELECT * FROM md_trajectories")
    assert len(md) == 4 and (md["protocol"] == "smoke").all()
    assert (md["n_frames"] == load_protocol("smoke").n_frames).all()
    assert (md["wall_time_s"] > 0).all()
    assert (md["steps_per_s"] > 0).all() and md["device"].notna().all()
    bench = query(home, "SELECT * FROM benchmark_table").set_index("material_id")
    assert set(bench.index) == set(MATERIALS)
    assert (bench["n_temperatures"] == 2).all()
    assert bench["sigma_exp_mS_cm"].to_dict() == pytest.approx({"gvd": 0.5767, "fft": 0.2085})
    mae = query(home, "SELECT * FROM benchmark_mae")
    assert list(mae["method"]) == ["chgnet"]


@pytest.mark.slow
def test_main_job_records_runs_checks_and_figures(main_job):
    rc, home, instance = main_job
    key = dg.AssetKey(["chgnet", "md_trajectories"])
    materialized = instance.get_materialized_partitions(key)
    assert len(materialized) == 4
    event = instance.get_latest_materialization_event(key)
    metadata = event.asset_materialization.metadata
    for name in ("wall_time_s", "steps_per_s", "atom_steps_per_s", "device", "model", "seed"):
        assert name in metadata
    assert metadata["model"].value["weights_sha256"]
    check = dg.AssetCheckKey(dg.AssetKey(["chgnet", "diffusion_estimates"]), "msd_reliable")
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    assert len(history) == 4
    reports = home / "reports"
    assert (reports / "parity.html").is_file() and (reports / "log_error.html").is_file()
    for material in MATERIALS:
        assert "plotly" in (reports / "chgnet" / material / "arrhenius.html").read_text()[:200000]
    logs = instance.all_logs(event.run_id)
    assert any("steps/s" in (e.user_message or "") and "ETA" in e.user_message for e in logs)
