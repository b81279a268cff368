"""Calendar-true schedules (issue 17, friction 4): visits on whole days at the visit
hour, months and years as documented, maintenance one interval after the course, the
file's own units in ``describe``, and a warning for two sessions at once."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import painsim as ps
from painsim.cli import main
from painsim.errors import ScenarioWarning
from painsim.protocols import visit_day
from painsim.scenario import describe_scenario, load_scenario, parse_duration

STUDY = """
title = "calendar"
horizon = "{horizon}"
[cohort]
patients = 2
[[arms]]
name = "twice weekly"
treatment = [{{ kind = "acupuncture" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "3.5 days", sessions = 4 }}
maintenance = {{ kind = "fixed", every = "1 month", sessions = 3{start} }}
[[arms]]
name = "fortnightly"
treatment = [{{ kind = "dry_needling" }}]
schedule = {{ kind = "fixed", start = "1 week", every = "2 weeks", sessions = 3 }}
"""


def _sessions(tmp_path, start="", horizon="9 months"):
    f = tmp_path / "study.toml"
    f.write_text(STUDY.format(start=start, horizon=horizon))
    s = load_scenario(f)
    res = ps.simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes)
    ev = res.events[(res.events.kind == "session") & (res.events.patient == 0)]
    return f, s, {a: ev[ev.arm == a].day.tolist() for a in ("twice weekly", "fortnightly")}


def test_months_and_years_are_documented_lengths_and_visits_fall_at_the_visit_hour(
        tmp_path):
    assert parse_duration("1 month") == 30.4375 and parse_duration("1 year") == 365.25
    assert float(visit_day(12 * 30.4375, 30.4375)) == 365.0  # a year of months: day 365
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScenarioWarning)  # no sessions at the same time
        _, _, days = _sessions(tmp_path)
    # twice weekly from day 1: days 1, 4, 8, 11 at noon (was 1.5, 5.0 = midnight, 8.5,
    # 12.0); monthly maintenance from a month (30 whole days) after the last visit (day
    # 11): days 41, 71 (+30), 101 (+60.875) at noon (was day 11 itself, then 41.4375,
    # 71.875: not whole days)
    assert days["twice weekly"] == [1.5, 4.5, 8.5, 11.5, 41.5, 71.5, 101.5]
    assert days["fortnightly"] == [7.5, 21.5, 35.5]


def test_maintenance_starts_one_interval_after_the_course_unless_told(tmp_path):
    _, s, _ = _sessions(tmp_path)
    assert s.arms[0].protocol.maintenance.start_day == 30  # one `every`, whole days
    with pytest.warns(ScenarioWarning, match=r"arms\[0\].maintenance.start: 0 days puts "
                      "the first maintenance visit at the time of the course's last"):
        _, s, days = _sessions(tmp_path, start=', start = "0 days"')
    assert s.warnings and len(s.warnings[0].splitlines()) == 1
    assert days["twice weekly"][3:5] == [11.5, 11.5]  # told so: two sessions at once
    _, _, days = _sessions(tmp_path, start=', start = "2 weeks"')
    assert days["twice weekly"][4:] == [25.5, 55.5, 85.5]


def test_describe_uses_the_files_units_and_the_visit_days(tmp_path):
    f, s, _ = _sessions(tmp_path)
    text = describe_scenario(s)
    assert "Follow-up: 9 months from day 0 (daily readings to day 273)" in text
    assert "4 visits every 3.5 days from day 1 (days 1, 4, 8, 11, at 12:00)" in text
    assert ("3 maintenance visits every 1 month, the first 1 month after the course's "
            "last visit (days 41, 71, 101)") in text
    assert "3 visits every 2 weeks from day 7 (days 7, 21, 35, at 12:00)" in text
    assert "273.9" not in text and "30.4375" not in text
    res = CliRunner().invoke(main, ["describe", str(f)])
    assert res.exit_code == 0 and "every 2 weeks" in res.output


def test_two_sessions_at_one_time_warn_in_one_line(tmp_path):
    (tmp_path / "visits.csv").write_text("patient,day\n0,3\n0,3\n0,10\n1,4\n")
    f = tmp_path / "own.toml"
    f.write_text('horizon = "20 days"\n[cohort]\npatients = 2\n[[arms]]\nname = "own"\n'
                 'treatment = [{ kind = "sham" }]\n'
                 'schedule = { kind = "given", table = "visits.csv" }\n')
    with pytest.warns(ScenarioWarning) as got:
        load_scenario(f)
    (w,) = got
    assert str(w.message) == (f"{f}: arms[0].schedule.table: 1 patient(s) have two "
                              "sessions at the same time (patient 0 on day 3)")
    res = CliRunner().invoke(main, ["check", str(f)])
    assert res.exit_code == 0  # a warning, not an error
    lines = res.output.splitlines()
    assert f"warning: {w.message}" in lines and f"{f}: ok (1 arms, 2 patients, 20 days)" \
        in lines
    assert len(lines) == 2


def test_visits_less_than_a_day_apart_keep_their_exact_times():
    proto = ps.Protocol(intervention=ps.sham(), visit_hour=0.0,
                        schedule=ps.Fixed(start_day=1.0, every_days=0.25, sessions=3))
    res = ps.simulate([ps.Arm(name="q6h", protocol=proto)], ps.Cohort(n=1, seed=1),
                      horizon_days=5)
    days = res.events[res.events.kind == "session"].day.to_numpy()
    np.testing.assert_array_equal(days, [1.0, 1.25, 1.5])
    # an explicit start time of day is kept: the course is whole days after it
    proto = ps.Protocol(intervention=ps.sham(), visit_hour=0.0,
                        schedule=ps.Fixed(start_day=2.3, every_days=3.5, sessions=3))
    res = ps.simulate([ps.Arm(name="a", protocol=proto)], ps.Cohort(n=1, seed=1),
                      horizon_days=12)
    days = res.events[res.events.kind == "session"].day.to_numpy()
    np.testing.assert_allclose(days, [2.3, 5.3, 9.3], rtol=0, atol=1e-12)
    assert Path(ps.__file__).is_file()
