"""``painsim explore``: one self-contained, interactive HTML page to question the claims.

A teacher picks two claims (or one of the contradictions of ``claims.md``), the
assumption set, the share of each phenotype in the cohort, the follow-up window, the
relief and relapse definitions and the protocol; the page shows at once each claim's
verdict with its interval, relapse curves per arm, mean pain over time with a band, and
why the verdict flips where it does.

Behind the page is a precomputed grid of paired simulations (common random numbers):
for every assumption set and protocol on the grid one cohort is simulated with
:func:`painsim.simulate` (every arm on the same patients and flare-ups). A cohort with a
chosen phenotype mix is a stratified subset of those patients (the first ``n_k`` of each
phenotype), so every number on the page is read from simulated patients; a control only
moves between grid points and nothing is interpolated.

Relief and relapse are read on the daily (morning) pain readings, like the study
definitions of :mod:`painsim.outcomes`, so that one simulation serves every definition on
the grid (``painsim claims`` locates them on the solver's dense output instead; the values
can differ by up to a day). Verdicts use the rule of :mod:`painsim.claims` (the whole 95%
paired-bootstrap interval inside the band: holds; outside: fails; straddling: undecided),
through its public :func:`~painsim.claims.observable_verdict`; the page combines a
claim's observables by the rule of :func:`~painsim.claims.claim_verdict` (a test checks
that they agree).

The page embeds Plotly's JavaScript (the ``plotly`` package ships it), so it opens
offline from a file in any current browser.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .claims import (
    METRICS,
    SHORT_TERM_DAY,
    AssumptionSet,
    Claim,
    Observable,
    load_assumptions,
    load_claims,
    observable_verdict,
)
from .cohort import PHENOTYPE_PRESETS, Cohort, with_parameters
from .engine import simulate
from .errors import ParameterError
from .outcomes import Outcomes, first_run
from .protocols import Arm, Fixed, Protocol
from .results import DISCLAIMER
from .scenario import TREATMENTS
from .teach import CONTRADICTIONS

__all__ = ["ARMS", "GRIDS", "PHENOTYPES", "SUPPORTED_METRICS", "Grid", "build_explorer",
           "compute_grid", "explorer_arms", "mix_counts", "page_data", "render_page",
           "simplex"]

#: Arms the explorer simulates (claims that need other arms are listed as not offered).
ARMS = ("none", "dry needling", "acupuncture", "dry needling + maintenance",
        "acupuncture + maintenance")
#: Metrics of :data:`painsim.claims.METRICS` the explorer reads (a claim using another is
#: listed on the page as not offered, with the reason).
SUPPORTED_METRICS = ("reduction", "reduction_short_term", "responders_30pct", "satisfied",
                     "relief", "relief_by_session", "median_sessions_to_relief",
                     "sessions_to_relief_iqr", "relapse", "relapse_90d", "durable_response",
                     "patients_with_soreness", "patients_with_bruising")
#: Phenotypes whose shares the sliders set, in slider order.
PHENOTYPES = ("acute_strain", "recurrent", "chronic_sensitized", "stress_driven")
#: Follow-up of every simulation, days (as ``painsim claims``).
HORIZON_DAYS = 270.0
#: Days (since relief) at which relapse curves are stored.
KM_DAYS = tuple(float(d) for d in range(0, 181, 6))
#: Step of the stored daily mean pain, days.
PAIN_STEP = 3
_BIG = float(np.finfo(float).max)
_VCODE = {"holds": "h", "fails": "f", "undecided": "u"}


@dataclass(frozen=True)
class Grid:
    """The control values the page offers (every combination is simulated or read).

    Attributes
    ----------
    patients : int
        Patients simulated per assumption set and protocol (a quarter of each phenotype
        on average); a cohort on the page has as many patients as the smallest
        phenotype pool, so any mix, up to 100% of one phenotype, is a real subset.
    sets : tuple of str
        Assumption sets by name (empty: all of ``assumptions.toml``).
    sessions : tuple of int
        Sessions of the course (all treated arms).
    every_days : tuple of float
        Days between sessions.
    mix_step : float
        Step of the phenotype-share sliders (1 / whole number).
    relief : tuple of (float, float)
        Relief definitions: (fraction below baseline, minimum days).
    relapse : tuple of (float, float)
        Relapse definitions: (fraction below baseline still counted as relapse, i.e.
        pain >= (1 - fraction) * baseline, minimum days).
    windows : tuple of float
        Follow-up windows after relief, days (``0`` stands for each claim's own window).
    n_boot : int
        Paired bootstrap resamples per interval.
    """

    patients: int = 240
    sets: tuple[str, ...] = ()
    sessions: tuple[int, ...] = (3, 6, 9)
    every_days: tuple[float, ...] = (3.5, 7.0)
    mix_step: float = 0.25
    relief: tuple[tuple[float, float], ...] = ((0.3, 1.0), (0.3, 7.0), (0.5, 1.0))
    relapse: tuple[tuple[float, float], ...] = ((0.15, 7.0), (0.15, 1.0), (0.0, 7.0))
    windows: tuple[float, ...] = (0.0, 30.0, 90.0, 180.0)
    n_boot: int = 200

    def __post_init__(self) -> None:
        if not (0 < self.mix_step <= 1
                and abs(round(1 / self.mix_step) * self.mix_step - 1) < 1e-9):
            raise ParameterError("Grid.mix_step", self.mix_step, "1/k for a whole k >= 1")
        if self.patients < 8:
            raise ParameterError("Grid.patients", self.patients, ">= 8")
        for f, _ in self.relief:
            for g, _ in self.relapse:
                if g >= f:
                    raise ParameterError("Grid.relapse", g, f"< every relief fraction ({f})")


#: Named grids: ``full`` for the page, ``small`` for tests and a quick look.
GRIDS: dict[str, Grid] = {
    "full": Grid(),
    "small": Grid(patients=32, sets=("default", "strong systemic"), sessions=(3, 6),
                  every_days=(7.0,), mix_step=0.5, relief=((0.3, 1.0), (0.5, 1.0)),
                  relapse=((0.15, 7.0),), windows=(0.0, 180.0), n_boot=50),
}


def simplex(k: int, units: int) -> list[tuple[int, ...]]:
    """Every way to split ``units`` into ``k`` whole parts, in lexicographic order.

    Examples
    --------
    >>> simplex(3, 2)
    [(0, 0, 2), (0, 1, 1), (0, 2, 0), (1, 0, 1), (1, 1, 0), (2, 0, 0)]
    """
    return [c for c in itertools.product(range(units + 1), repeat=k) if sum(c) == units]


def mix_counts(shares: Sequence[float], n: int) -> list[int]:
    """Patients of each phenotype in a cohort of ``n``: largest remainders of shares × n.

    Examples
    --------
    >>> mix_counts([0.25, 0.25, 0.5, 0.0], 10)
    [3, 2, 5, 0]
    """
    raw = np.asarray(shares, dtype=float) * n
    out = np.floor(raw + 1e-9).astype(int)
    rest = raw - out
    for j in np.argsort(-rest, kind="stable")[: n - int(out.sum())]:
        out[j] += 1
    return out.tolist()


def explorer_arms(treatments: dict[str, dict[str, float]], sessions: int,
                  every_days: float) -> list[Arm]:
    """The explorer's arms (:data:`ARMS`) with a course of ``sessions`` visits
    ``every_days`` apart from day 1; maintenance: 4 visits 28 days apart, the first 28 days
    after the course (as :data:`painsim.claims.STANDARD_ARMS`, whose course is fixed at
    weekly × 6; written here because that builder is private to ``claims``)."""
    def make(kind: str) -> Any:
        return TREATMENTS[kind][0](**treatments.get(kind, {}))

    course = Fixed(start_day=1, every_days=every_days, sessions=sessions)
    maint = Fixed(start_day=28, every_days=28, sessions=4)
    dn, acu = make("dry_needling"), make("acupuncture")

    def arm(name: str, iv: Any, **kw: Any) -> Arm:
        return Arm(name=name, protocol=Protocol(intervention=iv, schedule=course, **kw))

    return [Arm(name="none"), arm("dry needling", dn), arm("acupuncture", acu),
            arm("dry needling + maintenance", dn, maintenance=maint),
            arm("acupuncture + maintenance", acu, maintenance=maint)]


# ----------------------------------------------------------------------------- the runs


@dataclass
class _ArmData:
    """One arm's per-patient arrays (rows: patients in patient order)."""

    pain: NDArray[np.float64]        # (n, days) daily pain
    base: NDArray[np.float64]        # (n,) baseline pain
    sessions: NDArray[np.float64]    # (n, s) session times, padded with +inf
    soreness: NDArray[np.float64]    # (n,) first soreness day (inf: none)
    bruising: NDArray[np.float64]    # (n,) first bruising day (inf: none)
    relief: dict[Any, NDArray] = field(default_factory=dict)   # (fraction, min) ->
    relapse: dict[Any, tuple[NDArray, NDArray]] = field(default_factory=dict)


def _arm_data(res: Any, arm: str) -> _ArmData:
    n = res.patients.patient.max() + 1
    ev = res.events[res.events.arm == arm]

    def first(detail: str) -> NDArray:
        e = ev[(ev.kind == "adverse event") & (ev.detail == detail)]
        out = np.full(n, np.inf)
        g = e.groupby("patient").day.min()
        out[g.index.to_numpy()] = g.to_numpy()
        return out

    s = ev[ev.kind == "session"]
    counts = np.bincount(s.patient.to_numpy(), minlength=n)
    sess = np.full((n, max(int(counts.max()) if n else 0, 1)), np.inf)
    if len(s):
        order = np.lexsort((s.day.to_numpy(), s.patient.to_numpy()))
        pat, day = s.patient.to_numpy()[order], s.day.to_numpy()[order]
        start = np.r_[0, np.cumsum(counts)[:-1]]
        col = np.arange(pat.size) - start[pat]
        sess[pat, col] = day
    pain = np.asarray(res.pain[arm], dtype=float)
    return _ArmData(pain=pain, base=pain[:, 0].copy(), sessions=sess,
                    soreness=first("soreness"), bruising=first("bruising"))


def _readings(min_days: float) -> int:
    """Daily readings that span ``min_days`` (1 day: two readings 24 h apart)."""
    return max(1, math.ceil(min_days - 1e-9) + 1)


def _relief(a: _ArmData, fraction: float, min_days: float) -> NDArray:
    """Day of relief (first of ``min_days`` at or below ``(1 - fraction)`` × baseline,
    from day 1), NaN without relief."""
    key = (fraction, min_days)
    if key not in a.relief:
        n, m = a.pain.shape
        with np.errstate(invalid="ignore"):
            j = first_run(a.pain <= (1 - fraction) * a.base[:, None], _readings(min_days),
                          np.ones(n, np.int64), np.full(n, m - 1))
        a.relief[key] = np.where(j >= 0, j, np.nan).astype(float)
    return a.relief[key]


def _relapse(a: _ArmData, rdef: tuple[float, float],
             ldef: tuple[float, float]) -> tuple[NDArray, NDArray]:
    """(relapsed, days from relief to relapse or the end of follow-up); NaN: no relief."""
    key = (rdef, ldef)
    if key not in a.relapse:
        day = _relief(a, *rdef)
        n, m = a.pain.shape
        ok = ~np.isnan(day)
        start = np.where(ok, np.nan_to_num(day, nan=0).astype(np.int64) + 1, m)
        with np.errstate(invalid="ignore"):
            i = first_run(a.pain >= (1 - ldef[0]) * a.base[:, None], _readings(ldef[1]),
                          start, np.full(n, m - 1))
        hit = ok & (i >= 0)
        t = np.where(hit, i, m - 1) - day
        a.relapse[key] = (hit, t)
    return a.relapse[key]


# ------------------------------------------------------------------- metrics, vectorized


@dataclass
class _Ctx:
    """What an observable is read under: definitions, window, and the resamples."""

    rdef: tuple[float, float]
    ldef: tuple[float, float]
    window: float                    # 0: the claim's own
    idx: NDArray[np.int64]           # (B + 1, m): row 0 the cohort itself
    counts: NDArray[np.float64]      # (B + 1, m) the same as counts per patient
    cache: dict[Any, Any] = field(default_factory=dict)  # shared by one cohort's reads


def _per_patient(o: Observable, a: _ArmData, rows: NDArray, c: _Ctx) -> NDArray | None:
    """The per-patient value whose mean is the metric (None: not a mean)."""
    m = o.metric
    base = a.base[rows]
    pain = a.pain[rows]
    if m == "reduction":
        if o.days:
            return base - pain[:, int(o.days[0]):int(o.days[1]) + 1].mean(axis=1)
        return base - pain[:, int(o.day)]
    short = pain[:, int(SHORT_TERM_DAY)] - base
    if m == "reduction_short_term":
        return -short
    if m == "responders_30pct":
        return (short <= -0.3 * base).astype(float)
    if m == "satisfied":
        return (short <= -1.5).astype(float)
    day = _relief(a, *c.rdef)[rows]
    if m == "relief":
        return (day <= o.day).astype(float)
    if m == "relief_by_session":
        return ((day <= o.day) & (_sessions_to(a, rows, day) <= o.sessions)).astype(float)
    if m == "durable_response":
        by = o.relief_by if o.relief_by is not None else o.day
        hit, t = _relapse(a, c.rdef, c.ldef)
        hit, t = hit[rows], t[rows]
        if c.window:
            relapsed = hit & (t <= c.window)
        else:
            relapsed = hit & (day + t <= o.day)
        return ((day <= by) & ~relapsed).astype(float)
    if m in ("patients_with_soreness", "patients_with_bruising"):
        first = (a.soreness if m.endswith("soreness") else a.bruising)[rows]
        return (first <= (np.inf if o.day is None else o.day)).astype(float)
    return None


def _sessions_to(a: _ArmData, rows: NDArray, day: NDArray) -> NDArray:
    """Sessions received up to the relief day (inf without relief)."""
    s = (a.sessions[rows] <= np.nan_to_num(day, nan=-1.0)[:, None]).sum(axis=1)
    return np.where(np.isnan(day), np.inf, s).astype(float)


def _km_steps(hit: NDArray, t: NDArray, counts: NDArray) -> tuple[NDArray, NDArray]:
    """Kaplan–Meier relapse-free fraction after each distinct relapse time, per resample
    row (``counts``: copies of each relieved patient): ``(times, S)`` with ``S`` of shape
    ``(rows, times)``."""
    u = np.unique(t[hit])
    if u.size == 0:
        return u, np.ones((counts.shape[0], 0))
    d = counts @ (hit[:, None] & (t[:, None] == u[None, :])).astype(float)
    r = counts @ (t[:, None] >= u[None, :]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(r > 0, 1.0 - d / r, 1.0)
    return u, np.cumprod(f, axis=1)


def _km_relapsed(steps: tuple[NDArray, NDArray], w: float, counts: NDArray) -> NDArray:
    """1 - Kaplan–Meier relapse-free fraction ``w`` days after relief (as
    :func:`painsim.outcomes.kaplan_meier`, events at ``w`` included); NaN where nobody is
    relieved."""
    u, S = steps
    k = int(np.searchsorted(u, w, side="right"))
    out = np.zeros(counts.shape[0]) if k == 0 else 1.0 - S[:, k - 1]
    return np.where(counts.sum(axis=1) > 0, out, np.nan)


def _nan_percentile(x: NDArray, q: float) -> NDArray:
    """Per row, the ``q``-th percentile of the non-NaN values (linear, as
    :func:`numpy.nanpercentile`; NaN for a row without values), vectorized over rows."""
    srt = np.sort(x, axis=1)  # NaN last
    k = (~np.isnan(srt)).sum(axis=1)
    pos = np.maximum(k - 1, 0) * q / 100.0
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    a = np.take_along_axis(srt, lo[:, None], axis=1)[:, 0]
    b = np.take_along_axis(srt, hi[:, None], axis=1)[:, 0]
    return np.where(k > 0, a + (b - a) * (pos - lo), np.nan)


def _arm_metric(o: Observable, a: _ArmData, rows: NDArray, c: _Ctx) -> NDArray:
    """The metric of one arm on each resample row (row 0: the cohort)."""
    x = _per_patient(o, a, rows, c)
    if x is not None:
        return x[c.idx].mean(axis=1)
    day = _relief(a, *c.rdef)[rows]
    if o.metric == "median_sessions_to_relief":
        s = np.where(day <= o.day, _sessions_to(a, rows, day), np.inf)
        return np.median(s[c.idx], axis=1)
    if o.metric == "sessions_to_relief_iqr":
        s = np.where(day <= o.day, _sessions_to(a, rows, day), np.nan)[c.idx]
        return _nan_percentile(s, 75) - _nan_percentile(s, 25)
    if o.metric in ("relapse", "relapse_90d"):
        w = c.window or (90.0 if o.metric == "relapse_90d" else float(o.day))
        key = (id(a), c.rdef, c.ldef)
        rel = ~np.isnan(day)
        if key not in c.cache:
            hit, t = _relapse(a, c.rdef, c.ldef)
            c.cache[key] = _km_steps(hit[rows][rel], t[rows][rel], c.counts[:, rel])
        return _km_relapsed(c.cache[key], w, c.counts[:, rel])
    raise ParameterError("metric", o.metric, ", ".join(METRICS),  # pragma: no cover
                         why="is not supported by the explorer")


def _observable(o: Observable, arms: dict[str, _ArmData], rows: NDArray,
                c: _Ctx) -> tuple[float, float, float, str]:
    """Value, 95% interval and verdict of one observable (paired bootstrap)."""
    v = _arm_metric(o, arms[o.arm], rows, c)
    if o.minus:
        with np.errstate(invalid="ignore"):
            v = v - _arm_metric(o, arms[o.minus], rows, c)
    value, bs = float(v[0]), v[1:]
    bs = np.clip(bs[~np.isnan(bs)], -_BIG, _BIG)
    if bs.size > 10:
        lo, hi = _interval(bs)
    else:
        lo = hi = math.nan
    return value, lo, hi, observable_verdict(value, lo, hi, o.band)


def _interval(bs: NDArray) -> tuple[float, float]:
    """2.5% and 97.5% quantiles (linear, as :func:`numpy.quantile`), ends beyond 1e300
    read as infinite (the "never" of a median of sessions, clipped to finite for sorting
    as in :mod:`painsim.claims`)."""
    srt = np.sort(bs)
    out = []
    for p in (0.025, 0.975):
        pos = (srt.size - 1) * p
        j = math.floor(pos)
        a, b, f = srt[j], srt[min(j + 1, srt.size - 1)], pos - j
        if max(abs(a), abs(b)) > 1e300:  # np.quantile's own arithmetic at the extremes
            x = float(np.quantile(srt, p))
        else:
            x = float(a + (b - a) * f)
        out.append(float(np.copysign(np.inf, x)) if abs(x) > 1e300 else x)
    return out[0], out[1]


def _depends(o: Observable) -> tuple[bool, bool, bool]:
    """Whether an observable depends on (relief definition, relapse definition, window)."""
    relief = o.metric in ("relief", "relief_by_session", "median_sessions_to_relief",
                          "sessions_to_relief_iqr", "durable_response", "relapse",
                          "relapse_90d")
    late = o.metric in ("durable_response", "relapse", "relapse_90d")
    return relief, late, late


def _resamples(rng: np.random.Generator, m: int, n_boot: int) -> tuple[NDArray, NDArray]:
    idx = np.vstack([np.arange(m)[None, :], rng.integers(0, m, (n_boot, m))])
    counts = np.zeros(idx.shape, dtype=float)
    np.add.at(counts, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    return idx, counts


def _km_curve(hit: NDArray, t: NDArray) -> NDArray:
    """Kaplan–Meier relapse-free fraction at :data:`KM_DAYS` (NaN: nobody relieved)."""
    if t.size == 0:
        return np.full(len(KM_DAYS), np.nan)
    u, S = _km_steps(hit, t, np.ones((1, t.size)))
    k = np.searchsorted(u, np.asarray(KM_DAYS), side="right")
    return np.where(k == 0, 1.0, S[0, np.maximum(k - 1, 0)] if u.size else 1.0)


def _simulate_block(s: AssumptionSet, sessions: int, every: float, grid: Grid, seed: int,
                    workers: int, backend: str) -> dict[str, Any]:
    """Simulate one (assumption set, protocol): every arm on one cohort (a quarter of each
    phenotype on average)."""
    tic = time.perf_counter()
    cohort = Cohort(n=grid.patients, seed=seed, mix={p: 1 / len(PHENOTYPES)
                                                     for p in PHENOTYPES},
                    phenotypes=with_parameters(PHENOTYPE_PRESETS, s.parameters))
    res = simulate(explorer_arms(s.treatments, sessions, every), cohort, HORIZON_DAYS,
                   outcomes=Outcomes(short_term_day=SHORT_TERM_DAY, bootstrap=0),
                   workers=workers, backend=backend)
    p = res.patients[res.patients.arm == "none"].sort_values("patient")
    return {"arms": {a: _arm_data(res, a) for a in ARMS}, "phen": p.phenotype.to_numpy(),
            "sim_s": time.perf_counter() - tic, "timings": dict(res.timings)}


#: Simulated blocks, read by forked worker processes (inherited, not pickled).
_BLOCKS: list[dict[str, Any]] = []


def _read_forked(args: tuple[int, Grid, list[Claim], int]) -> dict[str, Any]:
    i, grid, claims, seed = args
    return _read_block(_BLOCKS[i], grid, claims, seed)


def _read_block(sim: dict[str, Any], grid: Grid, claims: list[Claim],
                seed: int) -> dict[str, Any]:
    """Read every grid point one simulated (set, protocol) serves: verdicts with their
    intervals, pain bands and relapse curves, for every mix and definition."""
    tic = time.perf_counter()
    arms, phen = sim["arms"], sim["phen"]
    pools = [np.flatnonzero(phen == k) for k in PHENOTYPES]
    n = min(len(x) for x in pools)
    if n < 2:
        raise ParameterError("patients", grid.patients, "enough that every phenotype has "
                             "at least 2 patients (e.g. 32 or more)",
                             why=f"gives a phenotype only {n} patient(s)")
    units = round(1 / grid.mix_step)
    mixes = simplex(len(PHENOTYPES), units)
    obs = [o for c in claims for o in c.observables]
    dims = (len(grid.relief), len(grid.relapse), len(grid.windows))
    values = np.full((len(obs), len(mixes), *dims, 3), np.nan, dtype=float)
    verdicts = np.full((len(obs), len(mixes), *dims), "u", dtype="<U1")
    days = np.arange(0, int(HORIZON_DAYS) + 1, PAIN_STEP)
    pain = np.zeros((len(mixes), len(ARMS), days.size, 3))
    km = np.full((len(mixes), len(grid.relief), len(grid.relapse), len(ARMS), len(KM_DAYS)),
                 np.nan)
    km_n = np.zeros((len(mixes), len(grid.relief), len(ARMS)), dtype=int)
    for i, mix in enumerate(mixes):
        cnt = mix_counts([u / units for u in mix], n)
        rows = np.concatenate([pool[:k] for pool, k in zip(pools, cnt, strict=True)])
        for j, a in enumerate(ARMS):
            y = arms[a].pain[rows][:, days]
            mu, sd = y.mean(axis=0), y.std(axis=0, ddof=1) if rows.size > 1 else 0 * y[0]
            half = 1.96 * sd / math.sqrt(rows.size)
            pain[i, j] = np.clip(np.stack([mu, mu - half, mu + half], axis=-1), 0, 10)
            for r, rdef in enumerate(grid.relief):
                rel = ~np.isnan(_relief(arms[a], *rdef)[rows])
                km_n[i, r, j] = int(rel.sum())
                for q, ldef in enumerate(grid.relapse):
                    hit, t = _relapse(arms[a], rdef, ldef)
                    km[i, r, q, j] = _km_curve(hit[rows][rel], t[rows][rel])
        subsets: dict[tuple[str, ...], tuple[NDArray, NDArray, NDArray, dict]] = {}
        for k, o in enumerate(obs):
            if o.phenotypes not in subsets:
                sub = rows[np.isin(phen[rows], o.phenotypes)] if o.phenotypes else rows
                rng = np.random.default_rng([seed, 99, i, len(subsets)])
                subsets[o.phenotypes] = (sub, *_resamples(rng, sub.size, grid.n_boot), {})
            sub, idx, counts, cache = subsets[o.phenotypes]
            d_relief, d_relapse, d_window = _depends(o)
            for r, q, w in itertools.product(*(range(x) for x in dims)):
                if (r and not d_relief) or (q and not d_relapse) or (w and not d_window):
                    continue
                if sub.size == 0:
                    values[k, i, r, q, w] = (math.nan,) * 3
                    verdicts[k, i, r, q, w] = "f"
                    continue
                ctx = _Ctx(grid.relief[r], grid.relapse[q], grid.windows[w], idx, counts,
                           cache)
                *v, verdict = _observable(o, arms, sub, ctx)
                values[k, i, r, q, w] = v
                verdicts[k, i, r, q, w] = _VCODE[verdict]
    return {"values": values, "verdicts": verdicts, "pain": pain, "km": km, "km_n": km_n,
            "cohort_n": n, "read_s": time.perf_counter() - tic}


def _offered(claims: Sequence[Claim]) -> tuple[list[Claim], list[dict[str, str]]]:
    """Claims the grid can check, and the others with the reason."""
    ok, not_ok = [], []
    for c in claims:
        if c.not_expressible:
            not_ok.append({"id": c.id, "why": f"not expressible: {c.not_expressible}"})
            continue
        need = sorted({a for o in c.observables for a in (o.arm, o.minus) if a} - set(ARMS))
        unknown = sorted({o.metric for o in c.observables} - set(SUPPORTED_METRICS))
        if unknown:
            not_ok.append({"id": c.id, "why": "uses the metric(s) " + ", ".join(unknown)
                           + ", which the explorer does not read (see painsim claims)"})
        elif need:
            not_ok.append({"id": c.id, "why": "needs the arm(s) " + ", ".join(need)
                           + " (not simulated here; see painsim claims)"})
        else:
            ok.append(c)
    return ok, not_ok


def compute_grid(claims_dir: str | Path, grid: Grid, *, seed: int = 2026, workers: int = 0,
                 backend: str = "numba",
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Simulate the grid and read every verdict, relapse curve and pain band it serves.

    Parameters
    ----------
    claims_dir : str or Path
        Folder with the claim files and ``assumptions.toml``.
    grid : Grid
        Control values.
    seed : int
        Cohort seed (every set and protocol simulates the same patients and flares).
    workers : int
        Worker processes for :func:`painsim.simulate` (0: one per core).
    backend : {"numba", "numpy"}
        Solver backend.
    progress : callable, optional
        ``progress(done, total)`` after each (set, protocol) block.

    Returns
    -------
    dict
        The page's data (JSON-ready; large arrays as numpy arrays).
    """
    claims_dir = Path(claims_dir)
    sets = load_assumptions(claims_dir / "assumptions.toml")
    if grid.sets:
        names = [s.name for s in sets]
        for name in grid.sets:
            if name not in names:
                raise ParameterError("Grid.sets", name, ", ".join(names))
        sets = [s for s in sets if s.name in grid.sets]
    claims, not_offered = _offered(load_claims(sorted(claims_dir.glob("[0-9]*.toml"))))
    protocols = list(itertools.product(grid.sessions, grid.every_days))
    workers = workers or (os.cpu_count() or 1)
    jobs = [(s, n, e) for s in sets for n, e in protocols]
    tic = time.perf_counter()
    sims = []
    for done, (s, n, e) in enumerate(jobs, 1):
        sims.append(_simulate_block(s, n, e, grid, seed, workers, backend))
        if progress is not None:
            progress(done, 2 * len(jobs))
    sim_s = time.perf_counter() - tic
    blocks: list[dict[str, Any]] = []
    fork = "fork" in multiprocessing.get_all_start_methods()
    if workers > 1 and fork and len(sims) > 1:
        _BLOCKS[:] = sims  # forked workers inherit them: nothing is pickled
        try:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for b in pool.map(_read_forked, [(i, grid, claims, seed)
                                                 for i in range(len(sims))]):
                    blocks.append(b)
                    if progress is not None:
                        progress(len(jobs) + len(blocks), 2 * len(jobs))
        finally:
            _BLOCKS.clear()
    else:
        for sim in sims:
            blocks.append(_read_block(sim, grid, claims, seed))
            if progress is not None:
                progress(len(jobs) + len(blocks), 2 * len(jobs))
    build_s = time.perf_counter() - tic
    shape = (len(sets), len(protocols))

    def stack(key: str) -> NDArray:
        return np.stack([b[key] for b in blocks]).reshape(*shape, *blocks[0][key].shape)

    values, verdicts = stack("values"), stack("verdicts")
    units = round(1 / grid.mix_step)
    out_claims = []
    k = 0
    for c in claims:
        obs = []
        for o in c.observables:
            dep = (True, True, True, *_depends(o))  # set, protocol, mix always
            sl = tuple(slice(None) if d else slice(0, 1) for d in dep)
            obs.append({"what": o.describe(), "metric": o.metric, "arm": o.arm,
                        "minus": o.minus, "phenotypes": list(o.phenotypes),
                        "band": [_num(b) for b in o.band], "dims": [int(d) for d in dep],
                        "values": values[:, :, k][sl], "verdicts": verdicts[:, :, k][sl],
                        "window": o.window()})
            k += 1
        out_claims.append({"id": c.id, "source": c.source, "quote": c.quote,
                           "warning": c.warning, "window": c.window,
                           "window_quote": c.window_quote, "construction": c.construction,
                           "observables": obs})
    ids = {c.id for c in claims}
    return {
        "claims": out_claims, "not_offered": not_offered,
        "contradictions": [{"title": x["title"], "summary": x["summary"],
                            "a": [i for i in x["a"] if i in ids],
                            "b": [i for i in x["b"] if i in ids]} for x in CONTRADICTIONS],
        "sets": [{"name": s.name, "description": s.description, "mechanism": s.mechanism}
                 for s in sets],
        "protocols": [{"sessions": n, "every_days": e} for n, e in protocols],
        "mixes": simplex(len(PHENOTYPES), units), "units": units,
        "phenotypes": list(PHENOTYPES), "arms": list(ARMS),
        "relief": [list(x) for x in grid.relief], "relapse": [list(x) for x in grid.relapse],
        "windows": list(grid.windows), "pain_days": list(range(0, int(HORIZON_DAYS) + 1,
                                                                 PAIN_STEP)),
        "km_days": list(KM_DAYS), "pain": stack("pain"), "km": stack("km"),
        "km_n": stack("km_n"), "cohort_n": min(b["cohort_n"] for b in blocks),
        "patients": grid.patients, "seed": seed, "n_boot": grid.n_boot,
        "horizon_days": HORIZON_DAYS, "backend": backend, "workers": workers,
        "simulations": len(jobs), "build_s": build_s,
        "sim_s": sim_s, "read_s": build_s - sim_s, "grid": asdict(grid),
    }


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


# ----------------------------------------------------------------------------- the page


def _b64(a: NDArray, dtype: str, scale: float = 1.0) -> dict[str, Any]:
    """A numeric array as base64 little-endian bytes. ``uint16`` stores ``round(x *
    scale)`` with 65535 for NaN (the page divides by ``scale``); floats keep NaN."""
    x = np.asarray(a, dtype=float)
    if dtype == "uint16":
        q = np.where(np.isnan(x), 65535, np.rint(np.nan_to_num(x) * scale))
        if q.min() < 0 or q.max() > 65535:
            raise ParameterError("page array", (q.min(), q.max()), "[0, 65535] after scaling")
        x = q
    arr = np.ascontiguousarray(x, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"b64": base64.b64encode(arr.tobytes()).decode("ascii"), "dtype": dtype,
            "shape": list(arr.shape), "scale": scale}


#: Resolution of the stored pain (0-10) and relapse-free fractions (0-1) on the page.
PAIN_SCALE, KM_SCALE = 6000.0, 60000.0


def page_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data as it is embedded in the page: verdict values as base64 float32, pain
    bands and relapse curves as base64 uint16 (resolution 1/6000 point of pain and
    1/60000 of a fraction; plots only), verdicts as strings of ``h``/``f``/``u``."""
    out = {k: v for k, v in data.items() if k not in ("claims", "pain", "km", "km_n")}
    out["claims"] = []
    for c in data["claims"]:
        cc = dict(c)
        cc["observables"] = [
            {**o, "values": _b64(o["values"], "float32"),
             "verdicts": "".join(np.asarray(o["verdicts"]).ravel().tolist()),
             "shape": list(np.asarray(o["verdicts"]).shape)}
            for o in c["observables"]]
        out["claims"].append(cc)
    out["pain"] = _b64(data["pain"], "uint16", PAIN_SCALE)
    out["km"] = _b64(data["km"], "uint16", KM_SCALE)
    out["km_n"] = _b64(data["km_n"], "int32")
    return out


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("painsim explore needs Plotly: pip install 'painsim[explore]'"
                          ) from exc
    return get_plotlyjs()


def render_page(data: dict[str, Any]) -> str:
    """The self-contained HTML page (Plotly's JavaScript and the data embedded)."""
    asset = Path(__file__).with_name("explore_page.js").read_text(encoding="utf-8")
    blob = json.dumps(page_data(data), allow_nan=False, separators=(",", ":"))
    blob = blob.replace("</", "<\\/")
    g = data["grid"]
    size = (f"{len(data['sets'])} assumption sets × {len(data['protocols'])} protocols × "
            f"{len(data['mixes'])} phenotype mixes × {len(data['relief'])} relief × "
            f"{len(data['relapse'])} relapse definitions × {len(data['windows'])} windows")
    css = Path(__file__).with_name("explore_page.css").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>painsim explore: the claims, under your assumptions</title>
<style>{css}</style>
<script>{_plotly_js()}</script></head>
<body>
<header><h1>Dry needling vs acupuncture: move the assumptions, watch the verdicts</h1>
<p class="disclaimer" id="disclaimer"><strong>{html.escape(DISCLAIMER)}</strong></p></header>
<main>
<form id="controls" aria-label="Controls" onsubmit="return false">
<fieldset><legend>Claims</legend>
<label for="contradiction">Contradiction (claims.md)</label>
<select id="contradiction"></select>
<label for="claimA">Claim A</label><select id="claimA"></select>
<label for="claimB">Claim B</label><select id="claimB"></select>
</fieldset>
<fieldset><legend>Assumptions and cohort</legend>
<label for="set">Assumption set</label><select id="set"></select>
<p class="small" id="mix-label">Share of each phenotype in the cohort (they sum to
100%; moving one rescales the others)</p>
<div id="mix" role="group" aria-labelledby="mix-label"></div>
</fieldset>
<fieldset><legend>Definitions and follow-up</legend>
<label for="relief">Relief</label><select id="relief"></select>
<label for="relapse">Relapse</label><select id="relapse"></select>
<label for="window">Follow-up window after relief</label><select id="window"></select>
</fieldset>
<fieldset><legend>Protocol (all treated arms)</legend>
<label for="sessions">Sessions in the course</label><select id="sessions"></select>
<label for="every">Spacing between sessions</label><select id="every"></select>
</fieldset>
</form>
<section id="results" aria-live="polite">
<div id="contradiction-summary" class="small"></div>
<div class="cards"><article id="cardA" class="card"></article>
<article id="cardB" class="card"></article></div>
<p id="together" class="together"></p>
<div class="plots"><div id="plot-relapse" class="plot" role="img"
aria-label="Relapse curves per arm"></div>
<div id="plot-pain" class="plot" role="img" aria-label="Mean pain over time per arm"></div>
</div>
<div id="grid-note" class="small"></div>
</section></main>
<footer><p class="small">How to read it. Every number is read from a precomputed grid of
paired simulations (every arm on the same virtual patients and flare-ups, common random
numbers): {html.escape(size)} ({len(data['claims'])} claims offered;
{data['simulations']} simulations of {data['patients']} patients × {len(data['arms'])}
arms × {data['horizon_days']:g} days; a cohort on the page has {data['cohort_n']} patients,
the first of each phenotype in the chosen shares; seed {data['seed']}; {g['n_boot']} paired
bootstrap resamples; built in {data['build_s']:.0f} s). <b>A control moves between grid
points; nothing between them is interpolated.</b> A verdict reads the 95% interval:
<i>holds</i> when it lies inside the claim's band, <i>fails</i> when it lies outside (or
the value is undefined), <i>undecided</i> when it straddles a band edge (a larger cohort
may decide). Relief and relapse are read on the daily morning pain (one-day resolution;
<code>painsim claims</code> locates them on the solver's dense output, so its values can
differ slightly). Claim windows stay as their files read them (days from the start); the
protocol controls do not move them. The follow-up window replaces the relapse window of
relapse and durable-response observables ("claim's own" keeps it).</p>
</footer>
<script id="painsim-data" type="application/json">{blob}</script>
<script>{asset}</script>
</body></html>
"""


def build_explorer(out_dir: str | Path, claims_dir: str | Path, *,
                   grid: Grid | str = "full", seed: int = 2026, workers: int = 0,
                   backend: str = "numba", patients: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Write ``out_dir/explore.html`` (and ``explore_grid.json``, the grid's size and
    timings); returns the page's path.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the page (created if needed).
    claims_dir : str or Path
        Folder with the claim files and ``assumptions.toml``.
    grid : Grid or {"full", "small"}
        The control values (:data:`GRIDS`).
    seed, workers, backend
        As :func:`compute_grid`.
    patients : int, optional
        Override the grid's patients per simulation.
    progress : callable, optional
        ``progress(done, total)`` after each simulation block.

    Returns
    -------
    Path
        The page written.
    """
    g = GRIDS[grid] if isinstance(grid, str) else grid
    if patients is not None:
        g = Grid(**{**asdict(g), "patients": patients,
                    "relief": g.relief, "relapse": g.relapse})
    tic = time.perf_counter()
    data = compute_grid(claims_dir, g, seed=seed, workers=workers, backend=backend,
                        progress=progress)
    data["build_s"] = time.perf_counter() - tic
    doc = render_page(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "explore.html"
    tmp = out / ".explore.html.tmp"
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(target)
    info = {"grid": asdict(g), "size": {"sets": len(data["sets"]),
                                        "protocols": len(data["protocols"]),
                                        "mixes": len(data["mixes"]),
                                        "relief": len(data["relief"]),
                                        "relapse": len(data["relapse"]),
                                        "windows": len(data["windows"])},
            "simulations": data["simulations"], "cohort_n": data["cohort_n"],
            "build_s": round(data["build_s"], 1), "sim_s": round(data["sim_s"], 1),
            "page_bytes": target.stat().st_size, "backend": backend,
            "workers": data["workers"]}
    (out / "explore_grid.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return target
