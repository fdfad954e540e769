"""`sampled`: seeded random orderings with the exact counts, each quenched, the lowest kept.

Each of `n_samples` orderings places every group's atoms on a random permutation of its sites
(numpy's default generator from `seed`), then is quenched: the swap of two differently charged
sites of one group that lowers the Ewald energy most is made, until none does (steepest descent;
a random ordering of a garnet puts Li pairs 0.7 Å apart on neighbouring 96h sites, which no
ranking of raw samples avoids). Elements of equal charge on one group (S/Se, Zr/Hf) stay as
drawn: the Ewald energy does not tell them apart. The orderings are ranked by Ewald energy, or by
`energy_eV` (e.g. the method's force model, a single point per ordering) when given.
"""

from __future__ import annotations

import itertools

import numpy as np

from ionic_assets.science.ordering.problem import Problem
from ionic_assets.science.ordering.strategy import Ordered, OrderingRequest


def _best_swap(problem: Problem, q: np.ndarray, mq: np.ndarray, diag: np.ndarray):
    """(energy change, i, j) of the best swap of two differently charged sites of a group."""
    m = problem.ewald_matrix
    best = (-1e-9, -1, -1)
    for sites in problem.group_sites:
        charges = np.unique(q[sites])
        for a, b in itertools.combinations(charges, 2):
            rows, cols = sites[q[sites] == a], sites[q[sites] == b]
            d = b - a  # the charge change at a row site when it swaps with a column site
            delta = 2 * d * (mq[rows][:, None] - mq[cols][None, :]) + d**2 * (
                diag[rows][:, None] + diag[cols][None, :] - 2 * m[np.ix_(rows, cols)]
            )
            k = int(np.argmin(delta))
            if delta.flat[k] < best[0]:
                best = (delta.flat[k], rows[k // len(cols)], cols[k % len(cols)])
    return best


def _quench(problem: Problem, q: np.ndarray) -> np.ndarray:
    """Steepest-descent pair swaps within groups on the Ewald energy; returns the charges."""
    m = problem.ewald_matrix
    diag = np.diag(m).copy()
    mq = m @ q
    while True:
        _, i, j = _best_swap(problem, q, mq, diag)
        if i < 0:
            return q
        d = q[j] - q[i]
        mq += d * (m[:, i] - m[:, j])
        q[i], q[j] = q[j], q[i]


def _placement(problem: Problem, q: np.ndarray, drawn: list[list[str]]) -> list[list[str]]:
    """The elements that the quenched charges `q` put on each site: the drawn elements of each
    charge, in their drawn order, moved to the sites that now carry that charge."""
    placement = []
    for sites, species in zip(problem.group_sites, drawn, strict=True):
        by_charge: dict[float, list[str]] = {}
        for el in species:
            by_charge.setdefault(problem.states[el] if el else 0.0, []).append(el)
        placement.append([by_charge[float(c)].pop() for c in q[sites]])
    return placement


def order(request: OrderingRequest) -> Ordered:
    """The lowest-energy of `n_samples` quenched random orderings, and the ranking."""
    problem, energy_eV = request.problem(), request.energy_eV
    rng = np.random.default_rng(request.settings.seed)
    candidates = []
    for _ in range(request.settings.n_samples):
        drawn = [list(rng.permutation(s)) for s in problem.species_lists()]
        q = _quench(problem, problem.charges(drawn))
        placement = _placement(problem, q, drawn)
        structure = problem.realize(placement)
        energy = energy_eV(structure) if energy_eV else problem.energy_eV(q)
        candidates.append((energy, structure))
    energies = np.array([e for e, _ in candidates])
    best = int(np.argmin(energies))
    n_atoms = len(candidates[best][1])
    ranking = {
        "ranked_by": "model" if energy_eV else "ewald",
        "energy_eV": float(energies[best]),
        "energies_eV": sorted(float(e) for e in energies),
        "spread_eV_per_atom": float((energies.max() - energies.min()) / n_atoms),
        "std_eV_per_atom": float(energies.std() / n_atoms),
        "chosen_sample": best,
    }
    return Ordered(candidates[best][1], ranking, problem=problem)
