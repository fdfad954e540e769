"""`ewald`: pymatgen's `OrderDisorderedStructureTransformation`, the ordering of least Ewald energy.

pymatgen's `EwaldMinimizer` searches the orderings of the supercell's groups (with the counts of
`counts.py` given to it as exact fractions) by branch and bound; its cost grows with the number of
orderings, the product over groups of multinomial(sites; counts), which is checked first against
`max_orderings` (pymatgen's docstring: about 5e6 orderings a minute). A garnet's 96h Li sites
give ~1e28, so `ewald` is for small problems (a few dopants on a few sites); raise the limit to
wait longer, or use `sampled`.
"""

from __future__ import annotations

import math

from pymatgen.core import Composition, Species, Structure
from pymatgen.transformations.standard_transformations import (
    OrderDisorderedStructureTransformation,
)

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering.problem import Problem
from ionic_assets.science.ordering.sites import GROUP_PROPERTY
from ionic_assets.science.ordering.strategy import Ordered, OrderingRequest

#: How many of the lowest orderings pymatgen returns, for the recorded spread.
N_RANKED = 5


def n_orderings(problem: Problem) -> float:
    """Orderings of the problem: product over groups of multinomial(sites; counts, vacancies)."""
    log_total = 0.0
    for row in problem.rows:
        parts = [*row.counts.values(), row.n_vacancies]
        log_total += math.lgamma(row.n_sites + 1) - sum(math.lgamma(n + 1) for n in parts)
    return math.exp(min(log_total, 700.0))


def _decorated(problem: Problem) -> Structure:
    """The supercell with oxidation states, each group's sites at its exact count fractions."""
    species = []
    for site in problem.supercell:
        group = site.properties[GROUP_PROPERTY]
        if group < 0:
            el = site.specie.symbol
            species.append(Composition({Species(el, problem.states[el]): 1}))
        else:
            row = problem.rows[group]
            fractions = {el: n / row.n_sites for el, n in row.counts.items()}
            species.append(
                Composition({Species(el, problem.states[el]): x for el, x in fractions.items()})
            )
    return Structure(problem.supercell.lattice, species, problem.supercell.frac_coords)


def order(request: OrderingRequest) -> Ordered:
    """The ordering of least Ewald energy and the energies of the next ones (pymatgen's)."""
    problem, material_id = request.problem(), request.material_id
    count, max_orderings = n_orderings(problem), request.settings.ewald_max_orderings
    if count > max_orderings:
        raise InputError(
            f"material {material_id}: ewald ordering would enumerate ~{count:.2g} orderings, "
            f"over the limit of {max_orderings:.2g} (raise ewald_max_orderings, or use sampled)"
        )
    transformation = OrderDisorderedStructureTransformation(occ_tol=1e-6)
    ranked = transformation.apply_transformation(_decorated(problem), return_ranked_list=N_RANKED)
    structure = ranked[0]["structure"]
    structure.remove_oxidation_states()
    energies = [float(r["energy"]) for r in ranked]
    ranking = {
        "ranked_by": "ewald",
        "energy_eV": energies[0],
        "energies_eV": energies,
        "spread_eV_per_atom": (max(energies) - min(energies)) / len(structure),
        "n_orderings": count,
    }
    return Ordered(structure, ranking, problem=problem)
