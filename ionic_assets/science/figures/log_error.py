"""Fig. 3: log10 sigma_pred - log10 sigma_exp per material (by sigma_exp) and method."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ionic_assets.science.figures import style

SYMBOLS = ["circle", "diamond", "square", "triangle-up"]
#: Spread of the methods' markers around their material's position (x units).
OFFSET_WIDTH = 0.5


def log_error_figure(
    bench: pd.DataFrame,
    colors: Mapping[str, str] | None = None,
    mae: pd.DataFrame | None = None,
    title_note: str | None = None,
) -> go.Figure:
    """Fig. 3: `log10_error` (log10 sigma_pred - log10 sigma_exp, sigma in mS/cm) per material.

    `bench`: `benchmark_table` rows; `colors`: method -> colour. Materials are equally spaced on
    x in order of increasing experimental sigma; each tick reads the material ID with log10
    sigma_exp [mS/cm] below it. One marker series per method (slightly offset so they do not hide
    each other), sized by `n_reliable`, with error bars from the prediction's 95% interval (in
    decades); the y range is set by the points and 0 (an interval leaving it is cut at the edge
    and marked with a triangle); the dashed horizontal line at 0 is perfect agreement. Materials
    without any usable prediction keep their tick; rows with NaN sigma_pred are skipped. With
    `mae` (the `benchmark_mae` view) the title lists each method's MAE over all, reliable and
    physical-Ea materials; `title_note` (e.g. `style.SYNTHETIC_NOTE`) heads the title.
    """
    colors = style.colors_for(bench, colors)
    exp_ = bench.assign(_s=style.positive(bench["sigma_exp_mS_cm"]))
    exp_ = exp_[exp_["_s"].notna()]
    order = exp_.groupby("material_id", sort=False)["_s"].first().sort_values(kind="mergesort")
    pos = {mid: i for i, mid in enumerate(order.index)}
    data = style.plottable(bench)
    data = data[data["material_id"].isin(pos) & np.isfinite(style.numbers(data["log10_error"]))]
    methods = style.methods_of(bench)
    rng = style.linear_range(style.numbers(data["log10_error"]), pad=0.6, include=[0.0])
    fig = go.Figure()
    for i, method in enumerate(methods):
        offset = 0.0 if len(methods) == 1 else (i / (len(methods) - 1) - 0.5) * OFFSET_WIDTH
        m = data[data["method"] == method].copy()
        m["_x"] = m["material_id"].map(pos) + offset
        for tr in _traces(m.sort_values("_x"), method, colors[method], SYMBOLS[i % 4], rng):
            fig.add_trace(tr)
    style.add_size_key(fig, style.n_max(bench), 380)
    fig.add_shape(
        type="line", xref="paper", x0=0, x1=1, yref="y", y0=0, y1=0,
        line={"color": "black", "dash": "dash", "width": 1},
    )  # fmt: skip
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(order))),
        ticktext=[f"{mid}<br>{np.log10(s):.1f}" for mid, s in order.items()],
        range=[-0.7, len(order) - 0.3],
        title_text="OBELiX ID / log10 σ<sub>exp</sub> [mS/cm]",
        showgrid=True,
        gridcolor="rgba(0,0,0,0.06)",
    )
    fig.update_yaxes(
        title_text="log10 σ<sub>pred</sub> − log10 σ<sub>exp</sub> (σ in mS/cm)",
        zeroline=False,
        range=rng,
    )
    fig.update_layout(
        title={"text": style.titled(_title(methods, mae), title_note)},
        template="simple_white",
        height=560 + 20 * len(methods),
        margin={"t": 90 + 20 * len(methods)},
    )
    style.legend_once(fig)
    style.export_size(fig, max(900, 60 * len(order) + 300), 600)
    return fig


def _title(methods: list[str], mae: pd.DataFrame | None) -> str:
    """The title, with a line per method giving its MAE (from the `benchmark_mae` view)."""
    title = "Error of the predicted 300 K conductivity, by material"
    lines = [(m, style.mae_text(mae, m)) for m in methods]
    return title + "".join(f"<br><sup>{m}: {t}</sup>" for m, t in lines if t)


def _log10(s: pd.Series) -> np.ndarray:
    """log10 of `s`: -inf for a bound <= 0 (the interval reaches zero), NaN where unknown."""
    v = style.numbers(s).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(v > 0, v, np.where(np.isnan(v), np.nan, 0.0)))


def _traces(m: pd.DataFrame, method: str, color: str, symbol: str, rng) -> list[go.Scatter]:
    """One method's markers at (position, log10 error), intervals in decades, clip marks."""
    err = style.numbers(m["log10_error"]).to_numpy()
    shift = err - np.log10(m["sigma_pred_mS_cm"].astype(float).to_numpy())  # decades
    lo = _log10(m["sigma_pred_ci95_lo_mS_cm"]) + shift
    hi = _log10(m["sigma_pred_ci95_hi_mS_cm"]) + shift
    plus, minus, over, under = style.clipped_errors(err, lo, hi, rng)
    x = m["_x"].to_numpy(float)
    points = go.Scatter(
        x=x.tolist(),
        y=err.tolist(),
        mode="markers",
        name=method,
        marker={
            "size": style.sizes(m["n_reliable"]),
            "color": color,
            "opacity": 0.8,
            "symbol": symbol,
            "line": {"color": "black", "width": 0.5},
        },
        error_y=style.error_bars(plus, minus, color=color),
        customdata=style.bench_customdata(m),
        hovertemplate=style.bench_hover(method),
    )
    return [points, *style.edge_marks(x, err, over, under, rng, vertical=True)]
