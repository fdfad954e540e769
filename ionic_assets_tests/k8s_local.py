"""A real Kubernetes control plane on 127.0.0.1, for the tests: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler.

The binaries are Debian's: `etcd-server`, and Kubernetes 1.20.2 built from Debian's source package
by `deploy/local/build_kubernetes.sh` into `~/.cache/ionic-assets/kubernetes-1.20.2/bin` (once;
the README's test command runs it). Everything listens on 127.0.0.1 only, on free ports:

    etcd                      plain HTTP, a temporary data directory
    kube-apiserver            HTTPS (a self-signed serving certificate in its cert dir), token
                              authentication (one `admin` user in `system:masters`), RBAC, the
                              insecure port off (`--port 0`), service-account tokens signed with a
                              fresh key, `TTLAfterFinished` on (dagster-k8s sets a Job TTL)
    kube-controller-manager   every default controller (Job, pod GC, service accounts, node
                              lifecycle, TTL-after-finished), through the admin kubeconfig
    kube-scheduler            the default scheduler

No kubelet can run here: `kubelet_stand_in.py` registers the nodes and runs their pods.

    python -m ionic_assets_tests.k8s_local     # prints the kubeconfig's path; Ctrl-C stops it
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ionic_assets_tests.pg_local import _free_port

VERSION = "1.20.2"
#: Where deploy/local/build_kubernetes.sh leaves the binaries (outside any clone, reused).
BIN_DIR = Path(
    os.environ.get(
        "IONIC_ASSETS_K8S_BIN",
        Path.home() / ".cache" / "ionic-assets" / f"kubernetes-{VERSION}" / "bin",
    )
)
SERVERS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
TOKEN = "ionic-assets-test-admin"
READY_TIMEOUT_S = 90.0


def binaries() -> dict[str, Path]:
    """The three Kubernetes servers and etcd; FileNotFoundError saying how to build them."""
    found = {name: BIN_DIR / name for name in SERVERS}
    missing = [name for name, path in found.items() if not os.access(path, os.X_OK)]
    etcd = shutil.which("etcd")
    if missing or etcd is None:
        raise FileNotFoundError(
            f"no {', '.join(missing or ['etcd'])} in {BIN_DIR}: run "
            "`bash deploy/local/build_kubernetes.sh` (the README's test command does)"
        )
    return {**found, "etcd": Path(etcd)}


@dataclass
class ControlPlane:
    """A running control plane: its API server's URL, the admin kubeconfig and the servers."""

    workdir: Path
    server: str
    kubeconfig: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, name: str) -> str:
        """The last lines of one server's log (for a failing test's message)."""
        lines = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-20:])

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _kubeconfig(server: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: '{server}'\n"
        "    insecure-skip-tls-verify: true\n"
        f"users:\n- name: admin\n  user: {{token: {TOKEN}}}\n"
        "contexts:\n- name: local\n  context: {cluster: local, user: admin, namespace: default}\n"
        "current-context: local\n"
    )


def _ready(url: str) -> bool:
    """True once the API server's /readyz answers ok (every post-start hook done)."""
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, context=insecure, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _start(plane: ControlPlane, name: str, command: list) -> None:
    log = open(plane.workdir / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
    plane.processes[name] = subprocess.Popen(
        [str(c) for c in command], stdout=log, stderr=subprocess.STDOUT, cwd=plane.workdir
    )


def _wait_ready(plane: ControlPlane) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _ready(f"{plane.server}/readyz"):
        for name, process in plane.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{plane.log(name)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"kube-apiserver not ready in {READY_TIMEOUT_S:g} s")
        time.sleep(0.5)


def _servers(plane: ControlPlane, bins: dict[str, Path], ports: dict[str, int]) -> None:
    work = plane.workdir
    subprocess.run(
        ["openssl", "genrsa", "-out", str(work / "sa.key"), "2048"], check=True, capture_output=True
    )
    (work / "tokens.csv").write_text(f"{TOKEN},admin,admin,system:masters\n")
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    _start(plane, "etcd", [
        bins["etcd"], "--data-dir", work / "etcd", "--listen-client-urls", etcd_url,
        "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", f"http://127.0.0.1:{ports['etcd-peer']}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{ports['etcd-peer']}",
        "--initial-cluster", f"default=http://127.0.0.1:{ports['etcd-peer']}",
    ])  # fmt: skip
    _start(plane, "kube-apiserver", [
        bins["kube-apiserver"], "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1",
        "--advertise-address", "127.0.0.1", "--secure-port", ports["apiserver"], "--port", "0",
        "--cert-dir", work / "certs", "--token-auth-file", work / "tokens.csv",
        "--authorization-mode", "RBAC", "--service-account-key-file", work / "sa.key",
        "--service-account-signing-key-file", work / "sa.key",
        "--service-account-issuer", "https://kubernetes.default.svc",
        "--service-cluster-ip-range", "10.96.0.0/24", "--feature-gates", "TTLAfterFinished=true",
    ])  # fmt: skip
    _wait_ready(plane)
    common = ["--kubeconfig", plane.kubeconfig, "--bind-address", "127.0.0.1", "--port", "0",
              "--leader-elect=false"]  # fmt: skip
    _start(plane, "kube-controller-manager", [
        bins["kube-controller-manager"], *common, "--secure-port", ports["controller-manager"],
        "--service-account-private-key-file", work / "sa.key", "--controllers", "*",
        "--use-service-account-credentials=false", "--feature-gates", "TTLAfterFinished=true",
    ])  # fmt: skip
    _start(plane, "kube-scheduler", [
        bins["kube-scheduler"], *common, "--secure-port", ports["scheduler"],
    ])  # fmt: skip


@contextlib.contextmanager
def control_plane() -> Iterator[ControlPlane]:
    """A fresh control plane in a temporary directory, stopped and removed at the end."""
    bins = binaries()
    ports = {
        name: _free_port()
        for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")
    }
    work = Path(tempfile.mkdtemp(prefix="ionic-k8s-"))
    server = f"https://127.0.0.1:{ports['apiserver']}"
    plane = ControlPlane(work, server, work / "kubeconfig")
    plane.kubeconfig.write_text(_kubeconfig(server))
    try:
        _servers(plane, bins, ports)
        yield plane
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import signal

    with control_plane() as plane:
        print(plane.kubeconfig, flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
