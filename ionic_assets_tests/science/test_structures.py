import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import InputError


@pytest.mark.parametrize("material", obelix.PAPER_MATERIAL_IDS)
def test_paper_supercells_respect_width_rule(obelix_dir, material):
    unit = obelix.read_structure(obelix_dir, material)
    ordered, _ = structures.order_structure(unit, material)
    cell = structures.build_supercell(ordered, 10.0)
    # Widths from scratch: V / |b x c| etc. on the supercell's own lattice.
    m = cell.structure.lattice.matrix
    volume = abs(np.linalg.det(m))
    widths = [volume / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    assert min(widths) >= 10.0
    # Smallest: one replica fewer along any replicated axis drops below 10 Å.
    unit_widths = structures.perpendicular_widths_A(ordered.lattice.matrix)
    for n, w in zip(cell.replication, unit_widths, strict=True):
        assert n == 1 or (n - 1) * w < 10.0
    assert cell.n_atoms == len(ordered) * np.prod(cell.replication)
    assert cell.n_li == ordered.composition["Li"] * np.prod(cell.replication)


def test_joc_near_full_sulfur_sites_are_rounded_and_recorded(obelix_dir):
    unit = obelix.read_structure(obelix_dir, "joc")
    ordered, fixes = structures.order_structure(unit, "joc")
    assert fixes and {f.species for f in fixes} == {"S"}
    assert all(0.95 <= f.occupancy < 1 and f.action == "rounded to 1" for f in fixes)
    assert structures.is_ordered(ordered, tolerance=0)
    assert ordered.composition.reduced_formula == "Li3PS4"


@pytest.mark.parametrize("material", ["13q", "0ii"])  # half-occupied sites; a mixed site
def test_partially_occupied_obelix_entry_is_refused(obelix_dir, material):
    unit = obelix.read_structure(obelix_dir, material)
    with pytest.raises(InputError, match=f"material {material}: partially occupied site"):
        structures.order_structure(unit, material)


def test_round_strategy_orders_and_records(obelix_dir):
    unit = obelix.read_structure(obelix_dir, "13q")
    ordered, fixes = structures.order_structure(unit, "13q", strategy="round")
    assert structures.is_ordered(ordered, tolerance=0)
    assert any(f.action == "removed" for f in fixes)
    assert len(ordered) == len(unit) - sum(f.action == "removed" for f in fixes)


def test_unknown_strategy_and_no_li():
    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match="material x: the structure has no Li"):
        structures.order_structure(nacl, "x")
    with pytest.raises(InputError, match="unknown ordering strategy"):
        structures.order_structure(nacl, "x", strategy="magic")


def test_replication_of_a_skewed_cell():
    # Hexagonal a = 3 Å: the in-plane width is 3 * sin(60°) = 2.598 Å, so 4 replicas are needed.
    lattice = Lattice.hexagonal(3.0, 7.0).matrix
    assert structures.replication_for_width(lattice, 10.0) == (4, 4, 2)
