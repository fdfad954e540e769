"""Debian's Chromium, headless, driven by Playwright (no browser download), and the few page
actions the flows share: picking partitions in the launch dialog, reading metadata tables, and
waiting for what a person would wait for by reloading the page."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import Locator, Page, sync_playwright

CHROMIUM = os.environ.get("IONIC_ASSETS_CHROMIUM", "/usr/bin/chromium")
# Headless, and quiet on a closed network: no background or component-update traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")


@contextlib.contextmanager
def chromium_page(user_data_dir: Path, width: int = 1600, height: int = 1000) -> Iterator[Page]:
    """One page of a fresh Chromium profile; the browser is closed on exit."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()


def wait_for[T](
    check: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 3.0
) -> T:
    """Poll `check` until it returns something truthy; a timeout reports its last outcome."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except AssertionError as exc:
            last = exc
        except Exception as exc:  # a page still loading: retry until the deadline
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}; last: {last!r}")
        time.sleep(interval_s)


def dismiss_popover(page: Page, dialog: Locator) -> None:
    """Close an open partition picker by clicking the dialog's title, as a person would."""
    dialog.get_by_text("Launch runs to materialize").click()
    page.locator("[data-radix-popper-content-wrapper]").wait_for(state="hidden")


def pick_partitions(page: Page, dialog: Locator, dimension: str, keys: list[str]) -> None:
    """Tick `keys` in the launch dialog's picker of one partition dimension."""
    section = (
        dialog.locator("div")
        .filter(has=page.get_by_text(dimension, exact=True))
        .filter(has=page.locator('[aria-haspopup="dialog"]'))
        .last
    )
    section.locator('[aria-haspopup="dialog"]').click()
    popover = page.locator("[data-radix-popper-content-wrapper]")
    search = popover.get_by_placeholder("Filter partitions")
    for key in keys:
        search.fill(key)
        popover.get_by_role("menuitem").filter(has=page.get_by_title(key, exact=True)).click()
    search.fill("")
    dismiss_popover(page, dialog)


def add_partition(page: Page, dialog: Locator, dimension: str, key: str) -> None:
    """The launch dialog's "Add a partition" link of one dimension: type the key, save."""
    section = (
        dialog.locator("div")
        .filter(has=page.get_by_text(dimension, exact=True))
        .filter(has=page.get_by_text("Add a partition", exact=True))
        .last
    )
    section.get_by_text("Add a partition", exact=True).click()
    adder = page.get_by_role("dialog").filter(has_text=f"Add a partition for {dimension}")
    adder.get_by_placeholder("name").fill(key)
    adder.get_by_role("button", name="Save").click()
    adder.wait_for(state="hidden")


def metadata_row(page: Page, key: str) -> Locator:
    """The row of a metadata table whose key cell reads `key`."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))


def metadata_value(page: Page, key: str) -> str:
    """The text of a metadata entry's value, as the asset page shows it."""
    cells = metadata_row(page, key).first.locator(":scope > td").all_inner_texts()
    values = [c.strip() for c in cells[1:] if c.strip()]  # after the key: [timestamp,] value
    return values[-1] if values else ""


def markdown_table(page: Page, key: str) -> list[dict[str, str]]:
    """A Markdown-table metadata entry as a list of row dicts. The UI renders a short one inline
    and puts a longer one behind "[Show Markdown]", in a dialog that is closed again here."""
    row = metadata_row(page, key).first
    toggle = row.get_by_text("Show Markdown")
    dialog = page.get_by_role("dialog")
    collapsed = toggle.count() > 0
    if collapsed:
        toggle.click()
        table = dialog.locator("table").first
    else:
        table = row.locator("table").first
    table.wait_for()
    header = [c.strip() for c in table.locator("thead th").all_inner_texts()]
    rows = []
    for body_row in table.locator("tbody tr").all():
        cells = [c.strip() for c in body_row.locator("td").all_inner_texts()]
        rows.append(dict(zip(header, cells, strict=True)))
    if collapsed:
        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="hidden")
    return rows


def number(text: str) -> float:
    match = re.search(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text, re.I)
    assert match, f"no number in {text!r}"
    return float(match.group())
