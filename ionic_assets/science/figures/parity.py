"""Fig. 1: predicted sigma(300 K) vs experimental sigma, one square log-log panel per method."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ionic_assets.science.figures import style

PANEL_PX = 480


def parity_figure(
    bench: pd.DataFrame,
    mae: pd.DataFrame,
    colors: Mapping[str, str] | None = None,
    title_note: str | None = None,
) -> go.Figure:
    """Fig. 1: predicted vs experimental room-temperature conductivity, one panel per method.

    `bench`: `benchmark_table` rows (sigma in mS/cm, `log10_error`); `mae`: the `benchmark_mae`
    view (method; mae_log10_sigma_ and n_materials_ of all, reliable and physical-Ea materials),
    shown in the panel titles; `colors`: method -> colour (see
    `style.method_colors`). Both axes are log10 sigma in mS/cm over the same range, set by the
    points of all panels (not their intervals), and every panel is square: experimental sigma on
    x, sigma_pred extrapolated to 300 K on y with its 95% interval as error bars; an interval
    leaving the frame is cut at its edge and marked with a triangle. Marker size grows with
    `n_reliable` (temperatures whose Li MSD reached the threshold, out of `n_temperatures`); the
    dashed y = x line and a shaded ±1 order-of-magnitude band are drawn in every panel; points are
    labeled with the OBELiX `material_id` and hover shows the formula. Rows without a usable
    sigma_pred are skipped. `title_note` (e.g. `style.SYNTHETIC_NOTE`) heads the title.
    """
    methods = style.methods_of(bench)
    colors = style.colors_for(bench, colors)
    data = style.plottable(bench)
    n = max(len(methods), 1)
    cols = n if n <= 3 else math.ceil(n / 2)
    rows = math.ceil(n / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_title(i, m, mae) for i, m in enumerate(methods)] or ["no data"],
        horizontal_spacing=0.09,
        vertical_spacing=0.14,
    )
    rng = style.log_range(
        np.concatenate([style.positive(data[c]) for c in ("sigma_exp_mS_cm", "sigma_pred_mS_cm")])
    )
    bounds = (10 ** rng[0], 10 ** rng[1])
    for i, method in enumerate(methods or [None]):
        cell = {"row": i // cols + 1, "col": i % cols + 1}
        for tr in style.reference_traces(*bounds, showlegend=i == 0):
            fig.add_trace(tr, **cell)
        m = data[data["method"] == method]
        for tr in _method_traces(m, method, colors.get(method), bounds):
            fig.add_trace(tr, **cell)
        xref = "x" if i == 0 else f"x{i + 1}"
        fig.update_xaxes(
            type="log", range=rng, title_text="Experimental σ (mS/cm)", exponentformat="power",
            constrain="domain", **cell,
        )  # fmt: skip
        fig.update_yaxes(
            type="log", range=rng, title_text="Predicted σ at 300 K (mS/cm)",
            exponentformat="power", scaleanchor=xref, scaleratio=1, constrain="domain", **cell,
        )  # fmt: skip

    style.add_size_key(
        fig, style.n_max(bench), PANEL_PX * rows - 70, y_top=0.55 if rows == 1 else 0.75
    )
    fig.update_layout(
        title={
            "text": style.titled(
                "Room-temperature Li-ion conductivity: MD prediction vs experiment", title_note
            )
        },
        template="simple_white",
        height=PANEL_PX * rows + 140,
        legend={"itemsizing": "trace", "orientation": "h", "x": 0.0, "y": -0.16 / rows},
        margin={"t": 130, "r": 170, "b": 110},
    )
    fig.update_annotations(font_size=13)
    style.legend_once(fig)
    style.export_size(fig, (PANEL_PX + 20) * cols + 260, PANEL_PX * rows + 140)
    return fig


def _title(i: int, method: str, mae: pd.DataFrame) -> str:
    """Panel title: the method with its MAE of log10 sigma and count over all plotted materials,
    over those reliable at every temperature and over those with a physical Ea (the
    `benchmark_mae` view; a view without the physical columns shows the first two)."""
    row = mae[mae["method"] == method]
    if row.empty or not int(style.numbers(row["n_materials_all"]).fillna(0).iloc[0]):
        return f"({chr(97 + i)}) {method}: no plottable material"
    r = row.iloc[0]
    title = (
        f"({chr(97 + i)}) {method}: MAE = {style.fmt(float(r.mae_log10_sigma_all))} "
        f"(n = {int(r.n_materials_all)})<br>all T reliable: "
        f"{style.fmt(float(r.mae_log10_sigma_reliable))} (n = {int(r.n_materials_reliable)})"
    )
    if "mae_log10_sigma_physical" in r:
        title += (
            f"; physical E<sub>a</sub>: {style.fmt(_float(r.mae_log10_sigma_physical))} "
            f"(n = {int(_float(r.n_materials_physical) or 0)})"
        )
    return title


def _float(x) -> float:
    """`x` as a float, NaN for a missing value (pandas NA, None)."""
    return float("nan") if pd.isna(x) else float(x)


def _method_traces(m: pd.DataFrame, method, color, bounds) -> list[go.Scatter]:
    """The points of one method (with their clipped intervals) and the clip marks."""
    if m.empty:
        return []
    x = m["sigma_exp_mS_cm"].astype(float).to_numpy()
    y = m["sigma_pred_mS_cm"].astype(float).to_numpy()
    plus, minus, over, under = style.clipped_errors(
        y,
        style.numbers(m["sigma_pred_ci95_lo_mS_cm"]),
        style.numbers(m["sigma_pred_ci95_hi_mS_cm"]),
        bounds,
    )
    points = go.Scatter(
        x=x.tolist(),
        y=y.tolist(),
        mode="markers+text",
        name=method,
        legendgroup=method,
        text=m["material_id"].astype(str).tolist(),
        textposition="top right",
        textfont={"size": 10},
        marker={
            "size": style.sizes(m["n_reliable"]),
            "color": color,
            "opacity": 0.75,
            "line": {"color": "black", "width": 0.5},
        },
        error_y=style.error_bars(plus, minus, color=color),
        customdata=style.bench_customdata(m),
        hovertemplate=style.bench_hover(method),
    )
    return [points, *style.edge_marks(x, y, over, under, bounds, vertical=True)]
