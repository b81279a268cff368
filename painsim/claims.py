"""Claims as executable checks: a verdict matrix of claims × assumption sets.

An **assumption set** is one paired study: a cohort (all arms share its patients and
flare-ups) run under the standard arms (:data:`STANDARD_ARMS`), with model-parameter
and intervention overrides that encode one reading of the *mechanisms* (which pathways
are on or off, which parameters take which values and why — never values worked back
from the claim a set is meant to test). A **claim** is an id from ``claims.md``, the
sentence it encodes, the claim's own words that fix the observation window, and one or
more **observables** — a metric (:data:`METRICS`) of one arm, optionally minus another
arm, on all patients or a phenotype subset, read at the day(s) the window gives — each
with a pass band (a side may be open: ``inf`` / ``-inf``).

Verdicts use the interval, not only the point estimate (the same three-way rule as the
evidence suite, :func:`painsim.validate.verdict`):

* **holds**: the whole 95% interval lies inside the band (touching an edge from inside
  counts as inside: bands are closed);
* **fails**: the whole interval lies outside the band, or the value is undefined (e.g. a
  relapse rate when nobody reached relief);
* **undecided**: the interval straddles a band edge (a larger cohort may decide), or the
  value is defined but no interval could be computed.

A claim with several observables holds when all hold, fails when any fails, and is
undecided otherwise. Intervals are paired percentile bootstraps over patients.

Files: ``scenarios/claims/assumptions.toml`` (the sets) and one ``<id>.toml`` per claim.
"""

from __future__ import annotations

import itertools
import math
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import interventions as iv
from .cohort import PHENOTYPE_PRESETS, Cohort, with_parameters
from .engine import simulate
from .errors import ScenarioError, did_you_mean
from .outcomes import Outcomes, km_survival_at
from .painloop import PAIN_LOOP
from .protocols import Arm, Fixed, Protocol, Tapering
from .results import DISCLAIMER
from .scenario import TREATMENTS
from .validate import verdict as band_verdict

__all__ = ["CLAIM_WARNINGS", "METRICS", "STANDARD_ARMS", "TREATMENT_PLAUSIBLE",
           "UNTRACED_META_ANALYSIS", "VERDICTS", "VERDICT_SYMBOLS", "AssumptionSet", "Claim",
           "Metric", "Observable", "claim_verdict", "evaluate_claims", "format_value",
           "format_verdicts", "load_assumptions", "load_claims", "observable_value",
           "observable_verdict", "patients_table", "relapse_fraction", "standard_arms",
           "verdict_matrix", "write_verdicts"]

#: The warning that goes with claim 003-1 wherever its numbers are shown (claims output,
#: teaching report; the same text is the ``[calibration].note`` of ``003-1.toml``).
UNTRACED_META_ANALYSIS = (
    "No published 2022 meta-analysis matching this table could be traced; its numbers "
    "are treated as a claim to reproduce and question, not as evidence.")
#: Claim id -> warning shown with its verdicts.
CLAIM_WARNINGS: dict[str, str] = {"003-1": UNTRACED_META_ANALYSIS}

#: The three verdicts, in the order they are reported.
VERDICTS = ("holds", "fails", "undecided")
_WORDS = {"pass": "holds", "fail": "fails", "undecided": "undecided"}
#: Verdict -> the one-character mark shown in the verdict matrix (text and HTML).
VERDICT_SYMBOLS = {"holds": "+", "fails": "-", "undecided": "?"}
_BIG = float(np.finfo(float).max)

WEEKLY = Fixed(start_day=1, every_days=7, sessions=6)
_TREAT = {kind: factory for kind, (factory, _) in TREATMENTS.items()}
#: Day of the short-term reading of the fixed-window metrics (:data:`_SHORT_TERM`).
SHORT_TERM_DAY = 42.0
_SHORT_TERM = ("reduction_short_term", "responders_30pct", "satisfied")

_NONSPECIFIC_NEEDLING = (0.0, 0.3, "assumption: from none to a few times the value "
                         "fitted to GERAC's sham responders (painsim.interventions."
                         "NONSPECIFIC['needling'], the default when absent)")
_NONSPECIFIC_VISIT = (0.0, 0.1, "assumption: from none to a few times the value fitted "
                      "to GERAC's conventional-care responders (painsim.interventions."
                      "NONSPECIFIC['visit'], the default when absent)")

#: Plausible range of every treatment parameter, with its basis (used by calibration's
#: plausibility check; the allowed range is whatever the factory accepts).
TREATMENT_PLAUSIBLE: dict[str, dict[str, tuple[float, float, str]]] = {
    "dry_needling": {
        "release": (0.2, 0.95, "assumption: a session releases some, not all, guarding"),
        "soreness": (0.0, 0.5, "assumption: soreness is mild (Brady et al. 2014)"),
        "p_soreness": (0.02, 0.3, "Brady et al. 2014: mild adverse events of any kind in "
                       "19.2% of treatments; soreness is one of them"),
        "analgesia": (0.0, 2.0, "assumption"),
        "p_bruising": (0.01, 0.2, "Brady et al. 2014: bruising after 7.55% of 1,463 "
                       "treatments"),
        "nonspecific": _NONSPECIFIC_NEEDLING,
        "session_minutes": (1.0, 30.0, "assumption: 'flash' needling is brief (000-6)"),
    },
    "acupuncture": {
        "dose": (0.0, 0.2, "assumption: a small specific effect (GERAC, Haake et al. "
                 "2007: 47.6% verum vs 44.2% sham responders)"),
        "analgesia": (0.0, 2.0, "assumption"),
        "release": (0.0, 0.3, "assumption: a small local effect"),
        "p_bruising": (0.0143, 0.1795, "Baeumler et al. 2021: an adverse event of any kind "
                       "in 7.57% of treatments (95% CI 1.43-17.95%); bruising is one of "
                       "them"),
        "ae_clustering": (0.0, 0.99, "Baeumler et al. 2021: 9.31% of patients over a "
                          "series (95% CI 5.10-14.62%) given 7.57% of treatments needs "
                          "strong clustering; 0 is sessions independent"),
        "nonspecific": _NONSPECIFIC_NEEDLING,
        "session_minutes": (15.0, 40.0, "claim 000-6: needles retained 20-30 minutes"),
    },
    "sham": {
        "analgesia": (0.0, 2.0, "assumption"),
        "dose": (0.0, 0.1, "assumption: no more than a small systemic effect"),
        "nonspecific": _NONSPECIFIC_NEEDLING,
        "session_minutes": (5.0, 40.0, "assumption"),
    },
    "exercise": {
        "tension_baseline_factor": (0.85, 1.0, "assumption: a few % per session"),
        "arousal_baseline_factor": (0.85, 1.0, "assumption: a few % per session"),
        "dose": (0.0, 0.1, "assumption: exercise-induced hypoalgesia is small"),
        "nonspecific": _NONSPECIFIC_VISIT,
        "session_minutes": (20.0, 90.0, "assumption"),
    },
    "usual_care": {
        "dose": (0.0, 0.05, "assumption: advice and reassurance have a small effect"),
        "nonspecific": _NONSPECIFIC_VISIT,
        "session_minutes": (5.0, 30.0, "assumption"),
    },
}


#: State that the non-specific effect of a visit adds to (painsim.interventions).


def _one_visit(*parts: iv.Intervention) -> iv.Intervention:
    """Several interventions in one visit: :func:`painsim.interventions.combine`, which
    applies the visit's non-specific effect once (claims 001-4 and 003-6)."""
    return iv.combine(*parts)


def standard_arms(treatments: dict[str, dict[str, float]] | None = None) -> list[Arm]:
    """The arms every assumption set runs (:data:`STANDARD_ARMS`), with their treatments.

    Parameters
    ----------
    treatments : dict, optional
        Treatment kind (a key of :data:`painsim.scenario.TREATMENTS`) -> keyword
        overrides of its factory (e.g. ``{"acupuncture": {"r_kick": 0.3}}``); a kind left
        out takes its defaults.

    Returns
    -------
    list of Arm
        ``none``, ``sham``, the single treatments weekly x 6 from day 1, a combination,
        tapering, maintenance (4 visits 28 days apart from day 64) and exercise arms.

    Examples
    --------
    >>> [a.name for a in standard_arms()][:3]
    ['none', 'sham', 'dry needling']
    """
    tp = treatments or {}

    def make(kind: str) -> iv.Intervention:
        return _TREAT[kind](**tp.get(kind, {}))

    def arm(name: str, intervention: Any, schedule: Any = WEEKLY, **kw: Any) -> Arm:
        return Arm(name=name, protocol=Protocol(intervention=intervention,
                                                schedule=schedule, **kw))

    dn, acu, ex = make("dry_needling"), make("acupuncture"), make("exercise")
    maint = Fixed(start_day=28, every_days=28, sessions=4)  # days 64, 92, 120, 148
    return [
        Arm(name="none"),
        arm("sham", make("sham")),
        arm("dry needling", dn),
        arm("acupuncture", acu),
        arm("combination", _one_visit(acu, dn)),
        arm("acupuncture tapering", acu, Tapering(start_day=1, every_days=3.5, sessions=6)),
        arm("acupuncture + maintenance", acu, maintenance=maint),
        arm("dry needling + maintenance", dn, maintenance=maint),
        arm("exercise", ex),
        arm("dry needling + exercise", _one_visit(dn, ex)),
    ]


#: Arms every assumption set runs (weekly × 6 from day 1, last visit day 36, unless
#: named otherwise; maintenance: 4 visits 28 days apart from day 64).
STANDARD_ARMS = tuple(a.name for a in standard_arms())


class _Table:
    """A patients table as numpy columns: the bootstrap resamples rows thousands of times,
    and a DataFrame's row selection and reductions cost ~1 ms each."""

    def __init__(self, cols: dict[str, np.ndarray]) -> None:
        self._cols = cols

    @classmethod
    def of(cls, df: pd.DataFrame) -> _Table:
        return cls({c: df[c].to_numpy() for c in df.columns})

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._cols[key]
        return _Table({c: v[key] for c, v in self._cols.items()})

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0


def _mean(x: Any) -> float:
    """Mean skipping NaN (as pandas does); NaN when nothing is left."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def relapse_fraction(p: pd.DataFrame | _Table, window: float) -> float:
    """Kaplan–Meier fraction relapsed by ``window`` days after relief.

    Parameters
    ----------
    p : pandas.DataFrame
        Patients table of one arm (:attr:`painsim.SimulationResult.patients` rows), with
        ``relief``, ``relapse`` and ``days_relief_to_relapse_or_censor``.
    window : float
        Days after relief at which the curve is read.

    Returns
    -------
    float
        Fraction (0–1) of the relieved patients relapsed by then, censoring counted
        (NaN when nobody reached relief).
    """
    rel = p[np.asarray(p.relief, dtype=bool)]
    return 1.0 - km_survival_at(rel.days_relief_to_relapse_or_censor, rel.relapse, window)


def _relieved_by(p: pd.DataFrame | _Table, day: float) -> np.ndarray:
    return np.asarray(p.relief, dtype=bool) & (np.asarray(p.days_to_relief) <= day)


def _sessions_within(p: pd.DataFrame, day: float) -> np.ndarray:
    """Sessions to relief, +inf for patients without relief by ``day``."""
    return np.where(_relieved_by(p, day), p.sessions_to_relief, np.inf)


def _median_sessions(p: pd.DataFrame, o: Observable) -> float:
    x = _sessions_within(p, o.day)
    return float(np.median(x)) if x.size else math.nan


def _iqr_sessions(p: pd.DataFrame, o: Observable) -> float:
    x = np.asarray(p.sessions_to_relief, dtype=float)[_relieved_by(p, o.day)]
    return float(np.subtract(*np.percentile(x, [75, 25]))) if x.size else math.nan


def _durable(p: pd.DataFrame, o: Observable) -> float:
    by = o.relief_by if o.relief_by is not None else o.day
    relapsed = np.asarray(p.relapse, dtype=bool) & (np.asarray(p.relapse_day) <= o.day)
    return _mean(_relieved_by(p, by) & ~relapsed)


def _reduction(p: pd.DataFrame, o: Observable) -> float:
    col = _pain_column(o)
    return -_mean(np.asarray(p[col]) - np.asarray(p.baseline_pain))


def _pain_column(o: Observable) -> str:
    if o.days:
        return f"pain_mean_{o.days[0]:g}_{o.days[1]:g}"
    return f"pain_day_{o.day:g}"


def _events_by(p: pd.DataFrame, what: str, o: Observable) -> float:
    col = f"n_{what}" if o.day is None else f"n_{what}_by_{o.day:g}"
    return _mean(np.asarray(p[col]) > 0)


@dataclass(frozen=True)
class Metric:
    """A metric of one arm's patients table.

    Attributes
    ----------
    fn : callable
        ``fn(patients, observable) -> float``.
    higher_is_better : bool
        Direction (for reading differences).
    unit : str
        Unit of the value.
    needs : tuple of str
        Observable fields the metric requires (``"day"``, ``"day|days"``,
        ``"sessions"``).
    doc : str
        What the metric is, in words.
    """

    fn: Callable[[pd.DataFrame, Observable], float]
    higher_is_better: bool
    unit: str
    needs: tuple[str, ...]
    doc: str


#: Metric name -> :class:`Metric`. Metrics with ``day`` in ``needs`` are read at the day
#: the claim's window gives; the fixed-window ones are kept for claim 003-1's table
#: (short-term = day 42, the end of the weekly course plus a week; relapse within 90 days).
METRICS: dict[str, Metric] = {
    "reduction": Metric(
        _reduction, True, "points", ("day|days",),
        "mean pain reduction from baseline at `day`, or averaged over days `days`"),
    "reduction_short_term": Metric(
        lambda p, o: -_mean(p.change_short_term), True, "points", (),
        "mean pain reduction from baseline at day 42"),
    "responders_30pct": Metric(
        lambda p, o: _mean(p.responder_pct), True, "fraction", (),
        "share with >= 30% reduction at day 42"),
    "satisfied": Metric(
        lambda p, o: _mean(p.satisfied), True, "fraction", (),
        "share with >= 1.5 points reduction at day 42"),
    "relief": Metric(
        lambda p, o: _mean(_relieved_by(p, o.day)), True, "fraction", ("day",),
        "share with relief (>= 30% below baseline for >= 1 day) reached by `day`"),
    "relief_by_session": Metric(
        lambda p, o: _mean(_sessions_within(p, o.day) <= o.sessions), True,
        "fraction", ("day", "sessions"),
        "share with relief by `day` after at most `sessions` sessions"),
    "median_sessions_to_relief": Metric(
        _median_sessions, False, "sessions", ("day",),
        "median sessions to relief, counting patients without relief by `day` as never "
        "(inf when fewer than half reach it)"),
    "sessions_to_relief_iqr": Metric(
        _iqr_sessions, True, "sessions", ("day",),
        "interquartile range of sessions to relief among patients relieved by `day`"),
    "relapse": Metric(
        lambda p, o: relapse_fraction(p, o.day), False, "fraction", ("day",),
        "Kaplan-Meier share relapsed `day` days after relief (undefined without relief)"),
    "relapse_90d": Metric(
        lambda p, o: relapse_fraction(p, 90.0), False, "fraction", (),
        "Kaplan-Meier share relapsed 90 days after relief"),
    "durable_response": Metric(
        _durable, True, "fraction", ("day",),
        "share with relief by `relief_by` (default `day`) and no relapse by `day`"),
    "patients_with_soreness": Metric(
        lambda p, o: _events_by(p, "soreness", o), False, "fraction", (),
        "share with >= 1 soreness event (by `day` if given)"),
    "patients_with_bruising": Metric(
        lambda p, o: _events_by(p, "bruising", o), False, "fraction", (),
        "share with >= 1 bruising event (by `day` if given)"),
}


@dataclass(frozen=True)
class Observable:
    """A metric of an arm (minus another arm), on a phenotype subset, with a pass band.

    Attributes
    ----------
    metric : str
        One of :data:`METRICS`.
    arm, minus : str
        Arm read, and the arm subtracted (paired), from :data:`STANDARD_ARMS`.
    band : tuple of float
        Closed pass band; a side may be infinite (open).
    phenotypes : tuple of str
        Phenotype subset (empty: all patients).
    day : float or None
        Day (whole) the metric is read at; for ``relapse``, days after relief.
    days : tuple of float
        ``(first, last)`` day of a window the metric is averaged over.
    sessions : int or None
        For ``relief_by_session``.
    relief_by : float or None
        For ``durable_response``: relief must be reached by this day.
    """

    metric: str
    arm: str
    band: tuple[float, float]
    minus: str | None = None
    phenotypes: tuple[str, ...] = ()
    day: float | None = None
    days: tuple[float, ...] = ()
    sessions: int | None = None
    relief_by: float | None = None

    def window(self) -> str:
        """The observation window in words ('' when the metric has a fixed one)."""
        if self.days:
            w = f"days {self.days[0]:g}-{self.days[1]:g}"
        elif self.day is None:
            return ""
        elif self.metric == "relapse":
            w = f"{self.day:g} d after relief"
        else:
            w = f"by day {self.day:g}" if self.metric != "reduction" else f"day {self.day:g}"
        if self.sessions is not None:
            w = f"<= {self.sessions} sessions, {w}"
        if self.relief_by is not None:
            w = f"relief by day {self.relief_by:g}, no relapse by day {self.day:g}"
        return w

    def describe(self) -> str:
        """The observable in one line: ``metric(arm[, window]) - metric(minus) in [lo, hi]``."""
        who = f" [{', '.join(self.phenotypes)}]" if self.phenotypes else ""
        w = self.window()
        w = f", {w}" if w else ""
        d = f"{self.metric}({self.arm}{w})" + (f" - {self.metric}({self.minus}{w})"
                                               if self.minus else "")
        return f"{d}{who} in [{self.band[0]:g}, {self.band[1]:g}]"


@dataclass(frozen=True)
class Claim:
    """A claim from ``claims.md`` as an executable check (or the reason it cannot be).

    Attributes
    ----------
    id, source, quote : str
        Claim id, seed, and the claim's words.
    observables : tuple of Observable
        What must hold (all of them).
    not_expressible : str
        Why the claim cannot be checked (instead of observables).
    path : str
        The claim file.
    window_quote : str
        The claim's own words that fix the observation window ('' if it has none).
    window : str
        How those words are read as days.
    construction : str
        Why the claim cannot hold (or pass) by construction of the model, if so.
    """

    id: str
    source: str
    quote: str
    observables: tuple[Observable, ...] = ()
    not_expressible: str = ""
    path: str = ""
    window_quote: str = ""
    window: str = ""
    construction: str = ""

    @property
    def warning(self) -> str:
        """A warning that goes with the claim's numbers (:data:`CLAIM_WARNINGS`)."""
        return CLAIM_WARNINGS.get(self.id, "")


@dataclass(frozen=True)
class AssumptionSet:
    """One reading of the mechanisms: cohort mix, parameter and intervention overrides.

    Attributes
    ----------
    name, description : str
        Name, and the set in one line.
    parameters : dict
        Model-parameter overrides (all phenotypes).
    treatments : dict
        Intervention-parameter overrides, per treatment.
    mix : dict
        Phenotype mix of the cohort.
    mechanism : str
        Which pathways are on or off and why the values are what they are.
    """

    name: str
    description: str
    parameters: dict[str, float] = field(default_factory=dict)
    treatments: dict[str, dict[str, float]] = field(default_factory=dict)
    mix: dict[str, float] = field(default_factory=dict)
    mechanism: str = ""


def _fail(path: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{path}: {msg}", file=path)


_SET_KEYS = ("name", "description", "mechanism", "parameters", "treatments", "mix")


def load_assumptions(path: str | Path) -> list[AssumptionSet]:
    """Read the assumption sets file (``[[set]]`` tables); validates names and values.

    Every set needs a ``mechanism``: the pathways it turns on or off and the basis of
    each value.
    """
    p = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(p, f"cannot read assumption sets: {exc}") from None
    out = []
    for i, s in enumerate(data.get("set", [])):
        for k in s:
            if k not in _SET_KEYS:
                raise _fail(p, f"set[{i}].{k}: unknown key" + did_you_mean(k, _SET_KEYS))
        if not str(s.get("mechanism", "")).strip():
            raise _fail(p, f"set[{i}] ({s.get('name', '?')}).mechanism: required text (which "
                        "pathways are on or off, and the basis of each value)")
        params = s.get("parameters", {})
        try:
            PAIN_LOOP.params(**params)
            for kind, kw in s.get("treatments", {}).items():
                if kind not in _TREAT:
                    raise _fail(p, f"set[{i}].treatments.{kind}: unknown treatment; "
                                f"allowed: {', '.join(_TREAT)}")
                _TREAT[kind](**kw)
            mix = s.get("mix", {"acute_strain": 0.25, "recurrent": 0.25,
                                "chronic_sensitized": 0.25, "stress_driven": 0.25})
            Cohort(n=1, mix=mix)
        except (ValueError, TypeError) as exc:
            raise _fail(p, f"set[{i}] ({s.get('name', '?')}): {exc}") from None
        out.append(AssumptionSet(name=s["name"], description=s.get("description", ""),
                                 parameters=params, treatments=s.get("treatments", {}),
                                 mix=mix, mechanism=" ".join(str(s["mechanism"]).split())))
    if not out:
        raise _fail(p, "no [[set]] tables")
    return out


_OBS_KEYS = ("metric", "arm", "minus", "phenotypes", "band", "day", "days", "sessions",
             "relief_by")


def _observable(p: str, j: int, o: dict[str, Any]) -> Observable:
    where = f"observable[{j}]"
    for k in o:
        if k not in _OBS_KEYS:
            raise _fail(p, f"{where}.{k}: unknown key" + did_you_mean(k, _OBS_KEYS))
    if o.get("metric") not in METRICS:
        raise _fail(p, f"{where}.metric: {o.get('metric')!r}; allowed: " + ", ".join(METRICS)
                    + did_you_mean(str(o.get("metric")), tuple(METRICS)))
    m = METRICS[o["metric"]]
    if "arm" not in o:
        raise _fail(p, f"{where}.arm: required")
    for k in ("arm", "minus"):
        if k in o and o[k] not in STANDARD_ARMS:
            raise _fail(p, f"{where}.{k}: {o[k]!r}; allowed: " + ", ".join(STANDARD_ARMS)
                        + did_you_mean(str(o[k]), STANDARD_ARMS))
    for ph in o.get("phenotypes", []):
        if ph not in PHENOTYPE_PRESETS:
            raise _fail(p, f"{where}.phenotypes: {ph!r}; allowed: "
                        + ", ".join(PHENOTYPE_PRESETS))
    band = o.get("band")
    if not (isinstance(band, list) and len(band) == 2
            and all(isinstance(b, int | float) and not math.isnan(b) for b in band)
            and band[0] <= band[1]):
        raise _fail(p, f"{where}.band: need [low, high] (a side may be inf or -inf), got "
                    f"{band!r}")
    for k in ("day", "relief_by"):
        if k in o and not (isinstance(o[k], int | float) and 0 <= o[k] <= 36500
                           and float(o[k]).is_integer()):
            raise _fail(p, f"{where}.{k}: {o[k]!r}; need a whole day in [0, 36500]")
    days = o.get("days", [])
    if days and not (isinstance(days, list) and len(days) == 2
                     and all(isinstance(d, int) and d >= 0 for d in days)
                     and days[0] <= days[1]):
        raise _fail(p, f"{where}.days: need [first, last] whole days, got {days!r}")
    if "sessions" in o and not (isinstance(o["sessions"], int) and o["sessions"] >= 1):
        raise _fail(p, f"{where}.sessions: {o['sessions']!r}; need a whole number >= 1")
    for need in m.needs:
        keys = need.split("|")
        if not any(k in o for k in keys):
            raise _fail(p, f"{where}: metric {o['metric']!r} needs "
                        + " or ".join(repr(k) for k in keys)
                        + " (the window the claim's words give)")
    if "day" in o and "days" in o:
        raise _fail(p, f"{where}: give 'day' or 'days', not both")
    if "relief_by" in o and "day" in o and o["relief_by"] > o["day"]:
        raise _fail(p, f"{where}.relief_by: {o['relief_by']!r} is after day {o['day']!r}")
    for k, ok in (("days", "day|days" in m.needs), ("sessions", "sessions" in m.needs),
                  ("relief_by", o["metric"] == "durable_response")):
        if k in o and not ok:
            raise _fail(p, f"{where}.{k}: not used by metric {o['metric']!r}")
    if "day" in o and not m.needs and not o["metric"].startswith("patients_with_"):
        raise _fail(p, f"{where}.day: metric {o['metric']!r} has a fixed window; use a "
                    "windowed metric (" + ", ".join(k for k, v in METRICS.items()
                                                    if v.needs) + ")")
    return Observable(metric=o["metric"], arm=o["arm"], band=(float(band[0]), float(band[1])),
                      minus=o.get("minus"), phenotypes=tuple(o.get("phenotypes", [])),
                      day=float(o["day"]) if "day" in o else None,
                      days=tuple(float(d) for d in days),
                      sessions=o.get("sessions"),
                      relief_by=float(o["relief_by"]) if "relief_by" in o else None)


_CLAIM_KEYS = ("id", "source", "quote", "window", "observable", "not_expressible",
               "construction", "calibration")


def load_claims(paths: Sequence[str | Path]) -> list[Claim]:
    """Read claim files; every observable's metric, window, arms and phenotypes are checked.

    A claim with observables needs a ``[window]`` table: ``quote`` (the claim's words that
    fix the window, or ``""`` when its words give none) and ``reading`` (how they are
    read as days).
    """
    claims = []
    for path in paths:
        p = str(path)
        try:
            d = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise _fail(p, f"cannot read claim: {exc}") from None
        for key in d:
            if key not in _CLAIM_KEYS:
                raise _fail(p, f"{key}: unknown key" + did_you_mean(key, _CLAIM_KEYS))
        for key in ("id", "source", "quote"):
            if not isinstance(d.get(key), str):
                raise _fail(p, f"{key}: required text")
        obs = [_observable(p, j, o) for j, o in enumerate(d.get("observable", []))]
        if not obs and not d.get("not_expressible"):
            raise _fail(p, "needs [[observable]] tables or a not_expressible reason")
        win = d.get("window", {})
        if obs and not (isinstance(win, dict) and isinstance(win.get("quote"), str)
                        and isinstance(win.get("reading"), str) and win["reading"].strip()):
            raise _fail(p, "window: need a [window] table with quote (the claim's words "
                        "that fix the window, \"\" if none) and reading (how they are read "
                        "as days)")
        claims.append(Claim(id=d["id"], source=d["source"], quote=d["quote"],
                            observables=tuple(obs),
                            not_expressible=d.get("not_expressible", ""), path=p,
                            window_quote=win.get("quote", "") if obs else "",
                            window=" ".join(str(win.get("reading", "")).split()),
                            construction=" ".join(str(d.get("construction", "")).split())))
    return claims


def observable_verdict(value: float, low: float, high: float,
                       band: tuple[float, float]) -> str:
    """Verdict of one observable: ``"holds"``, ``"fails"`` or ``"undecided"``.

    The interval decides, by :func:`painsim.validate.verdict` (the evidence suite's rule):
    inside the band -> holds, outside -> fails, straddling an edge -> undecided. An
    undefined value (NaN) fails; a defined value without an interval is undecided.
    Infinite interval ends (e.g. a median of sessions that is "never") are compared as
    the largest finite numbers, so a band open on that side can still contain them.

    Examples
    --------
    >>> observable_verdict(0.5, 0.45, 0.55, (0.4, 0.6))
    'holds'
    >>> observable_verdict(0.5, 0.35, 0.55, (0.4, 0.6))
    'undecided'
    >>> observable_verdict(0.2, 0.1, 0.3, (0.4, float("inf")))
    'fails'
    """
    if math.isnan(value):
        return "fails"
    if math.isnan(low) or math.isnan(high):
        return "undecided"
    lo, hi = (min(max(float(x), -_BIG), _BIG) for x in (low, high))
    return _WORDS[band_verdict(lo, hi, band)]


def claim_verdict(verdicts: Sequence[str]) -> str:
    """A claim's verdict from its observables': fails if any fails, holds if all hold.

    Examples
    --------
    >>> claim_verdict(["holds", "undecided"]), claim_verdict(["undecided", "fails"])
    ('undecided', 'fails')
    """
    if not verdicts:
        return "undecided"
    if "fails" in verdicts:
        return "fails"
    return "holds" if all(v == "holds" for v in verdicts) else "undecided"


def patients_table(result: Any, horizon: float, days: Sequence[float] = (),
                   windows: Sequence[tuple[float, float]] = (),
                   event_days: Sequence[float] = ()) -> pd.DataFrame:
    """The patients table with what the metrics (:data:`METRICS`) read.

    Parameters
    ----------
    result : SimulationResult
        A run of (some of) the standard arms.
    horizon : float
        Its follow-up, days (``pain_day_end`` is read there).
    days : sequence of float
        Days at which pain (0–10) is added as ``pain_day_<d>``.
    windows : sequence of (float, float)
        ``(first, last)`` days whose mean pain is added as ``pain_mean_<a>_<b>``.
    event_days : sequence of float
        Days by which adverse-event counts are added as ``n_<what>_by_<d>`` (the counts
        over the whole follow-up, ``n_soreness`` and ``n_bruising``, always are).

    Returns
    -------
    pandas.DataFrame
        ``result.patients`` with those columns added.
    """
    p = result.patients.copy()
    ev = result.events[result.events.kind == "adverse event"]
    for what in ("soreness", "bruising"):
        e = ev[ev.detail == what]
        for d in (None, *event_days):
            sel = e if d is None else e[e.day <= d]
            counts = sel.groupby(["arm", "patient"]).size()
            col = f"n_{what}" if d is None else f"n_{what}_by_{d:g}"
            p[col] = [counts.get((a, i), 0) for a, i in zip(p.arm, p.patient, strict=True)]
    end = int(horizon)
    p["pain_day_end"] = np.concatenate([result.pain[a][:, end] for a in result.arms])
    for d in days:
        p[f"pain_day_{d:g}"] = np.concatenate([result.pain[a][:, int(d)]
                                               for a in result.arms])
    for a_, b_ in windows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN after dropout
            p[f"pain_mean_{a_:g}_{b_:g}"] = np.concatenate(
                [np.nanmean(result.pain[a][:, int(a_):int(b_) + 1], axis=1)
                 for a in result.arms])
    return p


def _tables(p: pd.DataFrame, o: Observable) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The observable's arm (and ``minus`` arm) tables, rows in the same patient order."""
    sub = p[p.phenotype.isin(o.phenotypes)] if o.phenotypes else p

    def arm(name: str) -> pd.DataFrame:
        return sub[sub.arm == name].sort_values("patient").reset_index(drop=True)

    return arm(o.arm), (arm(o.minus) if o.minus else None)


def _metric(o: Observable, a: pd.DataFrame | _Table, b: pd.DataFrame | _Table | None) -> float:
    f = METRICS[o.metric].fn
    return float(f(a, o) - (f(b, o) if b is not None else 0.0))


def observable_value(patients: pd.DataFrame, o: Observable) -> float:
    """The point value of an observable: its metric on ``o.arm`` minus on ``o.minus``.

    Parameters
    ----------
    patients : pandas.DataFrame
        A :func:`patients_table` holding the observable's arms.
    o : Observable
        What is read (metric, arms, phenotype subset, day).

    Returns
    -------
    float
        The value, in the metric's unit (:attr:`Metric.unit`); NaN where undefined.
    """
    return _metric(o, *_tables(patients, o))


#: Columns of the patients table the metrics read (the rest is dropped before the
#: bootstrap, which copies rows many times).
_USED = ("arm", "patient", "phenotype", "baseline_pain", "change_short_term",
         "responder_pct", "satisfied", "relief", "days_to_relief", "sessions_to_relief",
         "relapse", "relapse_day", "days_relief_to_relapse_or_censor")
_USED_PREFIXES = ("pain_day_", "pain_mean_", "n_soreness", "n_bruising")


def _needs(claims: Sequence[Claim], horizon: float) -> tuple[list[float],
                                                              list[tuple[float, float]],
                                                              list[float]]:
    days, windows, ev = set(), set(), set()
    for c in claims:
        for o in c.observables:
            last = max([*(o.days or ()), *(() if o.day is None or o.metric == "relapse"
                                           else (o.day,)), 0.0,
                        SHORT_TERM_DAY if o.metric in _SHORT_TERM else 0.0])
            if last > horizon:
                raise _fail(c.path, f"{o.describe()}: reads day {last:g}, after the "
                            f"horizon ({horizon:g} days)")
            if o.metric == "reduction":
                (windows.add((o.days[0], o.days[1])) if o.days else days.add(o.day))
            elif o.metric.startswith("patients_with_") and o.day is not None:
                ev.add(o.day)
    return sorted(days), sorted(windows), sorted(ev)


def evaluate_claims(claims: Sequence[Claim], sets: Sequence[AssumptionSet], *,
                    patients: int = 200, seed: int = 2026, horizon_days: float = 270.0,
                    n_boot: int = 200, workers: int = 1, backend: str = "numpy",
                    progress: Callable[[int, int], None] | None = None,
                    executor: Any = None) -> pd.DataFrame:
    """Run each assumption set once (all standard arms, one paired cohort) and check
    every observable of every claim.

    Parameters
    ----------
    claims, sets : sequence
        Claims (from :func:`load_claims`) and assumption sets.
    patients, seed : int
        Cohort size and seed (every set draws the same patients).
    horizon_days : float
        Follow-up, days; every observable's window must end by then.
    n_boot : int
        Paired bootstrap resamples for the 95% intervals.
    workers : int
        Worker processes for the simulation.
    backend : {"numpy", "numba"}
        Solver backend.
    progress : callable, optional
        ``progress(done, total)`` after each assumption set (its simulation and every
        claim's check), ``total = len(sets)``.
    executor : distributed.Client, optional
        Run the simulations' chunks on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.

    Returns
    -------
    pandas.DataFrame
        One row per claim, set and observable: ``value``, ``ci_low``, ``ci_high``,
        ``verdict`` (:data:`VERDICTS`), ``holds`` (``verdict == "holds"``), ``defined``.
    """
    rows = []
    days, windows, ev_days = _needs(claims, horizon_days)
    outcomes = Outcomes(short_term_day=float(min(SHORT_TERM_DAY, math.floor(horizon_days))),
                        report_days=tuple(d for d in (2.0, 7.0) if d <= horizon_days))
    for done, s in enumerate(sets, 1):
        cohort = Cohort(n=patients, seed=seed, mix=s.mix,
                        phenotypes=with_parameters(PHENOTYPE_PRESETS, s.parameters))
        res = simulate(standard_arms(s.treatments), cohort, horizon_days, outcomes=outcomes,
                       workers=workers, backend=backend, executor=executor)
        p = patients_table(res, horizon_days, days, windows, ev_days)
        p = p[[c for c in p.columns if c in _USED or c.startswith(_USED_PREFIXES)]]
        rng = np.random.default_rng([seed, 99])
        for c in claims:
            for j, o in enumerate(c.observables):
                a_, b_ = _tables(p, o)
                a, b = _Table.of(a_), (None if b_ is None else _Table.of(b_))
                v = _metric(o, a, b) if len(a) else math.nan  # no patient of the subset
                boots = []
                for _ in range(n_boot if len(a) else 0):  # paired: the same patients
                    idx = rng.integers(0, len(a), len(a))
                    boots.append(_metric(o, a[idx], None if b is None else b[idx]))
                bs = np.array(boots, dtype=float)
                bs = np.clip(bs[~np.isnan(bs)], -_BIG, _BIG)  # "never" (inf) stays ordered
                lo, hi = (np.where(np.abs(q := np.quantile(bs, [0.025, 0.975])) > 1e300,
                                   np.copysign(np.inf, q), q) if bs.size > 10
                          else (math.nan, math.nan))
                verdict = observable_verdict(v, float(lo), float(hi), o.band)
                rows.append({"claim": c.id, "set": s.name, "observable": j,
                             "what": o.describe(), "value": v, "ci_low": float(lo),
                             "ci_high": float(hi), "verdict": verdict,
                             "holds": verdict == "holds", "defined": not math.isnan(v)})
        if progress is not None:
            progress(done, len(sets))
    return pd.DataFrame(rows)


def verdict_matrix(claims: Sequence[Claim], sets: Sequence[AssumptionSet],
                   table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Claim id -> set name -> claim verdict (checkable claims only)."""
    return {c.id: {s.name: claim_verdict(list(table[(table.claim == c.id)
                                                    & (table.set == s.name)].verdict))
                   for s in sets}
            for c in claims if not c.not_expressible}


def format_value(r: Any) -> str:
    """One row of :func:`evaluate_claims`' table as ``value [low, high]`` (2 decimals in
    the metric's unit), or ``undefined``."""
    if not r.defined:
        return "undefined"
    return f"{r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"


def format_verdicts(claims: Sequence[Claim], sets: Sequence[AssumptionSet],
                    table: pd.DataFrame) -> str:
    """The verdict matrix, the claims that hold nowhere, and the contradictions."""
    names = [s.name for s in sets]
    lines = ["Verdicts: claim x assumption set (value [95% interval]; + holds: the interval "
             "lies in the band, - fails: it lies outside or the value is undefined, "
             "? undecided: it straddles a band edge)", ""]
    matrix = verdict_matrix(claims, sets, table)
    width = max(len(n) for n in names)
    for c in claims:
        if c.not_expressible:
            lines.append(f"{c.id}  not expressible: {c.not_expressible}")
            continue
        t = table[table.claim == c.id]
        lines.append(f"{c.id}  \"{c.quote}\"")
        if c.warning:
            lines.append(f"   WARNING: {c.warning}")
        lines.append(f"   window: {c.window}"
                     + (f" (\"{c.window_quote}\")" if c.window_quote else ""))
        if c.construction:
            lines.append(f"   by construction: {c.construction}")
        for s in names:
            ts = t[t.set == s]
            v = matrix[c.id][s]
            vals = "; ".join(format_value(r) for r in ts.itertuples())
            lines.append(f"   {VERDICT_SYMBOLS[v]} {s:<{width}}  {v:<9}  {vals}")
        lines.append("   " + " AND ".join(o.describe() for o in c.observables))
    lines += ["", "Assumption sets (mechanisms):"]
    for s in sets:
        lines.append(f"  {s.name}: {s.description}")
        if s.mechanism:
            lines.append(f"      mechanism: {s.mechanism}")
    failing = [c for c, m in matrix.items() if all(v == "fails" for v in m.values())]
    open_ = [c for c, m in matrix.items() if "holds" not in m.values() and c not in failing]
    lines += ["", "Claims that fail under every assumption set tried: "
              + (", ".join(failing) or "none"),
              "Claims that hold under none but are undecided somewhere: "
              + (", ".join(open_) or "none")]
    never, together, undecided = [], [], []
    somewhere = [c for c, m in matrix.items() if "holds" in m.values()]
    for a, b in itertools.combinations(somewhere, 2):
        both = {s for s in names if matrix[a][s] == matrix[b][s] == "holds"}
        if both:
            together.append((a, b, both))
        elif all("fails" in (matrix[a][s], matrix[b][s]) for s in names):
            never.append((a, b))
        else:
            undecided.append((a, b))
    lines += ["", "Contradictions: pairs that each hold somewhere but, under every set, "
              "one of them fails:"]
    lines += [f"  {a} vs {b}" for a, b in never] or ["  none"]
    lines += ["", "Pairs that hold somewhere but never together, where undecided verdicts "
              "leave it open (a larger cohort may decide):"]
    lines += [f"  {a} vs {b}" for a, b in undecided] or ["  none"]
    lines += ["", "Pairs that can hold together (under):"]
    lines += [f"  {a} & {b}: {', '.join(sorted(c))}" for a, b, c in together] or ["  none"]
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def _plain(v: Any) -> Any:
    """A table cell as JSON: NaN -> None, ±inf -> "inf"/"-inf", NumPy scalars -> Python."""
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def write_verdicts(claims: Sequence[Claim], sets: Sequence[AssumptionSet],
                   table: pd.DataFrame, out: str | Path, *, force: bool = False,
                   settings: dict[str, Any] | None = None) -> list[str]:
    """Write the verdicts as data into the folder ``out``, atomically.

    Files: ``verdict_matrix.csv`` (one row per claim, one column per assumption set:
    ``holds``, ``fails``, ``undecided`` or ``not expressible``), ``verdicts.csv`` (one
    row per claim, set and observable: value and its 95% interval, verdict),
    ``verdicts.json`` (both, with the claims' words and windows, the sets' mechanisms
    and ``settings``; an undefined value is ``null``, an unbounded one ``"inf"`` or
    ``"-inf"``) and ``verdicts.txt`` (:func:`format_verdicts`).

    Parameters
    ----------
    claims, sets, table
        As given to and returned by :func:`evaluate_claims`.
    out : str or Path
        Folder to create (replaced only with ``force``).
    settings : dict, optional
        How the verdicts were made (cohort size, seed, ...), kept in the JSON.

    Returns
    -------
    list of str
        The files written.
    """
    import json

    from .results import atomic_folder

    names = [s.name for s in sets]
    matrix = verdict_matrix(claims, sets, table)
    rows = [{"claim": c.id, **(matrix[c.id] if c.id in matrix else
                               dict.fromkeys(names, "not expressible"))} for c in claims]
    doc = {
        "note": DISCLAIMER, "settings": dict(settings or {}),
        "verdicts": list(VERDICTS),
        "sets": [{"name": s.name, "description": s.description, "mechanism": s.mechanism}
                 for s in sets],
        "claims": [{"id": c.id, "source": c.source, "quote": c.quote, "window": c.window,
                    "not_expressible": c.not_expressible or None,
                    "verdicts": matrix.get(c.id),
                    "observables": [{k: _plain(v) for k, v in r.items() if k != "claim"}
                                    for r in table[table.claim == c.id].to_dict("records")]}
                   for c in claims],
    }
    with atomic_folder(Path(out), force=force) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "verdict_matrix.csv", index=False)
        table.to_csv(tmp / "verdicts.csv", index=False, float_format="%.6g")
        (tmp / "verdicts.json").write_text(json.dumps(doc, indent=2, allow_nan=False)
                                           + "\n")
        (tmp / "verdicts.txt").write_text(format_verdicts(claims, sets, table) + "\n")
    return ["verdict_matrix.csv", "verdicts.csv", "verdicts.json", "verdicts.txt"]
