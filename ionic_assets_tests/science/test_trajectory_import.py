"""Importing trajectories from extxyz, ASE .traj, XDATCAR, vasprun.xml and the platform's .h5."""

import ase.io
import numpy as np
import pytest
from ase import Atoms

from ionic_assets.science.errors import InputError
from ionic_assets.science.trajectory import Trajectory, framework_rmsd_A
from ionic_assets.science.trajectory_import import (
    import_trajectory,
    load_trajectory,
    unwrap_positions,
)

# A triclinic cell, so that unwrapping has to work in fractional coordinates.
CELL_A = np.array([[6.0, 0.0, 0.0], [1.0, 6.0, 0.0], [0.5, 0.5, 6.0]])
N_FRAMES = 20
TIMESTEP_FS, STRIDE = 2.0, 5  # -> 0.01 ps between frames


def true_positions() -> np.ndarray:
    """Li0 runs along +x (crosses the cell twice), Li1 drifts along -y/+z, O stays put."""
    start = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 5.5], [2.0, 4.0, 3.0]])
    velocity = np.array([[0.7, 0.0, 0.0], [0.0, -0.45, 0.3], [0.0, 0.0, 0.0]])  # A per frame
    return start + np.arange(N_FRAMES)[:, None, None] * velocity


def wrapped_frames(symbols: str = "Li2O") -> list[Atoms]:
    frames = []
    for positions in true_positions():
        atoms = Atoms(symbols, positions=positions, cell=CELL_A, pbc=True)
        atoms.wrap()
        frames.append(atoms)
    return frames


def test_fixture_really_crosses_boundaries():
    wrapped = np.stack([a.positions for a in wrapped_frames()])
    assert np.abs(wrapped - true_positions()).max() > 5.0


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("run.extxyz", "extxyz"), ("run.traj", "traj"), ("XDATCAR", "vasp-xdatcar")],
)
def test_ase_formats_unwrap_with_given_time_step(tmp_path, name, fmt):
    path = tmp_path / name
    ase.io.write(path, wrapped_frames(), format=fmt)
    traj = load_trajectory(path, timestep_fs=TIMESTEP_FS, frame_stride=STRIDE, temperature_K=900)
    assert traj.metadata["format"] == fmt
    assert np.allclose(traj.positions_A, true_positions(), atol=1e-5)
    assert np.allclose(traj.time_ps, np.arange(N_FRAMES) * 0.01)
    assert np.allclose(traj.cell_A, CELL_A)
    assert traj.numbers.tolist() == [3, 3, 8]
    assert traj.temperature_K == 900


@pytest.mark.parametrize(
    ("options", "missing"),
    [({}, "timestep_fs and frame_stride"), ({"timestep_fs": 2.0}, "frame_stride")],
)
def test_xdatcar_without_time_step_names_the_missing_option(tmp_path, options, missing):
    path = tmp_path / "XDATCAR"
    ase.io.write(path, wrapped_frames(), format="vasp-xdatcar")
    with pytest.raises(InputError, match=f"give {missing}$"):
        load_trajectory(path, **options)


def write_vasprun(path, frames: list[Atoms], potim_fs: float, tebeg_K: float) -> None:
    """The smallest vasprun.xml that ase's 'vasp-xml' reader accepts, one block per MD step."""

    def varray(name, rows):
        lines = "".join(f"<v>{' '.join(f'{x:.10f}' for x in row)}</v>" for row in rows)
        return f'<varray name="{name}">{lines}</varray>'

    def structure(atoms, name=None):
        label = f' name="{name}"' if name else ""
        return (
            f"<structure{label}><crystal>{varray('basis', atoms.cell[:])}</crystal>"
            f"{varray('positions', atoms.get_scaled_positions(wrap=False))}</structure>"
        )

    energy = '<i name="e_fr_energy">-1.0</i><i name="e_0_energy">-1.0</i>'
    atom_rows = "".join(f"<rc><c>{s}</c><c>1</c></rc>" for s in frames[0].get_chemical_symbols())
    steps = "".join(
        f"<calculation><scstep><energy>{energy}</energy></scstep>{structure(a)}"
        f"<energy>{energy}</energy></calculation>"
        for a in frames
    )
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1"?><modeling>'
        '<kpoints><varray name="kpointlist"><v>0 0 0</v></varray>'
        '<varray name="weights"><v>1</v></varray></kpoints>'
        f'<parameters><i name="POTIM">{potim_fs}</i><i name="TEBEG">{tebeg_K}</i></parameters>'
        f'<atominfo><array name="atoms"><set>{atom_rows}</set></array></atominfo>'
        f"{structure(frames[0], 'initialpos')}{steps}</modeling>"
    )


def test_vasprun_takes_time_step_and_temperature_from_the_file(tmp_path):
    path = tmp_path / "vasprun.xml"
    write_vasprun(path, wrapped_frames(), potim_fs=1.5, tebeg_K=1100)
    traj = load_trajectory(path)
    assert traj.metadata["format"] == "vasp-xml"
    assert np.allclose(traj.positions_A, true_positions(), atol=1e-5)
    assert np.allclose(traj.time_ps, np.arange(N_FRAMES) * 0.0015)  # every ionic step
    assert traj.temperature_K == 1100
    # explicit options win over the file
    traj = load_trajectory(path, timestep_fs=2.0, frame_stride=10, temperature_K=800)
    assert np.allclose(traj.time_ps, np.arange(N_FRAMES) * 0.02) and traj.temperature_K == 800


def test_platform_h5_round_trip(tmp_path):
    store = pytest.importorskip("ionic_assets.science.trajectory_store")
    path = tmp_path / "run.h5"
    positions = true_positions()
    store.create_trajectory_file(
        path, numbers=[3, 3, 8], cell_A=CELL_A, temperature_K=1000.0, timestep_fs=TIMESTEP_FS,
        frame_interval_steps=STRIDE, provenance={"method": "test"},
    )  # fmt: skip
    store.append_frames(path, positions, np.arange(N_FRAMES) * 0.01, np.arange(N_FRAMES) * STRIDE)
    traj = load_trajectory(path)
    assert np.allclose(traj.positions_A, positions, atol=1e-5)  # stored as float32
    assert np.allclose(traj.time_ps, np.arange(N_FRAMES) * 0.01) and traj.temperature_K == 1000
    assert load_trajectory(path, temperature_K=700).temperature_K == 700
    with pytest.raises(InputError, match="carry their own time axis"):
        load_trajectory(path, timestep_fs=1.0)


def test_h5_with_non_increasing_times_is_refused(tmp_path):
    store = pytest.importorskip("ionic_assets.science.trajectory_store")
    path = tmp_path / "run.h5"
    store.create_trajectory_file(
        path, numbers=[3, 3, 8], cell_A=CELL_A, temperature_K=1000.0, timestep_fs=TIMESTEP_FS,
        frame_interval_steps=STRIDE, provenance={},
    )  # fmt: skip
    store.append_frames(path, true_positions()[:3], np.array([0.0, 0.02, 0.01]), np.arange(3))
    with pytest.raises(InputError, match="not strictly increasing"):
        load_trajectory(path)


def test_half_cell_jump_is_refused_naming_the_frame():
    positions = true_positions()[:4].copy()
    positions[3:, 1, 0] += 0.48 * 6.0  # Li1 jumps ~half a cell along a between frames 2 and 3
    message = r"atom 1 moves 0\.4\d of lattice vector 0 between frames 2 and 3"
    with pytest.raises(InputError, match=message):
        unwrap_positions(positions, CELL_A, source="test")


def test_file_without_li_is_refused(tmp_path):
    path = tmp_path / "run.extxyz"
    ase.io.write(path, wrapped_frames("Na2O"), format="extxyz")
    with pytest.raises(InputError, match="no Li atoms"):
        load_trajectory(path, timestep_fs=1.0, frame_stride=1)


def test_changing_cell_is_refused(tmp_path):
    frames = wrapped_frames()
    frames[5].set_cell(CELL_A * 1.01, scale_atoms=True)
    path = tmp_path / "run.traj"
    ase.io.write(path, frames)
    with pytest.raises(InputError, match="cell changes"):
        load_trajectory(path, timestep_fs=1.0, frame_stride=1)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_trajectory(tmp_path / "absent.traj")
    (tmp_path / "run.dat").write_text("x")
    with pytest.raises(InputError, match="pass fmt"):
        load_trajectory(tmp_path / "run.dat")
    with pytest.raises(InputError, match="unknown format"):
        load_trajectory(tmp_path / "run.dat", fmt="lammps")


# --- import_trajectory: validate, then copy into the platform's format ---------------------------


def import_into(tmp_path, source, **options):
    defaults = dict(temperature_K=1100.0, expected_numbers=[3, 3, 3, 3, 8, 8], provenance={})
    return import_trajectory(source, tmp_path / "out.h5", **{**defaults, **options})


def test_import_copies_a_vasprun_into_a_platform_file(tmp_path):
    source = tmp_path / "vasprun.xml"
    write_vasprun(source, wrapped_frames(), potim_fs=1.5, tebeg_K=1100)
    before = source.read_bytes()
    # Li4O2 (the material) has the trajectory's Li2O proportions in another cell size.
    imported = import_into(tmp_path, source, provenance={"method": "vasp-elsewhere"})
    stored = load_trajectory(tmp_path / "out.h5")
    assert np.allclose(stored.positions_A, true_positions(), atol=1e-5)
    assert np.allclose(stored.time_ps, np.arange(N_FRAMES) * 0.0015)
    assert stored.temperature_K == imported.temperature_K == 1100
    assert stored.metadata["method"] == "vasp-elsewhere"
    assert stored.metadata["source_metadata"]["format"] == "vasp-xml"  # what the file said
    assert stored.metadata["timestep_fs"] == pytest.approx(1.5)
    assert source.read_bytes() == before  # the source is never touched


def test_import_takes_the_time_step_for_files_without_one(tmp_path):
    source = tmp_path / "run.extxyz"
    ase.io.write(source, wrapped_frames(), format="extxyz")
    with pytest.raises(InputError, match="give timestep_fs and frame_stride"):
        import_into(tmp_path, source)
    import_into(tmp_path, source, timestep_fs=2.0, frame_stride=5)
    stored = load_trajectory(tmp_path / "out.h5")
    assert np.allclose(stored.time_ps, np.arange(N_FRAMES) * 0.01)
    assert stored.metadata["frame_interval_steps"] == 5
    assert stored.metadata["timestep_fs"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ([3, 3, 8, 8], "species Li2 O1 do not match the material's Li2 O2"),
        ([3, 3, 9], "species Li2 O1 do not match the material's Li2 F1"),
        ([3, 3, 8, 7], "species Li2 O1 do not match the material's Li2 N1 O1"),
    ],
)
def test_import_refuses_other_species_and_writes_nothing(tmp_path, expected, message):
    source = tmp_path / "vasprun.xml"
    write_vasprun(source, wrapped_frames(), potim_fs=1.5, tebeg_K=1100)
    with pytest.raises(InputError, match=message):
        import_into(tmp_path, source, expected_numbers=expected)
    assert not (tmp_path / "out.h5").exists()


def test_import_refuses_a_run_at_another_temperature(tmp_path):
    source = tmp_path / "vasprun.xml"
    write_vasprun(source, wrapped_frames(), potim_fs=1.5, tebeg_K=900)
    with pytest.raises(InputError, match="run at 900 K, registered for 1100 K"):
        import_into(tmp_path, source)


def test_framework_rmsd_by_hand():
    reference = np.zeros((2, 3))
    # One atom +1 A in x, the other -1 A: no drift; each moved 1 A, so the RMS is 1 A.
    assert framework_rmsd_A(np.array([[1.0, 0, 0], [-1.0, 0, 0]]), reference) == pytest.approx(1)
    # Both +1 A: pure drift, removed.
    assert framework_rmsd_A(np.array([[1.0, 0, 0], [1.0, 0, 0]]), reference) == pytest.approx(0)


def test_framework_rmsd_ignores_drift_and_li():
    traj = load_trajectory_from_positions(true_positions())
    # O stands still, Li moves: no framework displacement.
    assert traj.framework_rmsd_max_A() == pytest.approx(0.0, abs=1e-12)
    shaken = true_positions().copy()
    shaken[:, 2] += np.array([0.3, 0.4, 0.0])  # the lone O shifts: that is pure drift
    assert load_trajectory_from_positions(shaken).framework_rmsd_max_A() == pytest.approx(0.0)


def load_trajectory_from_positions(positions):
    return Trajectory(positions, np.arange(len(positions)) * 0.01, CELL_A, np.array([3, 3, 8]))
