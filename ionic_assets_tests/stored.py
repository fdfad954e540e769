"""The command line run in a temporary data home, and what it stored there."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ionic_assets.cli import main
from ionic_assets.lib.storage import DUCKDB


@contextmanager
def cli_run(home: Path, argv: list[str], **env: str):
    """Run `ionic-assets argv` with IONIC_ASSETS_HOME=`home` (DAGSTER_HOME under it) and `env`;
    yield its exit status and the Dagster instance, the environment kept until the block ends."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IONIC_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        for name, value in env.items():
            mp.setenv(name, value)
        rc = main(argv)
        with dg.DagsterInstance.get() as instance:
            yield rc, instance


def query(home: Path, sql: str) -> pd.DataFrame:
    """`sql` on the DuckDB warehouse in `home`, read-only."""
    with duckdb.connect(str(home / DUCKDB), read_only=True) as conn:
        return conn.execute(sql).df()
