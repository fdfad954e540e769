"""Fig. 2: sigma(300 K) of one method against another's, on the materials both predict."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ionic_assets.science.figures import style

KEEP = [
    "material_id", "formula", "sigma_exp_mS_cm", "sigma_pred_mS_cm",
    "sigma_pred_ci95_lo_mS_cm", "sigma_pred_ci95_hi_mS_cm", "n_reliable", "n_temperatures",
]  # fmt: skip


def method_parity_figure(
    bench: pd.DataFrame,
    method_x: str,
    method_y: str,
    colors: Mapping[str, str] | None = None,
    mae: pd.DataFrame | None = None,
    title_note: str | None = None,
) -> go.Figure:
    """Fig. 2: sigma_pred(300 K) of `method_y` vs `method_x` (both log10, mS/cm).

    `bench`: `benchmark_table` rows; `colors`: method -> colour. Only materials with a usable
    prediction from both methods are placed, in a square frame with the same range on both axes
    set by the points (intervals leaving it are cut at the edge and marked with a triangle). The
    filled marker's size follows `n_reliable` of `method_x`, the surrounding ring's size that of
    `method_y` (the paper's half circles). Error bars are both methods' 95% intervals; y = x and
    the ±1 decade band are drawn; the title gives the mean absolute log10 difference between the
    methods and, with `mae` (the `benchmark_mae` view), each one's MAE against experiment over
    all, reliable and physical-Ea materials; `title_note` (e.g. `style.SYNTHETIC_NOTE`) heads it.
    """
    colors = style.colors_for(bench, colors)
    both = _common(bench, method_x, method_y)
    rng = style.log_range(
        np.concatenate([style.positive(both[f"sigma_pred_mS_cm_{s}"]) for s in ("x", "y")])
    )
    bounds = (10 ** rng[0], 10 ** rng[1])
    fig = go.Figure(style.reference_traces(*bounds, showlegend=True))
    if len(both):
        for tr in _traces(both, method_x, method_y, colors, bounds):
            fig.add_trace(tr)
        diff = np.log10(both["sigma_pred_mS_cm_y"]) - np.log10(both["sigma_pred_mS_cm_x"])
        subtitle = (
            f"mean |log10 σ<sub>{method_y}</sub> − log10 σ<sub>{method_x}</sub>| = "
            f"{np.mean(np.abs(diff)):.2f} over {len(both)} materials"
        )
    else:
        subtitle = "no material with a prediction from both methods"
        fig.add_annotation(text=subtitle, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False)

    style.add_size_key(
        fig, style.n_max(bench[bench["method"].isin([method_x, method_y])]), 470, y_top=0.45
    )
    fig.update_xaxes(
        type="log", range=rng, title_text=f"σ at 300 K, {method_x} (mS/cm)",
        exponentformat="power", constrain="domain",
    )  # fmt: skip
    fig.update_yaxes(
        type="log", range=rng, title_text=f"σ at 300 K, {method_y} (mS/cm)",
        exponentformat="power", scaleanchor="x", scaleratio=1, constrain="domain",
    )  # fmt: skip
    fig.update_layout(
        title={"text": style.titled(_title(method_x, method_y, subtitle, mae), title_note)},
        template="simple_white",
        height=700,
        margin={"t": 200},
    )
    style.legend_once(fig)
    style.export_size(fig, 900, 750)
    return fig


def _title(method_x: str, method_y: str, subtitle: str, mae: pd.DataFrame | None) -> str:
    """'<y> vs <x>', the subtitle, and a line per method with its MAE vs experiment."""
    lines = [(m, style.mae_text(mae, m)) for m in (method_y, method_x)]
    return f"{method_y} vs {method_x}<br><sup>{subtitle}</sup>" + "".join(
        f"<br><sup>{m} vs experiment: {t}</sup>" for m, t in lines if t
    )


def _common(bench: pd.DataFrame, method_x: str, method_y: str) -> pd.DataFrame:
    """One row per material both methods predict (columns suffixed _x, _y), by sigma_exp."""
    data = style.plottable(bench)
    keep = [c for c in KEEP if c in data]
    a = data[data["method"] == method_x][keep]
    b = data[data["method"] == method_y][keep]
    both = a.merge(b, on="material_id", suffixes=("_x", "_y"))
    return both.sort_values("sigma_exp_mS_cm_x") if "sigma_exp_mS_cm_x" in both else both


def _traces(both: pd.DataFrame, method_x, method_y, colors, bounds) -> list[go.Scatter]:
    """Filled markers (x method's reliability), rings (y method's), clipped intervals, marks."""
    x = both["sigma_pred_mS_cm_x"].astype(float).to_numpy()
    y = both["sigma_pred_mS_cm_y"].astype(float).to_numpy()
    errs = {
        s: style.clipped_errors(
            v,
            style.numbers(both[f"sigma_pred_ci95_lo_mS_cm_{s}"]),
            style.numbers(both[f"sigma_pred_ci95_hi_mS_cm_{s}"]),
            bounds,
        )
        for s, v in (("x", x), ("y", y))
    }
    custom = np.stack(
        [
            both["material_id"].astype(str).to_numpy(object),
            both.get("formula_x", pd.Series("", index=both.index)).fillna("").to_numpy(object),
            *(
                both[c].fillna(0).astype(int).to_numpy(object)
                for c in ("n_reliable_x", "n_temperatures_x", "n_reliable_y", "n_temperatures_y")
            ),
            both["sigma_exp_mS_cm_x"].astype(float).to_numpy(object),
        ],
        axis=-1,
    )
    fill = go.Scatter(
        x=x.tolist(),
        y=y.tolist(),
        mode="markers+text",
        name=f"size: reliable T, {method_x}",
        text=both["material_id"].astype(str).tolist(),
        textposition="top right",
        textfont={"size": 10},
        marker={
            "size": style.sizes(both["n_reliable_x"]),
            "color": colors[method_x],
            "opacity": 0.7,
        },
        error_x=style.error_bars(*errs["x"][:2], color=colors[method_x]),
        error_y=style.error_bars(*errs["y"][:2], color=colors[method_y]),
        customdata=custom,
        hovertemplate=(
            "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
            f"σ {method_x} = %{{x:.3g}} mS/cm "
            "(reliable T %{customdata[2]}/%{customdata[3]})<br>"
            f"σ {method_y} = %{{y:.3g}} mS/cm "
            "(reliable T %{customdata[4]}/%{customdata[5]})<br>"
            "σ<sub>exp</sub> = %{customdata[6]:.3g} mS/cm<extra></extra>"
        ),
    )
    ring = go.Scatter(
        x=x.tolist(),
        y=y.tolist(),
        mode="markers",
        name=f"ring: reliable T, {method_y}",
        marker={
            "size": [s + 2 for s in style.sizes(both["n_reliable_y"])],
            "symbol": "circle-open",
            "color": colors[method_y],
            "line": {"width": 2},
        },
        hoverinfo="skip",
    )
    marks = [
        *style.edge_marks(x, y, *errs["x"][2:], bounds, vertical=False),
        *style.edge_marks(x, y, *errs["y"][2:], bounds, vertical=True),
    ]
    return [fill, ring, *marks]
