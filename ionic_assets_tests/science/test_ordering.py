"""Ordering partially occupied OBELiX structures, checked against counts worked out by hand.

The expected counts come from the CIF's `_atom_site` loop (multiplicity x occupancy per site,
parsed here without pymatgen) times the number of unit cells, rounded; the charge from the
oxidation states written out below; each ordered atom is traced back to its CIF site by its
position.
"""

from collections import Counter

import numpy as np
import pytest

from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import OrderingSettings
from ionic_assets.science.ordering.checks import sanity_checks


def cif_sites(obelix_dir, material):
    """(element, label, multiplicity, occupancy) of each row of the CIF's _atom_site loop."""
    lines = (obelix_dir / "all_randomized_cifs" / f"{material}.cif").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "_atom_site_occupancy" in line) + 1
    rows = []
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 7:
            break
        rows.append((parts[0], parts[1], int(parts[2]), float(parts[6])))
    return rows


def per_site_label(cell, unit):
    """Counter of (CIF label of the site an atom sits on, element) over the ordered cell."""
    disordered = unit.make_supercell(cell.replication, in_place=False)
    found = Counter()
    for site in cell.structure:
        d = disordered.lattice.get_all_distances(site.frac_coords[None, :], disordered.frac_coords)
        nearest = int(np.argmin(d[0]))
        assert d[0, nearest] < 1e-3  # on a CIF site, not moved
        found[(disordered[nearest].label.split("_")[0], site.specie.symbol)] += 1
    return found


def charge(composition: dict, states: dict) -> float:
    return sum(states[el] * n for el, n in composition.items())


def test_garnet_li_over_two_partial_sites(obelix_dir):
    """72f, Li6.26Al0.24La3Zr2O12: Li on 96h (0.349) and on 24d shared with Al (0.69 / 0.08)."""
    rows = cif_sites(obelix_dir, "72f")
    assert rows[:3] == [("Li", "Li0", 96, 0.349), ("Li", "Li1", 24, 0.69), ("Al", "Al2", 24, 0.08)]
    unit = obelix.read_structure(obelix_dir, "72f")
    cell = structures.simulation_cell(unit, "72f", 10.0)
    # One cubic cell (12.97 Å) is wide enough but 24 x 0.69 = 16.56 Li is 0.44 atom, 0.018 of a
    # site, from an integer; two cells: 192 x 0.349 = 67.008 -> 67, 48 x 0.69 = 33.12 -> 33,
    # 48 x 0.08 = 3.84 -> 4, all within 0.01 of the occupancy.
    assert sorted(cell.replication) == [1, 1, 2]
    assert per_site_label(cell, unit) == {
        ("Li0", "Li"): 67, ("Al2", "Li"): 33, ("Al2", "Al"): 4,
        ("La3", "La"): 48, ("Zr4", "Zr"): 32, ("O5", "O"): 192,
    }  # fmt: skip
    states = {"Li": 1, "Al": 3, "La": 3, "Zr": 4, "O": -2}
    assert cell.ordering["oxidation_states"] == states
    assert charge(cell.structure.composition.as_dict(), states) == 0 == cell.ordering["charge_e"]
    assert cell.ordering["fits"] and cell.ordering["strategy"] == "sampled"


def test_argyrodite_anion_mixing(obelix_dir):
    """122, Li6PS5Cl: Li 0.5 on 48h; S/Cl 0.615/0.385 on 4a and 0.385/0.615 on 4c."""
    rows = cif_sites(obelix_dir, "122")
    assert ("Cl", "Cl3", 4, 0.385) in rows and ("S", "S4", 4, 0.615) in rows
    unit = obelix.read_structure(obelix_dir, "122")
    cell = structures.simulation_cell(unit, "122", 0.0)
    # One cell: 4 x 0.385 = 1.54 Cl, 0.115 of a site off; two: 8 x 0.385 = 3.08 -> 3 (0.01).
    assert sorted(cell.replication) == [1, 1, 2]
    assert per_site_label(cell, unit) == {
        ("Li0", "Li"): 48, ("P1", "P"): 8, ("S2", "S"): 32,
        ("S4", "S"): 5, ("S4", "Cl"): 3, ("S6", "S"): 3, ("S6", "Cl"): 5,
    }  # fmt: skip
    assert charge(cell.structure.composition.as_dict(), {"Li": 1, "P": 5, "S": -2, "Cl": -1}) == 0


def test_doped_nasicon_fractional_composition(obelix_dir):
    """yqu, Li1.2Al0.2Ti1.8(PO4)3: Li 0.068 on 36f and 0.76 on 6b, Ti/Al 0.915/0.085 on 12c."""
    rows = cif_sites(obelix_dir, "yqu")
    by_label = {label: (mult, occ) for _, label, mult, occ in rows}
    assert by_label["Li0"] == (36, 0.068) and by_label["Li1"] == (6, 0.76)
    unit = obelix.read_structure(obelix_dir, "yqu")
    cell = structures.simulation_cell(unit, "yqu", 0.0)
    # Two cells: 72 x 0.068 = 4.896 -> 5, 12 x 0.76 = 9.12 -> 9, 24 x 0.085 = 2.04 -> 2 Al.
    assert sorted(cell.replication) == [1, 1, 2]
    assert per_site_label(cell, unit) == {
        ("Li0", "Li"): 5, ("Li1", "Li"): 9, ("Al3", "Al"): 2, ("Al3", "Ti"): 22,
        ("P4", "P"): 36, ("O5", "O"): 72, ("O6", "O"): 72,
    }  # fmt: skip
    states = {"Li": 1, "Al": 3, "Ti": 4, "P": 5, "O": -2}
    assert charge(cell.structure.composition.as_dict(), states) == 0
    # Target: the CIF's composition per cell times two, e.g. Li 2 x (2.448 + 4.56) = 14.016.
    assert cell.ordering["target_composition"]["Li"] == pytest.approx(14.016)
    assert cell.ordering["composition_deviation"]["Al"] == pytest.approx(2 - 2.04)


def test_same_seed_same_cell_other_seed_other_ordering(obelix_dir):
    unit = obelix.read_structure(obelix_dir, "122")
    first, again, other = (
        structures.simulation_cell(unit, "122", 0.0, OrderingSettings(seed=seed))
        for seed in (7, 7, 8)
    )
    assert first.structure == again.structure
    assert first.structure.to(fmt="cif") == again.structure.to(fmt="cif")
    assert first.ordering == again.ordering
    assert first.structure != other.structure
    ranked = first.ordering["energies_eV"]
    assert len(ranked) == 8 and ranked == sorted(ranked)
    assert first.ordering["energy_eV"] == ranked[0]
    n_atoms = first.n_atoms
    assert first.ordering["spread_eV_per_atom"] == pytest.approx((ranked[-1] - ranked[0]) / n_atoms)


def test_quench_keeps_garnet_li_apart(obelix_dir):
    """The 96h sites of a garnet come in pairs ~0.7 Å apart; no ordering may fill both."""
    unit = obelix.read_structure(obelix_dir, "72f")
    cell = structures.simulation_cell(unit, "72f", 10.0)
    checks = sanity_checks(cell.structure, cell.ordering, unit)
    assert all(c["passed"] for c in checks.values()), checks
    assert checks["distances"]["min_distance_A"]["Li-Li"] > 1.5


def test_fallback_to_nearest_counts_compensates_on_li(obelix_dir):
    """kji, Li6.4La3Zr1.4Ta0.6O12, in one cell (budget 300 atoms): Zr/Ta 16 x 0.7 / 0.3 =
    11.2 / 4.8 -> 11 / 5 does not fit (0.0125 of a site); Li 96 x 0.293 = 28.128 -> 28, the 24d
    Li at 0.96 set to 1 (24): +1 e, so one Li goes: Li 51 (27 on 96h)."""
    unit = obelix.read_structure(obelix_dir, "kji")
    cell = structures.simulation_cell(unit, "kji", 0.0, OrderingSettings(max_atoms=300))
    record = cell.ordering
    assert not record["fits"] and cell.replication == (1, 1, 1)
    assert cell.structure.composition.as_dict() == {
        "Li": 51, "La": 24, "Zr": 11, "Ta": 5, "O": 96,
    }  # fmt: skip
    assert record["charge_before_li_compensation_e"] == 1 and record["charge_e"] == 0
    assert record["composition_deviation"]["Ta"] == pytest.approx(5 - 4.8)
    assert record["composition_deviation"]["Li"] == pytest.approx(51 - (96 * 0.293 + 24 * 0.96))


def test_charge_left_by_rounding_goes_to_the_other_rounding(obelix_dir):
    """de5, Li6In2.03Cl12: In on two partial sites, Li whole, so Li cannot compensate. Widths
    >= 14 Å need 18 cells: 72 x 0.07 = 5.04 -> 5 In and 36 x 0.875 = 31.5 -> 32 give
    108 + 3 x 37 - 216 = +3 e; 31 (the floor) instead makes the cell neutral."""
    unit = obelix.read_structure(obelix_dir, "de5")
    cell = structures.simulation_cell(unit, "de5", 14.0, OrderingSettings(max_atoms=60))
    assert cell.structure.composition.as_dict() == {"Li": 108, "In": 36, "Cl": 216}
    assert [g["counts"] for g in cell.ordering["groups"]] == [{"In": 5}, {"In": 31}]
    assert cell.ordering["charge_before_li_compensation_e"] == 3 and cell.ordering["charge_e"] == 0


def test_uncompensable_charge_fails_in_one_line(obelix_dir):
    """vg0, Li1.5Al0.5Ge1.5(PO4)3, whose CIF has only the 6 whole Li of 6b: per cell
    6 + 4 x 9 (Ge) + 3 x 3 (Al) + 5 x 18 - 2 x 72 = -3 e, -12 e in the four cells of 10 Å."""
    rows = cif_sites(obelix_dir, "vg0")
    states = {"Li": 1, "Ge": 4, "Al": 3, "P": 5, "O": -2}
    assert sum(states[el] * mult * occ for el, _, mult, occ in rows) == pytest.approx(-3)
    unit = obelix.read_structure(obelix_dir, "vg0")
    with pytest.raises(InputError) as raised:
        structures.simulation_cell(unit, "vg0", 10.0)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("material vg0: site 6 (Al0.25Ge0.75, 12 sites) needs Al 12, Ge 36")
    assert "leave a charge of -12 e that neither the partial Li sites nor" in message
    assert message.endswith("the CIF's own occupancies carry -12.00 e in this cell")


@pytest.mark.slow
def test_ewald_orders_a_small_problem_and_refuses_a_large_one(obelix_dir):
    """bnu, Li2AlGa(GeO4)2: Al/Ga half and half on 18 sites -> 9 / 9, 48620 orderings."""
    unit = obelix.read_structure(obelix_dir, "bnu")
    cell = structures.simulation_cell(unit, "bnu", 0.0, OrderingSettings(strategy="ewald"))
    assert cell.structure.composition["Al"] == cell.structure.composition["Ga"] == 9
    assert cell.ordering["n_orderings"] == pytest.approx(48620)
    energies = cell.ordering["energies_eV"]
    assert energies == sorted(energies) and cell.ordering["energy_eV"] == energies[0]
    garnet = obelix.read_structure(obelix_dir, "72f")
    with pytest.raises(InputError, match="material 72f: ewald ordering would enumerate ~"):
        structures.simulation_cell(garnet, "72f", 0.0, OrderingSettings(strategy="ewald"))


def test_unbalanceable_composition_is_refused(obelix_dir):
    """9yt's CIF holds 45.9 Li for 4 P, 20 S and 4 halides (Li24 would balance)."""
    unit = obelix.read_structure(obelix_dir, "9yt")
    with pytest.raises(InputError, match="material 9yt: no oxidation states balance"):
        structures.simulation_cell(unit, "9yt", 0.0)
