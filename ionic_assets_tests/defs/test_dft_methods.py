"""DFT and imported methods through Dagster, for real: CP2K AIMD steps as md_trajectories with
their cost beside an MLIP in the benchmark table, a named SCF failure, and AIMD computed
elsewhere imported against known D.

A CP2K MD step of the 4-atom Li3N cell takes seconds even with reduced electronic settings,
so the CP2K runs are 4 steps of a `tiny` protocol: too short for a diffusion coefficient, so
the DFT rows of the benchmark are "not estimable" with their reason.
"""

import json
import math

import ase.io
import dagster as dg
import numpy as np
import pytest
import yaml
from ase import Atoms

from ionic_assets.cli.runner import BenchmarkRun
from ionic_assets.science.dft import cp2k
from ionic_assets.science.protocols import DEFAULT_PATH as PROTOCOLS_FILE
from ionic_assets.science.synthetic import brownian_trajectory
from ionic_assets_tests.stored import query

needs_cp2k = pytest.mark.skipif(
    not any(cp2k.shutil.which(name) for name in cp2k.BINARIES), reason="CP2K not installed"
)
KB_EV_K = 8.617333262e-5
#: Far cheaper than production (DZVP, 400 Ry, EPS_DEFAULT 1e-10), and not accurate enough for
#: science: the forces are not conservative (20 steps at 1000 K heat the cell to ~3500 K).
#: Enough to exercise the engine, the runner and the graph in seconds per step.
REDUCED = {
    "basis_set": "SZV-MOLOPT-SR-GTH",
    "cutoff_Ry": 200.0,
    "rel_cutoff_Ry": 30.0,
    "eps_default": 1e-6,
    "eps_scf": 1e-5,
}


def _tiny_protocol() -> dict:
    """The smoke protocol cut to 4 steps of 2 fs, every step a frame and a checkpoint."""
    smoke = yaml.safe_load(PROTOCOLS_FILE.read_text())["smoke"]
    cadence = dict(frame_interval_steps=1, checkpoint_interval_steps=1, progress_interval_steps=1)
    return {**smoke, "duration_ps": 0.008, "equilibration_ps": 0.0, "diffusion_fit_start_ps": 0.0,
            **cadence}  # fmt: skip


@pytest.fixture
def configure(home, monkeypatch):
    """Point the platform at a methods file (and the tiny protocol) written for the test."""

    def write(methods: dict, protocol: str = "smoke"):
        conf = home / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "methods.yaml").write_text(yaml.safe_dump({"methods": methods}))
        protocols = yaml.safe_load(PROTOCOLS_FILE.read_text()) | {"tiny": _tiny_protocol()}
        (conf / "protocols.yaml").write_text(yaml.safe_dump(protocols))
        monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", str(conf / "methods.yaml"))
        monkeypatch.setenv("IONIC_ASSETS_PROTOCOLS_FILE", str(conf / "protocols.yaml"))
        monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", protocol)
        return conf

    return write


def _run(instance, methods, materials=("gvd",), temperatures=("1000",), protocol="smoke"):
    run = BenchmarkRun(instance, list(materials), list(temperatures), list(methods), protocol)
    run.execute(report=lambda line: None)
    return run


@pytest.mark.slow
@needs_cp2k
def test_dft_cp2k_steps_run_as_md_trajectories(configure, home, instance):
    cadence = {"checkpoint_interval_steps": 1, "progress_interval_steps": 1}
    configure(
        {
            "chgnet": {"kind": "mlip", "model": {"family": "chgnet", "name": "0.3.0"}},
            "dft-cp2k": {"kind": "dft", "engine": "cp2k", "settings": REDUCED, "cadence": cadence},
            "dft-cp2k-stuck": {
                "kind": "dft",
                "engine": "cp2k",
                "settings": {**REDUCED, "max_scf": 1, "max_outer_scf": 1, "fallback_max_scf": 1},
            },
        },
        protocol="tiny",
    )
    run = _run(instance, ["chgnet", "dft-cp2k", "dft-cp2k-stuck"], protocol="tiny")
    failures = run.failures

    # The unconverged SCF fails its step with one line naming the MD step, and its chain, with
    # nothing to fit, is skipped, not a second error; nothing else fails (4-step runs give
    # "not estimable" rows, not failures).
    assert len(failures) == 1, failures
    (stuck,) = failures
    assert stuck.startswith("dft_cp2k_stuck/md_trajectories")
    assert "SCF did not converge at MD step 0, not even with the fallback" in stuck
    assert "\n" not in stuck
    skipped = [(o.label, o.message) for o in run.outcomes if o.status == "skipped"]
    assert ("dft_cp2k_stuck/arrhenius_fits gvd", "upstream failed") in skipped

    # DFT and the MLIP side by side in the benchmark table, with their costs and Figure 2.
    bench = query(home, "SELECT * FROM benchmark_table WHERE material_id = 'gvd'")
    assert sorted(bench["method"]) == ["chgnet", "dft-cp2k"]
    assert bench["reason"].str.contains("fewer than 2 distinct temperatures").all()
    cost = query(home, "SELECT * FROM benchmark_cost").set_index("method")
    assert cost.loc["dft-cp2k", "n_gpus"] == 0 and cost.loc["dft-cp2k", "total_cpu_hours"] > 0
    # Figure 2 of the pair exists; 4-step runs give it no material to place yet.
    figure_2 = (home / "reports" / "parity_chgnet_vs_dft-cp2k.html").read_text()
    assert "no material with a prediction from both methods" in figure_2

    md = query(home, "SELECT * FROM md_trajectories").set_index("method").loc["dft-cp2k"]
    assert md["n_frames"] == 5 and md["n_atoms"] == 4 and md["protocol"] == "tiny"
    assert not md["uses_gpu"] and md["n_cpus"] >= 1 and md["wall_time_s"] > 0
    assert md["cpu_hours"] == pytest.approx(md["wall_time_s"] * md["n_cpus"] / 3600)
    model = json.loads(md["provenance"])["model"]
    assert model["name"] == "dft-cp2k" and model["settings"]["basis_set"] == REDUCED["basis_set"]
    assert model["settings"]["cutoff_Ry"] == REDUCED["cutoff_Ry"] and model["package_version"]
    # The engine's wavefunction restart file sits beside the trajectory, for a restarted pod.
    trajectory = home / "trajectories" / "dft_cp2k" / "tiny" / "gvd" / "1000K.h5"
    assert trajectory.is_file()
    assert (trajectory.with_suffix(".dft") / "cp2k-RESTART.wfn").is_file()

    event = instance.get_latest_materialization_event(dg.AssetKey(["dft_cp2k", "md_trajectories"]))
    metadata = event.asset_materialization.metadata
    assert metadata["model"].value["package"] == "cp2k"
    assert metadata["cpu_hours"].value > 0 and metadata["wall_time_s"].value > 0
    logs = instance.all_logs(event.run_id)
    assert any("step 4/4" in (e.user_message or "") for e in logs)  # progress every step


def _wrapped_extxyz(path, D_cm2_s: float, seed: int) -> None:
    """Known-D Brownian Li (48) in a fixed N (16) lattice, Li3N like gvd, written wrapped as
    an MD code would: 0.1 ps between frames = 50 steps of 2 fs."""
    traj = brownian_trajectory(
        seed=seed, D_cm2_s=D_cm2_s, n_frames=400, n_li=48, n_framework=16,
        frame_interval_ps=0.1, box_A=12.0,
    )  # fmt: skip
    numbers = np.where(traj.numbers == 3, 3, 7)
    frames = [
        Atoms(numbers=numbers, positions=p, cell=traj.cell_A, pbc=True) for p in traj.positions_A
    ]
    for frame in frames:
        frame.wrap()
    ase.io.write(path, frames, format="extxyz")


@pytest.mark.slow
def test_imported_aimd_recovers_known_D_through_the_graph(configure, home, instance):
    Ea_eV, D0_cm2_s = 0.3, 1e-3
    temperatures = (800.0, 1000.0, 1200.0)
    conf = home / "conf"
    conf.mkdir()
    entries, true_D = [], {}
    for seed, T in enumerate(temperatures):
        true_D[T] = D0_cm2_s * math.exp(-Ea_eV / (KB_EV_K * T))
        _wrapped_extxyz(conf / f"{T:g}K.extxyz", true_D[T], seed)
        entries.append(
            {"material_id": "gvd", "temperature_K": T, "path": f"{T:g}K.extxyz",
             "timestep_fs": 2.0, "frame_stride": 50, "equilibration_ps": 0.0,
             "wall_time_s": 86400.0, "n_cpus": 64}
        )  # fmt: skip
    configure(
        {
            "chgnet": {"kind": "mlip", "model": {"family": "chgnet", "name": "0.3.0"}},
            "aimd-elsewhere": {"kind": "imported", "trajectories": entries},
        }
    )
    methods = ["chgnet", "aimd-elsewhere"]
    failures = _run(instance, methods, temperatures=[f"{t:g}" for t in temperatures]).failures
    assert failures == []

    # The MLIP and the AIMD side by side: both predict sigma(300 K), and Figure 2 places gvd.
    bench = query(home, "SELECT * FROM benchmark_table").set_index("method")
    assert sorted(bench.index) == sorted(methods)
    assert (bench["sigma_pred_mS_cm"] > 0).all()
    figure_2 = (home / "reports" / "parity_aimd-elsewhere_vs_chgnet.html").read_text()
    assert "over 1 materials" in figure_2 and "no material with a prediction" not in figure_2

    imported = "method = 'aimd-elsewhere'"
    md = query(home, f"SELECT * FROM md_trajectories WHERE {imported} ORDER BY temperature_K")
    assert (md["protocol"] == "imported").all() and (md["n_frames"] == 400).all()
    assert md["cpu_hours"].tolist() == pytest.approx([64 * 24.0] * 3)
    estimates = query(
        home, f"SELECT * FROM diffusion_estimates WHERE {imported} ORDER BY temperature_K"
    )
    for _, row in estimates.iterrows():
        truth = true_D[row["temperature_K"]]
        assert row["D_cm2_s"] == pytest.approx(truth, rel=0.15)
        assert row["D_ci95_lo_cm2_s"] < truth < row["D_ci95_hi_cm2_s"]
    fit = query(home, f"SELECT * FROM arrhenius_fits WHERE {imported}").iloc[0]
    assert fit["Ea_ci95_lo_eV"] < Ea_eV < fit["Ea_ci95_hi_eV"]
    cost = query(home, "SELECT * FROM benchmark_cost").set_index("method")
    assert cost.loc["aimd-elsewhere", "total_cpu_hours"] == pytest.approx(64 * 72)
    assert cost.loc["chgnet", "total_cpu_hours"] > 0


@pytest.mark.slow
def test_unregistered_or_wrong_species_import_fails_in_one_line(configure, home, instance):
    conf = home / "conf"
    conf.mkdir()
    _wrapped_extxyz(conf / "a.extxyz", 1e-5, 0)
    wrong = [a.copy() for a in ase.io.read(conf / "a.extxyz", ":")]
    for atoms in wrong:
        atoms.numbers[atoms.numbers == 7] = 8
    ase.io.write(conf / "oxide.extxyz", wrong, format="extxyz")
    entry = {"material_id": "gvd", "timestep_fs": 2.0, "frame_stride": 50}
    configure(
        {
            "aimd": {
                "kind": "imported",
                "trajectories": [{**entry, "temperature_K": 1000, "path": "oxide.extxyz"}],
            }
        }
    )
    failures = _run(instance, ["aimd"], temperatures=["1000", "1100"]).failures
    lines = [f for f in failures if "md_trajectories" in f]
    assert len(lines) == 2
    assert any("species Li48 O16 do not match the material's Li3 N1" in f for f in lines)
    assert any("aimd: no trajectory registered for gvd at 1100 K" in f for f in lines)
