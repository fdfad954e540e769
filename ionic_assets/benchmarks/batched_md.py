"""Batched (torch-sim) vs one-after-another (ASE runner) MD on the paper's supercells.

For each model and each batch size n, the first n of the paper's 21 materials (OBELiX, ordered
as the supercells asset orders them, >= 10 A wide) at 800-1200 K:

* sequential: `md.run_nvt` on each system in turn, `--steps` steps each;
* batched: `batched.run_batch` on all n together, `--steps` steps;

both with the paper protocol's cadence, in one process, one after the other (so machine load
affects both alike). Reported: atom-steps/s of each, their ratio, ms per batched step, and
whether batching pays there (what `batched.choice` decides from its own, shorter probe).

    nice -n 10 python -m ionic_assets.benchmarks.batched_md --sizes 1 5 10 --steps 3

Models: sevenn (SevenNet-0, weights in its wheel) and mace-mpa0-random (MACE with the
medium-mpa-0 architecture and random weights, the same cost per step, `science.random_mace`).
Writes data/benchmarks/batched_md.json and .md (or --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ionic_assets.lib import settings
from ionic_assets.science import obelix, structures
from ionic_assets.science.batched.runner import run_batch
from ionic_assets.science.batched.systems import System
from ionic_assets.science.forcefields import ModelSpec, build_calculator
from ionic_assets.science.md import device_name, run_nvt
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.random_mace import MPA_ATOMIC_NUMBERS, write_random_mace_model

TEMPERATURES_K = (800.0, 900.0, 1000.0, 1100.0, 1200.0)


def paper_supercells(n: int) -> list:
    """The first `n` of the paper's materials that order cleanly, as ASE atoms (>= 10 A)."""
    cells = []
    for material in obelix.PAPER_MATERIAL_IDS:
        unit = obelix.read_structure(settings.obelix_dir(), material)
        try:
            ordered, _ = structures.order_structure(unit, material)
        except Exception:  # disordered: the supercells asset needs a strategy for it
            continue
        cells.append(
            (material, structures.to_ase(structures.build_supercell(ordered, 10.0).structure))
        )
        if len(cells) == n:
            return cells
    return cells


def protocol(steps: int):
    paper = load_protocol("paper")
    return replace(
        paper,
        duration_ps=steps * paper.timestep_fs / 1000,
        equilibration_ps=0.0,
        diffusion_fit_start_ps=0.0,
        guards=replace(paper.guards, temperature_window_steps=1, max_temperature_deviation=10.0),
    )


def load(name: str, workdir: Path):
    if name == "sevenn":
        return build_calculator(ModelSpec("sevenn"), "auto")
    path = write_random_mace_model(
        workdir / "mpa0-random.model", MPA_ATOMIC_NUMBERS, architecture="medium-mpa-0"
    )
    return build_calculator(ModelSpec("mace", path=str(path)), "auto")


def measure(model, cells, steps: int, workdir: Path) -> dict:
    systems = [
        System(atoms, TEMPERATURES_K[i % 5], 1, workdir / f"seq-{i}.h5", label=material)
        for i, (material, atoms) in enumerate(cells)
    ]
    atom_steps = steps * sum(len(s.atoms) for s in systems)
    warm = replace(systems[0], trajectory_path=workdir / "warm-up.h5")
    run_batch([warm], model, protocol(1))  # first calls compile kernels: not timed
    run_nvt(warm.atoms, model, protocol(1), warm.temperature_K, 1, workdir / "warm-up-ase.h5")
    start = time.perf_counter()
    for s in systems:
        run_nvt(s.atoms, model, protocol(steps), s.temperature_K, s.seed, s.trajectory_path)
    sequential_s = time.perf_counter() - start
    batch = [replace(s, trajectory_path=workdir / f"batch-{i}.h5") for i, s in enumerate(systems)]
    start = time.perf_counter()
    outcomes = run_batch(batch, model, protocol(steps))
    batched_s = time.perf_counter() - start
    failed = [str(o) for o in outcomes if isinstance(o, Exception)]
    return {
        "n_systems": len(systems),
        "n_atoms": sum(len(s.atoms) for s in systems),
        "materials": [s.label for s in systems],
        "steps": steps,
        "sequential_atom_steps_per_s": atom_steps / sequential_s,
        "batched_atom_steps_per_s": atom_steps / batched_s,
        "speedup": sequential_s / batched_s,
        "batched_ms_per_step": 1e3 * batched_s / steps,
        "failed": failed,
        # What `batched.choice` decides from the same comparison (its probe times force calls).
        "batch_pays": sequential_s > batched_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sevenn", "mace-mpa0-random"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=settings.PROJECT_ROOT / "data" / "benchmarks")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = paper_supercells(max(args.sizes))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = load(name, Path(tmp))
            for n in args.sizes:
                workdir = Path(tmp) / f"{name}-{n}"
                workdir.mkdir()
                rows.append({"model": name, **measure(model, cells[:n], args.steps, workdir)})
                print(json.dumps(rows[-1]), flush=True)
    command = "python -m ionic_assets.benchmarks.batched_md " + shlex.join(argv or sys.argv[1:])
    report = {
        "command": command,
        "device": device_name(model.device),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batched_md.json").write_text(json.dumps(report, indent=2))
    (args.out / "batched_md.md").write_text(_markdown(report))
    return 0


def _markdown(report: dict) -> str:
    lines = [
        "# Batched (torch-sim) vs sequential (ASE) MD on the paper's supercells",
        "",
        f"`{report['command']}` on {report['device']}, {report['torch_threads']} torch "
        f"threads, Python {report['python']}; the machine was shared (load varies).",
        "",
        "| model | systems | atoms | sequential atom-steps/s | batched atom-steps/s | "
        "batched/sequential | batched ms/step | batching pays |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['model']} | {r['n_systems']} | {r['n_atoms']} | "
            f"{r['sequential_atom_steps_per_s']:.0f} | {r['batched_atom_steps_per_s']:.0f} | "
            f"{r['speedup']:.2f}x | {r['batched_ms_per_step']:.0f} | "
            f"{'yes' if r['batch_pays'] else 'no'} |"
        )
    lines += ["", "GPU figures (1, 5, 21, 105 systems on an H200/A100): pending, no GPU lent."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
