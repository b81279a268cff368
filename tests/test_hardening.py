"""Hardening (issue 13): no traceback, no silent acceptance, no leftover, no hang.

Bad scenario values are generated from the schema itself (:mod:`tests.strategies`), so a
new key is covered without a new test. ``check`` and ``run`` share one loader; the
tests hold them to the same verdict, and hold the documented ranges (REFERENCE.md, made
from the same keys) to the enforced ones.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import painsim
from painsim import cli, cohort, engine, interventions, outcomes, protocols, results
from painsim.cli import MAX_WORKERS, main
from painsim.errors import ParameterError

from .strategies import BASE_SCENARIO, Slot, bad_values, good_values, schema_slots, toml_document

SLOTS = schema_slots()
NUMERIC = [s for s in SLOTS if s.key.type in ("int", "float", "duration")]
#: A base whose horizon holds every day a key may name (the longest one).
LONG = {**BASE_SCENARIO, "horizon": f"{protocols.MAX_DAY:g} days"}


class _Reached(Exception):
    """Raised in place of the first arm's integration: everything before it passed."""


def _write(folder: str | Path, doc: dict) -> Path:
    f = Path(folder) / "s.toml"
    f.write_text(toml_document(doc))
    return f


def _problem_lines(output: str, f: Path) -> list[str]:
    """The ``file: path: message`` lines of a failed check or run (click's prefix off)."""
    lines = [ln.removeprefix("Error: ") for ln in output.splitlines()]
    return [ln for ln in lines if not re.fullmatch(r"\d+ of \d+ file\(s\) have problems",
                                                   ln)]


def _assert_refused(res, f: Path, path: str, out: Path | None = None) -> None:
    """Non-zero exit, no traceback, every line names the file, one names the path."""
    assert res.exit_code not in (0, None), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    lines = _problem_lines(res.output, f)
    assert lines and all(ln.startswith(f"{f}: ") for ln in lines), res.output
    pattern = re.compile(re.escape(f"{f}: {path}") + r"[:.\[]")
    assert any(pattern.match(ln) for ln in lines), (path, res.output)
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# --- 1, 2, 9: a bad value at any key: one line with file and dotted path, both commands ----
@pytest.mark.parametrize("slot", SLOTS, ids=lambda s: s.label)
@settings(max_examples=8)
@given(data=st.data())
def test_a_bad_value_at_any_key_is_refused_with_its_path(slot: Slot, data) -> None:
    value = data.draw(bad_values(slot.key), label=slot.path)
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as d:
        f = _write(d, slot.doc(value))
        _assert_refused(runner.invoke(main, ["check", str(f)]), f, slot.path)
        out = Path(d) / "out"
        res = runner.invoke(main, ["run", str(f), "--out", str(out), "--quiet"])
        _assert_refused(res, f, slot.path, out)


# --- 3: check accepts exactly what run accepts --------------------------------------------
def _verdicts(f: Path, out: Path) -> tuple:
    """(check result, run result) with the run stopped where integration would begin."""
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(f)])
    with mock.patch.object(engine, "_arm_run", side_effect=_Reached), \
            mock.patch.object(cli, "_available_memory", return_value=None):
        ran = runner.invoke(main, ["run", str(f), "--out", str(out), "--quiet"])
    return checked, ran


def _assert_same_verdict(f: Path, out: Path) -> bool:
    checked, ran = _verdicts(f, out)
    assert "Traceback" not in checked.output + ran.output
    if checked.exit_code == 0:
        assert isinstance(ran.exception, _Reached), (checked.output, ran.output)
        return True
    assert ran.exit_code == 1 and not out.exists(), ran.output
    assert _problem_lines(ran.output, f) == _problem_lines(checked.output, f)
    return False


@pytest.mark.parametrize("slot", [s for s in SLOTS if s.path != "cohort.patients" and (
    s.key.type not in ("table", "list") or s.key.entries)], ids=lambda s: s.label)
@settings(max_examples=5)
@given(data=st.data())
def test_check_accepts_exactly_what_run_accepts(slot: Slot, data) -> None:
    value = data.draw(good_values(slot.key), label=slot.path)
    with tempfile.TemporaryDirectory() as d:
        _assert_same_verdict(_write(d, slot.doc(value, LONG if slot.kind == "" else None)),
                             Path(d) / "out")


def _as_file_value(slot: Slot, v: float) -> object:
    if slot.key.type == "duration":
        return f"{v!r} days"
    return int(v) if slot.key.type == "int" else float(v)


@pytest.mark.parametrize("slot", NUMERIC, ids=lambda s: s.label)
def test_documented_range_is_the_enforced_range(slot: Slot, tmp_path: Path) -> None:
    """Both ends of each key's range (as REFERENCE.md prints it) pass check and run; the
    nearest values outside are refused with the key's path."""
    key = slot.key
    base = LONG if slot.kind == "" else {**slot.base, "horizon": LONG["horizon"]}
    for end in (key.lo, key.hi):
        if math.isinf(end):
            continue
        f = _write(tmp_path, slot.doc(_as_file_value(slot, end), base))
        if slot.path == "cohort.patients" and end > 1:  # a machine's memory decides
            assert CliRunner().invoke(main, ["check", str(f)]).exit_code == 0
            with mock.patch.object(cohort.Cohort, "sample", side_effect=_Reached), \
                    mock.patch.object(engine, "_shared_array", side_effect=_Reached), \
                    mock.patch.object(engine.np, "empty", side_effect=_Reached):
                res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "o")])
            assert isinstance(res.exception, _Reached) or "needs about" in res.output
            continue
        ok = _assert_same_verdict(f, tmp_path / "out")
        if not ok:  # only a rule between keys may refuse it, never its own range
            lines = _problem_lines(CliRunner().invoke(main, ["check", str(f)]).output, f)
            own = [ln for ln in lines if ln.startswith(f"{f}: {slot.path}: ")]
            assert not any("out of range" in ln or " not " in ln for ln in own), own
    for end, direction in ((key.lo, -math.inf), (key.hi, math.inf)):
        if math.isinf(end) or (key.type == "duration" and end == 0):
            continue
        beyond = end + (1 if direction > 0 else -1) if key.type == "int" else \
            math.nextafter(end, direction)
        f = _write(tmp_path, slot.doc(_as_file_value(slot, beyond), base))
        _assert_refused(CliRunner().invoke(main, ["check", str(f)]), f, slot.path)


def test_the_examples_of_the_issue(tmp_path: Path) -> None:
    """``100 years`` is refused by both (as documented); ``10 years`` of run-in runs."""
    doc = {**BASE_SCENARIO, "horizon": "100 years"}
    f = _write(tmp_path, doc)
    _assert_refused(CliRunner().invoke(main, ["check", str(f)]), f, "horizon")
    _assert_refused(CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "o")]),
                    f, "horizon", tmp_path / "o")
    doc = {**BASE_SCENARIO, "cohort": {"patients": 1, "run_in": "10 years"}}
    f = _write(tmp_path, doc)
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "summary.csv").is_file()


# --- 1, 9: files that are not scenarios at all ------------------------------------------
@pytest.mark.parametrize("text", ["x = " + "[" * 5000 + "]" * 5000,
                                  "x = " + "[" * 40 + "]" * 40,
                                  "x = " + "{ a = " * 3000 + "1" + " }" * 3000])
def test_deep_nesting_is_one_clean_line(text: str, tmp_path: Path) -> None:
    f = tmp_path / "deep.toml"
    f.write_text(text)
    for args in (["check", str(f)], ["run", str(f), "--out", str(tmp_path / "o")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
        assert f"{f}: arrays or tables nested more than" in res.output
        assert len(_problem_lines(res.output, f)) == 1
    assert not (tmp_path / "o").exists()


def test_symlink_loop_and_dangling_link_are_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    (tmp_path / "c.toml").symlink_to(tmp_path / "missing.toml")
    for name, words in (("a.toml", "symbolic link loop"), ("c.toml", "link to a missing")):
        res = CliRunner().invoke(main, ["check", str(tmp_path / name)])
        assert res.exit_code == 1 and words in res.output, res.output
        assert "not found" not in res.output


@pytest.mark.parametrize(("table", "key", "where", "value", "path"), [
    ("arms", "name", ("arms", 0, "name"), "   ", "arms[0].name"),
    ("fixed", "every", ("arms", 0, "schedule", "every"), "20 years", "arms[0].schedule.every"),
    ("outcomes", "relief_min", ("outcomes", "relief_min"), "20 years", "outcomes.relief_min"),
    ("cohort", "run_in", ("cohort", "run_in"), "20 years", "cohort.run_in"),
])
def test_errors_of_the_api_objects_carry_the_files_path(table, key, where, value, path,
                                                        tmp_path: Path) -> None:
    """Even where the schema allowed more than an API object (it is widened here to
    force that), the error names the file's dotted path, not ``Fixed.every_days``."""
    from painsim import scenario

    keys = scenario.SCHEDULES["fixed"] if table == "fixed" else scenario.SCHEMA[table]
    wide = dataclasses.replace(keys[key], hi=1e9)
    slot = Slot(path, where, wide, BASE_SCENARIO)
    f = _write(tmp_path, slot.doc(value))
    with mock.patch.dict(keys, {key: wide}):
        res = CliRunner().invoke(main, ["check", str(f)])
    _assert_refused(res, f, path)
    assert not re.search(r"\b(Fixed|Arm|Cohort|Outcomes)\.", res.output), res.output


def test_subprocess_check_and_run_fail_in_one_line_without_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 3000 + "]" * 3000)
    kind = _write(tmp_path, Slot("k", ("arms", 0, "treatment", 0, "kind"), None,
                                 BASE_SCENARIO).doc(["sham"]))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for args in (["check", str(deep), str(kind)], ["run", str(kind), "--out",
                                                    str(tmp_path / "o")]):
        proc = subprocess.run([sys.executable, "-m", "painsim.cli", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert f"{kind}: arms[0].treatment[0].kind: ['sham'] is not a string" in proc.stderr
    assert not (tmp_path / "o").exists()


# --- 2, 8: the API: every public constructor, every argument, fuzzed -----------------------
def _sham() -> interventions.Intervention:
    return interventions.sham()


#: Each public constructor with the arguments it needs.
CONSTRUCTORS = {
    painsim.Cohort: {"n": 2},
    painsim.Phenotype: {"name": "p", "description": "d"},
    painsim.Flares: {},
    painsim.Uniform: {"low": 0.0, "high": 1.0},
    painsim.LogNormal: {"median": 1.0, "cv": 0.2},
    painsim.Fixed: {},
    painsim.Tapering: {},
    painsim.AsNeeded: {},
    painsim.Clinic: {},
    painsim.Protocol: {"intervention": _sham(), "schedule": protocols.Fixed()},
    painsim.Arm: {"name": "a"},
    painsim.Outcomes: {},
}
JUNK = [True, False, None, "", "x", [], {}, (), math.nan, math.inf, -math.inf, -1, -1e300,
        10**400, 1e308, 2.5, object(), [1.0, 2.0], {"a": 1}, b"\x00"]


def _fields() -> list[tuple[type, str, str]]:
    out = []
    for cls in CONSTRUCTORS:
        hints = typing.get_type_hints(cls, vars(cohort) | vars(outcomes) | vars(protocols))
        for fld in dataclasses.fields(cls):
            if fld.init:
                out.append((cls, fld.name, str(hints[fld.name])))
    return out


def _must_refuse(hint: str, value: object) -> bool:
    """Whether ``value`` is plainly wrong for an argument annotated ``hint``."""
    numeric = hint in ("<class 'float'>", "<class 'int'>")
    if numeric:
        return (isinstance(value, bool) or not isinstance(value, int | float)
                or (isinstance(value, float) and not math.isfinite(value))
                or (hint == "<class 'int'>" and not isinstance(value, int)))
    if hint == "<class 'str'>":
        return not isinstance(value, str)
    if hint == "<class 'bool'>":
        return not isinstance(value, bool)
    return value is True or value is False


@pytest.mark.parametrize(("cls", "name", "hint"), _fields(),
                         ids=lambda v: v.__name__ if isinstance(v, type) else str(v)[:20])
@settings(max_examples=len(JUNK))
@given(value=st.sampled_from(JUNK))
def test_every_constructor_argument_refuses_junk_with_a_parameter_error(cls, name, hint,
                                                                         value) -> None:
    args = {**CONSTRUCTORS[cls], name: value}
    try:
        cls(**args)
    except ParameterError as exc:
        assert name in exc.name or name in str(exc), (name, str(exc))
        assert exc.allowed and len(str(exc).splitlines()) == 1
    else:
        assert not _must_refuse(hint, value), f"{cls.__name__}({name}={value!r}) accepted"


def _junk_accepted(make, args: dict, hints: dict) -> list[str]:
    """The (argument, value) pairs that ``make`` accepts although plainly wrong, or
    refuses with an error other than a ParameterError naming the argument."""
    bad = []
    for name, hint in hints.items():
        for value in JUNK:
            try:
                make(**{**args, name: value})
            except ParameterError as exc:
                if name not in str(exc):
                    bad.append(f"{name}={value!r}: {exc}")
            except Exception as exc:  # the wrong kind of error is itself a finding
                bad.append(f"{name}={value!r}: {type(exc).__name__}: {exc}")
            else:
                if _must_refuse(hint, value):
                    bad.append(f"{name}={value!r}: accepted")
    return bad


def test_effect_and_simulate_arguments_refuse_junk_with_a_parameter_error() -> None:
    effect_hints = {"target": "<class 'str'>", "op": "<class 'str'>",
                    "value": "<class 'float'>", "probability": "<class 'float'>",
                    "event": "str | None"}
    bad = _junk_accepted(painsim.Effect, {"target": "D"}, effect_hints)

    def sim(**kw):
        args = {"arms": [painsim.Arm(name="a")], "cohort": painsim.Cohort(n=1, run_in_days=0),
                "horizon_days": 3, **kw}
        return painsim.simulate(**args)

    sim_hints = {"arms": "arms", "cohort": "cohort", "horizon_days": "<class 'float'>",
                 "outcomes": "Outcomes | None", "epoch_days": "<class 'float'>",
                 "chunk_size": "int | None", "rtol": "<class 'float'>",
                 "atol": "<class 'float'>", "progress": "callable",
                 "workers": "<class 'int'>", "backend": "<class 'str'>"}
    bad += _junk_accepted(sim, {}, sim_hints)
    assert bad == []


def test_the_api_examples_of_the_issue() -> None:
    for make in (lambda: painsim.Cohort(n=True), lambda: painsim.Cohort(n=2, seed=True),
                 lambda: painsim.Outcomes(short_term_day=True),
                 lambda: painsim.Outcomes(bootstrap=2.5),
                 lambda: painsim.Arm(name="a", protocol=""),
                 lambda: painsim.Arm(name="a", clinic=True),
                 lambda: painsim.Flares(strain_target=None),
                 lambda: painsim.Cohort(n=2, mix=["chronic_sensitized"]),
                 lambda: painsim.LogNormal(median=1.0, cv=1e200)):
        with pytest.raises(ParameterError):
            make()


# --- 4: an --out that cannot be made fails before simulating ------------------------------
GOOD = {**BASE_SCENARIO}


@pytest.mark.parametrize("case", ["parent_is_file", "cannot_write"])
def test_out_that_cannot_be_created_fails_before_simulating(case: str, tmp_path: Path) -> None:
    f = _write(tmp_path, GOOD)
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out" if case == "parent_is_file" else tmp_path / "ro" / "out"
    boom = PermissionError(13, "Permission denied")
    with mock.patch.object(engine, "simulate", side_effect=AssertionError("simulated")) as sim, \
            mock.patch.object(results.tempfile, "mkdtemp", side_effect=boom,
                              wraps=tempfile.mkdtemp) as mkdtemp:
        if case == "parent_is_file":
            mkdtemp.side_effect = None
        res = CliRunner().invoke(main, ["run", str(f), "--out", str(out)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert sim.call_count == 0
    assert f"{out}: cannot create it: " in res.output
    assert ("is not a folder" if case == "parent_is_file" else "no permission") in res.output
    assert not (tmp_path / "ro").exists()


def test_a_disk_too_full_for_daily_pain_fails_before_simulating(tmp_path: Path) -> None:
    # painsim run keeps daily pain on disk beside --out; its space is reserved first
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate here")
    f, out = _write(tmp_path, GOOD), tmp_path / "out"
    full = OSError(28, "No space left on device")
    with mock.patch.object(os, "posix_fallocate", side_effect=full), \
            mock.patch.object(engine, "_ArmRun", side_effect=AssertionError("ran")) as run:
        res = CliRunner().invoke(main, ["run", str(f), "--out", str(out)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert run.call_count == 0 and "Traceback" not in res.output
    assert re.search(r"painsim-spool-\d+-\w+/pain_0\.npy: cannot keep daily pain there "
                     r"\(\d+ MiB\): no space left on the disk", res.output), res.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["s.toml"]


def test_force_replaces_only_a_results_folder(tmp_path: Path) -> None:
    f = _write(tmp_path, GOOD)
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("keep me")
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(project), "--force"])
    assert res.exit_code == 1 and "not a painsim results folder" in res.output, res.output
    assert (project / "thesis.tex").read_text() == "keep me"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a user whom file permissions bind")
def test_read_only_folder_fails_before_simulating(tmp_path: Path) -> None:
    f = _write(tmp_path, GOOD)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = CliRunner().invoke(main, ["run", str(f), "--out", str(ro / "out")])
    finally:
        ro.chmod(0o755)
    assert res.exit_code == 1 and "no permission to write in" in res.output


# --- 5: user-sized options are bounded ---------------------------------------------------
def test_workers_beyond_the_cores_are_cut_to_the_cores(tmp_path: Path) -> None:
    f = _write(tmp_path, GOOD)
    with mock.patch.object(engine, "simulate", side_effect=_Reached) as sim:
        res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "o"),
                                        "--workers", "10000"])
    assert isinstance(res.exception, _Reached), res.output
    assert sim.call_args.kwargs["workers"] == MAX_WORKERS
    assert f"--workers 10000 is more than the {MAX_WORKERS} cores" in res.output


@pytest.mark.parametrize("args", [["teach", "--workers", "-1"],
                                  ["validate", "--patients", str(10**12)],
                                  ["claims", "--patients", str(10**12)],
                                  ["calibrate", "c.toml", "--max-evaluations", str(10**9)]])
def test_sizes_on_the_command_line_are_bounded(args: list[str]) -> None:
    with mock.patch.object(engine, "simulate", side_effect=AssertionError("ran")):
        res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "Invalid value" in res.output and "Traceback" not in res.output


def test_patients_override_is_checked_like_the_file(tmp_path: Path) -> None:
    f = _write(tmp_path, GOOD)
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "o"),
                                    "--patients", str(10**8)])
    _assert_refused(res, f, "cohort.patients", tmp_path / "o")


# --- 6: interrupted runs leave nothing behind; a killed run's leftovers are removed -------
LONG_RUN = {**BASE_SCENARIO, "horizon": "2 years",
            "cohort": {"patients": 400, "run_in": "30 days"},
            "arms": [BASE_SCENARIO["arms"][0], {"name": "b"}]}
WRITE_HEAVY = {**BASE_SCENARIO, "horizon": "60 days", "outputs": {"plots": True},
               "cohort": {"patients": 30, "run_in": "1 day"}}


# The run sends itself the signal right after its first table is in the temporary folder,
# so the signal lands mid-write on any machine, however loaded (a timed signal from the
# test could land before the writing began or after it ended).
_SIGNAL_ON_WRITE = """
import os, sys, pandas
from painsim.cli import main
first = pandas.DataFrame.to_csv
def to_csv(self, *args, **kw):
    out = first(self, *args, **kw)
    os.kill(os.getpid(), int(os.environ["PAINSIM_TEST_SIGNAL"]))
    return out
pandas.DataFrame.to_csv = to_csv
sys.argv = ["painsim", *sys.argv[1:]]
main()
"""


def _start(f: Path, out: Path, signal_on_write: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    head = [sys.executable, "-m", "painsim.cli"]
    if signal_on_write is not None:
        env["PAINSIM_TEST_SIGNAL"] = str(int(signal_on_write))
        head = [sys.executable, "-c", _SIGNAL_ON_WRITE]
    return subprocess.Popen([*head, "run", str(f), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_simulation_leaves_nothing(sig: int, tmp_path: Path) -> None:
    f, out = _write(tmp_path, LONG_RUN), tmp_path / "out"
    proc = _start(f, out)
    line = " "
    while line and not line.startswith("simulating"):  # once loading and checks are done
        line = proc.stderr.readline()
    assert line.startswith("simulating"), proc.communicate(timeout=60)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert "interrupted" in err and "was not written" in err and "Traceback" not in err
    assert not out.exists() and _leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_write_leaves_nothing(sig: int, tmp_path: Path) -> None:
    f, out = _write(tmp_path, WRITE_HEAVY), tmp_path / "out"
    proc = _start(f, out, signal_on_write=sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and _leftovers(out) == []


def test_interrupt_mid_write_removes_the_folders_it_made(tmp_path: Path) -> None:
    # --out inside folders that do not exist yet: they are made for the results and
    # removed again when the write is interrupted
    f, out = _write(tmp_path, WRITE_HEAVY), tmp_path / "new" / "deeper" / "out"
    proc = _start(f, out, signal_on_write=signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name]


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path: Path) -> None:
    f, out = _write(tmp_path, WRITE_HEAVY), tmp_path / "out"
    proc = _start(f, out, signal_on_write=signal.SIGKILL)  # nothing can clean up
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # the half-written folder and the daily pain kept on disk (the spool)
    stale = sorted(_leftovers(out))
    assert len(stale) == 2 and not out.exists()
    assert stale[0].startswith(f".out.painsim-{proc.pid}-")
    assert stale[1].startswith(f".out.painsim-spool-{proc.pid}-")
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    for name in stale:
        assert f"removed {tmp_path / name}" in res.output
    assert "interrupted run" in res.output
    assert _leftovers(out) == [] and (out / "manifest.json").is_file()


def test_only_temporaries_of_finished_processes_are_removed(tmp_path: Path) -> None:
    f, out = _write(tmp_path, GOOD), tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f".out.painsim-{int(done.stdout)}-abcdefgh"
    probe = tmp_path / f".out.painsim-probe-{int(done.stdout)}-abcdefgh"
    spool = tmp_path / f".out.painsim-spool-{int(done.stdout)}-abcdefgh"
    alive = tmp_path / f".out.painsim-{os.getppid()}-abcdefgh"  # a running process
    alive_spool = tmp_path / f".out.painsim-spool-{os.getppid()}-abcdefgh"
    other = tmp_path / ".out.notours"
    for d in (dead, probe, spool, alive, alive_spool, other):
        d.mkdir()
        (d / "summary.csv").write_text("partial")
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert not dead.exists() and not probe.exists() and not spool.exists()
    assert alive.exists() and alive_spool.exists() and other.exists()
    assert res.output.count("removed ") == 3


def test_a_killed_runs_spool_above_a_missing_parent_is_removed(tmp_path: Path) -> None:
    """A run into a folder whose parent did not exist kept its daily pain in the nearest
    folder above it that did; the next run into that folder removes it, whether the
    parent exists by then (it was killed while writing) or not (while simulating). Up
    there, only a spool this machine made for this very --out is removed: one of
    another machine (whose processes cannot be seen) or of no known owner stays."""
    import json

    from painsim.results import _owner

    f = _write(tmp_path, GOOD)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    for case, made in (("sim", False), ("write", True)):
        out = tmp_path / case / "a" / "b" / "out"
        (tmp_path / case).mkdir()
        here = _owner(out)
        folders = {
            "ours": (f".out.painsim-spool-{dead}-abcdefgh", here),
            "alive": (f".out.painsim-spool-{os.getppid()}-abcdefgh", here),
            "other name": (f".res.painsim-spool-{dead}-abcdefgh", here),
            "elsewhere": (f".out.painsim-spool-{dead}-bcdefghi", {**here, "host": "x"}),
            "other out": (f".out.painsim-spool-{dead}-cdefghij",
                          {**here, "out": str(tmp_path / "elsewhere" / "out")}),
            "no owner": (f".out.painsim-spool-{dead}-defghijk", None)}
        for name, owner in folders.values():
            d = tmp_path / case / name
            d.mkdir()
            (d / "pain_0.npy").write_bytes(b"partial")
            if owner is not None:
                (d / "owner.json").write_text(json.dumps(owner))
        if made:
            out.parent.mkdir(parents=True)
        res = CliRunner().invoke(main, ["run", str(f), "--out", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        ours = tmp_path / case / folders["ours"][0]
        assert f"removed {ours}" in res.output and not ours.exists()
        assert res.output.count("removed ") == 1
        for key in ("alive", "other name", "elsewhere", "other out", "no owner"):
            assert (tmp_path / case / folders[key][0]).exists(), key
        assert (out / "manifest.json").is_file()


def test_a_spool_folder_says_whose_it_is(tmp_path: Path) -> None:
    """painsim run's spool folder records this machine and the --out it is for."""
    import json

    from painsim.results import _owner, _spool_folder

    out = tmp_path / "new" / "out"
    sp = _spool_folder(out)
    try:
        assert sp.parent == tmp_path
        assert json.loads((sp / "owner.json").read_text()) == _owner(out)
        assert _owner(out)["out"] == str(out)
    finally:
        shutil.rmtree(sp)
