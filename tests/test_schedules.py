"""A schedule answers *when* itself (issue 11): a new kind is a class with
``visits(ctx)``, ``in_words()``, ``planned_end_day`` and ``reads_state``, and runs through
:func:`painsim.simulate` without any change to the engine."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

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
