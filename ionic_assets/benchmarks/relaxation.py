"""Relaxation before MD (issue 23) on the paper's 21 materials with one method's force model.

Each of the paper's 21 cells (`--width 0`: the OBELiX unit cells, ordered as the supercells asset
orders them, `batched_md.build_paper_cells`) is relaxed as the `--protocol`'s `relax` block says
(default `paper-relaxed`: FIRE on positions and cell, fmax 0.05 eV/Å, at most 300 steps) with
`science.relax.relax_cells`, one cell at a time so that each is timed on its own (the engine the
MD's rule chooses: ASE for CHGNet, which has no torch-sim wrapper). Recorded per material:
converged, steps, wall time, energy drop per atom, volume change, largest (Li) displacement, and
whether the `relaxation_moderate` bounds hold; a divergence is recorded as its one line.

    OBELIX_DATA_DIR=../shared/obelix nice -n 10 python -m ionic_assets.benchmarks.relaxation \
        --method chgnet --threads 2 --width 0 --out data/benchmarks

Writes relaxation.json and relaxation.md in `--out`, anew after each material (a killed run
keeps those done).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import time
from pathlib import Path

import torch

from ionic_assets.benchmarks.batched_md import build_paper_cells
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.science.forcefields import ModelSpec, build_calculator
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.relax import relax_cells


def relax_one(cell, model, protocol) -> dict:
    """One material's row: the relaxation's record, or its error's one line."""
    material = cell.info["material_id"]
    relax = protocol.relax
    start = time.perf_counter()
    choice, (outcome,) = relax_cells([cell], [material], model, relax,
                                     protocol.guards.min_interatomic_distance_A)  # fmt: skip
    row = {"material_id": material, "n_atoms": len(cell),
           "wall_time_s": time.perf_counter() - start}  # fmt: skip
    if isinstance(outcome, Exception):
        return {**row, "problem": str(outcome)}
    record = outcome.to_dict()
    moderate = (abs(record["volume_change_frac"]) <= relax.max_volume_change_frac
                and record["max_li_displacement_A"] <= relax.max_li_displacement_A)  # fmt: skip
    return {**row, **record, "wall_time_s": row["wall_time_s"], "moderate": moderate,
            "engine_choice": choice.to_dict() if choice else None}  # fmt: skip


def markdown(rows: list[dict], meta: dict) -> str:
    done = [r for r in rows if "problem" not in r]
    converged = sum(r["converged"] for r in done)
    moderate = sum(r["moderate"] for r in done)
    lines = [
        "# Relaxation before MD on the paper's materials",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"{meta['method']} ({meta['model']}), protocol `{meta['protocol']}` relax "
        f"{json.dumps(meta['relax'])}; {meta['cells']}; CPU {meta['cpu']}, torch "
        f"{meta['torch']}, {meta['torch_threads']} threads. Materials done: {len(rows)} of "
        f"{meta['n_materials']}; converged {converged} of {len(done)}, within the "
        f"relaxation_moderate bounds {moderate} of {len(done)}; total wall time "
        f"{sum(r['wall_time_s'] for r in rows):.0f} s.",
        "",
        "| material | atoms | converged | steps | wall (s) | dE (eV/atom) | dV/V (%) | "
        "max disp (Å) | max Li disp (Å) | moderate | problem |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "problem" in r:
            wall = f"{r['wall_time_s']:.1f}"
            lines.append(f"| {r['material_id']} | {r['n_atoms']} | - | - | {wall} | - | - | - | "
                         f"- | - | {r['problem']} |")  # fmt: skip
            continue
        lines.append(
            f"| {r['material_id']} | {r['n_atoms']} | {'yes' if r['converged'] else 'no'} | "
            f"{r['n_steps']} | {r['wall_time_s']:.1f} | {r['energy_drop_eV_per_atom']:.4f} | "
            f"{100 * r['volume_change_frac']:+.2f} | {r['max_displacement_A']:.3f} | "
            f"{r['max_li_displacement_A']:.3f} | {'yes' if r['moderate'] else 'no'} | |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="chgnet")
    parser.add_argument("--protocol", default="paper-relaxed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.0, help="min cell width, Å (0: unit)")
    parser.add_argument("--materials", nargs="*", help="default: the paper's 21")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    protocol = load_protocol(args.protocol)
    cells = build_paper_cells(args.width)
    if args.materials:
        cells = [c for c in cells if c.info["material_id"] in args.materials]
    method = load_methods()[args.method]
    model = build_calculator(ModelSpec.from_dict(method.settings["model"]), "cpu")
    meta = {
        "command": f"python -m ionic_assets.benchmarks.relaxation --method {args.method} "
        f"--protocol {args.protocol} --threads {args.threads} --width {args.width:g}"
        + (f" --materials {' '.join(args.materials)}" if args.materials else ""),
        "method": args.method,
        "model": model.identity,
        "protocol": args.protocol,
        "relax": protocol.relax.__dict__,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "torch": importlib.metadata.version("torch"),
        "cells": f"{len(cells)} cells of width >= {args.width:g} Å, "
        f"{sum(len(c) for c in cells)} atoms",
        "n_materials": len(cells),
    }
    store = ArtifactStore(args.out)  # writes each file in one piece
    rows = []
    for cell in cells:
        print(f"[relaxation] {cell.info['material_id']} ({len(cell)} atoms)", flush=True)
        rows.append(relax_one(cell, model, protocol))
        report = json.dumps({"meta": meta, "rows": rows}, indent=1, default=str)
        store.write_bytes("relaxation.json", report.encode())
        store.write_bytes("relaxation.md", markdown(rows, meta).encode())
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
