"""Outcomes: documented definitions, per-patient values, interval estimators.

The metric definitions live here (each threshold a field of :class:`Outcomes`, each
per-patient value computed by :func:`patient_outcomes`); :mod:`painsim.summary`
assembles them into a :class:`~painsim.summary.SimulationResult` with per-arm summaries.

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

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ParameterError
from .fields import MAX_DAY, MAX_REPORT_DAY, check_settings, setting

__all__ = ["DISCLAIMER", "Outcomes", "bootstrap_ci", "first_run", "kaplan_meier",
           "km_confidence_band", "km_interval_at", "km_survival_at", "mean_ci",
           "patient_outcomes", "proportion_ci", "ratio_ci", "short_term_day",
           "study_summary"]

#: What every output that shows results says about them, word for word: the one home of
#: the "not medical advice" text (figures carry it in :data:`painsim.plots.FOOTER`). Here,
#: below every module that shows results, so that each can import it.
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

    short_term_day: float | None = setting(
        None, "Day of the short-term outcome, rounded to a whole day (default 6 weeks, or "
        "the horizon if shorter).", 0, MAX_DAY, type="duration", file="short_term",
        whole=True)
    responder_fraction: float = setting(
        0.3, "Responder: reduction >= this fraction of baseline.", 0, 1)
    responder_points: float = setting(
        2.0, "Responder: reduction >= this many points.", 0, 10, "pain")
    relief_fraction: float = setting(
        0.3, "Relief: pain at or below (1 - f) x baseline.", 0.01, 1)
    relief_min_days: float = setting(
        1.0, "Relief must last at least this long.", 0, 3650, type="duration",
        file="relief_min", written="1 day")
    relapse_fraction: float = setting(
        0.15, "Relapse: pain back at or above (1 - f) x baseline (f < relief_fraction).",
        0, 1)
    relapse_min_days: float = setting(
        7.0, "Relapse must last at least this long.", 0, 3650, type="duration",
        file="relapse_min", written="7 days")
    relapse_window_days: float = setting(
        90.0, "Window of the relapse rate (Kaplan-Meier).", 1, MAX_DAY, type="duration",
        file="relapse_window", written="90 days")
    satisfaction_points: float = setting(
        1.5, "Satisfied: reduction >= this many points.", 0, 10, "pain")
    report_days: tuple[float, ...] = setting(
        (), "Further days to report pain at, each rounded to a whole day.", 0, MAX_DAY,
        type="durations", whole=True)
    bootstrap: int = setting(1000, "Bootstrap resamples for intervals.", 0, 100000,
                             type="int")
    confidence: float = setting(0.95, "Level of the intervals.", 0.5, 0.999)
    recovery_level: float | None = setting(
        None, "Recovery: daily pain strictly below this level (absent: not reported).", 0,
        10, "pain")
    recovery_days: int = setting(
        7, "Recovery: this many consecutive daily readings below recovery_level.", 1, 3650,
        type="int")
    recovered_by_days: tuple[float, ...] = setting(
        (), "Days at which to report the share recovered (needs recovery_level).", 0,
        MAX_DAY, type="durations", file="recovered_by")
    recurrence_level: float | None = setting(
        None, "Recurrence after recovery: daily pain at or above this level (needs "
        "recovery_level).", 0, 10, "pain")
    recurrence_min_days: float = setting(
        1.0, "Recurrence: the readings at or above the level span at least this long "
        "('1 day' = two readings 24 h apart).", 0, 365, type="duration",
        file="recurrence_min", written="1 day")
    recurrence_days: tuple[float, ...] = setting(
        (), "Times after recovery at which to report the cumulative incidence of "
        "recurrence (Kaplan-Meier).", 1 / 24, MAX_REPORT_DAY, type="durations",
        file="recurrence_at")
    responder_days: tuple[float, ...] = setting(
        (), "Days at which to report responders (responder_fraction, responder_points), "
        "each rounded to a whole day.", 0, MAX_DAY, type="durations", whole=True)
    adverse_event_days: tuple[float, ...] = setting(
        (), "Days at which to report the share of patients with >= 1 adverse event (and "
        "sessions with one).", 0, MAX_DAY, type="durations", file="adverse_event_by")

    def __post_init__(self) -> None:
        check_settings(self)
        if self.relapse_fraction >= self.relief_fraction:
            raise ParameterError("Outcomes.relapse_fraction", self.relapse_fraction,
                                 f"< relief_fraction ({self.relief_fraction:g})",
                                 why="must put the relapse level above the relief level")
        self._check_study_definitions()

    def _check_study_definitions(self) -> None:
        """The rules that tie the recovery and recurrence settings together."""
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
    # the Student-t quantile itself (what scipy.stats.t.ppf calls), without importing
    # scipy.stats: that import takes 1-2 s, longer than the outcomes of 10,000 patients
    from scipy.special import stdtrit

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return (math.nan, math.nan)
    h = float(stdtrit(v.size - 1, 0.5 + confidence / 2)) * v.std(ddof=1) / math.sqrt(
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
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped).

    Values that are all zero (an arm's difference from itself) give ``(0.0, 0.0)``
    without drawing from ``rng``: every resample's mean is exactly zero.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or n_boot == 0:
        return (math.nan, math.nan)
    if not v.any():
        return (0.0, 0.0)
    # resamples in blocks of rows: the same draws as one (n_boot, n) array (the
    # generator fills row by row), without holding n_boot x n indices at once
    block = max(1, min(n_boot, 2**20 // v.size))
    means = np.concatenate([
        v[rng.integers(0, v.size, size=(min(block, n_boot - b), v.size))].mean(axis=1)
        for b in range(0, n_boot, block)])
    a = (1 - confidence) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))

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


def short_term_day(o: Outcomes, horizon: float) -> float:
    """The day (whole, days from day 0) at which short-term outcomes are read: the
    setting's ``short_term_day``, else day 42 or the last whole day of a shorter
    ``horizon``."""
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


def study_summary(v: dict[str, NDArray], o: Outcomes) -> dict[str, float]:
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
    day = short_term_day(o, horizon)
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
