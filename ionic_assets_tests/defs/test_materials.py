"""obelix_subset and supercells materialized for real into a temporary instance and DuckDB."""

import json

import dagster as dg
import duckdb
import pytest
from pymatgen.core import Structure

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import (
    PAPER_TEMPERATURES_K,
    add_partition_keys,
    temperature_K,
    temperature_key,
)
from ionic_assets.defs.resources import SimulationResource
from ionic_assets.lib import settings
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.storage import DUCKDB
from ionic_assets.science import forcefields, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.obelix import PAPER_MATERIAL_IDS


def _materialize(instance, keys, partition=None, run_config=None):
    defs = load_definitions()
    return dg.materialize(
        assets=defs.assets,
        selection=keys,
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        run_config=run_config,
    )


def _rows(sql):
    with duckdb.connect(str(settings.home_dir() / DUCKDB), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_obelix_subset_has_the_21_paper_materials_and_seeds_partitions(instance):
    assert _materialize(instance, ["obelix_subset"]).success
    rows = dict(_rows("SELECT material_id, sigma_exp_mS_cm FROM obelix_subset"))
    assert set(rows) == set(PAPER_MATERIAL_IDS)
    assert rows["gvd"] == pytest.approx(0.5767)  # 5.767e-4 S/cm in OBELiX
    assert rows["47i"] == pytest.approx(1e-12)
    assert not _rows("SELECT * FROM obelix_subset WHERE NOT is_ordered AND material_id != 'joc'")
    assert set(instance.get_dynamic_partitions("material")) == set(PAPER_MATERIAL_IDS)
    assert instance.get_dynamic_partitions("temperature_K") == list(PAPER_TEMPERATURES_K)


def test_goi_can_be_asked_for(instance):
    config = {"ops": {"obelix_subset": {"config": {"material_ids": ["goi", "gvd"]}}}}
    assert _materialize(instance, ["obelix_subset"], run_config=config).success
    ids = {r[0] for r in _rows("SELECT material_id FROM obelix_subset")}
    assert {"goi", "gvd"} <= ids


def test_supercells_row_and_metadata(instance):
    add_partition_keys(instance, materials=["gvd"])
    result = _materialize(instance, ["supercells"], partition="gvd")
    assert result.success
    (n_atoms, n_li, replication, volume) = _rows(
        "SELECT n_atoms, n_li, replication, volume_A3 FROM supercells WHERE material_id='gvd'"
    )[0]
    assert (n_atoms, n_li, replication) == (192, 144, [4, 4, 3])
    metadata = result.asset_materializations_for_node("supercells")[0].metadata
    assert metadata["min_perpendicular_width_A"].value >= 10
    assert metadata["volume_A3"].value == pytest.approx(volume)


@pytest.mark.slow
def test_refused_structure_fails_clearly_and_keeps_stored_rows(instance):
    add_partition_keys(instance, materials=["gvd", "13q"])
    assert _materialize(instance, ["supercells"], partition="gvd").success
    refuse = {"ops": {"supercells": {"config": {"ordering_strategy": "refuse"}}}}
    result = _materialize(instance, ["supercells"], partition="13q", run_config=refuse)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "material 13q: partially occupied site" in failure.step_failure_data.error.message
    assert [r[0] for r in _rows("SELECT material_id FROM supercells")] == ["gvd"]


@pytest.mark.slow
def test_disordered_garnet_is_ordered_recorded_checked_and_reproducible(instance):
    """72f (Li over 96h and 24d, Al on 24d): by default `sampled`; the row and the metadata say
    what was done; the sanity check passes; a second materialization stores the same cell."""
    add_partition_keys(instance, materials=["72f"])
    first = _materialize(instance, ["supercells"], partition="72f")
    assert first.success
    (cif, strategy, seed, charge, target, achieved, energy, spread, n_atoms) = _rows(
        "SELECT supercell_cif, ordering_strategy, ordering_seed, charge_e, target_composition, "
        "achieved_composition, ordering_energy_eV, ordering_energy_spread_eV_per_atom, n_atoms "
        "FROM supercells WHERE material_id = '72f'"
    )[0]
    assert (strategy, seed, charge, n_atoms) == ("sampled", 0, 0.0, 376)
    assert json.loads(target)["Li"] == pytest.approx(2 * (96 * 0.349 + 24 * 0.69))
    assert json.loads(achieved)["Li"] == 100
    assert energy < 0 and spread >= 0
    metadata = first.asset_materializations_for_node("supercells")[0].metadata
    assert metadata["ordering_strategy"].value == "sampled"
    assert metadata["achieved_composition"].value["Al"] == 4
    (check,) = first.get_asset_check_evaluations()
    assert check.check_name == "ordered_cell_sane" and check.passed
    assert check.metadata["distances"].value["passed"]
    assert _materialize(instance, ["supercells"], partition="72f").success
    assert _rows("SELECT supercell_cif FROM supercells WHERE material_id = '72f'") == [(cif,)]


@pytest.mark.slow
def test_subset_takes_any_ids_with_cifs(instance):
    config = {"ops": {"obelix_subset": {"config": {"material_ids": ["72f", "122"]}}}}
    assert _materialize(instance, ["obelix_subset"], run_config=config).success
    assert dict(_rows("SELECT material_id, is_ordered FROM obelix_subset WHERE NOT is_ordered"))
    no_cif = {"ops": {"obelix_subset": {"config": {"material_ids": ["72f", "ptg"]}}}}
    result = _materialize(instance, ["obelix_subset"], run_config=no_cif)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "OBELiX ID(s) without a CIF: ptg" in failure.step_failure_data.error.message


@pytest.mark.slow
def test_draw_over_all_entries_includes_disordered_ones(instance):
    config = {"ops": {"obelix_subset": {"config": {"draw_seed": 3, "draw_over": "all"}}}}
    result = _materialize(instance, ["obelix_subset"], run_config=config)
    assert result.success
    metadata = result.asset_materializations_for_node("obelix_subset")[0].metadata
    assert metadata["draw_seed"].value == 3 and metadata["draw_over"].value == "all"
    assert metadata["n_disordered"].value > 0
    drawn = {r[0] for r in _rows("SELECT material_id FROM obelix_subset")}
    assert _materialize(instance, ["obelix_subset"], run_config=config).success
    assert {r[0] for r in _rows("SELECT material_id FROM obelix_subset")} == drawn


@pytest.mark.parametrize("key", ["abc", "-5", "0", "nan", "inf", ""])
def test_bad_temperature_keys_are_refused(key):
    with pytest.raises(InputError, match="not a positive number of kelvin"):
        temperature_K(key)


def test_temperature_keys_are_canonical():
    assert temperature_key("1000.0") == "1000"
    assert temperature_key(1300) == "1300"
    assert temperature_key("950.5") == "950.5"


@pytest.mark.slow
def test_sampled_orderings_ranked_by_a_methods_force_model(instance):
    """rank_by: chgnet ranks 122's orderings (smoke protocol: two unit cells, 104 atoms) by
    CHGNet single points; the recorded energy is CHGNet's energy of the stored cell."""
    add_partition_keys(instance, materials=["122"])
    defs = load_definitions()
    config = {"ops": {"supercells": {"config": {"rank_by": "chgnet", "n_samples": 3}}}}
    result = dg.materialize(
        assets=defs.assets,
        selection=["supercells"],
        partition_key="122",
        instance=instance,
        resources={**defs.resources, "simulation": SimulationResource(protocol="smoke")},
        run_config=config,
    )
    assert result.success
    ((cif, ordering),) = _rows("SELECT supercell_cif, ordering FROM supercells")
    record = json.loads(ordering)
    assert record["ranked_by"] == "model" and len(record["energies_eV"]) == 3
    spec = forcefields.ModelSpec.from_dict(load_methods()["chgnet"].settings["model"])
    atoms = structures.to_ase(Structure.from_str(cif, fmt="cif"))
    atoms.calc = forcefields.build_calculator(spec, "cpu").calculator
    assert atoms.get_potential_energy() == pytest.approx(record["energy_eV"], abs=1e-3)
    assert record["energy_eV"] == min(record["energies_eV"])
