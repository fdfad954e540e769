"""The stored simulation cell of a material: what the `supercells` asset wrote, read back, and
the cell a method's MD starts from when its protocol relaxes (what `relaxed_cells` wrote).

MD (`defs/simulation`) and DFT pod sizing (`lib/k8s.py`) both read the cell from here, so the
cell simulated and the cell a pod is sized for are the same object: built once by
`science.structures.simulation_cell`, stored per (material, min_width_A).
"""

from __future__ import annotations

from pymatgen.core import Structure

from ionic_assets.lib.warehouse import Warehouse, read_rows
from ionic_assets.science import structures
from ionic_assets.science.errors import InputError


def stored_row(warehouse: Warehouse, material: str, min_width_A: float | None):
    """The supercells row of `material` for widths >= `min_width_A` (None: any stored width, for
    a caller that needs only what is in the cell, not its size)."""
    rows = warehouse.run(
        lambda conn: read_rows(conn, "supercells", "material_id = ?", [material]), read_only=True
    )
    if min_width_A is not None:
        rows = rows[rows["min_width_A"] == min_width_A]
    if rows.empty:
        width = "" if min_width_A is None else f" for widths >= {min_width_A:g} Å"
        raise InputError(
            f"material {material}: no supercell{width} yet (materialize supercells with the "
            "same protocol first)"
        )
    return rows.iloc[-1]


def stored_cell(
    warehouse: Warehouse, material: str, min_width_A: float | None
) -> structures.Supercell:
    """The stored simulation cell (see `stored_row`)."""
    row = stored_row(warehouse, material, min_width_A)
    cell = Structure.from_str(row["supercell_cif"], fmt="cif")
    return structures.Supercell(cell, tuple(row["replication"]), tuple(row["widths_A"]))


def stored_relaxation(warehouse: Warehouse, method: str, material: str, protocol: str):
    """The relaxed_cells row of `method`'s cell of `material` under `protocol`."""
    rows = warehouse.run(
        lambda conn: read_rows(
            conn, "relaxed_cells", "method = ? AND material_id = ? AND protocol = ?",
            [method, material, protocol],
        ),
        read_only=True,
    )  # fmt: skip
    if rows.empty:
        raise InputError(
            f"material {material}: no relaxed cell of method {method} for protocol {protocol} "
            "yet (materialize its relaxed_cells with the same protocol first)"
        )
    return rows.iloc[-1]


def relaxed_cell(
    warehouse: Warehouse, method: str, material: str, protocol: str, min_width_A: float
) -> tuple[structures.Supercell, dict]:
    """The cell `method`'s MD starts from under a relaxing `protocol`: the stored supercell's
    replication with the relaxed structure, and what names the relaxation (for provenance)."""
    cell = stored_cell(warehouse, material, min_width_A)
    row = stored_relaxation(warehouse, method, material, protocol)
    structure = Structure.from_str(row["relaxed_cif"], fmt="cif")
    relaxation = {
        "table": "relaxed_cells",
        "key": {"method": method, "material_id": material, "protocol": protocol},
        "checksum": row["checksum"],
        "mode": row["mode"],
        "converged": bool(row["converged"]),
        "volume_change_frac": float(row["volume_change_frac"]),
    }
    return structures.Supercell(structure, cell.replication, cell.widths_A), relaxation
