"""Figures to files: self-contained HTML and PNG through kaleido and a headless Chromium."""

import logging
import os
import re
import time
from pathlib import Path

import pytest

from ionic_assets.lib.reports import export
from ionic_assets.lib.reports.export import png_markdown
from ionic_assets.science import figures
from ionic_assets_tests.science.figures._data import (
    mae_table,
    make_bench,
    make_curves,
    make_points_and_fit,
)

HAS_BROWSER = export.find_browser() is not None
needs_browser = pytest.mark.skipif(
    not HAS_BROWSER,
    reason="no Chrome/Chromium for kaleido PNG export (apt-get install -y chromium)",
)


def write_one(fig, path, **kwargs):
    return export.write_figures([(fig, path)], **kwargs)[0]


def test_write_figure_html_only_is_self_contained(tmp_path, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_FIGURE_PNG", "0")
    out = write_one(figures.log_error_figure(make_bench()), tmp_path / "sub" / "fig3")
    assert out == {"html": str(tmp_path / "sub" / "fig3.html"), "png": None}
    html = (tmp_path / "sub" / "fig3.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # no CDN (or any external) script tag
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is inline
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["fig3.html"]  # no temp file left
    assert (tmp_path / "sub" / "fig3.html").stat().st_mode & 0o777 == 0o644  # webserver can read


def test_write_figure_without_browser_warns_and_writes_html(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(export, "find_browser", lambda: None)
    with caplog.at_level(logging.WARNING, logger=export.__name__):
        out = write_one(figures.msd_figure(make_curves()), tmp_path / "msd")
    assert out["png"] is None and os.path.exists(out["html"])
    assert "No Chrome/Chromium" in caplog.text
    assert png_markdown(out["png"]).startswith("_no PNG")


def test_find_browser_ignores_a_wrong_browser_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "nope"))
    found = export.find_browser()
    assert found is None or os.access(found, os.X_OK)
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert export.find_browser() == str(fake)


@pytest.mark.slow
def test_a_hanging_browser_times_out_without_png(tmp_path, monkeypatch):
    fake = tmp_path / "hanging-chrome"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(export, "find_browser", lambda: str(fake))
    t0 = time.monotonic()
    out = write_one(figures.msd_figure(make_curves()), tmp_path / "msd", timeout_s=1.5)
    assert time.monotonic() - t0 < 15
    assert out["png"] is None and os.path.exists(out["html"])
    assert not (tmp_path / "msd.png").exists()


@pytest.mark.slow
@needs_browser
def test_write_figures_png_with_chromium(tmp_path):
    bench = make_bench()
    points, fit = make_points_and_fit()
    items = [
        (figures.parity_figure(bench, mae_table(bench)), tmp_path / "parity"),
        (figures.method_parity_figure(bench, "MACE", "DFT"), tmp_path / "parity_MACE_vs_DFT"),
        (figures.log_error_figure(bench), tmp_path / "log_error"),
        (figures.arrhenius_figure(points, fit, "wyu", "MACE"), tmp_path / "wyu" / "arrhenius"),
        (figures.msd_figure(make_curves(), 20.0, "wyu", "MACE"), tmp_path / "wyu" / "msd"),
    ]
    out = export.write_figures(items, png=True)
    for entry in out:
        assert entry["png"] is not None, entry
        assert Path(entry["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not re.search(r"<script[^>]*\bsrc=", Path(entry["html"]).read_text())
    single = write_one(items[-1][0], tmp_path / "single", png=True, scale=1)
    data = Path(single["png"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 900  # width from the figure's export size
    assert png_markdown(single["png"]).startswith("![single](data:image/png;base64,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
