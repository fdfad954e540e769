"""The roster: every force model of methods.yaml whose weights are here, loaded and evaluated once.

For each `mlip` method (SevenNet and CHGNet releases whose weights ship in their wheels, and MACE
where its weights file is here), on the paper's 21 cells (`--cells unit`: the OBELiX unit cells,
near-full sites made full as the supercells asset does; `--cells supercells`: the >= 10 A
supercells the MD runs on, `batched_md.paper_cells`): one energy and force evaluation per cell
on the CPU, checked for finite energies and forces and for forces that sum to about zero (a
translation-invariant model's net force vanishes), and timed as CPU seconds per 100 atom-steps
(a step is one force call; the first cell is evaluated once untimed, as warm-up). A model that
cannot run here (package missing, weights absent, an element not covered) is listed with its
one line.

    OBELIX_DATA_DIR=../shared/obelix nice -n 10 python -m ionic_assets.benchmarks.roster \
        --threads 2 --cells unit --out data/benchmarks

Writes roster.json and roster.md in `--out`, anew after each model (a killed run keeps those
done).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ionic_assets.benchmarks.batched_md import build_paper_cells, paper_cells
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import (
    LoadedModel,
    ModelSpec,
    build_calculator,
    check_elements,
    mace,
)

#: Largest |sum of forces| per cell accepted as "about zero", eV/A (float32 sums of ~10^3 terms).
MAX_NET_FORCE_eV_A = 1e-2


@dataclass(frozen=True)
class RosterRow:
    """One model's load and evaluation on the cells; `problem` set when it could not run."""

    method: str
    family: str
    model: str
    package_version: str = ""
    weights_sha256: str = ""
    n_elements: int = 0
    n_parameters: int = 0
    n_cells: int = 0
    all_finite: bool = False
    max_net_force_eV_A: float = float("nan")
    cpu_s_per_100_atom_steps: float = float("nan")
    problem: str = ""


def roster_specs() -> dict[str, ModelSpec]:
    """The model of every `mlip` method of the methods file, by method name."""
    return {
        name: ModelSpec.from_dict(method.settings["model"])
        for name, method in load_methods().items()
        if method.kind == "mlip"
    }


def n_parameters(loaded: LoadedModel) -> int:
    """Trainable and fixed parameters of the calculator's torch model."""
    return sum(p.numel() for p in loaded.calculator.model.parameters())


def evaluate(method: str, spec: ModelSpec, cells: list) -> RosterRow:
    """Load `spec` on the CPU and evaluate every cell once (see the module docstring)."""
    base = {"method": method, "family": spec.family, "model": spec.label}
    if (
        spec.family == "mace"
        and not spec.path
        and not mace.cached_weights_path(spec.label).is_file()
    ):
        # Not probed: the roster never reaches for a download.
        return RosterRow(**base, problem="weights not here (MACE downloads them at first use)")
    try:
        loaded = build_calculator(spec, device="cpu")
        for atoms in cells:
            check_elements(loaded, atoms)
    except InputError as exc:
        return RosterRow(**base, problem=str(exc))
    calculator = loaded.calculator
    warm = cells[0].copy()
    warm.calc = calculator
    warm.get_forces()
    finite, net, seconds, atom_steps = True, 0.0, 0.0, 0
    for cell in cells:
        atoms = cell.copy()
        atoms.calc = calculator
        start = time.process_time()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        seconds += time.process_time() - start
        atom_steps += len(atoms)
        finite &= bool(np.isfinite(energy) and np.isfinite(forces).all())
        net = max(net, float(np.abs(forces.sum(axis=0)).max()))
    return RosterRow(
        **base,
        package_version=loaded.identity["package_version"],
        weights_sha256=loaded.identity["weights_sha256"],
        n_elements=len(loaded.atomic_numbers),
        n_parameters=n_parameters(loaded),
        n_cells=len(cells),
        all_finite=finite,
        max_net_force_eV_A=net,
        cpu_s_per_100_atom_steps=100 * seconds / atom_steps,
    )


def markdown(rows: list[RosterRow], meta: dict) -> str:
    lines = [
        "# The roster on the CPU: each model once on the paper's 21 cells",
        "",
        f"Command: `{meta['command']}`",
        "",
        *(f"- {key}: {value}" for key, value in meta.items() if key != "command"),
        "",
        "| method | model | version | elements | parameters | cells | finite | "
        "max net force (eV/A) | CPU s per 100 atom-steps | weights SHA-256 (first 12) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.problem:
            lines.append(f"| {r.method} | {r.model} | not run: {r.problem} |||||||| |")
            continue
        lines.append(
            f"| {r.method} | {r.family} `{r.model}` | {r.package_version} | {r.n_elements} | "
            f"{r.n_parameters:,} | {r.n_cells} | {'yes' if r.all_finite else 'NO'} | "
            f"{r.max_net_force_eV_A:.1e} | {r.cpu_s_per_100_atom_steps:.3f} | "
            f"{r.weights_sha256[:12]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="*", help="default: every mlip method")
    parser.add_argument("--cells", choices=["unit", "supercells"], default="unit")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cells = build_paper_cells(0.0) if args.cells == "unit" else paper_cells(None)
    specs = roster_specs()
    meta = {
        "command": f"python -m ionic_assets.benchmarks.roster --threads {args.threads} "
        f"--cells {args.cells}" + (f" --methods {' '.join(args.methods)}" if args.methods else ""),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "torch": importlib.metadata.version("torch"),
        "cells": f"{len(cells)} {args.cells} cells, {sum(len(c) for c in cells)} atoms",
    }
    store = ArtifactStore(args.out)  # writes each file in one piece
    rows = []
    for method in args.methods or list(specs):
        print(f"[roster] {method}", flush=True)
        rows.append(evaluate(method, specs[method], cells))
        report = json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1)
        store.write_bytes("roster.json", report.encode())
        store.write_bytes("roster.md", markdown(rows, meta).encode())
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
