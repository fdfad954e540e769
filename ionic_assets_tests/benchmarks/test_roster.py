"""Every roster model loads and evaluates the paper's 21 cells once; a missing one says why.

The cells are the paper's 21 OBELiX unit cells, so the whole roster takes
about a minute on two cores; `python -m ionic_assets.benchmarks.roster` times the supercells."""

import numpy as np
import pytest

from ionic_assets.benchmarks import roster
from ionic_assets.benchmarks.batched_md import build_paper_cells
from ionic_assets.lib import settings
from ionic_assets.lib.methods import load_methods
from ionic_assets.science.forcefields import ModelSpec

OFFLINE_ROSTER = [
    name
    for name, spec in roster.roster_specs().items()
    if spec.family in ("sevenn", "chgnet")  # weights in their wheels; MACE downloads its own
]


@pytest.fixture(scope="module")
def paper_unit_cells():
    return build_paper_cells(0.0)  # the unit cells


def test_the_roster_has_every_offline_release():
    models = {(s.family, s.label, s.modal) for s in roster.roster_specs().values()}
    assert {
        ("sevenn", "7net-0", None),
        ("sevenn", "7net-0_22may2024", None),
        ("sevenn", "7net-l3i5", None),
        ("sevenn", "7net-mf-0", "PBE"),
        ("sevenn", "7net-mf-0", "R2SCAN"),
        ("chgnet", "0.3.0", None),
        ("chgnet", "0.2.0", None),
        ("chgnet", "r2scan", None),
    } <= models
    assert all(load_methods()[name].kind == "mlip" for name in OFFLINE_ROSTER)


@pytest.mark.slow
@pytest.mark.parametrize("method", OFFLINE_ROSTER)
def test_roster_model_evaluates_the_paper_cells(method, paper_unit_cells, record_property):
    row = roster.evaluate(method, roster.roster_specs()[method], paper_unit_cells)

    assert row.problem == ""
    assert row.n_cells == 21 and row.all_finite
    assert row.max_net_force_eV_A < roster.MAX_NET_FORCE_eV_A
    assert len(row.weights_sha256) == 64 and row.n_parameters > 100_000
    assert row.n_elements >= 89  # every element of the 21 cells and more
    assert 0 < row.cpu_s_per_100_atom_steps < 60
    record_property("cpu_s_per_100_atom_steps", row.cpu_s_per_100_atom_steps)
    # The README's row names these weights and this model size.
    readme = readme_roster_rows()[method]
    assert row.weights_sha256[:12] in readme and f"{row.n_parameters:,}" in readme


@pytest.mark.slow
def test_the_two_fidelities_of_one_checkpoint_differ(paper_unit_cells):
    """SevenNet-MF-0's PBE and r2SCAN heads share a checkpoint but not their energies."""
    atoms = paper_unit_cells[0]
    energies = {}
    for modal in ("PBE", "R2SCAN"):
        row_atoms = atoms.copy()
        loaded = roster.build_calculator(ModelSpec("sevenn", "7net-mf-0", modal=modal), "cpu")
        row_atoms.calc = loaded.calculator
        energies[modal] = row_atoms.get_potential_energy()
        assert loaded.identity["modal"] == modal
    assert not np.isclose(energies["PBE"], energies["R2SCAN"], rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ModelSpec("sevenn", "7net-mf-0"), "modal argument missing"),
        (ModelSpec("sevenn", "7net-mf-0", modal="HSE"), "unknown modal HSE"),
        (ModelSpec("sevenn", "7net-0", modal="PBE"), "has one fidelity, not modal PBE"),
    ],
)
def test_a_wrong_fidelity_is_one_line(spec, message, paper_unit_cells):
    row = roster.evaluate("x", spec, paper_unit_cells[:1])
    assert message in row.problem and "\n" not in row.problem


def test_a_fidelity_on_a_family_without_them_is_refused():
    with pytest.raises(roster.InputError, match="chgnet models have no fidelities"):
        ModelSpec("chgnet", "0.3.0", modal="PBE")


def test_a_model_whose_elements_miss_a_cell_is_not_run(paper_unit_cells, tmp_path):
    from ionic_assets.science.forcefields.random_mace import write_random_mace_model

    path = write_random_mace_model(tmp_path / "li_only.model", [3], architecture="small")
    row = roster.evaluate("li-only", ModelSpec("mace", path=str(path)), paper_unit_cells[:1])
    assert "does not cover element(s)" in row.problem and np.isnan(row.cpu_s_per_100_atom_steps)


def readme_roster_rows() -> dict[str, str]:
    """The README's force-model table rows by method name."""
    text = (settings.PROJECT_ROOT / "README.md").read_text()
    section = text.split("\n## The force models\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def test_the_readme_lists_every_force_model():
    assert set(readme_roster_rows()) == set(roster.roster_specs())
