"""painsim replay: one patient of a results folder re-run alone gives exactly the numbers
the folder holds, for any workers and either backend."""

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from painsim.cli import main
from painsim.replay import formatted, replay

from .figures import assert_talk_figure
from .test_compiled import needs_numba

SCENARIO = """
title = "replay test"
seed = 11
horizon = "60 days"

[cohort]
patients = 10
mix = { chronic_sensitized = 0.5, recurrent = 0.5 }
run_in = "30 days"

[[arms]]
name = "none"

[[arms]]
name = "weekly"
treatment = [{ kind = "acupuncture" }]
schedule = { kind = "fixed", start = "3 days", every = "1 week", sessions = 5 }
p_miss = 0.2

[[arms]]
name = "as needed"
treatment = [{ kind = "dry_needling" }]
schedule = { kind = "as_needed", threshold = 4.0, consecutive_days = 2 }

[[arms]]
name = "clinic"
treatment = [{ kind = "dry_needling" }]
schedule = { kind = "fixed", sessions = 3 }
clinic_slots_per_day = 2
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _run(tmp_path: Path, *args: str) -> Path:
    f = tmp_path / "study.toml"
    f.write_text(SCENARIO)
    out = tmp_path / ("out" + "_".join(args))
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output
    return out


def _check(out: Path, arm: str, patient: int) -> None:
    r = replay(out, arm, patient)
    row = next(x for x in _rows(out / "patients.csv")
               if x["arm"] == arm and x["patient"] == str(patient))
    assert {k: formatted(r.row[k]) for k in row} == row  # every column, as written
    traj = [x["pain_0_10"] for x in _rows(out / "trajectories.csv")
            if x["arm"] == arm and x["patient"] == str(patient)]
    assert [formatted(p) for p in r.pain] == traj
    events = [(x["day"], x["kind"], x["detail"]) for x in _rows(out / "events.csv")
              if x["arm"] == arm and x["patient"] == str(patient)]
    assert [(formatted(d), k, formatted(x) if isinstance(x, float) else x)
            for d, k, x in zip(r.events.day, r.events.kind, r.events.detail,
                               strict=True)] == events


@pytest.mark.parametrize("workers", ["1", "2"])
def test_replay_gives_the_folders_numbers_for_any_workers(tmp_path, workers):
    out = _run(tmp_path, "--workers", workers)
    for arm in ("none", "weekly", "as needed", "clinic"):
        for patient in (0, 4, 9):
            _check(out, arm, patient)


@needs_numba
def test_replay_uses_the_runs_backend(tmp_path):
    out = _run(tmp_path, "--backend", "numba", "--workers", "2")
    for arm in ("weekly", "as needed"):
        _check(out, arm, 3)


def test_replay_cli_prints_the_log_and_an_account_and_writes_a_plot(tmp_path):
    out = _run(tmp_path)
    res = CliRunner().invoke(main, ["replay", str(out), "--arm", "weekly", "--patient", "2",
                                    "--out", str(tmp_path / "rp")])
    assert res.exit_code == 0, res.output
    assert "session" in res.output and "Patient 2" in res.output
    assert "not medical advice" in res.output
    assert_talk_figure(tmp_path / "rp", "replay")
    bad = CliRunner().invoke(main, ["replay", str(out), "--arm", "wekly", "--patient", "2"])
    assert bad.exit_code != 0 and "wekly" in bad.output and "Traceback" not in bad.output
    bad = CliRunner().invoke(main, ["replay", str(out), "--arm", "weekly", "--patient", "10"])
    assert bad.exit_code != 0 and "0 to 9" in bad.output
    bad = CliRunner().invoke(main, ["replay", str(tmp_path), "--arm", "x", "--patient", "0"])
    assert bad.exit_code != 0 and "not a painsim results folder" in bad.output


def test_compare_says_why_two_runs_differ(tmp_path):
    a = _run(tmp_path)
    f = tmp_path / "study.toml"
    f.write_text(SCENARIO.replace('sessions = 5', 'sessions = 2'))
    b = tmp_path / "b"
    assert CliRunner().invoke(main, ["run", str(f), "--out", str(b), "--quiet", "--seed",
                                     "12"]).exit_code == 0
    res = CliRunner().invoke(main, ["compare", str(a), str(b)])
    assert res.exit_code == 0, res.output
    why = res.output.split("why they differ:")[1]
    assert "arms[1].schedule.sessions: 5 -> 2" in why
    assert "seed: 11 -> 12" in why
    assert "outputs that moved most" in why
    same = CliRunner().invoke(main, ["compare", str(a), str(a)])
    assert "the same numbers are expected" in same.output
