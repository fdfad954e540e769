"""A throwaway PostgreSQL server on 127.0.0.1, for the tests and the warehouse benchmark.

`local_postgres()` runs Debian's `postgresql` binaries (`/usr/lib/postgresql/<N>/bin`, or the
ones on PATH): initdb in a temporary directory, a free port, trust authentication on 127.0.0.1
only, a database for the DuckLake catalog; it stops the server and removes the directory at the
end. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (`runuser`).

    python -m ionic_assets_tests.pg_local     # prints the catalog's libpq string; Ctrl-C stops it

gives the warehouse benchmark (`ionic_assets.benchmarks.warehouse_concurrency --catalog`) a
catalog to write to.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise FileNotFoundError("postgresql: no initdb (apt-get install postgresql)")
    return Path(initdb).resolve().parent


def _major(path: str) -> int:
    return int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalPostgres:
    """A running server: its data directory, port and the catalog database `dbname`."""

    bindir: Path
    datadir: Path
    port: int
    dbname: str
    user: str

    @property
    def conninfo(self) -> str:
        """libpq connection string of the catalog database."""
        return self.conninfo_of(self.dbname)

    def conninfo_of(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self, dbname: str) -> str:
        """Create the empty database `dbname`; returns its connection string."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-Upostgres", dbname)
        return self.conninfo_of(dbname)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user != pwd.getpwuid(os.getuid()).pw_name:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.datadir.parent)

    def start(self) -> None:
        log = str(self.datadir.parent / "server.log")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", log, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop (fast: open connections are cut) and start again on the same port."""
        self.stop()
        self.start()


@contextlib.contextmanager
def local_postgres(dbname: str = "ionic_warehouse") -> Iterator[LocalPostgres]:
    """A fresh server with an empty database `dbname`, stopped and removed at the end."""
    user = "postgres" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    top = Path(tempfile.mkdtemp(prefix="ionic-pg-"))
    try:
        if os.getuid() == 0:
            entry = pwd.getpwnam(user)
            os.chown(top, entry.pw_uid, entry.pw_gid)
        server = LocalPostgres(_bindir(), top / "data", _free_port(), dbname, user)
        server._run("initdb", "-D", str(server.datadir), "-U", "postgres", "--auth=trust")
        options = (
            f"listen_addresses = '127.0.0.1'\nport = {server.port}\n"
            f"unix_socket_directories = '{top}'\nfsync = off\nmax_connections = 200\n"
        )
        with open(server.datadir / "postgresql.conf", "a") as conf:
            conf.write(options)
        server.start()
        try:
            server.create_database(dbname)
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    import signal

    with local_postgres() as server:
        print(server.conninfo, flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
