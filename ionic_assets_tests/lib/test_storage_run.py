"""The benchmark chain on shared storage other than the data home, for real (CHGNet, the smoke
protocol, one material at two temperatures, through Dagster): trajectories and figures land on
the store, the tables in the warehouse backend beside it, and nothing but Dagster's own storage
under IONIC_ASSETS_HOME.

memory:// stands for object storage (no local disk assumed), with the cluster's warehouse:
DuckLake on a real PostgreSQL catalog. Two temperatures, so the Arrhenius fit and every figure
are made. A file:// URL stands for a volume mounted elsewhere than the data home, with the
embedded DuckDB file on it: one temperature (the Arrhenius fit is then "not estimable"), no PNGs,
to keep it short.
"""

import uuid

import dagster as dg
import fsspec
import pytest

from ionic_assets.cli.runner import BenchmarkRun
from ionic_assets.lib.reports import export
from ionic_assets.lib.storage import DUCKDB, STORAGE_URL_ENV, ArtifactStore, engine_workdir
from ionic_assets.lib.warehouse import Warehouse, read_rows
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.trajectory_store import frame_count

MATERIAL = "gvd"
TEMPERATURES = {"memory": ["1000", "1200"], "file": ["1000"]}


@pytest.fixture(params=["memory", "file"])
def storage_url(request, tmp_path, monkeypatch):
    if request.param == "memory":
        url = f"memory://ionic-test-{uuid.uuid4().hex}"
        request.getfixturevalue("ducklake")  # its data files in a local folder
    else:
        url = f"file://{tmp_path}/shared"
        monkeypatch.setenv("IONIC_ASSETS_FIGURE_PNG", "0")  # PNGs are checked on memory://
    monkeypatch.setenv(STORAGE_URL_ENV, url)
    yield url, TEMPERATURES[request.param]
    if request.param == "memory":
        fs = fsspec.filesystem("memory")
        root = ArtifactStore(url).root
        if fs.exists(root):
            fs.rm(root, recursive=True)


@pytest.mark.slow
def test_chain_writes_only_to_the_store(home, instance, storage_url):
    storage_url, temperatures = storage_url
    run = BenchmarkRun(
        instance=instance,
        materials=[MATERIAL],
        temperatures=temperatures,
        methods=["chgnet"],
        protocol="smoke",
    )
    assert run.execute(report=lambda line: None) == []

    # The data home holds Dagster's instance only.
    assert sorted(p.name for p in home.iterdir()) == ["dagster"]

    store = ArtifactStore(storage_url)
    assert store.exists(DUCKDB) == store.is_local  # the file on a volume; else the lake
    with Warehouse().get_connection(read_only=True) as conn:
        md = read_rows(conn, "md_trajectories")
        bench = read_rows(conn, "benchmark_table")
        estimates = read_rows(conn, "diffusion_estimates")
    assert sorted(md["temperature_K"]) == [float(t) for t in temperatures]
    assert len(estimates) == len(temperatures)
    n_frames = load_protocol("smoke").n_frames
    for url in md["trajectory_path"]:
        rel = store.relpath(url)
        assert url == store.url(rel) and rel.startswith("trajectories/chgnet/smoke/gvd/")
        assert store.exists(f"{rel}.ckpt") and not store.exists(engine_workdir(rel))
        with store.local_copy(rel, "r") as path:
            assert frame_count(path) == n_frames
    row = bench.set_index("material_id").loc[MATERIAL]
    assert row["n_temperatures"] == len(temperatures)
    assert row["sigma_exp_mS_cm"] == pytest.approx(0.5767)

    png = store.is_local is False and export.find_browser() is not None
    for rel in ("reports/parity.html", "reports/log_error.html", "reports/chgnet/gvd/msd.html"):
        assert b"plotly" in store.read_bytes(rel)[:200_000]
        assert store.exists(rel.replace(".html", ".png")) == png
    event = instance.get_latest_materialization_event(dg.AssetKey("benchmark_table"))
    metadata = event.asset_materialization.metadata
    assert metadata["parity_plot"].value == store.url("reports/parity.html")
    assert ("parity_preview" in metadata) == png
