"""Progress and verbosity on the long commands (issue 17, friction 1): one bar
mechanism, drawn on a terminal only; ``-v`` says what runs, ``-q`` prints only errors."""

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from painsim import cli
from painsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "scenarios" / "claims"
EVIDENCE = ROOT / "scenarios" / "evidence"


class _Tty(io.StringIO):
    """A terminal as far as the bar can tell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Standard error is a terminal: the bar is drawn into the returned buffer."""
    tty = _Tty()
    monkeypatch.setattr(cli, "_terminal", lambda: tty)
    return tty


@pytest.fixture
def two_sets(tmp_path):
    a = tmp_path / "assumptions.toml"
    a.write_text("".join(f'[[set]]\nname = "{n}"\ndescription = "d"\nmechanism = "m"\n'
                         'mix = { chronic_sensitized = 1.0 }\n' for n in ("one", "two")))
    return a


def test_the_bar_counts_units_with_an_eta_on_a_terminal_only(terminal, monkeypatch):
    with cli._Progress("checking claims", "assumption set", True) as bar:
        assert bar.callback is not None
        for done in (1, 2, 3):
            bar.callback(done, 3)
    drawn = terminal.getvalue()
    assert "checking claims (3 assumption sets)" in drawn
    assert "1/3" in drawn and "3/3" in drawn
    with cli._Progress("x", "chunk", False) as quiet_bar:  # --quiet: nothing, no reports
        assert quiet_bar.callback is None
    monkeypatch.setattr(cli, "_terminal", lambda: None)  # a pipe or a file
    with cli._Progress("x", "chunk", True) as piped:
        assert piped.callback is None
        piped.update(1, 1)  # harmless
    assert terminal.getvalue() == drawn


def test_claims_shows_progress_per_set_and_honours_verbose_and_quiet(terminal, two_sets):
    args = ["claims", str(CLAIMS / "004-3.toml"), "--assumptions", str(two_sets),
            "--patients", "8", "--workers", "1"]
    res = CliRunner().invoke(main, [*args, "-v"])
    assert res.exit_code == 0, res.output
    drawn = terminal.getvalue()
    assert "checking claims (2 assumption sets)" in drawn and "2/2" in drawn
    # -v says what runs, on standard error: claims, sets, cohort size, backend, workers
    assert "claims: 1 (004-3)" in res.stderr and "one, two" in res.stderr
    assert "8 patients per set" in res.stderr and "1 worker(s)" in res.stderr
    assert "Verdicts" in res.stdout
    terminal.seek(0)
    terminal.truncate()
    res = CliRunner().invoke(main, [*args, "-q"])
    assert res.exit_code == 0, res.output
    assert res.output == "" and terminal.getvalue() == ""  # nothing but errors
    res = CliRunner().invoke(main, [*args, "-q", "-v"])
    assert res.exit_code == 2 and "choose one" in res.output
    res = CliRunner().invoke(main, ["claims", str(ROOT / "nothing.toml"), "-q",
                                    "--assumptions", str(two_sets)])
    assert res.exit_code == 1 and "nothing.toml" in res.output  # errors still shown


def test_calibrate_shows_a_bar_per_simulation_within_its_budget(terminal):
    res = CliRunner().invoke(main, ["calibrate", str(CLAIMS / "003-1.toml"), "--patients",
                                    "8", "--max-evaluations", "4", "--workers", "1", "-v"])
    assert res.exit_code == 0, res.output
    assert "at most 4 simulations of 8 patients" in res.stderr
    assert "fitting (4 simulations)" in terminal.getvalue() and "4/4" in terminal.getvalue()
    # the count reported is the count run, within --max-evaluations
    assert "Calibration of claim 003-1: 4 simulations (at most 4)" in res.stdout
    res = CliRunner().invoke(main, ["calibrate", str(CLAIMS / "003-1.toml"), "--patients",
                                    "8", "--max-evaluations", "2"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "max_evaluations" in res.output and ">= 4" in res.output


def test_validate_quiet_prints_nothing_and_keeps_its_exit_status(terminal):
    f = EVIDENCE / "needling_soreness_duration.toml"
    res = CliRunner().invoke(main, ["validate", str(f), "--patients", "8", "-v"])
    assert res.exit_code in (0, 3), res.output
    assert "evidence: 1 file(s)" in res.stderr and "patients 8" in res.stderr
    assert "validating (1 evidence file)" in terminal.getvalue()
    code = res.exit_code
    terminal.seek(0)
    terminal.truncate()
    res = CliRunner().invoke(main, ["validate", str(f), "--patients", "8", "-q"])
    assert res.exit_code == code and res.output == "" and terminal.getvalue() == ""


def test_run_quiet_and_verbose(terminal, tmp_path):
    f = ROOT / "scenarios" / "acute_vs_chronic.toml"
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "a"),
                                    "--patients", "6", "-v"])
    assert res.exit_code == 0, res.output
    assert "'natural course'" in res.stderr and "6 patients" in res.stderr
    assert "backend numpy, 1 worker(s)" in res.stderr
    assert "simulating (1 chunk)" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "b"),
                                    "--patients", "6", "-q"])
    assert res.exit_code == 0 and res.output == "" and terminal.getvalue() == ""
    assert (tmp_path / "b" / "summary.csv").is_file()
