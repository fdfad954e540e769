"""Declarative automation of arrhenius_fits and benchmark_table, tick by tick.

A dependency that updates while the asset's own run is still going must trigger one more
refresh: in the UI two materials' fits finish a few seconds apart and benchmark_table has to end
with both (Dagster's eager() forgets such an update when the asset's run ends after it).
"""

import dagster as dg
import pytest

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import add_partition_keys

BENCH = dg.AssetKey("benchmark_table")
FIT = dg.AssetKey(["chgnet", "arrhenius_fits"])
ESTIMATE = dg.AssetKey(["chgnet", "diffusion_estimates"])


def _updated(instance, key, partition=None):
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


@pytest.mark.slow
def test_benchmark_refreshes_after_a_fit_that_finished_during_its_run(instance):
    defs = load_definitions()
    add_partition_keys(instance, ["gvd", "fft"], ["1000"])
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    _updated(instance, FIT, "gvd")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_num_requested(BENCH) == 1
    # While that run builds the table, fft's fit lands; the run itself ends afterwards.
    _updated(instance, FIT, "fft")
    _updated(instance, BENCH)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_num_requested(BENCH) == 1
    _updated(instance, BENCH)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_num_requested(BENCH) == 0  # no update since: nothing more to do


@pytest.mark.slow
def test_fit_refreshes_for_a_temperature_that_finished_during_its_run(instance):
    defs = load_definitions()
    add_partition_keys(instance, ["gvd"], ["1000", "1200", "1300"])
    keys = {
        t: dg.MultiPartitionKey({"material": "gvd", "temperature_K": t})
        for t in ("1000", "1200", "1300")
    }
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert not tick.get_requested_partitions(FIT)  # a new temperature key alone requests nothing
    _updated(instance, ESTIMATE, keys["1000"])
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_requested_partitions(FIT) == {"gvd"}
    _updated(instance, ESTIMATE, keys["1300"])
    _updated(instance, FIT, "gvd")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_requested_partitions(FIT) == {"gvd"}
