"""Figures on the artifact store: written locally (plotly, kaleido need real files), published
under `reports/`, and shown in the materialization metadata (`lib/reports/export.py` writes
them)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import dagster as dg
import plotly.graph_objects as go

from ionic_assets.lib.reports.export import png_markdown, write_figures
from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.lib.warehouse import ensure_tables
from ionic_assets.science import figures, protocols


def title_note(conn, where: str = "TRUE", params: list | None = None) -> str | None:
    """The figures' `title_note` for the trajectories `md_trajectories` holds under `where`:
    `figures.SMOKE_NOTE` when any of them ran the smoke protocol (`protocols.SMOKE`) or its
    relaxed twin, else None."""
    ensure_tables(conn)
    ran = conn.execute(
        f"SELECT DISTINCT protocol FROM md_trajectories WHERE {where}", params or []
    ).fetchall()
    smoke = any(protocols.unrelaxed_twin(p) == protocols.SMOKE for (p,) in ran)
    return figures.SMOKE_NOTE if smoke else None


def publish_figures(
    store: ArtifactStore, folder: str, named: dict[str, go.Figure]
) -> dict[str, dg.MetadataValue]:
    """Write each figure as `<folder>/<name>.html` (and `.png` when a browser renders it) on the
    store, `folder` being relative to its base (e.g. "reports/chgnet/gvd").

    Returns the metadata: `<name>_plot`, where the HTML is (store.url(): a plain path on a local
    store, else e.g. s3://...), and `<name>_preview`, the PNG inline when there is one. On a local
    store the files are written in place (each renamed into place whole); otherwise in a
    temporary folder and uploaded one by one.
    """
    metadata: dict[str, dg.MetadataValue] = {}
    with tempfile.TemporaryDirectory(prefix="ionic-reports-") as tmp:
        local = store.local_path(folder) or Path(tmp)
        written = write_figures([(fig, local / name) for name, fig in named.items()])
        for name, paths in zip(named, written, strict=True):
            for kind in ("html", "png"):
                if paths[kind] and not store.is_local:
                    store.put(paths[kind], f"{folder}/{name}.{kind}")
            metadata[f"{name}_plot"] = dg.MetadataValue.path(store.url(f"{folder}/{name}.html"))
            if paths["png"]:
                metadata[f"{name}_preview"] = dg.MetadataValue.md(png_markdown(paths["png"]))
    return metadata
