"""Replay one patient of a results folder, bit for bit, and tell its course in words.

A results folder's manifest holds the scenario's text, the seed and the solver settings
(and the SHA-256 of any per-patient table files). Every patient's numbers depend only on
its own lane and random streams, so re-running one patient alone gives exactly the
numbers of its row in ``patients.csv`` and ``trajectories.csv``, whatever the workers and
chunks of the original run (:func:`painsim.engine.replay_patient`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PainsimError, ParameterError

__all__ = ["Replay", "replay"]


@dataclass(frozen=True)
class Replay:
    """One patient of one arm, re-run.

    Attributes
    ----------
    arm : str
    patient : int
    days : ndarray
        The daily grid (days).
    pain : ndarray
        Daily pain (0–10) of this patient in this arm.
    row : dict
        Its outcome row (the columns of ``patients.csv``).
    events : pandas.DataFrame
        Its event log (the rows of ``events.csv``).
    result : SimulationResult
        The replayed patient in every arm.
    """

    arm: str
    patient: int
    days: Any
    pain: Any
    row: dict[str, Any]
    events: Any
    result: Any

    def account(self) -> str:
        """A plain-language account of the patient's course in this arm."""
        r, ev = self.row, self.events
        d = self.days
        lines = [f"Patient {self.patient} ({r['phenotype']}), arm {self.arm!r}:"]
        lines.append(f"- pain {self.pain[0]:.1f}/10 at day 0, {self.pain[-1]:.1f}/10 at day "
                     f"{d[-1]:g} (lowest {np.nanmin(self.pain):.1f} on day "
                     f"{d[int(np.nanargmin(self.pain))]:g}).")
        sess = ev[ev.kind == "session"]
        if len(sess):
            shown = ", ".join(f"{x:g}" for x in sess.day.tolist()[:10])
            more = ", ..." if len(sess) > 10 else ""
            lines.append(f"- {len(sess)} session(s), on days {shown}{more}.")
        else:
            lines.append("- no sessions.")
        flares = ev[ev.kind.str.startswith("flare") | ev.kind.str.startswith("event")]
        if len(flares):
            lines.append(f"- {len(flares)} flare(s) or other events: " + "; ".join(
                f"day {t:.1f} {k} ({x})" for t, k, x in zip(
                    flares.day, flares.kind, flares.detail, strict=True)) + ".")
        adverse = ev[ev.kind == "adverse event"]
        if len(adverse):
            lines.append("- adverse events: " + ", ".join(
                f"{x} (day {t:.1f})" for t, x in zip(adverse.day, adverse.detail,
                                                     strict=True)) + ".")
        if r.get("relief"):
            lines.append(f"- relief from day {r['days_to_relief']:.2f}, after "
                         f"{int(r['sessions_to_relief'])} session(s).")
            if r.get("relapse"):
                lines.append(f"- relapse on day {r['relapse_day']:.2f}, "
                             f"{r['days_relief_to_relapse_or_censor']:.1f} days after "
                             "relief.")
            else:
                lines.append("- no relapse by the end of follow-up.")
        else:
            lines.append("- no lasting relief (by the scenario's relief definition).")
        if int(r.get("solver_status", 0)) != 0:
            lines.append(f"- the solver failed for this patient (status "
                         f"{int(r['solver_status'])}).")
        return "\n".join(lines)

    def plot(self, path: Path) -> Path:
        """Pain over time with sessions and events marked: a PNG at ``path`` (a slide's
        resolution) and an SVG of the same name beside it."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .plots import save_figure
        from .results import DISCLAIMER

        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.plot(self.days, self.pain, color="C0", label=f"pain, arm {self.arm!r}")
        ev = self.events
        for kind, style in (("session", dict(color="C2", ls="-", lw=0.8)),
                            ("adverse event", dict(color="C3", ls=":", lw=1.0))):
            for i, t in enumerate(ev[ev.kind == kind].day.tolist()):
                ax.axvline(t, alpha=0.6, label=kind if i == 0 else None, **style)
        fl = ev[ev.kind.str.startswith("flare") | ev.kind.str.startswith("event")]
        for i, t in enumerate(fl.day.tolist()):
            ax.axvline(t, color="C1", ls="--", lw=0.8, alpha=0.7,
                       label="flare / event" if i == 0 else None)
        ax.set(xlabel="day", ylabel="pain (0–10)", ylim=(0, 10),
               title=f"Replay: patient {self.patient}, arm {self.arm!r}")
        ax.legend(loc="upper right", fontsize=8)
        fig.text(0.01, 0.01, DISCLAIMER, fontsize=6, color="0.4")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = Path(path)
        save_figure(fig, path.parent, path.stem)  # the PNG at path and an SVG beside it
        return path


def _manifest(folder: Path) -> dict[str, Any]:
    mf = Path(folder) / "manifest.json"
    if not mf.is_file():
        raise PainsimError(f"{folder}: not a painsim results folder (no manifest.json)")
    try:
        m = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise PainsimError(f"{mf}: broken manifest ({exc})") from None
    if not isinstance(m, dict) or "scenario_text" not in m:
        raise PainsimError(f"{mf}: no scenario_text: only a results folder written from "
                           "a scenario file (painsim run) can be replayed")
    return m


def replay(folder: str | Path, arm: str, patient: int) -> Replay:
    """Re-run patient ``patient`` of arm ``arm`` of the results folder ``folder``.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``painsim run``.
    arm : str
        An arm's name, as in ``patients.csv``.
    patient : int
        The patient's index (0-based), as in ``patients.csv``.

    Returns
    -------
    Replay

    Raises
    ------
    PainsimError
        When the folder is not a results folder, the arm or patient does not exist, or a
        per-patient input file changed since the run (its SHA-256 differs).
    """
    from .engine import replay_patient
    from .scenario import load_scenario

    m = _manifest(Path(folder))
    src = Path(m.get("scenario_file", "scenario.toml"))
    for rel, sha in (m.get("input_files_sha256") or {}).items():
        f = src.parent / rel
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != sha:
            raise PainsimError(f"{folder}: input file {f} is missing or changed since the "
                               "run (its SHA-256 differs from the manifest's); a replay "
                               "would not give the run's numbers")
    s = load_scenario(src, patients=m.get("patients"), seed=m.get("seed"),
                      text=m["scenario_text"])
    names = [a.name for a in s.arms]
    if arm not in names:
        raise ParameterError("--arm", arm, ", ".join(names), why="is not an arm of this run")
    if isinstance(patient, bool) or not isinstance(patient, int) or \
            not 0 <= patient < s.patients:
        raise ParameterError("--patient", patient, f"0 to {s.patients - 1}")
    solver = m.get("solver", {})
    res = replay_patient(list(s.arms), s.cohort, s.horizon_days, patient,
                         outcomes=s.outcomes, epoch_days=s.epoch_days,
                         rtol=solver.get("rtol", s.rtol), atol=solver.get("atol", s.atol),
                         backend=solver.get("backend", "numpy"))
    row = res.patients[res.patients.arm == arm].iloc[0].to_dict()
    events = res.events[res.events.arm == arm].reset_index(drop=True)
    return Replay(arm=arm, patient=patient, days=res.days, pain=res.pain[arm][0], row=row,
                  events=events, result=res)


def formatted(x: Any) -> str:
    """A value as the results writer formats it (``%.6g``; empty for NaN)."""
    if isinstance(x, float | np.floating):
        return "" if math.isnan(x) else f"{x:.6g}"
    return str(x)
