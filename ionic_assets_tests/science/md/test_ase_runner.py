"""The MD runner with real force models: EMT (cheap, pure numpy), a random-weight MACE and
CHGNet. Kill-and-resume must reproduce an uninterrupted run bit for bit."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.calculators.emt import EMT
from ase.md.nose_hoover_chain import NoseHooverChainNVT
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import ModelSpec, build_calculator
from ionic_assets.science.forcefields.random_mace import write_random_mace_model
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.checkpoint import load_checkpoint
from ionic_assets.science.md.recorder import MDGuardError, MDProgress
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.trajectory_store import frame_count, read_trajectory
from ionic_assets_tests.science.md._helpers import (
    Interrupt,
    StatelessEMT,
    copper,
    interrupt_at,
    li3n,
    short_protocol,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# 500 EMT steps of 32 Cu atoms: long enough to be killed twice mid-way.
KILL_RUN = {
    "repeat": 2,
    "temperature_K": 900.0,
    "seed": 11,
    "protocol": {
        "duration_ps": 1.0,
        "equilibration_ps": 0.2,
        "frame_interval_steps": 5,  # 101 frames: more than one HDF5 chunk (64 frames)
        "checkpoint_interval_steps": 25,
        "guards": {"temperature_window_steps": 100},
    },
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted KILL_RUN."""
    return run_config(KILL_RUN, tmp_path_factory.mktemp("reference") / "reference.h5")


def run_config(config: dict, path: Path, **kwargs):
    return run_nvt(
        copper(config["repeat"]),
        StatelessEMT(),
        short_protocol(**json.loads(json.dumps(config["protocol"]))),
        config["temperature_K"],
        config["seed"],
        path,
        **kwargs,
    )


def start_subprocess(config: dict, path: Path, **popen) -> subprocess.Popen:
    config_path = path.with_suffix(".json")
    config_path.write_text(json.dumps({**config, "trajectory_path": str(path)}))
    command = [sys.executable, "-m", "ionic_assets_tests.science.md._helpers", str(config_path)]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True, **popen)


def wait_for_new_checkpoint(ckpt: Path, process: subprocess.Popen, after_mtime: float) -> None:
    deadline = time.monotonic() + 120
    while not (ckpt.exists() and ckpt.stat().st_mtime_ns > after_mtime):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_and_resume_reproduce_uninterrupted_run_bitwise(tmp_path, reference):
    path = tmp_path / "killed.h5"
    ckpt = path.with_name(path.name + ".ckpt")
    chance = random.Random(0)
    last_mtime = 0
    for _ in range(2):
        process = start_subprocess(KILL_RUN, path)
        wait_for_new_checkpoint(ckpt, process, last_mtime)
        time.sleep(chance.uniform(0.0, 0.3))  # anywhere: stepping, flushing, checkpointing
        process.send_signal(signal.SIGKILL)
        process.wait()
        last_mtime = ckpt.stat().st_mtime_ns
        _, meta = load_checkpoint(ckpt)
        assert not meta["completed"], "the run finished before it could be killed"
    resumed = run_config(KILL_RUN, path)
    assert resumed.n_invocations == 3
    assert 0 < resumed.n_steps_run < resumed.n_steps
    expected, actual = read_trajectory(reference.trajectory_path), read_trajectory(path)
    assert actual.n_frames == expected.n_frames == 101
    assert np.array_equal(actual.positions_A, expected.positions_A)
    assert np.array_equal(actual.time_ps, expected.time_ps)
    # The float64 state, not only the float32 frames, is identical.
    final, expected_final = (
        load_checkpoint(Path(f"{p}.ckpt"))[0] for p in (path, reference.trajectory_path)
    )
    assert np.array_equal(final["p"], expected_final["p"])
    assert resumed.mean_temperature_K == reference.mean_temperature_K
    assert resumed.framework_rmsd_A_max == reference.framework_rmsd_A_max
    assert resumed.wall_time_s > 0


def test_runner_integrates_exactly_like_ase_dynamics(tmp_path):
    """The runner answers the integrator's force requests itself (see md._Run._forces): the
    trajectory must be bit for bit the one ASE's own run loop gives from the same start."""
    path = tmp_path / "run.h5"
    protocol = short_protocol(duration_ps=0.1, equilibration_ps=0.05)
    run_nvt(copper(), StatelessEMT(), protocol, 600.0, 4, path)
    plain = copper()
    plain.calc = StatelessEMT()
    thermalize_momenta(plain, 600.0, exact_temperature=True, rng=np.random.default_rng(4))
    Stationary(plain)
    dynamics = NoseHooverChainNVT(
        plain, timestep=2 * units.fs, temperature_K=600.0, tdamp=200 * units.fs, tchain=3
    )
    dynamics.run(50)
    state = load_checkpoint(Path(f"{path}.ckpt"))[0]
    assert np.array_equal(state["q"], plain.positions)
    assert np.array_equal(state["p"], plain.get_momenta())


@pytest.mark.slow
def test_corrupt_checkpoint_falls_back_to_previous_with_torch_model(tmp_path):
    model = build_calculator(
        ModelSpec(family="mace", path=str(write_random_mace_model(tmp_path / "tiny.model")))
    )
    atoms = li3n().repeat((2, 1, 1))
    protocol = short_protocol(
        duration_ps=0.2,
        equilibration_ps=0.1,
        checkpoint_interval_steps=25,
        progress_interval_steps=5,
        # Random weights have no short-range repulsion: only the resume is tested here.
        guards={"min_interatomic_distance_A": 0.1},
    )
    reference = run_nvt(atoms, model, protocol, 1000.0, 5, tmp_path / "reference.h5")
    path = tmp_path / "run.h5"
    with pytest.raises(Interrupt):
        run_nvt(atoms, model, protocol, 1000.0, 5, path, on_progress=interrupt_at(65))
    ckpt = path.with_name("run.h5.ckpt")
    ckpt.write_bytes(ckpt.read_bytes()[:-200])  # latest (step 50) truncated; step 25 intact
    assert frame_count(path) == 11  # frames up to step 50 were flushed with that checkpoint
    with pytest.warns(UserWarning, match="is corrupt; using the one before"):
        resumed = run_nvt(atoms, model, protocol, 1000.0, 5, path)
    assert resumed.n_steps_run == 75
    expected, actual = read_trajectory(reference.trajectory_path), read_trajectory(path)
    assert np.array_equal(actual.positions_A, expected.positions_A)
    assert resumed.mean_temperature_K == reference.mean_temperature_K
    final_state = load_checkpoint(ckpt)[0]
    assert np.array_equal(final_state["q"], load_checkpoint(tmp_path / "reference.h5.ckpt")[0]["q"])
    assert actual.metadata["model"]["family"] == "mace"


def test_finished_run_returns_stored_result_and_other_runs_are_refused(tmp_path, monkeypatch):
    config = {**KILL_RUN, "protocol": {"duration_ps": 0.2, "equilibration_ps": 0.1}}
    first = run_config(config, tmp_path / "run.h5")

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(StatelessEMT, "calculate", must_not_run)
    assert run_config(config, tmp_path / "run.h5") == first
    # Output cadence and guards do not change the trajectory: still the same run.
    cadence = {
        **config["protocol"],
        "checkpoint_interval_steps": 10,
        "guards": {"max_temperature_deviation": 0.9},
    }
    assert run_config({**config, "protocol": cadence}, tmp_path / "run.h5") == first
    with pytest.raises(InputError, match="belongs to another run"):
        run_config({**config, "seed": 12}, tmp_path / "run.h5")


class NaNAfter(EMT):
    """EMT whose forces turn to NaN after `n_calls` evaluations (failure injection)."""

    def __init__(self, n_calls: int):
        super().__init__()
        self.n_calls = n_calls

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.n_calls -= 1
        if self.n_calls < 0:
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)


def test_nan_forces_stop_the_run_and_keep_frames(tmp_path):
    path = tmp_path / "nan.h5"
    with pytest.raises(MDGuardError, match="step 41 .*non-finite forces") as error:
        run_nvt(copper(), NaNAfter(41), short_protocol(), 600.0, 1, path)
    assert "\n" not in str(error.value)
    assert "the 9 frames before it are kept" in str(error.value)
    trajectory = read_trajectory(path)
    assert trajectory.n_frames == 9 and np.isfinite(trajectory.positions_A).all()


def test_atoms_too_close_stop_the_run(tmp_path):
    atoms = copper()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    message = r"step 0 .*atoms 0 \(Cu\) and 1 \(Cu\) are 0.30 A apart"
    with pytest.raises(MDGuardError, match=message):
        run_nvt(atoms, EMT(), short_protocol(), 600.0, 1, tmp_path / "close.h5")


def test_temperature_runaway_stops_the_run(tmp_path):
    # A compressed, rattled cell turns its strain energy into heat faster than any thermostat.
    atoms = copper()
    atoms.set_cell(atoms.cell * 0.85, scale_atoms=True)
    atoms.rattle(0.2, seed=1)
    protocol = short_protocol(equilibration_ps=0.1, guards={"temperature_window_steps": 50})
    with pytest.raises(MDGuardError, match="temperature ran away: mean .* vs target 300 K"):
        run_nvt(atoms, EMT(), protocol, 300.0, 1, tmp_path / "hot.h5")
    assert frame_count(tmp_path / "hot.h5") > 0


@pytest.mark.slow
def test_thermostat_holds_temperature_and_positions_stay_unwrapped(tmp_path):
    protocol = short_protocol(
        duration_ps=2.0,
        equilibration_ps=0.6,
        frame_interval_steps=10,
        checkpoint_interval_steps=250,
        progress_interval_steps=250,
        guards={"temperature_window_steps": 250, "max_temperature_deviation": 0.3},
    )
    atoms = copper()
    before = atoms.positions.copy()
    progress: list[MDProgress] = []
    path = tmp_path / "t.h5"
    result = run_nvt(atoms, EMT(), protocol, 800.0, 3, path, on_progress=progress.append)
    assert np.array_equal(atoms.positions, before)  # the caller's atoms are left alone
    assert result.mean_temperature_K == pytest.approx(800.0, rel=0.10)
    assert [p.step for p in progress] == [250, 500, 750, 1000]
    assert progress[-1].eta_s == 0 and progress[-1].time_ps == pytest.approx(2.0)
    assert 0.05 < result.framework_rmsd_A_final <= result.framework_rmsd_A_max < 1.0  # solid
    assert result.n_frames == 101 and result.n_invocations == 1
    assert result.steps_per_s > 0 and result.atom_steps_per_s == pytest.approx(
        32 * result.steps_per_s
    )
    assert result.peak_host_memory_MB > 0 and result.peak_gpu_memory_MB is None
    assert result.thermostat == "ase.md.nose_hoover_chain.NoseHooverChainNVT"
    positions = read_trajectory(result.trajectory_path).positions_A
    # Unwrapped: the atom at the origin vibrates to negative coordinates instead of jumping to
    # the far side of the cell, and no atom jumps between consecutive frames.
    assert positions[:, 0].min() < 0
    assert np.abs(np.diff(positions, axis=0)).max() < 1.0


@pytest.mark.slow
def test_full_disk_stops_with_one_line_and_keeps_frames(tmp_path, reference):
    # One byte short of the finished file: the append that allocates the second chunk of
    # positions fails, the first 64-frame chunk's frames stay.
    limit = os.path.getsize(reference.trajectory_path) - 1
    path = tmp_path / "full.h5"

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = start_subprocess(KILL_RUN, path, preexec_fn=limit_file_size)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1  # a Python exception, not a crash inside HDF5
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith(f"ionic_assets.science.errors.StorageError: cannot write trajectory {path}")
    )
    kept = read_trajectory(path)
    assert 0 < kept.n_frames < reference.n_frames
    expected = read_trajectory(reference.trajectory_path).positions_A[: kept.n_frames]
    assert np.array_equal(kept.positions_A, expected)


@pytest.mark.slow
def test_chgnet_smoke_run_on_li3n(tmp_path):
    model = build_calculator(ModelSpec(family="chgnet"), device="cpu")
    protocol = load_protocol("smoke")
    result = run_nvt(li3n(), model, protocol, 1000.0, 1, tmp_path / "li3n.h5")
    assert result.n_frames == protocol.n_frames == 61
    assert result.mean_temperature_K == pytest.approx(1000.0, rel=0.3)
    assert result.device == "cpu" and result.device_name
    trajectory = read_trajectory(result.trajectory_path)
    assert trajectory.metadata["model"]["weights_sha256"] == model.identity["weights_sha256"]
    assert trajectory.metadata["protocol"]["name"] == "smoke"
    assert trajectory.metadata["thermostat"]["params"]["tdamp_fs"] == 200.0
    assert np.isfinite(trajectory.positions_A).all()
