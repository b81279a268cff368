"""The command line, through click's CliRunner."""

from click.testing import CliRunner

from painsim import __version__
from painsim.cli import main
from painsim.painloop import PAIN_LOOP


def test_describe_prints_equations_and_every_parameter():
    res = CliRunner().invoke(main, ["describe"])
    assert res.exit_code == 0, res.output
    for p in PAIN_LOOP.parameters:
        assert p.name in res.output
    assert "dT/dt" in res.output and "References" in res.output


def test_demo_prints_both_patients_and_three_arms_at_the_report_days():
    res = CliRunner().invoke(main, ["demo"])
    assert res.exit_code == 0, res.output
    for day in ("day 0", "day 7", "day 28", "day 90", "day 180"):
        assert day in res.output
    rows = [ln for ln in res.output.splitlines() if ln.startswith(("acute ", "chronic "))]
    assert len(rows) == 6
    assert "not medical advice" in res.output
    # the numbers are pain values on 0-10
    values = [float(v) for ln in rows for v in ln.split()[-5:]]
    assert all(0 <= v <= 10 for v in values)


def test_version_and_unknown_command():
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    res = runner.invoke(main, ["nonsense"])
    assert res.exit_code != 0 and "No such command" in res.output
