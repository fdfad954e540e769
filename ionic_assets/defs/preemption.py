"""SIGTERM in a step pod means the pod is going away: the step is retried, not failed.

A kubelet stops a pod with SIGTERM, then SIGKILL after the grace period: when the pod is deleted,
its node drained, or its spot/preemptible node reclaimed. Dagster's step worker treats SIGTERM as
Ctrl-C (an interrupt: the step fails and is never retried), so a preempted MD step would end its
run although its checkpoint lets it resume. Inside `sigterm_retries()`, in a dagster-k8s step pod
(DAGSTER_RUN_STEP_KEY set, the variable dagster-k8s gives every step pod), SIGTERM raises
`StepPreempted` instead: an ordinary error, which the asset's RetryPolicy retries, resuming from
the last checkpoint (a SIGKILL without warning is found by the step health check instead,
defs/k8s_executor.py). Ctrl-C, and SIGTERM anywhere else (`ionic-assets run`, `dagster dev`),
keep Dagster's meaning: stop.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ionic_assets.lib import settings


class StepPreempted(RuntimeError):
    """The step's pod was told to stop (SIGTERM) mid-work; its checkpoint is kept."""


def _raise_preempted(signum, frame):
    raise StepPreempted(
        f"the step's pod was stopped ({signal.Signals(signum).name}: deleted, drained or "
        "preempted) mid-work; the step is retried from its last checkpoint"
    )


@contextmanager
def sigterm_retries() -> Iterator[None]:
    """SIGTERM raises StepPreempted in this block, in a step pod's main thread only."""
    in_step_pod = settings.STEP_POD_KEY.read() is not None
    if not in_step_pod or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_preempted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
