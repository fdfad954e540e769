"""Batched (torch-sim) vs one-after-another (ASE runner) MD on the paper's supercells.

The systems are the paper's 21 materials (`obelix.PAPER_MATERIAL_IDS`), each built once by
`structures.simulation_cell` as the supercells asset builds it (default ordering, the paper
protocol's minimum width, 10 A); n systems are the first n materials at 800-1200 K in turn, and
beyond 21 the materials again at the other temperatures (105 = 21 materials x 5 temperatures).
For each model and n:

* the engine's own decision, `md.choice.choose_engine(model, systems, "auto")` (its probe);
* an untimed warm-up of both engines on the same systems (first calls compile and allocate);
* `--repeats` times, alternating: `md.ase_runner.run_nvt` on each system in turn, then
  `md.torchsim_runner.run_batch` on all of them, `--steps` steps each with the paper protocol's
  cadence; the best (fastest) of each is reported, so load drifts hit both alike.

Reported per row: atom-steps/s of both, their ratio (sequential time / batched time), batched
ms/step, the peak host memory of each (VmHWM, reset before each) and of the GPU
(`torch.cuda.max_memory_allocated`), and the projected device-hours of the paper's benchmark
(21 materials x 5 temperatures x 50,000 steps of 2 fs) at the measured rates; the paper's MACE
took 82 A100 GPU-hours. On a CPU the projection is in CPU-core-hours (wall hours x threads).

    nice -n 10 python -m ionic_assets.benchmarks.batched_md --models sevenn mace-mpa0-random \
        --sizes 1 5 10 --steps 3 --repeats 2 --threads 2
    bash deploy/gpu/batched_benchmark.sh run DIR OUT   # on a GPU machine: 1, 5, 21, 105 systems

Models: sevenn (SevenNet-0, weights in its wheel), any batchable roster method of methods.yaml
by its name (sevenn-l3i5, sevenn-mf-0-pbe, ...), mace-mpa0-random (MACE with the medium-mpa-0
architecture and random weights: the same cost per step, `science.forcefields.random_mace`) and
mace-small-random (a tiny MACE, for tests). `--cells FILE` (extxyz) reads the cells from FILE,
or builds them and writes FILE when it does not exist, so that a machine without OBELiX or
pymatgen can run the benchmark. Writes batched_md.json and .md in `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ase.io
import torch
from torch_sim.neighbors import default_batched_nl

from ionic_assets.lib import settings
from ionic_assets.lib.methods import load_methods
from ionic_assets.science.errors import InputError, StorageError
from ionic_assets.science.forcefields import (
    ModelSpec,
    build_calculator,
    resolve_device,
    torchsim_model,
)
from ionic_assets.science.forcefields.random_mace import MPA_ATOMIC_NUMBERS, write_random_mace_model
from ionic_assets.science.md import autobatch
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.choice import choose_engine
from ionic_assets.science.md.recorder import device_name
from ionic_assets.science.md.systems import System
from ionic_assets.science.md.torchsim_runner import run_batch
from ionic_assets.science.protocols import load_protocol

TEMPERATURES_K = (800.0, 900.0, 1000.0, 1100.0, 1200.0)
#: The paper's cost of one potential's benchmark (21 materials x 5 temperatures x 100 ps, A100).
PAPER_GPU_HOURS = 82.0
RANDOM_MACE = {"mace-mpa0-random": "medium-mpa-0", "mace-small-random": "small"}
GPU_HOWTO = (
    "GPU rows (1, 5, 21 and 105 systems, 20 steps, float32): `OBELIX_DATA_DIR=../shared/obelix "
    "bash deploy/gpu/batched_benchmark.sh prepare DIR` on a machine with the repository's .venv "
    "(writes the 21 cells and the Python packages a CUDA torch environment lacks to DIR), then "
    "on the GPU machine `bash deploy/gpu/batched_benchmark.sh run DIR OUT [--deadline-s N]` "
    "(writes batched_md.json, .md and log.txt to OUT)."
)


def build_paper_cells(min_width_A: float) -> list:
    """The paper's 21 simulation cells of width >= `min_width_A` (0: the unit cells), built and
    ordered as the supercells asset builds them, as ASE atoms (`info["material_id"]`)."""
    from ionic_assets.science import obelix, structures  # pymatgen: only where cells are built

    cells = []
    for material in obelix.PAPER_MATERIAL_IDS:
        unit = obelix.read_structure(settings.OBELIX_DATA_DIR.value(), material)
        atoms = structures.to_ase(structures.simulation_cell(unit, material, min_width_A).structure)
        atoms.info["material_id"] = material
        cells.append(atoms)
    return cells


def paper_cells(cells_file: Path | None) -> list:
    """The paper's 21 simulation cells as ASE atoms (`info["material_id"]`), from `cells_file`
    when it exists, else built (and written to `cells_file` when given)."""
    if cells_file and cells_file.exists():
        return ase.io.read(cells_file, index=":")
    cells = build_paper_cells(load_protocol("paper").min_cell_width_A)
    if cells_file:
        ase.io.write(cells_file, cells, format="extxyz")
    return cells


def batch_systems(cells: list, n: int, workdir: Path) -> list[System]:
    """n systems: the cells in turn, each pass over them at the next temperatures."""
    systems = []
    for i in range(n):
        atoms = cells[i % len(cells)]
        temperature_K = TEMPERATURES_K[(i + i // len(cells)) % len(TEMPERATURES_K)]
        label = f"{atoms.info.get('material_id', i % len(cells))} {temperature_K:.0f} K"
        systems.append(System(atoms, temperature_K, i, workdir / f"{i}.h5", label=label))
    return systems


def protocol(steps: int):
    paper = load_protocol("paper")
    return replace(
        paper,
        duration_ps=steps * paper.timestep_fs / 1000,
        frame_interval_steps=min(paper.frame_interval_steps, steps),
        equilibration_ps=0.0,
        diffusion_fit_start_ps=0.0,
        guards=replace(paper.guards, temperature_window_steps=1, max_temperature_deviation=10.0),
    )


def load(name: str, device: str, workdir: Path):
    """A random-weight MACE by its `RANDOM_MACE` name, "sevenn" (SevenNet-0), or the model of
    any batchable `mlip` method of methods.yaml by the method's name (the roster)."""
    methods = load_methods()
    if name in methods and methods[name].batchable:
        return build_calculator(ModelSpec.from_dict(methods[name].settings["model"]), device)
    if name == "sevenn":
        return build_calculator(ModelSpec("sevenn"), device)
    if name not in RANDOM_MACE:
        raise InputError(f"model {name!r}: not a batchable method nor one of {list(RANDOM_MACE)}")
    path = write_random_mace_model(
        workdir / f"{name}.model", MPA_ATOMIC_NUMBERS, architecture=RANDOM_MACE[name]
    )
    return build_calculator(ModelSpec("mace", path=str(path)), device)


@contextlib.contextmanager
def peak_memory(device: str):
    """Peak host (VmHWM, reset on entry where Linux allows) and GPU memory, MB, in `peak`."""
    peak: dict = {}
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield peak
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        peak["gpu_MB"] = torch.cuda.max_memory_allocated(device) / 2**20
    peak["s"] = time.perf_counter() - start
    peak["host_MB"] = _host_peak_kB() / 1024


def _host_peak_kB() -> float:
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def sequential(systems: list[System], model, steps: int, workdir: Path) -> list[str]:
    failed = []
    for s in systems:
        try:
            run_nvt(
                s.atoms, model, protocol(steps), s.temperature_K, s.seed, workdir / f"{s.seed}.h5"
            )
        except (InputError, StorageError) as exc:  # a guard, the elements: the row says so
            failed.append(f"{s.label}: {exc}")
    return failed


def batched(systems: list[System], model, ts_model, steps: int, workdir: Path, limit=None):
    batch = [replace(s, trajectory_path=workdir / f"{s.seed}.h5") for s in systems]
    outcomes = run_batch(batch, model, protocol(steps), ts_model=ts_model, max_memory_scaler=limit)
    pairs = zip(systems, outcomes, strict=True)
    return [f"{s.label}: {o}" for s, o in pairs if isinstance(o, Exception)]


def memory_limit(ts_model, systems: list[System]) -> float | None:
    """run_batch's memory split, measured once (torch-sim's probe), so no timed run repeats it."""
    if ts_model.device.type != "cuda" or len(systems) < 2:
        return None
    import torch_sim as ts
    from torch_sim.autobatching import calculate_memory_scalers, estimate_max_memory_scaler

    state = ts.io.atoms_to_state(
        [s.atoms for s in systems], device=ts_model.device, dtype=ts_model.dtype
    )
    metrics = calculate_memory_scalers(state, autobatch.MEMORY_METRIC)
    return estimate_max_memory_scaler(state, ts_model, metrics)


def measure(model, ts_model, systems: list[System], args, workdir: Path) -> dict:
    try:
        decision = choose_engine(model, systems, "auto").to_dict()
    except RuntimeError as exc:  # e.g. its probe's one merged batch does not fit on the GPU
        decision = {"engine": "failed", "reason": str(exc).splitlines()[0]}
    # Untimed: first calls compile and allocate.
    limit = memory_limit(ts_model, systems)
    failed = sequential(systems, model, 1, workdir / "warm-seq")
    failed += batched(systems, model, ts_model, 1, workdir / "warm-batch", limit)
    runs: dict[str, list[dict]] = {"sequential": [], "batched": []}
    for r in range(args.repeats):
        with peak_memory(model.device) as peak:
            failed += sequential(systems, model, args.steps, workdir / f"seq-{r}")
        runs["sequential"].append(peak)
        with peak_memory(model.device) as peak:
            failed += batched(systems, model, ts_model, args.steps, workdir / f"batch-{r}", limit)
        runs["batched"].append(peak)
    n_atoms = sum(len(s.atoms) for s in systems)
    row = {"n_systems": len(systems), "n_atoms": n_atoms, "systems": [s.label for s in systems]}
    for engine, peaks in runs.items():
        best_s = min(p["s"] for p in peaks)
        row[f"{engine}_s"] = [p["s"] for p in peaks]
        row[f"{engine}_atom_steps_per_s"] = args.steps * n_atoms / best_s
        for key in ("host_MB", "gpu_MB"):
            if key in peaks[0]:
                row[f"{engine}_peak_{key}"] = max(p[key] for p in peaks)
    row["ratio"] = min(row["sequential_s"]) / min(row["batched_s"])
    row["batched_ms_per_step"] = 1e3 * min(row["batched_s"]) / args.steps
    row["batching_pays"] = row["ratio"] > 1
    row["engine_choice"] = decision
    row["memory_split_limit"] = limit
    row["failed"] = sorted(set(failed))
    return row


def projected_hours(rate_atom_steps_per_s: float, cells: list, device: str) -> float:
    """Device-hours of the paper's 21 x 5 x 100 ps at `rate`: GPU-hours, or CPU-core-hours."""
    paper = load_protocol("paper")
    atom_steps = len(TEMPERATURES_K) * paper.n_steps * sum(len(atoms) for atoms in cells)
    hours = atom_steps / rate_atom_steps_per_s / 3600
    return hours if device.startswith("cuda") else hours * torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sevenn", "mace-mpa0-random"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--steps", type=int, default=3, help="timed MD steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="alternated timed runs (best)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cells", type=Path, help="extxyz of the cells (read, or written)")
    parser.add_argument("--note", default="", help="a paragraph added to the markdown")
    parser.add_argument("--out", type=Path, default=settings.PROJECT_ROOT / "data" / "benchmarks")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    report = {
        "command": shlex.join(["python", "-m", "ionic_assets.benchmarks.batched_md", *argv]),
        "device": device_name(device),
        "on_gpu": device.startswith("cuda"),
        "torch_threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count(),
        "load_average": {"start": os.getloadavg(), "end": None},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_sim_neighbor_list": default_batched_nl.__name__,
        "steps": args.steps,
        "repeats": args.repeats,
        "paper_gpu_hours": PAPER_GPU_HOURS,
        "note": args.note,
        "rows": [],
    }
    cells = paper_cells(args.cells)
    report["cells"] = {a.info.get("material_id", str(i)): len(a) for i, a in enumerate(cells)}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = load(name, device, Path(tmp))
            ts_model = torchsim_model(model)
            for n in args.sizes:
                workdir = Path(tmp) / f"{name}-{n}"
                systems = batch_systems(cells, n, workdir)
                row = {"model": name, **measure(model, ts_model, systems, args, workdir)}
                for engine in ("sequential", "batched"):
                    rate = row[f"{engine}_atom_steps_per_s"]
                    row[f"{engine}_projected_hours"] = projected_hours(rate, cells, model.device)
                print(json.dumps(row), flush=True)
                report["rows"].append(row)
                report["load_average"]["end"] = os.getloadavg()
                write_report(report, args.out)  # after each row: a cut-off run keeps its rows
    return 0


def write_report(report: dict, out: Path) -> None:
    (out / "batched_md.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "batched_md.md").write_text(markdown(report))


def markdown(report: dict) -> str:
    unit = "GPU-h" if report["on_gpu"] else "CPU-core-h"
    gpu = report["on_gpu"]
    load = report["load_average"]
    lines = [
        "# Batched (torch-sim) vs sequential (ASE) MD on the paper's supercells",
        "",
        f"Command: `{report['command']}`",
        "",
        f"On {report['device']} ({report['cpu_cores']} cores, {report['torch_threads']} torch "
        f"threads), Python {report['python']}, torch {report['torch']} (torch-sim neighbour "
        f"list {report['torch_sim_neighbor_list']}); load average (1, 5, 15 "
        f"min) {_loads(load['start'])} at the start, {_loads(load['end'])} at the end. "
        f"{report['steps']} timed steps per run, best of {report['repeats']} alternated runs "
        f"of each engine after an untimed warm-up. Cells: {len(report['cells'])} materials, "
        f"{sum(report['cells'].values())} atoms in all. Projection: the paper's "
        f"{len(report['cells'])} materials x 5 temperatures x 50,000 steps at the row's rate, "
        f"in {unit}" + ("" if gpu else " (wall hours x torch threads)") + f"; the paper: "
        f"{report['paper_gpu_hours']:g} A100 GPU-hours.",
        "",
        "| model | systems | atoms | sequential atom-steps/s | batched atom-steps/s | "
        "ratio (seq time / batched time) | batched ms/step | peak host MB (seq / batched) | "
        + ("peak GPU MB (seq / batched) | " if gpu else "")
        + f"projected {unit} (seq / batched) | batching pays | engine's choice (its probe: "
        "one by one / batched atom-evals/s) |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if gpu else "") + "---|---|---|",
    ]
    for r in report["rows"]:
        choice = r["engine_choice"]
        probe = (
            f" ({choice['ase_atom_evals_per_s']:.0f} / {choice['batched_atom_evals_per_s']:.0f})"
            if choice.get("ase_atom_evals_per_s")
            else f" ({choice['reason']})"
        )
        gpu_cell = (
            f"{r['sequential_peak_gpu_MB']:.0f} / {r['batched_peak_gpu_MB']:.0f} | " if gpu else ""
        )
        failed = f" ({len(r['failed'])} failed)" if r["failed"] else ""
        lines.append(
            f"| {r['model']} | {r['n_systems']}{failed} | {r['n_atoms']} | "
            f"{r['sequential_atom_steps_per_s']:.1f} | {r['batched_atom_steps_per_s']:.1f} | "
            f"{r['ratio']:.2f}x | {r['batched_ms_per_step']:.0f} | "
            f"{r['sequential_peak_host_MB']:.0f} / {r['batched_peak_host_MB']:.0f} | {gpu_cell}"
            f"{r['sequential_projected_hours']:.3g} / {r['batched_projected_hours']:.3g} | "
            f"{'yes' if r['batching_pays'] else 'no'} | {choice['engine']}{probe} |"
        )
    if not gpu:
        lines += ["", GPU_HOWTO]
    if report["note"]:
        lines += ["", report["note"]]
    return "\n".join(lines) + "\n"


def _loads(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
