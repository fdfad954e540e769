"""Where the warehouse tables live: one local DuckDB file, or DuckLake with a PostgreSQL catalog.

`settings.WAREHOUSE` (IONIC_ASSETS_WAREHOUSE) chooses:

- `duckdb` (default): the embedded file `ionic.duckdb` below the local artifact store. No
  server. DuckDB lets one process write the file at a time and holds its own lock on it, which
  the kernel releases when that process dies (so nothing is ever stale); a second process waits
  here until the file is free, up to `busy_timeout_s`.
- `ducklake`: DuckDB's lakehouse format. The catalog (schemas, snapshots, transactions) is a
  PostgreSQL database (`settings.DUCKLAKE_CATALOG`, a libpq connection string: password and
  host may come from PGPASSWORD/PGHOST), the data Parquet files under a path or `s3://` URL
  (`settings.DUCKLAKE_DATA_PATH`). Many processes and pods commit concurrently; a commit
  that conflicts with another's is retried (`transaction`).

A write connection's default database is the warehouse. A read-only one is a private snapshot
whose changes are discarded: on the DuckDB file, the tables and views copied into memory with the
file attached only for the copy (so a reader never keeps a writer waiting); on DuckLake, one
transaction on one catalog snapshot, rolled back at the end. Extensions come from the
`duckdb-ext-*` packages' `extensions` folder, never downloaded; loading them takes about half a
second, so each process keeps one DuckDB instance per lake, with the lake attached, and hands
out a cursor of it per connection (after checking that it still reaches the catalog).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import duckdb_ext
import tenacity

from ionic_assets.lib import settings
from ionic_assets.lib.storage import DUCKDB, ArtifactStore

#: The two backends, by the name IONIC_ASSETS_WAREHOUSE takes.
BACKENDS = ("duckdb", "ducklake")
#: Seconds a conflicting DuckLake transaction is retried for before its error is raised.
RETRY_FOR_S = 300.0
#: DuckLake commits of up to this many rows go into the catalog itself, not a Parquet file each
#: (an asset's upsert is one row: no small-file pile-up, a cheaper commit).
INLINE_ROWS = 100
#: DuckLake's own commit retries (a snapshot id taken by another writer meanwhile): 10 ms
#: doubling 5 times; past them `transaction` retries the whole transaction with jitter.
DUCKLAKE_RETRY_SQL = (
    "SET GLOBAL ducklake_retry_wait_ms = 10; SET GLOBAL ducklake_retry_backoff = 2;"
    "SET GLOBAL ducklake_max_retry_count = 5"
)

#: How the postgres extension words a catalog connection that is gone or not there yet: refused,
#: cut, a server shutting down or starting up, or a query whose connection died under it (its
#: transaction then aborted).
_UNREACHABLE = re.compile(
    r"server closed the connection|could not connect|connection refused|connection to server"
    r"|terminating connection|no connection to the server|Failed to get connection"
    r"|could not receive data|connection reset|database system is (shutting down|starting up)"
    r"|unsuccessful query result|Current transaction is aborted",
    re.IGNORECASE,
)


#: How the postgres extension words a failed catalog query (its connection was cut, mostly).
_CATALOG_QUERY = "Failed to execute query"


class WarehouseUnavailable(OSError):
    """The warehouse cannot be reached (catalog down, file busy too long, misconfigured). An
    OSError, so an asset reports it in one line (`defs.failures.clear_failure`)."""


class CatalogUnreachable(WarehouseUnavailable):
    """The DuckLake catalog server is not answering now (stopped, restarting, cut off): worth
    waiting for, unlike a misconfiguration (`reconnecting`)."""


def extension_directory() -> str:
    """The `extensions` folder the duckdb-ext-* packages install into (DuckDB's layout
    `<dir>/v<version>/<platform>/<name>.duckdb_extension`)."""
    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def memory_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that loads extensions from the packages only."""
    return duckdb.connect(
        config={
            "extension_directory": extension_directory(),
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
        }
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class EmbeddedFile:
    """The warehouse as one local DuckDB file at `path`."""

    path: Path
    busy_timeout_s: float = 600.0

    def describe(self) -> str:
        return f"warehouse DuckDB file {self.path}"

    def attach(self, conn, alias: str, read_only: bool) -> bool:
        """Attach the file as `alias`, waiting while another process has it open. Read-only
        and no file yet: attach nothing, return False."""
        if read_only and not self.path.is_file():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = " (READ_ONLY)" if read_only else ""
        deadline = time.monotonic() + self.busy_timeout_s
        delay_s = 0.005
        while True:
            try:
                conn.execute(f"ATTACH {_sql_text(str(self.path))} AS {alias}{mode}")
                return True
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseUnavailable(f"{self.describe()}: {_first_line(exc)}") from None
                if time.monotonic() >= deadline:
                    raise WarehouseUnavailable(
                        f"{self.describe()}: still in use after {self.busy_timeout_s:g} s "
                        f"({_first_line(exc)})"
                    ) from None
            time.sleep(random.uniform(0.5, 1.0) * delay_s)
            delay_s = min(2 * delay_s, 0.2)

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection on the file (read_only: on a copy in memory of its tables)."""
        conn = memory_connection()
        try:
            if not read_only:
                self.attach(conn, "warehouse", read_only=False)
                conn.execute("USE warehouse")
            elif self.attach(conn, "stored", read_only=True):
                conn.execute("COPY FROM DATABASE stored TO memory")
                conn.execute("DETACH stored")
            yield conn
        finally:
            conn.close()


#: This process's DuckDB instance of each lake, with the lake attached as `warehouse`.
_LAKES: dict[tuple[int, DuckLake], duckdb.DuckDBPyConnection] = {}


@dataclass(frozen=True)
class DuckLake:
    """The warehouse as DuckLake: PostgreSQL catalog `catalog` (libpq connection string), data
    files under `data_path` (a local path or s3:// URL)."""

    catalog: str
    data_path: str

    def describe(self) -> str:
        shown = re.sub(r"password=\S+", "password=***", self.catalog)
        return f"warehouse catalog postgres:{shown}"

    def attach(self, conn, alias: str, read_only: bool) -> bool:
        """Attach the lake as `alias` (created in the catalog when new). Read-only and no lake
        in the catalog yet: attach nothing, return False."""
        conn.execute("LOAD ducklake; LOAD postgres")
        if self.data_path.startswith(("s3://", "gs://", "gcs://", "r2://")):
            conn.execute("LOAD httpfs")
            _s3_secret(conn)
        data_path = self.data_path.rstrip("/") + "/"
        options = f"DATA_PATH {_sql_text(data_path)}, DATA_INLINING_ROW_LIMIT {INLINE_ROWS}"
        options += ", READ_ONLY" if read_only else ""
        lake = _sql_text(f"ducklake:postgres:{self.catalog}")
        try:
            with self.errors():
                _attach_racing_creators(conn, f"ATTACH {lake} AS {alias} ({options})")
        except duckdb.InvalidInputException as exc:
            if read_only and "does not exist" in str(exc):
                return False
            raise WarehouseUnavailable(f"{self.describe()}: {_first_line(exc)}") from None
        return True

    def _instance(self) -> duckdb.DuckDBPyConnection:
        """This process's instance of the lake; a kept one is first checked to still reach
        the catalog (its connections die with a restarted server) and replaced if not."""
        key = (os.getpid(), self)  # never a forked parent's instance
        kept = _LAKES.pop(key, None)
        if kept is not None:
            try:
                kept.execute("FROM ducklake_current_snapshot('warehouse')")
                _LAKES[key] = kept
                return kept
            except duckdb.Error:
                kept.close()
        conn = memory_connection()
        try:
            self.attach(conn, "warehouse", read_only=False)
            conn.execute(DUCKLAKE_RETRY_SQL)
        except BaseException:
            conn.close()
            raise
        _LAKES[key] = conn
        return conn

    def close(self) -> None:
        """Close this process's instance of the lake, with its catalog connections."""
        kept = _LAKES.pop((os.getpid(), self), None)
        if kept is not None:
            kept.close()

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on this process's instance of the lake (read_only: in one transaction,
        rolled back at the end). A catalog lost meanwhile is one line naming it."""
        with self.errors():
            cursor = self._instance().cursor()
            try:
                cursor.execute("USE warehouse")
                if read_only:
                    cursor.execute("BEGIN TRANSACTION")
                yield cursor
            finally:
                if read_only:
                    with contextlib.suppress(duckdb.Error):
                        cursor.execute("ROLLBACK")
                cursor.close()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Re-raise a lost or refused catalog connection, or a catalog query that failed, as
        one line naming the catalog (a conflict stays itself: `transaction` retries it)."""
        try:
            yield
        except duckdb.Error as exc:
            text = str(exc)
            if is_conflict(exc) or not (_UNREACHABLE.search(text) or _CATALOG_QUERY in text):
                raise
            raise CatalogUnreachable(f"{self.describe()}: lost ({_first_line(exc)})") from None


def _attach_racing_creators(conn, attach_sql: str, attempts: int = 20) -> None:
    """ATTACH a lake; when another process is creating the same new catalog this instant (its
    tables "already exist" halfway), attach again once it is done."""
    for attempt in range(attempts):
        try:
            conn.execute(attach_sql)
            return
        except duckdb.Error as exc:
            racing = "Failed to initialize DuckLake" in str(exc) and attempt + 1 < attempts
            if not racing:
                raise
        time.sleep(random.uniform(0.05, 0.2))


def _s3_secret(conn) -> None:
    """An S3 secret from the standard AWS variables, when set (else DuckDB's defaults)."""
    given = {key: v.value() for key, v in settings.S3_CREDENTIALS.items() if v.value()}
    if "ENDPOINT" in given:
        endpoint = given["ENDPOINT"]
        given["ENDPOINT"] = re.sub(r"^https?://", "", endpoint)
        given["USE_SSL"] = "false" if endpoint.startswith("http://") else "true"
        given["URL_STYLE"] = "path"
    if given:
        fields = ", ".join(f"{key} {_sql_text(value)}" for key, value in given.items())
        conn.execute(f"CREATE OR REPLACE SECRET ionic_s3 (TYPE s3, {fields})")


Backend = EmbeddedFile | DuckLake


def backend_from(
    name: str,
    store: ArtifactStore,
    *,
    catalog: str | None = None,
    data_path: str | None = None,
    busy_timeout_s: float = 600.0,
) -> Backend:
    """The backend `name` (one of BACKENDS) beside the artifact store `store`; DuckLake's
    catalog and data path default to the settings (`lib.settings`)."""
    if name == "duckdb":
        path = store.local_path(DUCKDB)
        if path is None:
            raise WarehouseUnavailable(
                f"warehouse duckdb: the DuckDB file needs a local store, not {store.base_url} "
                "(with object storage use IONIC_ASSETS_WAREHOUSE=ducklake)"
            )
        return EmbeddedFile(path, busy_timeout_s)
    if name == "ducklake":
        default = store.path("ducklake") if store.is_local else store.url("ducklake")
        return DuckLake(
            catalog or settings.DUCKLAKE_CATALOG.value(),
            data_path or settings.DUCKLAKE_DATA_PATH.value() or default,
        )
    raise WarehouseUnavailable(f"IONIC_ASSETS_WAREHOUSE={name!r}: one of {', '.join(BACKENDS)}")


_CONFLICT = re.compile(r"conflict|could not serialize|maximum retry count", re.IGNORECASE)


def is_conflict(exc: BaseException) -> bool:
    """A commit refused because another transaction changed the same data or catalog rows
    first (DuckLake's conflict check, or PostgreSQL's serialization failure past DuckLake's own
    retries)."""
    return isinstance(exc, duckdb.TransactionException) and bool(_CONFLICT.search(str(exc)))


def transaction(conn, work: Callable[[duckdb.DuckDBPyConnection], object]) -> object:
    """Run `work(conn)` in one transaction and commit; returns what `work` returned.

    On a conflicting commit (DuckLake: another writer changed the same table files first) the
    transaction is rolled back and run again from the start on the newer snapshot, after a
    random backoff growing from 20 ms to at most 2 s, for up to RETRY_FOR_S seconds: the
    whole transaction commits once or not at all, so nothing is lost or written twice.
    Any other error rolls back and is raised.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_conflict),
        stop=tenacity.stop_after_delay(RETRY_FOR_S),
        wait=tenacity.wait_random_exponential(multiplier=0.02, max=2.0),
        reraise=True,
    )
    return retrying(_commit_once, conn, work)


def _commit_once(conn, work: Callable[[duckdb.DuckDBPyConnection], object]) -> object:
    conn.execute("BEGIN TRANSACTION")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    return result


def reconnecting(
    backend: Backend,
    work: Callable[[duckdb.DuckDBPyConnection], object],
    *,
    read_only: bool,
    wait_s: float,
) -> object:
    """`work(conn)` on a connection of `backend`, run again from the start on a new connection
    while the catalog is unreachable (`CatalogUnreachable`), with a random backoff of at most
    2 s, for up to `wait_s` seconds; then the last one-line error is raised. `work` must be
    idempotent (the warehouse's upserts are, by key): a commit whose answer was lost with the
    connection may have landed."""

    def attempt() -> object:
        with backend.connect(read_only=read_only) as conn:
            return work(conn)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(CatalogUnreachable),
        stop=tenacity.stop_after_delay(wait_s),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=2.0),
        reraise=True,
    )
    return retrying(attempt)
