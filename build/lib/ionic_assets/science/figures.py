"""The paper's figures (Figs. 1-3) and per-material diagnostics, as plotly figures.

Plain functions: pandas DataFrames in, `plotly.graph_objects.Figure` out, no Dagster. Units are
fixed throughout: conductivity sigma in mS/cm (log axes), tracer diffusion coefficient D in cm^2/s
(log axis), temperature T in K, time lag in ps, mean squared displacement (MSD) in Å^2.

Figures
    parity_figure          Fig. 1: predicted sigma(300 K) vs experimental, a panel per method.
    method_parity_figure   Fig. 2: sigma(300 K) of one method vs another, on common materials.
    log_error_figure       Fig. 3: log10 sigma_pred - log10 sigma_exp per material and method.
    arrhenius_figure       D vs 1000/T with the Arrhenius fit extrapolated to 300 K.
    msd_figure             Li MSD vs time lag per temperature, with the reliability threshold.

Writing
    write_figure / write_figures write a self-contained HTML (plotly.js inline, works offline; the
    primary artifact) and a static PNG rendered by kaleido 1.x in a headless Chromium. The browser
    is never downloaded: `find_browser()` takes `BROWSER_PATH` if set, then Debian's `chromium`
    package (/usr/bin/chromium; `apt-get install -y chromium`), then whatever kaleido's
    `choreographer` finds. Without a browser, or when rendering fails or exceeds its time limit,
    the HTML is still written and "png" is None (logged warning). Each kaleido session starts a
    browser (about 5 s), so `write_figures` renders a whole list in one session. A browser that
    hangs is killed (its process group) at the time limit; the call returns a few seconds later.

Environment
    BROWSER_PATH                 the Chrome/Chromium executable to use (choreographer's variable).
    IONIC_ASSETS_FIGURE_PNG      "0"/"false"/"no"/"off" skips PNG export (HTML only).
    IONIC_ASSETS_PNG_TIMEOUT_S   wall-clock limit of one export session, seconds (default 120).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

logger = logging.getLogger(__name__)

#: Boltzmann constant, eV/K.
KB_EV_K = 8.617333262e-5
#: Room temperature of the benchmark, K.
T_ROOM_K = 300.0
#: The paper's MSD reliability threshold, Å^2.
MSD_THRESHOLD_A2 = 20.0

#: Colors of the methods the platform knows; others take the plotly palette in order.
METHOD_COLORS = {
    "mace": "#1f77b4",
    "dft": "#d62728",
    "chgnet": "#2ca02c",
    "sevennet": "#9467bd",
}
_PALETTE = qualitative.Plotly

#: PNG export size when a figure does not say (pixels before `scale`).
DEFAULT_PNG_WIDTH = 1000
DEFAULT_PNG_HEIGHT = 700
DEFAULT_PNG_SCALE = 2.0
DEFAULT_PNG_TIMEOUT_S = 120.0
#: Per-figure render limit inside a session, seconds.
PER_FIGURE_TIMEOUT_S = 60.0

_EXPORT_META = "ionic_assets_export"
_LOG10_BAND = 1.0  # +-1 order of magnitude around y = x


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def method_color(method: str, index: int = 0) -> str:
    """A stable color per method name (case-insensitive), palette by `index` otherwise."""
    return METHOD_COLORS.get(str(method).lower(), _PALETTE[index % len(_PALETTE)])


def marker_size(n_reliable: Any) -> float:
    """Marker diameter (px) for `n_reliable` temperatures whose MSD reached the threshold."""
    try:
        n = float(n_reliable)
    except (TypeError, ValueError):
        n = 0.0
    return 6.0 + 4.0 * (n if np.isfinite(n) and n > 0 else 0.0)


def _error_bars(plus, minus, color=None, thickness: float = 1, width: float = 2) -> dict:
    """Asymmetric error bars: `plus` above and `minus` below each point (data units)."""
    bars = {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "thickness": thickness,
        "width": width,
    }
    if color is not None:
        bars["color"] = color
    return bars


def _sizes(n_reliable: pd.Series) -> list[float]:
    return [marker_size(n) for n in n_reliable]


def _positive(s: pd.Series) -> pd.Series:
    """Values that can sit on a log axis: finite and > 0, NaN otherwise."""
    v = pd.to_numeric(s, errors="coerce").astype(float)
    return v.where(np.isfinite(v) & (v > 0))


def _err_arrays(y: pd.Series, lo: pd.Series, hi: pd.Series) -> tuple[list, list]:
    """Asymmetric error-bar lengths (plus, minus) in data units; 0 where the bound is unknown."""
    y = y.to_numpy(float)
    lo = _positive(lo).to_numpy(float)
    hi = pd.to_numeric(hi, errors="coerce").to_numpy(float)
    plus = np.where(np.isfinite(hi) & (hi >= y), hi - y, 0.0)
    minus = np.where(np.isfinite(lo) & (lo <= y), y - lo, 0.0)
    return plus.tolist(), minus.tolist()


def _log_range(values: Iterable[float], pad_decades: float = 0.5) -> list[float]:
    """A log-axis range [log10 lo, log10 hi] covering the positive finite `values`."""
    v = np.asarray([x for x in values if x is not None], float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return [-1.0, 1.0]
    lo, hi = math.floor(np.log10(v.min()) - pad_decades), math.ceil(np.log10(v.max()) + pad_decades)
    return [float(lo), float(hi if hi > lo else lo + 1)]


def _log10_error(df: pd.DataFrame) -> pd.Series:
    """log10 sigma_pred - log10 sigma_exp (column `log10_error`, recomputed where it is missing)."""
    exp_ = _positive(df["sigma_exp_mS_cm"])
    pred = _positive(df["sigma_pred_mS_cm"])
    computed = np.log10(pred) - np.log10(exp_)
    if "log10_error" in df:
        given = pd.to_numeric(df["log10_error"], errors="coerce").astype(float)
        return given.where(np.isfinite(given), computed)
    return computed


def _plottable(bench: pd.DataFrame) -> pd.DataFrame:
    """Rows with a positive finite sigma_exp and sigma_pred (the others cannot be placed)."""
    ok = _positive(bench["sigma_exp_mS_cm"]).notna() & _positive(bench["sigma_pred_mS_cm"]).notna()
    skipped = int((~ok).sum())
    if skipped:
        logger.info("figures: skipping %d row(s) without a usable sigma_pred/sigma_exp", skipped)
    return bench.loc[ok].copy()


def _methods(bench: pd.DataFrame) -> list[str]:
    return [str(m) for m in pd.unique(bench["method"].dropna())]


def _export_size(fig: go.Figure, width: int, height: int) -> None:
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, Mapping) else {}
    meta[_EXPORT_META] = {"width": int(width), "height": int(height)}
    fig.update_layout(meta=meta)


def _reference_traces(lo: float, hi: float, showlegend: bool) -> list[go.Scatter]:
    """The ±1 decade band and the y = x line between `lo` and `hi` (data units, > 0)."""
    f = 10.0**_LOG10_BAND
    band = go.Scatter(
        x=[lo, hi, hi, lo, lo],
        y=[lo / f, hi / f, hi * f, lo * f, lo / f],
        fill="toself",
        fillcolor="rgba(128,128,128,0.15)",
        line={"width": 0},
        mode="lines",
        name="±1 order of magnitude",
        legendgroup="band",
        showlegend=showlegend,
        hoverinfo="skip",
    )
    diag = go.Scatter(
        x=[lo, hi],
        y=[lo, hi],
        mode="lines",
        line={"color": "black", "dash": "dash", "width": 1},
        name="y = x",
        legendgroup="diag",
        showlegend=showlegend,
        hoverinfo="skip",
    )
    return [band, diag]


def _add_size_key(fig: go.Figure, n_max: int, plot_height_px: float, y_top: float = 0.5) -> None:
    """A key of the marker sizes, right of the plot (legend markers would be capped in size).

    Circles are layout shapes sized in pixels, so they match the data markers exactly.
    """
    x = 1.02
    step = 34.0 / max(plot_height_px, 200.0)  # paper units per row
    fig.add_annotation(
        x=x, y=y_top, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
        showarrow=False, align="left", text=f"MSD ≥ threshold<br>at n of {n_max} T",
    )  # fmt: skip
    for j, n in enumerate(range(n_max + 1)):
        y = y_top - (j + 0.6) * step
        r = marker_size(n) / 2
        fig.add_shape(
            type="circle", xref="paper", yref="paper", xsizemode="pixel", ysizemode="pixel",
            xanchor=x, yanchor=y, x0=16 - r, x1=16 + r, y0=-r, y1=r,
            fillcolor="rgba(120,120,120,0.55)", line={"width": 0}, name=f"size key n={n}",
        )  # fmt: skip
        fig.add_annotation(
            x=x, y=y, xref="paper", yref="paper", xanchor="left", yanchor="middle", xshift=38,
            showarrow=False,
            text=f"n = {n}",
        )  # fmt: skip


def _n_max(bench: pd.DataFrame) -> int:
    n = pd.to_numeric(bench["n_temperatures"], errors="coerce").max() if len(bench) else np.nan
    return int(n) if np.isfinite(n) else 0


def mae_by_method(bench: pd.DataFrame) -> pd.DataFrame:
    """MAE of log10 sigma (dimensionless, decades) per method, as the `benchmark_mae` view.

    Columns: method, mae_log10_sigma_all, n_materials_all, mae_log10_sigma_reliable,
    n_materials_reliable ("reliable": n_reliable == n_temperatures). Rows with NaN errors are left
    out; a MAE over no material is NaN.
    """
    df = bench.copy()
    df["_err"] = _log10_error(df)
    df = df[np.isfinite(df["_err"])]
    rows = []
    for method in _methods(bench):
        m = df[df["method"] == method]
        all_t = pd.to_numeric(m["n_reliable"], errors="coerce") == pd.to_numeric(
            m["n_temperatures"], errors="coerce"
        )
        rel = m[all_t.fillna(False).astype(bool)]
        rows.append(
            {
                "method": method,
                "mae_log10_sigma_all": float(m["_err"].abs().mean()) if len(m) else float("nan"),
                "n_materials_all": len(m),
                "mae_log10_sigma_reliable": (
                    float(rel["_err"].abs().mean()) if len(rel) else float("nan")
                ),
                "n_materials_reliable": len(rel),
            }
        )
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2f}"


# --------------------------------------------------------------------------------------------
# Fig. 1: parity with experiment
# --------------------------------------------------------------------------------------------


def _bench_hover(method: str) -> str:
    return (
        "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
        "σ<sub>exp</sub> = %{x:.3g} mS/cm<br>"
        "σ<sub>pred</sub>(300 K) = %{y:.3g} mS/cm "
        "(95% CI %{customdata[2]:.3g} – %{customdata[3]:.3g})<br>"
        "log10 error = %{customdata[4]:.2f}<br>"
        "MSD ≥ threshold at %{customdata[5]}/%{customdata[6]} T<br>"
        f"E<sub>a</sub> = %{{customdata[7]:.3f}} eV<extra>{method}</extra>"
    )


def _bench_customdata(df: pd.DataFrame) -> np.ndarray:
    cols = [
        df["material_id"].astype(str),
        df.get("formula", pd.Series("", index=df.index)).fillna("").astype(str),
        pd.to_numeric(df["sigma_pred_ci95_lo_mS_cm"], errors="coerce"),
        pd.to_numeric(df["sigma_pred_ci95_hi_mS_cm"], errors="coerce"),
        _log10_error(df),
        pd.to_numeric(df["n_reliable"], errors="coerce").fillna(0).astype(int),
        pd.to_numeric(df["n_temperatures"], errors="coerce").fillna(0).astype(int),
        pd.to_numeric(df.get("Ea_eV", pd.Series(np.nan, index=df.index)), errors="coerce"),
    ]
    return np.stack([c.to_numpy(object) for c in cols], axis=-1)


def parity_figure(bench: pd.DataFrame) -> go.Figure:
    """Fig. 1: predicted vs experimental room-temperature conductivity, one panel per method.

    `bench` has the `benchmark_table` columns (sigma in mS/cm). Both axes are log10 sigma in
    mS/cm: experimental sigma on x, sigma_pred extrapolated to 300 K on y with its 95% interval as
    error bars. Marker size grows with `n_reliable` (temperatures whose Li MSD reached the
    threshold, out of `n_temperatures`); the dashed y = x line and a shaded ±1 order-of-magnitude
    band are drawn in every panel; points are labeled with the OBELiX `material_id` and hover shows
    the formula. Panel titles give the MAE of log10 sigma over all plotted materials and over those
    reliable at every temperature. Rows without a usable sigma_pred are skipped.
    """
    methods = _methods(bench)
    data = _plottable(bench)
    n = max(len(methods), 1)
    cols = n if n <= 3 else math.ceil(n / 2)
    rows = math.ceil(n / cols)
    mae = mae_by_method(data).set_index("method") if len(data) else None

    titles = []
    for i, method in enumerate(methods):
        if mae is not None and method in mae.index:
            r = mae.loc[method]
            titles.append(
                f"({chr(97 + i)}) {method}: MAE = {_fmt(r.mae_log10_sigma_all)} "
                f"(n = {int(r.n_materials_all)})<br>all T reliable: "
                f"{_fmt(r.mae_log10_sigma_reliable)} (n = {int(r.n_materials_reliable)})"
            )
        else:
            titles.append(f"({chr(97 + i)}) {method}: no plottable material")
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles or ["no data"],
        horizontal_spacing=0.09,
        vertical_spacing=0.14,
    )

    values = np.concatenate(
        [
            _positive(data[c]).to_numpy(float)
            for c in (
                "sigma_exp_mS_cm",
                "sigma_pred_mS_cm",
                "sigma_pred_ci95_lo_mS_cm",
                "sigma_pred_ci95_hi_mS_cm",
            )
        ]
    )
    rng = _log_range(values)
    lo, hi = 10 ** rng[0], 10 ** rng[1]

    for i, method in enumerate(methods or [None]):
        row, col = i // cols + 1, i % cols + 1
        for tr in _reference_traces(lo, hi, showlegend=i == 0):
            fig.add_trace(tr, row=row, col=col)
        if method is None:
            continue
        m = data[data["method"] == method]
        if m.empty:
            continue
        plus, minus = _err_arrays(
            m["sigma_pred_mS_cm"], m["sigma_pred_ci95_lo_mS_cm"], m["sigma_pred_ci95_hi_mS_cm"]
        )
        color = method_color(method, i)
        fig.add_trace(
            go.Scatter(
                x=m["sigma_exp_mS_cm"].astype(float).tolist(),
                y=m["sigma_pred_mS_cm"].astype(float).tolist(),
                mode="markers+text",
                name=method,
                legendgroup=method,
                text=m["material_id"].astype(str).tolist(),
                textposition="top right",
                textfont={"size": 10},
                marker={
                    "size": _sizes(m["n_reliable"]),
                    "color": color,
                    "opacity": 0.75,
                    "line": {"color": "black", "width": 0.5},
                },
                error_y=_error_bars(plus, minus, color=color),
                customdata=_bench_customdata(m),
                hovertemplate=_bench_hover(method),
            ),
            row=row,
            col=col,
        )

    _add_size_key(fig, _n_max(bench), 480 * rows - 70, y_top=0.55 if rows == 1 else 0.75)

    for i in range(len(methods or [None])):
        row, col = i // cols + 1, i % cols + 1
        xref = "x" if i == 0 else f"x{i + 1}"
        fig.update_xaxes(
            type="log", range=rng, title_text="Experimental σ (mS/cm)", exponentformat="power",
            row=row, col=col,
        )  # fmt: skip
        fig.update_yaxes(
            type="log", range=rng, title_text="Predicted σ at 300 K (mS/cm)",
            exponentformat="power", scaleanchor=xref, scaleratio=1, row=row, col=col,
        )  # fmt: skip
    fig.update_layout(
        title={"text": "Room-temperature Li-ion conductivity: MD prediction vs experiment"},
        template="simple_white",
        height=480 * rows + 140,
        legend={"itemsizing": "trace"},
        margin={"t": 130},
    )
    fig.update_annotations(font_size=13)
    _export_size(fig, 500 * cols + 260, 480 * rows + 140)
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 2: method vs method
# --------------------------------------------------------------------------------------------


def method_parity_figure(bench: pd.DataFrame, method_x: str, method_y: str) -> go.Figure:
    """Fig. 2: sigma_pred(300 K) of `method_y` vs `method_x` (both log10, mS/cm).

    Only materials with a usable prediction from both methods are placed. The filled marker's size
    follows `n_reliable` of `method_x`, the surrounding ring's size that of `method_y` (the
    paper's half circles). Error bars are both methods' 95% intervals; y = x and the ±1 decade
    band are drawn; the title gives the mean absolute log10 difference between the methods.
    """
    data = _plottable(bench)
    keep = [
        "material_id", "formula", "sigma_exp_mS_cm", "sigma_pred_mS_cm",
        "sigma_pred_ci95_lo_mS_cm", "sigma_pred_ci95_hi_mS_cm", "n_reliable", "n_temperatures",
    ]  # fmt: skip
    keep = [c for c in keep if c in data]
    a = data[data["method"] == method_x][keep]
    b = data[data["method"] == method_y][keep]
    both = a.merge(b, on="material_id", suffixes=("_x", "_y"))
    if "sigma_exp_mS_cm_x" in both:
        both = both.sort_values("sigma_exp_mS_cm_x")

    values = np.concatenate(
        [
            _positive(both[f"{c}_{s}"]).to_numpy(float)
            for c in ("sigma_pred_mS_cm", "sigma_pred_ci95_lo_mS_cm", "sigma_pred_ci95_hi_mS_cm")
            for s in ("x", "y")
        ]
    )
    rng = _log_range(values)
    fig = go.Figure(_reference_traces(10 ** rng[0], 10 ** rng[1], showlegend=True))

    if len(both):
        px_, mx_ = _err_arrays(
            both["sigma_pred_mS_cm_x"], both["sigma_pred_ci95_lo_mS_cm_x"],
            both["sigma_pred_ci95_hi_mS_cm_x"],
        )  # fmt: skip
        py_, my_ = _err_arrays(
            both["sigma_pred_mS_cm_y"], both["sigma_pred_ci95_lo_mS_cm_y"],
            both["sigma_pred_ci95_hi_mS_cm_y"],
        )  # fmt: skip
        x = both["sigma_pred_mS_cm_x"].astype(float).tolist()
        y = both["sigma_pred_mS_cm_y"].astype(float).tolist()
        custom = np.stack(
            [
                both["material_id"].astype(str).to_numpy(object),
                both.get("formula_x", pd.Series("", index=both.index)).fillna("").to_numpy(object),
                both["n_reliable_x"].fillna(0).astype(int).to_numpy(object),
                both["n_temperatures_x"].fillna(0).astype(int).to_numpy(object),
                both["n_reliable_y"].fillna(0).astype(int).to_numpy(object),
                both["n_temperatures_y"].fillna(0).astype(int).to_numpy(object),
                both["sigma_exp_mS_cm_x"].astype(float).to_numpy(object),
            ],
            axis=-1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers+text",
                name=f"size: reliable T, {method_x}",
                text=both["material_id"].astype(str).tolist(),
                textposition="top right",
                textfont={"size": 10},
                marker={
                    "size": _sizes(both["n_reliable_x"]),
                    "color": method_color(method_x, 0),
                    "opacity": 0.7,
                },
                error_x=_error_bars(px_, mx_, color=method_color(method_x, 0)),
                error_y=_error_bars(py_, my_, color=method_color(method_y, 1)),
                customdata=custom,
                hovertemplate=(
                    "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
                    f"σ {method_x} = %{{x:.3g}} mS/cm (reliable T %{{customdata[2]}}/"
                    "%{customdata[3]})<br>"
                    f"σ {method_y} = %{{y:.3g}} mS/cm (reliable T %{{customdata[4]}}/"
                    "%{customdata[5]})<br>"
                    "σ<sub>exp</sub> = %{customdata[6]:.3g} mS/cm<extra></extra>"
                ),
            )  # fmt: skip
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=f"ring: reliable T, {method_y}",
                marker={
                    "size": [s + 2 for s in _sizes(both["n_reliable_y"])],
                    "symbol": "circle-open",
                    "color": method_color(method_y, 1),
                    "line": {"width": 2},
                },
                hoverinfo="skip",
            )
        )
        diff = np.log10(np.asarray(y)) - np.log10(np.asarray(x))
        subtitle = (
            f"mean |log10 σ<sub>{method_y}</sub> − log10 σ<sub>{method_x}</sub>| = "
            f"{np.mean(np.abs(diff)):.2f} over {len(both)} materials"
        )
    else:
        subtitle = "no material with a prediction from both methods"
        fig.add_annotation(text=subtitle, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False)

    n_max = _n_max(bench[bench["method"].isin([method_x, method_y])])
    _add_size_key(fig, n_max, 470, y_top=0.45)
    fig.update_xaxes(
        type="log", range=rng, title_text=f"σ at 300 K, {method_x} (mS/cm)", exponentformat="power"
    )
    fig.update_yaxes(
        type="log", range=rng, title_text=f"σ at 300 K, {method_y} (mS/cm)",
        exponentformat="power", scaleanchor="x", scaleratio=1,
    )  # fmt: skip
    fig.update_layout(
        title={"text": f"{method_y} vs {method_x}<br><sup>{subtitle}</sup>"},
        template="simple_white",
        height=650,
    )
    _export_size(fig, 900, 700)
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 3: log error per material
# --------------------------------------------------------------------------------------------


def log_error_figure(bench: pd.DataFrame) -> go.Figure:
    """Fig. 3: log10 sigma_pred - log10 sigma_exp (sigma in mS/cm) per material and method.

    Materials are equally spaced on x in order of increasing experimental sigma; each tick reads
    the material ID with log10 sigma_exp [mS/cm] below it. One marker series per method (slightly
    offset so they do not hide each other), sized by `n_reliable`, with error bars from the
    prediction's 95% interval (in decades); the dashed horizontal line at 0 is perfect agreement.
    Materials without any usable prediction keep their tick; rows with NaN sigma_pred are skipped.
    """
    exp_ = bench.assign(_s=_positive(bench["sigma_exp_mS_cm"]))
    exp_ = exp_[exp_["_s"].notna()]
    order = exp_.groupby("material_id", sort=False)["_s"].first().sort_values(kind="mergesort")
    pos = {mid: i for i, mid in enumerate(order.index)}
    ticktext = [f"{mid}<br>{np.log10(s):.1f}" for mid, s in order.items()]

    data = _plottable(bench)
    data = data[data["material_id"].isin(pos)]
    methods = _methods(bench)
    fig = go.Figure()
    width = 0.5
    for i, method in enumerate(methods):
        m = data[data["method"] == method].copy()
        offset = 0.0 if len(methods) == 1 else (i / (len(methods) - 1) - 0.5) * width
        m["_x"] = m["material_id"].map(pos) + offset
        m = m.sort_values("_x")
        err = _log10_error(m)
        pred = m["sigma_pred_mS_cm"].astype(float)
        lo, hi = _positive(m["sigma_pred_ci95_lo_mS_cm"]), _positive(m["sigma_pred_ci95_hi_mS_cm"])
        up = (np.log10(hi) - np.log10(pred)).where(lambda s: s >= 0).fillna(0.0)
        down = (np.log10(pred) - np.log10(lo)).where(lambda s: s >= 0).fillna(0.0)
        color = method_color(method, i)
        fig.add_trace(
            go.Scatter(
                x=m["_x"].tolist(),
                y=err.tolist(),
                mode="markers",
                name=method,
                marker={
                    "size": _sizes(m["n_reliable"]),
                    "color": color,
                    "opacity": 0.8,
                    "symbol": ["circle", "diamond", "square", "triangle-up"][i % 4],
                    "line": {"color": "black", "width": 0.5},
                },
                error_y=_error_bars(up.tolist(), down.tolist(), color=color),
                customdata=_bench_customdata(m),
                hovertemplate=(
                    "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
                    "log10 error = %{y:.2f}<br>"
                    "MSD ≥ threshold at %{customdata[5]}/%{customdata[6]} T"
                    f"<extra>{method}</extra>"
                ),
            )
        )
    _add_size_key(fig, _n_max(bench), 380)
    fig.add_shape(
        type="line", xref="paper", x0=0, x1=1, yref="y", y0=0, y1=0,
        line={"color": "black", "dash": "dash", "width": 1},
    )  # fmt: skip
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(order))),
        ticktext=ticktext,
        range=[-0.7, len(order) - 0.3],
        title_text="OBELiX ID / log10 σ<sub>exp</sub> [mS/cm]",
        showgrid=True,
        gridcolor="rgba(0,0,0,0.06)",
    )
    fig.update_yaxes(
        title_text="log10 σ<sub>pred</sub> − log10 σ<sub>exp</sub> (σ in mS/cm)",
        zeroline=False,
    )
    fig.update_layout(
        title={"text": "Error of the predicted 300 K conductivity, by material"},
        template="simple_white",
        height=560,
    )
    _export_size(fig, max(900, 60 * len(order) + 300), 600)
    return fig


# --------------------------------------------------------------------------------------------
# Per material: Arrhenius and MSD
# --------------------------------------------------------------------------------------------


def _fit_dict(fit: Any) -> dict | None:
    if fit is None:
        return None
    if hasattr(fit, "as_row"):
        fit = fit.as_row()
    return dict(fit)


def _num(d: Mapping, key: str) -> float:
    try:
        v = float(d.get(key))
    except (TypeError, ValueError):
        return float("nan")
    return v


def arrhenius_figure(
    points: pd.DataFrame,
    fit: Mapping | None,
    material_id: str | None = None,
    method: str | None = None,
) -> go.Figure:
    """D (cm^2/s, log axis) vs 1000/T (1/K) with the Arrhenius fit extrapolated to 300 K.

    `points`: temperature_K, D_cm2_s, D_ci95_lo_cm2_s, D_ci95_hi_cm2_s, reliable (MSD reached the
    threshold). Reliable points are filled, unreliable ones hollow; error bars are 95% intervals.
    `fit` (dict, or an object with `as_row()`): Ea_eV, D0_cm2_s, D300_cm2_s, D300_ci95_lo_cm2_s,
    D300_ci95_hi_cm2_s; the line D0 exp(-Ea / kB T) is drawn from the highest temperature down to
    300 K, and D(300 K) is a star with its interval. With `fit` None (not estimable) only the points
    are drawn. Points with a missing or non-positive D are skipped. The top axis reads T in K.
    """
    pts = points.copy()
    pts["_D"] = _positive(pts["D_cm2_s"])
    pts["_T"] = pd.to_numeric(pts["temperature_K"], errors="coerce").astype(float)
    pts = pts[pts["_D"].notna() & np.isfinite(pts["_T"]) & (pts["_T"] > 0)].sort_values("_T")
    if "reliable" in pts:
        reliable = pts["reliable"].map(lambda v: bool(v) if pd.notna(v) else False).astype(bool)
    else:
        reliable = pd.Series(True, index=pts.index)
    fit = _fit_dict(fit)
    label = " ".join(str(s) for s in (material_id, f"({method})" if method else None) if s)

    fig = go.Figure()
    all_y: list[float] = []
    for flag, name, symbol in (
        (True, "MSD ≥ threshold", "circle"),
        (False, "MSD < threshold", "circle-open"),
    ):
        sub = pts[reliable == flag]
        if not len(sub):
            continue
        plus, minus = _err_arrays(sub["_D"], sub["D_ci95_lo_cm2_s"], sub["D_ci95_hi_cm2_s"])
        all_y += sub["_D"].tolist() + (sub["_D"] + plus).tolist() + (sub["_D"] - minus).tolist()
        fig.add_trace(
            go.Scatter(
                x=(1000.0 / sub["_T"]).tolist(),
                y=sub["_D"].tolist(),
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": 11,
                    "color": "#1f77b4",
                    "line": {"width": 2, "color": "#1f77b4"},
                },  # fmt: skip
                error_y=_error_bars(plus, minus, thickness=1.2, width=4),
                customdata=np.stack(
                    [
                        sub["_T"].to_numpy(object),
                        pd.to_numeric(sub["D_ci95_lo_cm2_s"], errors="coerce").to_numpy(object),
                        pd.to_numeric(sub["D_ci95_hi_cm2_s"], errors="coerce").to_numpy(object),
                    ],
                    axis=-1,
                ),  # fmt: skip
                hovertemplate=(
                    "T = %{customdata[0]:.0f} K<br>D = %{y:.3g} cm²/s<br>"
                    "95% CI %{customdata[1]:.3g} – %{customdata[2]:.3g}<extra></extra>"
                ),
            )
        )

    t_max = float(pts["_T"].max()) if len(pts) else 1200.0
    title = f"Arrhenius: {label}" if label else "Arrhenius"
    fit_values = fit or {}
    ea, d0, d300 = (_num(fit_values, k) for k in ("Ea_eV", "D0_cm2_s", "D300_cm2_s"))
    d0_missing = not (np.isfinite(d0) and d0 > 0)
    if fit is not None and np.isfinite(ea) and d0_missing and np.isfinite(d300) and d300 > 0:
        d0 = d300 * math.exp(ea / (KB_EV_K * T_ROOM_K))
    if fit is not None and np.isfinite(ea) and np.isfinite(d0) and d0 > 0:
        t_line = np.linspace(T_ROOM_K, max(t_max, T_ROOM_K + 1), 60)
        x_line = 1000.0 / t_line
        y_line = d0 * np.exp(-ea / (KB_EV_K * t_line))
        all_y += y_line.tolist()
        fig.add_trace(
            go.Scatter(
                x=x_line.tolist(),
                y=y_line.tolist(),
                mode="lines",
                name=f"fit: E<sub>a</sub> = {ea:.3f} eV",
                line={"color": "#d62728", "dash": "solid", "width": 1.5},
                hovertemplate="1000/T = %{x:.3f} 1/K<br>D = %{y:.3g} cm²/s<extra>fit</extra>",
            )
        )
        if not (np.isfinite(d300) and d300 > 0):
            d300 = d0 * math.exp(-ea / (KB_EV_K * T_ROOM_K))
        title += f": E<sub>a</sub> = {ea:.3f} eV"
    elif fit is not None:
        title += ": fit incomplete"
    else:
        title += ": Arrhenius fit not estimable"
    if fit is not None and np.isfinite(d300) and d300 > 0:
        plus, minus = _err_arrays(
            pd.Series([d300]),
            pd.Series([fit.get("D300_ci95_lo_cm2_s")]),
            pd.Series([fit.get("D300_ci95_hi_cm2_s")]),
        )
        all_y += [d300, d300 + plus[0], d300 - minus[0]]
        fig.add_trace(
            go.Scatter(
                x=[1000.0 / T_ROOM_K],
                y=[d300],
                mode="markers",
                name="D(300 K), extrapolated",
                marker={"symbol": "star", "size": 15, "color": "#d62728"},
                error_y=_error_bars(plus, minus, color="#d62728", thickness=1.5, width=5),
                hovertemplate="T = 300 K<br>D = %{y:.3g} cm²/s<extra>extrapolated</extra>",
            )
        )
        title += f", D(300 K) = {d300:.2g} cm²/s"

    temps = [300, 400, 500, 600, 800, 1000, 1200, 1500]
    x_lo = 1000.0 / max(t_max, 1200.0) - 0.1
    x_hi = 1000.0 / T_ROOM_K + 0.15
    # invisible trace so the top (temperature) axis is drawn
    fig.add_trace(
        go.Scatter(x=[x_lo, x_hi], y=[None, None], xaxis="x2", showlegend=False, hoverinfo="skip")
    )
    fig.add_vline(x=1000.0 / T_ROOM_K, line={"color": "gray", "dash": "dot", "width": 1})
    fig.update_layout(
        title={"text": title},
        template="simple_white",
        height=560,
        xaxis={"title": {"text": "1000/T (1/K)"}, "range": [x_lo, x_hi]},
        xaxis2={
            "overlaying": "x",
            "side": "top",
            "range": [x_lo, x_hi],
            "tickmode": "array",
            "tickvals": [1000.0 / t for t in temps],
            "ticktext": [f"{t} K" for t in temps],
            "showgrid": False,
        },
        yaxis={
            "type": "log",
            "title": {"text": "D (cm²/s)"},
            "exponentformat": "power",
            "range": _log_range(all_y, pad_decades=0.3),
        },
        legend={"x": 0.99, "xanchor": "right", "y": 0.99, "bgcolor": "rgba(255,255,255,0.7)"},
        margin={"t": 110},
    )
    _export_size(fig, 900, 620)
    return fig


def msd_figure(
    curves: pd.DataFrame,
    threshold_A2: float = MSD_THRESHOLD_A2,
    material_id: str | None = None,
    method: str | None = None,
) -> go.Figure:
    """Li mean squared displacement (Å^2) vs time lag (ps), one line per temperature (K).

    `curves` is long format: temperature_K, dt_ps, msd_A2 (one row per point; NaN rows are
    dropped). The reliability threshold `threshold_A2` (Å^2, 20 in the paper) is a dashed
    horizontal line; the legend says which temperatures reached it.
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
    x_min = float(c["dt_ps"].min()) if len(c) else 0.0
    fig.add_trace(
        go.Scatter(
            x=[min(x_min, 0.0), x_max],
            y=[threshold_A2, threshold_A2],
            mode="lines",
            name=f"threshold {threshold_A2:g} Å²",
            line={"color": "black", "dash": "dash", "width": 1.5},
            hoverinfo="skip",
        )
    )
    label = " ".join(str(s) for s in (material_id, f"({method})" if method else None) if s)
    fig.update_layout(
        title={"text": f"Li MSD: {label}" if label else "Li MSD"},
        template="simple_white",
        height=520,
        xaxis={"title": {"text": "Time lag Δt (ps)"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "Li MSD (Å²)"}, "rangemode": "tozero"},
    )
    _export_size(fig, 900, 580)
    return fig


# --------------------------------------------------------------------------------------------
# Writing: HTML + PNG
# --------------------------------------------------------------------------------------------


def find_browser() -> str | None:
    """The Chrome/Chromium executable kaleido will use, or None (nothing is ever downloaded).

    Order: `BROWSER_PATH` when it names an executable; Debian's `chromium` package
    (`chromium`/`chromium-browser` on PATH, /usr/bin/chromium); then choreographer's own search
    (a browser it installed earlier, Chrome, Edge, Brave, ...).
    """
    env = os.environ.get("BROWSER_PATH")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        logger.warning("BROWSER_PATH=%r is not an executable; searching elsewhere", env)
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    try:
        from choreographer.browsers.chromium import Chromium

        saved = os.environ.pop("BROWSER_PATH", None)  # an invalid one would short-circuit
        try:
            found = Chromium.find_browser(skip_local=False)
        finally:
            if saved is not None:
                os.environ["BROWSER_PATH"] = saved
    except Exception as exc:  # noqa: BLE001 - best effort: no browser means HTML only
        logger.debug("choreographer browser search failed: %s", exc)
        return None
    return str(found) if found and os.path.isfile(found) else None


def png_enabled() -> bool:
    """False when IONIC_ASSETS_FIGURE_PNG is "0", "false", "no" or "off"."""
    value = os.environ.get("IONIC_ASSETS_FIGURE_PNG", "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide reports from a shared webserver
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_html(fig: go.Figure, path: Path) -> None:
    html = fig.to_html(
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        config={"displaylogo": False, "responsive": True},
    )
    _atomic_write_bytes(path, html.encode("utf-8"))


def _png_opts(fig: go.Figure, width: int | None, height: int | None, scale: float) -> dict:
    meta = fig.layout.meta if isinstance(fig.layout.meta, Mapping) else {}
    hint = meta.get(_EXPORT_META, {}) if isinstance(meta, Mapping) else {}
    return {
        "format": "png",
        "width": int(width or hint.get("width") or fig.layout.width or DEFAULT_PNG_WIDTH),
        "height": int(height or hint.get("height") or fig.layout.height or DEFAULT_PNG_HEIGHT),
        "scale": float(scale),
    }


def _kill_browser(k: Any) -> None:
    """Kill the browser process group kaleido started (it runs in its own session)."""
    proc = getattr(k, "subprocess", None)
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(Exception):
        proc.wait(timeout=1.5)
    with contextlib.suppress(OSError):  # stragglers of the group (renderers, zygote)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=3)


def _render_pngs(
    jobs: list[tuple[go.Figure, Path, dict]], browser: str, timeout_s: float
) -> list[Path | None]:
    """Render `jobs` (figure, png path, kaleido opts) in one browser session, within timeout_s.

    Runs its own event loop in a worker thread (safe to call from inside a running loop). Returns
    the written path or None per job; never raises.
    """
    import kaleido

    results: list[Path | None] = [None] * len(jobs)
    abandoned = threading.Event()
    error: list[BaseException] = []

    async def session() -> None:
        k = kaleido.Kaleido(
            n=1, timeout=min(PER_FIGURE_TIMEOUT_S, timeout_s), mathjax=False, path=browser
        )
        finished = False
        try:
            await k.open()
            for i, (fig, path, opts) in enumerate(jobs):
                try:
                    img = await k.calc_fig(fig, opts=opts)
                except Exception as exc:  # noqa: BLE001 - one bad figure must not stop the rest
                    logger.warning("PNG export of %s failed: %s", path, exc)
                    continue
                if abandoned.is_set():
                    return
                _atomic_write_bytes(path, img)
                results[i] = path
            finished = True
        finally:
            if not finished:  # failed, or cancelled at the time limit: no graceful goodbye
                _kill_browser(k)
            # a close that fails or hangs falls back to killing the process group
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(k.close(), 10 if finished else 3)
            _kill_browser(k)

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(session(), timeout_s))
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            error.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, name="ionic-assets-kaleido", daemon=True)
    thread.start()
    thread.join(timeout_s + 30)
    if thread.is_alive():
        abandoned.set()
        logger.warning("PNG export did not finish within %.0f s; abandoned", timeout_s + 30)
    elif error:
        exc = error[0]
        if isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout_s:
            reason = f"timed out after {timeout_s:g} s"  # kaleido may re-raise the cancellation
        else:
            reason = f"{type(exc).__name__}: {exc}"
        logger.warning("PNG export with %s failed (%s); HTML only", browser, reason)
    return list(results)


def _base(path_without_suffix: str | os.PathLike) -> Path:
    p = Path(path_without_suffix)
    if p.suffix.lower() in {".html", ".png"}:
        p = p.with_suffix("")
    return p


def write_figures(
    items: Sequence[tuple[go.Figure, str | os.PathLike]],
    *,
    png: bool | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float = DEFAULT_PNG_SCALE,
    timeout_s: float | None = None,
) -> list[dict[str, str | None]]:
    """Write each (figure, path_without_suffix) as `<path>.html` and `<path>.png`.

    The HTML is self-contained (plotly.js inline, no CDN, works offline). All PNGs are rendered in
    one kaleido/Chromium session (the browser start, ~5 s, is paid once); width/height in pixels
    default to each figure's own export size, `scale` multiplies them. Both files are written to a
    temporary name and renamed into place. `png` None follows IONIC_ASSETS_FIGURE_PNG; without a
    browser, or if rendering fails or exceeds `timeout_s` (default IONIC_ASSETS_PNG_TIMEOUT_S or
    120 s), "png" is None and a warning is logged. Returns [{"html": path, "png": path | None}].
    """
    bases = [_base(p) for _, p in items]
    out: list[dict[str, str | None]] = []
    for (fig, _), base in zip(items, bases, strict=True):
        html = base.with_name(base.name + ".html")
        _write_html(fig, html)
        out.append({"html": str(html), "png": None})

    if not items or not (png_enabled() if png is None else png):
        return out
    browser = find_browser()
    if browser is None:
        logger.warning(
            "No Chrome/Chromium found for PNG export (apt-get install -y chromium, or set "
            "BROWSER_PATH); wrote HTML only"
        )
        return out
    if timeout_s is None:
        try:
            timeout_s = float(os.environ.get("IONIC_ASSETS_PNG_TIMEOUT_S", DEFAULT_PNG_TIMEOUT_S))
        except ValueError:
            timeout_s = DEFAULT_PNG_TIMEOUT_S
    jobs = [
        (fig, base.with_name(base.name + ".png"), _png_opts(fig, width, height, scale))
        for (fig, _), base in zip(items, bases, strict=True)
    ]
    for entry, written in zip(out, _render_pngs(jobs, browser, timeout_s), strict=True):
        entry["png"] = str(written) if written else None
    return out


def write_figure(
    fig: go.Figure,
    path_without_suffix: str | os.PathLike,
    **kwargs: Any,
) -> dict[str, str | None]:
    """Write one figure as `<path>.html` (self-contained) and `<path>.png`; see `write_figures`.

    Returns {"html": path, "png": path or None}. Writing several figures? `write_figures` starts
    the browser once for all of them.
    """
    return write_figures([(fig, path_without_suffix)], **kwargs)[0]


def png_markdown(png_path: str | os.PathLike | None, max_bytes: int = 400_000) -> str:
    """Markdown showing a PNG inline (base64 data URI), for Dagster metadata previews.

    Falls back to a line naming the file when it is missing or larger than `max_bytes`.
    """
    if not png_path:
        return "_no PNG preview (no browser for export)_"
    path = Path(png_path)
    try:
        data = path.read_bytes()
    except OSError:
        return f"_PNG preview missing: `{path}`_"
    if len(data) > max_bytes:
        return f"PNG preview too large to inline ({len(data) // 1024} KiB): `{path}`"
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(data).decode('ascii')})"
