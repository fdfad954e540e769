import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import OrderingSettings
from ionic_assets.science.ordering.checks import sanity_checks


@pytest.mark.parametrize("material", obelix.PAPER_MATERIAL_IDS)
def test_paper_supercells_respect_width_rule(obelix_dir, material):
    unit = obelix.read_structure(obelix_dir, material)
    cell = structures.simulation_cell(unit, material, 10.0)
    # Widths from scratch: V / |b x c| etc. on the supercell's own lattice.
    m = cell.structure.lattice.matrix
    volume = abs(np.linalg.det(m))
    widths = [volume / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    assert min(widths) >= 10.0
    # Smallest: one replica fewer along any replicated axis drops below 10 Å.
    unit_widths = structures.perpendicular_widths_A(unit.lattice.matrix)
    for n, w in zip(cell.replication, unit_widths, strict=True):
        assert n == 1 or (n - 1) * w < 10.0
    assert cell.n_atoms == len(unit) * np.prod(cell.replication)
    assert cell.n_li == unit.composition["Li"] * np.prod(cell.replication)
    assert cell.ordering["strategy"] == "none"
    checks = sanity_checks(cell.structure, cell.ordering, unit)
    assert all(c["passed"] for c in checks.values()), checks


def test_joc_near_full_sulfur_sites_are_rounded_and_recorded(obelix_dir):
    unit = obelix.read_structure(obelix_dir, "joc")
    cell = structures.simulation_cell(unit, "joc", 0.0)
    assert cell.fixes and {f.species for f in cell.fixes} == {"S"}
    assert all(0.95 <= f.occupancy < 1 and f.action == "rounded to 1" for f in cell.fixes)
    assert structures.is_ordered(cell.structure, tolerance=0)
    assert cell.structure.composition.reduced_formula == "Li3PS4"


@pytest.mark.parametrize("material", ["13q", "0ii"])  # half-occupied sites; a mixed site
def test_refuse_strategy_refuses_partially_occupied_entries(obelix_dir, material):
    unit = obelix.read_structure(obelix_dir, material)
    refuse = OrderingSettings(strategy="refuse")
    with pytest.raises(InputError, match=f"material {material}: partially occupied site"):
        structures.simulation_cell(unit, material, 10.0, refuse)


def test_round_strategy_orders_and_records(obelix_dir):
    unit = obelix.read_structure(obelix_dir, "13q")
    cell = structures.simulation_cell(unit, "13q", 0.0, OrderingSettings(strategy="round"))
    assert structures.is_ordered(cell.structure, tolerance=0)
    assert any(f.action == "removed" for f in cell.fixes)
    assert len(cell.structure) == len(unit) - sum(f.action == "removed" for f in cell.fixes)
    assert cell.ordering["strategy"] == "round"


def test_unknown_strategy_and_no_li():
    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match="material x: the structure has no Li"):
        structures.simulation_cell(nacl, "x", 10.0)
    with pytest.raises(InputError, match="ordering strategy 'magic': unknown"):
        OrderingSettings(strategy="magic")


def test_replication_of_a_skewed_cell():
    # Hexagonal a = 3 Å: the in-plane width is 3 * sin(60°) = 2.598 Å, so 4 replicas are needed.
    lattice = Lattice.hexagonal(3.0, 7.0).matrix
    assert structures.replication_for_width(lattice, 10.0) == (4, 4, 2)


def test_larger_replications_come_by_size_most_isotropic_first():
    # A 4 x 4 x 8 Å cell at >= 8 Å: 2x2x1 (4 cells) first; 5 and 7 cells have no shape with
    # both 4 Å axes doubled; 6 is 2x3x1; of the 8-cell shapes 2x2x2 is the most isotropic.
    shapes = list(structures.replications(np.diag([4.0, 4.0, 8.0]), 8.0, 8))
    assert shapes[0] == (2, 2, 1)
    assert [int(np.prod(s)) for s in shapes] == [4, 6, 8]
    assert shapes[-1] == (2, 2, 2)
