"""Sensitivity of one material's sigma(300 K): against simulated time, and over the subsets of
temperatures the Arrhenius fit uses (`sensitivity` table rows)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ionic_assets.science.figures import style
from ionic_assets.science.sensitivity import DURATION, TEMPERATURES


def sensitivity_figure(
    rows: pd.DataFrame,
    material_id: str | None = None,
    method: str | None = None,
    title_note: str | None = None,
    spread_decades: dict[str, float] | None = None,
) -> go.Figure:
    """sigma(300 K) (mS/cm, log axis) with its 95% interval: left, against the simulated time
    kept (ps) of each `duration` variant; right, for each `temperatures` subset (K), the subset
    of all temperatures last. Variants without a sigma are left out. `spread_decades` (kind ->
    the `sensitivity_spread` table's spread) goes in the panel titles; `title_note` heads the
    title."""
    panels = [(DURATION, "duration_ps"), (TEMPERATURES, "variant")]
    spreads = spread_decades or {}
    titles = [
        text + (f" (spread {spreads[kind]:.2f} decades)" if kind in spreads else "")
        for kind, text in ((DURATION, "vs simulated time"), (TEMPERATURES, "by temperatures"))
    ]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.12)
    for col, (kind, x) in enumerate(panels, start=1):
        sub = rows[(rows["variant_kind"] == kind) & style.positive(rows["sigma300_mS_cm"]).notna()]
        sigma = sub["sigma300_mS_cm"].astype(float)
        fig.add_trace(
            go.Scatter(
                x=sub[x].tolist(),
                y=sigma.tolist(),
                mode="markers+lines" if kind == DURATION else "markers",
                marker={"size": 9, "color": style.PALETTE[col - 1]},
                error_y=style.error_bars(
                    (sub["sigma300_ci95_hi_mS_cm"].astype(float) - sigma).tolist(),
                    (sigma - sub["sigma300_ci95_lo_mS_cm"].astype(float)).tolist(),
                ),
                name=kind,
                hovertemplate="%{x}<br>σ(300 K) = %{y:.3g} mS/cm<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(type="log", title_text="σ(300 K) (mS/cm)", row=1, col=col)
    fig.update_xaxes(title_text="Simulated time kept (ps)", row=1, col=1)
    fig.update_xaxes(title_text="Temperatures fitted (K)", type="category", row=1, col=2)
    label = style.label(material_id, method)
    head = f"Sensitivity of σ(300 K): {label}" if label else "Sensitivity of σ(300 K)"
    fig.update_layout(
        title={"text": style.titled(head, title_note)},
        template="simple_white",
        height=520,
        showlegend=False,
    )
    style.export_size(fig, 1100, 580)
    return fig
