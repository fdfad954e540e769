"""`ionic-assets` as a user runs it: analyze, partitions, and clear one-line errors."""

import json

import ase.io
import numpy as np
import pytest
from ase import Atoms

from ionic_assets.cli import main
from ionic_assets.science.synthetic import brownian_trajectory

E_C, KB_J_K = 1.602176634e-19, 1.380649e-23


def _write_wrapped_extxyz(path, D_cm2_s):
    """A known-D trajectory written as a simulation code would: positions wrapped into the cell."""
    traj = brownian_trajectory(
        seed=5,
        D_cm2_s=D_cm2_s,
        n_frames=400,
        n_li=64,
        n_framework=16,
        frame_interval_ps=0.1,
        box_A=12.0,
    )
    frames = [
        Atoms(numbers=traj.numbers, positions=p, cell=traj.cell_A, pbc=True)
        for p in traj.positions_A
    ]
    for frame in frames:
        frame.wrap()
    ase.io.write(path, frames, format="extxyz")
    return traj


def test_analyze_extxyz_recovers_known_D(tmp_path, capsys):
    path = tmp_path / "run.extxyz"
    traj = _write_wrapped_extxyz(path, 5e-5)
    # 0.1 ps between frames = 50 steps of 2 fs.
    args = [str(path), "--temperature-K", "1000", "--timestep-fs", "2", "--frame-stride", "50"]
    assert main(["analyze", *args, "--equilibration-ps", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_frames"] == 390  # 1 ps of 0.1 ps frames discarded
    lo, hi = out["D_ci95_cm2_s"]
    assert lo < 5e-5 < hi and out["D_cm2_s"] == pytest.approx(5e-5, rel=0.2)
    sigma = 64 * E_C**2 * out["D_cm2_s"] / (12.0**3 * 1e-24 * KB_J_K * 1000.0) * 1e3
    assert out["sigma_mS_cm"] == pytest.approx(sigma, rel=1e-9)
    assert out["reliable"] is (out["msd_max_A2"] >= 20.0) and out["reliable"]
    assert np.isclose(out["volume_A3"], traj.volume_A3)


def test_analyze_bad_inputs_give_one_line(tmp_path, capsys):
    path = tmp_path / "run.extxyz"
    _write_wrapped_extxyz(path, 5e-5)
    assert main(["analyze", str(path), "--temperature-K", "1000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "timestep" in err

    assert main(["analyze", str(tmp_path / "missing.xyz")]) == 2
    assert "no such file" in capsys.readouterr().err

    no_li = tmp_path / "no_li.extxyz"
    ase.io.write(no_li, [Atoms("O2", positions=[[0, 0, 0], [1, 1, 1]], cell=[5] * 3, pbc=True)] * 5)
    args = [
        "analyze",
        str(no_li),
        "--temperature-K",
        "1000",
        "--timestep-fs",
        "2",
        "--frame-stride",
        "1",
    ]
    assert main(args) == 2
    assert "no Li" in capsys.readouterr().err


def test_partitions_add_and_refuse(instance, capsys):
    assert main(["partitions", "add", "temperature", "1300"]) == 0
    assert "1300" in instance.get_dynamic_partitions("temperature_K")
    assert main(["partitions", "add", "temperature", "-40"]) == 2
    assert "not a positive number of kelvin" in capsys.readouterr().err
    assert main(["partitions", "add", "material", "zzz"]) == 2
    assert "unknown OBELiX ID(s): zzz" in capsys.readouterr().err
    assert "zzz" not in instance.get_dynamic_partitions("material")


def test_run_refuses_unknown_method(instance, capsys):
    assert main(["run", "--methods", "nope", "--materials", "gvd"]) == 2
    assert "unknown method(s): nope" in capsys.readouterr().err
