"""A schedule answers *when* itself (issue 11): a new kind is a class with
``visits(ctx)``, ``in_words()``, ``planned_end_day`` and ``reads_state``, and runs through
:func:`painsim.simulate` without any change to the engine."""

import math
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import painsim as ps
from painsim.errors import ParameterError
from painsim.protocols import VisitContext, planned_visits


@dataclass(frozen=True)
class EvenPatientsOnly:
    """Visits on ``days`` at the visit hour, for even-numbered patients only."""

    days: tuple[float, ...] = (3.0, 10.0, 24.0)
    reads_state = False
    start_day = 3.0

    @property
    def planned_end_day(self) -> float:
        return self.days[-1]

    def visits(self, ctx: VisitContext):
        if ctx.patient % 2:
            return
        for d in self.days:
            if d + ctx.hour > ctx.env.now:
                yield ctx.env.timeout(d + ctx.hour - ctx.env.now)
            yield from ctx.attend()

    def in_words(self, hour="12:00", say=None) -> str:
        return f"days {self.days} at {hour}, even patients only"


@dataclass(frozen=True)
class WeeklyUntilBetter:
    """A visit every 7 days while pain (0-10) at the morning check is above ``level``,
    at most ``sessions``; reads the patient's pain."""

    level: float = 4.0
    sessions: int = 8
    reads_state = True
    start_day = 0.0

    @property
    def planned_end_day(self) -> float:
        return 7.0 * self.sessions

    def visits(self, ctx: VisitContext):
        for k in range(self.sessions):
            t = 7.0 * k + ctx.hour
            if t >= ctx.horizon or ctx.dropped:
                return
            if t > ctx.env.now:
                yield ctx.env.timeout(t - ctx.env.now)
            if ctx.pain_now <= self.level:
                return
            yield from ctx.attend()

    def in_words(self, hour="12:00", say=None) -> str:
        return f"weekly at {hour} while pain > {self.level:g}"


def _run(schedule, n=6, horizon=60.0):
    arm = ps.Arm(name="own", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                  schedule=schedule))
    return ps.simulate([arm], ps.Cohort(n=n, seed=3, mix={"chronic_sensitized": 1.0}),
                       horizon)


def test_a_schedule_of_ones_own_runs_through_simulate_unchanged():
    res = _run(EvenPatientsOnly())
    ev = res.events[res.events.kind == "session"]
    for p in range(6):
        days = ev[ev.patient == p].day.to_numpy()
        want = [] if p % 2 else [d + 0.5 for d in EvenPatientsOnly.days]  # noon
        np.testing.assert_array_equal(days, want)


def test_a_state_reading_schedule_sees_the_pain_of_the_last_decision_boundary():
    level = 4.0
    res = _run(WeeklyUntilBetter(level=level, sessions=8), n=8, horizon=70.0)
    ev = res.events[res.events.kind == "session"]
    pain = res.pain["own"]  # morning pain on whole days: the boundary before a noon visit
    for p in range(8):
        days = ev[ev.patient == p].day.to_numpy()
        morning = [math.floor(d) for d in days]
        assert np.all(pain[p, morning] > level), (p, days)
        assert np.array_equal(morning, 7 * np.arange(len(days)))  # weekly, none skipped
        if len(days) < 8:  # it stopped: the next check found pain at or below the level
            assert pain[p, 7 * len(days)] <= level


def test_planned_visits_places_a_fixed_course_as_fixed_does():
    """``Fixed.visits`` is :func:`planned_visits`; the built-in kinds use it too."""
    fixed = ps.Fixed(start_day=1, every_days=3.5, sessions=5)

    @dataclass(frozen=True)
    class Same:
        reads_state = False
        start_day = 1.0
        planned_end_day = fixed.planned_end_day

        def visits(self, ctx):
            yield from planned_visits(ctx, 1.0, 5, 3.5)

        def in_words(self, hour="12:00", say=None):
            return "the same"

    a, b = _run(fixed), _run(Same())
    assert a.events.equals(b.events)
    np.testing.assert_array_equal(a.pain["own"], b.pain["own"])


def test_built_in_schedules_say_themselves_in_words():
    assert ps.Fixed(start_day=1, every_days=7, sessions=6).in_words() == (
        "6 visits every 1 week from day 1 (days 1, 8, 15, 22, 29, 36, at 12:00)")
    assert ps.AsNeeded(threshold=5, consecutive_days=3, max_sessions=4,
                       min_gap_days=14).in_words().startswith(
        "as needed, when pain >= 5/10 on 3 daily checks in a row, at most 4 visits, "
        "at least 2 weeks apart")
    assert "2 weeks" in ps.Tapering(every_days=3.5).in_words(
        say=lambda key, d: "2 weeks" if key == "every" else f"{d:g} days")
    assert ps.Given.read({"patient": [0, 1], "day": [2.0, 5.0]}).in_words() == (
        "on each patient's own days (2 visits for 2 patients, days 2 to 5)")


def test_something_that_is_not_a_schedule_is_refused_saying_what_one_needs():
    with pytest.raises(ParameterError, match=r"visits\(ctx\), in_words\(\)"):
        ps.Protocol(intervention=ps.sham(), schedule=object())


@given(st.dictionaries(st.integers(0, 40),
                       st.lists(st.floats(0.0, 400.0, allow_nan=False), max_size=5),
                       max_size=12),
       st.lists(st.integers(0, 45), max_size=20))
@settings(max_examples=60)
def test_given_days_are_kept_compact_and_read_back_as_given(days, lanes):
    g = ps.Given(days)
    # the mapping: every patient listed (one with no days too), its days sorted
    assert dict(g.days) == {p: tuple(sorted(float(d) for d in ds)) for p, ds in days.items()}
    assert len(g.days) == len(days) and list(g.days) == sorted(days)
    assert g.sessions == sum(len(ds) for ds in days.values())
    every = [float(d) for ds in days.values() for d in ds]
    assert g.start_day == (min(every) if every else 0.0)
    assert g.planned_end_day == (max(every) if every else 0.0)
    assert 41 not in g.days and g.days.get(41) is None
    # the padded rows of any lanes, against each lane's own days
    lanes = np.array(lanes, dtype=np.int64)
    rows = g.days.rows(lanes)
    assert rows.shape[0] == lanes.size
    for r, p in zip(rows, lanes.tolist(), strict=True):
        own = g.days.get(p, ())
        assert tuple(r[:len(own)].tolist()) == own and np.isinf(r[len(own):]).all()
    # a table of the same visits gives the same schedule; both survive pickling
    tab = ps.Given.read({"patient": [p for p, ds in days.items() for _ in ds],
                         "day": every})
    assert {p: d for p, d in tab.days.items()} == {p: d for p, d in g.days.items() if d}
    assert dict(pickle.loads(pickle.dumps(g)).days) == dict(g.days)


def test_given_days_refuse_what_is_not_a_patient_index():
    g = ps.Given({2: [1.0]})
    for key in (True, 2.0, "2", -1):
        assert key not in g.days
        with pytest.raises(KeyError):
            g.days[key]
    with pytest.raises(ParameterError, match=r"Given.days\[2\]"):
        ps.Given({2: [1.0, -3.0]})
