"""What a scientist checks on an ordered cell before simulating it.

    composition  every element's atom fraction within `composition_tolerance` of the CIF's
    neutral      net charge 0 with the recorded oxidation states
    distances    no two atoms closer than `min_distance_fraction` x the sum of their covalent
                 radii (ASE's table); the ordered OBELiX CIFs go down to 0.66 (Ti-O 1.49 Å in
                 `nua`), a collapse or two Li on neighbouring 96h garnet sites is ~0.3
    density      within `density_tolerance` (relative) of the CIF's, occupancies included

Each check returns passed, the measured value and the threshold.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase.data import covalent_radii
from pymatgen.core import Structure

COMPOSITION_TOLERANCE = 0.01
DENSITY_TOLERANCE = 0.03
MIN_DISTANCE_FRACTION = 0.5


def _fractions(composition: dict[str, float]) -> dict[str, float]:
    total = sum(composition.values())
    return {el: n / total for el, n in composition.items()}


def composition_check(record: dict) -> dict:
    target = _fractions(record["target_composition"])
    achieved = _fractions(record["achieved_composition"])
    worst = max(abs(achieved.get(el, 0.0) - target.get(el, 0.0)) for el in {*target, *achieved})
    return {
        "passed": bool(worst <= COMPOSITION_TOLERANCE),
        "max_atom_fraction_deviation": worst,
        "threshold": COMPOSITION_TOLERANCE,
    }


def neutral_check(record: dict) -> dict:
    charge = record.get("charge_e")
    return {"passed": bool(charge is not None and abs(charge) < 1e-6), "charge_e": charge}


def min_distances_A(structure: Structure) -> dict[str, float]:
    """Shortest distance (periodic images included) per element pair, e.g. {'Li-O': 1.9}."""
    distances = structure.distance_matrix
    np.fill_diagonal(distances, np.inf)
    symbols = np.array([site.specie.symbol for site in structure])
    pairs = {}
    for a, b in itertools.combinations_with_replacement(sorted(set(symbols)), 2):
        block = distances[np.ix_(symbols == a, symbols == b)]
        if np.isfinite(block).any():
            pairs[f"{a}-{b}"] = float(block.min())
    return pairs


def distance_check(structure: Structure) -> dict:
    pairs = min_distances_A(structure)
    radii = {site.specie.symbol: covalent_radii[site.specie.Z] for site in structure}
    ratios = {
        p: float(d / (radii[p.split("-")[0]] + radii[p.split("-")[1]])) for p, d in pairs.items()
    }
    worst = min(ratios, key=ratios.get)
    return {
        "passed": bool(ratios[worst] >= MIN_DISTANCE_FRACTION),
        "closest_pair": worst,
        "closest_A": pairs[worst],
        "closest_fraction_of_covalent_radii": ratios[worst],
        "threshold_fraction": MIN_DISTANCE_FRACTION,
        "min_distance_A": pairs,
    }


def density_check(structure: Structure, unit_cell: Structure) -> dict:
    cif, cell = float(unit_cell.density), float(structure.density)
    deviation = abs(cell - cif) / cif
    return {
        "passed": bool(deviation <= DENSITY_TOLERANCE),
        "density_g_cm3": cell,
        "cif_density_g_cm3": cif,
        "relative_deviation": deviation,
        "threshold": DENSITY_TOLERANCE,
    }


def sanity_checks(structure: Structure, record: dict, unit_cell: Structure) -> dict[str, dict]:
    """The four checks of the module docstring, by name."""
    return {
        "composition": composition_check(record),
        "neutral": neutral_check(record),
        "distances": distance_check(structure),
        "density": density_check(structure, unit_cell),
    }
