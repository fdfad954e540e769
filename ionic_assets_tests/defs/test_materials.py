"""obelix_subset and supercells materialized for real into a temporary instance and DuckDB."""

import dagster as dg
import duckdb
import pytest

from ionic_assets.defs.materials.partitions import (
    PAPER_TEMPERATURES_K,
    add_partition_keys,
    temperature_K,
    temperature_key,
)
from ionic_assets.lib import settings
from ionic_assets.lib.runner import load_definitions
from ionic_assets.lib.storage import DUCKDB
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


def test_partial_structure_fails_clearly_and_keeps_stored_rows(instance):
    add_partition_keys(instance, materials=["gvd", "13q"])
    assert _materialize(instance, ["supercells"], partition="gvd").success
    result = _materialize(instance, ["supercells"], partition="13q")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "material 13q: partially occupied site" in failure.step_failure_data.error.message
    assert [r[0] for r in _rows("SELECT material_id FROM supercells")] == ["gvd"]


@pytest.mark.parametrize("key", ["abc", "-5", "0", "nan", "inf", ""])
def test_bad_temperature_keys_are_refused(key):
    with pytest.raises(InputError, match="not a positive number of kelvin"):
        temperature_K(key)


def test_temperature_keys_are_canonical():
    assert temperature_key("1000.0") == "1000"
    assert temperature_key(1300) == "1300"
    assert temperature_key("950.5") == "950.5"
