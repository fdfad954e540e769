"""The one place that adapts dagster-k8s internals fails loudly when they change (the real
executor built by dagster-k8s goes through it in test_k8s_jobs.py)."""

import pytest
from dagster_k8s.executor import K8sStepHandler

from ionic_assets.defs.k8s_executor import (
    HANDLER_STATE,
    DagsterK8sChanged,
    PartitionSizedK8sStepHandler,
)


def _handler(state: dict) -> K8sStepHandler:
    handler = K8sStepHandler.__new__(K8sStepHandler)  # no cluster to configure
    vars(handler).update(state)
    return handler


def test_the_handler_state_is_carried_over():
    state = {name: f"value of {name}" for name in HANDLER_STATE}
    sized = PartitionSizedK8sStepHandler.from_handler(_handler(state))
    assert {name: getattr(sized, name) for name in HANDLER_STATE} == state
    assert sized.sizes == {}


def test_a_changed_handler_fails_naming_what_moved():
    state = {name: None for name in HANDLER_STATE} | {"_new_in_next_release": 1}
    with pytest.raises(DagsterK8sChanged, match="_new_in_next_release.*defs/k8s_executor.py"):
        PartitionSizedK8sStepHandler.from_handler(_handler(state))
