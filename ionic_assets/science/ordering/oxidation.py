"""Oxidation states of a (possibly fractional) composition, one integer state per element.

pymatgen's `Composition.oxi_state_guesses` needs integer amounts and an exactly neutral
composition; refined CIF occupancies give neither (OBELiX's `kji` garnet sums to -0.032 e per
cell). Here each element takes one of its ICSD oxidation states (pymatgen's list, the same
candidates `oxi_state_guesses` uses), choosing the combination with the smallest net charge and,
among those, the most frequent states in the ICSD (pymatgen's occurrence statistics, the prior
that `oxi_state_guesses` ranks by).
"""

from __future__ import annotations

import itertools

from pymatgen.analysis.bond_valence import ICSD_BV_DATA
from pymatgen.core import Composition, Element, Species

from ionic_assets.science.errors import InputError

#: Largest |net charge| / sum of |ionic charges| accepted: refinement round-off, not chemistry.
MAX_RELATIVE_IMBALANCE = 0.02


def _candidates(symbol: str) -> tuple[int, ...]:
    element = Element(symbol)
    states = element.icsd_oxidation_states or element.common_oxidation_states
    return tuple(s for s in states if s != 0) or (0,)


def _occurrence(symbol: str, state: int) -> int:
    data = ICSD_BV_DATA.get(Species(symbol, state))
    return data["n_data_pts"] if data else 0


def oxidation_states(composition: Composition, material_id: str) -> dict[str, int]:
    """Element symbol -> oxidation state that (nearly) balances `composition` (atoms per cell).

    InputError when no combination balances it within `MAX_RELATIVE_IMBALANCE`.
    """
    amounts = composition.element_composition.get_el_amt_dict()
    symbols = sorted(amounts)
    best, best_key = None, None
    for states in itertools.product(*(_candidates(s) for s in symbols)):
        pairs = list(zip(symbols, states, strict=True))
        charge = sum(q * amounts[s] for s, q in pairs)
        total = sum(abs(q) * amounts[s] for s, q in pairs) or 1.0
        imbalance = round(abs(charge) / total, 6)
        popularity = sum(_occurrence(s, q) * amounts[s] for s, q in pairs)
        key = (imbalance, -popularity)
        if best_key is None or key < best_key:
            best, best_key = dict(zip(symbols, states, strict=True)), key
    if best_key[0] > MAX_RELATIVE_IMBALANCE:
        raise InputError(
            f"material {material_id}: no oxidation states balance {composition.formula} "
            f"(best {best} leaves {best_key[0]:.1%} of the ionic charge unbalanced)"
        )
    return best


def net_charge(counts: dict[str, int | float], states: dict[str, int]) -> float:
    """Net charge (elementary charges) of `counts` atoms per element with these states."""
    return float(sum(states[s] * n for s, n in counts.items()))
