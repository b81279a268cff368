"""``[basins]`` and ``[explain]`` scenario sections (issue 15): validated by the one
schema path (bad input: one line naming file and dotted field), read by ``painsim
basins`` / ``painsim explain`` as defaults that their flags override; and progress with
``-v``/``-q`` on ``sensitivity``, ``basins`` and ``explain`` (the CLI's one bar)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import painsim.attribute
import painsim.basins
from painsim import cli
from painsim.cli import main
from painsim.errors import ScenarioError
from painsim.scenario import load_scenario

STUDY = """\
seed = 3
horizon = "{horizon}"

[cohort]
patients = {patients}
run_in = "10 days"

[outputs]
plots = false

[[arms]]
name = "natural"

[[arms]]
name = "sham"
treatment = [{{ kind = "sham" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 2 }}

[[arms]]
name = "dry needling"
treatment = [{{ kind = "dry_needling" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 2 }}
"""


def _file(tmp_path: Path, extra: str, *, horizon: str = "6 months", patients: int = 4
          ) -> Path:
    f = tmp_path / "s.toml"
    f.write_text(STUDY.format(horizon=horizon, patients=patients) + extra)
    return f


class _Reached(Exception):
    """Raised in place of the computation: what it was called with is recorded."""


def test_bad_values_are_one_line_each_naming_file_and_field(tmp_path: Path) -> None:
    f = _file(tmp_path, """
[basins]
max_sessions = 0
every = "3 fortnights"
settle = "400 days"
arm = "natural"
equilibria = "yes"

[explain]
reference = "shma"
patient = -1
days = ["1 week", "2 years"]
""")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    lines = str(err.value).splitlines()
    assert all(ln.startswith(f"{f}: ") for ln in lines), lines
    fields = [ln.split(": ")[1] for ln in lines]
    assert sorted(fields) == sorted([
        "basins.max_sessions", "basins.every", "basins.settle", "basins.arm",
        "basins.equilibria", "explain.reference", "explain.patient", "explain.days[1]"])
    text = str(err.value)
    assert "'natural' is not a treated arm; treated arms: sham, dry needling" in text
    assert "did you mean 'sham'" in text and "after the horizon" in text
    assert "400 days is longer than basins.horizon (365 days)" in text
    for cmd in ("check", "basins", "explain"):  # one loader: the same lines everywhere
        args = [cmd, str(f)] + ([] if cmd == "check" else ["--out", str(tmp_path / "o")])
        res = CliRunner().invoke(main, args)
        assert res.exit_code != 0 and "Traceback" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert all(field in res.output for field in fields), res.output
    assert not (tmp_path / "o").exists()
    f = _file(tmp_path, '[explain]\narm = "sham"\nreference = "sham"\n')
    with pytest.raises(ScenarioError, match=re.escape(f"{f}: explain.arm: 'sham' is also")):
        load_scenario(f)


def test_defaults_fill_the_sections(tmp_path: Path) -> None:
    s = load_scenario(_file(tmp_path, ""))
    assert s.data["basins"] == {"max_sessions": 12, "every": 7.0, "horizon": 365.0,
                                "settle": 60.0, "low_level": 2.0, "patient": None,
                                "arm": None, "equilibria": True}
    assert s.data["explain"] == {"arm": None, "reference": None, "patient": None,
                                 "days": []}


@pytest.fixture
def basin_calls(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(cohort: Any, **kw: Any) -> None:
        calls.append(kw)
        raise _Reached

    monkeypatch.setattr(painsim.basins, "basin_map", fake)
    return calls


BASINS = """
[basins]
max_sessions = 3
every = "2 weeks"
horizon = "200 days"
settle = "30 days"
low_level = 1.5
patient = 2
arm = "sham"
equilibria = false
"""


def test_basins_takes_the_file_settings_and_flags_override_them(tmp_path: Path,
                                                                basin_calls) -> None:
    f = _file(tmp_path, BASINS)
    out = str(tmp_path / "o")
    res = CliRunner().invoke(main, ["basins", str(f), "--out", out])
    assert isinstance(res.exception, _Reached), res.output
    kw = basin_calls[-1]
    assert (kw["max_sessions"], kw["every_days"], kw["horizon"], kw["settle_days"],
            kw["low_level"], kw["driver_patient"], kw["with_equilibria"]) == \
        (3, 14.0, 200.0, 30.0, 1.5, 2, False)
    assert kw["course"].name == "sham"
    res = CliRunner().invoke(main, ["basins", str(f), "--out", out, "--max-sessions", "5",
                                    "--every", "3", "--horizon", "100", "--patient", "1",
                                    "--arm", "dry needling", "--equilibria"])
    assert isinstance(res.exception, _Reached), res.output
    kw = basin_calls[-1]
    assert (kw["max_sessions"], kw["every_days"], kw["horizon"], kw["settle_days"],
            kw["driver_patient"], kw["with_equilibria"]) == (5, 3.0, 100.0, 30.0, 1, True)
    assert kw["course"].name == "dry needling"
    n = len(basin_calls)
    # a flag that clashes with the file, and the file's patient beyond --patients
    res = CliRunner().invoke(main, ["basins", str(f), "--out", out, "--horizon", "20"])
    assert res.exit_code == 1 and "basins.settle (30 days)" in res.output
    res = CliRunner().invoke(main, ["basins", str(f), "--out", out, "--patients", "2"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{f}: basins.patient: 2 is beyond the cohort (2 patients" in res.output
    res = CliRunner().invoke(main, ["basins", str(f), "--out", out, "--patients", "2",
                                    "--patient", "1"])  # the flag wins over the file
    assert isinstance(res.exception, _Reached), res.output
    assert len(basin_calls) == n + 1 and not Path(out).exists()


def test_explain_takes_the_file_settings_and_flags_override_them(tmp_path: Path,
                                                                 monkeypatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake(arms: Any, cohort: Any, horizon: float, **kw: Any) -> None:
        calls.append(kw)
        raise _Reached

    monkeypatch.setattr(painsim.attribute, "attribute", fake)
    f = _file(tmp_path, '[explain]\narm = "dry needling"\nreference = "sham"\npatient = 3\n'
                        'days = ["2 weeks", "3 months"]\n')
    out = str(tmp_path / "o")
    res = CliRunner().invoke(main, ["explain", str(f), "--out", out])
    assert isinstance(res.exception, _Reached), res.output
    assert (calls[-1]["arm"], calls[-1]["reference"], calls[-1]["days"]) == \
        ("dry needling", "sham", [14.0, 91.0])  # 3 months = 91.3 days, a whole day
    res = CliRunner().invoke(main, ["explain", str(f), "--out", out, "--arm", "sham",
                                    "--reference", "natural"])
    assert isinstance(res.exception, _Reached), res.output
    assert (calls[-1]["arm"], calls[-1]["reference"]) == ("sham", "natural")
    res = CliRunner().invoke(main, ["explain", str(f), "--out", out, "--patients", "3"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{f}: explain.patient: 3 is beyond the cohort (3 patients" in res.output
    f = _file(tmp_path, "")
    res = CliRunner().invoke(main, ["explain", str(f), "--out", out])
    assert isinstance(res.exception, _Reached), res.output
    assert (calls[-1]["arm"], calls[-1]["reference"], calls[-1]["days"]) == \
        (None, "natural", [42.0, 182.0])  # the defaults: short-term day and horizon


# --- progress: the CLI's one bar, on a terminal only, none with --quiet ------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch) -> _Tty:
    tty = _Tty()
    monkeypatch.setattr(cli, "_terminal", lambda: tty)
    return tty


def _quiet_and_verbose(terminal: _Tty, args: list[str], out: Path, drawn: str,
                       says: str) -> str:
    """-v draws the bar and says what runs; -q prints nothing; both: refused. Returns
    what the -v run drew."""
    res = CliRunner().invoke(main, [*args, "--out", str(out / "v"), "-v"])
    assert res.exit_code == 0, res.output
    bar = terminal.getvalue()
    assert drawn in bar, bar
    assert says in res.stderr and "not medical advice" in res.stdout
    terminal.seek(0)
    terminal.truncate()
    res = CliRunner().invoke(main, [*args, "--out", str(out / "q"), "-q"])
    assert res.exit_code == 0, res.output
    assert res.output == "" and terminal.getvalue() == ""  # nothing but errors
    assert any((out / "q").iterdir())  # the files are still written
    res = CliRunner().invoke(main, [*args, "--out", str(out / "x"), "-q", "-v"])
    assert res.exit_code == 2 and "choose one" in res.output
    return bar


def test_basins_progress_per_stage(terminal: _Tty, tmp_path: Path) -> None:
    f = _file(tmp_path, '[basins]\nmax_sessions = 1\nhorizon = "20 days"\n'
                        'settle = "5 days"\nequilibria = false\n', patients=3)
    bar = _quiet_and_verbose(terminal, ["basins", str(f)], tmp_path,
                             "mapping basins (4 stages)", "3 patients, course dry needling")
    assert "4/4" in bar


def test_explain_progress_per_chunk(terminal: _Tty, tmp_path: Path) -> None:
    f = _file(tmp_path, '[explain]\narm = "dry needling"\nreference = "sham"\n',
              horizon="20 days", patients=3)
    res = CliRunner().invoke(main, ["explain", str(f), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    drawn = terminal.getvalue()
    m = re.search(r"simulating ablations \((\d+) chunks?\)", drawn)
    assert m, drawn
    assert f"{m.group(1)}/{m.group(1)}" in drawn  # both worlds (with and without flares)
    terminal.seek(0)
    terminal.truncate()
    _quiet_and_verbose(terminal, ["explain", str(f)], tmp_path, "simulating ablations",
                       "arm dry needling against sham")


def test_sensitivity_progress_per_solver_run(terminal: _Tty, tmp_path: Path) -> None:
    f = _file(tmp_path, '[sensitivity]\nparameters = { model.tau_R = [60, 730] }\n'
                        'arm = "dry needling"\nmethod = "morris"\nn = 2\n',
              horizon="20 days", patients=3)
    bar = _quiet_and_verbose(terminal, ["sensitivity", str(f)], tmp_path,
                             "simulating parameter sets (1 solver run)", "morris, n 2")
    assert "1/1" in bar
