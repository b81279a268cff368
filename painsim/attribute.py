"""Mechanism attribution: why did this patient get better?

Each arm's effect on pain, patient by patient, is split into **pathway contributions**
by counterfactual ablation on common random numbers, with **Shapley values** over the
set of pathways (Shapley 1953; as used for attribution by Lundberg & Lee 2017). For a
pathway set N and a coalition S of it, v(S) is the arm's effect (pain in the arm minus
pain in the natural course, same patients, same flares, same session draws) when only
the pathways in S act; the Shapley value of pathway p averages its marginal effect
v(S + p) - v(S) over all orders. All 2^|N| coalitions are simulated (arms of one
:func:`painsim.simulate` run per flare world), so the values are exact, not sampled, and

* the parts add up to the total effect by construction (efficiency), per patient;
* a pathway that changes nothing in any coalition gets exactly 0 (dummy player).

Pathways. A session effect that logs an event (``soreness``) is that event's pathway;
any other is assigned one by its target (:data:`PATHWAYS`):
local tension release (``T``), soreness/microtrauma (``I``), session analgesia
(``analgesia``), systemic drive (``R``: arousal and sensitization threshold), the
non-specific part of a visit (``C``); effects on parameters are "drivers (parameters)".
A pathway is switched off by setting its effects' sizes to the identity (scale 1, add
0) while keeping their probabilities, so the session draws stay aligned. **Flares** are
a player too: v(S) with flares in S is measured with flares on in both the arm and the
natural course, without them otherwise; so flares alone contribute nothing, and their
value is how much they change the treatment effect (an interaction).

Against a reference arm, the difference of the two arms' decompositions is reported
(pathways missing from one arm count 0 there): it adds up to the paired difference.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .cohort import Cohort, Flares
from .errors import PainsimError
from .interventions import Effect, Intervention
from .outcomes import DISCLAIMER
from .protocols import Arm

__all__ = ["PATHWAYS", "Attribution", "attribute", "narrative", "shapley",
           "write_attribution"]

#: Pathway of a session effect, by its target (a state, a pulse, or "parameters").
PATHWAYS: dict[str, str] = {
    "T": "tension release",
    "I": "soreness",
    "analgesia": "analgesia",
    "R": "systemic",
    "C": "non-specific",
    "parameters": "drivers (parameters)",
}
FLARES = "flares"


def shapley(v: Mapping[frozenset[str], NDArray], players: Sequence[str]
            ) -> dict[str, NDArray[np.float64]]:
    """Exact Shapley values from the values ``v`` of every coalition.

    Parameters
    ----------
    v : mapping of frozenset to ndarray
        Value of each coalition (any shape, e.g. one value per patient); needs all
        ``2^len(players)`` coalitions.
    players : sequence of str

    Returns
    -------
    dict of str to ndarray
        Per player; they sum to ``v[all] - v[empty]``.

    Examples
    --------
    >>> v = {frozenset(): 0.0, frozenset("a"): 1.0, frozenset("b"): 2.0,
    ...      frozenset("ab"): 4.0}
    >>> {k: float(x) for k, x in shapley(v, ["a", "b"]).items()}
    {'a': 1.5, 'b': 2.5}
    """
    n = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        tot = 0.0
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for S in itertools.combinations(others, k):
                s = frozenset(S)
                tot = tot + w * (np.asarray(v[s | {p}]) - np.asarray(v[s]))
        out[p] = np.asarray(tot, dtype=float)
    return out


def _pathway(e: Effect, model: Any, pathways: Mapping[str, str]) -> str | None:
    kind = e.kind(model)
    if kind == "none":
        return None
    if e.event:  # a chance effect that is logged (soreness): its own pathway
        return pathways.get(e.event, e.event)
    key = "parameters" if kind == "parameter" else e.target
    return pathways.get(key, e.target)


def _ablate(iv: Intervention, keep: frozenset[str], model: Any,
            pathways: Mapping[str, str]) -> Intervention:
    effects = []
    for e in iv.effects:
        p = _pathway(e, model, pathways)
        if p is None or p in keep:
            effects.append(e)
        else:  # the identity, same probability: the session's draws stay aligned
            effects.append(dataclasses.replace(e, value=1.0 if e.op == "scale" else 0.0))
    return dataclasses.replace(iv, effects=tuple(effects))


def _players(arm: Arm, model: Any, pathways: Mapping[str, str]) -> list[str]:
    if arm.protocol is None:
        return []
    found = [_pathway(e, model, pathways) for iv in arm.protocol.interventions
             for e in iv.effects]
    return sorted({p for p in found if p is not None})


def _has_flares(cohort: Cohort) -> bool:
    return any(ph.flares.strain_per_day > 0 or ph.flares.stress_per_day > 0
               for k, ph in cohort.phenotypes.items() if k in cohort.mix)


@dataclass(frozen=True)
class Attribution:
    """What :func:`attribute` returns.

    Attributes
    ----------
    patients : pandas.DataFrame
        Long table: arm, patient, phenotype, day, pathway, contribution (pain points,
        0-10; negative = less pain), plus a ``total`` row per patient and day.
    summary : pandas.DataFrame
        Per arm, day and pathway: mean contribution and a bootstrap interval over
        patients.
    players : dict of str to list of str
        Pathways of each arm.
    info : dict
    pain : pandas.DataFrame
        Per explained arm, patient and day: ``pain`` in the arm and ``natural_pain``
        without treatment (0-10), as simulated (all pathways and flares on).
    """

    patients: pd.DataFrame
    summary: pd.DataFrame
    players: dict[str, list[str]]
    info: dict[str, Any] = field(default_factory=dict)
    pain: pd.DataFrame | None = None


def attribute(arms: Sequence[Arm], cohort: Cohort, horizon_days: float = 180.0, *,
              arm: str | None = None, reference: str | None = None,
              days: Sequence[float] | None = None, pathways: Mapping[str, str] | None = None,
              bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
              backend: str = "numpy", workers: int = 1, rtol: float = 1e-6,
              atol: float = 1e-8, epoch_days: float = 1.0,
              executor: Any = None,
              progress: Callable[[int, int], None] | None = None) -> Attribution:
    """Shapley attribution of arms' effects on pain to pathways (see the module).

    Parameters
    ----------
    arms : sequence of Arm
        The study's arms.
    cohort : Cohort
    horizon_days : float
    arm : str, optional
        Arm to explain (default: every arm with a protocol).
    reference : str, optional
        If given, the decomposition of ``arm - reference`` is reported as well (as arm
        ``"<arm> vs <reference>"``).
    days : sequence of float, optional
        Days at which pain is decomposed (default: day 42, or the horizon if shorter,
        and the horizon).
    pathways : mapping, optional
        Target -> pathway name (default :data:`PATHWAYS`).
    bootstrap, confidence, seed
        Percentile bootstrap over patients of the mean contributions.
    backend, workers, rtol, atol, epoch_days
        Passed to :func:`painsim.simulate`; results do not depend on ``workers``.
    executor : distributed.Client, optional
        Run the simulations' chunks on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.
    progress : callable, optional
        ``progress(done, total)`` as each chunk of the simulations finishes (over both
        runs, with and without flares, where the cohort has flares); it does not change
        the results.
    """
    from .engine import simulate

    pathways = dict(PATHWAYS if pathways is None else pathways)
    model = cohort.model
    by_name = {a.name: a for a in arms}
    names = [arm] if arm else [a.name for a in arms if a.protocol is not None]
    if reference:
        names = list(dict.fromkeys([*names, reference]))
    for nm in names:
        if nm not in by_name:
            raise PainsimError(f"arm {nm!r} is not an arm; arms: {', '.join(by_name)}")
    if not any(by_name[nm].protocol is not None for nm in names):
        raise PainsimError("no treated arm to explain; arms: " + ", ".join(by_name))
    days = list(days) if days is not None else sorted({min(42.0, math.floor(
        horizon_days)), float(math.floor(horizon_days))})
    flare_player = _has_flares(cohort)
    players = {nm: _players(by_name[nm], model, pathways) + ([FLARES] if flare_player
                                                               else [])
               for nm in names}
    worlds = {True: cohort, False: dataclasses.replace(cohort, phenotypes={
        k: dataclasses.replace(ph, flares=Flares()) for k, ph in cohort.phenotypes.items()})}
    pain: dict[tuple[str, frozenset[str]], NDArray] = {}
    natural: dict[bool, NDArray] = {}
    phenotype = None
    run_worlds = (True, False) if flare_player else (False,)
    done_before = [0]

    def report(done: int, total: int) -> None:  # both worlds have the same chunk plan
        if progress is not None:
            progress(done_before[0] + done, total * len(run_worlds))
            if done == total:
                done_before[0] += total

    for world in run_worlds:
        run_arms = [Arm(name="__natural__")]
        keys = []
        for nm in names:
            a = by_name[nm]
            paths = [p for p in players[nm] if p != FLARES]
            for k in range(len(paths) + 1):
                for S in itertools.combinations(paths, k):
                    keep = frozenset(S)
                    proto = a.protocol
                    if proto is None:  # an untreated arm: the natural course itself
                        run_arms.append(dataclasses.replace(a, name=f"{nm}|[]"))
                    else:
                        ivs = proto.intervention
                        new = (tuple(_ablate(iv, keep, model, pathways) for iv in ivs)
                               if isinstance(ivs, tuple)
                               else _ablate(ivs, keep, model, pathways))
                        run_arms.append(dataclasses.replace(
                            a, name=f"{nm}|{sorted(keep)}",
                            protocol=dataclasses.replace(proto, intervention=new)))
                    keys.append((nm, keep | ({FLARES} if world and flare_player
                                             else frozenset())))
        res = simulate(run_arms, worlds[world], horizon_days, backend=backend,
                       workers=workers, rtol=rtol, atol=atol, epoch_days=epoch_days,
                       executor=executor, progress=report if progress is not None else None)
        cols = [int(np.searchsorted(res.days, d)) for d in days]
        natural[world] = res.pain["__natural__"][:, cols]
        for key, ra in zip(keys, run_arms[1:], strict=True):
            pain[key] = res.pain[ra.name][:, cols]
        phenotype = res.patients.phenotype[res.patients.arm == "__natural__"].to_numpy()
    rows = []
    pain_rows: list[pd.DataFrame] = []
    phi_all: dict[str, dict[str, NDArray]] = {}
    for nm in names:
        v = {S: pain[(nm, S)] - natural[FLARES in S if flare_player else False]
             for (a, S) in pain if a == nm}
        phi = shapley(v, players[nm])
        phi["total"] = v[frozenset(players[nm])]
        phi_all[nm] = phi
        full = pain[(nm, frozenset(players[nm]))]
        nat = natural[flare_player]
        pain_rows.append(pd.DataFrame({
            "arm": nm, "patient": np.repeat(np.arange(cohort.n), len(days)),
            "day": np.tile(days, cohort.n), "pain": full.ravel(),
            "natural_pain": nat.ravel()}))
    if reference:
        for nm in [x for x in names if x != reference]:
            ps = sorted(set(phi_all[nm]) | set(phi_all[reference]))
            zero = np.zeros_like(phi_all[nm]["total"])
            phi_all[f"{nm} vs {reference}"] = {p: phi_all[nm].get(p, zero)
                                               - phi_all[reference].get(p, zero) for p in ps}
    n = cohort.n
    for label, phi in phi_all.items():
        for p, val in phi.items():
            for j, d in enumerate(days):
                rows.append(pd.DataFrame({"arm": label, "patient": np.arange(n),
                                          "phenotype": phenotype, "day": d, "pathway": p,
                                          "contribution": val[:, j]}))
    patients = pd.concat(rows, ignore_index=True)
    rng = np.random.default_rng(seed)
    summ = []
    idx = rng.integers(0, n, size=(bootstrap, n)) if bootstrap else None
    a_ = (1 - confidence) / 2
    for (label, d, p), g in patients.groupby(["arm", "day", "pathway"], sort=False):
        x = g.contribution.to_numpy()
        lo = hi = math.nan
        if idx is not None and n > 1:
            means = x[idx].mean(axis=1)
            lo, hi = np.quantile(means, a_), np.quantile(means, 1 - a_)
        summ.append({"arm": label, "day": d, "pathway": p, "mean": x.mean(), "ci_low": lo,
                     "ci_high": hi})
    summary = pd.DataFrame(summ)
    info = {"days": days, "method": "exact Shapley values over pathways (all coalitions)",
            "players": players, "patients": n, "horizon_days": horizon_days,
            "backend": backend, "workers": workers}
    return Attribution(patients=patients, summary=summary, players=players, info=info,
                       pain=pd.concat(pain_rows, ignore_index=True))


def narrative(att: Attribution, arm: str, patient: int) -> str:
    """One patient's decomposition in plain words."""
    p = att.patients[(att.patients.arm == arm) & (att.patients.patient == patient)]
    if p.empty:
        raise PainsimError(f"no attribution for arm {arm!r}, patient {patient}")
    days = sorted(p.day.unique())
    out = [f"Patient {patient} ({p.phenotype.iloc[0].replace('_', ' ')}), {arm}:"]
    for d in days:
        g = p[p.day == d].set_index("pathway").contribution
        tot = g.pop("total")
        other = f"with {arm.split(' vs ')[1]}" if " vs " in arm else "without treatment"
        parts = [f"{abs(v):.2f} {'less' if v < 0 else 'more'} from {k}"
                 for k, v in g.sort_values(key=np.abs, ascending=False).items()
                 if abs(v) >= 0.005]
        head = (f"  by day {d:g} pain was the same as {other}" if abs(tot) < 0.005 else
                f"  by day {d:g} pain was {abs(tot):.2f} points "
                f"{'lower' if tot < 0 else 'higher'} than {other}")
        out.append(head + (": " + "; ".join(parts) if parts else "") + ".")
    if att.pain is not None:
        own = arm.split(" vs ")[0]
        q = att.pain[(att.pain.arm == own) & (att.pain.patient == patient)]
        if len(q):
            last = q[q.day == q.day.max()].iloc[0]
            left = last.pain < 2.0 <= last.natural_pain
            out.append(f"  At day {last.day:g} pain is {last.pain:.1f} with {own} and "
                       f"{last.natural_pain:.1f} without treatment"
                       + (": the patient has left the high-pain state." if left else "."))
    if len(days) > 1:
        first = p[p.day == days[0]].set_index("pathway").contribution
        last = p[p.day == days[-1]].set_index("pathway").contribution
        gone = [k for k in first.index if k != "total" and abs(first[k]) >= 0.05
                and abs(last.get(k, 0.0)) < 0.1 * abs(first[k])]
        kept = [k for k in first.index if k != "total" and abs(last.get(k, 0.0)) >= 0.05]
        if gone:
            out.append(f"  Gone by day {days[-1]:g}: {', '.join(gone)}.")
        if kept:
            out.append(f"  Still acting at day {days[-1]:g}: {', '.join(kept)}.")
    out.append(f"  (Shapley values over pathways; they add up to the total.) {DISCLAIMER}")
    return "\n".join(out)


def write_attribution(att: Attribution, out: Path, *, force: bool = False,
                      scenario: Any = None) -> list[str]:
    """Write ``summary.csv``, ``patients.csv``, ``contributions.png`` and
    ``manifest.json`` into ``out`` atomically."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import save_figure
    from .results import atomic_folder

    files: list[str] = []
    with atomic_folder(out, force=force) as tmp:
        s = att.summary.copy()
        s.insert(0, "note", DISCLAIMER)
        s.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        att.patients.to_csv(tmp / "patients.csv", index=False, float_format="%.6g")
        files += ["summary.csv", "patients.csv"]
        sm = att.summary[att.summary.pathway != "total"]
        labels = list(dict.fromkeys(sm.arm))
        days = list(dict.fromkeys(sm.day))
        paths = sorted(set(sm.pathway))
        fig, axes = plt.subplots(1, len(days), figsize=(max(8.0, 5.5 * len(days)), 4.5),
                                 squeeze=False)
        colors = dict(zip(paths, plt.cm.tab10.colors, strict=False))
        for ax, d in zip(axes[0], days, strict=True):
            x = np.arange(len(labels))
            pos, neg = np.zeros(len(labels)), np.zeros(len(labels))
            for p in paths:
                v = np.array([sm[(sm.arm == a) & (sm.day == d) & (sm.pathway == p)]["mean"]
                              .sum() for a in labels])
                base = np.where(v >= 0, pos, neg)
                ax.bar(x, v, bottom=base, color=colors[p], label=p)
                pos, neg = pos + np.maximum(v, 0), neg + np.minimum(v, 0)
            tot = att.summary[(att.summary.pathway == "total") & (att.summary.day == d)]
            tv = [tot[tot.arm == a]["mean"].sum() for a in labels]
            ax.plot(x, tv, "k_", ms=30, mew=2.5, label="total")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xticks(x, labels, rotation=20, fontsize=8)
            ax.set_ylabel("change in pain, points (0-10)")
            ax.set_title(f"day {d:g}", fontsize=9)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Pathway contributions (Shapley values)\n{DISCLAIMER}", fontsize=9)
        fig.tight_layout()
        files += save_figure(fig, tmp, "contributions")
        manifest = {"note": DISCLAIMER, **att.info,
                    "scenario_file": getattr(scenario, "path", None),
                    "scenario_sha256": getattr(scenario, "sha256", None),
                    "files": [*files, "manifest.json"]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return manifest["files"]


def format_summary(att: Attribution) -> str:
    """Per arm and day, mean contribution of each pathway with its interval."""
    out = []
    for (a, d), g in att.summary.groupby(["arm", "day"], sort=False):
        out.append(f"{a}, day {d:g}:")
        for _, r in g.iterrows():
            ci = (f" [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if np.isfinite(r.ci_low) else "")
            out.append(f"  {r.pathway:<22} {r['mean']:+.2f}{ci}")
    return "\n".join(out)
