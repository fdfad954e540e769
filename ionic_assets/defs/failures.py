"""A user's mistake in an asset: one line at the top of the Dagster failure, no traceback; and
a step over several partitions that stores those that succeeded and fails for the others, each
with its own line (`report_partitions`)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

from ionic_assets.lib.failures import USER_ERRORS, one_line
from ionic_assets.lib.metadata import FAILED_PARTITIONS
from ionic_assets.lib.warehouse import upsert

#: What a partition's stored row shows: its materialization metadata and, per asset check, the
#: AssetCheckResult fields other than check_name (passed, severity, metadata).
Describe = Callable[[dict], tuple[dict, dict[str, dict]]]


@contextmanager
def clear_failure() -> Iterator[None]:
    """Re-raise a user error (`lib.failures.USER_ERRORS`) as a `dg.Failure` whose description is
    its one line (the top of the failure in the Dagster UI, and what `ionic-assets run` prints),
    the rest of the message and the exception type as metadata below it."""
    try:
        yield
    except USER_ERRORS as exc:
        details = {"error_type": type(exc).__name__, "message": str(exc)}
        raise dg.Failure(description=one_line(exc), metadata=details, allow_retries=False) from None


def report_partitions(context, warehouse, key: dg.AssetKey, labels: list[str | None],
                      outcomes: list, describe: Describe):  # fmt: skip
    """Store the rows of the run's partitions that succeeded, with their metadata and checks;
    then fail in one line per partition that did not.

    `outcomes`: per partition of the run (in order) its (record, extra metadata) or the error
    that stopped it alone; `labels`: what prefixes its error's line (None: the error alone).
    One partition: the MaterializeResult and AssetCheckResults of any asset. Several: when all
    succeed, per-partition metadata on the run's materializations and a check evaluation per
    partition; when some fail, a materialization and check evaluations for each one that
    succeeded (the others stay unmaterialized) before the step fails, naming each failed
    partition's cause in its `failed_partitions` metadata.
    """
    partitions = list(context.partition_keys)
    done, failed = [], {}
    for partition, label, outcome in zip(partitions, labels, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failed[partition] = f"{label}: {outcome}" if label else str(outcome)
            continue
        record, extra = outcome
        upsert(warehouse, record)
        metadata, checks = describe(record.as_row())
        done.append((partition, {**metadata, **extra}, checks))
    if len(partitions) == 1 and failed:
        raise outcomes[0]  # clear_failure: its one line, its type and message as metadata
    if len(partitions) == 1:
        _, metadata, checks = done[0]
        yield dg.MaterializeResult(metadata=metadata)
        for name, check in checks.items():
            yield dg.AssetCheckResult(check_name=name, **check)
        return
    for partition, metadata, _ in done:
        if failed:
            context.log_event(dg.AssetMaterialization(key, partition=partition, metadata=metadata))
        else:
            context.add_asset_metadata(metadata, partition_key=partition)
    if not failed:
        yield dg.MaterializeResult()
    for partition, _, checks in done:
        for name, check in checks.items():
            context.log_event(dg.AssetCheckEvaluation(key, name, partition=partition, **check))
    # The checks' step outputs (AssetCheckResult cannot name a partition in Dagster 1.13; the
    # evaluations above do).
    for spec in context.assets_def.check_specs:
        name = context.assets_def.get_output_name_for_asset_check_key(spec.key)
        yield dg.Output(None, output_name=name)
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(partitions)} partitions failed: "
            + "; ".join(failed.values()),
            metadata={FAILED_PARTITIONS: dg.MetadataValue.json(failed)},
            allow_retries=False,
        )
