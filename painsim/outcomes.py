"""Outcomes: documented definitions, per-patient values, per-arm summaries.

Definitions (every threshold is a field of :class:`Outcomes`; pain on 0–10, time in days)
-----------------------------------------------------------------------------------------
baseline
    Pain at day 0, after any injury and before any treatment.
short-term change
    Pain at ``short_term_day`` (a whole day; default day 42, or the horizon if shorter)
    minus baseline (negative = better).
responder
    Short-term reduction >= ``responder_fraction`` of baseline (default 30%), and
    separately >= ``responder_points`` (default 2 points).
relief
    Pain at or below ``(1 - relief_fraction) * baseline`` for at least
    ``relief_min_days`` without interruption; *days to relief* is the start of the first
    such interval, *sessions to relief* the sessions received up to then. The minimum
    duration keeps the minutes-long analgesia after a session from counting as relief.
relapse
    After relief, pain at or above ``(1 - relapse_fraction) * baseline`` for at least
    ``relapse_min_days``; *time to relapse* is counted from relief. Both crossings are
    located on the solver's dense output, not on the daily grid.
relapse within the window
    Kaplan–Meier estimate of P(relapse by ``relapse_window_days`` after relief),
    censoring at dropout or the end of follow-up.
durable response
    Relief and no relapse by the end of follow-up (or dropout).
adverse events
    Counts of logged adverse events (soreness, bruising) per session and per patient.
report days
    Pain and change from baseline at each of ``report_days`` (whole days).
satisfaction
    Short-term reduction >= ``satisfaction_points`` (default 1.5 points): a simple,
    explicit stand-in for "satisfied with treatment".

Definitions used by cohort studies and trials (off unless set; see
``scenarios/evidence/``). They are read on the daily (morning) pain readings, so their
resolution is one day:

recovery
    ``recovery_days`` consecutive daily readings with pain strictly below
    ``recovery_level`` (0–10), within follow-up. *Recovery day* is the last day of the
    first such run (the day recovery is established); *recovered by day d* means that
    day is <= d.
recurrence
    After recovery is established, daily readings with pain >= ``recurrence_level``
    spanning at least ``recurrence_min_days`` (``1`` = two consecutive readings, 24 h
    apart; ``0`` = one reading). *Time to recurrence* runs from the recovery day to the
    first reading of that stretch; the cumulative incidence at each of
    ``recurrence_days`` is 1 − Kaplan–Meier, censoring at dropout or the end of
    follow-up.
responder at a day
    At each of ``responder_days``: reduction from baseline >= ``responder_fraction``
    of baseline, and separately >= ``responder_points``.
adverse events over a course
    At each of ``adverse_event_days``: whether a patient has had >= 1 logged adverse
    event by that day (a per-course share); and per patient the number of sessions
    with >= 1 adverse event (a per-session rate). Mean pain at given days is
    ``report_days``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ParameterError, check_number, check_type

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .cohort import Cohort, CohortSample
    from .protocols import Arm

__all__ = ["DISCLAIMER", "ArmOutcomes", "Outcomes", "SimulationResult", "bootstrap_ci",
           "kaplan_meier", "km_confidence_band", "km_interval_at", "km_survival_at", "load",
           "mean_ci", "proportion_ci", "ratio_ci"]

#: What every output that shows results says about them, word for word: the one home of
#: the "not medical advice" text (figures carry it in :data:`painsim.plots.FOOTER`). Here,
#: beside :class:`SimulationResult`, so that every module that shows results can import it.
DISCLAIMER = "A model for research and teaching, not medical advice."


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """Outcome definitions (see the module documentation); units in the names.

    The study definitions below are off by default (``None`` or empty); pain is 0–10
    and time in days.

    Attributes
    ----------
    recovery_level : float or None
        Recovery: daily pain strictly below this level (0–10), e.g. ``0.5`` for "0/10"
        on an integer scale, ``1.5`` for "0–1/10".
    recovery_days : int
        Consecutive daily readings below ``recovery_level`` that make a recovery (1–3650).
    recovered_by_days : tuple of float
        Days (>= 0) at which to report the share recovered (``recovery_level`` needed).
    recurrence_level : float or None
        Recurrence after recovery: daily pain at or above this level (0–10, >=
        ``recovery_level``; ``recovery_level`` needed).
    recurrence_min_days : float
        Least span of the readings at or above the level, days (0–365; 1 = 24 h).
    recurrence_days : tuple of float
        Days after recovery (> 0) at which to report the cumulative incidence of
        recurrence (Kaplan–Meier; ``recurrence_level`` needed).
    responder_days : tuple of float
        Whole days (>= 0) at which to report responders (``responder_fraction``,
        ``responder_points``).
    adverse_event_days : tuple of float
        Days (>= 0) at which to report the share of patients with >= 1 adverse event;
        non-empty also reports sessions with >= 1 adverse event.
    """

    short_term_day: float | None = None
    responder_fraction: float = 0.3
    responder_points: float = 2.0
    relief_fraction: float = 0.3
    relief_min_days: float = 1.0
    relapse_fraction: float = 0.15
    relapse_min_days: float = 7.0
    relapse_window_days: float = 90.0
    satisfaction_points: float = 1.5
    report_days: tuple[float, ...] = ()
    bootstrap: int = 1000
    confidence: float = 0.95
    recovery_level: float | None = None
    recovery_days: int = 7
    recovered_by_days: tuple[float, ...] = ()
    recurrence_level: float | None = None
    recurrence_min_days: float = 1.0
    recurrence_days: tuple[float, ...] = ()
    responder_days: tuple[float, ...] = ()
    adverse_event_days: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        whole = "a whole day in [0, 36500] (the save grid is daily)"
        if self.short_term_day is not None:
            check_number("Outcomes.short_term_day", self.short_term_day, 0, 36500, " day")
            if not float(self.short_term_day).is_integer():
                raise ParameterError("Outcomes.short_term_day", self.short_term_day, whole,
                                     why="is not a whole day")
        check_type("Outcomes.report_days", self.report_days, tuple | list,
                   "a tuple of whole days")
        for d in self.report_days:
            check_number("Outcomes.report_days", d, 0, 36500, " day")
            if not float(d).is_integer():
                raise ParameterError("Outcomes.report_days", d, whole,
                                     why="is not a whole day")
        check_number("Outcomes.bootstrap", self.bootstrap, 0, 100000, integer=True)
        for name, lo, hi in (("responder_fraction", 0, 1),
                             ("responder_points", 0, 10), ("relief_fraction", 0.01, 1),
                             ("relief_min_days", 0, 3650), ("relapse_fraction", 0, 1),
                             ("relapse_min_days", 0, 3650),
                             ("relapse_window_days", 1, 36500),
                             ("satisfaction_points", 0, 10), ("bootstrap", 0, 100000),
                             ("confidence", 0.5, 0.999)):
            check_number(f"Outcomes.{name}", getattr(self, name), lo, hi)
        if self.relapse_fraction >= self.relief_fraction:
            raise ParameterError("Outcomes.relapse_fraction", self.relapse_fraction,
                                 f"< relief_fraction ({self.relief_fraction:g})",
                                 why="must put the relapse level above the relief level")
        self._check_study_definitions()

    def _check_study_definitions(self) -> None:
        """Validate the recovery, recurrence, responder-day and adverse-event options."""
        def days(name: str, lo_open: bool = False, whole: bool = False) -> None:
            check_type(f"Outcomes.{name}", getattr(self, name), tuple | list,
                       "a tuple of days")
            for d in getattr(self, name):
                ok = (isinstance(d, int | float) and not isinstance(d, bool)
                      and (isinstance(d, int) or math.isfinite(d))
                      and (d > 0 if lo_open else d >= 0)
                      and (not whole or float(d).is_integer()))
                if not ok:
                    raise ParameterError(f"Outcomes.{name}", d, ("whole days >= 0 (the "
                                         "save grid is daily)" if whole else
                                         "days > 0" if lo_open else "days >= 0"))

        for name in ("recovery_level", "recurrence_level"):
            if getattr(self, name) is not None:
                check_number(f"Outcomes.{name}", getattr(self, name), 0, 10, " (pain 0-10)")
        check_number("Outcomes.recovery_days", self.recovery_days, 1, 3650, " readings",
                     integer=True)
        check_number("Outcomes.recurrence_min_days", self.recurrence_min_days, 0, 365,
                     " days")
        days("recovered_by_days")
        days("recurrence_days", lo_open=True)
        days("responder_days", whole=True)
        days("adverse_event_days")
        if self.recovery_level is None and (self.recovered_by_days
                                            or self.recurrence_level is not None):
            raise ParameterError("Outcomes.recovery_level", None, "a pain level in [0, 10]",
                                 why="is needed by recovered_by_days and recurrence_level")
        if self.recurrence_level is None and self.recurrence_days:
            raise ParameterError("Outcomes.recurrence_level", None, "a pain level in [0, 10]",
                                 why="is needed by recurrence_days")
        if (self.recurrence_level is not None and self.recovery_level is not None
                and self.recurrence_level < self.recovery_level):
            raise ParameterError("Outcomes.recurrence_level", self.recurrence_level,
                                 f">= recovery_level ({self.recovery_level:g})",
                                 why="would count a recovered day as a recurrence")


def kaplan_meier(time: ArrayLike, event: ArrayLike) -> tuple[NDArray, NDArray]:
    """Kaplan–Meier survival estimate.

    Parameters
    ----------
    time : array_like, shape (n,)
        Event or censoring times (days).
    event : array_like of bool, shape (n,)
        True where the event happened at ``time``, False where censored.

    Returns
    -------
    t, S : ndarray
        Distinct event times and the survival estimate just after each.

    Examples
    --------
    The 6-MP arm of Freireich et al. (1963), remission times in weeks:

    >>> t = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
    >>> e = [1] * 9 + [0] * 12
    >>> ts, S = kaplan_meier(t, e)
    >>> [(int(a), round(float(b), 3)) for a, b in zip(ts, S)]
    [(6, 0.857), (7, 0.807), (10, 0.753), (13, 0.69), (16, 0.627), (22, 0.538), (23, 0.448)]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ts, d = np.unique(time[event], return_counts=True)
    srt = np.sort(time)
    at_risk = srt.size - np.searchsorted(srt, ts, side="left")  # still followed at t
    return ts, np.cumprod(1.0 - d / at_risk)  # the product-limit, in time order


def km_confidence_band(time: ArrayLike, event: ArrayLike, confidence: float = 0.95
                       ) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Kaplan–Meier estimate with Greenwood's variance and a pointwise log-log band.

    Greenwood: ``Var S(t) = S(t)² Σ d_i / (n_i (n_i − d_i))`` over event times
    ``t_i <= t`` (``n_i`` at risk, ``d_i`` events). The band is that of
    ``log(−log S)`` (Kalbfleisch & Prentice), ``S^exp(±z σ)`` with ``σ = √(Σ …) / |log
    S|``: it stays within [0, 1] and is asymmetric near 0 and 1. Where ``S`` is 0 or 1
    the band is that point.

    Parameters
    ----------
    time : array_like, shape (n,)
        Event or censoring times (days).
    event : array_like of bool, shape (n,)
        True where the event happened at ``time``, False where censored.
    confidence : float
        Pointwise level of the band (0–1).

    Returns
    -------
    t, S, se, low, high : ndarray
        Distinct event times, the survival just after each, its Greenwood standard
        error, and the band.

    Examples
    --------
    The 6-MP arm of Freireich et al. (1963) (Klein & Moeschberger, table 4.1A):

    >>> t = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
    >>> ts, S, se, lo, hi = km_confidence_band(t, [1] * 9 + [0] * 12)
    >>> [round(float(x), 4) for x in (S[0], se[0], lo[0], hi[0])]
    [0.8571, 0.0764, 0.6197, 0.9516]
    """
    from statistics import NormalDist

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ts, S = kaplan_meier(time, event)
    d = np.unique(time[event], return_counts=True)[1].astype(float)
    srt = np.sort(time)
    n = (srt.size - np.searchsorted(srt, ts, side="left")).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.cumsum(np.where(n > d, d / (n * (n - d)), np.inf))  # Greenwood's sum
        se = S * np.sqrt(g)
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        sigma = np.sqrt(g) / np.abs(np.log(S))
        low = np.where(S > 0, S ** np.exp(z * sigma), 0.0)
        high = np.where(S > 0, S ** np.exp(-z * sigma), 0.0)
    se = np.where(S > 0, se, 0.0)
    return ts, S, se, low, high


def km_interval_at(time: ArrayLike, event: ArrayLike, t: float,
                   confidence: float = 0.95) -> tuple[float, float]:
    """The band of :func:`km_confidence_band` just after day ``t`` (``(1, 1)`` before
    the first event; NaNs without subjects).

    Examples
    --------
    >>> [round(x, 4) for x in km_interval_at([10.0, 20.0, 30.0, 40.0],
    ...                                      [True, False, True, False], 15.0)]
    [0.1279, 0.9605]
    """
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    if time.size == 0:
        return (math.nan, math.nan)
    ts, _, _, lo, hi = km_confidence_band(time, event, confidence)
    k = np.searchsorted(ts, t, side="right")
    return (1.0, 1.0) if k == 0 else (float(lo[k - 1]), float(hi[k - 1]))


def proportion_ci(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the share ``k / n`` (NaNs for ``n = 0``).

    Examples
    --------
    >>> [round(x, 4) for x in proportion_ci(28, 100)]
    [0.2014, 0.3749]
    """
    from statistics import NormalDist

    if n <= 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k <= 0 else max(0.0, c - h), 1.0 if k >= n else min(1.0, c + h))


def mean_ci(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (NaNs dropped; NaNs with fewer
    than 2 values).

    Examples
    --------
    >>> [round(x, 3) for x in mean_ci([1.0, 2.0, 3.0, 4.0])]
    [0.446, 4.554]
    """
    from scipy.stats import t as student

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return (math.nan, math.nan)
    h = float(student.ppf(0.5 + confidence / 2, v.size - 1)) * v.std(ddof=1) / math.sqrt(
        v.size)
    return (float(v.mean() - h), float(v.mean() + h))


def ratio_ci(counts: ArrayLike, exposure: ArrayLike,
             confidence: float = 0.95) -> tuple[float, float]:
    """Interval of a rate ``Σ counts / Σ exposure`` whose units come in clusters (e.g.
    adverse events per session, sessions clustered in patients): the ratio estimator's
    linearized (delta-method) variance over clusters, normal quantile, cut at 0.

    Examples
    --------
    >>> [round(x, 3) for x in ratio_ci([1, 0, 2, 1], [6, 6, 6, 6])]
    [0.033, 0.3]
    """
    from statistics import NormalDist

    y, m = np.asarray(counts, dtype=float), np.asarray(exposure, dtype=float)
    if y.size < 2 or m.sum() <= 0:
        return (math.nan, math.nan)
    r = float(y.sum() / m.sum())
    se = math.sqrt(float(np.sum((y - r * m) ** 2)) / (y.size - 1) / y.size) / float(m.mean())
    h = NormalDist().inv_cdf(0.5 + confidence / 2) * se
    return (max(0.0, r - h), r + h)


def km_survival_at(time: ArrayLike, event: ArrayLike, t: float) -> float:
    """Kaplan–Meier survival just after day ``t`` (the curve of :func:`kaplan_meier`).

    Parameters
    ----------
    time : array_like of float, shape (n,)
        Days to the event or to censoring.
    event : array_like of bool, shape (n,)
        True where the event happened at ``time``, False where censored.
    t : float
        Day at which the curve is read, in the units of ``time`` (days).

    Returns
    -------
    float
        Fraction still event-free just after ``t`` (1 before the first event; NaN with
        no subjects).

    Examples
    --------
    >>> km_survival_at([10.0, 20.0, 30.0], [True, False, True], 15.0)
    0.6666666666666667
    """
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    if time.size == 0:
        return math.nan
    ts, S = kaplan_meier(time, event)
    k = np.searchsorted(ts, t, side="right")
    return 1.0 if k == 0 else float(S[k - 1])


def bootstrap_ci(values: ArrayLike, *, n_boot: int, confidence: float,
                 rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or n_boot == 0:
        return (math.nan, math.nan)
    # resamples in blocks of rows: the same draws as one (n_boot, n) array (the
    # generator fills row by row), without holding n_boot x n indices at once
    block = max(1, min(n_boot, 2**20 // v.size))
    means = np.concatenate([
        v[rng.integers(0, v.size, size=(min(block, n_boot - b), v.size))].mean(axis=1)
        for b in range(0, n_boot, block)])
    a = (1 - confidence) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def _events_table(logs: list[dict[str, NDArray]], names: tuple[str, ...]):
    """One event table, sorted by arm name, patient and day (ties keep log order),
    built column by column (a sort of the finished frame would copy it)."""
    import pandas as pd

    arm = np.concatenate([np.full(lg["patient"].size, lg["arm"]) for lg in logs])
    cols = {k: np.concatenate([lg[k] for lg in logs]) for k in ("patient", "day")}
    # names per row via one offset table of all arms' names
    for k, names_k in (("kind", "kinds"), ("detail", "details")):
        off = np.cumsum([0] + [len(lg[names_k]) for lg in logs])
        table = np.concatenate([lg[names_k] for lg in logs])
        cols[k] = table[np.concatenate([lg[k] + o for lg, o in zip(logs, off, strict=False)])]
    rank = np.argsort(np.argsort(np.array(names, dtype=object)))  # alphabetical
    order = np.lexsort((cols["day"], cols["patient"], rank[arm]))  # stable
    arm_names = np.array(names, dtype=object)
    return pd.DataFrame({"arm": arm_names[arm[order]],
                         "patient": cols["patient"][order], "day": cols["day"][order],
                         "kind": cols["kind"][order], "detail": cols["detail"][order]})


def _stretches(lane: NDArray, t: NDArray, d: NDArray, use: NDArray, t0: NDArray,
               t_end: NDArray, enter: int) -> tuple[NDArray, NDArray, NDArray]:
    """Every lane's stretches on the far side of a level, from its crossings at once.

    Lane by lane (the reference, one lane at a time, is ``_intervals`` in the tests),
    starting on the near side at ``t0`` and closing an open stretch at ``t_end``: a
    stretch opens at a crossing in direction ``enter`` and closes at the next crossing
    the other way; crossings outside [t0, t_end] are skipped, and a repeated direction
    is ignored. ``lane``, ``t`` must be sorted by lane, then time. Returns starts, ends
    and lanes of the stretches.
    """
    sel = use & (t >= t0[lane]) & (t <= t_end[lane])
    ln, tt, dd = lane[sel], t[sel], d[sel]
    # keep the first crossing of each run of one direction within a lane, and drop a
    # lane's leading crossings that would close a stretch before one opened
    head = np.ones(ln.size, dtype=bool)
    head[1:] = (ln[1:] != ln[:-1]) | (dd[1:] != dd[:-1])
    ln, tt, dd = ln[head], tt[head], dd[head]
    first = np.ones(ln.size, dtype=bool)
    first[1:] = ln[1:] != ln[:-1]
    keep = ~(first & (dd != enter))
    ln, tt, dd = ln[keep], tt[keep], dd[keep]
    opens = np.flatnonzero(dd == enter)  # directions now alternate within a lane
    nxt = opens + 1
    closed = np.zeros(opens.size, dtype=bool)
    inside = nxt < ln.size
    closed[inside] = ln[nxt[inside]] == ln[opens[inside]]
    stop = t_end[ln[opens]].astype(float)
    stop[closed] = tt[nxt[closed]]
    return tt[opens], stop, ln[opens]


def _first_long(start: NDArray, stop: NDArray, lane: NDArray, min_days: float,
                n: int) -> NDArray:
    """Per lane, the start of its first stretch lasting at least ``min_days`` (NaN if
    none). Stretches come sorted by lane, then time."""
    out = np.full(n, np.nan)
    long = stop - start >= min_days
    lanes, idx = np.unique(lane[long], return_index=True)
    out[lanes] = start[long][idx]
    return out


def _short_term_day(o: Outcomes, horizon: float) -> float:
    return o.short_term_day if o.short_term_day is not None else min(42.0, math.floor(horizon))


def first_run(flag: NDArray[np.bool_], k: int, start: NDArray, stop: NDArray) -> NDArray:
    """Per row, the first column that begins ``k`` consecutive True readings.

    Parameters
    ----------
    flag : ndarray of bool, shape (n, m)
        One row of daily readings per patient.
    k : int
        Length of the run (readings, >= 1).
    start, stop : ndarray of int, shape (n,)
        The run must begin at a column >= ``start`` and end at a column <= ``stop``.

    Returns
    -------
    ndarray of int, shape (n,)
        Column of the run's first reading, -1 where there is none.

    Examples
    --------
    >>> f = np.array([[0, 1, 1, 0, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0]], dtype=bool)
    >>> first_run(f, 2, np.array([0, 0]), np.array([6, 6])).tolist()
    [1, 0]
    >>> first_run(f, 3, np.array([0, 0]), np.array([6, 6])).tolist()
    [4, -1]
    """
    n, m = flag.shape
    if k > m:
        return np.full(n, -1, dtype=np.int64)
    c = np.zeros((n, m + 1), dtype=np.int32)
    np.cumsum(flag, axis=1, out=c[:, 1:])
    j = np.arange(m - k + 1)
    ok = ((c[:, k:] - c[:, :-k]) == k) & (j >= np.asarray(start)[:, None]) & (
        j + k - 1 <= np.asarray(stop)[:, None])
    return np.where(ok.any(axis=1), np.argmax(ok, axis=1), -1).astype(np.int64)


def _study_outcomes(run: Any, o: Outcomes, end: NDArray) -> dict[str, NDArray]:
    """Per-patient recovery, recurrence, responder-day and adverse-event columns (the
    study definitions of the module documentation); empty when none is set."""
    days, pain, base = run.days, run.pain, run.baseline
    n = base.size
    out: dict[str, NDArray] = {}
    last = np.searchsorted(days, end, side="right") - 1  # last reading in follow-up
    if o.recovery_level is not None:
        k = o.recovery_days
        with np.errstate(invalid="ignore"):
            j = first_run(pain < o.recovery_level, k, np.zeros(n, np.int64), last)
        ok = j >= 0
        rec = np.where(ok, j + k - 1, 0)
        out["recovery_start_day"] = np.where(ok, days[np.maximum(j, 0)], np.nan)
        out["recovery_day"] = np.where(ok, days[rec], np.nan)
        out["recovered"] = ok
        for d in o.recovered_by_days:
            out[f"recovered_by_day_{d:g}"] = ok & (out["recovery_day"] <= d)
        if o.recurrence_level is not None:
            r = math.ceil(o.recurrence_min_days - 1e-9) + 1  # readings spanning the time
            with np.errstate(invalid="ignore"):
                i = first_run(pain >= o.recurrence_level, r, np.where(ok, rec + 1, days.size),
                              last)
            hit = ok & (i >= 0)
            out["recurrence"] = hit
            out["recurrence_day"] = np.where(hit, days[np.maximum(i, 0)], np.nan)
            follow = np.where(hit, out["recurrence_day"], days[np.maximum(last, 0)])
            out["days_recovery_to_recurrence_or_censor"] = np.where(
                ok, follow - out["recovery_day"], np.nan)
    for d in o.responder_days:
        j = int(np.searchsorted(days, d))
        change = (pain[:, j] if j < days.size and days[j] == d else np.full(n, np.nan)) - base
        out[f"responder_pct_day_{d:g}"] = change <= -o.responder_fraction * base
        out[f"responder_points_day_{d:g}"] = change <= -o.responder_points
    if o.adverse_event_days:
        lg = run.log
        code = lg["kinds"].index("adverse event") if "adverse event" in lg["kinds"] else -1
        sel = lg["kind"] == code
        lane, t = lg["lane"][sel], lg["t"][sel]
        for d in o.adverse_event_days:
            out[f"adverse_event_by_day_{d:g}"] = np.bincount(lane[t <= d], minlength=n) > 0
        out["adverse_events"] = np.bincount(lane, minlength=n).astype(float)
        pairs = np.unique(np.stack([lane.astype(float), t]), axis=1) if lane.size else \
            np.zeros((2, 0))
        out["sessions_with_adverse_event"] = np.bincount(
            pairs[0].astype(np.int64), minlength=n).astype(float)
    return out


def _study_summary(v: dict[str, NDArray], o: Outcomes) -> dict[str, float]:
    """Per-arm means and rates of the study definitions (see :func:`_study_outcomes`)."""
    out: dict[str, float] = {}
    for d in o.recovered_by_days:
        out[f"recovered_by_day_{d:g}"] = float(np.mean(v[f"recovered_by_day_{d:g}"]))
    if o.recurrence_level is not None:
        ok = v["recovered"]
        t, e = v["days_recovery_to_recurrence_or_censor"][ok], v["recurrence"][ok]
        for d in o.recurrence_days:
            out[f"recurrence_by_{d:g}d_km"] = 1.0 - km_survival_at(t, e, d)
    for d in o.responder_days:
        out[f"responders_pct_day_{d:g}"] = float(np.mean(v[f"responder_pct_day_{d:g}"]))
        out[f"responders_points_day_{d:g}"] = float(np.mean(
            v[f"responder_points_day_{d:g}"]))
    for d in o.adverse_event_days:
        out[f"adverse_event_by_day_{d:g}"] = float(np.mean(v[f"adverse_event_by_day_{d:g}"]))
    if o.adverse_event_days:
        s = float(np.sum(v["sessions"]))
        out["sessions_with_adverse_event"] = (float(np.sum(v["sessions_with_adverse_event"]))
                                              / s if s else 0.0)
    return out


def patient_outcomes(run: Any, o: Outcomes, horizon: float) -> dict[str, NDArray]:
    """Per-patient outcome values of one arm's run (see the module's definitions).

    ``run`` is the engine's record of one arm on a chunk of patients before outcomes
    (``engine.ArmTrajectories``): it has ``days``, ``pain``, ``baseline``,
    ``crossings`` (lane, level, day, direction), ``sessions`` (lane, day, wait),
    ``dropout`` and ``log``.
    """
    days, pain, base = run.days, run.pain, run.baseline
    n = base.size
    cl, cw, ct, cd = run.crossings
    s_lane, s_t, _ = run.sessions
    end = np.minimum(run.dropout, horizon)
    day = _short_term_day(o, horizon)
    k = int(np.searchsorted(days, day))
    short = pain[:, k] if k < days.size and days[k] == day else np.full(n, np.nan)
    change = short - base
    cl = np.asarray(cl, dtype=np.int64)
    order = np.lexsort((ct, cl))  # by patient, then time
    cl, cw = cl[order], np.asarray(cw)[order]
    ct, cd = np.asarray(ct, dtype=float)[order], np.asarray(cd)[order]
    # relief: the first stretch below the relief level lasting relief_min_days
    rel_start, rel_stop, rel_lane = _stretches(cl, ct, cd, cw == 0, np.zeros(n), end,
                                               enter=-1)
    relief_t = _first_long(rel_start, rel_stop, rel_lane, o.relief_min_days, n)
    # relapse: after relief, the first stretch above the relapse level lasting
    # relapse_min_days
    ok = np.isfinite(relief_t)
    t0 = np.where(ok, relief_t, np.inf)
    up_start, up_stop, up_lane = _stretches(cl, ct, cd, (cw == 1) & ok[cl], t0, end,
                                            enter=1)
    relapse_t = _first_long(up_start, up_stop, up_lane, o.relapse_min_days, n)
    s_lane = np.asarray(s_lane, dtype=np.int64)
    before = np.asarray(s_t) <= relief_t[s_lane]  # NaN (no relief) compares False
    sessions_to_relief = np.where(ok, np.bincount(s_lane[before], minlength=n), np.nan)
    extra = {}
    for d in o.report_days:
        j = int(np.searchsorted(days, d))
        p_d = pain[:, j] if j < days.size and days[j] == d else np.full(n, np.nan)
        extra[f"pain_day_{d:g}"] = p_d
        extra[f"change_day_{d:g}"] = p_d - base
    relieved = np.isfinite(relief_t)
    relapsed = np.isfinite(relapse_t)
    ttr = np.where(relapsed, relapse_t - relief_t, end - relief_t)
    return {
        "baseline_pain": base, "pain_short_term": short, "change_short_term": change,
        "responder_pct": change <= -o.responder_fraction * base,
        "responder_points": change <= -o.responder_points,
        "satisfied": change <= -o.satisfaction_points,
        "relief": relieved, "days_to_relief": relief_t,
        "sessions_to_relief": sessions_to_relief,
        "relapse": relapsed, "relapse_day": relapse_t,
        "days_relief_to_relapse_or_censor": np.where(relieved, ttr, np.nan),
        "durable_response": relieved & ~relapsed,
        "dropout_day": np.where(np.isfinite(run.dropout), run.dropout, np.nan),
        "sessions": np.bincount(s_lane, minlength=n).astype(float),
        "end_of_follow_up_day": end,
        **extra,
        **_study_outcomes(run, o, end),
    }


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`painsim.simulate` returns.

    Attributes
    ----------
    arms : tuple of str
        Arm names; the first is the reference of paired differences.
    days : ndarray, shape (n_days,)
        Daily save grid (days).
    pain : dict of str to ndarray, shape (n_patients, n_days)
        Daily pain (0–10) per arm.
    patients : pandas.DataFrame
        One row per patient and arm (outcome columns, units in names).
    summary : pandas.DataFrame
        One row per arm: means and rates, each followed by its interval
        (``<column>_ci_low``, ``<column>_ci_high``, level ``Outcomes.confidence``: Wilson
        for shares of patients, Student t for means, Greenwood log-log for Kaplan–Meier
        rates, the patient-clustered ratio for per-session rates), paired differences
        against the first arm with percentile bootstrap intervals, relapse by the window
        (Kaplan–Meier).
    events : pandas.DataFrame
        The event log: arm, patient, day, kind, detail; sorted by arm name, patient and
        day. Built on first access from a compact log (a large cohort's table takes
        hundreds of MB; :attr:`n_events` counts without building it).
    status : dict of str to ndarray of int
        Per-patient solver status per arm (0 = success).
    relapse_curves : dict of str to (ndarray, ndarray)
        Kaplan–Meier relapse-free fraction against days since relief, per arm.
    timings : dict of str to float
        Wall time (s) of each phase: ``cohort_s`` (draws and run-in), ``decide_s``
        (SimPy processes), ``integrate_s`` (solver, event effects), ``outcomes_s``.
    settings : dict
        How it was run: ``backend``, ``rtol``, ``atol``, ``epoch_days``,
        ``horizon_days`` (what a replay needs besides the scenario), and the cohort's
        ``seed`` and ``patients`` and the intervals' ``confidence`` (what a results
        folder written without a scenario file records).
    """

    arms: tuple[str, ...]
    days: NDArray[np.float64]
    pain: dict[str, NDArray[np.float64]]
    patients: pd.DataFrame
    summary: pd.DataFrame
    event_log: list[dict[str, NDArray]] = field(repr=False)
    status: dict[str, NDArray[np.int_]]
    relapse_curves: dict[str, tuple[NDArray, NDArray]]
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the whole result to one file (a NumPy ``.npz`` archive), exactly.

        Every array and table column is stored with its dtype, so :func:`painsim.load`
        gives back equal tables and bit-identical arrays. The file is written to a
        temporary name and renamed: it appears complete or not at all.

        Parameters
        ----------
        path : str or Path
            The file; ``.npz`` is added when missing.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> import painsim, tempfile, pathlib
        >>> res = painsim.simulate([painsim.Arm(name="none")], painsim.Cohort(n=3, seed=1),
        ...                        horizon_days=10)
        >>> f = res.save(pathlib.Path(tempfile.mkdtemp()) / "run")
        >>> painsim.load(f).patients.equals(res.patients)
        True
        """
        import json
        import os
        import tempfile

        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays: dict[str, NDArray] = {"days": self.days}
        for i, a in enumerate(self.arms):
            arrays[f"pain/{i}"] = self.pain[a]
            arrays[f"status/{i}"] = self.status[a]
            arrays[f"curve_t/{i}"], arrays[f"curve_s/{i}"] = self.relapse_curves[a]
        for name, table in (("patients", self.patients), ("summary", self.summary)):
            frame = table.reset_index() if name == "summary" else table
            for j, c in enumerate(frame.columns):
                arrays[f"{name}/{j}"] = _column_array(frame[c])
        for i, lg in enumerate(self.event_log):
            for k in ("patient", "day", "kind", "detail"):
                arrays[f"log/{i}/{k}"] = np.asarray(lg[k])
            for k in ("kinds", "details"):
                arrays[f"log/{i}/{k}"] = np.array([str(x) for x in lg[k]], dtype=str)
        meta = {"painsim_result": 1, "arms": list(self.arms),
                "log_arms": [int(lg["arm"]) for lg in self.event_log],
                "patients_columns": [str(c) for c in self.patients.columns],
                "summary_columns": [str(c) for c in self.summary.reset_index().columns],
                "timings": self.timings, "settings": self.settings}
        arrays["meta"] = np.array(json.dumps(meta))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def to_xarray(self) -> Any:
        """Daily pain as an ``xarray.DataArray`` with dims (arm, patient, day).

        Needs xarray (``pip install xarray``). Coordinates: arm names, patient indices,
        days; ``phenotype`` along ``patient``; units in the attributes.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ParameterError("to_xarray", "xarray", "available with xarray installed",
                                 why="needs the xarray package: pip install xarray") from None
        pain = np.stack([self.pain[a] for a in self.arms])
        n = pain.shape[1]
        first = self.patients[self.patients.arm == self.arms[0]]
        return xr.DataArray(
            pain, dims=("arm", "patient", "day"),
            coords={"arm": list(self.arms), "patient": first.patient.to_numpy()[:n],
                    "day": self.days,
                    "phenotype": ("patient", first.phenotype.to_numpy()[:n].astype(str))},
            name="pain", attrs={"units": "pain, 0-10 scale", "day_units": "days",
                                "note": DISCLAIMER})

    @functools.cached_property
    def events(self) -> pd.DataFrame:
        """The event log as a table (see the class docstring)."""
        return _events_table(self.event_log, self.arms)

    @property
    def n_events(self) -> int:
        """Number of rows of :attr:`events`."""
        return int(sum(lg["patient"].size for lg in self.event_log))

    def trajectories(self) -> pd.DataFrame:
        """Daily pain as a long table: arm, patient, day, pain (0–10)."""
        import pandas as pd

        frames = []
        for arm, p in self.pain.items():
            n, m = p.shape
            frames.append(pd.DataFrame({"arm": arm, "patient": np.repeat(np.arange(n), m),
                                        "day": np.tile(self.days, n),
                                        "pain_0_10": p.ravel()}))
        return pd.concat(frames, ignore_index=True)


@dataclass
class ArmOutcomes:
    """One arm's run on a set of patients, as the engine hands it to
    :func:`build_result`: what the decide/integrate loop produced, with the per-patient
    outcome columns already computed (crossings and session lists are summed up in them
    and do not travel further).

    Attributes
    ----------
    days : ndarray, shape (n_days,)
        The daily save grid (days).
    baseline, status, dropout, course_end : ndarray, shape (n,)
        Pain (0–10) at day 0; solver status (0 = success); dropout day (inf: none);
        time of the course's last session (days; NaN: none).
    waits : ndarray
        Clinic waits of every session (days; 0 without a clinic).
    log : dict
        The compact event log (lanes, times, kind and detail codes with their names).
    timings : dict of str to float
        Seconds of ``decide_s``, ``integrate_s`` and ``outcomes_s``.
    outcomes : dict of str to ndarray
        Per-patient outcome columns (:func:`patient_outcomes`).
    pain : ndarray, shape (n, n_days), optional
        Daily pain (0–10); ``None`` while it lives elsewhere (written in place into the
        result's arrays by forked workers, or taken out as a Dask chunk arrives).
    """

    days: NDArray[np.float64]
    baseline: NDArray[np.float64]
    status: NDArray[np.int_]
    dropout: NDArray[np.float64]
    course_end: NDArray[np.float64]
    waits: NDArray[np.float64]
    log: dict[str, Any]
    timings: dict[str, float]
    outcomes: dict[str, NDArray]
    pain: NDArray[np.float64] | None = None


def build_result(arms: Sequence[Arm], cohort: Cohort, sample: CohortSample,
                 runs: dict[str, ArmOutcomes], o: Outcomes,
                 horizon: float) -> SimulationResult:
    """Assemble per-patient tables, the per-arm summary and the event log."""
    import pandas as pd

    names = tuple(a.name for a in arms)
    per = {a: runs[a].outcomes for a in names}  # computed per chunk by the engine
    rows, summary, curves, logs = [], [], {}, []
    ref = per[names[0]]
    rng = np.random.default_rng([cohort.seed, 7])
    for a in names:
        v, run = per[a], runs[a]
        rows.append(v)
        lg, run.log = run.log, {}  # rebuilt below with the outcome rows; the old copy goes
        rel, rlp = np.flatnonzero(v["relief"]), np.flatnonzero(v["relapse"])
        base = v["baseline_pain"]
        extra_detail = [f"pain <= {(1 - o.relief_fraction) * base[i]:.2f}" for i in rel]
        extra_detail += [f"pain >= {(1 - o.relapse_fraction) * base[i]:.2f}" for i in rlp]
        kinds = np.array(lg["kinds"] + ["relief", "relapse"], dtype=object)
        n_k = len(lg["kinds"])
        details = np.array(lg["details"] + extra_detail, dtype=object)
        n_d = len(lg["details"])
        # compact: codes into the name arrays (the table is built on demand)
        log = {
            "arm": names.index(a),
            "patient": np.concatenate([lg["lane"], rel, rlp]),
            "day": np.concatenate([lg["t"], v["days_to_relief"][rel], v["relapse_day"][rlp]]),
            "kind": np.concatenate([lg["kind"], np.full(rel.size, n_k, dtype=np.int32),
                                    np.full(rlp.size, n_k + 1, dtype=np.int32)]),
            "detail": np.concatenate([lg["detail"], (n_d + np.arange(rel.size + rlp.size))
                                      .astype(np.int32)]),
            "kinds": kinds, "details": details}
        logs.append(log)
        relieved = v["relief"]
        rt = v["days_relief_to_relapse_or_censor"][relieved]
        ev = v["relapse"][relieved]
        curves[a] = kaplan_meier(rt, ev)
        n_sess = v["sessions"].sum()
        code = {k: i for i, k in enumerate(log["kinds"])}
        adv = log["detail"][log["kind"] == code.get("adverse event", -1)]
        kinds = details[adv]
        missed = int(np.count_nonzero(log["kind"] == code.get("missed visit", -1)))
        waits = run.waits
        d_change = v["change_short_term"] - ref["change_short_term"]
        d_resp = v["responder_pct"].astype(float) - ref["responder_pct"].astype(float)
        d_ci = bootstrap_ci(d_change, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        r_ci = bootstrap_ci(d_resp, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        lanes = log["patient"][log["kind"] == code.get("adverse event", -1)]
        row = {
            "arm": a, "patients": cohort.n,
            "baseline_pain_0_10": np.nanmean(v["baseline_pain"]),
            f"pain_day_{_short_term_day(o, horizon):g}_0_10": np.nanmean(v["pain_short_term"]),
            "change_short_term_points": np.nanmean(v["change_short_term"]),
            "responders_30pct": np.mean(v["responder_pct"]),
            "responders_2pt": np.mean(v["responder_points"]),
            "satisfied": np.mean(v["satisfied"]),
            **{f"pain_day_{d:g}_0_10": np.nanmean(v[f"pain_day_{d:g}"])
               for d in o.report_days},
            "relief": np.mean(relieved),
            "median_days_to_relief": np.nanmedian(v["days_to_relief"]) if relieved.any()
            else math.nan,
            "mean_sessions_to_relief": np.nanmean(v["sessions_to_relief"]) if relieved.any()
            else math.nan,
            f"relapse_within_{o.relapse_window_days:g}d_km": 1.0 - km_survival_at(
                rt, ev, o.relapse_window_days),
            "durable_response": np.mean(v["durable_response"]),
            "sessions_per_patient": np.mean(v["sessions"]),
            "soreness_per_session": (np.count_nonzero(kinds == "soreness") / n_sess)
            if n_sess else 0.0,
            "bruising_per_session": (np.count_nonzero(kinds == "bruising") / n_sess)
            if n_sess else 0.0,
            "missed_visits": missed,
            "dropouts": int(np.count_nonzero(np.isfinite(run.dropout))),
            "mean_wait_days": float(np.mean(waits)) if waits.size else 0.0,
            "diff_change_vs_ref_points": np.nanmean(d_change),
            "diff_change_ci_low": d_ci[0], "diff_change_ci_high": d_ci[1],
            "diff_responders_vs_ref": np.nanmean(d_resp),
            "diff_responders_ci_low": r_ci[0], "diff_responders_ci_high": r_ci[1],
            "solver_failures": int(np.count_nonzero(run.status != 0)),
            **_study_summary(v, o),
        }
        summary.append(_with_intervals(row, _intervals_of(v, o, horizon, rt, ev, {
            what: np.bincount(lanes[kinds == what], minlength=cohort.n)
            for what in ("soreness", "bruising")})))
    return SimulationResult(
        arms=names, days=runs[names[0]].days, pain={a: runs[a].pain for a in names},
        patients=pd.DataFrame({  # one table from whole columns: no per-arm copies
            "arm": np.repeat(np.array(names, dtype=object), cohort.n),
            "patient": np.tile(np.arange(cohort.n), len(names)),
            "phenotype": np.tile(sample.phenotype, len(names)).astype(object),
            **{k: np.concatenate([v[k] for v in rows]) for k in rows[0]},
            "solver_status": np.concatenate([runs[a].status for a in names]),
            # the parameters each patient was drawn with (model order)
            **{f"param_{p}": np.tile(sample.params[j], len(names))
               for j, p in enumerate(cohort.model.parameter_names)}}),
        summary=pd.DataFrame(summary).set_index("arm"),
        event_log=logs,
        status={a: runs[a].status for a in names}, relapse_curves=curves)


def _intervals_of(v: dict[str, NDArray], o: Outcomes, horizon: float, rt: NDArray,
                  ev: NDArray, adverse: dict[str, NDArray]) -> dict[str, tuple[float, float]]:
    """Intervals (level ``o.confidence``) of an arm's summary columns, by kind: Wilson
    for shares of patients, Student t for means, Greenwood log-log for Kaplan–Meier
    rates, the clustered ratio for per-session rates."""
    c = o.confidence

    def share(x: NDArray) -> tuple[float, float]:
        return proportion_ci(float(np.count_nonzero(x)), float(x.size), c)

    out = {
        "baseline_pain_0_10": mean_ci(v["baseline_pain"], c),
        f"pain_day_{_short_term_day(o, horizon):g}_0_10": mean_ci(v["pain_short_term"], c),
        "change_short_term_points": mean_ci(v["change_short_term"], c),
        "responders_30pct": share(v["responder_pct"]),
        "responders_2pt": share(v["responder_points"]),
        "satisfied": share(v["satisfied"]),
        **{f"pain_day_{d:g}_0_10": mean_ci(v[f"pain_day_{d:g}"], c) for d in o.report_days},
        "relief": share(v["relief"]),
        "mean_sessions_to_relief": mean_ci(v["sessions_to_relief"], c),
        f"relapse_within_{o.relapse_window_days:g}d_km": tuple(
            1.0 - x for x in km_interval_at(rt, ev, o.relapse_window_days, c)[::-1]),
        "durable_response": share(v["durable_response"]),
        "sessions_per_patient": mean_ci(v["sessions"], c),
        **{f"{what}_per_session": ratio_ci(y, v["sessions"], c)
           for what, y in adverse.items()},
    }
    for d in o.recovered_by_days:
        out[f"recovered_by_day_{d:g}"] = share(v[f"recovered_by_day_{d:g}"])
    if o.recurrence_level is not None:
        ok = v["recovered"]
        t, e = v["days_recovery_to_recurrence_or_censor"][ok], v["recurrence"][ok]
        for d in o.recurrence_days:
            out[f"recurrence_by_{d:g}d_km"] = tuple(
                1.0 - x for x in km_interval_at(t, e, d, c)[::-1])
    for d in o.responder_days:
        out[f"responders_pct_day_{d:g}"] = share(v[f"responder_pct_day_{d:g}"])
        out[f"responders_points_day_{d:g}"] = share(v[f"responder_points_day_{d:g}"])
    for d in o.adverse_event_days:
        out[f"adverse_event_by_day_{d:g}"] = share(v[f"adverse_event_by_day_{d:g}"])
    if o.adverse_event_days:
        out["sessions_with_adverse_event"] = ratio_ci(v["sessions_with_adverse_event"],
                                                      v["sessions"], c)
    return out


def _with_intervals(row: dict[str, Any], ci: dict[str, tuple[float, float]]
                    ) -> dict[str, Any]:
    """``row`` with ``<column>_ci_low`` and ``<column>_ci_high`` after each column of
    ``ci``."""
    out: dict[str, Any] = {}
    for k, x in row.items():
        out[k] = x
        if k in ci:
            out[f"{k}_ci_low"], out[f"{k}_ci_high"] = (float(y) for y in ci[k])
    return out


def _column_array(col: Any) -> NDArray:
    """A table column as an array :func:`load` turns back into the same column."""
    import pandas as pd

    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        values = col.tolist()
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"column {col.name!r}: only text columns of type object are "
                             "saved")
        return np.array(values, dtype=str)
    return col.to_numpy()


def load(path: str | Path) -> SimulationResult:
    """Read a result written by :meth:`SimulationResult.save`.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.

    Returns
    -------
    SimulationResult
        Equal tables and bit-identical arrays to the saved result.
    """
    import json

    import pandas as pd

    from .errors import PainsimError

    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise PainsimError(f"{path}: not a saved painsim result ({exc})") from None
    if meta.get("painsim_result") != 1:
        raise PainsimError(f"{path}: not a saved painsim result (format unknown)")
    arms = tuple(meta["arms"])

    def table(name: str) -> pd.DataFrame:
        cols = meta[f"{name}_columns"]
        data = {}
        for j, c in enumerate(cols):
            a = z[f"{name}/{j}"]
            data[c] = a.astype(object) if a.dtype.kind == "U" else a
        return pd.DataFrame(data, columns=cols)

    logs = []
    for i, arm_index in enumerate(meta["log_arms"]):
        lg = {k: z[f"log/{i}/{k}"] for k in ("patient", "day", "kind", "detail")}
        for k in ("kinds", "details"):
            lg[k] = z[f"log/{i}/{k}"].astype(object)
        lg["arm"] = arm_index
        logs.append(lg)
    return SimulationResult(
        arms=arms, days=z["days"], pain={a: z[f"pain/{i}"] for i, a in enumerate(arms)},
        patients=table("patients"), summary=table("summary").set_index("arm"),
        event_log=logs, status={a: z[f"status/{i}"] for i, a in enumerate(arms)},
        relapse_curves={a: (z[f"curve_t/{i}"], z[f"curve_s/{i}"])
                        for i, a in enumerate(arms)},
        timings=meta["timings"], settings=meta["settings"])
