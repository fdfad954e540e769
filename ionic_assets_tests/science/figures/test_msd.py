"""The per-material Li MSD figure."""

import numpy as np
import pytest

from ionic_assets.science import figures
from ionic_assets.science.transport import MSD_THRESHOLD_A2
from ionic_assets_tests.science.figures._data import make_curves


def test_msd_figure_lines_per_temperature_and_threshold():
    curves = make_curves()
    curves.loc[3, "msd_A2"] = np.nan
    fig = figures.msd_figure(curves, 20.0, "wyu", "MACE")
    lines = [t for t in fig.data if t.name.endswith("K") or "below" in t.name]
    assert [t.name.split()[0] for t in lines] == ["800", "900", "1000", "1100", "1200"]
    assert len(lines[0].x) == 95  # the NaN row dropped
    threshold = next(t for t in fig.data if t.name.startswith("threshold"))
    assert set(threshold.y) == {20.0} and threshold.line.dash == "dash"
    assert threshold.x[-1] == pytest.approx(47.5)
    # 800 K stays below 20 Å^2 here, 1200 K passes
    assert "below threshold" in lines[0].name and "below" not in lines[-1].name
    assert "ps" in fig.layout.xaxis.title.text and "Å²" in fig.layout.yaxis.title.text
    assert "wyu" in fig.layout.title.text


def test_msd_figure_accepts_nullable_dtypes_from_duckdb():
    figures.msd_figure(make_curves().convert_dtypes(), 20.0).to_json()


def test_msd_frame_ends_at_the_data_and_always_shows_the_threshold():
    curves = make_curves()
    fig = figures.msd_figure(curves, 20.0)
    top = curves["msd_A2"].max()
    assert fig.layout.xaxis.range == (0.0, 47.5)
    assert fig.layout.yaxis.range[0] == 0 and top < fig.layout.yaxis.range[1] < 1.1 * top
    low = curves[curves["temperature_K"] == 800.0]  # every curve below the threshold
    fig = figures.msd_figure(low)
    threshold = next(t for t in fig.data if t.name.startswith("threshold"))
    assert threshold.y[0] == MSD_THRESHOLD_A2  # the default is the platform's one threshold
    assert MSD_THRESHOLD_A2 < fig.layout.yaxis.range[1] < 1.1 * MSD_THRESHOLD_A2
