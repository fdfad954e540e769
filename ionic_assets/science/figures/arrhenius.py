"""D vs 1000/T of one material with its Arrhenius fit, the extrapolation to 300 K and, when the
fit carries them, its diagnostics (residuals, curvature, leave-one-out influence, flags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ionic_assets.science.arrhenius import ROOM_TEMPERATURE_K, arrhenius_D_cm2_s
from ionic_assets.science.figures import style

POINT_COLOR = "#1f77b4"
FIT_COLOR = "#d62728"
FLAG_COLOR = "#b30000"
#: Temperatures labelled on the top axis, K.
T_TICKS_K = [300, 400, 500, 600, 800, 1000, 1200, 1500]


def arrhenius_figure(
    points: pd.DataFrame,
    fit: Mapping | Any | None,
    material_id: str | None = None,
    method: str | None = None,
    title_note: str | None = None,
) -> go.Figure:
    """D (cm^2/s, log axis) vs 1000/T (1/K) with the Arrhenius fit extrapolated to 300 K.

    `points`: temperature_K, D_cm2_s, D_ci95_lo_cm2_s, D_ci95_hi_cm2_s, reliable (MSD reached the
    threshold). Reliable points are filled, unreliable ones hollow; error bars are 95% intervals.
    `fit` (an `arrhenius_fits` row as a dict, or an object with `as_row()`): Ea_eV, D0_cm2_s (or
    D300_cm2_s alone), D300_cm2_s, D300_ci95_lo_cm2_s, D300_ci95_hi_cm2_s; the line
    `science.arrhenius.arrhenius_D_cm2_s` is drawn from the highest temperature down to 300 K,
    and D(300 K) is a star with its interval. With `fit` None (not estimable) only the points are
    drawn. The y range is set by the points, the line and the star, not by the intervals: an
    interval leaving the frame is cut at its edge and marked with a triangle. Points with a
    missing or non-positive D are skipped. The top axis reads T in K.

    Diagnostics, drawn when the fit has them: `Ea_nonphysical` (the line stops at the lowest
    fitted temperature, no star, a flag in the title), `curvature_K2` with its 95% interval and
    `non_arrhenius` (in the title and an annotation), and, in a panel below, `residuals_log10_D`
    (observed minus fitted log10 D) and `loo_delta_log10_sigma300` (change of log10 sigma(300 K)
    with that temperature left out), both aligned with `temperatures_fit_K`. `title_note` (e.g.
    `style.SYNTHETIC_NOTE`) heads the title.
    """
    pts = _usable_points(points)
    fit = _fit_dict(fit)
    diag = _diagnostics(fit)
    fig = (
        make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05
        )
        if diag
        else make_subplots(rows=1, cols=1)
    )
    line, star, title = _fit_line(fit, float(pts["_T"].max()) if len(pts) else 1200.0)
    curve = [*pts["_D"], *(line.y if line else ()), *(star[1:] if star else ())]
    rng = style.log_range(curve)
    bounds = (10 ** rng[0], 10 ** rng[1])
    for tr in [*_point_traces(pts, bounds), *_star_traces(star, fit, bounds), line]:
        if tr is not None:
            fig.add_trace(tr, row=1, col=1)
    flags = _flags(fit)
    if diag:
        for tr in _diagnostic_traces(diag):
            fig.add_trace(tr, row=2, col=1)
    _layout(fig, pts, rng, style.label(material_id, method), title, flags, diag)
    if title_note:
        fig.update_layout(title_text=style.titled(fig.layout.title.text, title_note), margin_t=150)
    style.legend_once(fig)
    style.export_size(fig, 900, 760 if diag else 620)
    return fig


def _usable_points(points: pd.DataFrame) -> pd.DataFrame:
    """Points with a positive D and temperature, by temperature; `_D`, `_T`, `_reliable` added."""
    pts = points.copy()
    pts["_D"] = style.positive(pts["D_cm2_s"])
    pts["_T"] = style.numbers(pts["temperature_K"])
    pts = pts[pts["_D"].notna() & np.isfinite(pts["_T"]) & (pts["_T"] > 0)].sort_values("_T")
    if "reliable" in pts:
        pts["_reliable"] = pts["reliable"].map(lambda v: bool(v) if pd.notna(v) else False)
    else:
        pts["_reliable"] = True
    return pts


def _fit_dict(fit: Any) -> dict | None:
    if fit is None:
        return None
    return dict(fit.as_row() if hasattr(fit, "as_row") else fit)


def _num(d: Mapping | None, key: str) -> float:
    try:
        return float((d or {}).get(key))
    except (TypeError, ValueError):
        return float("nan")


def _flag(d: Mapping | None, key: str) -> bool:
    v = (d or {}).get(key)
    return bool(v) if v is not None and not pd.isna(v) else False


def _array(d: Mapping, key: str) -> np.ndarray:
    v = d.get(key)
    return np.asarray([] if v is None else v, float).ravel()


def _room_K(fit: Mapping | None) -> float:
    t = _num(fit, "extrapolate_to_K")
    return t if np.isfinite(t) and t > 0 else ROOM_TEMPERATURE_K


def _point_traces(pts: pd.DataFrame, bounds) -> list[go.Scatter]:
    """Reliable (filled) and unreliable (hollow) points with clipped 95% intervals."""
    out = []
    for flag, name, symbol in (
        (True, "MSD ≥ threshold", "circle"),
        (False, "MSD < threshold", "circle-open"),
    ):
        sub = pts[pts["_reliable"] == flag]
        if not len(sub):
            continue
        x = (1000.0 / sub["_T"]).to_numpy()
        y = sub["_D"].to_numpy()
        lo, hi = style.numbers(sub["D_ci95_lo_cm2_s"]), style.numbers(sub["D_ci95_hi_cm2_s"])
        plus, minus, over, under = style.clipped_errors(y, lo, hi, bounds)
        out.append(
            go.Scatter(
                x=x.tolist(),
                y=y.tolist(),
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": 11,
                    "color": POINT_COLOR,
                    "line": {"width": 2, "color": POINT_COLOR},
                },  # fmt: skip
                error_y=style.error_bars(plus, minus, thickness=1.2, width=4),
                customdata=np.stack(
                    [sub["_T"].to_numpy(object), lo.to_numpy(object), hi.to_numpy(object)],
                    axis=-1,
                ),
                hovertemplate=(
                    "T = %{customdata[0]:.0f} K<br>D = %{y:.3g} cm²/s<br>"
                    "95% CI %{customdata[1]:.3g} – %{customdata[2]:.3g}<extra></extra>"
                ),
            )
        )
        out += style.edge_marks(x, y, over, under, bounds, vertical=True)
    return out


def _fit_line(fit: dict | None, t_max_K: float):
    """The fitted line (down to room temperature unless Ea is flagged non-physical), the star's
    (room temperature K, D cm^2/s) or None, and the title's fit part."""
    if fit is None:
        return None, None, ": Arrhenius fit not estimable"
    room = _room_K(fit)
    ea, d0, d300 = (_num(fit, k) for k in ("Ea_eV", "D0_cm2_s", "D300_cm2_s"))
    if np.isfinite(ea) and not (np.isfinite(d0) and d0 > 0) and np.isfinite(d300) and d300 > 0:
        d0 = d300 / arrhenius_D_cm2_s(room, ea, 1.0)
    if not (np.isfinite(ea) and np.isfinite(d0) and d0 > 0):
        return None, None, ": fit incomplete"
    nonphysical = _flag(fit, "Ea_nonphysical")
    fitted = _array(fit, "temperatures_fit_K")
    t_low = float(fitted.min()) if nonphysical and fitted.size else room
    t_line = np.linspace(t_low, max(t_max_K, t_low + 1), 60)
    line = go.Scatter(
        x=(1000.0 / t_line).tolist(),
        y=arrhenius_D_cm2_s(t_line, ea, d0).tolist(),
        mode="lines",
        name=f"fit: E<sub>a</sub> = {ea:.3f} eV" + (" (not extrapolated)" if nonphysical else ""),
        line={"color": FIT_COLOR, "dash": "solid", "width": 1.5},
        hovertemplate="1000/T = %{x:.3f} 1/K<br>D = %{y:.3g} cm²/s<extra>fit</extra>",
    )
    title = f": E<sub>a</sub> = {ea:.3f} eV"
    if nonphysical:
        return line, None, title
    if not (np.isfinite(d300) and d300 > 0):
        d300 = float(arrhenius_D_cm2_s(room, ea, d0))
    return line, (room, d300), title + f", D({room:g} K) = {d300:.2g} cm²/s"


def _star_traces(star, fit: dict | None, bounds) -> list[go.Scatter]:
    """D at room temperature, `star` = (T K, D cm^2/s), as a star with its clipped 95% interval."""
    if star is None:
        return []
    room, d = star
    x, y = np.asarray([1000.0 / room]), np.asarray([d])
    lo, hi = _num(fit, "D300_ci95_lo_cm2_s"), _num(fit, "D300_ci95_hi_cm2_s")
    plus, minus, over, under = style.clipped_errors(y, [lo], [hi], bounds)
    return [
        go.Scatter(
            x=x.tolist(),
            y=y.tolist(),
            mode="markers",
            name=f"D({room:g} K), extrapolated",
            marker={"symbol": "star", "size": 15, "color": FIT_COLOR},
            error_y=style.error_bars(plus, minus, color=FIT_COLOR, thickness=1.5, width=5),
            hovertemplate=f"T = {room:g} K<br>D = %{{y:.3g}} cm²/s<extra>extrapolated</extra>",
        ),
        *style.edge_marks(x, y, over, under, bounds, vertical=True),
    ]


def _flags(fit: dict | None) -> list[str]:
    """The warnings of the fit's diagnostics, as short phrases (empty when none applies)."""
    flags = []
    if _flag(fit, "Ea_nonphysical"):
        lo, hi = _num(fit, "Ea_ci95_lo_eV"), _num(fit, "Ea_ci95_hi_eV")
        ci = f" (95% CI {lo:.2f} – {hi:.2f} eV)" if np.isfinite(lo) and np.isfinite(hi) else ""
        flags.append(f"non-physical E<sub>a</sub>{ci}: not extrapolated to 300 K")
    if _flag(fit, "non_arrhenius"):
        flags.append("non-Arrhenius: curvature in 1/T")
    return flags


def _diagnostics(fit: dict | None) -> dict | None:
    """Residuals and leave-one-out deltas per fitted temperature, and the curvature, when the fit
    has them (None otherwise)."""
    if fit is None or fit.get("residuals_log10_D") is None:
        return None
    t = _array(fit, "temperatures_fit_K")
    res = _array(fit, "residuals_log10_D")
    loo = _array(fit, "loo_delta_log10_sigma300")
    if not t.size or res.size != t.size:
        return None
    return {
        "inv_T": 1000.0 / t,
        "T": t,
        "residuals": res,
        "loo": loo if loo.size == t.size else None,
        "curvature": [_num(fit, f"curvature{s}_K2") for s in ("", "_ci95_lo", "_ci95_hi")],
        "non_arrhenius": _flag(fit, "non_arrhenius"),
    }


def _diagnostic_traces(diag: dict) -> list[go.Scatter | go.Bar]:
    """Lower panel: residuals (markers) and leave-one-out changes of log10 sigma(300 K) (bars),
    both in decades, at each fitted temperature, and the zero line."""
    x = diag["inv_T"]
    out: list[go.Scatter | go.Bar] = []
    if diag["loo"] is not None:
        out.append(
            go.Bar(
                x=x.tolist(),
                y=diag["loo"].tolist(),
                width=0.03,
                offset=-0.036,  # left of the residual at the same temperature
                name="Δ log10 σ(300 K), that T left out",
                marker={"color": "rgba(255,127,14,0.55)"},
                text=[f"{v:+.2f}" for v in diag["loo"]],
                textposition="outside",
                textfont={"size": 11},
                constraintext="none",
                cliponaxis=False,
                customdata=diag["T"].tolist(),
                hovertemplate=(
                    "without %{customdata:.0f} K: Δ log10 σ(300 K) = %{y:+.3f}<extra></extra>"
                ),
            )
        )
    out.append(
        go.Scatter(
            x=x.tolist(),
            y=diag["residuals"].tolist(),
            mode="markers",
            name="residual log10 D (observed − fit)",
            marker={"symbol": "diamond", "size": 9, "color": POINT_COLOR},
            customdata=diag["T"].tolist(),
            hovertemplate="T = %{customdata:.0f} K<br>residual = %{y:+.3f} decades<extra></extra>",
        )
    )
    return out


def _curvature_text(diag: dict) -> str:
    c, lo, hi = diag["curvature"]
    if not np.isfinite(c):
        return ""
    ci = f" (95% CI {lo:.2g} – {hi:.2g})" if np.isfinite(lo) and np.isfinite(hi) else ""
    verdict = "excludes 0: non-Arrhenius" if diag["non_arrhenius"] else "includes 0"
    return f"curvature c = {c:.2g} K²{ci}, {verdict}  (log10 D = a + b/T + c/T²)"


def _layout(fig, pts, rng, label: str, title: str, flags: list[str], diag) -> None:
    """Axes (1000/T below, T on top, D log), title with the fit and its flags, zero line."""
    t_max = float(pts["_T"].max()) if len(pts) else 1200.0
    x_lo, x_hi = 1000.0 / max(t_max, 1200.0) - 0.1, 1000.0 / ROOM_TEMPERATURE_K + 0.15
    top = f"xaxis{3 if diag else 2}"
    fig.add_trace(  # invisible trace so the top (temperature) axis is drawn
        go.Scatter(
            x=[x_lo, x_hi], y=[None, None], xaxis=top.replace("axis", ""), name="T axis",
            showlegend=False, hoverinfo="skip",
        )
    )  # fmt: skip
    fig.add_vline(x=1000.0 / ROOM_TEMPERATURE_K, line={"color": "gray", "dash": "dot", "width": 1})
    text = (f"Arrhenius: {label}" if label else "Arrhenius") + title
    if flags:
        text += "<br>" + " · ".join(f'<span style="color:{FLAG_COLOR}">⚠ {f}</span>' for f in flags)
    x_title = {"text": "1000/T (1/K)"}
    fig.update_layout(
        title={"text": text},
        template="simple_white",
        height=700 if diag else 560,
        xaxis={"range": [x_lo, x_hi], **({} if diag else {"title": x_title})},
        yaxis={
            "type": "log", "title": {"text": "D (cm²/s)"}, "exponentformat": "power",
            "range": rng,
        },
        legend={"x": 0.99, "xanchor": "right", "y": 0.99, "bgcolor": "rgba(255,255,255,0.7)"},
        margin={"t": 120},
        **{top: {
            "overlaying": "x", "side": "top", "range": [x_lo, x_hi], "tickmode": "array",
            "tickvals": [1000.0 / t for t in T_TICKS_K], "ticktext": [f"{t} K" for t in T_TICKS_K],
            "showgrid": False,
        }},
    )  # fmt: skip
    if diag:
        _diagnostic_axes(fig, diag, x_lo, x_hi, x_title)


def _diagnostic_axes(fig, diag: dict, x_lo: float, x_hi: float, x_title: dict) -> None:
    values = [*diag["residuals"], *(diag["loo"] if diag["loo"] is not None else [])]
    fig.update_layout(
        xaxis2={"range": [x_lo, x_hi], "title": x_title},
        yaxis2={
            "title": {"text": "decades"},
            "range": style.linear_range(values, pad=0.15, include=[0.0]),
            "zeroline": True, "zerolinecolor": "black", "zerolinewidth": 1,
        },
        barmode="overlay",
    )  # fmt: skip
    if text := _curvature_text(diag):
        fig.add_annotation(
            text=text, xref="x2 domain", yref="y2 domain", x=0.01, y=1.02, xanchor="left",
            yanchor="bottom", showarrow=False, font={"size": 11,
            "color": FLAG_COLOR if diag["non_arrhenius"] else "black"},
        )  # fmt: skip
