"""The built-in pain-loop model: pain → guarding → inflammation, with sensitization and arousal.

This is a *new, explicit hypothesis*, not an established model: no published ODE covers
the whole pain–tension–inflammation loop (the pain–spasm–pain cycle is a qualitative and
disputed clinical idea; Roland 1986; Lund et al. 1991). It is assembled from established
pieces: rate models of dorsal-horn gain (Britton & Skevington 1989; Crodelle et al.
2019), bistable inflammation models (Kumar et al. 2004; Reynolds et al. 2006),
pharmacodynamic indirect-response and effect-compartment forms (Jusko & Ko 1994;
Li et al. 2020 for the time course of acupuncture), and nociplastic pain as a switch with
hysteresis (spinal LTP, Drdla-Schutting et al. 2012; Valenzuela 2024).

Levers
------
A *local* intervention (dry needling) moves the **state**: it releases a fraction of
tension T, adds post-needling soreness Q (felt, outside the loop) and an analgesia
pulse to E. A *systemic* intervention (acupuncture) changes the **drivers**:
it raises the slow state R, which lifts the sensitization threshold θ and lowers the
arousal set-point (saturating, Emax), and pulses E. Any visit — sham included — adds
non-specific relief C, which decays over weeks. Whether any of them gives lasting
relief depends on the patient's attractor landscape, which is what the model lets one
test; the defaults are fitted to published figures (``scenarios/evidence/``,
``benchmarks/results/fit.json``).

The session-locked analgesia E (half-life about 16 minutes) is carried as its amplitude
after the last pulse, ``E_amp``, and the time since that pulse, ``E_age``:
E = E_amp · 2^(−E_age / t_half_E). This is exact for first-order decay (a new pulse sets
E_amp ← E + dose, E_age ← 0) and avoids the stiffness a 16-minute decay rate would
impose on an explicit solver over a horizon of months.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .compiled import LaneForm
from .model import Model, Parameter, ParameterSet, State

__all__ = [
    "PAIN_LOOP",
    "PHENOTYPES",
    "analgesia",
    "equilibria",
    "equilibria_of_lanes",
    "local_kick",
    "phenotype",
    "systemic_kick",
]

EQUATIONS = """\
Time t in days; pain P on 0-10; D, I, T, A, R, E, C, Q in dimensionless units; S in [0, 1].

  H(x; K, n) = x^n / (K^n + x^n)                      (Hill function, x >= 0)

  dD/dt = (d0 - D) / tau_D                           tissue nociceptive drive (injury, strain)
  dI/dt = (D + c_T*T + c_A*A - I) / tau_I            local inflammation
  dT/dt = (T0 + g_T*H(L; P_T, n_T) - T) / tau_T      muscle tension (guarding)
  dS/dt = (H(L; theta, m) - S) / tau_S               central sensitization
          theta = theta0 * (1 + k_R*F),  F = R / (R50 + R)     (Emax: F in [0, 1))
  dA/dt = ((a0 + a_P*L/10 + a_S*S) / (1 + k_RA*F) - A) / tau_A     autonomic arousal
  dR/dt = -R / tau_R                                 slow systemic modulation
  dC/dt = -C / tau_C                                 non-specific (visit/context) relief
  dQ/dt = -Q / tau_Q                                 post-needling soreness
  E     = E_amp * 2^(-E_age / t_half_E)              session-locked analgesia
          dE_amp/dt = 0,  dE_age/dt = 1

  N = w_D*D + w_I*I + w_T*T                          nociceptive input
  u = max(N - N0, 0) * (1 + g_S*S)                   central gain above a threshold
  L = 10 * u/(1 + u) / (1 + k_E*E + C)               pain of the loop, 0-10
  P = 10 - (10 - L)/(1 + Q)                          pain felt, 0-10 (algebraic;
                                                     = L + (10 - L)*Q/(1 + Q))
  (the loop -- T, S, A -- is driven by L: soreness is felt but does not feed it)

Interventions (applied at the session time, to the treated patient only):
  any visit (incl. sham): C <- C + nonspecific     (expectation, attention, ritual)
  local (dry needling):   T <- (1 - f)*T;  Q <- Q + soreness;  E <- E + analgesia
  systemic (acupuncture): R <- R + dose;   E <- E + analgesia

Structural choices made to meet the evidence suite (scenarios/evidence/, issue 12):
  * threshold N0: nociceptive input below it gives no pain, so a pain-free state is
    reachable (without it the healthy state kept a floor of 0.74/10, and no one ever
    "recovered" to 0/10 as 72% do in Henschke et al. 2008);
  * Emax systemic effect F = R/(R50 + R): repeated sessions saturate, so a course lifts
    the threshold by at most a factor 1 + k_R instead of adding up without a ceiling
    (which flipped 77% of GERAC-like patients with verum and 4% with sham);
  * non-specific relief C with its own time course tau_C, raised by every visit in
    proportion to its ritual (sham needling included): sham gets most of the benefit,
    as in GERAC (44.2% vs 47.6% responders); the specific systemic dose is what is left;
  * heterogeneity within an inception cohort (phenotype presets, painsim.cohort): the
    drive's decay time tau_D and the threshold theta0 vary between patients, and
    trial cohorts are enrolled at a pain peak (an injury at day 0), which gives the
    natural course and regression to the mean of Costa et al. 2012;
  * soreness Q outside the loop, tau_Q = 0.5 d: added to inflammation I (as before)
    it fed guarding and sensitization and 34-61% of its 24-h excess was left at 72 h
    whatever tau_I was; post-needling soreness resolves within 24-72 h;
  * flares (painsim.cohort.Flares) have log-normal sizes and Weibull inter-event times
    (shape < 1), so most flares are small and the recurrence hazard falls with time
    (da Silva et al. 2019: 38/56/69% at 3/6/12 months, not a constant hazard);
  * adverse events are drawn per session with per-session probabilities from the
    published figures and checked against per-course ones (Brady et al. 2014 per
    treatment; Baeumler et al. 2021 per treatment and per patient over a course); an
    effect may cluster in patients (each patient's own probability Beta-distributed
    around the mean, Effect.clustering): acupuncture's do, as Baeumler's two figures
    cannot both hold with independent sessions.
Fitted values and the fit: benchmarks/results/fit.json (benchmarks/fit_evidence.py).
"""

REFERENCES = (
    "Britton NF, Skevington SM (1989). A mathematical model of the gate control theory "
    "of pain. J Theor Biol 137:91-105.",
    "Crodelle J, Piltz SH, Hagenauer MH, Booth V (2019). Modeling the daily rhythm of "
    "human pain processing in the dorsal horn. PLoS Comput Biol 15:e1007106.",
    "Kumar R, Clermont G, Vodovotz Y, Chow CC (2004). The dynamics of acute "
    "inflammation. J Theor Biol 230:145-155.",
    "Reynolds A, Rubin J, Clermont G, et al. (2006). A reduced mathematical model of the "
    "acute inflammatory response. J Theor Biol 242:220-236.",
    "Jusko WJ, Ko HC (1994). Physiologic indirect response models characterize diverse "
    "types of pharmacodynamic effects. Clin Pharmacol Ther 56:406-419.",
    "Li et al. (2020). Time course of acupuncture effects, used for the effect-compartment "
    "form (as cited in painsim's design notes; full reference not verified here).",
    "Drdla-Schutting R, Benrath J, Wunderbaldinger G, Sandkühler J (2012). Erasure of a "
    "spinal memory trace of pain by a brief, high-dose opioid administration. Science "
    "335:235-238.",
    "Valenzuela (2024). Nociplastic pain as a switch with hysteresis (as cited in "
    "painsim's design notes; full reference not verified here).",
    "Roland MO (1986). A critical review of the evidence for a pain-spasm-pain cycle in "
    "spinal disorders. Clin Biomech 1:102-109.",
    "Lund JP, Donga R, Widmer CG, Stohler CS (1991). The pain-adaptation model. Can J "
    "Physiol Pharmacol 69:683-694.",
)

_UNIT = "1"  # dimensionless drive units

STATES = (
    State(name="D", unit=_UNIT, description="tissue nociceptive drive (injury, strain)"),
    State(name="I", unit=_UNIT, description="local inflammation"),
    State(name="T", unit=_UNIT, description="muscle tension / trigger-point activity"),
    State(name="S", unit="1", description="central sensitization (0 none, 1 full)",
          upper=1.0),
    State(name="A", unit=_UNIT, description="autonomic arousal / stress"),
    State(name="R", unit=_UNIT, description="slow systemic modulation (descending "
          "inhibition, down-regulated arousal)"),
    State(name="E_amp", unit=_UNIT, description="session-locked analgesia just after the "
          "last pulse"),
    State(name="E_age", unit="day", description="time since the last analgesia pulse",
          initial=1e3),
    State(name="C", unit=_UNIT, description="non-specific relief of a visit (expectation, "
          "attention, ritual); pain is divided by 1 + k_E*E + C"),
    State(name="Q", unit=_UNIT, description="post-needling soreness (felt, outside the "
          "loop)"),
)

_P = Parameter
PARAMETERS = (
    _P(name="tau_D", default=6.0, unit="day", description="decay time of tissue drive",
       bounds=(0.1, 365.0), plausible=(5.0, 14.0),
       basis="assumption: acute strains are said to settle over 1-3 weeks; no "
       "published decay time. Used by presets that do not draw it (chronic_sensitized, "
       "stress_driven); acute_strain, recurrent and persistent draw it per patient "
       "(log-normal), fitted to the evidence suite (Costa 2012 acute and persistent, "
       "Henschke 2008, da Silva 2019 targets)"),
    _P(name="d0", default=0.0, unit=_UNIT, description="baseline tissue drive (posture, "
       "degeneration)", bounds=(0.0, 10.0), plausible=(0.0, 0.1),
       basis="assumption: 0 means no standing lesion; acute_strain draws it (uniform "
       "from 0), fitted to the evidence suite ('recent-onset LBP: not recovered at 12 "
       "months')"),
    _P(name="tau_I", default=0.5, unit="day", description="relaxation time of inflammation",
       bounds=(0.05, 60.0), plausible=(0.25, 4.0),
       basis="assumption: no published time constant; 0.5 d (was 1.5 d) so that an "
       "injury's inflammation, like its guarding, builds within a day or two of the "
       "injury that enrols a patient (evidence targets 'acute LBP: mean pain at "
       "baseline' and 'at 6 weeks')"),
    _P(name="c_T", default=0.5, unit="1", description="tension -> inflammation "
       "(ischaemia) gain", bounds=(0.0, 10.0), plausible=(0.2, 0.8),
       basis="assumption: no published figure"),
    _P(name="c_A", default=0.25, unit="1", description="arousal -> inflammation "
       "(neuro-immune) gain", bounds=(0.0, 10.0), plausible=(0.1, 0.4),
       basis="assumption: no published figure"),
    _P(name="tau_T", default=1.0, unit="day", description="relaxation time of muscle "
       "tension", bounds=(0.05, 60.0), plausible=(0.5, 5.0),
       basis="assumption: no published time constant; acute spasm is said to respond "
       "over 2-4 days; 1 d (was 3 d) for the same reason as tau_I"),
    _P(name="T0", default=0.05, unit=_UNIT, description="baseline tension",
       bounds=(0.0, 10.0), plausible=(0.0, 0.1), basis="assumption: no published figure"),
    _P(name="g_T", default=0.5, unit=_UNIT, description="guarding gain: pain -> tension "
       "(the contested pain-spasm reflex; 0 switches it off)", bounds=(0.0, 10.0),
       plausible=(0.3, 0.7), basis="assumption: pain-spasm-pain (Roland 1986) and "
       "pain-adaptation (Lund et al. 1991) disagree on its sign; neither gives a size"),
    _P(name="P_T", default=4.0, unit="pain", description="pain at half-maximal guarding",
       bounds=(0.1, 10.0), plausible=(3.0, 6.0), basis="assumption: no published figure"),
    _P(name="n_T", default=2.0, unit="1", description="Hill exponent of guarding",
       bounds=(1.0, 8.0), plausible=(1.0, 3.0), basis="assumption: no published figure"),
    _P(name="tau_S", default=21.0, unit="day", description="time constant of central "
       "sensitization", bounds=(1.0, 365.0), plausible=(14.0, 60.0),
       basis="assumption: clinical central sensitization is said to reverse over 1-3 "
       "months after the drive is removed; no published time constant"),
    _P(name="theta0", default=3.0, unit="pain", description="vulnerability threshold: pain "
       "at half-maximal sensitization drive (low = vulnerable)", bounds=(0.1, 10.0),
       plausible=(2.0, 9.0), basis="assumption, set per phenotype (the acute_strain and "
       "persistent presets' ranges are fitted to the evidence suite, Costa 2012 and "
       "Henschke 2008 targets; chronic_sensitized's is an assumption): spinal LTP has an "
       "induction threshold (Drdla-Schutting et al. 2012), but no paper gives one on a "
       "0-10 pain scale"),
    _P(name="m", default=4.0, unit="1", description="Hill exponent of sensitization "
       "(>= 3 allows bistability)", bounds=(1.0, 12.0), plausible=(3.0, 6.0),
       basis="assumption: switch-like LTP induction (Valenzuela 2024) motivates a "
       "steep curve; the exponent is not a published figure"),
    _P(name="k_R", default=1.0, unit="1", description="largest lift of the threshold by "
       "the systemic state, in units of theta0 (Emax form, at F = 1)",
       bounds=(0.0, 10.0), plausible=(0.5, 2.0),
       basis="assumption: no published figure"),
    _P(name="g_S", default=3.0, unit="1", description="central gain at full sensitization",
       bounds=(0.0, 20.0), plausible=(2.0, 4.0), basis="assumption: dorsal-horn gain "
       "models (Crodelle et al. 2019) motivate a central gain but give no value on this "
       "scale"),
    _P(name="tau_A", default=7.0, unit="day", description="relaxation time of arousal",
       bounds=(0.1, 120.0), plausible=(3.0, 14.0), basis="assumption: stress episodes "
       "settle over days to weeks; no published time constant"),
    _P(name="a0", default=0.2, unit=_UNIT, description="baseline arousal",
       bounds=(0.0, 10.0), plausible=(0.1, 0.3), basis="assumption: raised in "
       "stress-driven phenotypes"),
    _P(name="a_P", default=0.5, unit=_UNIT, description="arousal per unit of pain/10",
       bounds=(0.0, 10.0), plausible=(0.2, 0.8), basis="assumption: no published figure"),
    _P(name="a_S", default=0.5, unit=_UNIT, description="arousal at full sensitization",
       bounds=(0.0, 10.0), plausible=(0.2, 0.8), basis="assumption: no published figure"),
    _P(name="k_RA", default=1.0, unit="1", description="reduction of the arousal "
       "set-point at full systemic effect (F = 1, Emax form)", bounds=(0.0, 10.0),
       plausible=(0.5, 2.0),
       basis="assumption: encodes claim 000-3, a clinic blog post's sympathetic -> "
       "parasympathetic shift from acupuncture; no published figure"),
    _P(name="tau_R", default=180.0, unit="day", description="decay time of the systemic "
       "state", bounds=(1.0, 3650.0), plausible=(60.0, 730.0),
       basis="assumption: no published decay time (the suite holds no figure that "
       "separates it: GERAC's specific systemic dose was fitted to almost 0). 'Months to "
       "years' is the clinics' "
       "claim (000-3, 001-3); 'courses take >= 5 weeks to reach 80% of maximal effect', "
       "cited here before, is a build-up time, not a decay time"),
    _P(name="w_D", default=1.0, unit="1", description="weight of tissue drive in "
       "nociceptive input", bounds=(0.0, 10.0), plausible=(0.5, 1.5),
       basis="assumption: no published figure"),
    _P(name="w_I", default=0.5, unit="1", description="weight of inflammation",
       bounds=(0.0, 10.0), plausible=(0.3, 0.7), basis="assumption: no published figure"),
    _P(name="w_T", default=0.5, unit="1", description="weight of tension / trigger points",
       bounds=(0.0, 10.0), plausible=(0.3, 0.7), basis="assumption: no published figure"),
    _P(name="k_E", default=1.0, unit="1", description="strength of session-locked "
       "analgesia", bounds=(0.0, 10.0), plausible=(0.5, 2.0),
       basis="assumption: no published figure"),
    _P(name="t_half_E", default=16.0 / 1440.0, unit="day", description="half-life of "
       "session-locked analgesia (16 min)", bounds=(1e-4, 1.0), plausible=(0.007, 0.03),
       basis="assumption: a half-life of about 16 min for analgesia after needling; "
       "its source is not recorded in painsim, so it is not treated as published"),
    _P(name="N0", default=0.1, unit=_UNIT, description="threshold of nociceptive input "
       "below which there is no pain (makes a pain-free state reachable)",
       bounds=(0.0, 5.0), plausible=(0.05, 0.3),
       basis="assumption: a detection threshold; set above the resting input "
       "w_I*(c_T*T0 + c_A*a0) + w_T*T0 so that the healthy state is pain-free"),
    _P(name="R50", default=0.3, unit=_UNIT, description="systemic state at half the "
       "maximal effect (Emax form F = R/(R50 + R))", bounds=(0.001, 100.0),
       plausible=(0.05, 2.0), basis="assumption: no published figure; with k_R it sets "
       "the ceiling of the systemic effect. The evidence suite pins only the initial "
       "slope k_R*dose/R50 (GERAC verum vs sham), and that is close to 0"),
    _P(name="tau_C", default=21.0, unit="day", description="decay time of the "
       "non-specific relief of a visit", bounds=(0.1, 365.0), plausible=(7.0, 90.0),
       basis="assumption: no published figure; three weeks, about a visit interval "
       "of a weekly course. GERAC's responders at 6 months pin the non-specific "
       "dose for this value (painsim.interventions.NONSPECIFIC, fitted), not the decay "
       "time itself"),
    _P(name="tau_Q", default=0.5, unit="day", description="decay time of post-needling "
       "soreness", bounds=(0.01, 30.0), plausible=(0.3, 1.0),
       basis="assumption: soreness is reported to resolve within 24-72 h; 0.5 d leaves "
       "13.5% of the soreness at 24 h and 1.8% of that at 72 h (evidence target "
       "'dry-needling soreness left at 72 h', band <= 10%)"),
)
del _P


def _hill(x: NDArray, K: NDArray, n: NDArray) -> NDArray:
    """x^n / (K^n + x^n) for x >= 0, K > 0, written as 1 / (1 + (K/x)^n): exact at x = 0
    (K/0 = inf gives 0) and free of overflow for large x.

    Where n is 2 or 4 (the defaults of n_T and m, which the presets keep) the power is a
    product; for any other n it is exp(n (ln K - ln x)), about twice as fast as two
    powers. The choice is made lane by lane, so a lane's value never depends on the
    other lanes of its batch; :func:`lane_rhs` makes the same choice.
    """
    x, K, n = np.broadcast_arrays(np.maximum(x, 0.0), K, n)
    with np.errstate(divide="ignore", over="ignore"):
        two, four = n == 2.0, n == 4.0
        if two.all():
            r = K / x
            return 1.0 / (1.0 + r * r)
        if four.all():
            r = K / x
            r = r * r
            return 1.0 / (1.0 + r * r)
        out = 1.0 / (1.0 + np.exp(n * (np.log(K) - np.log(x))))
        if two.any():
            r = K[two] / x[two]
            out[two] = 1.0 / (1.0 + r * r)
        if four.any():
            r = K[four] / x[four]
            r = r * r
            out[four] = 1.0 / (1.0 + r * r)
        return out


def _loop_pain(y: NDArray, p: Any) -> NDArray:
    D, I, T, S, _A, _R, E_amp, E_age, C, _Q = y
    N = p.w_D * D + p.w_I * I + p.w_T * T
    u = np.maximum(N - p.N0, 0.0) * (1.0 + p.g_S * S)
    E = E_amp * np.exp2(-E_age / p.t_half_E)
    return 10.0 * u / (1.0 + u) / (1.0 + p.k_E * E + C)


def pain(y: NDArray, p: Any) -> NDArray[np.float64]:
    """Pain felt, on 0–10, from states ``y`` of shape ``(10, ...)``; see :data:`EQUATIONS`."""
    L = _loop_pain(y, p)
    Q = np.maximum(y[9], 0.0)
    return L + (10.0 - L) * Q / (1.0 + Q)


def rhs(t: NDArray, y: NDArray, p: Any) -> NDArray[np.float64]:
    """Right-hand side (per day) of the pain-loop model; see :data:`EQUATIONS`."""
    D, I, T, S, A, R, E_amp, E_age, C, Q = y
    P = _loop_pain(y, p)
    Rp = np.maximum(R, 0.0)
    F = Rp / (p.R50 + Rp)
    theta = p.theta0 * (1.0 + p.k_R * F)
    return np.stack([
        (p.d0 - D) / p.tau_D,
        (D + p.c_T * T + p.c_A * A - I) / p.tau_I,
        (p.T0 + p.g_T * _hill(P, p.P_T, p.n_T) - T) / p.tau_T,
        (_hill(P, theta, p.m) - S) / p.tau_S,
        ((p.a0 + p.a_P * P / 10.0 + p.a_S * S) / (1.0 + p.k_RA * F) - A) / p.tau_A,
        -R / p.tau_R,
        np.zeros_like(E_amp),
        np.ones_like(E_age),
        -C / p.tau_C,
        -Q / p.tau_Q,
    ])


# Parameter rows in PARAMETERS order, for the lane form (Numba reads them as constants).
(_TAU_D, _D0, _TAU_I, _C_T, _C_A, _TAU_T, _T0, _G_T, _P_T, _N_T, _TAU_S, _THETA0, _M, _K_R,
 _G_S, _TAU_A, _A0, _A_P, _A_S, _K_RA, _TAU_R, _W_D, _W_I, _W_T, _K_E,
 _T_HALF_E, _N0, _R50, _TAU_C, _TAU_Q) = range(len(PARAMETERS))


def lane_pain(y: NDArray, p: NDArray) -> float:
    """:func:`pain` of one lane (``y`` shape (10,), ``p`` shape (30,)), 0–10.

    Same operations in the same order as the vectorized form, written for Numba.
    """
    N = p[_W_D] * y[0] + p[_W_I] * y[1] + p[_W_T] * y[2]
    u = max(N - p[_N0], 0.0) * (1.0 + p[_G_S] * y[3])
    E = y[6] * np.exp2(-y[7] / p[_T_HALF_E])
    L = 10.0 * u / (1.0 + u) / (1.0 + p[_K_E] * E + y[8])
    Q = max(y[9], 0.0)
    return L + (10.0 - L) * Q / (1.0 + Q)


def lane_analgesia(y: NDArray, p: NDArray, dose: float) -> None:
    """:func:`analgesia` of one lane, in place (``y`` shape (10,)); for Numba."""
    y[6] = y[6] * np.exp2(-y[7] / p[_T_HALF_E]) + dose
    y[7] = 0.0


def lane_rhs(t: float, y: NDArray, p: NDArray, dy: NDArray) -> None:
    """:func:`rhs` of one lane, written into ``dy`` (per day); for Numba.

    Pain and the two Hill terms are written out here because a compiled function may
    call only compiled functions.
    """
    N = p[_W_D] * y[0] + p[_W_I] * y[1] + p[_W_T] * y[2]
    u = max(N - p[_N0], 0.0) * (1.0 + p[_G_S] * y[3])
    E = y[6] * np.exp2(-y[7] / p[_T_HALF_E])
    P = 10.0 * u / (1.0 + u) / (1.0 + p[_K_E] * E + y[8])
    Rp = max(y[5], 0.0)
    F = Rp / (p[_R50] + Rp)
    theta = p[_THETA0] * (1.0 + p[_K_R] * F)
    # the Hill terms as _hill computes them: products for n = 2 or 4, else exp/log
    n_T, m = p[_N_T], p[_M]
    if n_T == 2.0 or n_T == 4.0:
        r = p[_P_T] / P if P > 0.0 else np.inf
        r = r * r
        hill_T = 1.0 / (1.0 + (r if n_T == 2.0 else r * r))
    else:
        lnP = np.log(P) if P > 0.0 else -np.inf
        hill_T = 1.0 / (1.0 + np.exp(n_T * (np.log(p[_P_T]) - lnP)))
    if m == 2.0 or m == 4.0:
        r = theta / P if P > 0.0 else np.inf
        r = r * r
        hill_S = 1.0 / (1.0 + (r if m == 2.0 else r * r))
    else:
        lnP = np.log(P) if P > 0.0 else -np.inf
        hill_S = 1.0 / (1.0 + np.exp(m * (np.log(theta) - lnP)))
    dy[0] = (p[_D0] - y[0]) / p[_TAU_D]
    dy[1] = (y[0] + p[_C_T] * y[2] + p[_C_A] * y[4] - y[1]) / p[_TAU_I]
    dy[2] = (p[_T0] + p[_G_T] * hill_T - y[2]) / p[_TAU_T]
    dy[3] = (hill_S - y[3]) / p[_TAU_S]
    dy[4] = ((p[_A0] + p[_A_P] * P / 10.0 + p[_A_S] * y[3]) / (1.0 + p[_K_RA] * F)
             - y[4]) / p[_TAU_A]
    dy[5] = -y[5] / p[_TAU_R]
    dy[6] = 0.0
    dy[7] = 1.0
    dy[8] = -y[8] / p[_TAU_C]
    dy[9] = -y[9] / p[_TAU_Q]


PAIN_LOOP = Model(
    name="pain-loop",
    states=STATES,
    parameters=PARAMETERS,
    rhs=rhs,
    pain=pain,
    equations=EQUATIONS,
    references=REFERENCES,
    pulses={"analgesia": lambda y, P, dose: analgesia(y, P, dose)},
    lane_form=LaneForm(rhs=lane_rhs, pain=lane_pain, pulses={"analgesia": lane_analgesia}),
    # "sensitized": near the high-pain attractor's sensitization, arousal and loop states
    # (assumption; a phenotype's run-in then settles each patient on its own attractor)
    starts={"sensitized": {"S": 0.9, "T": 0.45, "I": 0.45, "A": 0.95}},
    injury_state="D",
)
"""The default model. ``painsim describe`` prints its equations and parameters."""

#: Parameter overrides of the named phenotypes (point values; cohorts add spread).
PHENOTYPES: dict[str, dict[str, float]] = {
    # high threshold: only the pain-free state exists; an injury resolves by itself
    "acute": {"theta0": 6.0},
    # low threshold: a pain-free and a sensitized high-pain state coexist
    "chronic": {"theta0": 3.0},
    # threshold just inside the bistable range (theta0 < 3.35 with the defaults): the
    # high state is shallow
    "borderline": {"theta0": 3.3},
}


def phenotype(name: str, **overrides: Any) -> ParameterSet:
    """Parameters of a named phenotype (see :data:`PHENOTYPES`), with overrides.

    Examples
    --------
    >>> from painsim.painloop import phenotype
    >>> phenotype("chronic").theta0          # pain units (0-10)
    3.0
    """
    try:
        base = PHENOTYPES[name]
    except KeyError:
        raise KeyError(f"unknown phenotype {name!r}; known: {', '.join(PHENOTYPES)}") from None
    return PAIN_LOOP.params(**{**base, **overrides})


def _ix(name: str) -> int:
    return PAIN_LOOP.state_index[name]


def analgesia(y: NDArray, P: NDArray, dose: ArrayLike) -> NDArray[np.float64]:
    """Add ``dose`` to the analgesia E (exact superposition of exponential decays).

    Parameters
    ----------
    y : ndarray, shape (10, m)
        States of the treated lanes; a modified copy is returned.
    P : ndarray, shape (n_parameters, m)
        Their packed parameters (:meth:`ParameterSet.as_array`).
    dose : float or ndarray, shape (m,)
        Added E (dimensionless; pain is divided by 1 + k_E·E).
    """
    y = np.array(y, dtype=float)
    ia, ig = _ix("E_amp"), _ix("E_age")
    t_half = P[PAIN_LOOP.parameter_index["t_half_E"]]
    y[ia] = y[ia] * np.exp2(-y[ig] / t_half) + dose
    y[ig] = 0.0
    return y


def local_kick(y: NDArray, P: NDArray, *, release: ArrayLike = 0.7,
               soreness: ArrayLike = 0.1, analgesia_dose: ArrayLike = 1.0
               ) -> NDArray[np.float64]:
    """A local session (dry needling): moves the *state*.

    ``T ← (1 − release)·T``, ``Q ← Q + soreness`` (post-needling soreness, felt and
    resolving over ~τ_Q), ``E ← E + analgesia_dose``. Shapes as in :func:`analgesia`.
    Returns a modified copy of ``y``. Defaults: assumptions (as in
    :func:`painsim.dry_needling`; no figure in the evidence suite measures them).
    """
    y = analgesia(y, P, analgesia_dose)
    y[_ix("T")] *= 1.0 - np.asarray(release, dtype=float)
    y[_ix("Q")] += soreness
    return y


def systemic_kick(y: NDArray, P: NDArray, *, dose: ArrayLike = 0.3,
                  analgesia_dose: ArrayLike = 1.0) -> NDArray[np.float64]:
    """A systemic session (acupuncture): changes the *drivers*.

    ``R ← R + dose`` (lifts θ and lowers the arousal set-point), ``E ← E +
    analgesia_dose``. Shapes as in :func:`analgesia`. Returns a modified copy of ``y``.
    The default dose (0.3) is an assumption for illustration (tests, demo), not the
    evidence-fitted acupuncture dose of :func:`painsim.acupuncture` (0.00027).
    """
    y = analgesia(y, P, analgesia_dose)
    y[_ix("R")] += dose
    return y


def equilibria(params: ParameterSet | None = None, *, R: float = 0.0,
               n_grid: int = 400) -> list[dict[str, Any]]:
    """Steady states of the pain loop for fixed systemic state ``R``, no analgesia and no
    non-specific relief (C = 0).

    Every steady state is a fixed point of the one-dimensional map P ↦ pain(steady
    fast states at P); they are bracketed on a grid of pain values and refined with
    :func:`scipy.optimize.brentq`, then polished with :func:`scipy.optimize.root` on the
    full right-hand side. Stability comes from the eigenvalues of the Jacobian of the
    six dynamic states (D, I, T, S, A at fixed R), by central differences.

    Parameters
    ----------
    params : ParameterSet, optional
        Scalar parameter values (default: the model's defaults).
    R : float
        Held value of the systemic state (a bifurcation parameter).
    n_grid : int
        Pain grid points used to bracket fixed points.

    Returns
    -------
    list of dict
        One per steady state, ordered by pain: ``pain`` (0–10), ``state`` (shape (10,)),
        ``eigenvalues`` (per day), ``kind`` ("stable", "saddle" or "unstable").
    """
    p = PAIN_LOOP.params() if params is None else params
    if p.n_lanes is not None:
        raise ValueError("equilibria() needs scalar parameter values")
    return equilibria_of_lanes(p.as_array(1), R=R, n_grid=n_grid)[0]


def equilibria_of_lanes(P: NDArray, *, R: float = 0.0, n_grid: int = 400
                        ) -> list[list[dict[str, Any]]]:
    """:func:`equilibria` for every lane of ``P`` at once.

    The bracketing grid of all lanes is evaluated in one vectorised call (instead of
    ``n_grid`` calls per lane) and the central-difference Jacobians of all steady
    states in another (instead of 10 calls per state); each root is refined by a scalar
    :func:`scipy.optimize.brentq` and polished by :func:`scipy.optimize.root`.
    :func:`equilibria` is this function on one lane, so the two agree bit for bit
    (elementwise arithmetic does not depend on the other lanes).

    Parameters
    ----------
    P : ndarray, shape (n_parameters, n)
        Parameter values per lane, in :attr:`PAIN_LOOP.parameter_names` order.
    R : float
        Held value of the systemic state.
    n_grid : int
        Pain grid points used to bracket fixed points.

    Returns
    -------
    list of list of dict
        Per lane, the steady states as :func:`equilibria` gives them.
    """
    from scipy.optimize import brentq, root

    names = PAIN_LOOP.parameter_names
    P = np.asarray(P, dtype=float)
    n = P.shape[1]
    grid = np.linspace(0.0, 9.999, n_grid)
    v = {k: P[j][:, None] for j, k in enumerate(names)}  # (n, 1) each
    Rp = max(R, 0.0)
    F = Rp / (v["R50"] + Rp)
    theta = v["theta0"] * (1 + v["k_R"] * F)
    Sg = grid**v["m"] / (theta**v["m"] + grid**v["m"])
    Ag = (v["a0"] + v["a_P"] * grid / 10 + v["a_S"] * Sg) / (1 + v["k_RA"] * F)
    Tg = v["T0"] + v["g_T"] * grid**v["n_T"] / (v["P_T"]**v["n_T"] + grid**v["n_T"])
    Dg = np.broadcast_to(v["d0"], Tg.shape)
    Ig = Dg + v["c_T"] * Tg + v["c_A"] * Ag
    zero = np.zeros_like(Tg)
    Y = np.stack([Dg, Ig, Tg, Sg, Ag, zero + R, zero, zero + 1e3, zero, zero])
    G = PAIN_LOOP.pain_of(Y, P) - grid  # (n, n_grid): the gap of every lane at once
    out = []
    dyn = slice(0, 5)
    for i in range(n):
        P1 = P[:, i:i + 1]
        ns = SimpleNamespace(**dict(zip(names, P1[:, 0].tolist(), strict=True)))
        Fi = max(R, 0.0) / (ns.R50 + max(R, 0.0))

        def fast_state(Pv: float, ns: Any = ns, Fi: float = Fi) -> NDArray:
            theta = ns.theta0 * (1 + ns.k_R * Fi)
            S = Pv**ns.m / (theta**ns.m + Pv**ns.m)
            A = (ns.a0 + ns.a_P * Pv / 10 + ns.a_S * S) / (1 + ns.k_RA * Fi)
            T = ns.T0 + ns.g_T * Pv**ns.n_T / (ns.P_T**ns.n_T + Pv**ns.n_T)
            D = ns.d0
            I = D + ns.c_T * T + ns.c_A * A
            return np.array([D, I, T, S, A, R, 0.0, 1e3, 0.0, 0.0])

        def gap(Pv: float, fast_state: Any = fast_state, P1: NDArray = P1) -> float:
            return float(PAIN_LOOP.pain_of(fast_state(Pv)[:, None], P1)[0]) - Pv

        def f5(x: NDArray, fast_state: Any = fast_state, P1: NDArray = P1) -> NDArray:
            y = fast_state(0.0)
            y[dyn] = x
            return PAIN_LOOP.lane_rhs(np.zeros(1), y[:, None], P1)[dyn, 0]

        g = G[i]
        roots = []
        for a, b, ga, gb in zip(grid[:-1], grid[1:], g[:-1], g[1:], strict=True):
            if ga == 0:
                roots.append(a)
            elif ga * gb < 0:
                roots.append(brentq(gap, a, b, xtol=1e-13))
        eqs = []
        for r in roots:
            y = fast_state(r)
            sol = root(f5, y[dyn], tol=1e-14)
            y[dyn] = sol.x
            eqs.append({"pain": float(PAIN_LOOP.pain_of(y[:, None], P1)[0]), "state": y,
                        "lane": i})
        out.append(eqs)
    # stability: the central-difference Jacobians of every steady state of every lane in
    # one call (10 lanes per state: +-h along each of the 5 dynamic states)
    flat = [e for eqs in out for e in eqs]
    if flat:
        Y0 = np.stack([e["state"] for e in flat], axis=1)  # (10, k)
        Y0[6:] = np.array([0.0, 1e3, 0.0, 0.0])[:, None]  # fast_state(0.0)'s tail
        H = 1e-6 * np.maximum(1.0, np.abs(Y0[:5]))  # (5, k)
        k = len(flat)
        Yp = np.repeat(Y0[:, :, None], 10, axis=2)  # (10, k, 10): +h_j for j<5, -h_j
        for j in range(5):
            Yp[j, :, j] += H[j]
            Yp[j, :, 5 + j] -= H[j]
        lanes = np.array([e["lane"] for e in flat])
        PP = np.repeat(P[:, lanes], 10, axis=1)
        Fx = PAIN_LOOP.lane_rhs(np.zeros(1), Yp.reshape(10, k * 10), PP)[dyn]
        Fx = Fx.reshape(5, k, 10)
        J = (Fx[:, :, :5] - Fx[:, :, 5:]) / (2 * H.T[None])  # (5 rows, k, 5 columns)
        for q, e in enumerate(flat):
            ev = np.linalg.eigvals(J[:, q, :])
            n_pos = int(np.sum(ev.real > 0))
            e["eigenvalues"] = ev
            e["kind"] = "stable" if n_pos == 0 else ("saddle" if n_pos == 1 else "unstable")
            del e["lane"]
    return out
