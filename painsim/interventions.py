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

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError, check_number, check_text, check_type, did_you_mean
from .fields import Key, check_arguments
from .model import Model

__all__ = [
    "ACUPUNCTURE_AE_CLUSTERING",
    "ACUPUNCTURE_P_ADVERSE",
    "DRY_NEEDLING_P_BRUISING",
    "NONSPECIFIC",
    "PARAMETERS",
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
    per_visit : bool
        The effect belongs to the visit, not to the technique (the non-specific relief
        of expectation, attention and ritual): when :func:`combine` puts several
        techniques in one visit, identical per-visit effects are applied once.
    clustering : float
        How much the effect clusters in patients, 0 <= rho < 1. 0: every patient has
        ``probability`` at every session (sessions independent). rho > 0: patient i
        has its own per-session probability p_i ~ Beta(a, b) with mean ``probability``
        and intra-patient correlation rho = 1 / (a + b + 1), so the number of
        sessions with the effect in a course of n is beta-binomial: the share of
        sessions stays ``probability`` while fewer patients have it at all. p_i is the
        Beta quantile of one uniform per patient (its ``susceptibility`` stream), the
        same uniform for every clustered effect: a patient prone to one adverse event
        is prone to all.
    """

    target: str
    op: str = "add"
    value: float = 0.0
    probability: float = 1.0
    event: str | None = None
    per_visit: bool = False
    clustering: float = 0.0

    def __post_init__(self) -> None:
        check_text("Effect.target", self.target, "a state, parameter or pulse name")
        check_type("Effect.per_visit", self.per_visit, bool, "True or False")
        check_type("Effect.op", self.op, str, ", ".join(_OPS))
        check_type("Effect.event", self.event, str, "a non-empty event name or None",
                   optional=True)
        if self.event is not None:
            check_text("Effect.event", self.event, "a non-empty event name or None")
        if self.op not in _OPS:
            raise ParameterError(f"Effect({self.target}).op", self.op, ", ".join(_OPS))
        hi = 10.0 if self.op == "scale" else math.inf
        _check(f"Effect({self.target})", "value", self.value, 0.0, hi)
        _check(f"Effect({self.target})", "probability", self.probability, 0.0, 1.0)
        _check(f"Effect({self.target})", "clustering", self.clustering, 0.0, 1.0)
        if self.clustering >= 1.0:
            raise ParameterError(f"Effect({self.target}).clustering", self.clustering,
                                 "a number in [0, 1)", why="is 1 (a Beta needs rho < 1)")

    def patient_probability(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each patient's per-session probability from its susceptibility ``u`` (uniform
        on [0, 1)): ``probability`` itself when the effect does not cluster (or is
        certain or impossible), else the Beta(a, b) quantile of ``u`` with mean
        ``probability`` and intra-patient correlation ``clustering`` (see the class)."""
        from scipy.special import betaincinv

        u = np.asarray(u, dtype=float)
        p, rho = self.probability, self.clustering
        if rho == 0.0 or p in (0.0, 1.0):
            return np.full(u.shape, p)
        a, b = p * (1.0 - rho) / rho, (1.0 - p) * (1.0 - rho) / rho
        return betaincinv(a, b, u)

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
            if not model.parameters[model.parameter_index[self.target]].per_patient:
                raise ParameterError("Effect.target", self.target,
                                     "a state or a per-patient parameter",
                                     why=f"is a cohort-wide constant of model {model.name!r}"
                                     " (a session cannot change it for one patient)")
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


#: Non-specific relief added to the state C by one visit (expectation, attention,
#: ritual; the part of a treatment's effect that a sham control shares), by kind of
#: visit. Read when a factory is called, so editing this dict changes every later
#: intervention. ``needling``: any needling visit (sham, acupuncture, dry needling) —
#: basis: fitted to the evidence suite (GERAC sham responders at 6 months, 44.2%;
#: benchmarks/results/fit.json). ``visit``: a visit without needles (usual care,
#: exercise) — basis: fitted to the evidence suite (GERAC conventional responders,
#: 27.4%; refitted alone after a visit of several techniques stopped counting it once
#: per technique). The non-specific relief of needling is the same for every needling arm by
#: design: a sham arm exists to measure it.
NONSPECIFIC: dict[str, float] = {"needling": 0.0821, "visit": 0.0285}

#: Chance of bruising per dry-needling session, the default of
#: ``dry_needling(p_bruising=...)`` (and of the scenario key of that name). Basis:
#: published figure, Brady et al. 2014 (J Man Manip Ther 22:134-140): bruising after
#: 7.55% of 1,463 treatments.
DRY_NEEDLING_P_BRUISING = 0.0755

#: Mean chance per acupuncture session of an adverse event (logged as bruising), the
#: default of ``acupuncture(p_bruising=...)``. Basis: published figure, Bäumler et al.
#: 2021 (BMJ Open 11:e045961): an adverse event in 7.57% of treatments.
ACUPUNCTURE_P_ADVERSE = 0.0757

#: How those adverse events cluster in patients (:attr:`Effect.clustering`), the
#: default of ``acupuncture(ae_clustering=...)``. Basis: fitted to the evidence suite
#: (Bäumler et al. 2021: 9.31% of patients with >= 1 adverse event over a course, given
#: 7.57% of treatments); see :func:`acupuncture`.
ACUPUNCTURE_AE_CLUSTERING = 0.915


def _nonspecific(kind: str, value: float | None = None) -> Effect:
    """The non-specific relief of a visit of ``kind``: ``value``, or when it is None the
    shared default ``NONSPECIFIC[kind]`` read now."""
    return Effect(target="C", op="add", per_visit=True,
                  value=float(NONSPECIFIC[kind] if value is None else value))


def dry_needling(*, release: float = 0.7, soreness: float = 0.1,
                 p_soreness: float = 0.126, analgesia: float = 1.0,
                 p_bruising: float = DRY_NEEDLING_P_BRUISING,
                 nonspecific: float | None = None,
                 session_minutes: float = 5.0) -> Intervention:
    """Dry needling, a *local* lever: the session moves the state.

    Every session also adds the non-specific relief of a needling visit
    (``nonspecific``; by default :data:`NONSPECIFIC` ``["needling"]``, the same as
    sham's) and may cause bruising (``p_bruising``, logged as an adverse event).

    Parameters
    ----------
    release : float
        Fraction of muscle tension T released (0–1) (000-1, 002-1). Basis: assumption,
        no published figure (no target of the evidence suite measures it).
    soreness : float
        Soreness Q added when post-needling soreness occurs (felt, outside the pain
        loop); it resolves over ~τ_Q (000-2, 002-2, 002-4). Basis: assumption, no
        published figure; its decay is checked by evidence target "dry-needling
        soreness left at 72 h".
    p_soreness : float
        Probability of soreness per session. Basis: published figure, Brady et al.
        2014: mild adverse events after 19.18% of treatments, bruising after 7.55%;
        with bruising drawn independently, soreness (all other mild events) is
        1 − (1 − 0.1918)/(1 − 0.0755) = 0.126 per session.
    analgesia : float
        Session-locked analgesia pulse (endorphin-like, half-life ~16 min) (002-1).
        Basis: assumption, no published figure.
    p_bruising : float
        Probability of bruising per session (0–1), drawn independently of soreness.
        Basis: published figure (:data:`DRY_NEEDLING_P_BRUISING`): Brady et al. 2014,
        bruising after 7.55% of 1,463 treatments.
    nonspecific : float or None
        Non-specific relief of the visit; see :func:`sham`.
    session_minutes : float
        "Flash" needling is brief (000-6). Basis: assumption (informative only).
    """
    check_arguments("dry_needling", PARAMETERS["dry_needling"], locals())
    return Intervention(
        name="dry needling", lever="local", session_minutes=session_minutes,
        claims=("000-1", "000-6", "002-1", "002-2", "002-4", "003-4"),
        effects=(Effect(target="T", op="scale", value=1.0 - release),
                 Effect(target="Q", op="add", value=soreness, probability=p_soreness,
                        event="soreness"),
                 Effect(target="analgesia", op="pulse", value=analgesia),
                 _nonspecific("needling", nonspecific),
                 Effect(target="bruising", op="none",
                        probability=float(p_bruising), event="bruising")))


def acupuncture(*, dose: float = 0.00027, analgesia: float = 1.0, release: float = 0.1,
                p_bruising: float = ACUPUNCTURE_P_ADVERSE,
                ae_clustering: float = ACUPUNCTURE_AE_CLUSTERING,
                nonspecific: float | None = None,
                session_minutes: float = 25.0) -> Intervention:
    """Acupuncture, a *systemic* lever: the session changes the drivers.

    Every session also adds the non-specific relief of a needling visit
    (``nonspecific``; by default :data:`NONSPECIFIC` ``["needling"]``, the same as
    sham's).

    Parameters
    ----------
    dose : float
        Added to the slow systemic state R (Emax effect: it lifts the sensitization
        threshold and lowers the arousal set-point) (000-3, 000-9, 001-3): the
        *specific* effect over sham. Basis: fitted to the evidence suite (GERAC verum
        responders at 6 months, 47.6%, against sham's 44.2%;
        benchmarks/results/fit.json).
    analgesia : float
        Session-locked analgesia pulse. Basis: assumption, no published figure.
    release : float
        Small local effect on tension (0–1). Basis: assumption, no published figure.
    p_bruising : float
        Probability per session of an adverse event (bruising, bleeding, haematoma),
        logged as "bruising": the mean over patients (see ``ae_clustering``). Basis:
        published figure, Bäumler et al. 2021: an adverse event in 7.57% (95% CI
        1.43–17.95%, 5 studies) of treatments.
    ae_clustering : float
        Intra-patient correlation rho of those adverse events across sessions
        (:attr:`Effect.clustering`; 0: sessions independent). Basis: fitted to the
        evidence suite — with ``p_bruising`` at 7.57% of treatments, rho = 0.915 gives
        Bäumler et al. 2021's 9.31% of patients (95% CI 5.10–14.62%, 11 studies) with
        >= 1 adverse event over a 10-session course (beta-binomial, exact; the
        simulated check is scenarios/evidence/baumler2021_acupuncture_ae.toml). Read
        together the two pooled figures say adverse events concentrate in few patients:
        about 7.5% of patients have p_i > 0.5, 88% have p_i < 0.001. That rests on
        reading two pooled estimates from different studies (I² > 80%) as one
        population; with rho = 0 they cannot both hold (9.31% of patients over 10
        independent sessions is 0.97% of treatments).
    nonspecific : float or None
        Non-specific relief of the visit; see :func:`sham`.
    session_minutes : float
        Needles retained 20–30 minutes (000-6). Basis: assumption from claim 000-6
        (informative only).
    """
    check_arguments("acupuncture", PARAMETERS["acupuncture"], locals())
    return Intervention(
        name="acupuncture", lever="systemic", session_minutes=session_minutes,
        claims=("000-3", "000-6", "000-9", "001-3", "003-4"),
        effects=(Effect(target="R", op="add", value=dose),
                 Effect(target="T", op="scale", value=1.0 - release),
                 Effect(target="analgesia", op="pulse", value=analgesia),
                 _nonspecific("needling", nonspecific),
                 Effect(target="bruising", op="none", probability=p_bruising,
                        event="bruising", clustering=ae_clustering)))


def sham(*, analgesia: float = 0.7, dose: float = 0.0, nonspecific: float | None = None,
         session_minutes: float = 20.0) -> Intervention:
    """Sham needling: the *non-specific* effect of a needling visit only.

    Adds the non-specific relief of a needling visit (``nonspecific``; by default
    :data:`NONSPECIFIC` ``["needling"]``, the same as every needling arm's) and a small
    analgesia pulse; no release of tension, no adverse events, and no specific systemic
    dose unless ``dose`` is set. In real trials sham needling gets
    most of the benefit (GERAC: 44.2% responders at 6 months against 47.6% for verum;
    evidence file gerac2007_responders.toml), and here it does through C.

    Parameters
    ----------
    analgesia : float
        Session-locked analgesia pulse. Basis: assumption, no published figure.
    dose : float
        Systemic dose added to R. Basis: assumption: 0, since a sham control has by
        definition no specific effect.
    nonspecific : float or None
        Non-specific relief added to the state C by the visit (dimensionless, >= 0:
        the loop's pain is divided by 1 + k_E·E + C, and C decays over τ_C). None (the
        default, in every factory): the shared :data:`NONSPECIFIC` value for the kind
        of visit (``"needling"`` here and for dry needling and acupuncture,
        ``"visit"`` for exercise and usual care), read when the factory is called.
        Basis: fitted to the evidence suite (GERAC sham and conventional responders;
        see :data:`NONSPECIFIC`). Setting it on one arm only makes that arm's
        non-specific effect differ from its control's: an assumption to state.
    session_minutes : float
        Basis: assumption (informative only).
    """
    check_arguments("sham", PARAMETERS["sham"], locals())
    return Intervention(
        name="sham", lever="nonspecific", session_minutes=session_minutes,
        effects=(Effect(target="R", op="add", value=dose),
                 Effect(target="analgesia", op="pulse", value=analgesia),
                 _nonspecific("needling", nonspecific)))


def exercise(*, tension_baseline_factor: float = 0.95, arousal_baseline_factor: float = 0.97,
             dose: float = 0.0, nonspecific: float | None = None,
             session_minutes: float = 45.0) -> Intervention:
    """Exercise / physical therapy: slow changes of drivers over weeks (004).

    Each session lowers baseline tension ``T0`` and baseline arousal ``a0`` by the
    given factors (lasting; parameters), adds a small systemic dose to R
    (exercise-induced hypoalgesia) and the non-specific relief of a visit without
    needles (``nonspecific``; by default :data:`NONSPECIFIC` ``["visit"]``, see
    :func:`sham` for its meaning). Basis of ``tension_baseline_factor``,
    ``arousal_baseline_factor`` and ``session_minutes``: assumption, no published
    figure. ``dose``: assumption, 0 by default (was 0.03): with the factors and the
    visit's non-specific relief, conventional therapy already has the GERAC responders
    (27.4%), and the suite holds no figure that separates a systemic part.
    """
    check_arguments("exercise", PARAMETERS["exercise"], locals())
    return Intervention(
        name="exercise", lever="systemic", session_minutes=session_minutes,
        claims=("004-1",),
        effects=(Effect(target="T0", op="scale", value=tension_baseline_factor),
                 Effect(target="a0", op="scale", value=arousal_baseline_factor),
                 Effect(target="R", op="add", value=dose),
                 _nonspecific("visit", nonspecific)))


def usual_care(*, dose: float = 0.0, nonspecific: float | None = None,
               session_minutes: float = 15.0) -> Intervention:
    """Usual care (advice, reassurance, simple analgesics): the non-specific relief of a
    visit without needles (``nonspecific``; by default :data:`NONSPECIFIC` ``["visit"]``,
    see :func:`sham` for its meaning), plus ``dose`` added to R.

    Basis of ``dose`` (0) and ``session_minutes``: assumption, no published figure.
    """
    check_arguments("usual_care", PARAMETERS["usual_care"], locals())
    return Intervention(name="usual care", lever="nonspecific",
                        session_minutes=session_minutes,
                        effects=(Effect(target="R", op="add", value=dose),
                                 _nonspecific("visit", nonspecific)))


def _nonspecific_key(kind: str, what: str, basis: str) -> Key:
    """The ``nonspecific`` key of a treatment whose visit is of ``kind``."""
    return Key("float", "Non-specific relief (expectation, attention, ritual) added to the "
               "state C by each visit; dimensionless: the loop's pain is divided by "
               "1 + k_E*E + C, and C decays over tau_C. Absent: the shared default for "
               f"{what}, painsim.interventions.NONSPECIFIC['{kind}'] = "
               f"{NONSPECIFIC[kind]:g} (fitted to {basis}). Set on one arm only, that "
               "arm's non-specific effect differs from its control's.", None, 0, 10)


_NEEDLING = ("every needling visit (sham, dry needling, acupuncture)",
             "GERAC sham responders at 6 months, 44.2%")
_VISIT = ("a visit without needles (exercise, usual care)",
          "GERAC conventional-care responders at 6 months, 27.4%")

#: Treatment kind -> its factory's keyword arguments as :class:`~painsim.fields.Key` s
#: (meaning, allowed range, unit): the factory checks its arguments against them, and
#: scenario files (``[[arms.treatment]]``, :data:`painsim.scenario.TREATMENTS`) use them.
#: Each key's default is the factory's own, filled in below.
PARAMETERS: dict[str, dict[str, Key]] = {
    "dry_needling": {
        "release": Key("float", "Fraction of tension released.", lo=0, hi=1),
        "soreness": Key("float", "Soreness Q added when post-needling soreness occurs "
                        "(felt, outside the pain loop; decays over tau_Q).", lo=0, hi=10),
        "p_soreness": Key("float", "Probability of soreness per session.", lo=0, hi=1),
        "analgesia": Key("float", "Analgesia pulse.", lo=0, hi=10),
        "p_bruising": Key("float", "Probability of bruising per session, logged as an "
                          "adverse event (Brady et al. 2014: 7.55% of treatments).",
                          lo=0, hi=1),
        "nonspecific": _nonspecific_key("needling", *_NEEDLING),
        "session_minutes": Key("float", "Session length.", lo=0, hi=1440, unit="min")},
    "acupuncture": {
        "dose": Key("float", "Added to the systemic state R.", lo=0, hi=10),
        "analgesia": Key("float", "Analgesia pulse.", lo=0, hi=10),
        "release": Key("float", "Small local release of tension.", lo=0, hi=1),
        "p_bruising": Key("float", "Probability per session of an adverse event "
                          "(bruising, bleeding), logged as bruising: the mean over patients "
                          "(Baeumler et al. 2021: 7.57% of treatments).", lo=0, hi=1),
        "ae_clustering": Key("float", "Intra-patient correlation of those adverse events "
                             "across sessions (0: independent sessions; each patient's own "
                             "probability is Beta-distributed around p_bruising). Fitted to "
                             "Baeumler et al. 2021's 9.31% of patients over a course.",
                             lo=0, hi=0.999),
        "nonspecific": _nonspecific_key("needling", *_NEEDLING),
        "session_minutes": Key("float", "Needle retention.", lo=0, hi=1440, unit="min")},
    "sham": {
        "analgesia": Key("float", "Non-specific analgesia pulse.", lo=0, hi=10),
        "dose": Key("float", "Added to the systemic state R per session (0: a sham has "
                    "no specific effect).", lo=0, hi=10),
        "nonspecific": _nonspecific_key("needling", *_NEEDLING),
        "session_minutes": Key("float", "Session length.", lo=0, hi=1440, unit="min")},
    "exercise": {
        "tension_baseline_factor": Key("float", "T0 multiplied per session.", lo=0, hi=2),
        "arousal_baseline_factor": Key("float", "a0 multiplied per session.", lo=0, hi=2),
        "dose": Key("float", "Added to R per session.", lo=0, hi=10),
        "nonspecific": _nonspecific_key("visit", *_VISIT),
        "session_minutes": Key("float", "Session length.", lo=0, hi=1440, unit="min")},
    "usual_care": {
        "dose": Key("float", "Added to R per visit.", lo=0, hi=10),
        "nonspecific": _nonspecific_key("visit", *_VISIT),
        "session_minutes": Key("float", "Visit length.", lo=0, hi=1440, unit="min")},
}

# Defaults come from the factories themselves, so the reference cannot drift from them.
for _kind, _keys in PARAMETERS.items():
    _factory = globals()[_kind]
    if set(_keys) != set(_factory.__kwdefaults__):  # pragma: no cover - a coding error
        raise AssertionError(f"{_factory.__name__}: schema keys != factory arguments")
    for _k, _key in list(_keys.items()):
        _keys[_k] = dataclasses.replace(_key, default=_factory.__kwdefaults__[_k])



def no_treatment() -> Intervention:
    """No treatment: a session that does nothing (natural course when scheduled)."""
    return Intervention(name="no treatment", lever="none")


def combine(*parts: Intervention, name: str | None = None) -> Intervention:
    """Several interventions in one visit, effects applied in the order given (001-4, 003-6).

    The non-specific effect of a visit (``Effect.per_visit``) belongs to the visit, not to
    each technique used in it: identical per-visit effects are applied once, or a
    combination would beat either part by construction.
    """
    if not parts:
        raise ParameterError("combine", "()", "at least one intervention")
    levers = {p.lever for p in parts} - {"none"}
    effects: list[Effect] = []
    for e in (e for p in parts for e in p.effects):
        if not (e.per_visit and e in effects):
            effects.append(e)
    return Intervention(
        name=name or " + ".join(p.name for p in parts),
        lever=levers.pop() if len(levers) == 1 else ("mixed" if levers else "none"),
        effects=tuple(effects),
        session_minutes=max(p.session_minutes for p in parts),
        claims=tuple(dict.fromkeys(c for p in parts for c in p.claims)))
