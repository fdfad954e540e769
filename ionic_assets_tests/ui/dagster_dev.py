"""`dagster dev` (webserver + daemon) on 127.0.0.1 for the browser tests, always stopped again.

The server runs in its own session (`start_new_session`), so it and everything it starts (code
server, daemon, run workers, step processes) can be found by session id and killed, even when a
test fails half-way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# No telemetry or newsletter pop-up; at most two runs at once, so a small machine keeps up.
DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def platform_env(root: Path, protocol: str = "smoke") -> dict[str, str]:
    """Environment of a fresh platform under `root`: its own DAGSTER_HOME and IONIC_ASSETS_HOME."""
    home = root / "home"
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "IONIC_ASSETS_"))}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        IONIC_ASSETS_HOME=str(home),
        IONIC_ASSETS_PROTOCOL=protocol,
        # The batched engine for a batchable model, whatever this CPU's probe would choose.
        IONIC_ASSETS_MD_ENGINE="torch-sim",
        # Two runs share two cores: one torch thread each (two threads each thrash badly).
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def seed(env: dict[str, str], methods: list[str], materials: list[str], log: Path) -> None:
    """Materialize obelix_subset, the materials' supercells and the methods' relaxed_cells (a
    setup step, not a UI flow)."""
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "ionic_assets_tests.ui.seed", ",".join(methods), *materials],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == sid:
                pids.append(int(entry.name))
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float = 180) -> None:
        """Until the webserver answers and the code location has loaded."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited ({self.process.returncode}):\n{self.log_tail()}"
                )
            try:
                entries = _graphql(self.url, LOCATIONS_QUERY)["data"]["workspaceOrError"][
                    "locationEntries"
                ]
                last = json.dumps(entries)
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [
                        e
                        for e in entries
                        if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
                    ]
                    if errors:
                        raise RuntimeError(f"code location failed to load: {last}")
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise TimeoutError(
            f"dagster dev not ready in {timeout_s:.0f} s ({last}):\n{self.log_tail()}"
        )

    def stop(self, grace_s: float = 15) -> None:
        """SIGTERM to the session, then SIGKILL to whatever of it is left."""
        sid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        for _ in range(10):
            left = _session_pids(sid)
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        left = _session_pids(sid)
        if left:
            raise RuntimeError(f"processes of dagster dev still alive: {left}")


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], log: Path, port: int | None = None) -> Iterator[DagsterDev]:
    """Run `dagster dev -w workspace.yaml` on 127.0.0.1; stopped with all its processes on exit."""
    port = port or free_port()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster)] if dagster.exists() else [sys.executable, "-m", "dagster"]
    command += ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = DagsterDev(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        yield server
    finally:
        server.stop()
