"""The MD engines: what integrates a trajectory.

    TORCH_SIM  `torchsim_runner`: many trajectories batched on one device with torch-sim
    ASE        `ase_runner`: one trajectory at a time, the protocol's ASE dynamics class

The values ("ase", "torch-sim") are what trajectory files, checkpoints, results and the
warehouse record. A caller may also ask for `AUTO`: let `choice.choose_engine` measure.
"""

from __future__ import annotations

from enum import StrEnum

from ionic_assets.science.errors import InputError


class Engine(StrEnum):
    """An MD engine; its value is the name recorded with every trajectory."""

    TORCH_SIM = "torch-sim"
    ASE = "ase"


#: The request that lets `choice.choose_engine` pick the engine by measurement.
AUTO = "auto"
#: What a caller may ask for: an engine's value, or AUTO.
REQUESTS = (AUTO, *(engine.value for engine in Engine))


def check_request(requested: str) -> None:
    """InputError unless `requested` is one of `REQUESTS`."""
    if requested not in REQUESTS:
        raise InputError(f"MD engine {requested!r}: unknown (choose from {', '.join(REQUESTS)})")
