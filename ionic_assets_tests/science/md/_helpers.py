"""Shared pieces of the force-model and MD tests: small real structures, short protocols,
and a command-line entry to run MD in a subprocess (to SIGKILL it).

    python -m ionic_assets_tests.science.md._helpers RUN_JSON

runs `run_nvt` with EMT on the copper cell described by the JSON file (see `run_from_json`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.neighborlist import NeighborList

from ionic_assets.science.md.recorder import MDProgress
from ionic_assets.science.protocols import Protocol, load_protocol


class Interrupt(Exception):
    """Raised from a progress callback to stop a run mid-way, as a crash would."""


def interrupt_at(step: int):
    """A progress callback that raises Interrupt at `step`."""

    def on_progress(progress: MDProgress) -> None:
        if progress.step == step:
            raise Interrupt

    return on_progress


def li3n() -> Atoms:
    """alpha-Li3N (OBELiX gvd; P6/mmm, a = 3.648 A, c = 3.875 A), 4 atoms."""
    a, c = 3.648, 3.875
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
    scaled = [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0], [0, 0, 0.5], [0, 0, 0]]
    return Atoms("Li3N", scaled_positions=scaled, cell=cell, pbc=True)


def copper(repeat: int = 2) -> Atoms:
    """fcc Cu, cubic cell repeated `repeat` times (4 repeat^3 atoms), for the cheap EMT model."""
    return bulk("Cu", cubic=True).repeat(repeat)


class StatelessEMT(EMT):
    """EMT whose results depend on the positions only.

    ASE's EMT keeps a neighbour list with a 0.3 A skin between calls, and pairs in the skin add
    tiny but nonzero terms, so its forces depend on when the list was last rebuilt: a resumed
    run would drift from an uninterrupted one. MLIP calculators rebuild their graph every call;
    this EMT does the same (skin 0).
    """

    def initialize(self, atoms):
        super().initialize(atoms)
        cutoffs = [0.5 * self.rc_list] * len(atoms)
        self.nl = NeighborList(cutoffs, skin=0.0, self_interaction=False, bothways=True)


def short_protocol(**overrides) -> Protocol:
    """The smoke protocol with some fields changed (guards via `guards={...}`); no diffusion fit
    window unless given, so any short duration is valid."""
    base = load_protocol("smoke")
    guards = replace(base.guards, **overrides.pop("guards", {}))
    overrides.setdefault("diffusion_fit_start_ps", 0.0)
    return replace(base, guards=guards, **overrides)


def run_from_json(config_path: str) -> None:
    """Run EMT MD as described by a JSON file: trajectory_path, repeat, temperature_K, seed,
    protocol overrides (dict). Used as a subprocess that the kill tests SIGKILL."""
    from ionic_assets.science.md.ase_runner import run_nvt

    config = json.loads(Path(config_path).read_text())
    run_nvt(
        copper(config["repeat"]),
        StatelessEMT(),
        short_protocol(**config["protocol"]),
        config["temperature_K"],
        config["seed"],
        config["trajectory_path"],
    )


if __name__ == "__main__":
    # Through the package, not __main__, so the calculator's class path (part of the run's
    # identity) is the same as in the test process.
    from ionic_assets_tests.science.md import _helpers

    _helpers.run_from_json(sys.argv[1])
