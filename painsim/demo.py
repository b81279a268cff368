"""A small, fixed demonstration: two patients, three arms, pain at a few days.

Used by ``painsim demo``. It shows the two levers of :mod:`painsim.painloop` on two
phenotypes, with every assumption visible in :data:`DEMO_PROTOCOL`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .painloop import PAIN_LOOP, equilibria, local_kick, phenotype, systemic_kick

__all__ = ["DEMO_DAYS", "DEMO_PROTOCOL", "DemoResult", "format_demo", "run_demo"]

#: Days at which pain is reported.
DEMO_DAYS = (0.0, 7.0, 28.0, 90.0, 180.0)

#: The demo's assumptions, in plain words.
DEMO_PROTOCOL = {
    "acute": "pain-free, then an injury at day 0 (tissue drive D = 2)",
    "chronic": "settled in the sensitized high-pain state at day 0",
    "sessions": "weekly x 6, on days 1, 8, 15, 22, 29, 36",
    "dry needling": "local: tension released by 70%, soreness +0.1 to I, analgesia pulse 1",
    "acupuncture": "systemic: R + 0.15 per session, analgesia pulse 1",
}

_ARMS = ("no treatment", "dry needling", "acupuncture")
_PATIENTS = ("acute", "chronic")
_SESSIONS = 1.0 + 7.0 * np.arange(6)


@dataclass(frozen=True)
class DemoResult:
    """Pain (0–10) per patient and arm at :data:`DEMO_DAYS`.

    Attributes
    ----------
    days : tuple of float
        Report days.
    pain : dict
        ``pain[(patient, arm)]`` is an array of pain values, one per day.
    """

    days: tuple[float, ...]
    pain: dict[tuple[str, str], NDArray[np.float64]]


def run_demo() -> DemoResult:
    """Run the demo: 2 phenotypes × 3 arms as 6 lanes of one solver call."""
    lanes = [(pt, arm) for pt in _PATIENTS for arm in _ARMS]
    n = len(lanes)
    theta0 = np.array([phenotype(pt).theta0 for pt, _ in lanes])
    params = PAIN_LOOP.params(theta0=theta0)
    y0 = np.empty((len(PAIN_LOOP.states), n))
    y_high = equilibria(phenotype("chronic"))[-1]["state"]
    for i, (pt, _) in enumerate(lanes):
        y0[:, i] = y_high if pt == "chronic" else PAIN_LOOP.initial_state(1, D=2.0)[:, 0]
    stops = np.full((n, _SESSIONS.size), np.inf)
    for i, (_, arm) in enumerate(lanes):
        if arm != "no treatment":
            stops[i] = _SESSIONS
    P = params.as_array(n)
    is_dn = np.array([arm == "dry needling" for _, arm in lanes])

    def session(t: NDArray, y: NDArray, idx: NDArray, k: NDArray) -> NDArray:
        out = y.copy()
        dn = is_dn[idx]
        if dn.any():
            out[:, dn] = local_kick(y[:, dn], P[:, idx[dn]])
        if (~dn).any():
            out[:, ~dn] = systemic_kick(y[:, ~dn], P[:, idx[~dn]], dose=0.15)
        return out

    sol = PAIN_LOOP.solve((0.0, max(DEMO_DAYS)), params, y0, t_eval=DEMO_DAYS,
                          stops=stops, on_stop=session, rtol=1e-8, atol=1e-10, throw=True)
    return DemoResult(days=DEMO_DAYS, pain={lane: sol.pain[i] for i, lane in enumerate(lanes)})


def format_demo(result: DemoResult) -> str:
    """The demo as a plain-text table with its assumptions and a disclaimer."""
    head = "patient  arm            " + "".join(f"day {d:<5g}" for d in result.days)
    lines = ["painsim demo: pain (0-10) of one model patient per row", "", head,
             "-" * len(head)]
    for (pt, arm), v in result.pain.items():
        lines.append(f"{pt:<8} {arm:<14} " + "".join(f"{x:<9.2f}" for x in v))
    lines += ["", "assumptions:"]
    lines += [f"  {k}: {v}" for k, v in DEMO_PROTOCOL.items()]
    lines += ["", "These are the default assumptions of one hypothesis (local = state kick,",
              "systemic = driver change); other parameter values change the verdict.",
              "See `painsim describe` for every equation and parameter.",
              "A model for research and teaching, not medical advice."]
    return "\n".join(lines)
