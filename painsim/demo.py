"""A small, fixed demonstration: two patients, three arms, pain at a few days.

Used by ``painsim demo``. Two model patients of :mod:`painsim.painloop` (fixed
parameters, no random flares) get no treatment, :func:`painsim.dry_needling` and
:func:`painsim.acupuncture` with their defaults, through :func:`painsim.simulate`: the
same interventions and engine as every study. :data:`DEMO_PROTOCOL` states every
assumption in words, read from the interventions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cohort import Cohort, Phenotype
from .engine import simulate
from .interventions import Intervention, acupuncture, dry_needling
from .outcomes import DISCLAIMER
from .painloop import PHENOTYPES
from .protocols import Arm, Fixed, Protocol

__all__ = ["DEMO_DAYS", "DEMO_PATIENTS", "DEMO_PROTOCOL", "DemoResult", "format_demo",
           "run_demo"]

#: Days at which pain is reported.
DEMO_DAYS = (0.0, 7.0, 28.0, 90.0, 180.0)

#: The two model patients: fixed parameters (no draws) and no random flares.
DEMO_PATIENTS = {
    "acute": Phenotype(
        name="acute", description="pain-free, then an injury at day 0 (tissue drive D + 2); "
        f"threshold theta0 = {PHENOTYPES['acute']['theta0']:g}",
        params=dict(PHENOTYPES["acute"]), injury=2.0),
    "chronic": Phenotype(
        name="chronic", description="settled in the sensitized high-pain state by the "
        f"untreated run-in; threshold theta0 = {PHENOTYPES['chronic']['theta0']:g}",
        params=dict(PHENOTYPES["chronic"]), start="sensitized"),
}

_ARMS = ("no treatment", "dry needling", "acupuncture")
_PATIENTS = ("acute", "chronic")
_SCHEDULE = Fixed(start_day=1.0, every_days=7.0, sessions=6)
_TREATMENTS = {"dry needling": dry_needling, "acupuncture": acupuncture}
_SEED = 1  # the patients' own random streams: adverse-event draws only
_NAMES = {"T": "tension T", "R": "systemic state R", "C": "non-specific relief C",
          "Q": "soreness Q", "analgesia": "analgesia pulse"}


def _in_words(iv: Intervention) -> str:
    """What one session of ``iv`` does, effect by effect."""
    parts = []
    for e in iv.effects:
        name = _NAMES.get(e.target, e.target)
        if e.op == "none":
            what = f"{e.event or e.target} logged"
        elif e.op == "scale":
            what = f"{name} x {e.value:g}"
        elif e.op == "pulse":
            what = f"{name} {e.value:g}"
        else:
            what = f"{name} + {e.value:g}"
        if e.probability < 1:
            what += f" in {100 * e.probability:.3g}% of sessions"
        if not e.is_identity or e.op == "none":
            parts.append(what)
    return f"{iv.lever}: " + "; ".join(parts)


#: The demo's assumptions, in plain words.
DEMO_PROTOCOL = {
    **{k: ph.description for k, ph in DEMO_PATIENTS.items()},
    "sessions": "weekly x 6, on days 1, 8, 15, 22, 29, 36 (at noon)",
    **{k: f"painsim.{f.__name__}() defaults, {_in_words(f())}"
       for k, f in _TREATMENTS.items()},
}


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
    """Run the demo: each model patient through the three arms with
    :func:`painsim.simulate` (daily morning pain, 0–10, read at :data:`DEMO_DAYS`)."""
    arms = [Arm(name="no treatment")] + [
        Arm(name=name, protocol=Protocol(intervention=f(), schedule=_SCHEDULE))
        for name, f in _TREATMENTS.items()]
    pain = {}
    for pt in _PATIENTS:
        cohort = Cohort(n=1, seed=_SEED, mix={pt: 1.0}, phenotypes=DEMO_PATIENTS,
                        random_flares=False)
        res = simulate(arms, cohort, max(DEMO_DAYS), rtol=1e-8, atol=1e-10)
        at = np.searchsorted(res.days, DEMO_DAYS)
        for arm in _ARMS:
            pain[(pt, arm)] = res.pain[arm][0, at]
    return DemoResult(days=DEMO_DAYS, pain=pain)


def format_demo(result: DemoResult) -> str:
    """The demo as a plain-text table with its assumptions and a disclaimer."""
    head = "patient  arm            " + "".join(f"day {d:<5g}" for d in result.days)
    lines = ["painsim demo: pain (0-10) of one model patient per row", "", head,
             "-" * len(head)]
    for (pt, arm), v in result.pain.items():
        lines.append(f"{pt:<8} {arm:<14} " + "".join(f"{x:<9.2f}" for x in v))
    lines += ["", "assumptions:"]
    lines += [f"  {k}: {v}" for k, v in DEMO_PROTOCOL.items()]
    lines += ["", "These are painsim's default interventions, fitted to published figures where",
              "the evidence suite has one (`painsim validate`); every needling visit adds the",
              "same non-specific relief as sham. Other values change the result.",
              "See `painsim describe` for every equation and parameter.",
              DISCLAIMER]
    return "\n".join(lines)
