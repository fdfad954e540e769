"""The replica, collective, size and fit checks and assets in the definitions, and the OLS
check's verdict."""

import dagster as dg
import pandas as pd
import pytest

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.analysis.assets import (
    MELT_CHECK,
    OLS_CHECK,
    fit_points,
    melting_check,
    ols_check,
)
from ionic_assets.lib.methods import load_methods
from ionic_assets.science.finite_size import compare_sizes


@pytest.mark.parametrize("method", list(load_methods().values()), ids=lambda m: m.name)
def test_new_checks_and_size_check_are_in_the_definitions(home, method):
    graph = load_definitions().resolve_asset_graph()
    diffusion = graph.get(dg.AssetKey([method.key, "diffusion_estimates"]))
    arrhenius = graph.get(dg.AssetKey([method.key, "arrhenius_fits"]))
    assert dg.AssetCheckKey(diffusion.key, "kinisi_matches_ols") in diffusion.check_keys
    assert dg.AssetCheckKey(arrhenius.key, "Ea_physical") in arrhenius.check_keys
    size = dg.AssetKey([method.key, "size_check"])
    if method.kind == "imported":  # nothing to rerun in a wider cell
        assert not graph.has(size)
    else:
        node = graph.get(size)
        assert node.parent_keys == {diffusion.key} and node.automation_condition is None
        assert node.partitions_def == diffusion.partitions_def


def _row(kinisi, ols, agrees):
    return {"estimable": True, "replica_D_cm2_s": kinisi, "replica_D_ols_cm2_s": ols,
            "replica_seeds": [7, 8], "ols_agreement_factor": 3.0, "ols_agrees": agrees}  # fmt: skip


def test_a_flagged_fit_fails_the_check_with_both_numbers():
    result = ols_check(_row([1e-5, 2e-2], [1.1e-5, 2e-5], agrees=False))
    assert result.check_name == OLS_CHECK and not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in result.metadata.items()}
    assert meta == {"D_kinisi_cm2_s": 2e-2, "D_ols_cm2_s": 2e-5, "replica_seed": 8,
                    "allowed_factor": 3.0}  # fmt: skip
    assert ols_check(_row([1e-5, 2e-5], [1.1e-5, 2e-5], agrees=True)).passed
    assert ols_check({"estimable": False, "reason": "too short"}).passed


def test_size_comparison():
    same = compare_sizes(1.0e-5, (0.8e-5, 1.2e-5), 1.1e-5, (0.9e-5, 1.3e-5))
    assert same.agree and same.ratio == pytest.approx(1.1)
    apart = compare_sizes(1.0e-5, (0.9e-5, 1.1e-5), 2.0e-5, (1.8e-5, 2.2e-5))
    assert not apart.agree and apart.ratio == pytest.approx(2.0)


def test_a_melted_partition_fails_its_check_and_leaves_the_fit():
    points = pd.DataFrame(
        {
            "temperature_K": [800.0, 1000.0, 1200.0, 1300.0],
            "estimable": [True, True, True, False],
            "melted": [False, None, True, None],  # None: a row stored before the indicator
            "framework_lindemann_ratio": [0.05, None, 0.9, None],
        }
    )
    usable, left_out = fit_points(points)
    assert usable["temperature_K"].tolist() == [800.0, 1000.0]
    assert left_out == {1200.0: "framework melted (Lindemann ratio 0.900 >= 0.15)"}
    melted = {"framework_lindemann_ratio": 0.9, "lindemann_threshold": 0.15, "melted": True}
    result = melting_check(melted)
    assert result.check_name == MELT_CHECK and not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert "left out of the Arrhenius fit" in result.description
    assert melting_check({"framework_lindemann_ratio": None, "reason": None}).passed
