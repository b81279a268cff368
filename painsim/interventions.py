"""Interventions: what one session does, as validated, frozen effect lists.

An :class:`Intervention` is a tuple of :class:`Effect` objects, each acting on a named
target of the model at the session time, for the treated patient only:

* a **state** (``op="add"`` or ``"scale"``): a *local* lever moves the state;
* a **parameter** (``op="add"`` or ``"scale"``, clipped to the parameter's allowed
  range, lasting for the rest of the run): a change of *drivers*;
* a model **pulse** (``op="pulse"``), e.g. the pain-loop model's ``analgesia``.

An effect may happen only with a probability per session (post-needling soreness,
bruising); whether it happens is drawn from the patient's own random stream, so arms
that share patients share these draws where they can. Effects with ``event`` set are
written to the event log when they happen (adverse events).

The factories below encode the claims of ``claims.md`` as *default assumptions*; every
number is a keyword argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError, check_number, did_you_mean
from .model import Model

__all__ = [
    "Effect",
    "Intervention",
    "acupuncture",
    "combine",
    "dry_needling",
    "exercise",
    "no_treatment",
    "sham",
    "usual_care",
]

_OPS = ("add", "scale", "pulse", "none")


def _check(owner: str, name: str, value: float, lo: float, hi: float, unit: str = "") -> None:
    check_number(f"{owner}.{name}", value, lo, hi, unit)


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """One effect of a session on a named target.

    Parameters
    ----------
    target : str
        A state name, a parameter name, or a pulse the model defines (``analgesia``).
    op : {"add", "scale", "pulse", "none"}
        ``add``: target += value; ``scale``: target *= value; ``pulse``: the model's
        pulse function with dose ``value``; ``none``: no effect on the model, only the
        ``event`` is logged (e.g. bruising); ``target`` is then free text.
    value : float
        Amount (``add``, ``pulse``: >= 0; ``scale``: factor in [0, 10]).
    probability : float
        Chance per session that the effect happens, 0–1.
    event : str, optional
        Name written to the event log when it happens (e.g. ``"soreness"``).
    """

    target: str
    op: str = "add"
    value: float = 0.0
    probability: float = 1.0
    event: str | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ParameterError(f"Effect({self.target}).op", self.op, ", ".join(_OPS))
        hi = 10.0 if self.op == "scale" else math.inf
        _check(f"Effect({self.target})", "value", self.value, 0.0, hi)
        _check(f"Effect({self.target})", "probability", self.probability, 0.0, 1.0)

    @property
    def is_identity(self) -> bool:
        """True when the effect changes nothing (scale 1, add 0, a dose-0 pulse, or log-only)."""
        return (self.op == "none" or (self.op == "scale" and self.value == 1.0)
                or (self.op in ("add", "pulse") and self.value == 0.0))

    def kind(self, model: Model) -> str:
        """``"state"``, ``"parameter"``, ``"pulse"`` or ``"none"``; raises if unknown."""
        if self.op == "none":
            return "none"
        if self.op == "pulse":
            if self.target in model.pulses:
                return "pulse"
            allowed = ", ".join(model.pulses) or "(the model defines no pulses)"
            raise ParameterError(f"Effect.target ({self.op})", self.target, allowed,
                                 why=f"is not a pulse of model {model.name!r}"
                                 + did_you_mean(self.target, tuple(model.pulses)))
        if self.target in model.state_index:
            return "state"
        if self.target in model.parameter_index:
            return "parameter"
        names = (*model.state_names, *model.parameter_names)
        raise ParameterError("Effect.target", self.target,
                             "states " + ", ".join(model.state_names) + "; parameters "
                             + ", ".join(model.parameter_names),
                             why=f"is not a state or parameter of model {model.name!r}"
                             + did_you_mean(self.target, names))


@dataclass(frozen=True, slots=True, kw_only=True)
class Intervention:
    """What one session of a treatment does.

    Parameters
    ----------
    name : str
        Label used in outputs and the event log.
    lever : {"local", "systemic", "nonspecific", "mixed", "none"}
        Which lever it pulls, for documentation and reports.
    effects : tuple of Effect
        Applied in order at the session time.
    session_minutes : float
        Session length (needle retention), minutes; informative.
    claims : tuple of str
        Ids in ``claims.md`` whose assumptions this encodes.
    """

    name: str
    lever: str
    effects: tuple[Effect, ...] = ()
    session_minutes: float = 0.0
    claims: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        levers = ("local", "systemic", "nonspecific", "mixed", "none")
        if self.lever not in levers:
            raise ParameterError(f"{self.name}.lever", self.lever, ", ".join(levers))
        if not self.name:
            raise ParameterError("Intervention.name", self.name, "a non-empty name")
        _check(self.name, "session_minutes", self.session_minutes, 0.0, 24 * 60, " min")

    def validate_for(self, model: Model) -> None:
        """Raise :class:`ParameterError` if any effect's target is unknown to ``model``."""
        for e in self.effects:
            e.kind(model)

    def apply(self, model: Model, y: NDArray, P: NDArray, lanes: NDArray,
              happens: NDArray) -> NDArray:
        """Apply the session to lanes ``lanes`` (positions in ``y`` and ``P``).

        Parameters
        ----------
        y : ndarray, shape (n_states, m)
            States of the treated lanes; a modified copy is returned.
        P : ndarray, shape (n_parameters, n_lanes)
            Per-lane parameters of all lanes, changed in place for parameter effects.
        lanes : ndarray of int, shape (m,)
            Columns of ``P`` for the treated lanes.
        happens : ndarray of bool, shape (n_effects, m)
            Whether each effect happens at this session (drawn by the caller).
        """
        y = np.array(y, dtype=float)
        for e, h in zip(self.effects, happens, strict=True):
            if not h.any():
                continue
            kind = e.kind(model)
            if kind == "none":
                continue
            if kind == "pulse":
                sel = np.flatnonzero(h)
                y[:, sel] = model.pulses[e.target](y[:, sel], P[:, lanes[sel]], e.value)
            elif kind == "state":
                i = model.state_index[e.target]
                y[i] = np.where(h, y[i] + e.value if e.op == "add" else y[i] * e.value, y[i])
            else:
                j = model.parameter_index[e.target]
                par = model.parameters[j]
                cols = lanes[h]
                new = P[j, cols] + e.value if e.op == "add" else P[j, cols] * e.value
                P[j, cols] = np.clip(new, *par.bounds)
        return y


def dry_needling(*, release: float = 0.7, soreness: float = 0.1,
                 p_soreness: float = 0.3, analgesia: float = 1.0,
                 session_minutes: float = 5.0) -> Intervention:
    """Dry needling, a *local* lever: the session moves the state.

    Parameters
    ----------
    release : float
        Fraction of muscle tension T released (0–1) (000-1, 002-1).
    soreness : float
        Inflammation added when post-needling soreness occurs; it resolves over
        ~τ_I (1–3 days) (002-2, 002-4).
    p_soreness : float
        Probability of soreness per session; about 30% (003-4; trials report 29–91%).
    analgesia : float
        Session-locked analgesia pulse (endorphin-like, half-life ~16 min) (002-1).
    session_minutes : float
        "Flash" needling is brief (000-6).
    """
    _check("dry_needling", "release", release, 0.0, 1.0)
    return Intervention(
        name="dry needling", lever="local", session_minutes=session_minutes,
        claims=("000-1", "000-6", "002-1", "002-2", "002-4", "003-4"),
        effects=(Effect(target="T", op="scale", value=1.0 - release),
                 Effect(target="I", op="add", value=soreness, probability=p_soreness,
                        event="soreness"),
                 Effect(target="analgesia", op="pulse", value=analgesia)))


def acupuncture(*, dose: float = 0.15, analgesia: float = 1.0, release: float = 0.1,
                p_bruising: float = 0.15, session_minutes: float = 25.0) -> Intervention:
    """Acupuncture, a *systemic* lever: the session changes the drivers.

    Parameters
    ----------
    dose : float
        Added to the slow systemic state R, which lifts the sensitization threshold and
        lowers the arousal set-point (000-3, 000-9, 001-3).
    analgesia : float
        Session-locked analgesia pulse.
    release : float
        Small local effect on tension (0–1).
    p_bruising : float
        Probability of bruising/bleeding per session, logged as an adverse event
        (003-4 claims about 15% of patients; reviews report about 6% per course).
    session_minutes : float
        Needles retained 20–30 minutes (000-6).
    """
    _check("acupuncture", "release", release, 0.0, 1.0)
    return Intervention(
        name="acupuncture", lever="systemic", session_minutes=session_minutes,
        claims=("000-3", "000-6", "000-9", "001-3", "003-4"),
        effects=(Effect(target="R", op="add", value=dose),
                 Effect(target="T", op="scale", value=1.0 - release),
                 Effect(target="analgesia", op="pulse", value=analgesia),
                 Effect(target="bruising", op="none", probability=p_bruising,
                        event="bruising")))


def sham(*, analgesia: float = 0.7, dose: float = 0.05,
         session_minutes: float = 20.0) -> Intervention:
    """Sham needling: a *non-specific* effect only (expectation, attention, ritual).

    In real trials sham needling gets much of the benefit; here a smaller analgesia
    pulse and a small systemic dose stand for that (an assumption to vary).
    """
    return Intervention(
        name="sham", lever="nonspecific", session_minutes=session_minutes,
        effects=(Effect(target="R", op="add", value=dose),
                 Effect(target="analgesia", op="pulse", value=analgesia)))


def exercise(*, tension_baseline_factor: float = 0.95, arousal_baseline_factor: float = 0.97,
             dose: float = 0.03, session_minutes: float = 45.0) -> Intervention:
    """Exercise / physical therapy: slow changes of drivers over weeks (004).

    Each session lowers baseline tension ``T0`` and baseline arousal ``a0`` by the
    given factors (lasting; parameters), and adds a small systemic dose to R
    (exercise-induced hypoalgesia).
    """
    return Intervention(
        name="exercise", lever="systemic", session_minutes=session_minutes,
        claims=("004-1",),
        effects=(Effect(target="T0", op="scale", value=tension_baseline_factor),
                 Effect(target="a0", op="scale", value=arousal_baseline_factor),
                 Effect(target="R", op="add", value=dose)))


def usual_care(*, dose: float = 0.02, session_minutes: float = 15.0) -> Intervention:
    """Usual care (advice, reassurance, simple analgesics): a small systemic dose per visit."""
    return Intervention(name="usual care", lever="nonspecific",
                        session_minutes=session_minutes,
                        effects=(Effect(target="R", op="add", value=dose),))


def no_treatment() -> Intervention:
    """No treatment: a session that does nothing (natural course when scheduled)."""
    return Intervention(name="no treatment", lever="none")


def combine(*parts: Intervention, name: str | None = None) -> Intervention:
    """Several interventions in one visit, effects applied in the order given (001-4, 003-6)."""
    if not parts:
        raise ParameterError("combine", "()", "at least one intervention")
    levers = {p.lever for p in parts} - {"none"}
    return Intervention(
        name=name or " + ".join(p.name for p in parts),
        lever=levers.pop() if len(levers) == 1 else ("mixed" if levers else "none"),
        effects=tuple(e for p in parts for e in p.effects),
        session_minutes=max(p.session_minutes for p in parts),
        claims=tuple(dict.fromkeys(c for p in parts for c in p.claims)))
