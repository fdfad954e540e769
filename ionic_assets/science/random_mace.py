"""A MACE model with random weights: the real MACE architecture and calculator code without
downloaded foundation weights (offline tests and timing benchmarks; its cost per step has the
shape of MACE's, its forces mean nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_random_mace_model(path: Path, atomic_numbers=(3, 7), seed: int = 0) -> Path:
    """Save a small ScaleShiftMACE with random weights covering `atomic_numbers` to `path`.

    The real MACE architecture and calculator code, without downloaded weights.
    """
    import e3nn
    import torch
    from e3nn import o3
    from mace import modules

    # e3nn's default "script" mode stores TorchScript functions, which torch.save cannot pickle.
    previous = e3nn.get_optimization_defaults()["jit_mode"]
    e3nn.set_optimization_defaults(jit_mode="eager")
    try:
        torch.manual_seed(seed)
        interaction = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=4.0,
            num_bessel=4,
            num_polynomial_cutoff=5,
            max_ell=1,
            interaction_cls=interaction,
            interaction_cls_first=interaction,
            num_interactions=2,
            num_elements=len(atomic_numbers),
            hidden_irreps=o3.Irreps("8x0e+8x1o"),
            MLP_irreps=o3.Irreps("8x0e"),
            atomic_energies=np.full(len(atomic_numbers), -2.0),
            avg_num_neighbors=10.0,
            atomic_numbers=list(atomic_numbers),
            correlation=2,
            gate=torch.nn.functional.silu,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
        torch.save(model, path)
    finally:
        e3nn.set_optimization_defaults(jit_mode=previous)
    return path
