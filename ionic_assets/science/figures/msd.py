"""Li mean squared displacement vs time lag of one material, a line per temperature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from ionic_assets.science.figures import style
from ionic_assets.science.transport import MSD_THRESHOLD_A2

#: Headroom above the highest curve (or the threshold), fraction of the y range.
HEADROOM = 0.06


def msd_figure(
    curves: pd.DataFrame,
    threshold_A2: float = MSD_THRESHOLD_A2,
    material_id: str | None = None,
    method: str | None = None,
    title_note: str | None = None,
) -> go.Figure:
    """Li mean squared displacement (Å^2) vs time lag (ps), one line per temperature (K).

    `curves` is long format: temperature_K, dt_ps, msd_A2 (one row per point; NaN rows are
    dropped). The reliability threshold `threshold_A2` (Å^2, `transport.MSD_THRESHOLD_A2` by
    default) is a dashed horizontal line across the frame; the legend says which temperatures
    reached it. Both axes start at 0 and end at the data (the time lags, and the highest MSD or
    the threshold, whichever is higher), so no curve and not the threshold leave the frame.
    `title_note` (e.g. `style.SYNTHETIC_NOTE`) heads the title.
    """
    c = curves[["temperature_K", "dt_ps", "msd_A2"]].apply(pd.to_numeric, errors="coerce")
    c = c.dropna().sort_values(["temperature_K", "dt_ps"])
    temps = sorted(c["temperature_K"].unique())
    colors = sample_colorscale(
        "Plasma", [0.85 * i / max(len(temps) - 1, 1) for i in range(len(temps))]
    )
    fig = go.Figure()
    for t, color in zip(temps, colors, strict=True):
        sub = c[c["temperature_K"] == t]
        reached = bool((sub["msd_A2"] >= threshold_A2).any())
        fig.add_trace(
            go.Scatter(
                x=sub["dt_ps"].tolist(),
                y=sub["msd_A2"].tolist(),
                mode="lines",
                name=f"{t:g} K" + ("" if reached else " (below threshold)"),
                line={"color": color, "width": 2, "dash": "solid" if reached else "dot"},
                hovertemplate=(
                    f"T = {t:g} K<br>Δt = %{{x:.3g}} ps<br>MSD = %{{y:.3g}} Å²<extra></extra>"
                ),
            )
        )
    x_max = float(c["dt_ps"].max()) if len(c) else 1.0
    x_min = min(float(c["dt_ps"].min()) if len(c) else 0.0, 0.0)
    fig.add_trace(
        go.Scatter(
            x=[x_min, x_max],
            y=[threshold_A2, threshold_A2],
            mode="lines",
            name=f"threshold {threshold_A2:g} Å²",
            line={"color": "black", "dash": "dash", "width": 1.5},
            hoverinfo="skip",
        )
    )
    y_top = max(float(np.nanmax(c["msd_A2"])) if len(c) else 0.0, threshold_A2)
    y_bottom = min(float(c["msd_A2"].min()) if len(c) else 0.0, 0.0)
    label = style.label(material_id, method)
    fig.update_layout(
        title={"text": style.titled(f"Li MSD: {label}" if label else "Li MSD", title_note)},
        template="simple_white",
        height=520,
        xaxis={"title": {"text": "Time lag Δt (ps)"}, "range": [x_min, x_max]},
        yaxis={
            "title": {"text": "Li MSD (Å²)"},
            "range": [y_bottom, y_top + HEADROOM * (y_top - y_bottom)],
        },
    )
    style.export_size(fig, 900, 580)
    return fig
