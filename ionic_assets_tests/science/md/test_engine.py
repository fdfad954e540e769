"""The engine type: recorded names, requests, and results stored before engines were recorded."""

import pytest

from ionic_assets.science.errors import InputError
from ionic_assets.science.md.engine import AUTO, REQUESTS, Engine, check_request
from ionic_assets.science.md.result import MDResult


def test_engines_are_recorded_by_their_names_and_auto_is_a_request_only():
    assert [engine.value for engine in Engine] == ["torch-sim", "ase"]
    assert REQUESTS == ("auto", "torch-sim", "ase") and AUTO not in set(Engine)
    for requested in REQUESTS:
        check_request(requested)
    with pytest.raises(InputError, match=r"MD engine 'gromacs': unknown \(choose from auto, "):
        check_request("gromacs")


def test_result_round_trips_with_the_engine_by_name():
    fields = {
        "trajectory_path": "run.h5", "protocol": "p", "n_steps": 10, "timestep_fs": 2.0,
        "n_frames": 3, "n_atoms": 8, "temperature_K": 800.0, "mean_temperature_K": 790.0,
        "seed": 1, "thermostat": "ase.md.nose_hoover_chain.NoseHooverChainNVT",
        "thermostat_params": {}, "framework_rmsd_A_final": None, "framework_rmsd_A_max": None,
        "wall_time_s": 1.0, "n_steps_run": 10, "steps_per_s": 10.0, "atom_steps_per_s": 80.0,
        "device": "cpu", "device_name": "cpu", "peak_host_memory_MB": 1.0,
        "peak_gpu_memory_MB": None, "n_invocations": 1,
    }  # fmt: skip
    result = MDResult.from_dict({**fields, "engine": "torch-sim"})
    assert result.engine is Engine.TORCH_SIM and result.to_dict()["engine"] == "torch-sim"
    assert MDResult.from_dict(result.to_dict()) == result
    # Checkpoints written before the engine was recorded hold the ASE runner's results.
    assert MDResult.from_dict(fields).engine is Engine.ASE
