"""The evidence suite: published figures that the default model is checked against.

An *evidence file* (``scenarios/evidence/*.toml``) is a normal scenario — cohort, arms,
horizon, ``[outcomes]`` — plus an ``[evidence]`` table (source, population, design,
definition, how the band was derived, assumptions) and one ``[[targets]]`` table per
published figure. :func:`validate` runs each file's scenario with
:func:`painsim.simulate`, computes every target with an interval and gives a verdict
against the target's band:

* **pass**: the whole interval lies inside the band;
* **fail**: the whole interval lies outside the band, or the value cannot be computed
  (e.g. a recurrence rate when no virtual patient recovered);
* **undecided**: the interval straddles a band edge (a larger cohort may decide).

Measures (``measure`` of a target; pain 0–10, time in days, shares 0–1):

``mean_pain`` (``arm``, ``day``)
    Mean pain at ``day`` (one of ``outcomes.report_days``); percentile bootstrap
    interval of the mean.
``not_recovered``, ``recovered`` (``arm``, ``day``)
    Share (not) recovered by ``day`` (one of ``outcomes.recovered_by``); Wilson interval.
``recurrence`` (``arm``, ``day``)
    Cumulative incidence of recurrence ``day`` after recovery (one of
    ``outcomes.recurrence_at``), 1 − Kaplan–Meier; Greenwood interval (normal
    approximation, clipped to [0, 1]).
``responders`` (``arm``, ``day``, optional ``by = "fraction" | "points"``)
    Share of responders at ``day`` (one of ``outcomes.responder_days``); Wilson interval.
``adverse_event_patients`` (``arm``, ``day``)
    Share of patients with >= 1 adverse event by ``day`` (one of
    ``outcomes.adverse_event_by``); Wilson interval.
``adverse_event_sessions`` (``arm``, optional ``event``: ``"any"`` or an event name)
    Share of sessions with >= 1 adverse event (``"any"``, needs ``outcomes.adverse_event_by``)
    or events of that name per session; the ratio estimator's interval over patients
    (:func:`painsim.outcomes.ratio_ci`: sessions cluster in patients, so a binomial
    interval over sessions would be too narrow).
``excess_ratio`` (``arms = [a, b]``, ``days = [late, early]``)
    (mean pain a − b at ``late``) / (mean pain a − b at ``early``), both days in
    ``outcomes.report_days``; paired percentile bootstrap interval.

The intervals describe the *simulation's* sampling error at the cohort size used; the
bands describe the *published* figure's uncertainty.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PainsimError, ScenarioError
from .outcomes import bootstrap_ci, kaplan_meier, ratio_ci
from .scenario import Scenario, load_scenario, parse_duration

__all__ = [
    "MEASURES",
    "Evidence",
    "Target",
    "TargetResult",
    "ValidationReport",
    "evaluate",
    "evidence_files",
    "format_report",
    "load_evidence",
    "validate",
    "verdict",
    "wilson",
    "write_report",
]

#: Measures a target may use, and the keys each needs besides the common ones.
MEASURES: dict[str, tuple[str, ...]] = {
    "mean_pain": ("arm", "day"),
    "not_recovered": ("arm", "day"),
    "recovered": ("arm", "day"),
    "recurrence": ("arm", "day"),
    "responders": ("arm", "day"),
    "adverse_event_patients": ("arm", "day"),
    "adverse_event_sessions": ("arm",),
    "excess_ratio": ("arms", "days"),
}
_COMMON = ("name", "measure", "published", "band")
_OPTIONAL = ("reported", "event", "by")
_EVIDENCE_KEYS = ("id", "source", "population", "design", "definition", "band_method")
_CSV_COLUMNS = ("file", "evidence", "target", "measure", "published", "reported",
                "band_low", "band_high", "simulated", "low", "high", "interval",
                "verdict", "patients", "note")
Z95 = 1.959963984540054
#: The interval of a per-session share: the ratio estimator's over patients
#: (:func:`painsim.outcomes.ratio_ci`), as sessions cluster in patients.
CLUSTERED = "ratio over patients"


@dataclass(frozen=True)
class Target:
    """One published figure to reproduce (see the module documentation).

    Attributes
    ----------
    name : str
        Plain-words name of the target.
    measure : str
        One of :data:`MEASURES`.
    published : float
        The published figure in painsim units (pain 0–10, shares 0–1).
    band : tuple of float
        (low, high): the range the simulated value must lie in, same units.
    arm : str
        Arm the measure reads (``excess_ratio``: ``arms``).
    day : float or None
        Day of the measure, days (converted from the file's duration).
    arms, days : tuple
        For ``excess_ratio``: the two arms and the (late, early) days.
    event : str
        For ``adverse_event_sessions``: ``"any"`` or an event name.
    by : str
        For ``responders``: ``"fraction"`` (default) or ``"points"``.
    reported : str
        The figure as the source reports it (e.g. ``"23/100 (95% CI 21-25)"``).
    """

    name: str
    measure: str
    published: float
    band: tuple[float, float]
    arm: str = ""
    day: float | None = None
    arms: tuple[str, ...] = ()
    days: tuple[float, ...] = ()
    event: str = "any"
    by: str = "fraction"
    reported: str = ""


@dataclass(frozen=True)
class Evidence:
    """An evidence file: its scenario, the source's description and its targets."""

    path: str
    id: str
    info: dict[str, Any]
    scenario: Scenario
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class TargetResult:
    """A target's simulated value, interval and verdict.

    Attributes
    ----------
    value, low, high : float
        Simulated value and its 95% interval (NaN when it cannot be computed).
    interval : str
        How the interval was computed (``"bootstrap"``, ``"Wilson"``, ``"Greenwood"``).
    verdict : str
        ``"pass"``, ``"fail"`` or ``"undecided"`` (see :func:`verdict`).
    patients : int
        Cohort size simulated.
    note : str
        Why a value could not be computed, if so.
    """

    file: str
    evidence: str
    target: Target
    value: float
    low: float
    high: float
    interval: str
    verdict: str
    patients: int
    note: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` returns: one row per target, with wall times."""

    rows: tuple[TargetResult, ...]
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Number of targets per verdict."""
        out = {"pass": 0, "fail": 0, "undecided": 0}
        for r in self.rows:
            out[r.verdict] += 1
        return out


def verdict(low: float, high: float, band: tuple[float, float]) -> str:
    """Verdict of a simulated interval [low, high] against a band.

    Examples
    --------
    >>> verdict(0.45, 0.50, (0.43, 0.53)), verdict(0.10, 0.20, (0.43, 0.53))
    ('pass', 'fail')
    >>> verdict(0.40, 0.46, (0.43, 0.53))
    'undecided'
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return "fail"
    b_lo, b_hi = band
    if b_lo <= low and high <= b_hi:
        return "pass"
    if high < b_lo or low > b_hi:
        return "fail"
    return "undecided"


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float, float]:
    """Share ``k/n`` and its Wilson score interval (95% by default).

    Examples
    --------
    >>> [round(x, 4) for x in wilson(28, 100)]
    [0.28, 0.2014, 0.3749]
    """
    if n <= 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (p, 0.0 if k <= 0 else max(0.0, c - h), 1.0 if k >= n else min(1.0, c + h))


def _km_incidence(t: np.ndarray, e: np.ndarray, day: float) -> tuple[float, float, float]:
    """1 - Kaplan-Meier at ``day`` with a Greenwood 95% interval (normal, clipped)."""
    if t.size == 0:
        return (math.nan, math.nan, math.nan)
    ts, S = kaplan_meier(t, e)
    k = int(np.searchsorted(ts, day, side="right"))
    if k == 0:
        return (0.0, 0.0, 0.0)
    srt = np.sort(t)
    d = np.array([np.count_nonzero(e & (t == x)) for x in ts[:k]], dtype=float)
    n = (srt.size - np.searchsorted(srt, ts[:k], side="left")).astype(float)
    s = float(S[k - 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = float(np.sum(np.where(n > d, d / (n * (n - d)), np.inf)))
    se = s * math.sqrt(g) if math.isfinite(g) else math.inf
    return (1 - s, max(0.0, 1 - s - Z95 * se), min(1.0, 1 - s + Z95 * se))


# --- loading -------------------------------------------------------------------------

def _day(v: Any, path: str, problems: list[tuple[str, str]]) -> float | None:
    try:
        return parse_duration(v)
    except ValueError as exc:
        problems.append((path, str(exc)))
        return None


def _near(d: float, values: Sequence[float]) -> bool:
    return any(abs(d - x) < 1e-6 for x in values)


def load_evidence(path: str | Path, *, patients: int | None = None,
                  seed: int | None = None) -> Evidence:
    """Read and check an evidence file.

    Parameters
    ----------
    path : str or Path
        The TOML file (a scenario plus ``[evidence]`` and ``[[targets]]``).
    patients, seed : int, optional
        Overrides of the scenario's cohort size and seed.

    Raises
    ------
    ScenarioError
        One line per problem, each ``file: field: message`` (the scenario's own
        problems come from :func:`painsim.scenario.load_scenario`).
    """
    name = str(path)
    scenario = load_scenario(path, patients=patients, seed=seed,
                             ignore=("evidence", "targets"))
    data = tomllib.loads(scenario.text)
    problems: list[tuple[str, str]] = []
    info = data.get("evidence")
    if not isinstance(info, dict):
        problems.append(("evidence", "missing table; add [evidence] with "
                         + ", ".join(_EVIDENCE_KEYS)))
        info = {}
    for k in _EVIDENCE_KEYS:
        if k in info and not isinstance(info[k], str):
            problems.append((f"evidence.{k}", f"{info[k]!r} is not a string"))
        elif not info.get(k):
            problems.append((f"evidence.{k}", "is required (a non-empty string)"))
    raw = data.get("targets")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        problems.append(("targets", "no targets; add at least one [[targets]] table"))
        raw = []
    o = scenario.outcomes
    arm_names = [a.name for a in scenario.arms]
    targets = []
    for i, t in enumerate(raw):
        p = f"targets[{i}]"
        n0 = len(problems)
        measure = t.get("measure")
        if measure not in MEASURES:
            problems.append((f"{p}.measure", f"{measure!r} is not a measure; allowed: "
                             + ", ".join(MEASURES)))
            continue
        allowed = (*_COMMON, *MEASURES[measure], *_OPTIONAL)
        for k in t:
            if k not in allowed:
                problems.append((f"{p}.{k}", f"unknown key for measure {measure!r}; "
                                 "allowed: " + ", ".join(allowed)))
        for k in (*_COMMON, *MEASURES[measure]):
            if k not in t:
                problems.append((f"{p}.{k}", "is required"))
        if len(problems) > n0:
            continue
        if not isinstance(t["name"], str) or not t["name"]:
            problems.append((f"{p}.name", "must be a non-empty string"))
        pub = t["published"]
        if isinstance(pub, bool) or not isinstance(pub, int | float) or not math.isfinite(pub):
            problems.append((f"{p}.published", f"{pub!r} is not a number"))
        band = t["band"]
        if not (isinstance(band, list) and len(band) == 2 and all(
                isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b)
                for b in band) and band[0] <= band[1]):
            problems.append((f"{p}.band", f"{band!r} must be [low, high], two numbers with "
                             "low <= high"))
        elif isinstance(pub, int | float) and not band[0] <= pub <= band[1]:
            problems.append((f"{p}.band", f"{band!r} does not contain the published figure "
                             f"{pub!r}"))
        kw: dict[str, Any] = {}
        if "arm" in MEASURES[measure]:
            if t["arm"] not in arm_names:
                problems.append((f"{p}.arm", f"{t['arm']!r} is not an arm of the scenario; "
                                 "allowed: " + ", ".join(arm_names)))
            kw["arm"] = t["arm"]
        if "day" in MEASURES[measure]:
            d = _day(t["day"], f"{p}.day", problems)
            need = {"mean_pain": ("report_days", o.report_days),
                    "not_recovered": ("recovered_by", o.recovered_by_days),
                    "recovered": ("recovered_by", o.recovered_by_days),
                    "recurrence": ("recurrence_at", o.recurrence_days),
                    "responders": ("responder_days", o.responder_days),
                    "adverse_event_patients": ("adverse_event_by", o.adverse_event_days),
                    }[measure]
            grid = measure in ("mean_pain", "responders")
            if d is not None and not _near(float(round(d)) if grid else d, need[1]):
                problems.append((f"{p}.day", f"{t['day']!r} is not in outcomes.{need[0]}; "
                                 "add it there"))
            kw["day"] = float(round(d)) if d is not None and grid else d
        if measure == "excess_ratio":
            arms, days = t["arms"], t["days"]
            if not (isinstance(arms, list) and len(arms) == 2
                    and all(a in arm_names for a in arms)):
                problems.append((f"{p}.arms", f"{arms!r} must be two arms of the scenario; "
                                 "allowed: " + ", ".join(arm_names)))
            if not (isinstance(days, list) and len(days) == 2):
                problems.append((f"{p}.days", f"{days!r} must be [late, early], two "
                                 "durations"))
                days = []
            ds = [_day(x, f"{p}.days[{j}]", problems) for j, x in enumerate(days)]
            for j, x in enumerate(ds):
                if x is not None and not _near(float(round(x)), o.report_days):
                    problems.append((f"{p}.days[{j}]", f"{days[j]!r} is not in "
                                     "outcomes.report_days; add it there"))
            kw["arms"] = tuple(arms) if isinstance(arms, list) else ()
            kw["days"] = tuple(float(round(x)) for x in ds if x is not None)
        if measure == "adverse_event_sessions":
            ev = t.get("event", "any")
            if not isinstance(ev, str) or not ev:
                problems.append((f"{p}.event", f"{ev!r} must be 'any' or an event name"))
            elif ev == "any" and not o.adverse_event_days:
                problems.append((f"{p}.event", "'any' needs outcomes.adverse_event_by "
                                 "(e.g. ['6 weeks'])"))
            kw["event"] = ev
        if measure == "responders":
            by = t.get("by", "fraction")
            if by not in ("fraction", "points"):
                problems.append((f"{p}.by", f"{by!r} is not allowed; allowed: 'fraction', "
                                 "'points'"))
            kw["by"] = by
        if len(problems) == n0:
            targets.append(Target(name=t["name"], measure=measure, published=float(pub),
                                  band=(float(band[0]), float(band[1])),
                                  reported=str(t.get("reported", "")), **kw))
    if problems:
        raise ScenarioError("\n".join(f"{name}: {p}: {m}" for p, m in problems), file=name,
                            problems=problems)
    return Evidence(path=name, id=info["id"], info=info, scenario=scenario,
                    targets=tuple(targets))


# --- measuring -----------------------------------------------------------------------

def _measure(t: Target, res: Any, o: Any, rng: np.random.Generator
             ) -> tuple[float, float, float, str, str]:
    """(value, low, high, interval kind, note) of one target on a simulation result."""
    pt = res.patients
    if t.measure == "excess_ratio":
        a, b = (pt[pt.arm == x] for x in t.arms)
        late, early = (a[f"pain_day_{d:g}"].to_numpy() - b[f"pain_day_{d:g}"].to_numpy()
                       for d in t.days)
        ok = np.isfinite(late) & np.isfinite(early)
        late, early = late[ok], early[ok]
        if late.size < 2 or abs(early.mean()) < 1e-12:
            return (math.nan, math.nan, math.nan, "bootstrap", "no excess at the early day")
        idx = rng.integers(0, late.size, size=(max(o.bootstrap, 200), late.size))
        ratios = late[idx].mean(axis=1) / early[idx].mean(axis=1)
        lo, hi = np.quantile(ratios, [0.025, 0.975])
        return (float(late.mean() / early.mean()), float(lo), float(hi), "bootstrap", "")
    v = pt[pt.arm == t.arm]
    if t.measure == "mean_pain":
        x = v[f"pain_day_{t.day:g}"].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(x, n_boot=max(o.bootstrap, 200), confidence=0.95, rng=rng)
        return (float(np.nanmean(x)), lo, hi, "bootstrap", "")
    if t.measure in ("not_recovered", "recovered"):
        x = v[f"recovered_by_day_{t.day:g}"].to_numpy(dtype=bool)
        k = np.count_nonzero(~x if t.measure == "not_recovered" else x)
        return (*wilson(k, x.size), "Wilson", "")
    if t.measure == "responders":
        col = "responder_pct_day_" if t.by == "fraction" else "responder_points_day_"
        x = v[f"{col}{t.day:g}"].to_numpy(dtype=bool)
        return (*wilson(np.count_nonzero(x), x.size), "Wilson", "")
    if t.measure == "adverse_event_patients":
        x = v[f"adverse_event_by_day_{t.day:g}"].to_numpy(dtype=bool)
        return (*wilson(np.count_nonzero(x), x.size), "Wilson", "")
    if t.measure == "adverse_event_sessions":
        # Sessions cluster in patients (Effect.clustering), so the interval is the ratio
        # estimator's over patients, not a binomial one over sessions.
        m = v["sessions"].to_numpy(dtype=float)
        if m.sum() == 0:
            return (math.nan, math.nan, math.nan, CLUSTERED, "no sessions")
        if t.event == "any":
            y = v["sessions_with_adverse_event"].to_numpy(dtype=float)
        else:
            ev = res.events
            ev = ev[(ev.arm == t.arm) & (ev.kind == "adverse event") & (ev.detail == t.event)]
            y = v["patient"].map(ev.patient.value_counts()).fillna(0).to_numpy(dtype=float)
        lo, hi = ratio_ci(y, m)
        return (float(y.sum() / m.sum()), lo, hi, CLUSTERED, "")
    # recurrence
    ok = v["recovered"].to_numpy(dtype=bool)
    if not ok.any():
        return (math.nan, math.nan, math.nan, "Greenwood", "no patient recovered")
    tt = v["days_recovery_to_recurrence_or_censor"].to_numpy(dtype=float)[ok]
    e = v["recurrence"].to_numpy(dtype=bool)[ok]
    return (*_km_incidence(tt, e, float(t.day)), "Greenwood", "")


def evaluate(ev: Evidence, res: Any, *, seed: int = 0) -> list[TargetResult]:
    """Every target of ``ev`` on the simulation result ``res`` (of ``ev.scenario``)."""
    rng = np.random.default_rng([seed, 12])
    rows = []
    for t in ev.targets:
        value, lo, hi, kind, note = _measure(t, res, ev.scenario.outcomes, rng)
        rows.append(TargetResult(file=ev.path, evidence=ev.id, target=t, value=value,
                                 low=lo, high=hi, interval=kind,
                                 verdict=verdict(lo, hi, t.band),
                                 patients=ev.scenario.patients,
                                 note=note or ("" if math.isfinite(value) else
                                               "not computable")))
    return rows


def evidence_files(paths: Sequence[str | Path]) -> list[Path]:
    """The evidence files among ``paths`` (folders give their ``*.toml``, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.glob("*.toml"))
        else:
            out.append(p)
    return out


def validate(paths: Sequence[str | Path] = ("scenarios/evidence",), *,
             patients: int | None = None, seed: int | None = None, workers: int = 1,
             backend: str = "numpy",
             progress: Callable[[str], None] | None = None,
             executor: Any = None) -> ValidationReport:
    """Run every evidence file and judge each target.

    Parameters
    ----------
    paths : sequence of str or Path
        Evidence files, or folders of them (default ``scenarios/evidence``).
    patients, seed : int, optional
        Override every file's cohort size and seed.
    workers : int
        Worker processes for :func:`painsim.simulate` (0: one per core).
    backend : {"numpy", "numba"}
        Solver backend (see :func:`painsim.simulate`).
    progress : callable, optional
        Called with each file's path when it is done.
    executor : distributed.Client, optional
        Run the simulations' chunks on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.

    Returns
    -------
    ValidationReport
        One row per target (value, 95% interval, verdict) and wall times (s).

    Raises
    ------
    ScenarioError
        If any file is broken (all files are checked before anything runs).
    """
    from .engine import simulate

    files = evidence_files(paths)
    if not files:
        raise PainsimError(f"no evidence files in {', '.join(map(str, paths))}")
    loaded, errors = [], []
    for f in files:
        try:
            loaded.append(load_evidence(f, patients=patients, seed=seed))
        except ScenarioError as exc:
            errors.append(str(exc))
    if errors:
        raise ScenarioError("\n".join(errors))
    rows: list[TargetResult] = []
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    for ev in loaded:
        s = ev.scenario
        tic = time.perf_counter()
        res = simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes,
                       epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol, workers=workers,
                       executor=executor,
                       backend=backend)
        rows += evaluate(ev, res, seed=s.seed)
        seconds[ev.path] = time.perf_counter() - tic
        if progress:
            progress(ev.path)
    seconds["total"] = time.perf_counter() - t_all
    return ValidationReport(rows=tuple(rows), seconds=seconds,
                            settings={"patients": patients, "seed": seed,
                                      "workers": workers, "backend": backend})


# --- output --------------------------------------------------------------------------

def _num(x: float, share: bool) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f}%" if share else f"{x:.2f}"


def _is_share(t: Target) -> bool:
    return t.measure not in ("mean_pain", "excess_ratio")


def format_report(report: ValidationReport) -> str:
    """The report as a text table: target, published, simulated [95% interval], band,
    verdict; then the counts and the disclaimer."""
    from .results import DISCLAIMER

    head = ("target", "published", "simulated [95% interval]", "band", "verdict")
    lines = []
    for r in report.rows:
        sh = _is_share(r.target)
        sim = f"{_num(r.value, sh)} [{_num(r.low, sh)}, {_num(r.high, sh)}] {r.interval}"
        band = f"{_num(r.target.band[0], sh)}-{_num(r.target.band[1], sh)}"
        verdict_ = r.verdict + (f" ({r.note})" if r.note else "")
        lines.append((r.target.name, _num(r.target.published, sh), sim, band, verdict_))
    w = [max(len(x[i]) for x in [head, *lines]) for i in range(4)]
    out = ["  ".join(h.ljust(w[i]) if i < 4 else h for i, h in enumerate(head)),
           "-" * (sum(w) + 8 + 9)]
    out += ["  ".join(c.ljust(w[i]) if i < 4 else c for i, c in enumerate(x)) for x in lines]
    c = report.counts
    out += ["", f"{c['pass']} pass, {c['fail']} fail, {c['undecided']} undecided of "
            f"{len(report.rows)} targets (pain 0-10; /100 figures divided by 10; intervals "
            "95%: bootstrap of means, Wilson for shares of patients, ratio over patients for "
            "shares of sessions, Greenwood for Kaplan-Meier)"]
    if "total" in report.seconds:
        s = report.settings
        out.append(f"wall time {report.seconds['total']:.1f} s (backend "
                   f"{s.get('backend')}, workers {s.get('workers')}, patients "
                   f"{s.get('patients') or 'as in the files'})")
    out.append(DISCLAIMER)
    return "\n".join(out)


def _csv_rows(report: ValidationReport) -> list[dict[str, Any]]:
    return [{"file": r.file, "evidence": r.evidence, "target": r.target.name,
             "measure": r.target.measure, "published": r.target.published,
             "reported": r.target.reported, "band_low": r.target.band[0],
             "band_high": r.target.band[1], "simulated": r.value, "low": r.low,
             "high": r.high, "interval": r.interval, "verdict": r.verdict,
             "patients": r.patients, "note": r.note} for r in report.rows]


def _figure(report: ValidationReport, out: Path) -> list[str]:
    """One panel per target: band (grey), published (diamond), simulated with its
    interval (coloured by verdict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import FOOTER, save_figure

    n = len(report.rows)
    cols = 4
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 1.9 * rows), squeeze=False)
    colour = {"pass": "tab:green", "fail": "tab:red", "undecided": "tab:orange"}
    for ax, r in zip(axes.flat, report.rows, strict=False):
        t = r.target
        ax.axvspan(*t.band, color="0.85", label="band")
        ax.plot([t.published], [0], "kD", label="published")
        if math.isfinite(r.value):
            err = [[max(0.0, r.value - r.low)], [max(0.0, r.high - r.value)]]
            ax.errorbar([r.value], [0], xerr=err,
                        fmt="o", color=colour[r.verdict], capsize=4, label="simulated")
        xs = [*t.band, t.published] + ([r.low, r.high] if math.isfinite(r.value) else [])
        span = max(xs) - min(xs) or 1.0
        ax.set_xlim(min(xs) - 0.15 * span, max(xs) + 0.15 * span)
        ax.set_yticks([])
        ax.set_title(f"{t.name}\n{r.verdict}", fontsize=7, color=colour[r.verdict])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("share (0-1)" if _is_share(t) else
                      "pain (0-10)" if t.measure == "mean_pain" else "ratio", fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=7)
    fig.suptitle("painsim validate: simulated (95% interval) vs published (band)",
                 fontsize=10)
    fig.text(0.5, 0.005, FOOTER, ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    return save_figure(fig, out, "validate")


def write_report(report: ValidationReport, out: str | Path, *,
                 force: bool = False) -> list[str]:
    """Write ``out/validate.csv``, ``out/validate.png`` (and ``.svg``) and
    ``manifest.json``; the folder appears only when complete, and an existing one is
    replaced only with ``force`` and only if it is painsim's
    (:func:`painsim.results.atomic_folder`, as for every results folder).
    """
    import pandas as pd

    from .results import DISCLAIMER, atomic_folder

    with atomic_folder(Path(out), force=force) as tmp:
        table = pd.DataFrame(_csv_rows(report), columns=list(_CSV_COLUMNS))
        table.insert(0, "note_model", DISCLAIMER)
        table.to_csv(tmp / "validate.csv", index=False, float_format="%.6g")
        files = ["validate.csv", *_figure(report, tmp), "manifest.json"]
        # the manifest marks the folder as painsim's: --force replaces only such folders
        (tmp / "manifest.json").write_text(json.dumps(
            {"painsim_validate": 1, "note": DISCLAIMER, "counts": report.counts,
             "files": files}, indent=2))
    return files
