"""The DuckDB warehouse: one table per asset, with declared schemas, written so that concurrent
materializations neither lose nor duplicate rows.

Each asset owns one table keyed by its partition columns; a materialization replaces the rows of
its keys inside one transaction (delete + insert), so a re-run overwrites and two runs of
different partitions both land. The database is one DuckDB file on the artifact store
(`lib.storage`), opened through the `Warehouse` resource: one writer at a time across processes
and pods, readers on a snapshot. Columns a row leaves out (a "not estimable" row has no D) are
NULL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from ionic_assets.lib.records import RECORDS, Record
from ionic_assets.lib.storage import ArtifactStore

#: Column types of every table the assets write, from the records. Units are in the column names.
TABLES: dict[str, dict[str, str]] = {record.TABLE: record.columns() for record in RECORDS}
#: The key columns of each table: a row replaces the stored row with the same keys (None: the
#: table is replaced as a whole).
KEYS: dict[str, tuple[str, ...] | None] = {record.TABLE: record.KEY for record in RECORDS}


class Warehouse(dg.ConfigurableResource):
    """The platform's storage as a resource: the DuckDB tables and the artifact files.

    Everything lives below one base URL, `storage_url` or else IONIC_ASSETS_STORAGE_URL or else
    IONIC_ASSETS_HOME (read when used, so a pod's environment decides): the database file
    `ionic.duckdb`, and trajectories and reports through `artifacts()`.

    `get_connection()` yields a DuckDB connection to the database for writing. Writers go one at
    a time across processes and pods (the store's lock file `ionic.duckdb.lock`): a writer waits
    up to `lock_timeout_s` seconds, then fails naming the holder; the lock of a holder whose
    process is gone is broken at once on the same host, else after `stale_lock_s` seconds. On a
    local store the connection is on the real file; on object storage on a downloaded copy that
    is uploaded whole when the block ends without an exception. `get_connection(read_only=True)`
    is on a private snapshot of the last published state, taken between writers: it holds no
    lock while used, and what it changes (e.g. `ensure_tables`) is discarded.
    """

    storage_url: str | None = Field(
        default=None,
        description="Base URL or path of the artifact store (default: IONIC_ASSETS_STORAGE_URL, "
        "else IONIC_ASSETS_HOME).",
    )
    lock_timeout_s: float = Field(
        default=600.0, description="Seconds a writer waits for the database lock."
    )
    stale_lock_s: float = Field(
        default=3600.0, description="Seconds after which a lock of a vanished holder is broken."
    )

    def artifacts(self) -> ArtifactStore:
        """The artifact store that holds the database, trajectories and reports."""
        return ArtifactStore(self.storage_url) if self.storage_url else ArtifactStore.from_env()

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.artifacts().duckdb_file(
            write=not read_only, timeout_s=self.lock_timeout_s, stale_after_s=self.stale_lock_s
        ) as path:
            conn = duckdb.connect(str(path))
            try:
                yield conn
            finally:
                conn.close()  # before the file is published or the lock released


def upsert(warehouse: Warehouse, record: Record) -> None:
    """Replace the row of the record's table with the same keys, through `warehouse`."""
    with warehouse.get_connection() as conn:
        replace_rows(conn, record.TABLE, pd.DataFrame([record.as_row()]), record.KEY)


def ensure_tables(conn) -> None:
    """Create every declared table that does not exist yet."""
    for table, columns in TABLES.items():
        cols = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")


def replace_rows(conn, table: str, rows: pd.DataFrame, key_columns: Sequence[str] | None) -> None:
    """Upsert `rows` into `table`: the rows with the same keys are replaced, in one transaction.
    With `key_columns` None the whole table is replaced."""
    unknown = set(rows.columns) - set(TABLES[table])
    if unknown:
        raise ValueError(f"table {table}: undeclared columns {sorted(unknown)}")
    conn.register("incoming_rows", rows)
    try:
        conn.execute("BEGIN TRANSACTION")
        ensure_tables(conn)
        if key_columns is None:
            conn.execute(f"DELETE FROM {table}")
        else:
            match = " AND ".join(f"t.{c} = i.{c}" for c in key_columns)
            conn.execute(
                f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM incoming_rows i WHERE {match})"
            )
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("incoming_rows")


def read_rows(conn, table: str, where: str = "TRUE", params: list | None = None) -> pd.DataFrame:
    """Rows of `table` matching `where` (an empty frame with the declared columns if none); on a
    connection that may write (a snapshot will do: it creates missing tables)."""
    ensure_tables(conn)
    return conn.execute(f"SELECT * FROM {table} WHERE {where}", params or []).df()
