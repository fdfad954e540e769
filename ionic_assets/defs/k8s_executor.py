"""`k8s_job_executor` (dagster-k8s) with the md_trajectories pods of DFT methods sized per material.

Op tags (`dagster-k8s/config`, lib/k8s.py `pod_tags`) are static per asset, and dagster-k8s builds
each step pod from op tags and executor config only (`K8sStepHandler._get_container_context`
ignores run tags). A DFT pod must be sized by the partition's material, so this module's step
handler adds, for the md_trajectories step of a `dft` method:

    run tag dagster/partition/material -> the material's supercell for the run's MD protocol
    (the one its `simulation` resource loads, as the step does; the supercell the `supercells`
    asset stored, `lib/cells.py`) -> its atom count ->
    `science.dft.sizing.dft_resources` -> CPU and memory requests = limits (lib/k8s.py
    `dft_pod_resources`)

Node selector and tolerations stay those of the op tags (the CPU pool's). When the run has no
single material or the material cannot be sized, the static request of the op tags is kept and a
warning is logged on the step. Everything else is dagster-k8s's: the executor is built by
`k8s_job_executor`'s own creation function, keeps its name ("k8s") and its config schema.

`defs/executor.py` chooses it when IONIC_ASSETS_EXECUTOR is `k8s`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import dagster_k8s
from dagster._core.events import DagsterEventType
from dagster._core.executor.step_delegating import StepDelegatingExecutor
from dagster._core.executor.step_delegating.step_handler.base import CheckStepHealthResult
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster_k8s import k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.executor import K8sStepHandler
from dagster_k8s.job import UserDefinedDagsterK8sConfig

from ionic_assets.lib import settings
from ionic_assets.lib.k8s import dft_pod_resources, md_step_name, pod_tags, supercell_atoms
from ionic_assets.lib.k8s_health import lost_pod_reason, unschedulable_reason
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.simulation import SimulationSettings
from ionic_assets.science.dft.sizing import dft_resources
from ionic_assets.science.errors import InputError

#: Run tag of a multi-partition run's material (dimension "material", defs/materials/partitions).
MATERIAL_TAG = "dagster/partition/material"
SIZING_ANNOTATION = "ionic-assets/dft-sizing"
N_ATOMS_ANNOTATION = "ionic-assets/n-atoms"


def run_simulation(step_context) -> SimulationSettings:
    """The `simulation` resource a step of this run gets: its config as Dagster resolves the
    run config against the job (defaults included; `ResolvedRunConfig` is Dagster's own, not
    public API, and what a run does to build its resources)."""
    job = step_context.job.get_definition()
    resolved = ResolvedRunConfig.build(job, step_context.run_config)
    return SimulationSettings(**resolved.resources["simulation"].config)


@dataclass(frozen=True)
class PodSize:
    """The container `resources` (requests, limits) of one dft step pod and how they were chosen:
    `fallback` when the partition could not be sized and the static request of `pod_tags` is
    kept; `message` says which, for the step's log."""

    resources: dict
    message: str
    fallback: bool = False
    n_atoms: int | None = None


def size_dft_pod(method: Method, run_tags: dict, simulation: SimulationSettings) -> PodSize:
    """The pod resources of `method`'s md_trajectories step in a run with these tags and this
    `simulation` resource.

    Anything that stops the sizing (a run without one material, no supercell stored for the
    material at the protocol's width, an unknown protocol) gives the static request of
    `pod_tags(method)` and the reason; sizing never fails the step.
    """
    material = run_tags.get(MATERIAL_TAG)
    try:
        if not material:
            raise InputError(f"the run has no {MATERIAL_TAG} tag (not a single-partition run)")
        protocol = simulation.load_protocol()
        n_atoms = supercell_atoms(material, protocol.min_cell_width_A)
    except Exception as exc:  # sizing is advisory: any failure keeps the static request
        static = pod_tags(method)["dagster-k8s/config"]["container_config"]["resources"]
        wanted = static["requests"]
        return PodSize(
            static,
            f"{method.name}: could not size the DFT pod for material {material or '?'} "
            f"({type(exc).__name__}: {exc}); using the method's static request of "
            f"{wanted['cpu']} CPUs and {wanted['memory']}",
            fallback=True,
        )
    resources = dft_pod_resources(method, n_atoms)
    wanted = resources["requests"]
    n_nodes = dft_resources(n_atoms)["n_nodes"]
    nodes = (
        f" (the paper's rule would use {n_nodes} nodes; a step pod is one node)"
        if n_nodes > 1
        else ""
    )
    return PodSize(
        resources,
        f"{method.name}: DFT pod for material {material} sized for {n_atoms} atoms (supercell "
        f"of protocol {protocol.name}, widths >= {protocol.min_cell_width_A:g} Å): "
        f"{wanted['cpu']} CPUs and {wanted['memory']}{nodes}",
        n_atoms=n_atoms,
    )


class PartitionSizedK8sStepHandler(K8sStepHandler):
    """dagster-k8s's K8sStepHandler, plus per-partition resources for dft md_trajectories steps.

    The container context is dagster-k8s's own (run launcher < executor config < op tags <
    `per_step_k8s_config`); for a dft md_trajectories step the sized resources go over the op
    tags' and under `per_step_k8s_config`, so an explicit executor override still wins. The pod
    template is annotated with how it was sized. One sizing per step, logged on it at launch.
    """

    dft_steps: dict[str, Method]
    sizes: dict[str, PodSize]

    @classmethod
    def from_handler(cls, handler: K8sStepHandler) -> PartitionSizedK8sStepHandler:
        """This handler with the state of the K8sStepHandler that dagster-k8s built."""
        sized = cls.__new__(cls)
        for name, value in _handler_state(handler).items():
            setattr(sized, name, value)
        sized.dft_steps = {
            md_step_name(m.key): m for m in load_methods().values() if m.kind == "dft"
        }
        sized.sizes = {}
        return sized

    @property
    def name(self):
        return "PartitionSizedK8sStepHandler"

    def _op_name(self, step_handler_context) -> str:
        step_key = self._get_step_key(step_handler_context)
        return step_handler_context.get_step_context(step_key).step.op_name

    def pod_size(self, step_handler_context) -> PodSize | None:
        """The sizing of this step's pod; None when it is not a dft md_trajectories step."""
        method = self.dft_steps.get(self._op_name(step_handler_context))
        if method is None:
            return None
        step_key = self._get_step_key(step_handler_context)
        if step_key not in self.sizes:
            run = step_handler_context.dagster_run
            simulation = run_simulation(step_handler_context.get_step_context(step_key))
            self.sizes[step_key] = size_dft_pod(method, dict(run.tags), simulation)
        return self.sizes[step_key]

    def _get_container_context(self, step_handler_context) -> K8sContainerContext:
        context = super()._get_container_context(step_handler_context)
        size = self.pod_size(step_handler_context)
        if size is None:
            return context
        sized = UserDefinedDagsterK8sConfig(
            container_config={"resources": size.resources},
            pod_template_spec_metadata={
                "annotations": {
                    SIZING_ANNOTATION: "fallback" if size.fallback else "supercell",
                    N_ATOMS_ANNOTATION: "" if size.n_atoms is None else str(size.n_atoms),
                }
            },
        )
        per_op = UserDefinedDagsterK8sConfig.from_dict(
            self._per_step_k8s_config.get(self._op_name(step_handler_context), {})
        )
        return context.merge(K8sContainerContext(run_k8s_config=sized)).merge(
            K8sContainerContext(run_k8s_config=per_op)
        )

    def check_step_health(self, step_handler_context) -> CheckStepHealthResult:
        """dagster-k8s's check (the Job failed), then the two it misses (lib/k8s_health.py): the
        step's pod lost after the step started, and a pod that no node takes."""
        result = super().check_step_health(step_handler_context)
        if not result.is_healthy:
            return result
        namespace = self._get_container_context(step_handler_context).namespace
        job_name = self._get_k8s_step_job_name(step_handler_context)
        job = self._api_client.batch_api.read_namespaced_job_status(job_name, namespace)
        pods = self._api_client.core_api.list_namespaced_pod(
            namespace, label_selector=f"job-name={job_name}"
        ).items
        reason = lost_pod_reason(job, _step_running(step_handler_context)) or (
            unschedulable_reason(
                job, pods, settings.K8S_PENDING_TIMEOUT.value(), dt.datetime.now(dt.UTC)
            )
        )
        return CheckStepHealthResult.unhealthy(reason) if reason else result

    def launch_step(self, step_handler_context):
        size = self.pod_size(step_handler_context)
        if size is not None:
            step_key = self._get_step_key(step_handler_context)
            log = step_handler_context.get_step_context(step_key).log
            (log.warning if size.fallback else log.info)(size.message)
        yield from super().launch_step(step_handler_context)


#: A step's lifecycle events: the last one says whether the step is still running.
STEP_LIFECYCLE = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_RESTARTED,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.STEP_SKIPPED,
}
STARTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED}


def _step_running(step_handler_context) -> bool:
    """True when the event log's last lifecycle event of the step is its (re)start."""
    step_key = step_handler_context.execute_step_args.step_keys_to_execute[0]
    records = step_handler_context.instance.get_records_for_run(
        step_handler_context.dagster_run.run_id, of_type=STEP_LIFECYCLE
    ).records
    mine = [
        r.event_log_entry.dagster_event for r in records if r.event_log_entry.step_key == step_key
    ]
    return bool(mine) and mine[-1].event_type in STARTS


# What this module relies on inside dagster-k8s (pinned to 0.29 in pyproject.toml), not public
# API: `k8s_job_executor` builds a StepDelegatingExecutor that keeps its handler in
# `_step_handler`, and a K8sStepHandler's whole state is `HANDLER_STATE`. Both are checked where
# they are used, so an upgrade that moves them fails at executor creation, naming what moved
# (and the tests in ionic_assets_tests/defs/test_k8s_executor.py fail with it).
HANDLER_STATE = frozenset(
    {
        "_executor_image",
        "_executor_container_context",
        "_kubeconfig_file",
        "_api_client",
        "_per_step_k8s_config",
        "_enable_owner_references",
    }
)


class DagsterK8sChanged(RuntimeError):
    """The installed dagster-k8s no longer has the internals this module adapts."""


def _handler_state(handler: K8sStepHandler) -> dict:
    state = vars(handler)
    if type(handler) is not K8sStepHandler or set(state) != HANDLER_STATE:
        raise DagsterK8sChanged(
            f"dagster-k8s {dagster_k8s.__version__}: expected a K8sStepHandler with state "
            f"{sorted(HANDLER_STATE)}, got {type(handler).__name__} with {sorted(state)}; "
            "update defs/k8s_executor.py for this version"
        )
    return state


def _create_executor(init_context: dg.InitExecutorContext) -> StepDelegatingExecutor:
    """k8s_job_executor's own executor, its step handler swapped for the partition-sized one."""
    executor = k8s_job_executor.executor_creation_fn(init_context)
    if not isinstance(executor, StepDelegatingExecutor) or not hasattr(executor, "_step_handler"):
        raise DagsterK8sChanged(
            f"dagster-k8s {dagster_k8s.__version__}: k8s_job_executor no longer builds a "
            "StepDelegatingExecutor with a `_step_handler`; update defs/k8s_executor.py"
        )
    executor._step_handler = PartitionSizedK8sStepHandler.from_handler(executor._step_handler)
    return executor


k8s_partition_sized_executor = dg.ExecutorDefinition(
    name=k8s_job_executor.name,
    config_schema=k8s_job_executor.config_schema,
    requirements=k8s_job_executor.get_requirements,
    executor_creation_fn=_create_executor,
    description=(
        "dagster-k8s's k8s_job_executor (same config); the md_trajectories pods of DFT methods "
        "ask for the CPUs and memory of the run's material (ionic_assets/defs/k8s_executor.py)."
    ),
)
