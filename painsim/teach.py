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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .claims import (
    VERDICT_SYMBOLS,
    evaluate_claims,
    format_value,
    load_assumptions,
    load_claims,
    relapse_fraction,
    verdict_matrix,
)
from .cohort import Cohort, Phenotype
from .engine import simulate
from .interventions import acupuncture, dry_needling, sham
from .outcomes import Outcomes
from .painloop import PHENOTYPES
from .plots import FOOTER
from .protocols import Arm, Fixed, Protocol
from .results import DISCLAIMER

__all__ = ["CONTRADICTIONS", "build_report"]

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


def _relapse_and_map(patients: int, seed: int, workers: int,
                     done: Callable[[], None] = lambda: None) -> tuple[str, str]:
    shares = MAP_SHARES
    windows = (30.0, 60.0, 90.0, 180.0)
    diff = np.full((len(windows), len(shares)), np.nan)
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
            rel = [relapse_fraction(res.patients[res.patients.arm == arm], w)
                   for arm in ("dry needling", "acupuncture")]
            diff[i, j] = rel[0] - rel[1]
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
    fig, ax = _fig(8, 4.2)
    ax = ax[0, 0]
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-0.5, vmax=0.5, aspect="auto", origin="lower")
    for i in range(len(windows)):
        for j in range(len(shares)):
            v = diff[i, j]
            txt = "n/a:\nno relief" if not np.isfinite(v) else (
                "acupuncture" if v > 0 else "dry needling") + f"\n{v:+.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(shares)), [f"{s:.0%}" for s in shares])
    ax.set_yticks(range(len(windows)), [f"{w:g} d" for w in windows])
    ax.set(xlabel="share of sensitized or stress-driven patients",
           ylabel="follow-up window after relief",
           title="Claim map: relapse(dry needling) − relapse(acupuncture) after relief;\n"
                 f"the named therapy relapses less ({patients} patients per arm and column)")
    ax.title.set_fontsize(9)
    fig.colorbar(im, ax=ax, label="difference in relapse fraction")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return relapse_png, _png(fig)


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
        then one per column of the claim map (:data:`MAP_SHARES`).

    Returns
    -------
    Path
        The report written.
    """
    claims_dir = Path(claims_dir)
    ids = sorted({c for x in CONTRADICTIONS for c in (*x["a"], *x["b"])})
    claims = {c.id: c for c in load_claims([claims_dir / f"{i}.toml" for i in ids])}
    sets = load_assumptions(claims_dir / "assumptions.toml")
    total = len(sets) + len(MAP_SHARES)
    report = progress or (lambda done, total: None)
    table = evaluate_claims(list(claims.values()), sets, patients=patients, seed=seed,
                            n_boot=100, workers=workers, backend=backend,
                            progress=lambda d, _: report(d, total))
    cohorts = iter(range(len(sets) + 1, total + 1))
    matrix = verdict_matrix(list(claims.values()), sets, table)
    loop, (typical, typical_caption) = _loop_diagram(), _typical_patients()
    relapse, cmap = _relapse_and_map(patients, seed, workers,
                                     done=lambda: report(next(cohorts), total))

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
