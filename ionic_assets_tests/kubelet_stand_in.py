"""The kubelet's part, played for the tests: nodes for the GPU and CPU pools, and their pods run as
local processes.

No kubelet can run here (no container runtime, no cgroups to give it), so this agent does the
few things of a kubelet that the real control plane (`k8s_local.py`) waits for, through the same
API a kubelet uses:

- registers each node with its labels, taints and capacity, Ready, and keeps it Ready (a Lease in
  `kube-node-lease` and the Ready condition's heartbeat, renewed every few seconds, as the node
  lifecycle controller expects);
- runs each pod that the real scheduler bound to one of its nodes: the container's `command` +
  `args` as a local process in the project's own environment (the step image *is* the project),
  with the container's environment on top of a minimal one (PATH, HOME), and writes back the pod's
  phase (Running, then Succeeded or Failed) and the container's exit code;
- on a graceful deletion, SIGTERM, then SIGKILL after the grace period, then the final delete; a
  pod that vanished (force-deleted, its node gone) has its process SIGKILLed.

What it replaces, and so what these tests cannot show: images and their pulls, container
isolation, cgroup limits, GPUs (a GPU node here only advertises `nvidia.com/gpu`), volumes and
mounts (a pod's volumes are ignored: its process sees this machine's files), probes, logs through
the API. The scheduler, the Job controller, admission, RBAC and dagster-k8s are the real ones.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from ionic_assets.lib import settings

HEARTBEAT_S = 5.0
POLL_S = 0.3
#: The longest grace a deletion gets here (a kubelet's default is the pod's 30 s).
MAX_GRACE_S = 10.0


@dataclass(frozen=True)
class NodeSpec:
    name: str
    labels: dict
    taints: list
    capacity: dict


def pool_node(pool: str, name: str, capacity: dict) -> NodeSpec:
    """A node of one of the platform's pools: the pool's node-selector labels, and a taint for
    each toleration that names a key and an effect (the GPU pool's `nvidia.com/gpu`)."""
    labels = settings.POOL_SETTINGS[(pool, "node_selector")].value()
    taints = [
        {"key": t["key"], "value": t.get("value"), "effect": t["effect"]}
        for t in settings.POOL_SETTINGS[(pool, "tolerations")].value()
        if t.get("key") and t.get("effect")
    ]
    return NodeSpec(name, dict(labels), taints, {"pods": "110", **capacity})


GPU_NODE = pool_node("gpu", "gpu-node-0", {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "1"})
CPU_NODE = pool_node("cpu", "cpu-node-0", {"cpu": "64", "memory": "256Gi"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunningPod:
    namespace: str
    name: str
    uid: str
    process: subprocess.Popen
    deleting_since: float | None = None
    grace_s: float = 0.0


def _exit_code(returncode: int) -> int:
    """A container's exit code as a kubelet reports it: 128 + signal for a killed process."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class KubeletStandIn:
    """Plays the kubelet of `nodes` against the API server of `api` until `stop()`."""

    api: client.ApiClient
    nodes: list[NodeSpec]
    logdir: Path
    pods: dict[str, RunningPod] = field(default_factory=dict)
    finished: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.core = client.CoreV1Api(self.api)
        self.leases = client.CoordinationV1Api(self.api)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(fn, period), daemon=True)
            for fn, period in ((self._heartbeat, HEARTBEAT_S), (self._sync_pods, POLL_S))
        ]

    def start(self) -> KubeletStandIn:
        for node in self.nodes:
            self._register(node)
        self._heartbeat()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for pod in self.pods.values():
            _kill(pod.process)

    def _loop(self, fn, period: float) -> None:
        while not self._stop.wait(period):
            try:
                fn()
            except Exception as exc:  # the API server restarting: try again next period
                print(f"kubelet stand-in: {type(exc).__name__}: {exc}", file=sys.stderr)

    # Nodes

    def _register(self, node: NodeSpec) -> None:
        body = client.V1Node(
            metadata=client.V1ObjectMeta(name=node.name, labels=node.labels),
            spec=client.V1NodeSpec(taints=[client.V1Taint(**t) for t in node.taints] or None),
        )
        self.core.create_node(body)
        info = client.V1NodeSystemInfo(
            architecture="amd64",
            boot_id="",
            container_runtime_version="none://0",
            kernel_version="",
            kube_proxy_version="v1.20.2",
            kubelet_version="v1.20.2",
            machine_id=node.name,
            operating_system="linux",
            os_image="kubelet stand-in",
            system_uuid=node.name,
        )
        status = {
            "capacity": node.capacity,
            "allocatable": node.capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": self.api.sanitize_for_serialization(info),
            "conditions": [self._ready_condition()],
        }
        self.core.patch_node_status(node.name, {"status": status})

    @staticmethod
    def _ready_condition() -> dict:
        now = _now().isoformat()
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet stand-in is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    def _heartbeat(self) -> None:
        for node in self.nodes:
            self.core.patch_node_status(
                node.name, {"status": {"conditions": [self._ready_condition()]}}
            )
            spec = client.V1LeaseSpec(
                holder_identity=node.name, lease_duration_seconds=40, renew_time=_now()
            )
            lease = client.V1Lease(metadata=client.V1ObjectMeta(name=node.name), spec=spec)
            try:
                self.leases.patch_namespaced_lease(node.name, "kube-node-lease", lease)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self.leases.create_namespaced_lease("kube-node-lease", lease)

    # Pods

    def _sync_pods(self) -> None:
        bound = {}
        for node in self.nodes:
            listed = self.core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node.name}"
            )
            bound.update({pod.metadata.uid: pod for pod in listed.items})
        for uid, pod in bound.items():
            if uid not in self.pods and pod.status.phase == "Pending":
                if pod.metadata.deletion_timestamp is None:
                    self._run(pod)
            elif uid in self.pods and pod.metadata.deletion_timestamp is not None:
                self._terminate(self.pods[uid], pod.metadata.deletion_grace_period_seconds)
        for uid, running in list(self.pods.items()):
            if uid not in bound:  # force-deleted: nothing may keep running for it
                _kill(running.process)
                del self.pods[uid]
            elif running.process.poll() is not None:
                self._finish(running)
            elif (
                running.deleting_since
                and time.monotonic() - running.deleting_since > running.grace_s
            ):
                _kill(running.process)

    def _run(self, pod) -> None:
        container = pod.spec.containers[0]
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "HOSTNAME": pod.metadata.name,
        }
        if "PYTHONPATH" in os.environ:  # a worktree's checkout: the "image" is this code
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        env.update(self._env_from(pod.metadata.namespace, container.env_from or []))
        env.update({e.name: e.value for e in container.env or [] if e.value is not None})
        log = open(self.logdir / f"{pod.metadata.name}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [*(container.command or []), *(container.args or [])],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=container.working_dir or os.getcwd(),
        )
        meta = pod.metadata
        self.pods[meta.uid] = RunningPod(meta.namespace, meta.name, meta.uid, process)
        started = _now().isoformat()
        self._status(
            meta.namespace,
            meta.name,
            "Running",
            container.name,
            {"running": {"startedAt": started}},
            ready=True,
            start_time=started,
        )

    def _env_from(self, namespace: str, sources: list) -> dict[str, str]:
        """The variables of the container's `envFrom` ConfigMaps and Secrets (a missing optional
        one gives none; a missing required one fails the pod's start, as on a kubelet)."""
        env = {}
        for source in sources:
            if source.config_map_ref is not None:
                ref = source.config_map_ref
                read = self.core.read_namespaced_config_map
            else:
                ref = source.secret_ref
                read = self.core.read_namespaced_secret
            try:
                obj = read(ref.name, namespace)
            except ApiException as exc:
                if exc.status == 404 and ref.optional:
                    continue
                raise
            data = obj.data or {}
            if source.secret_ref is not None:
                data = {k: base64.b64decode(v).decode() for k, v in data.items()}
            env.update(data)
        return env

    def _terminate(self, running: RunningPod, grace_s: int | None) -> None:
        if running.deleting_since is None:
            running.deleting_since = time.monotonic()
            running.grace_s = min(float(grace_s or 0), MAX_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, signal.SIGTERM)

    def _finish(self, running: RunningPod) -> None:
        code = _exit_code(running.process.returncode)
        phase = "Succeeded" if code == 0 else "Failed"
        terminated = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "finishedAt": _now().isoformat(),
            }
        }
        pod = self.core.read_namespaced_pod(running.name, running.namespace)
        self._status(
            running.namespace, running.name, phase, pod.spec.containers[0].name, terminated
        )
        self.finished.append(
            {
                "pod": running.name,
                "phase": phase,
                "exit_code": code,
                "deleted": running.deleting_since is not None,
            }
        )
        if running.deleting_since is not None:  # the kubelet's final delete of a terminated pod
            options = client.V1DeleteOptions(
                grace_period_seconds=0, preconditions={"uid": running.uid}
            )
            with contextlib.suppress(ApiException):
                self.core.delete_namespaced_pod(running.name, running.namespace, body=options)
        del self.pods[running.uid]

    def _status(self, namespace, name, phase, container, state, ready=False, start_time=None):
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "conditions": [
                {"type": "Ready", "status": str(ready)},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "ready": ready,
                    "restartCount": 0,
                    "image": "ionic-assets",
                    "imageID": "",
                    "state": state,
                }
            ],
        }
        if start_time:
            status["startTime"] = start_time
        self.core.patch_namespaced_pod_status(name, namespace, {"status": status})


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
