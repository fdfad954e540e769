"""A MACE model with random weights: the real MACE architecture and calculator code without
downloaded foundation weights (offline tests and timing benchmarks; its cost per step has the
shape of MACE's, its forces mean nothing).

Architectures:
    small          2 interactions, 8x0e+8x1o hidden features, l <= 1, r_max 4 A: cheap tests
    medium-mpa-0   the shape of the MACE-MPA-0 medium foundation model (mace-torch's
                   `mace_mp` "medium-mpa-0"): 89 elements, r_max 6 A, 10 Bessel functions,
                   spherical harmonics up to l = 3, 2 interactions, 128x0e+128x1o hidden
                   features, correlation order 3, 16x0e readout MLP, ZBL pair repulsion, so
                   the same cost per step as the real model (timing on machines that cannot
                   download its weights)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ARCHITECTURES = {
    "small": {
        "r_max": 4.0,
        "num_bessel": 4,
        "max_ell": 1,
        "hidden_irreps": "8x0e+8x1o",
        "MLP_irreps": "8x0e",
        "correlation": 2,
        "avg_num_neighbors": 10.0,
    },
    "medium-mpa-0": {
        "r_max": 6.0,
        "num_bessel": 10,
        "max_ell": 3,
        "hidden_irreps": "128x0e+128x1o",
        "MLP_irreps": "16x0e",
        "correlation": 3,
        "avg_num_neighbors": 61.96,
        "pair_repulsion": True,
    },
}
#: Elements of the MPA-0 foundation models: H to Ac.
MPA_ATOMIC_NUMBERS = tuple(range(1, 90))


def write_random_mace_model(
    path: Path, atomic_numbers=(3, 7), seed: int = 0, architecture: str = "small"
) -> Path:
    """Save a ScaleShiftMACE of `architecture` with random weights covering `atomic_numbers`."""
    import e3nn
    import torch
    from e3nn import o3
    from mace import modules

    shape = dict(ARCHITECTURES[architecture])
    # e3nn's default "script" mode stores TorchScript functions, which torch.save cannot pickle.
    previous = e3nn.get_optimization_defaults()["jit_mode"]
    e3nn.set_optimization_defaults(jit_mode="eager")
    try:
        torch.manual_seed(seed)
        interaction = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            num_polynomial_cutoff=5,
            interaction_cls=interaction,
            interaction_cls_first=interaction,
            num_interactions=2,
            num_elements=len(atomic_numbers),
            hidden_irreps=o3.Irreps(shape.pop("hidden_irreps")),
            MLP_irreps=o3.Irreps(shape.pop("MLP_irreps")),
            atomic_energies=np.full(len(atomic_numbers), -2.0),
            atomic_numbers=list(atomic_numbers),
            gate=torch.nn.functional.silu,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
            **shape,
        )
        torch.save(model, path)
    finally:
        e3nn.set_optimization_defaults(jit_mode=previous)
    return path
