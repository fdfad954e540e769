"""The batched engine with real models: a random-weight MACE (its real code, cheap) on Li3N
supercells of two sizes; SevenNet-0 for the engine probe. A killed batch resumes bit for bit,
a failing system leaves alone, a memory split changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import ModelSpec, build_calculator
from ionic_assets.science.forcefields.random_mace import write_random_mace_model
from ionic_assets.science.md.checkpoint import load_checkpoint, resumable_step
from ionic_assets.science.md.choice import BATCHING_MARGIN, choose_engine
from ionic_assets.science.md.recorder import MDGuardError
from ionic_assets.science.md.result import MDResult
from ionic_assets.science.md.systems import System
from ionic_assets.science.md.torchsim_runner import run_batch
from ionic_assets.science.trajectory_store import read_provenance, read_trajectory
from ionic_assets_tests.science.md._helpers import Interrupt, li3n, short_protocol

# A real (randomly weighted) MACE model in every test.
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# Random weights make forces large: loose temperature guard, 1 fs steps.
PROTOCOL = {
    "timestep_fs": 1.0,
    "duration_ps": 0.06,
    "equilibration_ps": 0.01,
    "frame_interval_steps": 5,
    "checkpoint_interval_steps": 20,
    "progress_interval_steps": 10,
    "guards": {"temperature_window_steps": 10, "max_temperature_deviation": 5.0},
}


@pytest.fixture(scope="module")
def mace_path(tmp_path_factory):
    return write_random_mace_model(tmp_path_factory.mktemp("mace") / "random.model")


@pytest.fixture(scope="module")
def mace(mace_path):
    return build_calculator(ModelSpec("mace", path=str(mace_path)), "cpu")


# The batch of `run` in a process of its own, to SIGKILL: python -c KILLABLE MODEL DIR THREADS
# (the test's torch thread count: another count sums forces in another order).
KILLABLE = """
import sys
from pathlib import Path
import torch
from ionic_assets.science.forcefields import ModelSpec, build_calculator
from ionic_assets_tests.science.md.test_torchsim_runner import run

torch.set_num_threads(int(sys.argv[3]))
run(Path(sys.argv[2]), build_calculator(ModelSpec("mace", path=sys.argv[1]), "cpu"))
"""


def systems(tmp_path, sizes=((2, 2, 2), (2, 2, 3)), temperatures=(600.0, 900.0)):
    return [
        System(li3n().repeat(size), T, 7 + i, tmp_path / f"s{i}.h5", label=f"s{i}")
        for i, (size, T) in enumerate(zip(sizes, temperatures, strict=True))
    ]


def run(tmp_path, model, **kwargs):
    return run_batch(systems(tmp_path), model, short_protocol(**PROTOCOL), **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mace):
    tmp = tmp_path_factory.mktemp("reference")
    return tmp, run(tmp, mace)


def positions(path):
    return read_trajectory(path).positions_A


def test_batch_gives_each_system_its_own_trajectory_and_result(reference):
    tmp, outcomes = reference
    for i, outcome in enumerate(outcomes):
        assert isinstance(outcome, MDResult) and outcome.engine == "torch-sim"
        assert outcome.n_frames == 13 and outcome.stop_reason == "max_duration"
        provenance = read_provenance(tmp / f"s{i}.h5")
        assert provenance["integrator"]["tau_fs"] == 200.0
        assert provenance["integrator"]["sy_steps"] == 3 and provenance["engine"] == "torch-sim"
    # The cost is shared by atoms: 32 and 48 atoms.
    assert outcomes[1].wall_time_s > outcomes[0].wall_time_s


def stop_at(step: int):
    def stop(progress):
        if progress.step == step:
            raise Interrupt

    return stop


def assert_resumed_as_the_reference(tmp_path, ref_dir, outcomes) -> None:
    """Every system took two invocations and wrote the uninterrupted batch's frames exactly."""
    for i, outcome in enumerate(outcomes):
        assert outcome.n_invocations == 2
        np.testing.assert_array_equal(
            positions(tmp_path / f"s{i}.h5"), positions(ref_dir / f"s{i}.h5")
        )


def test_interrupted_batch_resumes_every_system_bitwise(tmp_path, mace, reference):
    ref_dir, _ = reference
    with pytest.raises(Interrupt):
        run(tmp_path, mace, on_progress=stop_at(30))
    assert load_checkpoint(tmp_path / "s0.h5.ckpt")[1]["state"]["step"] == 20
    outcomes = run(tmp_path, mace)
    assert_resumed_as_the_reference(tmp_path, ref_dir, outcomes)
    again = run(tmp_path, mace)  # finished: the stored results, nothing computed
    assert [o.to_dict() for o in again] == [o.to_dict() for o in outcomes]


def test_sigkilled_batch_resumes_every_system_bitwise(tmp_path, mace, mace_path, reference):
    ref_dir, _ = reference
    threads = str(torch.get_num_threads())
    command = [sys.executable, "-c", KILLABLE, str(mace_path), str(tmp_path), threads]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT)
    ckpt = tmp_path / "s1.h5.ckpt"  # the last system to write a checkpoint at a step
    while not ckpt.exists() and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    step = load_checkpoint(ckpt)[1]["state"]["step"]
    assert 0 < step < 60, "the batch finished before it could be killed"
    assert_resumed_as_the_reference(tmp_path, ref_dir, run(tmp_path, mace))


def test_kill_between_two_systems_checkpoints_resumes_both_from_the_common_step(
    tmp_path, mace, reference
):
    ref_dir, _ = reference
    with pytest.raises(Interrupt):
        run(tmp_path, mace, on_progress=stop_at(50))
    # As if killed after s0 wrote its step-40 checkpoint and before s1 wrote its own.
    s1 = tmp_path / "s1.h5.ckpt"
    os.replace(s1.with_name(s1.name + ".prev"), s1)
    assert [resumable_step(tmp_path / f"s{i}.h5.ckpt") for i in (0, 1)] == [40, 20]
    assert_resumed_as_the_reference(tmp_path, ref_dir, run(tmp_path, mace))


def test_memory_split_runs_every_system_and_changes_only_rounding(tmp_path, mace, reference):
    ref_dir, _ = reference
    outcomes = run(tmp_path, mace, max_memory_scaler=1.0)  # one system per part
    assert all(isinstance(o, MDResult) for o in outcomes)
    for i in range(2):  # float32 sums in another order: last-bit differences, no more
        np.testing.assert_allclose(
            positions(tmp_path / f"s{i}.h5"), positions(ref_dir / f"s{i}.h5"), atol=1e-5
        )


def test_bad_systems_fail_alone_with_one_line(tmp_path, mace):
    batch = systems(tmp_path)
    squeezed = li3n().repeat((2, 2, 2))
    squeezed.positions[1] = squeezed.positions[0] + [0.3, 0, 0]
    oxide = li3n().repeat((2, 2, 2))
    oxide.numbers[-1] = 8
    batch += [
        System(squeezed, 600.0, 1, tmp_path / "squeezed.h5"),
        System(oxide, 600.0, 1, tmp_path / "oxide.h5"),
    ]
    good, good2, collapsed, uncovered = run_batch(batch, mace, short_protocol(**PROTOCOL))
    assert isinstance(good, MDResult) and isinstance(good2, MDResult)
    assert isinstance(collapsed, MDGuardError) and "0.30 A apart" in str(collapsed)
    assert isinstance(uncovered, InputError) and "does not cover element(s) O" in str(uncovered)
    assert "\n" not in str(collapsed) + str(uncovered)


def test_a_system_that_blows_up_mid_run_leaves_the_batch(tmp_path, mace):
    # A rattled start heats the random model's 600 K system by ~70% within 60 steps, the 900 K
    # one by ~40%: a 50% limit on the running mean stops the first mid-run, not the second.
    protocol = short_protocol(**{**PROTOCOL, "guards": {
        "temperature_window_steps": 10, "max_temperature_deviation": 0.5}})  # fmt: skip
    batch = systems(tmp_path)
    rattled = batch[0].atoms.copy()
    rattled.rattle(0.15, seed=1)
    batch[0] = replace(batch[0], atoms=rattled)
    hot, fine = run_batch(batch, mace, protocol)
    assert isinstance(hot, MDGuardError) and "temperature ran away" in str(hot)
    assert "step 0 " not in str(hot) and len(read_trajectory(tmp_path / "s0.h5").time_ps) > 1
    assert isinstance(fine, MDResult) and fine.n_frames == 13


def test_engine_choice_is_measured_and_recorded(tmp_path, mace):
    chgnet = build_calculator(ModelSpec("chgnet"), "cpu")
    batch = systems(tmp_path)
    assert choose_engine(chgnet, batch).engine == "ase"
    assert "no torch-sim wrapper" in choose_engine(chgnet, batch).reason
    assert choose_engine(mace, batch, "ase").reason == "requested"
    measured = choose_engine(mace, batch)
    assert measured.ase_atom_evals_per_s > 0 and measured.batched_atom_evals_per_s > 0
    margin = measured.batched_atom_evals_per_s / measured.ase_atom_evals_per_s
    assert measured.engine == ("torch-sim" if margin >= BATCHING_MARGIN else "ase")
    assert f"for 2 systems (batched when >= {BATCHING_MARGIN:g}x)" in measured.reason
    with pytest.raises(InputError, match="unknown"):
        choose_engine(mace, batch, "gromacs")


def test_a_started_trajectory_keeps_its_engine(tmp_path, mace, reference):
    ref_dir, _ = reference
    started = systems(ref_dir)
    choice = choose_engine(mace, started, "ase")
    assert choice.engine == "ase"  # asked for explicitly
    choice = choose_engine(mace, started)
    assert choice.engine == "torch-sim" and "resumes" in choice.reason
