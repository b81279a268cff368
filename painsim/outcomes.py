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
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ParameterError, check_number

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .cohort import Cohort, CohortSample
    from .protocols import Arm

__all__ = ["Outcomes", "SimulationResult", "bootstrap_ci", "kaplan_meier"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """Outcome definitions (see the module documentation); units in the names."""

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

    def __post_init__(self) -> None:
        if self.short_term_day is not None and not (
                isinstance(self.short_term_day, int | float)
                and float(self.short_term_day).is_integer() and 0 <= self.short_term_day):
            raise ParameterError("Outcomes.short_term_day", self.short_term_day,
                                 "a whole day >= 0 (the save grid is daily)")
        for d in self.report_days:
            if not (isinstance(d, int | float) and float(d).is_integer() and d >= 0):
                raise ParameterError("Outcomes.report_days", d,
                                     "whole days >= 0 (the save grid is daily)")
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


def _km_at(time: ArrayLike, event: ArrayLike, t: float) -> float:
    """Kaplan–Meier survival just after ``t`` (NaN with no subjects)."""
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


def patient_outcomes(run: dict[str, Any], o: Outcomes, horizon: float) -> dict[str, NDArray]:
    """Per-patient outcome values of one arm's run (see the module's definitions)."""
    days, pain, base = run["days"], run["pain"], run["baseline"]
    n = base.size
    cl, cw, ct, cd = run["crossings"]
    s_lane, s_t, _ = run["sessions"]
    end = np.minimum(run["dropout"], horizon)
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
        "dropout_day": np.where(np.isfinite(run["dropout"]), run["dropout"], np.nan),
        "sessions": np.bincount(s_lane, minlength=n).astype(float),
        "end_of_follow_up_day": end,
        **extra,
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
        One row per arm: means and rates, paired differences against the first arm with
        bootstrap intervals, relapse by the window (Kaplan–Meier).
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


def build_result(arms: Sequence[Arm], cohort: Cohort, sample: CohortSample,
                 runs: dict[str, dict[str, Any]], o: Outcomes,
                 horizon: float) -> SimulationResult:
    """Assemble per-patient tables, the per-arm summary and the event log."""
    import pandas as pd

    names = tuple(a.name for a in arms)
    per = {a: runs[a]["outcomes"] for a in names}  # computed per chunk by the engine
    rows, summary, curves, logs = [], [], {}, []
    ref = per[names[0]]
    rng = np.random.default_rng([cohort.seed, 7])
    for a in names:
        v, run = per[a], runs[a]
        rows.append(v)
        lg = run.pop("log")  # rebuilt below with the outcome rows; the old copy goes
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
        waits = run["sessions"][2]
        d_change = v["change_short_term"] - ref["change_short_term"]
        d_resp = v["responder_pct"].astype(float) - ref["responder_pct"].astype(float)
        d_ci = bootstrap_ci(d_change, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        r_ci = bootstrap_ci(d_resp, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        summary.append({
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
            f"relapse_within_{o.relapse_window_days:g}d_km": 1.0 - _km_at(
                rt, ev, o.relapse_window_days),
            "durable_response": np.mean(v["durable_response"]),
            "sessions_per_patient": np.mean(v["sessions"]),
            "soreness_per_session": (np.count_nonzero(kinds == "soreness") / n_sess)
            if n_sess else 0.0,
            "bruising_per_session": (np.count_nonzero(kinds == "bruising") / n_sess)
            if n_sess else 0.0,
            "missed_visits": missed,
            "dropouts": int(np.count_nonzero(np.isfinite(run["dropout"]))),
            "mean_wait_days": float(np.mean(waits)) if waits.size else 0.0,
            "diff_change_vs_ref_points": np.nanmean(d_change),
            "diff_change_ci_low": d_ci[0], "diff_change_ci_high": d_ci[1],
            "diff_responders_vs_ref": np.nanmean(d_resp),
            "diff_responders_ci_low": r_ci[0], "diff_responders_ci_high": r_ci[1],
            "solver_failures": int(np.count_nonzero(run["status"] != 0)),
        })
    return SimulationResult(
        arms=names, days=runs[names[0]]["days"], pain={a: runs[a]["pain"] for a in names},
        patients=pd.DataFrame({  # one table from whole columns: no per-arm copies
            "arm": np.repeat(np.array(names, dtype=object), cohort.n),
            "patient": np.tile(np.arange(cohort.n), len(names)),
            "phenotype": np.tile(sample.phenotype, len(names)).astype(object),
            **{k: np.concatenate([v[k] for v in rows]) for k in rows[0]},
            "solver_status": np.concatenate([runs[a]["status"] for a in names])}),
        summary=pd.DataFrame(summary).set_index("arm"),
        event_log=logs,
        status={a: runs[a]["status"] for a in names}, relapse_curves=curves)
