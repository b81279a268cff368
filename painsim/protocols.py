"""Protocols: when sessions happen, as validated, frozen objects.

A :class:`Protocol` pairs an intervention (or a cycle of them) with a schedule and the
things that happen at moments: missed visits, dropout, a clinic with limited slots.
The engine (:mod:`painsim.engine`) runs each patient's protocol as a SimPy process.

Schedules (times in days):

* :class:`Fixed` — ``sessions`` visits every ``every_days`` from ``start_day``
  (weekly × 6: ``Fixed(every_days=7, sessions=6)``; twice weekly: ``every_days=3.5``);
* :class:`Tapering` — intervals grow by ``growth`` after each visit at which pain has
  fallen by ``improvement`` from baseline (000-5); reads the patient's pain;
* :class:`AsNeeded` — book a visit when daily pain is >= ``threshold`` for
  ``consecutive_days`` checks in a row; reads the patient's pain.

Each schedule answers *when* itself: ``visits(ctx)`` is the patient's SimPy process over
a :class:`VisitContext` (the engine's side: ``attend()``, pain as of the last decision
boundary, dropout, the horizon) and ``in_words()`` says it in plain words. A schedule
of your own is any object with those two methods, ``start_day``, ``planned_end_day``
and ``reads_state`` (:func:`is_schedule`); the engine needs no change.

A protocol may add ``maintenance`` visits (a :class:`Fixed` schedule whose start is
counted from the end of the course, 001-3).

Calendar: the visits of a schedule whose interval is at least one day are whole days
apart, so every visit of a course is at the time of day of its first (with a whole
``start_day``: on whole days at the protocol's ``visit_hour``). The planned times are
exact (``start_day + k * every_days``; a month is 30.4375 days, a year 365.25) and each
visit happens on the whole day after the first that its planned time falls in (rounded
down, see :func:`visit_day`): twice weekly (``every_days=3.5``) from day 0 is days 0, 3,
7, 10, 14, ...; monthly (30.4375) from day 0 is days 0, 30, 60, 91, 121, ..., and twelve
months later is day 365. Intervals shorter than a day (several visits a day) keep their
exact times.

Decisions that read pain see it as of the most recent decision boundary (the engine's
``epoch_days``, 1 day by default): that is the resolution of state-based decisions.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError, check_number, check_text, check_type
from .fields import MAX_DAY, MAX_INTERVAL_DAYS, check_settings, setting
from .interventions import Intervention

__all__ = ["CALENDAR_TOLERANCE_DAYS", "Arm", "AsNeeded", "Clinic", "Fixed", "Given", "GivenDays",
           "Protocol", "Say", "Tapering", "VisitContext", "days_in_words", "is_schedule",
           "planned_visits",
           "visit_day", "visit_days_in_words"]

# MAX_DAY (the latest day anything may happen: the longest horizon painsim.simulate
# runs) and MAX_INTERVAL_DAYS (the longest interval between visits) live with the
# settings' ranges in painsim.fields.


#: Tolerance (days) when a planned time is rounded down to a whole day: sums such as
#: ``0.1 + 0.2`` that fall a rounding error short of a whole day stay on it.
CALENDAR_TOLERANCE_DAYS = 1e-9


def visit_day(planned_day: Any, every_days: float, first_day: Any = 0.0) -> Any:
    """When a visit planned for ``planned_day`` (days; a float or an array) happens, in
    a schedule whose first visit is on ``first_day``: a whole number of days after the
    first (rounded down) when visits are at least a day apart (``every_days >= 1``),
    else the planned time itself. The visit is then at this day + ``visit_hour / 24``.

    Examples
    --------
    >>> [float(visit_day(1 + k * 3.5, 3.5, 1.0)) for k in range(5)]
    [1.0, 4.0, 8.0, 11.0, 15.0]
    >>> float(visit_day(12 * 30.4375, 30.4375)), visit_day(0.25, 0.25)
    (365.0, 0.25)
    """
    if every_days < 1:
        return planned_day
    with np.errstate(invalid="ignore"):  # lanes without a first visit (-inf) stay NaN
        return first_day + np.floor(planned_day - first_day + CALENDAR_TOLERANCE_DAYS)


#: The meaning of a planned schedule's ``start``.
_START = "First visit (in months or years: rounded down to a whole day)."


def days_in_words(days: float) -> str:
    """A duration in days or weeks: ``"7 days"`` is ``"1 week"``, ``3.5`` is ``"3.5
    days"``."""
    if days >= 7 and days % 7 == 0:
        w = days / 7
        return f"{w:g} week" + ("s" if w != 1 else "")
    return f"{days:g} day" + ("s" if days != 1 else "")


def visit_days_in_words(first: float, every: float, sessions: int) -> str:
    """The first visit days of a fixed schedule, as :func:`visit_day` places them."""
    days = [float(visit_day(first + k * every, every, first)) for k in range(min(sessions, 9))]
    return ", ".join(f"{d:g}" for d in days[:8]) + (", ..." if sessions > 8 else "")


#: How a schedule's :meth:`in_words` says a duration: ``say(key, days)`` with ``key``
#: the scenario-file key it came from (``"every"``, ``"max_every"``, ``"min_gap"``), so
#: that a describer can repeat the file's own words ("2 weeks", "1 month").
Say = Callable[[str, float], str]


def _plain_say(key: str, days: float) -> str:
    return days_in_words(days)


class VisitContext(typing.Protocol):
    """What a schedule's :meth:`visits` process sees of one patient in one arm run.

    The engine (:mod:`painsim.events`) gives each patient's SimPy process one of these.
    A schedule decides *when*; :meth:`attend` does the rest (dropout check, missed visit,
    clinic queue, the session itself) and says whether a session took place.

    Attributes
    ----------
    env : simpy.Environment
        The arm's event loop (``env.now`` in days; ``env.timeout(d)`` waits ``d`` days).
    horizon : float
        End of follow-up, days: no visit at or after it.
    hour : float
        The protocol's visit hour as a fraction of a day (``visit_hour / 24``).
    patient : int
        Global patient index (the row of a :class:`Given` table).
    dropped, last_session, pain_now, baseline
        Whether the patient has dropped out; the time of the last session (days, -inf
        before the first); pain (0–10) as of the last decision boundary, and at day 0.
    """

    env: Any
    horizon: float
    hour: float
    patient: int

    @property
    def dropped(self) -> bool: ...
    @property
    def last_session(self) -> float: ...
    @property
    def pain_now(self) -> float: ...
    @property
    def baseline(self) -> float: ...

    def attend(self) -> Generator[Any, Any, bool]:
        """One planned visit (a SimPy sub-process); True if a session took place."""
        ...


def planned_visits(ctx: VisitContext, t_first: float, sessions: int, every: float, *,
                   growth: float = 1.0, max_every: float = math.inf,
                   improvement: float | None = None) -> Generator[Any, Any, None]:
    """The SimPy process of ``sessions`` planned visits from ``t_first`` (days),
    ``every`` days apart (whole days apart when ``every >= 1``, :func:`visit_day`), at
    the visit hour; with ``improvement`` set, the interval grows by ``growth`` (at most
    ``max_every``) after each visit at which pain is that far below baseline."""
    t_plan, interval = t_first, every
    hour, env = ctx.hour, ctx.env
    for _ in range(sessions):
        day = visit_day(t_plan, every, t_first)  # whole days apart (daily or rarer)
        if day + hour >= ctx.horizon or ctx.dropped:
            return
        if day + hour > env.now:
            yield env.timeout(day + hour - env.now)
        yield from ctx.attend()
        if improvement is not None and ctx.pain_now <= (1 - improvement) * ctx.baseline:
            interval = min(interval * growth, max_every)
        t_plan = max(t_plan, ctx.last_session - hour) + interval


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixed:
    """``sessions`` visits, ``every_days`` apart, from ``start_day`` (days).

    With ``every_days >= 1`` visits are whole days apart (:func:`visit_day`; twice
    weekly, 3.5, from day 0: days 0, 3, 7, 10, ...). As a protocol's
    ``maintenance``, ``start_day`` counts from the day of the course's last visit:
    ``start_day=every_days`` is one interval after it, 0 the same visit time (two
    sessions at once).
    """

    start_day: float = setting(0.0, _START, 0, MAX_DAY, type="duration", file="start",
                               written="0 days")
    every_days: float = setting(
        7.0, "Interval between visits; from 1 day up, visits are whole days apart ('3.5 "
        "days': 3 and 4 in turn; '1 month': 30 or 31).", 1 / 24, MAX_INTERVAL_DAYS,
        type="duration", file="every", written="1 week")
    sessions: int = setting(6, "Number of visits.", 0, 10000, type="int")
    reads_state = False

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def planned_end_day(self) -> float:
        """Day of the last planned session (:func:`visit_day`)."""
        return float(visit_day(self.start_day + self.every_days * max(self.sessions - 1, 0),
                               self.every_days, self.start_day))

    def visits(self, ctx: VisitContext, from_day: float | None = None
               ) -> Generator[Any, Any, None]:
        """The patient's visits (a SimPy process); as a maintenance phase, from
        ``from_day`` (the day of the course's last visit) + ``start_day``."""
        first = self.start_day if from_day is None else from_day + self.start_day
        yield from planned_visits(ctx, first, self.sessions, self.every_days)

    def in_words(self, hour: str = "12:00", say: Say = _plain_say) -> str:
        """The schedule in plain words, e.g. ``"6 visits every 1 week from day 1 (days
        1, 8, 15, 22, 29, 36, at 12:00)"``."""
        return (f"{self.sessions} visits every {say('every', self.every_days)} from day "
                f"{self.start_day:g} (days "
                f"{visit_days_in_words(self.start_day, self.every_days, self.sessions)}, "
                f"at {hour})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tapering:
    """Intervals grow as pain falls (000-5).

    After each visit the next interval is ``every_days`` times ``growth`` to the power
    of the number of visits so far at which pain was at or below
    ``(1 - improvement) * baseline``, capped at ``max_every_days``. With ``every_days >=
    1`` visits are whole days apart (:func:`visit_day`): 3.5 days after a visit on day 1
    is day 4.
    """

    start_day: float = setting(0.0, _START, 0, MAX_DAY, type="duration", file="start",
                               written="0 days")
    every_days: float = setting(
        3.5, "First interval; from 1 day up, visits are whole days apart.", 1 / 24,
        MAX_INTERVAL_DAYS, type="duration", file="every", written="3.5 days")
    growth: float = setting(2.0, "Interval multiplier once pain has fallen.", 1, 10)
    max_every_days: float = setting(
        28.0, "Longest interval (the file's value is raised to `every` if below it).",
        1 / 24, MAX_INTERVAL_DAYS, type="duration", file="max_every", written="4 weeks")
    improvement: float = setting(0.3, "Fall from baseline that lets intervals grow.", 0, 1)
    sessions: int = setting(8, "Number of visits.", 0, 10000, type="int")
    reads_state = True

    def __post_init__(self) -> None:
        check_settings(self)
        if self.max_every_days < self.every_days:
            raise ParameterError("Tapering.max_every_days", self.max_every_days,
                                 f"a number in [{self.every_days:g}, "
                                 f"{MAX_INTERVAL_DAYS:g}] day (at least every_days)")

    @property
    def planned_end_day(self) -> float:
        """Day of the last session if intervals never grew (an upper bound on the pace)."""
        return self.start_day + self.every_days * max(self.sessions - 1, 0)

    def visits(self, ctx: VisitContext) -> Generator[Any, Any, None]:
        """The patient's visits (a SimPy process): intervals grow as its pain falls."""
        yield from planned_visits(ctx, self.start_day, self.sessions, self.every_days,
                                  growth=self.growth, max_every=self.max_every_days,
                                  improvement=self.improvement)

    def in_words(self, hour: str = "12:00", say: Say = _plain_say) -> str:
        """The schedule in plain words."""
        return (f"{self.sessions} visits from day {self.start_day:g} at {hour}, first every "
                f"{say('every', self.every_days)}; each visit at which pain is "
                f"{self.improvement:.0%} below baseline multiplies the interval by "
                f"{self.growth:g} (at most {say('max_every', self.max_every_days)})")


@dataclass(frozen=True, slots=True, kw_only=True)
class AsNeeded:
    """Book a visit when pain (0–10) is >= ``threshold`` at ``consecutive_days`` daily checks.

    At most ``max_sessions`` visits, at least ``min_gap_days`` apart, checks from
    ``start_day``.
    """

    threshold: float = setting(5.0, "Pain that counts as a bad day.", 0, 10, "pain")
    consecutive_days: int = setting(3, "Bad daily checks in a row before booking.", 1, 365,
                                    type="int")
    max_sessions: int = setting(10, "Most visits.", 0, 10000, type="int")
    min_gap_days: float = setting(7.0, "Least time between visits.", 0, MAX_INTERVAL_DAYS,
                                  type="duration", file="min_gap", written="1 week")
    start_day: float = setting(0.0, "First daily check.", 0, MAX_DAY, type="duration",
                               file="start", written="0 days")
    reads_state = True

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def planned_end_day(self) -> float:
        """The first check day: as-needed visits have no planned end."""
        return self.start_day

    def visits(self, ctx: VisitContext) -> Generator[Any, Any, None]:
        """The patient's visits (a SimPy process): a check each morning; a visit later
        that day after ``consecutive_days`` checks in a row at or above ``threshold``."""
        count = done = 0
        t = math.ceil(self.start_day)
        env = ctx.env
        while t < ctx.horizon and done < self.max_sessions and not ctx.dropped:
            if t > env.now:
                yield env.timeout(t - env.now)
            count = count + 1 if ctx.pain_now >= self.threshold else 0
            hour = ctx.hour
            if count >= self.consecutive_days and t + hour < ctx.horizon and \
                    env.now + hour - ctx.last_session >= self.min_gap_days:
                if hour > 0:  # the morning check books a visit later that day
                    yield env.timeout(hour)
                attended = yield from ctx.attend()
                done += 1 if attended else 0
                count = 0
            t = max(t + 1, math.ceil(env.now))

    def in_words(self, hour: str = "12:00", say: Say = _plain_say) -> str:
        """The schedule in plain words."""
        return (f"as needed, when pain >= {self.threshold:g}/10 on {self.consecutive_days} "
                f"daily checks in a row, at most {self.max_sessions} visits, at least "
                f"{say('min_gap', self.min_gap_days)} apart")


class GivenDays(Mapping):
    """A :class:`Given` schedule's days: patient index → its visit days (a sorted tuple),
    read-only, kept as three arrays rather than a dict of tuples (at 100,000 patients
    with 6 visits each, about 6 MB instead of about 38 MB).

    ``patient`` holds the patients in increasing order, ``start`` (one more entry) the
    offset of each patient's days in ``day``, which are sorted within each patient.
    """

    __slots__ = ("day", "patient", "start")

    def __init__(self, patient: NDArray[np.int64], start: NDArray[np.int64],
                 day: NDArray[np.float64]) -> None:
        self.patient, self.start, self.day = patient, start, day

    @classmethod
    def of_rows(cls, patient: NDArray[np.int64], day: NDArray[np.float64],
                listed: NDArray[np.int64] | None = None) -> GivenDays:
        """From one row per visit, in any order (a patient's days are sorted); patients
        in ``listed`` without a row stay in the mapping with no days."""
        patient = np.asarray(patient, dtype=np.int64)
        day = np.asarray(day, dtype=float)
        order = np.lexsort((day, patient))
        patient, day = patient[order], day[order]
        every = np.unique(patient if listed is None
                          else np.concatenate([patient, np.asarray(listed, np.int64)]))
        start = np.r_[np.searchsorted(patient, every), patient.size].astype(np.int64)
        return cls(every, start, day)

    def __reduce__(self) -> tuple:
        return (type(self), (self.patient, self.start, self.day))

    def _index(self, p: object) -> int:
        if isinstance(p, bool | np.bool_) or not isinstance(p, int | np.integer):
            raise KeyError(p)
        i = int(np.searchsorted(self.patient, p))
        if i == self.patient.size or self.patient[i] != p:
            raise KeyError(p)
        return i

    def __getitem__(self, p: object) -> tuple[float, ...]:
        i = self._index(p)
        return tuple(self.day[self.start[i]:self.start[i + 1]].tolist())

    def __contains__(self, p: object) -> bool:
        try:
            self._index(p)
        except KeyError:
            return False
        return True

    def __iter__(self) -> typing.Iterator[int]:
        return iter(self.patient.tolist())

    def __len__(self) -> int:
        return int(self.patient.size)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def rows(self, lanes: NDArray[np.int64]) -> NDArray[np.float64]:
        """The days of patients ``lanes``, one row each, padded with +inf (a patient not
        in the table has none)."""
        lanes = np.asarray(lanes, dtype=np.int64)
        n = lanes.size
        if not self.patient.size:
            return np.full((n, 0), np.inf)
        i = np.minimum(np.searchsorted(self.patient, lanes), self.patient.size - 1)
        found = self.patient[i] == lanes
        count = np.where(found, self.start[i + 1] - self.start[i], 0)
        out = np.full((n, int(count.max(initial=0))), np.inf)
        before = np.repeat(np.cumsum(count) - count, count)
        col = np.arange(before.size) - before
        out[np.repeat(np.arange(n), count), col] = self.day[np.repeat(self.start[i], count)
                                                            + col]
        return out


@dataclass(frozen=True, eq=False)
class Given:
    """Visits on given days, per patient: a researcher's own session times.

    Each patient's planned visits are exactly its days (no visit hour is added); missed
    visits, dropout and a clinic apply as for any schedule. Patients absent from the
    table have no visits.

    Parameters
    ----------
    days : mapping of int to sequence of float
        Patient index (0-based) → visit days (days from day 0). Kept as a read-only
        :class:`GivenDays` mapping (each patient's days a sorted tuple).
    source : str
        Where the days came from (a file name), for :meth:`in_words`.

    Examples
    --------
    >>> g = Given.read({"patient": [0, 0, 2], "day": [3.0, 10.0, 5.5]})
    >>> g.days[0], g.sessions
    ((3.0, 10.0), 3)
    """

    days: Mapping[int, tuple[float, ...]]
    source: str = ""
    reads_state = False

    def __post_init__(self) -> None:
        if isinstance(self.days, GivenDays):  # already checked (read)
            return
        if not isinstance(self.days, Mapping):
            raise ParameterError("Given.days", self.days,
                                 "a mapping of patient index to visit days")
        patients: list[int] = []
        days: list[float] = []
        for p, ds in self.days.items():
            check_number("Given.days (patient)", p, 0, 2**62, integer=True)
            vals = tuple(float(d) for d in ds) if isinstance(ds, Sequence | np.ndarray) \
                else None
            if vals is None:
                raise ParameterError(f"Given.days[{p}]", ds, "a sequence of days")
            for d in vals:
                check_number(f"Given.days[{p}]", d, 0, MAX_DAY, " day")
            patients += [int(p)] * len(vals)
            days += vals
        listed = np.array([int(p) for p in self.days], dtype=np.int64)
        object.__setattr__(self, "days", GivenDays.of_rows(
            np.array(patients, dtype=np.int64), np.array(days), listed))

    @classmethod
    def read(cls, source: Any, name: str | None = None) -> Given:
        """From a table (CSV/Parquet path, DataFrame or mapping) with columns ``patient``
        and ``day``, one row per visit; a bad entry names its row and column. ``name``
        (default: the path) is recorded as :attr:`source`."""
        from .inputs import number_column, read_table

        if name is None:
            name = str(source) if isinstance(source, str | os.PathLike) else ""
        # a bad cell names the file it is in
        what = f"sessions ({name})" if isinstance(source, str | os.PathLike) else "sessions"
        cols = read_table(source, what=what)
        extra = sorted(set(cols) - {"patient", "day"})
        if extra:
            raise ParameterError(f"{what} columns", extra, "patient, day",
                                 why="are not session-table columns")
        patient = number_column(cols, "patient", what, 0, 2**62, integer=True)
        day = number_column(cols, "day", what, 0.0, MAX_DAY)
        return cls(days=GivenDays.of_rows(patient, day), source=name)

    @property
    def start_day(self) -> float:
        """The first visit day of any patient (0 without visits)."""
        d = self.days.day
        return float(d.min()) if d.size else 0.0

    @property
    def sessions(self) -> int:
        """Visits in the table, all patients together."""
        return int(self.days.day.size)

    @property
    def planned_end_day(self) -> float:
        """The last visit day of any patient (0 without visits)."""
        d = self.days.day
        return float(d.max()) if d.size else 0.0

    def visits(self, ctx: VisitContext) -> Generator[Any, Any, None]:
        """The patient's own visits (a SimPy process), at exactly its given times."""
        env = ctx.env
        for t in self.days.get(ctx.patient, ()):
            if t >= ctx.horizon or ctx.dropped:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            yield from ctx.attend()

    def in_words(self, hour: str = "12:00", say: Say = _plain_say) -> str:
        """The schedule in plain words (``hour`` is unused: given times are exact)."""
        where = f" from {self.source!r}" if self.source else ""
        return (f"on each patient's own days{where} ({self.sessions} visits for "
                f"{len(self.days)} patients, days {self.start_day:g} to "
                f"{self.planned_end_day:g})")


Schedule = Fixed | Tapering | AsNeeded | Given


def is_schedule(obj: Any) -> bool:
    """Whether ``obj`` can be a protocol's schedule: one of the built-in kinds, or any
    object that answers what the engine asks of one — ``visits(ctx)`` (a SimPy process
    over a :class:`VisitContext`: *when*), ``in_words()`` (for ``describe``),
    ``start_day`` and ``planned_end_day`` (days) and ``reads_state`` (True if it reads
    pain, so decisions are taken every ``epoch_days``). A new kind needs no change to
    the engine."""
    if isinstance(obj, Fixed | Tapering | AsNeeded | Given):
        return True
    return (callable(getattr(obj, "visits", None)) and callable(getattr(obj, "in_words", None))
            and isinstance(getattr(obj, "reads_state", None), bool)
            and all(isinstance(getattr(obj, k, None), int | float) and not isinstance(
                getattr(obj, k), bool) for k in ("start_day", "planned_end_day")))


@dataclass(frozen=True, slots=True, kw_only=True)
class Clinic:
    """A clinic shared by the patients of an arm: ``slots_per_day`` sessions per day.

    Each session holds a slot for one day (``simpy.Resource``); requests wait in a
    first-come, first-served list, and waiting times are recorded.
    """

    slots_per_day: int = setting(
        10, "Clinic capacity shared by the arm's patients (absent: unlimited).", 1, 10**6,
        type="int", file="clinic_slots_per_day")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """A treatment protocol.

    Parameters
    ----------
    intervention : Intervention or tuple of Intervention
        What a session does; a tuple alternates, session k using item k mod len.
    schedule : Fixed, Tapering or AsNeeded
        When sessions happen.
    maintenance : Fixed, optional
        Further visits after the course; its ``start_day`` counts from the day of the
        course's last session (give ``start_day=every_days`` for one interval later).
    p_miss : float
        Probability that a planned visit is missed (0–1); a missed visit is logged and
        the schedule moves on.
    dropout_per_day : float
        Baseline dropout hazard, per day (checked at each planned visit).
    dropout_pain_factor : float
        Hazard multiplier per unit of pain/10: ``h = h0 (1 + f P/10)``.
    dropout_adverse_factor : float
        Hazard multiplier after an adverse event (>= 1 makes dropout likelier).
    visit_hour : float
        Time of day of visits, hours after midnight (default noon): a visit planned for
        day ``d`` happens at ``d + visit_hour / 24``. The daily pain grid (``t = d``) is
        then morning pain, before that day's visit, as in a pain diary, and never the
        minutes-long analgesia right after a session.
    """

    intervention: Intervention | tuple[Intervention, ...]
    schedule: Schedule
    maintenance: Fixed | None = None
    p_miss: float = setting(0.0, "Probability that a planned visit is missed.", 0, 1)
    dropout_per_day: float = setting(0.0, "Baseline dropout hazard.", 0, 10, "1/day")
    dropout_pain_factor: float = setting(0.0, "Hazard multiplier per unit of pain/10.", 0,
                                         100)
    dropout_adverse_factor: float = setting(1.0, "Hazard multiplier after an adverse "
                                            "event.", 0, 100)
    visit_hour: float = setting(
        12.0, "Time of day of visits: a visit on day d happens at d + hour/24, after that "
        "day's (morning) pain reading.", 0, 23.999, "h")

    def __post_init__(self) -> None:
        items = self.interventions
        if not items or not all(isinstance(i, Intervention) for i in items):
            raise ParameterError("Protocol.intervention", self.intervention,
                                 "an Intervention or a non-empty tuple of them")
        if not is_schedule(self.schedule):
            raise ParameterError("Protocol.schedule", self.schedule,
                                 "Fixed, Tapering, AsNeeded or Given, or a schedule of "
                                 "your own: an object with visits(ctx), in_words(), "
                                 "start_day, planned_end_day and reads_state (see "
                                 "VisitContext)")
        if self.maintenance is not None and not isinstance(self.maintenance, Fixed):
            raise ParameterError("Protocol.maintenance", self.maintenance, "a Fixed schedule")
        check_settings(self)

    @property
    def interventions(self) -> tuple[Intervention, ...]:
        """The intervention cycle as a tuple."""
        i = self.intervention
        return i if isinstance(i, tuple) else (i,)

    @property
    def reads_state(self) -> bool:
        """Whether decisions read the patient's pain (then the engine works in epochs)."""
        return self.schedule.reads_state or self.dropout_pain_factor > 0


@dataclass(frozen=True, kw_only=True)
class Arm:
    """One arm of a study: a name, a protocol (``None``: natural course), a clinic.

    Parameters
    ----------
    name : str
        Label in outputs.
    protocol : Protocol, optional
        The treatment; ``None`` is the natural course (no treatment).
    clinic : Clinic, optional
        Limited slots shared by the arm's patients; ``None``: unlimited.
    """

    name: str
    protocol: Protocol | None = None
    clinic: Clinic | None = None

    def __post_init__(self) -> None:
        check_text("Arm.name", self.name, "a non-empty name")
        check_type("Arm.protocol", self.protocol, Protocol, "a Protocol, or None (natural "
                   "course)", optional=True)
        check_type("Arm.clinic", self.clinic, Clinic, "a Clinic, or None (unlimited)",
                   optional=True)
