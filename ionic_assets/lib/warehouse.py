"""The warehouse: one table per asset, with declared schemas, written so that concurrent
materializations neither lose nor duplicate rows.

Each asset owns one table keyed by its partition columns; a materialization replaces the rows of
its keys inside one transaction (delete + insert), so a re-run overwrites and two runs of
different partitions both land. Where the tables live (one local DuckDB file, or DuckLake with a
PostgreSQL catalog) is the `Warehouse`'s business (`lib.warehouse_backends`), not the assets'.
Columns a row leaves out (a "not estimable" row has no D) are NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
from pydantic import BaseModel, Field

from ionic_assets.lib import settings
from ionic_assets.lib.records import RECORDS, Record
from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.lib.warehouse_backends import Backend, backend_from, reconnecting, transaction

#: Column types of every table the assets write, from the records. Units are in the column names.
TABLES: dict[str, dict[str, str]] = {record.TABLE: record.columns() for record in RECORDS}
#: The key columns of each table: a row replaces the stored row with the same keys (None: the
#: table is replaced as a whole).
KEYS: dict[str, tuple[str, ...] | None] = {record.TABLE: record.KEY for record in RECORDS}
#: The SQL value of a column added to a table written by an earlier version (default NULL).
BACKFILLS: dict[str, dict[str, str]] = {record.TABLE: record.BACKFILL for record in RECORDS}


class Warehouse(BaseModel):
    """The platform's storage: the warehouse tables and the artifact files (the assets' resource
    `warehouse` is this, `defs.resources.WarehouseResource`).

    Artifacts (trajectories, reports) live below one base URL, `storage_url` or else
    IONIC_ASSETS_STORAGE_URL or else IONIC_ASSETS_HOME. The tables live in the backend that
    `backend` or else IONIC_ASSETS_WAREHOUSE names (`lib.warehouse_backends`; settings read when
    used, so a pod's environment decides): `duckdb`, the file `ionic.duckdb` below a local
    store; `ducklake`, the catalog `ducklake_catalog` (else IONIC_ASSETS_DUCKLAKE_CATALOG) with
    its data files under `ducklake_data_path` (else IONIC_ASSETS_DUCKLAKE_DATA_PATH, else the
    store's `ducklake/` folder).

    `get_connection()` yields a connection whose default database is the warehouse;
    `get_connection(read_only=True)` a private snapshot of it (its changes are discarded).
    `run(work)` runs `work(conn)` on one, again on a new connection while the catalog server is
    unreachable (IONIC_ASSETS_WAREHOUSE_RECONNECT_S): the platform's reads and writes go there.
    """

    storage_url: str | None = Field(
        default=None,
        description="Base URL or path of the artifact store (default: IONIC_ASSETS_STORAGE_URL, "
        "else IONIC_ASSETS_HOME).",
    )
    backend: str | None = Field(
        default=None, description="duckdb or ducklake (default: IONIC_ASSETS_WAREHOUSE)."
    )
    ducklake_catalog: str | None = Field(
        default=None, description="libpq string of the DuckLake catalog database."
    )
    ducklake_data_path: str | None = Field(
        default=None, description="Folder or s3:// URL of the DuckLake data files."
    )
    busy_timeout_s: float = Field(
        default=600.0,
        description="Seconds a connection waits while another process writes the DuckDB file.",
    )

    def artifacts(self) -> ArtifactStore:
        """The artifact store that holds trajectories and reports (and the DuckDB file)."""
        return ArtifactStore(self.storage_url) if self.storage_url else ArtifactStore.from_env()

    def tables(self) -> Backend:
        """The backend that holds the tables, as configured now."""
        return backend_from(
            self.backend or settings.WAREHOUSE.value(),
            self.artifacts(),
            catalog=self.ducklake_catalog,
            data_path=self.ducklake_data_path,
            busy_timeout_s=self.busy_timeout_s,
        )

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.tables().connect(read_only=read_only) as conn:
            yield conn

    def run[T](self, work: Callable[[duckdb.DuckDBPyConnection], T], read_only: bool = False) -> T:
        """`work(conn)` on a connection (see `get_connection`), waiting out a catalog that is
        unreachable for up to IONIC_ASSETS_WAREHOUSE_RECONNECT_S seconds; `work` must be
        idempotent (an upsert by key is)."""
        return reconnecting(
            self.tables(), work, read_only=read_only, wait_s=settings.WAREHOUSE_RECONNECT.value()
        )


def upsert(
    warehouse: Warehouse, record: Record, *more: Record, key: Sequence[str] | None = None
) -> None:
    """Replace the rows of the records' table (one table) with the same keys, through
    `warehouse`, in one transaction; `key` (default: the table's) may name fewer columns, so
    that a partition's rows are replaced as a whole."""
    rows = pd.DataFrame([r.as_row() for r in (record, *more)])
    warehouse.run(lambda conn: replace_rows(conn, record.TABLE, rows, key or record.KEY))


def ensure_tables(conn) -> None:
    """Create every declared table that does not exist yet, and add the columns its record
    gained since it was made (a warehouse written by an earlier version keeps its rows; the new
    columns are NULL there, or their record's `BACKFILL` value)."""
    for table, columns in TABLES.items():
        cols = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        present = {row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()}
        for name, kind in columns.items():
            if name not in present:
                conn.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
                if name in BACKFILLS[table]:
                    conn.execute(f'UPDATE {table} SET "{name}" = {BACKFILLS[table][name]}')


def replace_rows(conn, table: str, rows: pd.DataFrame, key_columns: Sequence[str] | None) -> None:
    """Upsert `rows` into `table`: the rows with the same keys are replaced, in one transaction
    (retried when it conflicts, `warehouse_backends.transaction`). With `key_columns` None the
    whole table is replaced."""
    unknown = set(rows.columns) - set(TABLES[table])
    if unknown:
        raise ValueError(f"table {table}: undeclared columns {sorted(unknown)}")

    def write(conn) -> None:
        ensure_tables(conn)
        if key_columns is None:
            conn.execute(f"DELETE FROM {table}")
        else:
            match = " AND ".join(f"t.{c} = i.{c}" for c in key_columns)
            conn.execute(
                f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM incoming_rows i WHERE {match})"
            )
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")

    conn.register("incoming_rows", rows)
    try:
        transaction(conn, write)
    finally:
        conn.unregister("incoming_rows")


def partition_row(
    warehouse: Warehouse, table: str, method: str, material_id: str, temperature_K: float
) -> pd.Series | None:
    """The row of one method's (material, temperature) partition in `table`, None if absent."""
    where = "method = ? AND material_id = ? AND temperature_K = ?"
    params = [method, material_id, temperature_K]
    rows = warehouse.run(lambda conn: read_rows(conn, table, where, params), read_only=True)
    return None if rows.empty else rows.iloc[0]


def read_rows(conn, table: str, where: str = "TRUE", params: list | None = None) -> pd.DataFrame:
    """Rows of `table` matching `where` (an empty frame with the declared columns if none); on a
    connection that may write (a snapshot will do: it creates missing tables)."""
    ensure_tables(conn)
    return conn.execute(f"SELECT * FROM {table} WHERE {where}", params or []).df()
