"""Split a batch so that each part fits in the device's memory (torch-sim's autobatching).

On a GPU the largest batch is measured, not guessed: torch-sim's `estimate_max_memory_scaler`
runs the model on growing copies of the smallest and the largest system until it runs out of
memory, and `to_constant_volume_bins` packs the systems (weighted by atoms x number density,
what a radial-cutoff model's memory grows with) into as few parts as fit. On a CPU torch-sim
cannot measure memory (host memory is rarely the limit for a few thousand atoms): one part,
unless `max_memory_scaler` is given. A system too big for any part gets one of its own.
"""

from __future__ import annotations

from ase import Atoms

MEMORY_METRIC = "n_atoms_x_density"


def memory_bins(
    atoms: list[Atoms], model, max_memory_scaler: float | None = None
) -> list[list[int]]:
    """Indices of `atoms` grouped into parts that fit in memory (each sorted, parts in order)."""
    import torch_sim as ts
    from torch_sim.autobatching import (
        calculate_memory_scalers,
        estimate_max_memory_scaler,
        to_constant_volume_bins,
    )

    if len(atoms) <= 1:
        return [list(range(len(atoms)))]
    batch = ts.io.atoms_to_state(atoms, device=model.device, dtype=model.dtype)
    metrics = calculate_memory_scalers(batch, MEMORY_METRIC)
    if max_memory_scaler is None:
        if model.device.type != "cuda":
            return [list(range(len(atoms)))]
        max_memory_scaler = estimate_max_memory_scaler(batch, model, metrics)
    bins = to_constant_volume_bins(dict(enumerate(metrics)), max_volume=max_memory_scaler)
    return sorted(sorted(part) for part in bins)  # an oversize system gets a part of its own
