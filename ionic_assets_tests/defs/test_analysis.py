"""diffusion_estimates -> arrhenius_fits -> benchmark_table on trajectories of known D(T).

The trajectories are Brownian Li with D(T) = D0 exp(-Ea / kB T) written in the platform's own
trajectory format and registered as md_trajectories rows, so the analysis assets run for real
(kinisi, Dagster, DuckDB) against an independent truth computed by hand below.
"""

import json
import math
from types import SimpleNamespace

import dagster as dg
import duckdb
import numpy as np
import pytest

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import add_partition_keys
from ionic_assets.lib import settings
from ionic_assets.lib.storage import DUCKDB
from ionic_assets.lib.warehouse import replace_rows
from ionic_assets.science import trajectory_store
from ionic_assets.science.synthetic import brownian_trajectory
from ionic_assets_tests.stored import query

KB_EV_K = 8.617333262e-5
E_C, KB_J_K = 1.602176634e-19, 1.380649e-23
EA_EV, D0_CM2_S = 0.30, 1e-3
TEMPERATURES_K = (800.0, 1000.0, 1200.0)
N_LI, BOX_A = 64, 15.0
PS_PER_FRAME = 0.1
#: The protocol the trajectories are registered under: the default run's (IONIC_ASSETS_PROTOCOL
#: unset), which the analysis assets read.
PROTOCOL = "paper"


def _true_D(temperature_K: float) -> float:
    return D0_CM2_S * math.exp(-EA_EV / (KB_EV_K * temperature_K))


def _register(material, temperature_K, D_cm2_s, seed):
    trajectory = brownian_trajectory(
        seed=seed,
        D_cm2_s=D_cm2_s,
        n_frames=500,
        n_li=N_LI,
        n_framework=16,
        frame_interval_ps=PS_PER_FRAME,
        box_A=BOX_A,
    )
    path = settings.home_dir() / "trajectories" / f"{material}_{temperature_K:g}.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    trajectory_store.create_trajectory_file(
        path,
        numbers=trajectory.numbers,
        cell_A=trajectory.cell_A,
        temperature_K=temperature_K,
        timestep_fs=2.0,
        frame_interval_steps=50,
        provenance={"synthetic": True},
    )
    steps = np.arange(trajectory.n_frames) * 50
    trajectory_store.append_frames(path, trajectory.positions_A, trajectory.time_ps, steps)
    row = {
        "method": "chgnet",
        "material_id": material,
        "temperature_K": temperature_K,
        "protocol": PROTOCOL,
        "trajectory_path": str(path),
        "n_frames": trajectory.n_frames,
        "n_atoms": trajectory.n_atoms,
        "n_li": N_LI,
        "volume_A3": BOX_A**3,
        "equilibration_ps": 1.0,
        "diffusion_fit_start_ps": 3.0,
        "seed": seed,
        "device": "cpu",
        "uses_gpu": False,
        "n_cpus": 2,
        "wall_time_s": 60.0 * seed,
        "cpu_hours": 2 * 60.0 * seed / 3600,
    }
    import pandas as pd

    with duckdb.connect(str(settings.home_dir() / DUCKDB)) as conn:
        replace_rows(
            conn, "md_trajectories", pd.DataFrame([row]), ["method", "material_id", "temperature_K"]
        )


def _materialize(instance, defs, key, partition=None):
    result = dg.materialize(
        assets=defs.assets,
        selection=[key],
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    """The analysis chain run once for the module's readers, in a data home of its own: its
    instance and the check evaluations {(material, kelvin[, "ols"]): evaluation}."""
    home = tmp_path_factory.mktemp("analysis") / "home"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").touch()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IONIC_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("IONIC_ASSETS_FIGURE_PNG", "0")
        with dg.DagsterInstance.get() as instance:
            yield SimpleNamespace(instance=instance, checks=_analyse(instance))


def _analyse(instance) -> dict:
    defs = load_definitions()
    _materialize(instance, defs, "obelix_subset")
    add_partition_keys(instance, ["gvd", "fft"], [f"{t:g}" for t in TEMPERATURES_K])
    checks = {}
    for seed, temperature in enumerate(TEMPERATURES_K, start=1):
        _register("gvd", temperature, _true_D(temperature), seed)
        _register("fft", temperature, 1e-9, seed + 10)  # Li that barely move
        for material in ("gvd", "fft"):
            key = dg.MultiPartitionKey({"material": material, "temperature_K": f"{temperature:g}"})
            result = _materialize(instance, defs, "chgnet/diffusion_estimates", key)
            evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
            assert set(evaluations) == {"msd_reliable", "kinisi_matches_ols", "framework_solid"}
            assert evaluations["framework_solid"].passed  # the Brownian framework stays put
            checks[material, temperature] = evaluations["msd_reliable"]
            checks[material, temperature, "ols"] = evaluations["kinisi_matches_ols"]
    for material in ("gvd", "fft"):
        _materialize(instance, defs, "chgnet/arrhenius_fits", material)
    _materialize(instance, defs, "benchmark_table")
    return checks


@pytest.fixture
def analysed(analysis) -> dict:
    return analysis.checks


def _query(sql):
    return query(settings.home_dir(), sql)


@pytest.mark.slow
def test_known_D_recovered_and_check_fails_without_motion(analysed):
    rows = _query("SELECT * FROM diffusion_estimates WHERE material_id = 'gvd'")
    for _, row in rows.iterrows():
        truth = _true_D(row["temperature_K"])
        assert row["D_cm2_s"] == pytest.approx(truth, rel=0.25)
        assert row["D_ci95_lo_cm2_s"] < truth < row["D_ci95_hi_cm2_s"]
        # MSD after 49 ps of Brownian motion: 6 D t, D in Å²/ps (1 cm²/s = 1e4 Å²/ps).
        assert row["msd_max_A2"] == pytest.approx(6 * truth * 1e4 * 49.9, rel=0.25)
    for temperature in TEMPERATURES_K:
        gvd, fft = analysed["gvd", temperature], analysed["fft", temperature]
        assert gvd.passed and not fft.passed
        assert fft.severity == dg.AssetCheckSeverity.WARN
        assert fft.metadata["msd_max_A2"].value < 1.0
        ols = analysed["gvd", temperature, "ols"]  # Brownian Li: kinisi's slope is healthy
        assert ols.passed and ols.metadata["D_ols_cm2_s"].value > 0


@pytest.mark.slow
def test_arrhenius_and_benchmark_against_hand_calculation(analysed):
    fit = _query("SELECT * FROM arrhenius_fits WHERE material_id = 'gvd'").iloc[0]
    assert fit["protocol"] == PROTOCOL
    assert fit["Ea_eV"] == pytest.approx(EA_EV, abs=0.03)
    assert fit["Ea_ci95_lo_eV"] < EA_EV < fit["Ea_ci95_hi_eV"]
    # Nernst-Einstein by hand at 300 K: sigma = N e^2 D / (V kB T), V in cm^3, S/cm -> mS/cm.
    D300 = _true_D(300.0)
    sigma_true = N_LI * E_C**2 * D300 / (BOX_A**3 * 1e-24 * KB_J_K * 300.0) * 1e3
    assert fit["sigma300_ci95_lo_mS_cm"] < sigma_true < fit["sigma300_ci95_hi_mS_cm"]
    # Extrapolating 800-1200 K to 300 K multiplies an Ea error of 0.02 eV into a factor ~1.7.
    assert abs(math.log10(fit["sigma300_mS_cm"] / sigma_true)) < 0.4

    bench = _query("SELECT * FROM benchmark_table").set_index("material_id")
    assert set(bench.index) == {"gvd", "fft"}
    gvd = bench.loc["gvd"]
    assert gvd["sigma_exp_mS_cm"] == pytest.approx(0.5767) and gvd["protocol"] == PROTOCOL
    assert gvd["log10_error"] == pytest.approx(math.log10(fit["sigma300_mS_cm"] / 0.5767))
    assert (gvd["n_reliable"], gvd["n_temperatures"]) == (3, 3)
    assert bench.loc["fft", "n_reliable"] == 0
    assert gvd["cpu_hours"] == pytest.approx(2 * 60 * (1 + 2 + 3) / 3600)

    mae = _query("SELECT * FROM benchmark_mae").iloc[0]
    errors = bench["log10_error"].dropna().abs()
    assert mae["mae_log10_sigma_all"] == pytest.approx(errors.mean())
    assert mae["mae_log10_sigma_reliable"] == pytest.approx(abs(gvd["log10_error"]))
    cost = _query("SELECT * FROM benchmark_cost").iloc[0]
    assert cost["median_wall_min"] == pytest.approx(7.0)  # median of 1, 2, 3, 11, 12, 13 minutes
    assert cost["total_cpu_hours"] == pytest.approx(2 * (1 + 2 + 3 + 11 + 12 + 13) / 60)
    assert (cost["n_gpus"], cost["n_cpus"]) == (0, 2)


@pytest.mark.slow
def test_rerun_replaces_rows_instead_of_duplicating(analysis):
    # The same inputs again: the rows the other tests read are replaced by equal ones.
    defs = load_definitions()
    _materialize(analysis.instance, defs, "chgnet/arrhenius_fits", "gvd")
    _materialize(analysis.instance, defs, "benchmark_table")
    assert len(_query("SELECT * FROM arrhenius_fits")) == 2
    assert len(_query("SELECT * FROM benchmark_table")) == 2


@pytest.mark.slow
def test_arrhenius_refreshes_by_itself_with_temperatures_missing(instance, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_FIGURE_PNG", "0")
    defs = load_definitions()
    add_partition_keys(instance, ["gvd"], ["800", "1000", "1200"])
    _register("gvd", 800.0, _true_D(800.0), 1)
    _register("gvd", 1000.0, _true_D(1000.0), 2)
    arrhenius = dg.AssetKey(["chgnet", "arrhenius_fits"])
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert not tick.get_requested_partitions(arrhenius)
    for t in ("800", "1000"):  # 1200 K stays missing
        key = dg.MultiPartitionKey({"material": "gvd", "temperature_K": t})
        _materialize(instance, defs, "chgnet/diffusion_estimates", key)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_requested_partitions(arrhenius) == {"gvd"}


@pytest.mark.slow
def test_sensitivity_from_the_stored_trajectories(analysis):
    """<method>/sensitivity through Dagster: the trajectories cut to 25-100 % and reanalysed,
    the one subset of the three temperatures; the full cut and the full subset reproduce the
    stored fit (same samples, same seeds)."""
    defs = load_definitions()
    result = _materialize(analysis.instance, defs, "chgnet/sensitivity", "gvd")
    rows = _query("SELECT * FROM sensitivity WHERE material_id = 'gvd'").set_index("variant")
    assert list(rows["variant_kind"]) == ["duration"] * 4 + ["temperatures"]
    assert list(rows.index) == ["25%", "50%", "75%", "100%", "800,1000,1200"]
    fit = _query("SELECT * FROM arrhenius_fits WHERE material_id = 'gvd'").iloc[0]
    for variant in ("100%", "800,1000,1200"):
        assert rows.loc[variant, "sigma300_mS_cm"] == pytest.approx(fit["sigma300_mS_cm"])
        assert rows.loc[variant, "Ea_eV"] == pytest.approx(fit["Ea_eV"])
    assert rows.loc["25%", "duration_ps"] == pytest.approx(49.9 / 4)
    width = np.log10(rows["sigma300_ci95_hi_mS_cm"] / rows["sigma300_ci95_lo_mS_cm"])
    assert width["25%"] > width["100%"]
    assert json.loads(rows.loc["25%", "provenance"])["protocols"] == [PROTOCOL]
    spread = _query("SELECT * FROM sensitivity_spread WHERE material_id = 'gvd'")
    duration = spread.set_index("variant_kind").loc["duration"]
    log_sigma = np.log10(rows.loc[rows["variant_kind"] == "duration", "sigma300_mS_cm"])
    assert duration["spread_decades"] == pytest.approx(log_sigma.max() - log_sigma.min())
    assert {duration["low_variant"], duration["high_variant"]} <= set(rows.index)
    assert spread.set_index("variant_kind").loc["temperatures", "spread_decades"] is None or (
        np.isnan(spread.set_index("variant_kind").loc["temperatures", "spread_decades"])
    )  # one subset: no spread
    (materialization,) = result.asset_materializations_for_node("chgnet__sensitivity")
    assert materialization.metadata["n_variants"].value == 5
