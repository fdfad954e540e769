"""methods.yaml: the three kinds, their validation, and imported trajectories' registration."""

import pytest
import yaml

from ionic_assets.lib.methods import load_methods
from ionic_assets.science.errors import InputError


def write(tmp_path, methods: dict):
    path = tmp_path / "conf" / "methods.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"methods": methods}))
    return path


def test_shipped_methods_cover_mlip_and_dft():
    methods = load_methods()
    assert {m.kind for m in methods.values()} == {"mlip", "dft"}
    assert methods["dft-cp2k"].engine == "cp2k" and methods["dft-vasp"].engine == "vasp"
    assert methods["chgnet"].engine == "chgnet" and methods["chgnet"].uses_gpu
    assert not methods["dft-cp2k"].uses_gpu
    # A DFT step takes minutes: every step is a checkpoint.
    assert methods["dft-cp2k"].settings["cadence"]["checkpoint_interval_steps"] == 1


def test_imported_trajectories_are_registered_per_partition(tmp_path):
    path = write(
        tmp_path,
        {
            "aimd": {
                "kind": "imported",
                "trajectories": [
                    {"material_id": "gvd", "temperature_K": 1000, "path": "runs/XDATCAR",
                     "timestep_fs": 2.0, "frame_stride": 10, "wall_time_s": 3600, "n_cpus": 64},
                    {"material_id": "gvd", "temperature_K": "1200", "path": "/abs/vasprun.xml"},
                ],
            }
        },
    )  # fmt: skip
    method = load_methods(path)["aimd"]
    assert method.engine == "imported" and not method.uses_gpu
    first = method.imported("gvd", 1000.0)
    assert first.path == path.parent / "runs" / "XDATCAR"  # relative to the methods file
    assert (first.timestep_fs, first.frame_stride, first.n_cpus) == (2.0, 10, 64)
    assert str(method.imported("gvd", 1200.0).path) == "/abs/vasprun.xml"
    with pytest.raises(InputError, match="aimd: no trajectory registered for fft at 1000 K"):
        method.imported("fft", 1000.0)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "dft", "engine": "gaussian"},
         "x: engine must be one of vasp, cp2k, not gaussian"),
        ({"kind": "mlip"}, "x: an mlip method needs a `model` map"),
        ({"kind": "imported", "trajectories": [{"material_id": "gvd", "path": "a.xyz"}]},
         "x: trajectory entry .* needs material_id, temperature_K and path"),
        ({"kind": "imported", "trajectories": [
            {"material_id": "gvd", "temperature_K": 1000, "path": "a", "timestep": 2}]},
         "x: trajectory entry .* only the fields of ImportedTrajectory .*timestep"),
    ],
)  # fmt: skip
def test_bad_entries_are_one_clear_error(tmp_path, entry, message):
    with pytest.raises(InputError, match=f"method {message}"):
        load_methods(write(tmp_path, {"x": entry}))
