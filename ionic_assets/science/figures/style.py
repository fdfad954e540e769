"""What every figure shares: method colours, marker sizes, log ranges from the points, error bars
clipped at the frame with a mark, the y = x reference, the marker-size key, the PNG export size.

Units are those of the figure calling: conductivity in mS/cm, D in cm^2/s, log10 errors in
decades. "Range" means a plotly log-axis range [log10 lo, log10 hi] unless said otherwise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

logger = logging.getLogger(__name__)

#: Palette the method colours are drawn from, in the order of the configured methods: D3's ten,
#: then Dark24's, so that the roster's methods keep colours of their own.
PALETTE = [*qualitative.D3, *qualitative.Dark24]
#: Where `export_size` leaves the PNG size in `layout.meta` (read by the report code).
EXPORT_META = "ionic_assets_export"
#: Half-width of the reference band around y = x, decades.
BAND_DECADES = 1.0
#: Colour of the marks that say an interval goes on beyond the frame.
CLIP_COLOR = "#444444"
#: Legend name of those marks.
CLIPPED = "interval beyond the frame"


def method_colors(methods: Iterable[str]) -> dict[str, str]:
    """A colour per method name, by its position in `methods` (the configured methods, in the
    order of config/methods.yaml, so a method keeps its colour whichever others are plotted)."""
    return {str(m): PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}


def colors_for(bench: pd.DataFrame, colors: Mapping[str, str] | None) -> dict[str, str]:
    """`colors` completed for every method in `bench` (unknown ones take the next palette
    colours, in order of appearance)."""
    given = dict(colors or {})
    missing = [m for m in methods_of(bench) if m not in given]
    extra = method_colors([*given, *missing])
    return given | {m: extra[m] for m in missing}


def methods_of(bench: pd.DataFrame) -> list[str]:
    """The method names of `bench`, in order of appearance."""
    return [str(m) for m in pd.unique(bench["method"].dropna())]


def marker_size(n_reliable: Any) -> float:
    """Marker diameter (px) for `n_reliable` temperatures whose MSD reached the threshold."""
    try:
        n = float(n_reliable)
    except (TypeError, ValueError):
        n = 0.0
    return 6.0 + 4.0 * (n if np.isfinite(n) and n > 0 else 0.0)


def sizes(n_reliable: pd.Series) -> list[float]:
    return [marker_size(n) for n in n_reliable]


def n_max(bench: pd.DataFrame) -> int:
    """The largest `n_temperatures` of `bench` (0 when empty): the size key's last row."""
    n = pd.to_numeric(bench["n_temperatures"], errors="coerce").max() if len(bench) else np.nan
    return int(n) if np.isfinite(n) else 0


def positive(s: pd.Series) -> pd.Series:
    """Values that can sit on a log axis: finite and > 0, NaN otherwise."""
    v = pd.to_numeric(s, errors="coerce").astype(float)
    return v.where(np.isfinite(v) & (v > 0))


def numbers(s: pd.Series) -> pd.Series:
    """`s` as floats, NaN where missing (DuckDB's nullable dtypes included)."""
    return pd.to_numeric(s, errors="coerce").astype(float)


def plottable(bench: pd.DataFrame) -> pd.DataFrame:
    """Rows with a positive finite sigma_exp and sigma_pred (the others cannot be placed)."""
    ok = positive(bench["sigma_exp_mS_cm"]).notna() & positive(bench["sigma_pred_mS_cm"]).notna()
    skipped = int((~ok).sum())
    if skipped:
        logger.info("figures: skipping %d row(s) without a usable sigma_pred/sigma_exp", skipped)
    return bench.loc[ok].copy()


def log_range(values: Iterable[float], pad_decades: float = 0.5) -> list[float]:
    """A log-axis range [log10 lo, log10 hi], whole decades, covering the positive finite
    `values` with at least `pad_decades` to spare on each side."""
    v = np.asarray([x for x in values if x is not None], float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return [-1.0, 1.0]
    lo, hi = math.floor(np.log10(v.min()) - pad_decades), math.ceil(np.log10(v.max()) + pad_decades)
    return [float(lo), float(hi if hi > lo else lo + 1)]


def linear_range(values: Iterable[float], pad: float, include: Sequence[float] = ()) -> list[float]:
    """A linear range covering the finite `values` and `include`, `pad` (data units) either side."""
    v = np.asarray([*values, *include], float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [-1.0, 1.0]
    return [float(v.min() - pad), float(v.max() + pad)]


def error_bars(plus, minus, color=None, thickness: float = 1, width: float = 2) -> dict:
    """Asymmetric error bars: `plus` above and `minus` below each point (data units)."""
    bars = {
        "type": "data",
        "symmetric": False,
        "array": list(plus),
        "arrayminus": list(minus),
        "thickness": thickness,
        "width": width,
    }
    if color is not None:
        bars["color"] = color
    return bars


def clipped_errors(
    y: Sequence[float], lo: Sequence[float], hi: Sequence[float], bounds: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Error-bar lengths (plus, minus) of points `y` with interval [lo, hi], cut at the frame
    `bounds` = (bottom, top), all in data units; 0 where a bound is unknown (NaN) or on the wrong
    side of y. Also returns where the interval leaves the frame at the top and at the bottom (an
    infinite bound does; on a log axis so does a lower bound <= 0)."""
    y = np.asarray(y, float)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    bottom, top = bounds
    with np.errstate(invalid="ignore"):
        over = ~np.isnan(hi) & (hi > top)
        under = ~np.isnan(lo) & (lo < bottom)
        plus = np.where(~np.isnan(hi) & (hi >= y), np.minimum(hi, top) - y, 0.0)
        minus = np.where(~np.isnan(lo) & (lo <= y), y - np.maximum(lo, bottom), 0.0)
    return plus, minus, over, under


def clip_marks(x: Sequence[float], y: Sequence[float], symbol: str, **trace: Any) -> go.Scatter:
    """Triangles at (x, y) on the frame's edge, pointing where an interval goes on beyond it."""
    return go.Scatter(
        x=list(x),
        y=list(y),
        mode="markers",
        name=CLIPPED,
        legendgroup="clipped",
        marker={"symbol": symbol, "size": 9, "color": CLIP_COLOR},
        cliponaxis=False,
        hoverinfo="skip",
        **trace,
    )


def edge_marks(
    x: np.ndarray, y: np.ndarray, over: np.ndarray, under: np.ndarray, bounds, vertical: bool,
    **trace: Any,
) -> list[go.Scatter]:  # fmt: skip
    """Marks for the intervals of points (x, y) that leave the frame `bounds` (data units) above
    or below (`vertical`), or right or left (not `vertical`)."""
    marks = []
    for mask, edge, symbol in (
        (over, bounds[1], "triangle-up" if vertical else "triangle-right"),
        (under, bounds[0], "triangle-down" if vertical else "triangle-left"),
    ):
        if mask.any():
            along = np.asarray(x if vertical else y, float)[mask]
            at = np.full(int(mask.sum()), edge, float)
            xy = (along, at) if vertical else (at, along)
            marks.append(clip_marks(*xy, symbol, **trace))
    return marks


def legend_once(fig: go.Figure) -> None:
    """One legend entry for all the clip marks of `fig`."""
    marks = [t for t in fig.data if t.name == CLIPPED]
    for j, t in enumerate(marks):
        t.showlegend = j == 0


def reference_traces(lo: float, hi: float, showlegend: bool) -> list[go.Scatter]:
    """The ±1 decade band and the y = x line between `lo` and `hi` (data units, > 0)."""
    f = 10.0**BAND_DECADES
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


def add_size_key(fig: go.Figure, n_max: int, plot_height_px: float, y_top: float = 0.5) -> None:
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
            showarrow=False, text=f"n = {n}",
        )  # fmt: skip


def export_size(fig: go.Figure, width: int, height: int) -> None:
    """Record the PNG size (pixels before scale) the figure is drawn for, in `layout.meta`."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, Mapping) else {}
    meta[EXPORT_META] = {"width": int(width), "height": int(height)}
    fig.update_layout(meta=meta)


def fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2f}"


def label(material_id: str | None, method: str | None) -> str:
    """ "<material> (<method>)", or what of it is known."""
    return " ".join(str(s) for s in (material_id, f"({method})" if method else None) if s)


def bench_hover(method: str) -> str:
    """Hover text of a benchmark point (customdata from `bench_customdata`)."""
    return (
        "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
        "σ<sub>exp</sub> = %{customdata[8]:.3g} mS/cm<br>"
        "σ<sub>pred</sub>(300 K) = %{customdata[9]:.3g} mS/cm "
        "(95% CI %{customdata[2]:.3g} – %{customdata[3]:.3g})<br>"
        "log10 error = %{customdata[4]:.2f}<br>"
        "MSD ≥ threshold at %{customdata[5]}/%{customdata[6]} T<br>"
        f"E<sub>a</sub> = %{{customdata[7]:.3f}} eV<extra>{method}</extra>"
    )


def bench_customdata(df: pd.DataFrame) -> np.ndarray:
    """Per row of `benchmark_table` rows `df`: material, formula, sigma_pred 95% interval,
    log10 error, n_reliable, n_temperatures, Ea (eV), sigma_exp, sigma_pred (mS/cm)."""
    missing = pd.Series(np.nan, index=df.index)
    cols = [
        df["material_id"].astype(str),
        df.get("formula", pd.Series("", index=df.index)).fillna("").astype(str),
        numbers(df["sigma_pred_ci95_lo_mS_cm"]),
        numbers(df["sigma_pred_ci95_hi_mS_cm"]),
        numbers(df["log10_error"]),
        pd.to_numeric(df["n_reliable"], errors="coerce").fillna(0).astype(int),
        pd.to_numeric(df["n_temperatures"], errors="coerce").fillna(0).astype(int),
        numbers(df.get("Ea_eV", missing)),
        numbers(df["sigma_exp_mS_cm"]),
        numbers(df["sigma_pred_mS_cm"]),
    ]
    return np.stack([c.to_numpy(object) for c in cols], axis=-1)


#: Title notes of figures drawn from data that are no benchmark result (`title_note=`).
SYNTHETIC_NOTE = "SYNTHETIC data — not a benchmark result"
SMOKE_NOTE = "SMOKE run data (plumbing check) — not a benchmark result"


def titled(text: str, note: str | None) -> str:
    """A figure title with `note` (e.g. `SYNTHETIC_NOTE`), when given, as a first line."""
    return f'<span style="color:#b00020"><b>{note}</b></span><br>{text}' if note else text


def mae_text(mae: pd.DataFrame | None, method: str) -> str | None:
    """One method's MAE of log10 sigma with counts over all, reliable and physical-Ea materials
    (a `benchmark_mae` view row), e.g. "MAE 1.23 (n = 20), reliable 0.90 (n = 5), physical Ea
    1.10 (n = 19)"; None without a row."""
    if mae is None or "method" not in mae:
        return None
    row = mae[mae["method"] == method]
    if row.empty:
        return None
    r = row.iloc[0]
    parts = []
    for key, name in (
        ("all", "MAE"),
        ("reliable", "reliable"),
        ("physical", "physical E<sub>a</sub>"),
    ):
        if f"mae_log10_sigma_{key}" in r:
            value, n = (r[f"{c}_{key}"] for c in ("mae_log10_sigma", "n_materials"))
            value = float("nan") if pd.isna(value) else float(value)
            parts.append(f"{name} {fmt(value)} (n = {0 if pd.isna(n) else int(n)})")
    return ", ".join(parts) or None
