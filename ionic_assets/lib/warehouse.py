"""Writing asset rows to DuckDB so that concurrent materializations neither lose nor duplicate.

Each asset owns one table keyed by its partition columns; a materialization replaces the rows of
its keys inside one transaction (delete + insert), so a re-run overwrites and two runs of
different partitions both land. DuckDB lets one process write at a time; DuckDBResource retries
the connection while another holds the lock.
"""

from __future__ import annotations

import pandas as pd


def replace_rows(conn, table: str, rows: pd.DataFrame, key_columns: list[str]) -> None:
    """Upsert `rows` into `table` (created from the frame's schema on first write)."""
    conn.register("incoming_rows", rows)
    try:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming_rows LIMIT 0")
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
    """Rows of `table` matching `where`; an empty frame when the table does not exist yet."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()[0]
    if not exists:
        return pd.DataFrame()
    return conn.execute(f"SELECT * FROM {table} WHERE {where}", params or []).df()
