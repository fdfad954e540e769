"""The used-by flows in a real browser.

`dagster dev` (webserver and daemon) runs on 127.0.0.1 over a fresh DAGSTER_HOME and
IONIC_ASSETS_HOME with the `smoke` protocol and the real CHGNet model; headless Debian Chromium
does what a person would, and the assertions are on what the pages show:

1. materialize chgnet/md_trajectories for material x temperature partitions from the launch
   dialog, read the MD progress in the run's log, and see the downstream assets follow
   (declarative automation);
2. add a temperature (1300 K) with "Add a partition", backfill it for two materials, and see
   arrhenius_fits and benchmark_table refresh with the extra point;
3. see the failed msd_reliable checks with their MSD, and the same count in the benchmark table;
4. the lineage: one chain per method with descriptions, owners, groups and kinds on the nodes,
   and the metadata of the materializations (cost, model identity, protocol, plots);
5. a batchable model (SevenNet-0): the same launch dialog, and its backfill of two partitions
   is one run whose log shows the batched engine integrating both.

The tests run in this order and build on each other. Screenshots go to test-output/ui/.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page, expect

from ionic_assets.lib.methods import load_methods
from ionic_assets.science.protocols import load_protocol
from ionic_assets_tests.stored import query
from ionic_assets_tests.ui.browser import (
    add_partition,
    chromium_page,
    markdown_table,
    metadata_row,
    metadata_value,
    number,
    pick_partitions,
    wait_for,
)
from ionic_assets_tests.ui.dagster_dev import ROOT, DagsterDev, dagster_dev, platform_env, seed

OUT = ROOT / "test-output" / "ui"
METHOD = "chgnet"
# Flow 1: one material at two temperatures; flow 2: a new temperature for two materials.
FIRST_MATERIALS, FIRST_TEMPERATURES = ["gvd"], ["1000", "1200"]
NEW_TEMPERATURE, NEW_MATERIALS = "1300", ["gvd", "fft"]
# Flow 5: a batchable model at two consecutive temperature keys (one partition range).
BATCHED_METHOD, BATCHED_TEMPERATURES = "sevenn_0", ["1200", NEW_TEMPERATURE]
# Bounds, not expectations: a chain (MD, estimates, fit, table) takes minutes on a small CPU.
CHAIN_TIMEOUT_S = 600
RUN_ID = re.compile(r"^[0-9a-f]{8}$")
PROGRESS = re.compile(r"step (\d+)/(\d+)\s+[\d.]+ ps\s+T = \d+ K\s+[\d.]+ steps/s\s+ETA [\d:]+")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@dataclass
class Platform:
    server: DagsterDev
    home: Path
    graph: dg.AssetGraph

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, sql: str):
        """Read the platform's DuckDB file (a cross-check of what the pages show), retried
        while a step holds it for writing."""

        def read():
            return (query(self.home, sql),)  # a tuple: a DataFrame has no truth value

        return wait_for(read, 60, f"DuckDB to answer {sql!r}", interval_s=1)[0]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    OUT.mkdir(parents=True, exist_ok=True)
    env = platform_env(tmp_path_factory.mktemp("ui-platform"))
    log = OUT / "dagster-dev.log"
    log.unlink(missing_ok=True)
    seed(env, [METHOD, BATCHED_METHOD], sorted(set(FIRST_MATERIALS + NEW_MATERIALS)), log)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DAGSTER_HOME", "IONIC_ASSETS_HOME"):
            mp.setenv(name, env[name])
        from ionic_assets.cli.runner import load_definitions

        graph = load_definitions().resolve_asset_graph()
    with dagster_dev(env, log) as server:
        server.wait_ready()
        yield Platform(server=server, home=Path(env["IONIC_ASSETS_HOME"]), graph=graph)


@pytest.fixture(scope="module")
def browser_page(platform, tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


@pytest.fixture
def page(browser_page, request):
    yield browser_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        browser_page.screenshot(path=OUT / f"failure-{request.node.name}.png", full_page=True)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=OUT / f"{name}.png")


def open_launch_dialog(page: Page, url: str, asset: str):
    page.goto(f"{url}/assets/{asset}")
    page.get_by_role("button", name="Materialize…").click()
    return page.get_by_role("dialog").filter(has_text="Launch runs to materialize")


def launch_backfill(page: Page, dialog, n_partitions: int) -> str:
    """Check the dialog's partition count, launch; the backfill's id from the confirmation."""
    expect(dialog.get_by_text(f"{n_partitions} partitions", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch backfill").click()
    created = page.get_by_text(re.compile(r"Created backfill \w+"))
    expect(created).to_be_visible()
    return re.search(r"Created backfill (\w+)", created.inner_text()).group(1)


def reload_until(page: Page, url: str, check, timeout_s: float, what: str):
    """Reload `url` until `check(page)` holds, as a person refreshing the page would."""

    def attempt():
        page.goto(url)
        return check(page)

    return wait_for(attempt, timeout_s, what, interval_s=5)


def backfill_runs(n_runs: int):
    """Whether a backfill's runs tab lists `n_runs` runs."""

    def listed(p: Page):
        links = p.get_by_role("link").filter(has_text=RUN_ID)
        links.first.wait_for(timeout=10_000)
        return links.count() == n_runs

    return listed


def benchmark_rows(page: Page) -> dict[str, dict[str, str]]:
    """benchmark_table's latest materialization, as its `table` metadata shows it."""
    metadata_row(page, "table").first.wait_for(timeout=10_000)
    return {r["material_id"]: r for r in markdown_table(page, "table") if r["method"] == METHOD}


def fit_metadata(page: Page, url: str, material: str) -> dict[str, str]:
    """The latest arrhenius_fits materialization of one material, from its partition page."""
    page.goto(f"{url}/assets/{METHOD}/arrhenius_fits?view=partitions&partition={material}")
    metadata_row(page, "n_temperatures").first.wait_for(timeout=10_000)
    return {
        key: metadata_value(page, key)
        for key in ("n_temperatures", "n_reliable", "arrhenius_plot")
        if metadata_row(page, key).count()
    }


def test_1_materialize_md_from_the_ui_and_downstream_follows(platform, page):
    url = platform.url
    dialog = open_launch_dialog(page, url, f"{METHOD}/md_trajectories")
    pick_partitions(page, dialog, "material", FIRST_MATERIALS)
    pick_partitions(page, dialog, "temperature_K", FIRST_TEMPERATURES)
    shot(page, "launch-dialog")
    backfill = launch_backfill(page, dialog, len(FIRST_MATERIALS) * len(FIRST_TEMPERATURES))

    # The backfill's runs, one per partition; the first one's log shows the MD progress.
    runs_url = f"{url}/runs/b/{backfill}?tab=runs"
    n_runs = len(FIRST_MATERIALS) * len(FIRST_TEMPERATURES)

    reload_until(page, runs_url, backfill_runs(n_runs), 180, "the backfill to launch its runs")
    for partition in (f"{FIRST_MATERIALS[0]}|{t}" for t in FIRST_TEMPERATURES):
        expect(page.get_by_text(f"partition: {partition}").first).to_be_visible()
    page.get_by_role("link").filter(has_text=RUN_ID).first.click()
    expect(page.get_by_text("md_trajectories").first).to_be_visible()
    n_steps = load_protocol("smoke").n_steps

    def progress(p: Page):
        p.get_by_placeholder("Filter…").fill("steps/s")
        lines = p.get_by_text(PROGRESS)
        lines.first.wait_for(timeout=10_000)
        steps = [int(PROGRESS.search(t).group(1)) for t in lines.all_inner_texts()]
        return steps if steps and max(steps) == n_steps else None

    run_url = page.url
    steps = reload_until(page, run_url, progress, CHAIN_TIMEOUT_S, "the MD progress in the log")
    assert steps == sorted(steps) and len(steps) >= 2, steps
    shot(page, "run-log-progress")

    # Downstream follows by itself: diffusion_estimates, then arrhenius_fits, then the table.
    rows = reload_until(
        page,
        f"{url}/assets/benchmark_table",
        lambda p: (r := benchmark_rows(p)).get("gvd", {}).get("n_temperatures") == "2" and r,
        CHAIN_TIMEOUT_S,
        "benchmark_table to show gvd at two temperatures",
    )
    assert rows["gvd"]["formula"] == "Li3N"
    fit = fit_metadata(page, url, "gvd")
    assert fit["n_temperatures"] == "2"
    page.goto(f"{url}/runs")
    launched = page.get_by_text("ionic_assets_automation")
    expect(launched.first).to_be_visible()


def test_2_add_a_temperature_and_backfill_it(platform, page):
    url = platform.url
    before = fit_metadata(page, url, "gvd")
    dialog = open_launch_dialog(page, url, f"{METHOD}/md_trajectories")
    add_partition(page, dialog, "temperature_K", NEW_TEMPERATURE)
    pick_partitions(page, dialog, "material", NEW_MATERIALS)
    pick_partitions(page, dialog, "temperature_K", [NEW_TEMPERATURE])
    launch_backfill(page, dialog, len(NEW_MATERIALS))

    n_gvd = int(before["n_temperatures"]) + 1
    rows = reload_until(
        page,
        f"{url}/assets/benchmark_table",
        lambda p: (
            (r := benchmark_rows(p)).get("gvd", {}).get("n_temperatures") == str(n_gvd)
            and r.get("fft", {}).get("n_temperatures") == "1"
            and r
        ),
        CHAIN_TIMEOUT_S,
        f"benchmark_table to show gvd at {n_gvd} temperatures and fft at 1",
    )
    assert set(rows) == {"gvd", "fft"}
    assert fit_metadata(page, url, "gvd")["n_temperatures"] == str(n_gvd)
    assert fit_metadata(page, url, "fft")["n_temperatures"] == "1"

    # The partitions view: the new temperature column, filled for both materials.
    page.goto(f"{url}/assets/{METHOD}/md_trajectories?view=partitions")
    expect(page.get_by_title(NEW_TEMPERATURE, exact=True).first).to_be_visible()
    n_done = len(FIRST_TEMPERATURES) + len(NEW_MATERIALS)
    expect(page.get_by_text(f"Materialized ({n_done})")).to_be_visible()
    shot(page, "partitions")

    stored = platform.query("SELECT material_id, n_temperatures FROM benchmark_table")
    assert dict(zip(stored.material_id, stored.n_temperatures, strict=True)) == {
        "gvd": n_gvd,
        "fft": 1,
    }


def test_3_failed_msd_checks_show_their_msd_and_match_the_benchmark(platform, page):
    url = platform.url
    page.goto(f"{url}/assets/{METHOD}/diffusion_estimates?view=checks")
    expect(page.get_by_text("msd_reliable").first).to_be_visible()
    page.get_by_text("msd_reliable").first.click()  # the asset has other checks too
    page.get_by_role("tab", name="Execution history").click()
    estimates = platform.query(
        f"SELECT material_id, temperature_K, msd_max_A2, reliable FROM diffusion_estimates "
        f"WHERE method = '{METHOD}'"
    )
    shown: dict[str, tuple[str, float]] = {}
    for est in estimates.itertuples():
        partition = f"{est.material_id}|{est.temperature_K:g}"
        row = page.get_by_role("row").filter(has_text=partition).first
        expect(row).to_be_visible()
        text = row.inner_text()
        status = "Passed" if "Passed" in text else "Failed" if "Failed" in text else text
        msd = re.search(r"max Li MSD ([\d.]+) Å² vs threshold 20 Å²", text)
        assert msd, text
        shown[partition] = (status, float(msd.group(1)))
        assert shown[partition] == (
            "Passed" if est.reliable else "Failed",
            round(est.msd_max_A2, 1),
        ), (partition, text)
    failed = [p for p, (status, msd) in shown.items() if status == "Failed"]
    assert failed and all(shown[p][1] < 20 for p in failed)
    shot(page, "check-failed")

    # The check's own page: its latest failure with the exact MSD in its metadata.
    page.get_by_role("tab", name="Overview").last.click()
    expect(page.get_by_text("Failed").first).to_be_visible()
    msd_shown = number(metadata_value(page, "msd_max_A2"))
    assert any(abs(msd_shown - m) < 1e-9 for m in estimates.msd_max_A2), msd_shown

    # The benchmark table counts the same reliable temperatures.
    page.goto(f"{url}/assets/benchmark_table")
    rows = benchmark_rows(page)
    stored = platform.query("SELECT * FROM benchmark_table").set_index("material_id")
    for material, row in rows.items():
        mine = [s for p, (s, _) in shown.items() if p.startswith(f"{material}|")]
        assert int(row["n_reliable"]) == mine.count("Passed") == stored.n_reliable[material]
        assert int(row["n_temperatures"]) == len(mine) == stored.n_temperatures[material]


def expand_all_groups(page: Page) -> None:
    """The graph's settings menu, "Expand all groups" (not the navigation's user settings)."""
    settings = page.get_by_role("button").filter(has=page.get_by_role("img", name="settings"))
    settings.filter(has_not_text="Settings").click()
    groups = re.compile("(Expand|Collapse) all groups")
    toggle = page.get_by_role("menuitem").filter(has_text=groups)
    if "Expand" in toggle.inner_text():  # else already expanded: remembered between pages
        toggle.click()
    page.keyboard.press("Escape")
    expect(toggle).to_be_hidden()


def _asset_path(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def test_4_lineage_with_descriptions_owners_kinds_and_metadata(platform, page):
    url, graph = platform.url, platform.graph
    methods = [m.key for m in load_methods().values()]
    chain = [
        dg.AssetKey("obelix_subset"),
        dg.AssetKey("supercells"),
        dg.AssetKey([METHOD, "relaxed_cells"]),
        dg.AssetKey([METHOD, "md_trajectories"]),
        dg.AssetKey([METHOD, "diffusion_estimates"]),
        dg.AssetKey([METHOD, "arrhenius_fits"]),
        dg.AssetKey("benchmark_table"),
    ]

    # Each node's page: description, group, owners, kinds, and its neighbours in the chain.
    for upstream, key, downstream in zip([None, *chain], chain, [*chain[1:], None], strict=False):
        node = graph.get(key)
        page.goto(f"{url}/assets/{_asset_path(key)}")
        expect(page.get_by_text(node.description).first).to_be_visible()
        definition = page.locator("div")
        for label in ("Group", "Code location", "Owners", "Kinds"):
            definition = definition.filter(has=page.get_by_text(label, exact=True))
        definition = definition.last
        text = definition.inner_text().lower()
        assert node.group_name in text
        for owner in node.owners:
            assert owner.removeprefix("team:") in text
        for kind in node.kinds:
            assert kind.lower() in text
        lineage = (
            page.locator("div")
            .filter(has=page.get_by_text("Upstream assets", exact=True))
            .filter(has=page.get_by_text("Downstream assets", exact=True))
            .last
        )
        for neighbour in (upstream, downstream):
            if neighbour is not None and neighbour != dg.AssetKey("obelix_subset"):
                expect(lineage).to_contain_text(" / ".join(neighbour.path))
    # One chain per method: every method's fit feeds the table, every md reads the supercells.
    page.goto(f"{url}/assets/benchmark_table")
    for method in methods:
        expect(page.get_by_text(f"{method} / arrhenius_fits").first).to_be_visible()

    # The whole graph, every group expanded: one group per method.
    page.goto(f"{url}/asset-groups")
    expand_all_groups(page)
    for group in ["materials", "benchmark", *methods]:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    shot(page, "graph-all-methods")

    # One method's chain, fitted to the window (descriptions, owners and kinds are checked on
    # each node's page above; the zoomed-out graph shows names only).
    selection = f'group:"materials" or group:"{METHOD}" or group:"benchmark"'
    page.goto(f"{url}/asset-groups~{urllib.parse.quote(selection)}/")
    expand_all_groups(page)
    for key in chain:
        name = key.path[-1]  # zoomed out, long names are cut in the middle: "diffusi…_estimates"
        shown = re.compile(f"^{re.escape(name[:5])}(.*…)?.*{re.escape(name[-5:])}$")
        expect(page.get_by_text(shown).first).to_be_visible()
    shot(page, "graph")

    # The metadata of a materialization: cost, model identity, protocol.
    page.goto(f"{url}/assets/{METHOD}/md_trajectories")
    metadata_row(page, "wall_time_s").first.wait_for()
    assert number(metadata_value(page, "wall_time_s")) > 0
    assert number(metadata_value(page, "steps_per_s")) > 0
    assert metadata_value(page, "protocol") == "smoke"
    model = metadata_value(page, "model")
    assert '"family": "chgnet"' in model and re.search(r'"weights_sha256": "[0-9a-f]{64}"', model)
    for key in ("device", "cpu_hours", "peak_host_memory_GiB", "n_frames", "seed"):
        assert metadata_value(page, key), key
    shot(page, "md-metadata")

    # Plots: the fit's HTML figure on disk and its PNG preview shown inline.
    fit = fit_metadata(page, url, "gvd")
    assert fit["arrhenius_plot"].endswith("arrhenius.html")
    assert os.path.isfile(fit["arrhenius_plot"])
    metadata_row(page, "arrhenius_preview").first.get_by_text("Show Markdown").click()
    image = page.get_by_role("dialog").get_by_role("img", name="arrhenius")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 100
    shot(page, "arrhenius-preview")
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.goto(f"{url}/assets/benchmark_table")
    metadata_row(page, "parity_plot").first.wait_for()
    parity = metadata_value(page, "parity_plot")
    assert parity.endswith("parity.html") and os.path.isfile(parity), parity


def test_5_a_batchable_models_backfill_is_one_batched_run(platform, page):
    url = platform.url
    dialog = open_launch_dialog(page, url, f"{BATCHED_METHOD}/md_trajectories")
    pick_partitions(page, dialog, "material", ["gvd"])
    pick_partitions(page, dialog, "temperature_K", BATCHED_TEMPERATURES)
    backfill = launch_backfill(page, dialog, len(BATCHED_TEMPERATURES))
    runs_url = f"{url}/runs/b/{backfill}?tab=runs"
    reload_until(page, runs_url, backfill_runs(1), 180, "the backfill to launch one run")
    page.get_by_role("link").filter(has_text=RUN_ID).first.click()

    def batch_progress(p: Page):
        p.get_by_placeholder("Filter…").fill("running (gvd")
        line = p.get_by_text(re.compile(r"2 running \(gvd 1200 K [\d.]+ K, gvd 1300 K"))
        line.first.wait_for(timeout=10_000)
        return True

    reload_until(page, page.url, batch_progress, CHAIN_TIMEOUT_S, "the batch's progress")
    shot(page, "batched-run-log")
    rows = wait_for(
        lambda: (r := platform.query(BATCHED_ROWS)).shape[0] == 2 and (r,),
        CHAIN_TIMEOUT_S,
        "both partitions' md_trajectories rows",
        interval_s=5,
    )[0]
    assert list(rows.temperature_K) == [1200.0, 1300.0]
    assert set(rows.engine) == {"torch-sim"}
    page.goto(f"{url}/assets/{BATCHED_METHOD}/md_trajectories?view=partitions")
    expect(page.get_by_text("Materialized (2)")).to_be_visible()


BATCHED_ROWS = (
    "SELECT temperature_K, engine FROM md_trajectories WHERE method = 'sevenn-0' "
    "ORDER BY temperature_K"
)
