"""``painsim teach``: a self-contained HTML report on the contradictions in the claims.

One file, images embedded as base64 PNG, opens offline. For each contradiction listed in
``claims.md`` it shows the two sides in their own words, under which assumption sets each
holds (from :func:`painsim.claims.evaluate_claims`), and the simulations behind it: the
loop as a diagram, pain of typical patients under each lever, relapse curves, and a claim
map of which therapy relapses less as the share of sensitized or stress-driven patients
and the follow-up window vary.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .claims import (
    VERDICT_SYMBOLS,
    evaluate_claims,
    format_value,
    load_assumptions,
    load_claims,
    verdict_matrix,
)
from .cohort import Cohort, Phenotype
from .engine import simulate
from .interventions import acupuncture, dry_needling, sham
from .outcomes import Outcomes, km_survival_at
from .painloop import PHENOTYPES
from .plots import FOOTER
from .protocols import Arm, Fixed, Protocol
from .results import DISCLAIMER

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CONTRADICTIONS", "WHY_PATIENTS", "build_report"]

#: The contradictions worth teaching (claims.md), each with its two sides.
CONTRADICTIONS = (
    {"title": "Relapse: which therapy lasts?",
     "a": ("000-2", "000-3"), "b": ("003-1",),
     "summary": "000-2 and 000-9 say acupuncture lasts and dry needling relapses; 003-1 "
                "says dry needling relapses less (34% vs 46%)."},
    {"title": "Speed: how many sessions to relief?",
     "a": ("003-2", "002-5"), "b": ("000-4",),
     "summary": "003-2 and 002-5 say dry needling works within 1-2 sessions; 000-4 says "
                "acupuncture also works in acute flare-ups."},
    {"title": "Scope: can a local treatment break the chronic cycle?",
     "a": ("001-1", "002-3"), "b": ("000-2",),
     "summary": "001-1 and 002-3 say dry needling can break the chronic cycle; 000-2 says "
                "it cannot while the drivers remain."},
)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    fig.text(0.01, 0.01, FOOTER, fontsize=7, color="0.4")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w: float = 8, h: float = 4.2, n: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, n, figsize=(w, h), squeeze=False)


def _loop_diagram() -> str:
    fig, ax = _fig(8, 4.6)
    ax = ax[0, 0]
    ax.set_axis_off()
    ax.set(xlim=(0, 10), ylim=(0, 6))
    box = {"P": (5, 5.1, "pain P"), "T": (8.4, 3.2, "tension T\n(guarding)"),
           "I": (5, 1.2, "inflammation I"), "S": (1.6, 3.2, "sensitization S"),
           "A": (1.6, 0.9, "arousal A"), "R": (1.6, 5.3, "systemic state R")}
    for x, y, label in box.values():
        ax.text(x, y, label, ha="center", va="center", fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "fc": "#eef3fb", "ec": "#4a6fa5"})

    def arrow(a: str, b: str, text: str = "", color: str = "#333") -> None:
        (x0, y0, _), (x1, y1, _) = box[a], box[b]
        # curved, so that the two arrows of a feedback pair (P <-> S) do not overlap
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={
            "arrowstyle": "->", "color": color, "lw": 1.5, "shrinkA": 28, "shrinkB": 28,
            "connectionstyle": "arc3,rad=0.25"})
        if text:
            # label beside the curve's bulge (to the right of the direction of travel)
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            dx, dy = x1 - x0, y1 - y0
            norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
            ax.text(mx + 0.45 * dy / norm, my - 0.45 * dx / norm, text, fontsize=8,
                    color=color, ha="center", va="center")

    arrow("P", "T", "guarding")
    arrow("T", "I", "ischaemia")
    arrow("I", "P", "nociception")
    arrow("P", "S", "LTP if P > θ")
    arrow("S", "P", "gain")
    arrow("S", "A")
    arrow("A", "I")
    arrow("R", "S", "θ up", "#2a7")
    ax.text(9.3, 4.5, "dry needling:\nT ← (1−f)T\n(moves the state)", fontsize=8,
            color="#c33", ha="center")
    ax.text(0.3, 5.9, "acupuncture: R ↑ (changes the drivers)", fontsize=8, color="#2a7")
    ax.text(8.3, 0.5, "every needling visit, sham too:\nC ↑ (non-specific relief)",
            fontsize=8, color="#a60", ha="center")
    ax.set_title("The pain loop in painsim's default model", fontsize=10)
    return _png(fig)


#: The model patients of the "typical patients" figure: fixed parameters, no random
#: flares, settled in the sensitized state by the cohort's untreated run-in.
TYPICAL_PATIENTS = {
    name: Phenotype(name=name, description=f"{name} (theta0 = {PHENOTYPES[name]['theta0']:g})",
                    params=dict(PHENOTYPES[name]), start="sensitized")
    for name in ("chronic", "borderline")}
_TYPICAL_ARMS = {"no treatment": None, "sham": sham, "dry needling": dry_needling,
                 "acupuncture": acupuncture}


def _typical_patients() -> tuple[str, str]:
    """Daily pain of one chronic and one borderline model patient under each arm, run
    with the default interventions through :func:`painsim.simulate`; the figure and a
    caption that reads its numbers (pain at day 0, day 37 and day 180)."""
    fig, axes = _fig(9, 3.8, 2)
    weekly = Fixed(start_day=1, every_days=7, sessions=6)
    arms = [Arm(name=k) if f is None else
            Arm(name=k, protocol=Protocol(intervention=f(), schedule=weekly))
            for k, f in _TYPICAL_ARMS.items()]
    said = []
    for ax, name in zip(axes[0], TYPICAL_PATIENTS, strict=True):
        res = simulate(arms, Cohort(n=1, seed=1, mix={name: 1.0},
                                    phenotypes=TYPICAL_PATIENTS, random_flares=False), 180.0)
        at = np.searchsorted(res.days, (0.0, 37.0, 180.0))
        for arm in _TYPICAL_ARMS:
            ax.plot(res.days, res.pain[arm][0], label=arm, lw=1.3)
        said.append(f"{name} (θ₀ = {PHENOTYPES[name]['theta0']:g}): " + "; ".join(
            f"{arm} " + " → ".join(f"{v:.1f}" for v in res.pain[arm][0, at])
            for arm in _TYPICAL_ARMS))
        ax.set(title=f"one {name} patient (θ₀ = {PHENOTYPES[name]['theta0']:g}), weekly × 6",
               xlabel="time (days)", ylabel="daily pain (0–10)", ylim=(0, 10))
        ax.title.set_fontsize(9)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    caption = ("One chronic and one borderline model patient, settled in the sensitized "
               "state, weekly sessions × 6 from day 1 with painsim's default interventions "
               "(the same as in every study). Pain at day 0 → day 37 (end of course) → "
               "day 180: " + ". ".join(said) + ".")
    return _png(fig), caption


def _arms() -> list[Arm]:
    weekly = Fixed(start_day=1, every_days=7, sessions=6)
    return [Arm(name="dry needling", protocol=Protocol(intervention=dry_needling(),
                                                       schedule=weekly)),
            Arm(name="acupuncture", protocol=Protocol(intervention=acupuncture(),
                                                      schedule=weekly))]


#: Shares of sensitized or stress-driven patients, one cohort each in the claim map.
MAP_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


#: Paired bootstrap resamples of each claim-map cell's interval.
MAP_BOOTSTRAP = 200


def relapse_difference(patients: pd.DataFrame, window: float, *,
                       rng: np.random.Generator, n_boot: int = MAP_BOOTSTRAP,
                       confidence: float = 0.95) -> tuple[float, float, float]:
    """Relapse fraction by ``window`` days after relief, dry needling minus acupuncture,
    with its paired percentile bootstrap interval.

    Parameters
    ----------
    patients : pandas.DataFrame
        :attr:`painsim.SimulationResult.patients` with arms ``"dry needling"`` and
        ``"acupuncture"`` run on the same cohort (so patient ``i`` is the same person in
        both: the resample draws patients, both arms at once).
    window : float
        Days after relief at which the Kaplan–Meier curves are read.
    rng : numpy.random.Generator
        Draws the resamples.
    n_boot : int
        Resamples.
    confidence : float
        Level of the interval.

    Returns
    -------
    tuple of float
        Difference (fraction of relieved patients, −1 to 1), interval low and high; NaN
        where an arm has nobody relieved (in the data, or in too many resamples: the
        interval needs at least 10 defined ones).
    """
    arms = [patients[patients.arm == a].sort_values("patient") for a in
            ("dry needling", "acupuncture")]
    cols = [(a.relief.to_numpy(dtype=bool), a.days_relief_to_relapse_or_censor.to_numpy(
        dtype=float), a.relapse.to_numpy(dtype=bool)) for a in arms]

    def diff(idx: np.ndarray | slice) -> float:
        f = []
        for rel, t, e in cols:
            r = rel[idx]
            if not r.any():
                return math.nan
            f.append(1.0 - km_survival_at(t[idx][r], e[idx][r], window))
        return f[0] - f[1]

    v = diff(slice(None))
    n = len(arms[0])
    boots = np.array([diff(rng.integers(0, n, n)) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    if not np.isfinite(v) or boots.size < 10:
        return v, math.nan, math.nan
    a = (1 - confidence) / 2
    lo, hi = np.quantile(boots, [a, 1 - a])
    return v, float(lo), float(hi)


def _map_cell(v: float, lo: float, hi: float) -> str:
    """A claim-map cell's text: which therapy relapses less, the difference and its
    interval; "neither" where the interval spans 0."""
    if not np.isfinite(v):
        return "n/a:\nno relief"
    if not np.isfinite(lo):
        return f"{v:+.2f}\n(no interval)"
    who = "acupuncture" if lo > 0 else "dry needling" if hi < 0 else "neither"
    return f"{who}\n{v:+.2f}\n[{lo:+.2f}, {hi:+.2f}]"


def _relapse_and_map(patients: int, seed: int, workers: int,
                     done: Callable[[], None] = lambda: None) -> tuple[str, str]:
    shares = MAP_SHARES
    windows = (30.0, 60.0, 90.0, 180.0)
    diff = np.full((len(windows), len(shares)), np.nan)
    low, high = diff.copy(), diff.copy()
    curves = None
    for j, sh in enumerate(shares):
        mix = {k: v for k, v in {"acute_strain": (1 - sh) / 2, "recurrent": (1 - sh) / 2,
                                 "chronic_sensitized": sh / 2,
                                 "stress_driven": sh / 2}.items() if v > 0}
        res = simulate(_arms(), Cohort(n=patients, seed=seed, mix=mix), 270.0,
                       outcomes=Outcomes(short_term_day=42), workers=workers)
        done()
        if sh == 0.5:
            curves = res
        for i, w in enumerate(windows):
            diff[i, j], low[i, j], high[i, j] = relapse_difference(
                res.patients, w, rng=np.random.default_rng([seed, j, i]))
    fig, ax = _fig(8, 4.2)
    ax = ax[0, 0]
    assert curves is not None
    for arm in curves.arms:
        t, S = curves.relapse_curves[arm]
        n_rel = int(curves.patients[curves.patients.arm == arm].relief.sum())
        if n_rel:
            ax.step(np.r_[0, t], np.r_[1, S], where="post", label=f"{arm} (n = {n_rel})")
    ax.set(title=f"Relapse-free after relief, half sensitized/stress-driven, {patients} "
                 "patients per arm (Kaplan–Meier)", xlabel="time since relief (days)",
           ylabel="relapse-free fraction", ylim=(0, 1.05))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    relapse_png = _png(fig)
    import matplotlib.patches

    fig, ax = _fig(8, 4.6)
    ax = ax[0, 0]
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-0.5, vmax=0.5, aspect="auto", origin="lower")
    for i in range(len(windows)):
        for j in range(len(shares)):
            v, lo, hi = diff[i, j], low[i, j], high[i, j]
            ax.text(j, i, _map_cell(v, lo, hi), ha="center", va="center", fontsize=6.5)
            if np.isfinite(v) and not (lo > 0 or hi < 0):  # the interval spans 0
                ax.add_patch(matplotlib.patches.Rectangle(
                    (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", lw=0,
                    edgecolor="0.55"))
    ax.set_xticks(range(len(shares)), [f"{s:.0%}" for s in shares])
    ax.set_yticks(range(len(windows)), [f"{w:g} d" for w in windows])
    ax.set(xlabel="share of sensitized or stress-driven patients",
           ylabel="follow-up window after relief",
           title="Claim map: relapse(dry needling) − relapse(acupuncture) after relief, "
                 "paired 95% bootstrap interval;\nthe named therapy relapses less; hatched: "
                 f"the interval spans 0 ({patients} patients per arm and column)")
    ax.title.set_fontsize(9)
    fig.colorbar(im, ax=ax, label="difference in relapse fraction")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return relapse_png, _png(fig)


#: Patients of the cohort behind each of the basins, attribution and sensitivity
#: sections (at most ``--patients``): small, so that ``painsim teach`` stays quick.
WHY_PATIENTS = 16
#: Its mix: half chronic sensitized, half stress-driven (both mostly bistable).
WHY_MIX = {"chronic_sensitized": 0.5, "stress_driven": 0.5}
#: The study of the sensitivity section, as a scenario file would write it.
SENSITIVITY_STUDY = """\
title = "What the acupuncture verdict hangs on (teaching report)"
horizon = "6 months"
[cohort]
mix = {{ chronic_sensitized = 0.5, stress_driven = 0.5 }}
[[arms]]
name = "sham"
treatment = [{{ kind = "sham" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 6 }}
[[arms]]
name = "acupuncture"
treatment = [{{ kind = "acupuncture" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 6 }}
[outcomes]
short_term = "6 weeks"
bootstrap = 0
[sensitivity]
parameters = {{ model.k_R = [0.5, 2.0], model.tau_R = [60, 730], model.g_T = [0.3, 0.7], \
acupuncture.dose = [0.02, 0.3] }}
outcomes = ["change_short_term"]
arm = "acupuncture"
reference = "sham"
method = "morris"
n = {n}
levels = 4
"""
#: Morris trajectories of the sensitivity section.
WHY_TRAJECTORIES = 6
#: Plain names of the parameters the sensitivity section varies.
_PLAIN = {"model.k_R": "how strongly the systemic state R lifts the sensitization "
                       "threshold (k_R)",
          "model.tau_R": "how slowly R fades (tau_R, days)",
          "model.g_T": "how strongly pain makes muscles guard (g_T)",
          "acupuncture.dose": "acupuncture's specific systemic dose per session"}


def _basins_section(n: int, seed: int, workers: int, backend: str) -> str:
    """For whom does one kick tip the balance: a basin map of ``n`` patients, in plain
    words, with the share tipped against sessions."""
    from .basins import basin_map

    sessions = 6
    bm = basin_map(Cohort(n=n, seed=seed, mix=WHY_MIX), max_sessions=sessions,
                   horizon=180.0, settle_days=60.0, backend=backend, workers=workers,
                   tol=0.01)  # release to 1 point of percentage: enough for prose
    p = bm.patients
    bistable = int((p.n_stable >= 2).sum())
    rel = p.min_release.to_numpy()
    one = np.isfinite(rel) & (rel > 0)
    already = int((rel == 0).sum())
    course = np.isfinite(p.min_sessions.to_numpy()) & (p.min_sessions.to_numpy() > 0)
    med = float(np.median(rel[one])) if one.any() else float("nan")
    fig, ax = _fig(7, 3.4)
    ax = ax[0, 0]
    for col in bm.tipped.columns:
        ax.plot(bm.tipped.index, bm.tipped[col], marker="o", lw=1.3,
                label=col.replace("_", " "))
    ax.set(xlabel="weekly dry-needling sessions", ylabel="share low for good",
           ylim=(-0.03, 1.03), title=f"Share tipped into lasting low pain ({n} patients)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    png = _png(fig)
    text = (f"<p>Of {n} model patients (half chronic sensitized, half stress-driven; "
            f"flares off), <b>{bistable}</b> have two stable states, a low-pain and a "
            "sensitized one, with a threshold (a saddle) between them. For each patient "
            "painsim searched the smallest release of muscle tension by <i>one</i> "
            "dry-needling session that leaves pain low for good (at or below the "
            "threshold over the last 60 of 180 days), checked by simulating each patient, "
            f"not by a formula. One session can do it for <b>{int(one.sum())}</b> of "
            f"{n}" + (f" (median release needed: {med:.0%} of the tension)" if one.any()
                      else "") + f"; {already} {'is' if already == 1 else 'are'} low "
            "already without it. A weekly course "
            f"of {bm.info['course']} with its default release leaves "
            f"<b>{int(course.sum())}</b> low for good within {sessions} sessions.</p>")
    if bm.driver is not None:
        d = bm.driver
        zero = d[d.min_release == 0]
        first = d.min_release.iloc[0]
        text += ("<p>A change of the drivers moves the threshold: with the slow systemic "
                 "state R held higher (what acupuncture is said to do), patient "
                 f"{bm.info['driver_patient']} needs a release of "
                 + (f"{first:.0%}" if np.isfinite(first) else "more than any session gives")
                 + " at R = 0" + (f", and none at all from R = {zero.R.min():g} on: there "
                                  "the sensitized state has disappeared (a saddle-node), "
                                  "so no kick is needed" if len(zero) else
                                  ", and still some at the highest R tried") + ".</p>")
    return (f"<h2>Who tips? Basins and kicks</h2>{text}"
            f'<img alt="share tipped against sessions" src="data:image/png;base64,{png}">'
            "<p class=\"small\">painsim basins FILE --out DIR makes the same map for a "
            "study's own cohort (per-patient table, phase plane, cohort figure).</p>")


def _attribution_section(n: int, seed: int, workers: int, backend: str) -> str:
    """Why did patients get better: Shapley shares of each arm's effect against sham."""
    from .attribute import attribute

    weekly = Fixed(start_day=1, every_days=7, sessions=6)
    arms = [Arm(name="sham", protocol=Protocol(intervention=sham(), schedule=weekly)),
            *_arms()]
    cohort = Cohort(n=n, seed=seed, mix=WHY_MIX, random_flares=False)  # half the runs
    att = attribute(arms, cohort, 180.0, reference="sham",
                    days=[42.0, 180.0], seed=seed, backend=backend, workers=workers,
                    bootstrap=200)
    sm = att.summary
    items = []
    for arm in ("dry needling", "acupuncture"):
        label = f"{arm} vs sham"
        for day in (42.0, 180.0):
            g = sm[(sm.arm == label) & (sm.day == day)].set_index("pathway")
            tot = float(g.loc["total", "mean"])
            parts = g.drop(index="total")["mean"]
            parts = parts[parts.abs() >= 0.005].sort_values(key=np.abs, ascending=False)
            said = "; ".join(f"{abs(v):.2f} {'less' if v < 0 else 'more'} from "
                             f"{html.escape(str(k))}" for k, v in parts.items())
            head = (f"pain was on average {abs(tot):.2f} points "
                    f"{'lower' if tot < 0 else 'higher'} than with sham")
            items.append(f"<li><b>{arm}, day {day:g}</b>: {head}"
                         + (f": {said}" if said else " (no pathway moved it)") + ".</li>")
    return ("<h2>Why did they get better? Pathways</h2>"
            f"<p>The same {n} patients (flares off), paired on the same random numbers, "
            "had six weekly "
            "sessions of sham, dry needling or acupuncture. Each arm's difference from sham "
            "was split into pathways (tension release, soreness, session analgesia, the "
            "systemic state, the non-specific visit effect) by switching pathways "
            "off in every combination and taking exact Shapley values: the parts add up to "
            "the whole difference by construction. Negative numbers lower pain.</p>"
            f"<ul>{''.join(items)}</ul>"
            "<p class=\"small\">Day 42 is the end of the course; day 180 the follow-up. "
            "A pathway whose share at day 42 is gone by day 180 helped only while it "
            "lasted. painsim explain FILE --out DIR --patient K tells one patient's story."
            "</p>")


def _sensitivity_section(n: int, seed: int, workers: int, backend: str) -> str:
    """Which assumptions the verdict "acupuncture beats sham" hangs on (Morris)."""
    from .scenario import load_scenario
    from .sensitivity import run_sensitivity

    s = load_scenario("teaching-sensitivity.toml", patients=n, seed=seed,
                      text=SENSITIVITY_STUDY.format(n=WHY_TRAJECTORIES))
    res = run_sensitivity(s, workers=workers, backend=backend)
    df = res.indices["change_short_term"].sort_values("mu_star", ascending=False)
    y = res.Y["change_short_term"]
    rows = "".join(f"<tr><td>{i}</td><td>{html.escape(_PLAIN.get(k, k))}</td>"
                   f"<td>{lo:g} – {hi:g}</td><td>{r.mu_star:.3f}</td></tr>"
                   for i, (k, r) in enumerate(df.iterrows(), start=1)
                   for lo, hi in [res.bounds[res.names.index(k)]])
    top = str(df.index[0])
    return ("<h2>How sure? What the verdict hangs on</h2>"
            f"<p>Is acupuncture better than sham at 6 weeks? Here the answer was varied "
            f"with four assumptions at once, each over its plausible range, in {len(y)} "
            f"model studies of {n} patients (Morris screening, {WHY_TRAJECTORIES} "
            "trajectories; the designs and estimates come from SALib). Across them the "
            f"difference in pain change ranged from {np.nanmin(y):+.2f} to "
            f"{np.nanmax(y):+.2f} points (negative: acupuncture lowers pain more). The "
            f"assumption it hangs on most is <b>{html.escape(_PLAIN.get(top, top))}</b>. "
            "μ* is the mean size of the change in the difference when that one assumption "
            "moves by a step of its range (points of pain): a ranking for screening, not a "
            "precise share.</p><table><tr><th>rank</th><th>assumption</th><th>range</th>"
            f"<th>μ* (points)</th></tr>{rows}</table>"
            "<p class=\"small\">painsim sensitivity FILE --out DIR runs Morris or Sobol "
            "indices with intervals for a study's own [sensitivity] table.</p>")


def build_report(out_dir: str | Path, claims_dir: str | Path, *, patients: int = 120,
                 seed: int = 2026, workers: int = 0, backend: str = "numpy",
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Write ``out_dir/report.html``; returns its path.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``report.html`` (created if needed).
    claims_dir : str or Path
        Folder with the claim files and ``assumptions.toml``.
    patients, seed : int
        Cohort size (per assumption set and per column of the claim map) and seed.
    workers : int
        Worker processes (0: one per core).
    backend : {"numpy", "numba"}
        Solver backend.
    progress : callable, optional
        ``progress(done, total)`` after each simulated cohort: one per assumption set,
        then one per column of the claim map (:data:`MAP_SHARES`), then one for each of
        the basins, attribution and sensitivity sections (:data:`WHY_PATIENTS`
        patients, at most ``patients``).

    Returns
    -------
    Path
        The report written.
    """
    claims_dir = Path(claims_dir)
    ids = sorted({c for x in CONTRADICTIONS for c in (*x["a"], *x["b"])})
    claims = {c.id: c for c in load_claims([claims_dir / f"{i}.toml" for i in ids])}
    sets = load_assumptions(claims_dir / "assumptions.toml")
    total = len(sets) + len(MAP_SHARES) + 3
    report = progress or (lambda done, total: None)
    table = evaluate_claims(list(claims.values()), sets, patients=patients, seed=seed,
                            n_boot=100, workers=workers, backend=backend,
                            progress=lambda d, _: report(d, total))
    cohorts = iter(range(len(sets) + 1, total + 1))
    matrix = verdict_matrix(list(claims.values()), sets, table)
    loop, (typical, typical_caption) = _loop_diagram(), _typical_patients()
    relapse, cmap = _relapse_and_map(patients, seed, workers,
                                     done=lambda: report(next(cohorts), total))
    why = []
    for section in (_basins_section, _attribution_section, _sensitivity_section):
        why.append(section(min(patients, WHY_PATIENTS), seed, workers, backend))
        report(next(cohorts), total)

    def img(b64: str, alt: str) -> str:
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'

    def verdicts(cid: str) -> str:
        c = claims[cid]
        rows = []
        for s in sets:
            t = table[(table.claim == cid) & (table.set == s.name)]
            v = matrix[cid][s.name]
            vals = "; ".join(format_value(r) for r in t.itertuples())
            rows.append(f"<tr><td>{html.escape(s.name)}</td><td class=\"{v}\">"
                        f"{VERDICT_SYMBOLS[v]} {v}</td><td>{html.escape(vals)}</td></tr>")
        obs = " AND ".join(o.describe() for o in c.observables)
        warn = (f"<p class=\"warning\"><b>Warning:</b> {html.escape(c.warning)}</p>"
                if c.warning else "")
        win = html.escape(c.window) + (f" (&ldquo;{html.escape(c.window_quote)}&rdquo;)"
                                       if c.window_quote else "")
        constr = (f"<p class=\"small\">By construction: {html.escape(c.construction)}</p>"
                  if c.construction else "")
        return (f"<blockquote>{html.escape(c.quote)} <cite>({c.id}, {c.source})</cite>"
                f"</blockquote>{warn}<p class=\"small\">Window: {win}</p>"
                f"<p class=\"small\">Encoded as: {html.escape(obs)}</p>{constr}"
                f"<table><tr><th>assumption set</th><th>verdict</th><th>value [95% "
                f"interval]</th></tr>{''.join(rows)}</table>")

    sections = []
    for x in CONTRADICTIONS:
        sections.append(
            f'<section class="contradiction"><h2>{html.escape(x["title"])}</h2>'
            f"<p>{html.escape(x['summary'])}</p><div class=\"sides\"><div><h3>One side"
            f"</h3>{''.join(verdicts(c) for c in x['a'])}</div><div><h3>The other side"
            f"</h3>{''.join(verdicts(c) for c in x['b'])}</div></div></section>")
    sets_html = "".join(f"<li><b>{html.escape(s.name)}</b>: {html.escape(s.description)}"
                        f"<br><span class=\"small\">Mechanism: {html.escape(s.mechanism)}"
                        "</span></li>" for s in sets)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>painsim: competing claims</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.45}}
img{{max-width:100%}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:90%}} .holds{{color:#171}}
.fails{{color:#a22}} .undecided{{color:#a60}} .warning{{color:#a22;font-size:90%}}
.sides{{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}}
.small{{font-size:85%;color:#555}} blockquote{{margin:.5em 0;font-style:italic}}
footer{{margin-top:3em;color:#666;font-size:90%}}</style></head><body>
<h1>Dry needling vs acupuncture: competing claims, run as models</h1>
<p><b>{html.escape(DISCLAIMER)}</b> Each claim from the
source articles is turned into explicit assumptions and checked on simulated, paired
patients ({patients} per assumption set; seed {seed}), in the window its own words give.
A verdict reads the 95% interval: <i>holds</i> when the whole interval lies in the
claim's band, <i>fails</i> when it lies outside (or the value is undefined),
<i>undecided</i> when it straddles a band edge (a larger cohort may decide).</p>
<h2>The loop, and why the two levers differ</h2>{img(loop, "the pain loop")}
<p>Pain makes muscles guard; tension and ischaemia feed inflammation; inflammation feeds
pain; high pain sensitizes the spinal cord, which amplifies pain. In a vulnerable patient
the loop has two stable states, pain-free and sensitized, separated by a threshold (a
saddle). A <b>local</b> treatment such as dry needling moves the <i>state</i>: it releases
tension, so pain drops within hours, but if the patient is still inside the sensitized
basin the state drifts back to the same attractor. A <b>systemic</b> treatment such as
acupuncture, as its advocates describe it, changes the <i>drivers</i>: it raises the
threshold, and if it raises it far enough the sensitized state disappears, so the patient
settles low and stays low after the effect has faded (hysteresis). Which happens depends
on the patient and on the assumptions, which is why the claims disagree.</p>
{img(typical, "pain of typical patients under each lever")}
<p class="small">{html.escape(typical_caption)} In painsim's defaults, fitted to trial
evidence where it exists (<code>painsim validate</code>), every needling visit adds the same
non-specific relief as sham, and acupuncture's specific systemic dose is small (GERAC:
47.6% verum vs 44.2% sham responders); dry needling's release of tension is an
assumption that no figure in the evidence suite measures.</p>
<h2>The assumption sets</h2><p>Each set is defined by mechanisms: which pathways are
on or off and which parameters take which values, and why.</p><ul>{sets_html}</ul>
{''.join(sections)}
<h2>Relapse curves and the claim map</h2>{img(relapse, "relapse curves")}
{img(cmap, "claim map")}
<p>The winner on relapse depends on who is treated and on how long one looks: this is
how both sides of the relapse contradiction can be right, each for its own population
and window.</p>
<section class="why">{''.join(f'<div class="why-part">{w}</div>' for w in why)}</section>
<footer>Made by painsim from its default model and the shipped claim files. {FOOTER}
</footer></body></html>
"""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(target)
    return target
