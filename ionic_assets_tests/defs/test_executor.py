"""IONIC_ASSETS_EXECUTOR: Dagster's default executor locally, k8s_job_executor in the cluster
(dagster-k8s's, with DFT pods sized per material: defs/k8s_executor.py, test_k8s_jobs.py)."""

import dagster as dg
import pytest
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster_k8s import k8s_job_executor

from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.executor import executor_choice, k8s_executor_config
from ionic_assets.defs.k8s_executor import k8s_partition_sized_executor
from ionic_assets.lib.k8s import md_step_name
from ionic_assets.science.errors import InputError

MD_KEY = dg.AssetKey(["chgnet", "md_trajectories"])


def md_job(defs: dg.Definitions) -> dg.JobDefinition:
    return defs.resolve_implicit_job_def_def_for_assets([MD_KEY])


@pytest.mark.parametrize("setting", [None, "local", " LOCAL "])
def test_local_keeps_dagsters_default(home, monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv("IONIC_ASSETS_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("IONIC_ASSETS_EXECUTOR", setting)
    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    assert defs.executor is None
    assert md_job(defs).executor_def.name == dg.multi_or_in_process_executor.name


def test_k8s_uses_k8s_job_executor(home, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_EXECUTOR", "k8s")
    for name in ("IONIC_ASSETS_K8S_IMAGE", "IONIC_ASSETS_K8S_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    for engine in ("MACE", "CHGNET", "SEVENN", "CP2K", "VASP", "IMPORTED"):
        monkeypatch.delenv(f"IONIC_ASSETS_K8S_IMAGE_{engine}", raising=False)
    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    executor = md_job(defs).executor_def
    # dagster-k8s's executor under its own name and config schema, unconfigured: the chart gives
    # each step pod its image (the code location's) and namespace.
    assert executor is k8s_partition_sized_executor
    assert executor.name == k8s_job_executor.name == "k8s"
    assert executor.config_schema is k8s_job_executor.config_schema
    resolved = ResolvedRunConfig.build(md_job(defs), {}).execution.execution_engine_config
    assert "job_image" not in resolved and "job_namespace" not in resolved


def test_k8s_settings_from_the_environment(home, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_EXECUTOR", "k8s")
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE", "registry.example.org/ionic-assets:1")
    monkeypatch.setenv("IONIC_ASSETS_K8S_NAMESPACE", "md")
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE_MACE", "registry.example.org/ionic-assets:1-mace")
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE_CP2K", "registry.example.org/ionic-assets:1-cp2k")
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE_VASP", "registry.example.org/my-vasp:6.4")
    config = k8s_executor_config()
    assert config["job_image"] == "registry.example.org/ionic-assets:1"
    assert config["job_namespace"] == "md"
    # Only the md_trajectories steps of the methods of each engine get its image.
    assert config["per_step_k8s_config"] == {
        md_step_name(key): {"container_config": {"image": image}}
        for key, image in (
            ("mace_mpa_0", "registry.example.org/ionic-assets:1-mace"),
            ("dft_vasp", "registry.example.org/my-vasp:6.4"),
            ("dft_cp2k", "registry.example.org/ionic-assets:1-cp2k"),
        )
    }
    defs = load_definitions()
    job = md_job(defs)
    assert job.executor_def.name == "k8s"
    # Configured from the environment, with k8s_job_executor's schema underneath.
    assert job.executor_def.config_schema.parent_def is k8s_partition_sized_executor
    resolved = ResolvedRunConfig.build(job, {}).execution.execution_engine_config
    assert resolved["job_image"] == "registry.example.org/ionic-assets:1"
    assert resolved["job_namespace"] == "md"
    assert md_step_name("mace_mpa_0") in resolved["per_step_k8s_config"]
    # The op name the executor keys per_step_k8s_config by.
    assert defs.resolve_assets_def(MD_KEY).op.name == md_step_name("chgnet")


def test_unknown_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_EXECUTOR", "celery")
    with pytest.raises(InputError, match="IONIC_ASSETS_EXECUTOR='celery'"):
        executor_choice()
