"""What dagster-k8s's step health check misses, read from a step's Job and its pods.

dagster-k8s (0.29) calls a step unhealthy only when its Job has failed. Two cluster events leave a
step waiting forever instead (dagster-io/dagster#33755, #24595):

lost pod      A step pod deleted or lost with its node (preemption) is not a *failed* pod to
              Kubernetes 1.20's Job controller: it makes a replacement pod, whose
              `dagster api execute_step` sees the step already started, exits 0 without running
              it, and so the Job *succeeds* while the step never ends. Rule: the Job has finished
              but the step's last lifecycle event is still its start.
unschedulable A pod that fits no node (a request too large, no node with the selector's labels,
              an untolerated taint) stays Pending with the scheduler's reason; a Job whose pods
              admission refuses has no pod at all. Rule: still so after `timeout_s`.

Each function returns the reason (one line, for the step's failure) or None when healthy.
"""

from __future__ import annotations

import datetime as dt


def lost_pod_reason(job, step_running: bool) -> str | None:
    """`job` (a V1Job) has finished while its step, by the event log, is still `step_running`."""
    status = job.status
    if step_running and (status.succeeded or 0) > 0 and not (status.active or 0):
        return (
            f"Kubernetes job {job.metadata.name} finished, but its step never did: the pod "
            "that ran it was deleted or lost with its node (a replacement pod exits without "
            "re-running a started step)"
        )
    return None


def unschedulable_reason(job, pods: list, timeout_s: float, now: dt.datetime) -> str | None:
    """`job` (a V1Job) is `timeout_s` seconds old and its pod is still unscheduled (the
    scheduler's reason, from the PodScheduled condition), or it has no pod at all. A pod bound
    to a node but not yet running (its image being pulled) is not this."""
    waited_s = (now - job.metadata.creation_timestamp).total_seconds()
    if waited_s < timeout_s:
        return None
    name = job.metadata.name
    if not pods:
        return f"Kubernetes job {name} created no pod in {waited_s:.0f} s (see the Job's events)"
    for pod in pods:
        if pod.spec.node_name or pod.status.phase != "Pending":
            return None
    for condition in pods[0].status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return (
                f"pod {pods[0].metadata.name} of Kubernetes job {name} could not be scheduled "
                f"in {waited_s:.0f} s: {condition.message or condition.reason}"
            )
    return None
