"""Ordering throughput: every OBELiX CIF through `structures.simulation_cell` at default settings.

For each CIF in `<obelix-dir>/all_randomized_cifs` (default: OBELIX_DATA_DIR's): the simulation
cell of the paper protocol's width (10 Å) with the default ordering (`OrderingSettings()`:
`sampled`), its wall time, and the outcome: `ordered` (the CIF has no partial site), `fits`
(integer counts within the tolerance), `fallback` (nearest counts, composition deviation
recorded) or `failed` with the one-line reason; plus the sanity checks of
`science.ordering.checks` on every cell made.

    nice -n 10 python -m ionic_assets.benchmarks.ordering_throughput --obelix-dir ../shared/obelix

Writes data/benchmarks/ordering_throughput.json and .md (the command line is recorded).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

from ionic_assets.lib import settings
from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import OrderingSettings
from ionic_assets.science.ordering.checks import sanity_checks


def order_one(data_dir: Path, material_id: str, min_width_A: float) -> dict:
    start = time.perf_counter()
    try:
        unit = obelix.read_structure(data_dir, material_id)
        cell = structures.simulation_cell(unit, material_id, min_width_A, OrderingSettings())
    except InputError as exc:
        return {"material_id": material_id, "outcome": "failed", "reason": str(exc),
                "time_s": time.perf_counter() - start}  # fmt: skip
    record = cell.ordering
    checks = sanity_checks(cell.structure, record, unit)
    outcome = "ordered" if record["strategy"] == "none" else (
        "fits" if record["fits"] else "fallback"
    )  # fmt: skip
    return {
        "material_id": material_id,
        "outcome": outcome,
        "time_s": time.perf_counter() - start,
        "n_atoms": cell.n_atoms,
        "replication": list(cell.replication),
        "max_occupancy_deviation": record.get("max_occupancy_deviation"),
        "composition_deviation": record["composition_deviation"],
        "charge_e": record["charge_e"],
        "checks_failed": [name for name, c in checks.items() if not c["passed"]],
        "closest_pair": checks["distances"]["closest_pair"],
        "closest_fraction_of_covalent_radii": checks["distances"][
            "closest_fraction_of_covalent_radii"
        ],
    }


def summarize(rows: list[dict], wall_s: float) -> dict:
    outcomes = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    made = [r for r in rows if r["outcome"] != "failed"]
    return {
        "n_cifs": len(rows),
        "outcomes": outcomes,
        "wall_time_s": wall_s,
        "max_time_s": max(r["time_s"] for r in rows),
        "checks_failed": {
            name: [r["material_id"] for r in made if name in r["checks_failed"]]
            for name in ("composition", "neutral", "distances", "density")
        },
        "failures": {r["material_id"]: r["reason"] for r in rows if r["outcome"] == "failed"},
    }


def markdown(summary: dict, rows: list[dict], command: str) -> str:
    lines = [
        "# Ordering throughput: all OBELiX CIFs at default settings",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {platform.python_version()}; settings: "
        f"`{OrderingSettings().to_dict()}`, min width 10 Å.",
        "",
        f"- CIFs: {summary['n_cifs']}; outcomes: {summary['outcomes']}",
        f"- wall time: {summary['wall_time_s']:.0f} s in all, slowest CIF "
        f"{summary['max_time_s']:.1f} s",
        f"- sanity checks failed (cells made): {summary['checks_failed']}",
        "",
        "## Failures",
        "",
        *[f"- `{m}`: {reason}" for m, reason in summary["failures"].items()],
        "",
        "## Every CIF",
        "",
        "| material | outcome | atoms | replication | max occupancy deviation | time s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        deviation = r.get("max_occupancy_deviation")
        lines.append(
            f"| {r['material_id']} | {r['outcome']} | {r.get('n_atoms', '')} | "
            f"{'x'.join(map(str, r.get('replication', [])))} | "
            f"{'' if deviation is None else f'{deviation:.4f}'} | {r['time_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obelix-dir", type=Path, default=settings.OBELIX_DATA_DIR.value())
    parser.add_argument("--min-width", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", help="material IDs (default: every CIF)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"), help="result folder")
    args = parser.parse_args(argv)
    cifs = sorted(p.stem for p in (args.obelix_dir / "all_randomized_cifs").glob("*.cif"))
    ids = args.only or cifs
    start = time.perf_counter()
    rows = []
    for material_id in ids:
        rows.append(order_one(args.obelix_dir, material_id, args.min_width))
        print(json.dumps({k: rows[-1].get(k) for k in ("material_id", "outcome", "time_s")}),
              flush=True)  # fmt: skip
    summary = summarize(rows, time.perf_counter() - start)
    command = shlex.join(["python", "-m", "ionic_assets.benchmarks.ordering_throughput",
                          *(argv if argv is not None else sys.argv[1:])])  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ordering_throughput.json").write_text(
        json.dumps({"command": command, "summary": summary, "rows": rows}, indent=1) + "\n"
    )
    (args.out / "ordering_throughput.md").write_text(markdown(summary, rows, command))


if __name__ == "__main__":
    main()
