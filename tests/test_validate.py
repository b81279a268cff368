"""The evidence suite's machinery: verdicts, intervals, study definitions, files, CLI.

The full suite at the cohort sizes of its bands is a command (``painsim validate``),
not a test; here it runs on small fixed-seed cohorts.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from painsim.cli import main
from painsim.errors import PainsimError, ParameterError, ScenarioError
from painsim.outcomes import Outcomes, _study_outcomes, first_run
from painsim.painloop import PARAMETERS
from painsim.results import DISCLAIMER
from painsim.scenario import load_scenario
from painsim.validate import (
    _CSV_COLUMNS,
    _km_incidence,
    evidence_files,
    format_report,
    load_evidence,
    validate,
    verdict,
    wilson,
    write_report,
)

from .figures import assert_talk_figure

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "scenarios" / "evidence"

TINY = """
title = "tiny"
seed = 3
horizon = "8 weeks"

[cohort]
patients = 12
mix = { acute_strain = 1.0 }

[[arms]]
name = "natural course"

[outcomes]
report_days = ["0 days", "6 weeks"]

[evidence]
id = "tiny"
source = "A test."
population = "Virtual."
design = "None."
definition = "Mean pain at day 42."
band_method = "Made up."

[[targets]]
name = "mean pain at 6 weeks"
measure = "mean_pain"
arm = "natural course"
day = "6 weeks"
published = 2.3
band = [2.1, 2.5]
"""


# --- verdicts and intervals -----------------------------------------------------------

@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.45, 0.50, "pass"),
    (0.43, 0.53, "pass"),          # edges belong to the band
    (0.10, 0.20, "fail"),          # wholly below
    (0.60, 0.70, "fail"),          # wholly above
    (0.40, 0.46, "undecided"),     # straddles the low edge
    (0.50, 0.60, "undecided"),     # straddles the high edge
    (0.30, 0.70, "undecided"),     # wider than the band
    (math.nan, math.nan, "fail"),  # cannot be computed
])
def test_verdict(low: float, high: float, expected: str) -> None:
    assert verdict(low, high, (0.43, 0.53)) == expected


def test_wilson_interval() -> None:
    p, lo, hi = wilson(28, 100)
    # Wilson score interval by hand: centre (p + z^2/2n)/(1 + z^2/n)
    z = 1.959963984540054
    c = (0.28 + z * z / 200) / (1 + z * z / 100)
    h = z * math.sqrt(0.28 * 0.72 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert p == 0.28 and lo == pytest.approx(c - h) and hi == pytest.approx(c + h)
    assert wilson(0, 50)[1] == 0.0 and wilson(0, 50)[2] > 0.0
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_km_incidence_without_censoring_is_the_empirical_share() -> None:
    t = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0])
    e = np.ones(8, dtype=bool)
    v, lo, hi = _km_incidence(t, e, 45.0)
    assert v == pytest.approx(0.5)
    # Greenwood without censoring: SE = sqrt(p(1-p)/n)
    se = math.sqrt(0.25 / 8)
    assert lo == pytest.approx(0.5 - 1.959963984540054 * se)
    assert hi == pytest.approx(0.5 + 1.959963984540054 * se)
    # censored subjects leave the risk set: 2 of 4 at risk at day 30 -> 50%
    v2, _, _ = _km_incidence(np.array([5.0, 10.0, 30.0, 40.0]),
                             np.array([False, False, True, False]), 35.0)
    assert v2 == pytest.approx(0.5)


# --- study definitions on hand-built pain series -------------------------------------

def test_first_run() -> None:
    f = np.array([[0, 1, 1, 0, 1, 1, 1],
                  [1, 1, 0, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 1, 1]], dtype=bool)
    z, end = np.zeros(3, np.int64), np.full(3, 6)
    assert first_run(f, 2, z, end).tolist() == [1, 0, 5]
    assert first_run(f, 3, z, end).tolist() == [4, -1, -1]
    assert first_run(f, 2, np.array([2, 0, 0]), end).tolist() == [4, 0, 5]
    assert first_run(f, 2, z, np.array([6, 6, 5])).tolist() == [1, 0, -1]  # must end by 5
    assert first_run(f, 8, z, end).tolist() == [-1, -1, -1]


def _run(pain: np.ndarray, log: dict | None = None) -> SimpleNamespace:
    """The fields of the engine's run record that the study outcomes read."""
    m = pain.shape[1]
    return SimpleNamespace(
        days=np.arange(m, dtype=float), pain=pain, baseline=pain[:, 0].copy(),
        log=log or {"lane": np.zeros(0, np.int64), "t": np.zeros(0),
                    "kind": np.zeros(0, np.int32), "kinds": [],
                    "detail": np.zeros(0, np.int32), "details": []})


def test_recovery_and_recurrence_on_hand_built_series() -> None:
    pain = np.array([
        # recovers days 2-4 (3 readings < 1.5), recurs day 7-8 (>= 1.5 for 24 h)
        [6.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0],
        # recovers days 1-3; a one-reading spike on day 6 is not a recurrence
        [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0],
        # 1.5 is not below 1.5: never recovers
        [5.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5],
        # recovery run complete only on day 9
        [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 5.0],
    ])
    o = Outcomes(recovery_level=1.5, recovery_days=3, recovered_by_days=(4.0, 8.0),
                 recurrence_level=1.5, recurrence_min_days=1.0, recurrence_days=(5.0,))
    end = np.full(4, 10.0)
    v = _study_outcomes(_run(pain), o, end)
    assert v["recovered"].tolist() == [True, True, False, True]
    np.testing.assert_array_equal(v["recovery_start_day"], [2, 1, np.nan, 7])
    np.testing.assert_array_equal(v["recovery_day"], [4, 3, np.nan, 9])
    assert v["recovered_by_day_4"].tolist() == [True, True, False, False]
    assert v["recovered_by_day_8"].tolist() == [True, True, False, False]
    # patient 1's one-reading spike and patient 3's last reading (day 10) are shorter
    # than 24 h: no recurrence
    assert v["recurrence"].tolist() == [True, False, False, False]
    np.testing.assert_array_equal(v["recurrence_day"], [7, np.nan, np.nan, np.nan])
    # time from recovery (day 4) to recurrence (day 7); censoring at the last reading
    t = v["days_recovery_to_recurrence_or_censor"]
    assert t[0] == 3 and t[1] == 10 - 3 and math.isnan(t[2])


def test_recurrence_needs_a_stretch_spanning_the_minimum() -> None:
    pain = np.array([[5.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0, 2.0, 1.0]])
    end = np.array([8.0])
    one_day = _study_outcomes(_run(pain), Outcomes(recovery_level=1.5, recovery_days=3,
                                                   recurrence_level=1.5), end)
    assert one_day["recurrence_day"][0] == 6  # day 4 alone is shorter than 24 h
    zero = _study_outcomes(_run(pain), Outcomes(recovery_level=1.5, recovery_days=3,
                                                recurrence_level=1.5,
                                                recurrence_min_days=0.0), end)
    assert zero["recurrence_day"][0] == 4
    # follow-up ends on day 6 (dropout): the day 6-7 stretch is not seen
    short = _study_outcomes(_run(pain), Outcomes(recovery_level=1.5, recovery_days=3,
                                                 recurrence_level=1.5), np.array([6.0]))
    assert not short["recurrence"][0]
    assert short["days_recovery_to_recurrence_or_censor"][0] == 6 - 3


def test_responders_and_adverse_events_at_days() -> None:
    pain = np.array([[6.0, 5.0, 4.0], [6.0, 3.0, 5.5], [4.0, 4.0, 4.0]])
    # patient 0: soreness and bruising in the session at 0.5, none at 1.5;
    # patient 1: soreness in the session at 1.5
    log = {"lane": np.array([0, 0, 0, 0, 1, 1]), "t": np.array([0.5, 0.5, 0.5, 1.5, 1.5, 1.5]),
           "kind": np.array([0, 1, 1, 0, 0, 1], np.int32),
           "kinds": ["session", "adverse event"],
           "detail": np.array([0, 1, 2, 0, 0, 1], np.int32),
           "details": ["#1", "soreness", "bruising"]}
    o = Outcomes(responder_days=(1.0, 2.0), adverse_event_days=(1.0, 2.0))
    v = _study_outcomes(_run(pain, log), o, np.full(3, 2.0))
    # 30% of baseline 6 is 1.8: day 1 change -1 (no), -3 (yes); day 2 -2 (yes), -0.5 (no)
    assert v["responder_pct_day_1"].tolist() == [False, True, False]
    assert v["responder_pct_day_2"].tolist() == [True, False, False]
    assert v["responder_points_day_2"].tolist() == [True, False, False]
    assert v["adverse_event_by_day_1"].tolist() == [True, False, False]
    assert v["adverse_event_by_day_2"].tolist() == [True, True, False]
    assert v["adverse_events"].tolist() == [2, 1, 0]
    assert v["sessions_with_adverse_event"].tolist() == [1, 1, 0]  # two events, one session


@pytest.mark.parametrize("kw", [
    {"recurrence_level": 2.0},                                   # needs recovery_level
    {"recovered_by_days": (30.0,)},                              # needs recovery_level
    {"recovery_level": 1.5, "recurrence_days": (90.0,)},         # needs recurrence_level
    {"recovery_level": 2.0, "recurrence_level": 1.0},            # below recovery
    {"recovery_level": 11.0},
    {"recovery_level": 1.0, "recovery_days": 0},
    {"recovery_level": 1.0, "recovery_days": 2.5},
    {"responder_days": (10.5,)},                                 # not on the daily grid
    {"adverse_event_days": (-1.0,)},
    {"recovery_level": 1.0, "recurrence_level": 1.0, "recurrence_days": (0.0,)},
    {"recurrence_min_days": -1.0},
])
def test_bad_study_options_are_refused(kw: dict) -> None:
    with pytest.raises(ParameterError):
        Outcomes(**kw)


def test_scenario_outcomes_section_reaches_the_options(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('horizon = "1 year"\n[[arms]]\nname = "a"\n[outcomes]\n'
                 'recovery_level = 1.5\nrecovery_days = 7\nrecovered_by = ["2 months"]\n'
                 'recurrence_level = 2.0\nrecurrence_min = "36 h"\n'
                 'recurrence_at = ["3 months"]\nresponder_days = ["26 weeks"]\n'
                 'adverse_event_by = ["6 weeks"]\n')
    o = load_scenario(f).outcomes
    assert (o.recovery_level, o.recovery_days, o.recurrence_level) == (1.5, 7, 2.0)
    assert o.recovered_by_days == (60.875,) and o.recurrence_min_days == 1.5
    assert o.recurrence_days == (91.3125,) and o.responder_days == (182.0,)
    assert o.adverse_event_days == (42.0,)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[arms]]\nname = "a"\n[outcomes]\nrecurrence_at = ["3 months"]\n')
    with pytest.raises(ScenarioError, match=r"bad\.toml.*recurrence_level"):
        load_scenario(bad)


# --- evidence files -------------------------------------------------------------------

def test_every_shipped_evidence_file_loads_and_is_documented() -> None:
    files = evidence_files([EVIDENCE])
    assert len(files) >= 8
    n = 0
    for f in files:
        ev = load_evidence(f)
        for k in ("source", "population", "design", "definition", "band_method"):
            assert len(ev.info[k]) > 10, (f, k)
        for t in ev.targets:
            assert t.band[0] <= t.published <= t.band[1], (f, t.name)
        n += len(ev.targets)
    assert n >= 19  # every figure of issue 12's table


@pytest.mark.parametrize(("change", "field"), [
    (('band = [2.1, 2.5]', 'band = [2.5, 2.1]'), "targets[0].band"),
    (('band = [2.1, 2.5]', 'band = [2.4, 2.5]'), "targets[0].band"),  # misses published
    (('measure = "mean_pain"', 'measure = "mean_pane"'), "targets[0].measure"),
    (('day = "6 weeks"', 'day = "7 weeks"'), "targets[0].day"),
    (('day = "6 weeks"', 'day = "6 weks"'), "targets[0].day"),
    (('arm = "natural course"', 'arm = "nope"'), "targets[0].arm"),
    (('published = 2.3', 'published = "2.3"'), "targets[0].published"),
    (('published = 2.3\n', 'published = 2.3\ncolour = "red"\n'), "targets[0].colour"),
    (('source = "A test."\n', ''), "evidence.source"),
    (('horizon = "8 weeks"', 'horizon = "8 weks"'), "horizon"),
])
def test_a_bad_evidence_file_names_the_file_and_field(tmp_path: Path, change: tuple,
                                                       field: str) -> None:
    f = tmp_path / "bad.toml"
    assert TINY.count(change[0]) == 1
    f.write_text(TINY.replace(*change))
    with pytest.raises(ScenarioError) as exc:
        load_evidence(f)
    lines = str(exc.value).splitlines()
    assert any(line.startswith(f"{f}: {field}:") for line in lines), lines
    result = CliRunner().invoke(main, ["validate", str(f), "--patients", "8"])
    assert result.exit_code == 1
    assert f"{f}: {field}:" in result.output and "Traceback" not in result.output


# --- the suite on small cohorts -------------------------------------------------------

@pytest.fixture(scope="module")
def small_report():
    return validate([EVIDENCE], patients=12, seed=5, backend="numpy")


def test_suite_runs_on_small_cohorts(small_report) -> None:
    rows = small_report.rows
    assert len(rows) == sum(len(load_evidence(f).targets) for f in evidence_files([EVIDENCE]))
    for r in rows:
        assert r.patients == 12
        assert r.verdict == verdict(r.low, r.high, r.target.band)
        if math.isfinite(r.value):
            assert r.low <= r.value + 1e-9 or r.interval == "bootstrap"
            assert r.low <= r.high
    # shares stay in [0, 1]
    shares = [r for r in rows if r.target.measure not in ("mean_pain", "excess_ratio")]
    assert all(0 <= r.value <= 1 for r in shares if math.isfinite(r.value))
    c = small_report.counts
    assert sum(c.values()) == len(rows)
    text = format_report(small_report)
    assert text.count(DISCLAIMER) == 1 and "verdict" in text


def test_csv_and_figure_are_written_atomically(small_report, tmp_path: Path) -> None:
    out = tmp_path / "val"
    files = write_report(small_report, out)
    assert files == ["validate.csv", "validate.png", "validate.svg", "manifest.json"]
    table = pd.read_csv(out / "validate.csv")
    assert list(table.columns) == ["note_model", *_CSV_COLUMNS]
    assert len(table) == len(small_report.rows)
    assert set(table.verdict) <= {"pass", "fail", "undecided"}
    assert_talk_figure(out, "validate")
    with pytest.raises(PainsimError, match="already exists"):
        write_report(small_report, out)
    assert [p.name for p in tmp_path.iterdir()] == ["val"]  # no temporary folder left
    # --force replaces its own folder, never a folder that is not painsim's
    assert write_report(small_report, out, force=True) == files
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(PainsimError, match="not a painsim results folder"):
        write_report(small_report, mine, force=True)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "val"]


def test_cli_validate_prints_the_table_and_exit_status(tmp_path: Path) -> None:
    f = tmp_path / "tiny.toml"
    f.write_text(TINY)
    r = CliRunner().invoke(main, ["validate", str(f), "--patients", "8", "--seed", "1",
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code in (0, 3), r.output
    assert r.output.count(DISCLAIMER) == 1
    assert "mean pain at 6 weeks" in r.output and (tmp_path / "o" / "validate.csv").is_file()
    failed = "fail" in pd.read_csv(tmp_path / "o" / "validate.csv").verdict.tolist()
    assert r.exit_code == (3 if failed else 0)
    # a band nobody can reach fails, and the exit status says so
    f.write_text(TINY.replace("published = 2.3", "published = 9.95").replace(
        "band = [2.1, 2.5]", "band = [9.9, 10.0]"))
    r = CliRunner().invoke(main, ["validate", str(f), "--patients", "8"])
    assert r.exit_code == 3 and "fail" in r.output


# --- honest bases --------------------------------------------------------------------

def test_every_default_basis_says_which_kind_it_is() -> None:
    for p in PARAMETERS:
        b = p.basis
        assert b.startswith(("published:", "fitted to the evidence suite:", "assumption")), \
            (p.name, b)
        if b.startswith("published:"):
            assert any(ch.isdigit() for ch in b), (p.name, b)  # quotes the number


def test_study_days_after_the_horizon_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "late.toml"
    f.write_text('horizon = "10 weeks"\n[[arms]]\nname = "a"\n[outcomes]\n'
                 'responder_days = ["26 weeks"]\n')
    with pytest.raises(ScenarioError, match=r"outcomes\.responder_days\[0\]: 182 days is "
                       "after the horizon"):
        load_scenario(f)


def test_adverse_event_measures_count_patients_and_sessions_by_hand(tmp_path: Path) -> None:
    """The two adverse-event measures of Baeumler 2021 (share of patients with >= 1 event
    over a course; share of *treatments* with >= 1 event) recomputed from the raw event
    log of a tiny run: the numerators are distinct patients and distinct sessions, the
    denominators patients and sessions attended."""
    from painsim.engine import simulate
    from painsim.validate import evaluate

    f = tmp_path / "ae.toml"
    f.write_text("""
title = "ae"
seed = 4
horizon = "3 weeks"
[cohort]
patients = 15
mix = { chronic_sensitized = 1.0 }
[[arms]]
name = "dn"
treatment = [{ kind = "dry_needling", p_soreness = 0.4, p_bruising = 0.3 }]
schedule = { kind = "fixed", start = "1 day", every = "3.5 days", sessions = 4 }
[outcomes]
adverse_event_by = ["2 weeks"]
[evidence]
id = "ae"
source = "A test."
population = "Virtual."
design = "None."
definition = "Adverse events per patient and per session."
band_method = "Made up."
[[targets]]
name = "patients"
measure = "adverse_event_patients"
arm = "dn"
day = "2 weeks"
published = 0.5
band = [0.0, 1.0]
[[targets]]
name = "sessions"
measure = "adverse_event_sessions"
arm = "dn"
event = "any"
published = 0.5
band = [0.0, 1.0]
[[targets]]
name = "bruising"
measure = "adverse_event_sessions"
arm = "dn"
event = "bruising"
published = 0.5
band = [0.0, 1.0]
""")
    ev = load_evidence(f)
    s = ev.scenario
    res = simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes)
    got = {r.target.name: r.value for r in evaluate(ev, res)}
    log = res.events
    ae = log[log.kind == "adverse event"]
    sessions = log[log.kind == "session"]
    assert len(sessions) == 15 * 4  # visits at days 1.5, 5, 8.5, 12 (noon), all attended
    # both events of one session count once; a patient with events at two sessions once
    hand_sessions = len(ae.groupby(["patient", "day"]))
    hand_patients = ae[ae.day <= 14].patient.nunique()
    assert len(ae) > hand_sessions > hand_patients > 0  # the tiny case tells them apart
    assert got["sessions"] == hand_sessions / len(sessions)
    assert got["patients"] == hand_patients / 15
    assert got["bruising"] == (ae.detail == "bruising").sum() / len(sessions)
