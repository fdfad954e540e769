"""`ionic-assets` as a user runs it: analyze, partitions, and clear one-line errors."""

import contextlib
import io
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import ase.io
import dagster as dg
import duckdb
import numpy as np
import pytest
import yaml
from ase import Atoms

from ionic_assets.cli import main
from ionic_assets.science import obelix
from ionic_assets.science.protocols import DEFAULT_PATH as PROTOCOLS_PATH
from ionic_assets.science.synthetic import brownian_trajectory

E_C, KB_J_K = 1.602176634e-19, 1.380649e-23


def _write_wrapped_extxyz(path, D_cm2_s):
    """A known-D trajectory written as a simulation code would: positions wrapped into the cell."""
    traj = brownian_trajectory(
        seed=5,
        D_cm2_s=D_cm2_s,
        n_frames=400,
        n_li=64,
        n_framework=16,
        frame_interval_ps=0.1,
        box_A=12.0,
    )
    frames = [
        Atoms(numbers=traj.numbers, positions=p, cell=traj.cell_A, pbc=True)
        for p in traj.positions_A
    ]
    for frame in frames:
        frame.wrap()
    ase.io.write(path, frames, format="extxyz")
    return traj


def test_analyze_extxyz_recovers_known_D(tmp_path, capsys):
    path = tmp_path / "run.extxyz"
    traj = _write_wrapped_extxyz(path, 5e-5)
    # 0.1 ps between frames = 50 steps of 2 fs.
    args = [str(path), "--temperature-K", "1000", "--timestep-fs", "2", "--frame-stride", "50"]
    assert main(["analyze", *args, "--equilibration-ps", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_frames"] == 390  # 1 ps of 0.1 ps frames discarded
    lo, hi = out["D_ci95_cm2_s"]
    assert lo < 5e-5 < hi and out["D_cm2_s"] == pytest.approx(5e-5, rel=0.2)
    sigma = 64 * E_C**2 * out["D_cm2_s"] / (12.0**3 * 1e-24 * KB_J_K * 1000.0) * 1e3
    assert out["sigma_mS_cm"] == pytest.approx(sigma, rel=1e-9)
    assert out["reliable"] is (out["msd_max_A2"] >= 20.0) and out["reliable"]
    assert np.isclose(out["volume_A3"], traj.volume_A3)


def test_analyze_bad_inputs_give_one_line(tmp_path, capsys):
    path = tmp_path / "run.extxyz"
    _write_wrapped_extxyz(path, 5e-5)
    assert main(["analyze", str(path), "--temperature-K", "1000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "timestep" in err

    assert main(["analyze", str(tmp_path / "missing.xyz")]) == 2
    assert "no such file" in capsys.readouterr().err

    no_li = tmp_path / "no_li.extxyz"
    ase.io.write(no_li, [Atoms("O2", positions=[[0, 0, 0], [1, 1, 1]], cell=[5] * 3, pbc=True)] * 5)
    args = [
        "analyze",
        str(no_li),
        "--temperature-K",
        "1000",
        "--timestep-fs",
        "2",
        "--frame-stride",
        "1",
    ]
    assert main(args) == 2
    assert "no Li" in capsys.readouterr().err


def test_partitions_add_and_refuse(instance, capsys):
    assert main(["partitions", "add", "temperature", "1300"]) == 0
    assert "1300" in instance.get_dynamic_partitions("temperature_K")
    assert main(["partitions", "add", "temperature", "-40"]) == 2
    assert "not a positive number of kelvin" in capsys.readouterr().err
    assert main(["partitions", "add", "material", "zzz"]) == 2
    assert "unknown OBELiX ID(s): zzz" in capsys.readouterr().err
    assert "zzz" not in instance.get_dynamic_partitions("material")


def test_the_instance_the_command_creates_sends_no_telemetry(home, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(home / "fresh-dagster"))
    assert main(["partitions", "list", "temperature"]) == 0
    with dg.DagsterInstance.get() as created:
        assert not created.telemetry_enabled


def test_run_refuses_unknown_method(instance, capsys):
    assert main(["run", "--methods", "nope", "--materials", "gvd"]) == 2
    assert "unknown method(s): nope" in capsys.readouterr().err


def test_run_on_k8s_refuses_an_instance_without_its_run_launcher(instance, monkeypatch, capsys):
    monkeypatch.setenv("IONIC_ASSETS_EXECUTOR", "k8s")
    assert main(["run", "--methods", "chgnet", "--materials", "gvd"]) == 2
    err = capsys.readouterr().err
    assert "run launcher must be dagster-k8s's K8sRunLauncher" in err
    assert "not DefaultRunLauncher" in err
    assert "Traceback" not in err


# --- `ionic-assets run` as a user sees it: a real CHGNet smoke run, then bad inputs after it ---

RUN = ["run", "--methods", "chgnet", "--protocol", "smoke", "--materials", "gvd"]
RUN += ["--temperatures", "1000"]
STAGES = (
    "obelix_subset", "supercells", "chgnet/relaxed_cells", "chgnet/md_trajectories",
    "chgnet/diffusion_estimates", "chgnet/arrhenius_fits", "benchmark_table",
)  # fmt: skip
NO_NOISE = ("Traceback", "Stack Trace", "Telemetry", "UserWarning", "requires_grad", "DEBUG")


def _main(argv) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _stored(home: Path) -> dict[str, bytes]:
    """Every stored result (the DuckDB file, trajectories, reports), byte for byte."""
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.relative_to(home).parts[0] != "dagster"
    }


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IONIC_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        started = time.monotonic()
        rc, out, err = _main(RUN)
        yield SimpleNamespace(
            rc=rc, out=out, err=err, home=home, wall_s=time.monotonic() - started, mp=mp
        )


@pytest.mark.slow
def test_run_prints_a_line_per_stage_progress_and_a_summary(smoke_run):
    assert smoke_run.rc == 0, smoke_run.err
    lines = smoke_run.out.splitlines()
    done = [line for line in lines if re.fullmatch(r"\S+( \S+)?: done \(\d+\.\d s\)", line)]
    assert [line.split(":")[0] for line in done] == [
        "obelix_subset", "supercells gvd", "chgnet/relaxed_cells gvd",
        "chgnet/md_trajectories gvd|1000", "chgnet/diffusion_estimates gvd|1000",
        "chgnet/arrhenius_fits gvd", "benchmark_table",
    ]  # fmt: skip
    # The MD step's first line says which engine runs it and why, then the progress.
    engine, *progress = [line for line in lines if line.startswith("  chgnet/md_trajectories ")]
    assert engine == (
        "  chgnet/md_trajectories gvd|1000: MD engine: ase (not batchable: chgnet: no torch-sim "
        "wrapper (batched families: sevenn, mace))"
    )
    assert progress and all(
        re.search(r"gvd\|1000: gvd 1000 K: step \d+/300 .* steps/s  ETA ", p) for p in progress
    )
    assert len(progress) <= smoke_run.wall_s / 10 + 1  # the first, then one per 10 s at most
    header = lines.index("") + 1
    assert lines[header].split() == ["stage", "done", "failed", "skipped", "wall", "time"]
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(STAGES)]]
    assert [r[0] for r in rows] == list(STAGES)
    assert all(r[1:4] == ["1", "0", "0"] and r[5] == "s" for r in rows)
    assert lines[-1].startswith("log: ") and len(lines) == header + 2 + len(STAGES)
    # Third-party output went to the run's log, not to the terminal.
    # (what a library prints once per process, e.g. CHGNet's banner, may be there or not).
    log = Path(lines[-1].removeprefix("log: ")).read_text()
    assert "Telemetry" in log or "CHGNet" in log
    for noise in NO_NOISE:
        assert noise not in smoke_run.out + smoke_run.err
    # Science warnings, each once: the smoke run's MSD stays under 20 Å², one temperature.
    warnings_ = smoke_run.err.splitlines()
    assert len(set(warnings_)) == len(warnings_) and all(
        w.startswith("warning: ") for w in warnings_
    )
    assert any(
        w.startswith("warning: chgnet/diffusion_estimates gvd|1000: check msd_reliable failed")
        for w in warnings_
    )
    assert "warning: chgnet/arrhenius_fits gvd: chgnet gvd: Arrhenius fit not estimable" in (
        smoke_run.err
    )


def _methods_file(tmp_path, methods: dict) -> str:
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump({"methods": methods}))
    return str(path)


def _protocols_file(tmp_path, **changes) -> str:
    entries = yaml.safe_load(PROTOCOLS_PATH.read_text())
    entries["smoke"].update(changes)
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump(entries))
    return str(path)


BAD_INPUTS = {
    "unknown method": ({}, ["--methods", "nope"], r"unknown method\(s\): nope \(known: .*chgnet"),
    "unknown protocol": ({}, ["--protocol", "fast"], r"unknown MD protocol 'fast' \(known: "),
    "unknown material": ({}, ["--materials", "zzz"], r"unknown OBELiX ID\(s\): zzz"),
    "bad temperature": (
        {}, ["--temperatures", "-5"], r"temperature partition '-5': not a positive number",
    ),
    "missing engine": (
        {}, ["--methods", "dft-vasp"], r"dft-vasp: set VASP_COMMAND \(or ASE_VASP_COMMAND\)",
    ),
    "missing weights": (
        {"methods": {"chgnet": {"kind": "mlip", "model": {"family": "chgnet", "path": "/no.pth"}}}},
        [], r"chgnet model 'no.pth': weights file /no.pth not found",
    ),
    "unknown model family": (
        {"methods": {"chgnet": {"kind": "mlip", "model": {"family": "nequip"}}}},
        [], r"methods file .*methods.yaml: method chgnet: model: unknown force-model family",
    ),
    "malformed methods file": (
        {"methods": "::: [not yaml"}, [], r"methods file .*: unreadable or without a 'methods' map",
    ),
    "negative time step": (
        {"protocols": {"timestep_fs": -2.0}}, [],
        r"protocols file .*protocols.yaml: protocol 'smoke': timestep_fs must be > 0 and <= 10 "
        r"\(fs\), got -2.0$",
    ),
    "duration shorter than equilibration": (
        {"protocols": {"equilibration_ps": 1.0}}, [],
        r"protocol 'smoke': equilibration_ps must be in \[0, duration_ps\) = \[0, 0.6\) ps, got 1$",
    ),
    "frame interval larger than the run": (
        {"protocols": {"frame_interval_steps": 500}}, [],
        r"protocol 'smoke': frame_interval_steps must be at most the run's 300 steps, got 500$",
    ),
    "unknown thermostat": (
        {"protocols": {"thermostat": {"class": "ase.md.langevin.Langevin"}}}, [],
        r"protocol 'smoke': thermostat 'ase.md.langevin.Langevin' not supported",
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_run_input_is_one_line_and_changes_nothing(smoke_run, tmp_path, monkeypatch, case):
    files, args, message = BAD_INPUTS[case]
    monkeypatch.delenv("VASP_COMMAND", raising=False)
    monkeypatch.delenv("ASE_VASP_COMMAND", raising=False)
    if "methods" in files:
        methods = files["methods"]
        path = tmp_path / "methods.yaml"
        if isinstance(methods, str):
            path.write_text(methods)
        else:
            path = _methods_file(tmp_path, methods)
        monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", str(path))
    if "protocols" in files:
        monkeypatch.setenv(
            "IONIC_ASSETS_PROTOCOLS_FILE", _protocols_file(tmp_path, **files["protocols"])
        )
    argv = list(RUN)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[argv.index(flag) + 1] = value
    before = _stored(smoke_run.home)
    rc, out, err = _main(argv)
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(message, err.strip()), err
    for noise in NO_NOISE:
        assert noise not in err
    assert _stored(smoke_run.home) == before


def _no_trajectories(tmp_path, monkeypatch) -> tuple[list[str], str]:
    """argv of a run whose md_trajectories fails at once: an imported method, nothing registered."""
    path = _methods_file(tmp_path, {"aimd": {"kind": "imported"}})
    monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", path)
    argv = ["run", "--methods", "aimd", "--protocol", "smoke", "--materials", "gvd"]
    return [*argv, "--temperatures", "1000"], path


@pytest.mark.slow
def test_failed_partition_skips_its_downstream_and_says_failed(smoke_run, tmp_path, monkeypatch):
    def rows():
        with duckdb.connect(str(smoke_run.home / "ionic.duckdb"), read_only=True) as conn:
            tables = ["supercells", "md_trajectories", "diffusion_estimates", "arrhenius_fits"]
            return {t: conn.execute(f"SELECT * FROM {t}").df().to_json() for t in tables}

    before, trajectories = rows(), _stored(smoke_run.home / "trajectories")
    argv, path = _no_trajectories(tmp_path, monkeypatch)
    rc, out, err = _main(argv)
    assert rc == 1
    cause = (
        "method aimd: no trajectory registered for gvd at 1000 K "
        f"(add it under `trajectories` in {path})"
    )
    assert err.splitlines() == [f"error: aimd/md_trajectories gvd|1000: {cause}"]
    # (benchmark_table's deps are fixed when defs/benchmark is first imported, with the methods
    # file of that moment, so here it does not wait for aimd: not asserted.)
    for skipped in ("aimd/diffusion_estimates gvd|1000", "aimd/arrhenius_fits gvd"):
        assert f"{skipped}: skipped, upstream failed" in out.splitlines()
    summary = {line.split()[0]: line.split()[1:4] for line in out.splitlines()[-7:-1]}
    assert summary["aimd/md_trajectories"] == ["0", "1", "0"]
    assert summary["aimd/diffusion_estimates"] == ["0", "0", "1"]
    assert summary["aimd/arrhenius_fits"] == ["0", "0", "1"]
    assert rows() == before and _stored(smoke_run.home / "trajectories") == trajectories

    # The Dagster UI shows the same line at the top of the failure, the details below it.
    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            instance.get_runs(limit=1)[0].run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records
    failure = records[0].event_log_entry.dagster_event.step_failure_data
    assert failure.user_failure_data.description == cause
    assert failure.user_failure_data.metadata["error_type"].value == "InputError"
    assert "Stack Trace" not in failure.user_failure_data.description


@pytest.mark.slow
def test_verbose_shows_dagsters_log(smoke_run, tmp_path, monkeypatch, capsys):
    argv, _ = _no_trajectories(tmp_path, monkeypatch)
    assert main(["--verbose", *argv]) == 1
    captured = capsys.readouterr()
    assert "STEP_FAILURE" in captured.err + captured.out
    assert "log: " not in captured.out


@pytest.mark.slow
def test_a_bug_in_a_step_prints_its_traceback(smoke_run, monkeypatch):
    def planted(*args, **kwargs):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(obelix, "read_structure", planted)
    rc, out, err = _main(RUN)
    assert rc == 1
    first, *trace = err.splitlines()
    # The first step that reads a structure (today obelix_subset) fails with the bug.
    assert re.fullmatch(
        r"error: (obelix_subset|supercells gvd): ZeroDivisionError: planted bug "
        r"\(a bug; traceback below\)",
        first,
    ), first
    assert trace[0] == "Traceback (most recent call last):" and trace[-1].endswith("planted bug")
    assert any("in planted" in line for line in trace)
    assert "chgnet/md_trajectories gvd|1000: skipped, upstream failed" in out


def test_a_bug_outside_a_step_keeps_its_traceback(instance, monkeypatch):
    monkeypatch.setattr(obelix, "load_table", lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["partitions", "add", "material", "gvd"])


def test_usage_mistakes_are_one_line(capsys):
    for argv, message in (
        (["run", "--materials"], "ionic-assets run: argument --materials: expected one argument"),
        (["partitions", "add"], "ionic-assets: partitions add: needs a dimension and at least"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_analyze_unreadable_trajectory_is_one_line(tmp_path, capsys):
    garbage = tmp_path / "run.extxyz"
    garbage.write_text("not a trajectory\n")
    assert main(["analyze", str(garbage), "--temperature-K", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.slow
def test_a_structure_fix_is_shown_once(smoke_run, tmp_path, monkeypatch):
    # An imported method without trajectories: supercells runs, its MD fails at once.
    path = _methods_file(tmp_path, {"aimd": {"kind": "imported"}})
    monkeypatch.setenv("IONIC_ASSETS_METHODS_FILE", path)
    argv = ["run", "--methods", "aimd", "--materials", "joc", "--temperatures", "1000"]
    rc, out, err = _main(argv)
    assert rc == 1
    assert err.splitlines() == [
        "warning: supercells joc: material joc: 8 site occupancies changed "
        "(S 0.97 rounded to 1, S 0.98 rounded to 1, S 0.99 rounded to 1)",
        "error: aimd/md_trajectories joc|1000: method aimd: no trajectory registered for joc at "
        f"1000 K (add it under `trajectories` in {path})",
    ]
    assert "aimd/arrhenius_fits joc: skipped, upstream failed" in out
