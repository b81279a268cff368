"""Claims as executable checks: a verdict matrix of claims × assumption sets.

An **assumption set** is one paired study: a cohort (all arms share its patients and
flare-ups) run under the standard arms (:data:`STANDARD_ARMS`), with model-parameter
and intervention overrides that encode one reading of the mechanisms. A **claim** is an
id from ``claims.md``, the sentence it encodes, and one or more **observables** — a
metric (:data:`METRICS`) of one arm, optionally minus another arm, on all patients or a
phenotype subset — each with a pass band. A claim *holds* under an assumption set when
every observable's point estimate lies in its band; intervals are percentile bootstraps
over patients.

Files: ``scenarios/claims/assumptions.toml`` (the sets) and one ``<id>.toml`` per claim.
"""

from __future__ import annotations

import itertools
import math
import tomllib
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
from .outcomes import Outcomes, _km_at
from .painloop import PAIN_LOOP
from .protocols import Arm, Fixed, Protocol, Tapering
from .scenario import TREATMENTS

__all__ = ["METRICS", "STANDARD_ARMS", "AssumptionSet", "Claim", "Observable",
           "evaluate_claims", "format_verdicts", "load_assumptions", "load_claims"]

WEEKLY = Fixed(start_day=1, every_days=7, sessions=6)
_TREAT = {kind: factory for kind, (factory, _) in TREATMENTS.items()}


def _arms(tp: dict[str, dict[str, float]]) -> list[Arm]:
    def make(kind: str) -> iv.Intervention:
        return _TREAT[kind](**tp.get(kind, {}))

    def arm(name: str, intervention: Any, schedule: Any = WEEKLY, **kw: Any) -> Arm:
        return Arm(name=name, protocol=Protocol(intervention=intervention,
                                                schedule=schedule, **kw))

    dn, acu, ex = make("dry_needling"), make("acupuncture"), make("exercise")
    maint = Fixed(start_day=28, every_days=28, sessions=4)
    return [
        Arm(name="none"),
        arm("sham", make("sham")),
        arm("dry needling", dn),
        arm("acupuncture", acu),
        arm("combination", iv.combine(acu, dn)),
        arm("acupuncture tapering", acu, Tapering(start_day=1, every_days=3.5, sessions=6)),
        arm("acupuncture + maintenance", acu, maintenance=maint),
        arm("dry needling + maintenance", dn, maintenance=maint),
        arm("exercise", ex),
        arm("dry needling + exercise", iv.combine(dn, ex)),
    ]


#: Arms every assumption set runs (weekly × 6 from day 1 unless named otherwise).
STANDARD_ARMS = tuple(a.name for a in _arms({}))


def _km90(p: pd.DataFrame, window: float) -> float:
    """Kaplan–Meier fraction relapsed by ``window`` days after relief (NaN: no relief)."""
    rel = p[p.relief]
    return 1.0 - _km_at(rel.days_relief_to_relapse_or_censor, rel.relapse, window)


def _median(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.median()) if len(x) else math.nan


#: Metric name → (function of the patients table of one arm, higher is better?, unit).
METRICS: dict[str, tuple[Callable[[pd.DataFrame], float], bool, str]] = {
    "reduction_short_term": (lambda p: -p.change_short_term.mean(), True, "points"),
    "reduction_day_2": (lambda p: -(p.pain_day_2 - p.baseline_pain).mean(), True,
                        "points"),
    "reduction_end": (lambda p: -(p.pain_day_end - p.baseline_pain).mean(), True, "points"),
    "responders_30pct": (lambda p: p.responder_pct.mean(), True, "fraction"),
    "relief": (lambda p: p.relief.mean(), True, "fraction"),
    "relief_by_session_2": (lambda p: (p.sessions_to_relief <= 2).mean(), True,
                            "fraction"),
    "median_sessions_to_relief": (lambda p: _median(p.sessions_to_relief), False,
                                  "sessions"),
    "sessions_to_relief_iqr": (lambda p: float(np.subtract(*np.nanpercentile(
        p.sessions_to_relief.dropna(), [75, 25]))) if p.relief.any() else math.nan, True,
        "sessions"),
    "relapse_90d": (lambda p: _km90(p, 90.0), False, "fraction"),
    "durable_response": (lambda p: p.durable_response.mean(), True, "fraction"),
    "satisfied": (lambda p: p.satisfied.mean(), True, "fraction"),
    "patients_with_soreness": (lambda p: (p.n_soreness > 0).mean(), False, "fraction"),
    "patients_with_bruising": (lambda p: (p.n_bruising > 0).mean(), False, "fraction"),
}


@dataclass(frozen=True)
class Observable:
    """A metric of an arm (minus another arm), on a phenotype subset, with a pass band."""

    metric: str
    arm: str
    band: tuple[float, float]
    minus: str | None = None
    phenotypes: tuple[str, ...] = ()

    def describe(self) -> str:
        who = f" [{', '.join(self.phenotypes)}]" if self.phenotypes else ""
        d = f"{self.metric}({self.arm})" + (f" - {self.metric}({self.minus})"
                                            if self.minus else "")
        return f"{d}{who} in [{self.band[0]:g}, {self.band[1]:g}]"


@dataclass(frozen=True)
class Claim:
    """A claim from ``claims.md`` as an executable check (or the reason it cannot be)."""

    id: str
    source: str
    quote: str
    observables: tuple[Observable, ...] = ()
    not_expressible: str = ""
    path: str = ""


@dataclass(frozen=True)
class AssumptionSet:
    """One reading of the mechanisms: cohort mix, parameter and intervention overrides."""

    name: str
    description: str
    parameters: dict[str, float] = field(default_factory=dict)
    treatments: dict[str, dict[str, float]] = field(default_factory=dict)
    mix: dict[str, float] = field(default_factory=dict)


def _fail(path: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{path}: {msg}", file=path)


def load_assumptions(path: str | Path) -> list[AssumptionSet]:
    """Read the assumption sets file (``[[set]]`` tables); validates names and values."""
    p = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(p, f"cannot read assumption sets: {exc}") from None
    out = []
    for i, s in enumerate(data.get("set", [])):
        for k in s:
            if k not in ("name", "description", "parameters", "treatments", "mix"):
                raise _fail(p, f"set[{i}].{k}: unknown key" + did_you_mean(
                    k, ("name", "description", "parameters", "treatments", "mix")))
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
                                 mix=mix))
    if not out:
        raise _fail(p, "no [[set]] tables")
    return out


def load_claims(paths: Sequence[str | Path]) -> list[Claim]:
    """Read claim files; every observable's metric, arms and phenotypes are checked."""
    claims = []
    for path in paths:
        p = str(path)
        try:
            d = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise _fail(p, f"cannot read claim: {exc}") from None
        for key in ("id", "source", "quote"):
            if not isinstance(d.get(key), str):
                raise _fail(p, f"{key}: required text")
        obs = []
        for j, o in enumerate(d.get("observable", [])):
            where = f"observable[{j}]"
            if o.get("metric") not in METRICS:
                raise _fail(p, f"{where}.metric: {o.get('metric')!r}; allowed: "
                            + ", ".join(METRICS)
                            + did_you_mean(str(o.get("metric")), tuple(METRICS)))
            for k in ("arm", "minus"):
                if k in o and o[k] not in STANDARD_ARMS:
                    raise _fail(p, f"{where}.{k}: {o[k]!r}; allowed: "
                                + ", ".join(STANDARD_ARMS)
                                + did_you_mean(str(o[k]), STANDARD_ARMS))
            for ph in o.get("phenotypes", []):
                if ph not in PHENOTYPE_PRESETS:
                    raise _fail(p, f"{where}.phenotypes: {ph!r}; allowed: "
                                + ", ".join(PHENOTYPE_PRESETS))
            band = o.get("band")
            if not (isinstance(band, list) and len(band) == 2 and band[0] <= band[1]):
                raise _fail(p, f"{where}.band: need [low, high], got {band!r}")
            obs.append(Observable(metric=o["metric"], arm=o["arm"],
                                  band=(float(band[0]), float(band[1])),
                                  minus=o.get("minus"),
                                  phenotypes=tuple(o.get("phenotypes", []))))
        if not obs and not d.get("not_expressible"):
            raise _fail(p, "needs [[observable]] tables or a not_expressible reason")
        claims.append(Claim(id=d["id"], source=d["source"], quote=d["quote"],
                            observables=tuple(obs), not_expressible=d.get(
                                "not_expressible", ""), path=p))
    return claims


def _patients(result: Any, horizon: float) -> pd.DataFrame:
    p = result.patients.copy()
    ev = result.events[result.events.kind == "adverse event"]
    for what in ("soreness", "bruising"):
        counts = ev[ev.detail == what].groupby(["arm", "patient"]).size()
        p[f"n_{what}"] = [counts.get((a, i), 0) for a, i in zip(p.arm, p.patient,
                                                                  strict=True)]
    end = int(horizon)
    p["pain_day_end"] = np.concatenate([result.pain[a][:, end] for a in result.arms])
    return p


def _tables(p: pd.DataFrame, o: Observable) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The observable's arm (and ``minus`` arm) tables, rows in the same patient order."""
    sub = p[p.phenotype.isin(o.phenotypes)] if o.phenotypes else p

    def arm(name: str) -> pd.DataFrame:
        return sub[sub.arm == name].sort_values("patient").reset_index(drop=True)

    return arm(o.arm), (arm(o.minus) if o.minus else None)


def _metric(o: Observable, a: pd.DataFrame, b: pd.DataFrame | None) -> float:
    f = METRICS[o.metric][0]
    return float(f(a) - (f(b) if b is not None else 0.0))


def evaluate_claims(claims: Sequence[Claim], sets: Sequence[AssumptionSet], *,
                    patients: int = 200, seed: int = 2026, horizon_days: float = 270.0,
                    n_boot: int = 200, workers: int = 1) -> pd.DataFrame:
    """Run each assumption set once (all standard arms, one paired cohort) and check
    every observable of every claim; one row per claim, set and observable."""
    rows = []
    outcomes = Outcomes(short_term_day=42, report_days=(2, 7))
    for s in sets:
        cohort = Cohort(n=patients, seed=seed, mix=s.mix,
                        phenotypes=with_parameters(PHENOTYPE_PRESETS, s.parameters))
        res = simulate(_arms(s.treatments), cohort, horizon_days, outcomes=outcomes,
                       workers=workers)
        p = _patients(res, horizon_days)
        rng = np.random.default_rng([seed, 99])
        for c in claims:
            for j, o in enumerate(c.observables):
                a, b = _tables(p, o)
                v = _metric(o, a, b)
                boots = []
                for _ in range(n_boot):  # paired: the same patients in both arms
                    idx = rng.integers(0, len(a), len(a))
                    boots.append(_metric(o, a.iloc[idx], None if b is None else b.iloc[idx]))
                bs = np.array(boots)
                bs = bs[np.isfinite(bs)]
                lo, hi = (np.quantile(bs, [0.025, 0.975]) if bs.size > 10
                          else (math.nan, math.nan))
                ok = bool(np.isfinite(v) and o.band[0] <= v <= o.band[1])
                rows.append({"claim": c.id, "set": s.name, "observable": j,
                             "what": o.describe(), "value": v, "ci_low": lo, "ci_high": hi,
                             "holds": ok, "defined": bool(np.isfinite(v))})
    return pd.DataFrame(rows)


def format_verdicts(claims: Sequence[Claim], sets: Sequence[AssumptionSet],
                    table: pd.DataFrame) -> str:
    """The verdict matrix, the claims that hold nowhere, and the contradictions."""
    names = [s.name for s in sets]
    lines = ["Verdicts: claim x assumption set (value [95% interval]; + holds, - fails)", ""]
    holds: dict[str, set[str]] = {}
    width = max(len(n) for n in names)
    for c in claims:
        if c.not_expressible:
            lines.append(f"{c.id}  not expressible: {c.not_expressible}")
            continue
        t = table[table.claim == c.id]
        lines.append(f"{c.id}  \"{c.quote}\"")
        holds[c.id] = set()
        for s in names:
            ts = t[t.set == s]
            ok = bool(ts.holds.all())
            if ok:
                holds[c.id].add(s)
            vals = "; ".join(f"{r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                             for r in ts.itertuples())
            lines.append(f"   {'+' if ok else '-'} {s:<{width}}  {vals}")
        lines.append("   " + " AND ".join(o.describe() for o in c.observables))
    lines += ["", "Assumption sets:"] + [f"  {s.name}: {s.description}" for s in sets]
    never = [c for c, h in holds.items() if not h]
    lines += ["", "Claims that hold under no assumption set tried: "
              + (", ".join(never) if never else "none")]
    pairs_no, pairs_yes = [], []
    for a, b in itertools.combinations([c for c, h in holds.items() if h], 2):
        common = holds[a] & holds[b]
        (pairs_yes if common else pairs_no).append((a, b, common))
    lines += ["", "Contradictions: pairs that each hold somewhere but never together:"]
    lines += [f"  {a} vs {b}" for a, b, _ in pairs_no] or ["  none"]
    lines += ["", "Pairs that can hold together (under):"]
    lines += [f"  {a} & {b}: {', '.join(sorted(c))}" for a, b, c in pairs_yes] or ["  none"]
    lines += ["", "A model for research and teaching, not medical advice."]
    return "\n".join(lines)
