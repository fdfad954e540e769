"""Figures to files: a self-contained HTML (plotly.js inline, works offline; the primary
artifact) and a static PNG rendered by kaleido 1.x in a headless Chromium.

The browser is never downloaded: `find_browser()` takes `BROWSER_PATH` if set, then Debian's
`chromium` package (/usr/bin/chromium; `apt-get install -y chromium`), then whatever kaleido's
`choreographer` finds. Without a browser, or when rendering fails or exceeds its time limit, the
HTML is still written and "png" is None (logged warning). Each kaleido session starts a browser
(seconds), so `write_figures` renders a whole list in one session. A browser that hangs is
killed (its process group) at the time limit; the call returns a few seconds later. Every file is
written to a temporary name and renamed into place.

Environment (read when a figure is written)
    BROWSER_PATH                 the Chrome/Chromium executable to use (choreographer's variable).
    IONIC_ASSETS_FIGURE_PNG      "0"/"false"/"no"/"off" skips PNG export (HTML only).
    IONIC_ASSETS_PNG_TIMEOUT_S   wall-clock limit of one export session, seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ionic_assets.lib.settings import BROWSER_PATH, FIGURE_PNG, PNG_TIMEOUT
from ionic_assets.science.errors import InputError
from ionic_assets.science.figures.style import EXPORT_META

logger = logging.getLogger(__name__)

#: PNG export size when a figure does not say (pixels before `scale`).
DEFAULT_PNG_WIDTH = 1000
DEFAULT_PNG_HEIGHT = 700
DEFAULT_PNG_SCALE = 2.0
#: Per-figure render limit inside a session, seconds.
PER_FIGURE_TIMEOUT_S = 60.0


def find_browser() -> str | None:
    """The Chrome/Chromium executable kaleido will use, or None (nothing is ever downloaded).

    Order: `BROWSER_PATH` when it names an executable; Debian's `chromium` package
    (`chromium`/`chromium-browser` on PATH, /usr/bin/chromium); then choreographer's own search
    (a browser it installed earlier, Chrome, Edge, Brave, ...).
    """
    env = BROWSER_PATH.value()
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
    return FIGURE_PNG.value()


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
    hint = meta.get(EXPORT_META, {}) if isinstance(meta, Mapping) else {}
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
    one kaleido/Chromium session (the browser start is paid once); width/height in pixels
    default to each figure's own export size, `scale` multiplies them. Both files are written to a
    temporary name and renamed into place. `png` None follows IONIC_ASSETS_FIGURE_PNG; without a
    browser, or if rendering fails or exceeds `timeout_s` (default IONIC_ASSETS_PNG_TIMEOUT_S, its
    declared default when that is no number), "png" is None and a warning is logged. Returns
    [{"html": path, "png": path | None}].
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
            timeout_s = PNG_TIMEOUT.value()
        except InputError:  # a figure is never lost to a bad limit: the default one applies
            timeout_s = PNG_TIMEOUT.default
    jobs = [
        (fig, base.with_name(base.name + ".png"), _png_opts(fig, width, height, scale))
        for (fig, _), base in zip(items, bases, strict=True)
    ]
    for entry, written in zip(out, _render_pngs(jobs, browser, timeout_s), strict=True):
        entry["png"] = str(written) if written else None
    return out


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
