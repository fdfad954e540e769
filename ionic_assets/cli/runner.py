"""`ionic-assets run`: materialize a selection of the asset graph in-process, in graph order.

The order is the graph's own: Dagster's topological order of the selected assets, cut into
stages of consecutive assets that share a partitions definition and backfill policy; each stage
is one Dagster run per partition key (recorded in the instance, so the UI shows it), holding
every asset of the stage. A stage whose backfill policy takes many partitions per run (a
batchable force model's relaxation or MD, one batch) runs the runs a backfill would make
(`defs.scheduling.run_partitions`): one per range of consecutive partition keys, at most the
policy's maximum each. A new asset needs no change here. Work downstream of a failure is not
attempted: a partition whose upstream partitions in this command all failed or were skipped is
reported as skipped (an Arrhenius fit still runs on the temperatures that succeeded).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.tags import get_multidimensional_partition_tag
from dagster_k8s import K8sRunLauncher

from ionic_assets.defs import scheduling
from ionic_assets.defs.executor import executor_choice
from ionic_assets.defs.materials.partitions import (
    add_partition_keys,
    material_partitions,
    seed_default_partitions,
    temperature_key,
    temperature_partitions,
)
from ionic_assets.lib import settings
from ionic_assets.lib.metadata import (
    FAILED_PARTITIONS,
    ON_DEMAND_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
)
from ionic_assets.lib.methods import check_runnable, get_methods
from ionic_assets.science import obelix
from ionic_assets.science.errors import InputError

JOB_NAME = "ionic_assets_cli"
#: Seconds between two progress lines of one step on the terminal (the run's log has them all).
PROGRESS_INTERVAL_S = 10.0
SKIPPED = "upstream failed"


def load_definitions() -> dg.Definitions:
    from ionic_assets.definitions import defs

    return defs()


@dataclass
class Outcome:
    """What became of one asset partition: status done | failed | skipped, wall time, cause."""

    asset: str
    partition: str | None
    status: str
    wall_time_s: float = 0.0
    message: str = ""

    @property
    def label(self) -> str:
        return label(self.asset, self.partition)


def label(asset: str, partition: str | None) -> str:
    """How the terminal names an asset partition: `chgnet/md_trajectories gvd|1000`."""
    return f"{asset} {partition}" if partition else asset


@dataclass(frozen=True)
class Stage:
    """Consecutive assets in topological order with one partitions definition and backfill
    policy (`defs.scheduling`: how their partitions group into runs)."""

    keys: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition | None
    backfill_policy: dg.BackfillPolicy | None = None

    @property
    def partitions_per_run(self) -> int | None:
        return scheduling.partitions_per_run(self.partitions_def, self.backfill_policy)


def plan_stages(graph, selected: set[dg.AssetKey]) -> list[Stage]:
    """The selected assets in the graph's topological order, cut where the partitions or the
    backfill policy change."""
    ordered = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level)]
    ordered = [k for k in ordered if k in selected]
    stages = []
    for (partitions_def, policy), keys in itertools.groupby(
        ordered, key=lambda k: (graph.get(k).partitions_def, graph.get(k).backfill_policy)
    ):
        stages.append(Stage(tuple(keys), partitions_def, policy))
    return stages


def _dimensions(partitions_def, partition) -> dict[str, str]:
    """A partition key as {dimension: value}; a single dynamic dimension is named by its def."""
    if partition is None:
        return {}
    if isinstance(partition, dg.MultiPartitionKey):
        return dict(partition.keys_by_dimension)
    return {partitions_def.name: partition}


def feeds(parent: dict[str, str], child: dict[str, str]) -> bool:
    """Whether a parent partition is read by a child partition: they agree on the dimensions
    they share (an unpartitioned side shares none and so is read by / reads every partition)."""
    return all(child[d] == v for d, v in parent.items() if d in child)


@dataclass
class StepEvents:
    """What the `cli` logger saw of one run: per step, start and end time; its warnings."""

    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Forward(logging.Handler):
    """Hands each Dagster log record of a run to the runner (progress, warnings, step times)."""

    def __init__(self, on_record: Callable[[logging.LogRecord], None]):
        super().__init__(logging.DEBUG)
        self.on_record = on_record

    def emit(self, record: logging.LogRecord) -> None:
        self.on_record(record)


@dataclass
class BenchmarkRun:
    instance: dg.DagsterInstance
    materials: list[str] | None = None
    temperatures: list[str] | None = None
    methods: list[str] | None = None
    protocol: str | None = None
    verbose: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    def check_inputs(self) -> None:
        """Every input checked before any work starts (InputError on the first bad one):
        the executor's run launcher, temperatures, materials, the protocol, the methods (file
        and names) and each named method's engine here. Without --methods, a method that
        cannot run here is left out, with its reason in `left_out`."""
        self._temperatures = [temperature_key(t) for t in self.temperatures or []]
        if self.materials:
            obelix.select_entries(
                obelix.load_table(settings.OBELIX_DATA_DIR.value()), self.materials
            )
        if executor_choice() == "k8s" and not isinstance(
            self.instance.run_launcher, K8sRunLauncher
        ):
            raise InputError(
                "IONIC_ASSETS_EXECUTOR=k8s: the instance's run launcher must be dagster-k8s's "
                "K8sRunLauncher (in $DAGSTER_HOME/dagster.yaml, as the Helm chart writes it), "
                f"not {type(self.instance.run_launcher).__name__}"
            )
        # Resolved once here: every step of the run gets this name in its run config.
        self.protocol = settings.load_md_protocol(self.protocol).name
        self._methods, self.left_out = [], []
        for method in get_methods(self.methods):
            try:
                check_runnable(method)
            except InputError as exc:
                if self.methods is not None:
                    raise
                self.left_out.append(str(exc))
                continue
            self._methods.append(method)

    def execute(self, report: Callable[[str], None] = print) -> list[str]:
        """Materialize the selection; reports each outcome and returns one line per failure."""
        self.check_inputs()
        self._report, self._seen, self._last_progress = report, set(), {}
        for reason in self.left_out:
            report(f"warning: left out: {reason}")
        seed_default_partitions(self.instance)
        add_partition_keys(self.instance, self.materials or [], self._temperatures)
        chosen = {
            material_partitions.name: self.materials
            or self.instance.get_dynamic_partitions(material_partitions.name),
            temperature_partitions.name: self._temperatures
            or self.instance.get_dynamic_partitions(temperature_partitions.name),
        }
        self._defs = load_definitions()
        graph = self._defs.resolve_asset_graph()
        unselected = {m.key for m in get_methods()} - {m.key for m in self._methods}
        selection = dg.AssetSelection.all() - dg.AssetSelection.groups(*unselected)
        selection -= dg.AssetSelection.tag(ON_DEMAND_TAG, "true")
        self._jobs: dict[frozenset, dg.JobDefinition] = {}
        for stage in plan_stages(graph, selection.resolve(graph)):
            partitions = _partition_keys(stage.partitions_def, chosen)
            if stage.partitions_per_run == 1:
                for partition in partitions:
                    self._run_partition(graph, stage, partition)
            else:
                self._run_ranges(graph, stage, partitions)
        return self.failures

    @property
    def failures(self) -> list[str]:
        """One line per failed asset partition: `<asset> <partition>: <cause>`."""
        return [f"{o.label}: {o.message}" for o in self.outcomes if o.status == "failed"]

    def _skipped(self, graph, key: dg.AssetKey, partitions_def, partition) -> bool:
        """True when upstream partitions of this partition were attempted in this command and
        none succeeded (benchmark_table, downstream of every method, still runs when one
        method failed and another did not)."""
        mine = _dimensions(partitions_def, partition)
        parents = {parent.to_user_string(): parent for parent in graph.get(key).parent_keys}
        tried = [
            o
            for o in self.outcomes
            if o.asset in parents
            and feeds(_dimensions(graph.get(parents[o.asset]).partitions_def, o.partition), mine)
        ]
        return bool(tried) and all(o.status != "done" for o in tried)

    def _runnable(self, graph, stage: Stage, partition) -> list[dg.AssetKey]:
        """The stage's assets to run for `partition`; the others are recorded as skipped."""
        keys = []
        for key in stage.keys:  # in topological order: a skip is seen by the assets below it
            if self._skipped(graph, key, stage.partitions_def, partition):
                self._record(Outcome(key.to_user_string(), partition, "skipped", 0.0, SKIPPED))
            else:
                keys.append(key)
        return keys

    def _run_partition(self, graph, stage: Stage, partition) -> None:
        keys = self._runnable(graph, stage, partition)
        if not keys:
            return
        result = self._execute(keys, partition, {"partition_key": partition})
        for key in sorted(keys, key=stage.keys.index):
            self._record(_outcome(result, key, partition, self._events))
        self._report_warnings()

    def _run_ranges(self, graph, stage: Stage, partitions: list) -> None:
        """One run per range of consecutive partitions with the same assets to run."""
        by_keys: dict[tuple, list] = {}
        for partition in partitions:
            keys = tuple(self._runnable(graph, stage, partition))
            if keys:
                by_keys.setdefault(keys, []).append(str(partition))
        for keys, chosen in by_keys.items():
            policy, instance = stage.backfill_policy, self.instance
            for part in scheduling.run_partitions(stage.partitions_def, policy, chosen, instance):
                tags = {RANGE_START_TAG: part[0], RANGE_END_TAG: part[-1]}
                result = self._execute(list(keys), f"{part[0]}..{part[-1]}", {"tags": tags})
                for key in keys:
                    for outcome in _range_outcomes(result, key, part, self._events):
                        self._record(outcome)
                self._report_warnings()

    def _execute(self, keys: list[dg.AssetKey], where: str, target: dict):
        """One run of `keys` for the partition or range in `target`: in-process, or with the k8s
        executor each step a Kubernetes Job (`_execute_on_cluster`)."""
        self._events, self._partition = StepEvents(), where
        tags = {"ionic-assets/launched-by": "cli", **target.pop("tags", {})}
        if executor_choice() == "k8s":
            return self._execute_on_cluster(keys, tags, target.get("partition_key"))
        return self._job(frozenset(keys)).execute_in_process(
            run_config=self._run_config(frozenset(keys)),
            instance=self.instance,
            raise_on_error=False,
            tags=tags,
            **target,
        )

    def _execute_on_cluster(self, keys: list[dg.AssetKey], tags: dict, partition):
        """The run through the definitions' own executor (`k8s`): the run worker is this
        process, each step a Job whose pod loads the definitions from their module (their
        implicit asset job, its assets named by `asset_selection`). Its events
        come from the instance afterwards (the steps log there, not to this process)."""
        if partition is not None:
            tags.update(partition_tags(partition))
        job = ReconstructableRepository.for_module(
            "ionic_assets.definitions", "defs"
        ).get_reconstructable_job(IMPLICIT_ASSET_JOB_NAME)
        self._job(frozenset(keys))  # what its run config needs
        resources = self._run_config(frozenset(keys)).get("resources")
        result = dg.execute_job(
            job, self.instance, run_config={"resources": resources} if resources else None,
            tags=tags, asset_selection=keys,
        )  # fmt: skip
        for entry in self.instance.all_logs(result.run_id):
            if entry.dagster_event is not None:
                self._on_event(entry.dagster_event, entry.timestamp)
            elif entry.level >= logging.WARNING and entry.step_key in self._events.started:
                self._warn(
                    f"{label(_asset_of(entry.step_key), self._partition)}: {entry.user_message}"
                )
        return result

    def _report_warnings(self) -> None:
        for line in self._events.warnings:
            self._report(f"warning: {line}")

    def _job(self, keys: frozenset) -> dg.JobDefinition:
        if keys not in self._jobs:
            cli_logger = dg.LoggerDefinition(
                lambda _: _python_logger(self._on_record), description="ionic-assets run"
            )
            extra = dg.Definitions(
                jobs=[dg.define_asset_job(JOB_NAME, selection=list(keys))],
                loggers={"cli": cli_logger, "console": dg.colored_console_logger},
            )
            merged = dg.Definitions.merge(self._defs, extra)
            self._jobs[keys] = merged.resolve_job_def(JOB_NAME)
        return self._jobs[keys]

    def _run_config(self, keys: frozenset) -> dict:
        loggers: dict = {"cli": {}}
        if self.verbose:
            loggers["console"] = {"config": {"log_level": "INFO"}}
        config: dict = {"loggers": loggers}
        if "simulation" in self._jobs[keys].required_resource_keys:
            config["resources"] = {"simulation": {"config": {"protocol": self.protocol}}}
        return config

    def _on_record(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", {}) or {}
        event, step = meta.get("dagster_event"), meta.get("step_key")
        if event is not None:
            self._on_event(event, record.created)
            return
        if step not in self._events.started:
            return  # Dagster's own notes about a step it did not start ("Not executing.")
        message = meta.get("orig_message", record.getMessage())
        where = label(_asset_of(step), self._partition)
        if record.levelno >= logging.WARNING:
            self._warn(f"{where}: {message}")
        elif record.levelno >= logging.INFO and self._progress_due(step):
            self._report(f"  {where}: {message}")

    def _on_event(self, event, created: float) -> None:
        kind = event.event_type_value
        if kind == "STEP_START":
            self._events.started[event.step_key] = created
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            self._events.ended[event.step_key] = created
        elif kind == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            check = event.event_specific_data
            where = label(check.asset_key.to_user_string(), check.partition)
            self._warn(f"{where}: check {check.check_name} failed ({_check_summary(check)})")

    def _progress_due(self, step: str) -> bool:
        """A step's first line in a run (the MD engine chosen) is always shown and starts no
        wait, so its first progress line follows; then one line per PROGRESS_INTERVAL_S."""
        key = (step, self._partition)
        if key not in self._last_progress:
            self._last_progress[key] = -math.inf
            return True
        now = time.monotonic()
        if now - self._last_progress[key] < PROGRESS_INTERVAL_S:
            return False
        self._last_progress[key] = now
        return True

    def _warn(self, line: str) -> None:
        """A science warning, shown once per command, after the outcomes of its run."""
        if line not in self._seen:
            self._seen.add(line)
            self._events.warnings.append(line)

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "failed":
            self._report(f"error: {outcome.label}: {outcome.message}")
        elif outcome.status == "skipped":
            self._report(f"{outcome.label}: skipped, {outcome.message}")
        else:
            self._report(f"{outcome.label}: done ({outcome.wall_time_s:.1f} s)")


def partition_tags(partition) -> dict[str, str]:
    """The run tags of a partition key, one per dimension too, as the UI's launches have them."""
    tags = {"dagster/partition": str(partition)}
    if isinstance(partition, dg.MultiPartitionKey):
        for dimension, key in partition.keys_by_dimension.items():
            tags[get_multidimensional_partition_tag(dimension)] = key
    return tags


def _python_logger(on_record: Callable[[logging.LogRecord], None]) -> logging.Logger:
    logger = logging.Logger("ionic_assets.cli", logging.DEBUG)
    logger.addHandler(_Forward(on_record))
    return logger


def _asset_of(step_key: str) -> str:
    return step_key.replace("__", "/")


def _check_summary(check) -> str:
    numbers = {k: v.value for k, v in check.metadata.items() if _is_number(v.value)}
    return ", ".join(f"{k} {v:.3g}" for k, v in numbers.items())


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _partition_keys(partitions_def, chosen: dict[str, list[str]]) -> list:
    """The partition keys of a stage within the chosen values of each dimension."""
    if partitions_def is None:
        return [None]
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        names = [d.name for d in partitions_def.partitions_defs]
        return [
            dg.MultiPartitionKey(dict(zip(names, values, strict=True)))
            for values in itertools.product(*(chosen[n] for n in names))
        ]
    return list(chosen[partitions_def.name])


def _outcome(result, key: dg.AssetKey, partition, events: StepEvents) -> Outcome:
    step = key.to_python_identifier()
    wall = events.ended.get(step, 0.0) - events.started.get(step, 0.0)
    asset = key.to_user_string()
    for event in result.all_events:
        if event.step_key != step:
            continue
        if event.is_step_success:
            return Outcome(asset, partition, "done", wall)
        if event.is_step_failure:
            return Outcome(asset, partition, "failed", wall, failure_message(event))
    return Outcome(asset, partition, "skipped", 0.0, SKIPPED)


def _range_outcomes(result, key: dg.AssetKey, partitions: list[str], events: StepEvents):
    """Each partition's outcome of a run over a range: done where the step materialized it,
    else failed with its own cause (the step's `failed_partitions`) or skipped."""
    step = key.to_python_identifier()
    wall = (events.ended.get(step, 0.0) - events.started.get(step, 0.0)) / len(partitions)
    asset = key.to_user_string()
    done = {
        event.event_specific_data.materialization.partition
        for event in result.all_events
        if event.step_key == step and event.is_step_materialization
    }
    failure = next((e for e in result.all_events if e.step_key == step and e.is_step_failure), None)
    causes = _failed_partitions(failure)
    for partition in partitions:
        if partition in done:
            yield Outcome(asset, partition, "done", wall)
        elif failure is not None:
            yield Outcome(asset, partition, "failed", wall,
                          causes.get(partition) or failure_message(failure))  # fmt: skip
        else:
            yield Outcome(asset, partition, "skipped", 0.0, SKIPPED)


def _failed_partitions(failure) -> dict[str, str]:
    """{partition: cause} a step failure lists in its `failed_partitions` metadata."""
    data = failure.step_failure_data.user_failure_data if failure is not None else None
    entry = data.metadata.get(FAILED_PARTITIONS) if data is not None else None
    return dict(entry.value) if entry is not None else {}


def failure_message(event) -> str:
    """A failed step's one line: a user error's description (`defs.failures.clear_failure`), or,
    for a bug, its type and message followed by the traceback."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "step failed"
    if error.cls_name is None:  # the executor's verdict (a failed health check), no exception
        return error.message.strip()
    trace = "".join(["Traceback (most recent call last):\n", *error.stack, error.message])
    return f"{error.message.strip().splitlines()[0]} (a bug; traceback below)\n{trace.rstrip()}"
