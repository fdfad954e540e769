"""The definitions load and the asset graph has the expected shape, one chain per method."""

import json

import dagster as dg
import pytest
import yaml

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import material_partitions, simulation_partitions
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.settings import METHODS_FILE

CHAIN = ("md_trajectories", "diffusion_estimates", "arrhenius_fits")


def test_definitions_load_and_validate(home):
    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    supercells = graph.get(dg.AssetKey("supercells"))
    assert supercells.partitions_def == material_partitions
    assert dg.AssetKey("obelix_subset") in supercells.parent_keys
    assert set(simulation_partitions.partition_dimension_names) == {"material", "temperature_K"}


@pytest.mark.parametrize("method", list(load_methods()))
def test_each_method_has_its_own_chain(home, method):
    graph = load_definitions().resolve_asset_graph()
    key = method.replace("-", "_")
    md, diffusion, arrhenius = (graph.get(dg.AssetKey([key, name])) for name in CHAIN)
    if load_methods()[method].kind == "imported":
        assert md.parent_keys == {dg.AssetKey("supercells")}
    else:  # the cell the MD starts from, relaxed as the protocol says
        relaxed = graph.get(dg.AssetKey([key, "relaxed_cells"]))
        assert md.parent_keys == {relaxed.key}
        assert relaxed.parent_keys == {dg.AssetKey("supercells")}
        assert relaxed.partitions_def == material_partitions and relaxed.group_name == key
        for check in ("relaxation_converged", "relaxation_moderate"):
            assert dg.AssetCheckKey(relaxed.key, check) in relaxed.check_keys
    assert diffusion.parent_keys == {md.key}
    assert arrhenius.parent_keys == {diffusion.key}
    assert arrhenius.key in graph.get(dg.AssetKey("benchmark_table")).parent_keys
    assert md.partitions_def == diffusion.partitions_def == simulation_partitions
    assert arrhenius.partitions_def == material_partitions
    assert {md.group_name, diffusion.group_name, arrhenius.group_name} == {key}
    assert {"hdf5", "ase"} <= set(md.kinds) and "kinisi" in diffusion.kinds
    assert all(node.owners and node.description for node in (md, diffusion, arrhenius))
    assert dg.AssetCheckKey(diffusion.key, "msd_reliable") in diffusion.check_keys
    assert dg.AssetCheckKey(md.key, "framework_not_melted") in md.check_keys
    assert dg.AssetCheckKey(diffusion.key, "framework_solid") in diffusion.check_keys
    sensitivity = graph.get(dg.AssetKey([key, "sensitivity"]))
    assert sensitivity.parent_keys == {arrhenius.key} and sensitivity.automation_condition is None
    assert sensitivity.partitions_def == material_partitions
    assert arrhenius.automation_condition is not None


def test_md_steps_go_to_the_gpu_pool(home):
    defs = load_definitions()
    for method in load_methods().values():
        md = defs.get_assets_def(dg.AssetKey([method.key, "md_trajectories"]))
        assert md.node_def.pool == ("gpu" if method.uses_gpu else "cpu")
        tags = json.loads(md.node_def.tags["dagster-k8s/config"])
        limits = tags["container_config"]["resources"]["limits"]
        assert ("nvidia.com/gpu" in limits) == method.uses_gpu


def test_a_new_method_needs_no_code(home, tmp_path, monkeypatch):
    config = yaml.safe_load(METHODS_FILE.default.read_text())
    config["methods"]["chgnet-020"] = {
        "kind": "mlip",
        "description": "CHGNet 0.2.0 weights",
        "model": {"family": "chgnet", "name": "0.2.0"},
    }
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", str(path))
    graph = load_definitions().resolve_asset_graph()
    for name in CHAIN:
        assert graph.has(dg.AssetKey(["chgnet_020", name]))


def test_bad_methods_file_is_one_clear_error(home, tmp_path, monkeypatch):
    from ionic_assets.science.errors import InputError

    path = tmp_path / "methods.yaml"
    path.write_text("methods:\n  foo:\n    kind: quantum-magic\n")
    monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", str(path))
    with pytest.raises(InputError, match="method foo: kind must be one of"):
        load_methods()


@pytest.mark.slow
def test_dagster_and_dg_validate_the_project(home, obelix_dir):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for command in (
        [str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        [str(bin_dir / "dg"), "check", "defs"],
    ):
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_automation_runs_by_default(home):
    sensor = load_definitions().get_sensor_def("ionic_assets_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
