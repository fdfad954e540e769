"""<method>/relaxed_cells of a batchable force model over a range of materials: `ionic-assets
run` and a backfill put the materials in one run (CHGNet's one each); and for real, SevenNet-0
(weights in its wheel, torch-sim forced as on a GPU), the smoke-relaxed protocol, the unit cells
of fft and gvd (8 and 4 atoms, consecutive in the paper's order): one run relaxes both cells in
one torch-sim batch, each stored and checked on its own, close to its ASE relaxation; a
material that diverges fails alone with its one line, the other stored."""

import dagster as dg
import pytest
from pymatgen.core import Structure

from ionic_assets.cli.runner import load_definitions, plan_stages
from ionic_assets.defs.materials.partitions import add_partition_keys, seed_default_partitions
from ionic_assets.defs.scheduling import run_partitions
from ionic_assets.lib import settings
from ionic_assets.lib.metadata import FAILED_PARTITIONS, RANGE_END_TAG, RANGE_START_TAG
from ionic_assets.lib.methods import load_methods
from ionic_assets.science import forcefields, structures
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.relax import RelaxationDiverged, relax_cells, unrelaxed
from ionic_assets_tests.stored import query

RELAXED = dg.AssetKey(["sevenn_0", "relaxed_cells"])
MATERIALS = ["fft", "gvd"]
#: How close the batched relaxation's volume change comes to ASE's (same FIRE flavour, fmax).
VOLUME_TOLERANCE_FRAC = 0.005


def _ase_volume_changes(home) -> dict[str, float]:
    """Each stored supercell relaxed on its own with ASE: {material: volume_change_frac}."""
    spec = forcefields.ModelSpec.from_dict(load_methods()["sevenn-0"].settings["model"])
    model = forcefields.build_calculator(spec, "cpu")
    protocol = load_protocol("smoke-relaxed")
    cells = query(home, "SELECT material_id, supercell_cif FROM supercells ORDER BY material_id")
    min_distance_A = protocol.guards.min_interatomic_distance_A
    changes = {}
    for material, cif in cells.itertuples(index=False):
        atoms = structures.to_ase(Structure.from_str(cif, fmt="cif"))
        _, (outcome,) = relax_cells([atoms], [material], model, protocol.relax, min_distance_A,
                                    engine="ase")  # fmt: skip
        changes[material] = outcome.change["volume_change_frac"]
    return changes


def _materialize_upstream(instance, defs) -> None:
    add_partition_keys(instance, MATERIALS, [])
    resources = dict(defs.resources)
    dg.materialize(defs.assets, selection=["obelix_subset"], instance=instance,
                   resources=resources)  # fmt: skip
    for material in MATERIALS:
        dg.materialize(defs.assets, selection=["supercells"], partition_key=material,
                       instance=instance, resources=resources)  # fmt: skip


def _relax_range(instance, defs):
    """One run of sevenn-0's relaxed_cells over the range fft..gvd, as a backfill makes it."""
    return dg.materialize(defs.assets, selection=[RELAXED], instance=instance,
                          resources=dict(defs.resources), raise_on_error=False,
                          tags={RANGE_START_TAG: "fft", RANGE_END_TAG: "gvd"})  # fmt: skip


def test_the_cli_and_a_backfill_give_a_batchable_models_materials_one_run(instance):
    seed_default_partitions(instance)
    graph = load_definitions().resolve_asset_graph()
    stages = {k: s for s in plan_stages(graph, set(graph.get_all_asset_keys())) for k in s.keys}
    batched, alone = stages[RELAXED], stages[dg.AssetKey(["chgnet", "relaxed_cells"])]
    assert alone.partitions_per_run == 1
    assert batched.partitions_per_run == settings.MD_PARTITIONS_PER_RUN.value()
    runs = run_partitions(batched.partitions_def, batched.backfill_policy, MATERIALS, instance)
    assert runs == [MATERIALS]


@pytest.mark.slow
def test_one_run_relaxes_two_materials_in_one_torch_sim_batch(home, instance, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke-relaxed")
    monkeypatch.setenv("IONIC_ASSETS_MD_ENGINE", "torch-sim")
    defs = load_definitions()
    _materialize_upstream(instance, defs)
    result = _relax_range(instance, defs)
    assert result.success
    events = result.get_asset_materialization_events()
    by_partition = {e.materialization.partition: e.materialization.metadata for e in events}
    assert sorted(by_partition) == MATERIALS
    for metadata in by_partition.values():
        assert metadata["engine"].value == "torch-sim" and metadata["batch_size"].value == 2
    checks = result.get_asset_check_evaluations()
    assert sorted((c.check_name, c.partition) for c in checks) == sorted(
        (name, m) for name in ("relaxation_converged", "relaxation_moderate") for m in MATERIALS
    )  # fmt: skip
    rows = query(home, "SELECT * FROM relaxed_cells ORDER BY material_id")
    assert list(rows["material_id"]) == MATERIALS
    assert set(rows["engine"]) == {"torch-sim"} and set(rows["batch_size"]) == {2}
    ase = _ase_volume_changes(home)
    for _, row in rows.iterrows():
        assert row["volume_change_frac"] == pytest.approx(
            ase[row["material_id"]], abs=VOLUME_TOLERANCE_FRAC
        )


@pytest.mark.slow
def test_a_diverging_material_fails_alone_and_the_other_is_stored(home, instance, monkeypatch):
    def fft_diverges(cells, labels, *args, **kwargs):  # gvd passes through: no force evaluated
        line = f"material {labels[0]}, model sevenn 7net-0: relaxation diverged (test)"
        return None, [RelaxationDiverged(line), unrelaxed(cells[1])]

    monkeypatch.setattr("ionic_assets.defs.simulation.relaxation.relax_cells", fft_diverges)
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke-relaxed")
    monkeypatch.setenv("IONIC_ASSETS_MD_ENGINE", "torch-sim")
    defs = load_definitions()
    _materialize_upstream(instance, defs)
    result = _relax_range(instance, defs)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.metadata[FAILED_PARTITIONS].value == {
        "fft": "material fft, model sevenn 7net-0: relaxation diverged (test)"
    }
    events = result.get_asset_materialization_events()
    assert [e.materialization.partition for e in events] == ["gvd"]
    assert list(query(home, "SELECT material_id FROM relaxed_cells")["material_id"]) == ["gvd"]
    checks = result.get_asset_check_evaluations()
    assert {c.partition for c in checks} == {"gvd"}
