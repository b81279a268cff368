"""A second benchmark model, written independently of painsim's pain loop.

A six-state bistable switch with per-patient events, chosen only because it has the
features that make a cohort simulation costly (a fast and a slow time scale, a
switch-like Hill term, per-patient event times that jump the state), and because it is
not painsim's model: the benchmark should not be tuned to one right-hand side.

Equations (time in days, every state dimensionless, pain on 0-10)::

    du/dt = -u / tau_u                                  injury drive (flares add to u)
    dv/dt = ((u + a m + b s) / (1 + c w) - v) / tau_v   fast nociceptive activity
    dm/dt = (m0 + k v^4 / (K^4 + v^4) - m) / tau_m      memory switch (bistable via v)
    ds/dt = (s0 + g p / 10 - s) / tau_s                 stress, driven by pain
    dw/dt = (p / 10 - w) / tau_w                        slow habituation
    dr/dt = -r / tau_r                                  relief of a session
    p     = 10 v^2 / (1 + v^2) / (1 + r)                pain

With ``k`` about 2 and ``K`` about 1 the switch ``m`` has a low (pain-free) and a high
(about 7/10) stable state. Events: a *session* adds ``dose`` to ``r`` and scales ``m``
by ``1 - knock``; a *flare* adds its size to ``u``.

The module gives the model as plain NumPy functions (:func:`rhs`, :func:`packed_rhs`,
:func:`pain`, :func:`event`), as a :class:`painsim.Model` built with painsim's public
user-model API (:func:`painsim_model`), a cohort of problems (:func:`problems`), and the
same problems as a study for :func:`painsim.simulate` (:func:`study`: the patients as a
table, the flares as an event table, the sessions as a ``Given`` schedule of a pulse).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numpy.typing import NDArray

import painsim as ps

STATES = ("u", "v", "m", "s", "w", "r")
#: name: (low, high) of the uniform draw per patient, and the unit
PARAMETERS = {
    "tau_u": ((2.0, 5.0), "day"), "tau_v": ((0.1, 0.3), "day"),
    "tau_m": ((3.0, 8.0), "day"), "tau_s": ((5.0, 15.0), "day"),
    "tau_w": ((20.0, 40.0), "day"), "tau_r": ((5.0, 10.0), "day"),
    "a": ((0.9, 1.1), "1"), "b": ((0.1, 0.3), "1"), "c": ((0.2, 0.6), "1"),
    "m0": ((0.02, 0.08), "1"), "k": ((1.8, 2.4), "1"), "K": ((0.8, 1.2), "1"),
    "s0": ((0.0, 0.1), "1"), "g": ((0.1, 0.3), "1"),
    "dose": ((0.5, 1.5), "1"), "knock": ((0.05, 0.2), "1"),
}
NAMES = tuple(PARAMETERS)
IX = {name: i for i, name in enumerate(NAMES)}
SESSION, FLARE = 0, 1


def pain(y: NDArray, p: object = None) -> NDArray:
    """Pain on 0-10 of states ``y`` (6, ...); ``p`` (parameters) is not needed."""
    v2 = y[1] * y[1]
    return 10.0 * v2 / (1.0 + v2) / (1.0 + y[5])


def rhs(t: NDArray, y: NDArray, p: SimpleNamespace) -> NDArray:
    """dy/dt per day of states ``y`` (6, m); ``p`` has the parameters as attributes
    (arrays of shape (m,)), as :class:`painsim.Model` passes them."""
    u, v, m, s, w, r = y
    pn = pain(y)
    q = v * v / (p.K * p.K)
    hill = q * q / (1.0 + q * q)  # v^4 / (K^4 + v^4)
    return np.stack([
        -u / p.tau_u,
        ((u + p.a * m + p.b * s) / (1.0 + p.c * w) - v) / p.tau_v,
        (p.m0 + p.k * hill - m) / p.tau_m,
        (p.s0 + p.g * pn / 10.0 - s) / p.tau_s,
        (pn / 10.0 - w) / p.tau_w,
        -r / p.tau_r,
    ])


def packed_rhs(t: NDArray, y: NDArray, P: NDArray) -> NDArray:
    """:func:`rhs` on packed parameters ``P`` (16, m), rows in :data:`NAMES` order."""
    return rhs(t, y, SimpleNamespace(**dict(zip(NAMES, P, strict=True))))


def event(y: NDArray, P: NDArray, kind: NDArray, size: NDArray) -> NDArray:
    """States after events of ``kind`` (SESSION or FLARE, shape (m,)) with flare
    ``size`` (m,), applied to ``y`` (6, m) with packed parameters ``P`` (16, m); a copy."""
    y = y.copy()
    sess = kind == SESSION
    y[:, sess] = session_pulse(y[:, sess], P[:, sess], 1.0)
    y[0, ~sess] += size[~sess]
    return y


def problems(n: int, days: float = 180.0, seed: int = 7) -> dict:
    """``n`` patients: parameters, initial states and per-patient events.

    Every parameter is uniform on its range; the initial injury ``u`` is uniform on
    [0, 2] and a third of the patients start in the high state of the switch. Sessions:
    weekly, six, from a day uniform on [7, 28]; flares: Poisson, one per 45 days on
    average, log-normal sizes (median 0.5).

    Returns
    -------
    dict
        ``P`` (16, n), ``y0`` (6, n), ``times`` (n, k) days padded with +inf, ``kinds``
        and ``sizes`` (n, k), ``t_eval`` (daily, days) and ``days``.
    """
    rng = np.random.default_rng(seed)
    P = np.stack([rng.uniform(lo, hi, n) for (lo, hi), _ in PARAMETERS.values()])
    y0 = np.zeros((6, n))
    y0[0] = rng.uniform(0.0, 2.0, n)
    high = rng.random(n) < 1 / 3
    y0[2] = np.where(high, 1.8, 0.05)
    y0[1] = y0[0] + y0[2]
    rows = []
    for _ in range(n):
        start = rng.uniform(7.0, 28.0)
        ev = [(start + 7.0 * j, SESSION, 0.0) for j in range(6)]
        t = rng.exponential(45.0)
        while t < days:
            ev.append((t, FLARE, float(rng.lognormal(np.log(0.5), 0.5))))
            t += rng.exponential(45.0)
        rows.append(sorted(e for e in ev if e[0] < days))
    k = max(len(r) for r in rows)
    times = np.full((n, k), np.inf)
    kinds = np.zeros((n, k), dtype=np.int64)
    sizes = np.zeros((n, k))
    for i, r in enumerate(rows):
        times[i, : len(r)] = [e[0] for e in r]
        kinds[i, : len(r)] = [e[1] for e in r]
        sizes[i, : len(r)] = [e[2] for e in r]
    return {"P": P, "y0": y0, "times": times, "kinds": kinds, "sizes": sizes,
            "t_eval": np.arange(0.0, np.floor(days) + 1), "days": float(days)}


def lane_pain(y, p):
    """:func:`pain` of one lane's states ``y`` (6,): the compiled form."""
    v2 = y[1] * y[1]
    return 10.0 * v2 / (1.0 + v2) / (1.0 + y[5])


def lane_rhs(t, y, p, dy):
    """:func:`rhs` of one lane, written into ``dy`` (6,); ``p`` (16,) packed in
    :data:`NAMES` order: the compiled form (:class:`painsim.compiled.LaneForm`), the
    same arithmetic as :func:`rhs`."""
    u, v, m, s, w, r = y[0], y[1], y[2], y[3], y[4], y[5]
    v2 = v * v
    pn = 10.0 * v2 / (1.0 + v2) / (1.0 + r)
    q = v2 / (p[11] * p[11])
    hill = q * q / (1.0 + q * q)
    dy[0] = -u / p[0]
    dy[1] = ((u + p[6] * m + p[7] * s) / (1.0 + p[8] * w) - v) / p[1]
    dy[2] = (p[9] + p[10] * hill - m) / p[2]
    dy[3] = (p[12] + p[13] * pn / 10.0 - s) / p[3]
    dy[4] = (pn / 10.0 - w) / p[4]
    dy[5] = -r / p[5]


def lane_session_pulse(y, p, dose):
    """:func:`session_pulse` of one lane, in place: the pulse's compiled form
    (``LaneForm.pulses``), so ``simulate`` applies sessions inside the compiled loop."""
    y[5] += dose * p[14]
    y[2] *= 1.0 - p[15]


def lane_event(y, p, kind, size, table):
    """:func:`event` on one lane, in place (``table`` unused: the model's events need
    only its parameters and the flare's size); for ``benchmarks/limit.py``."""
    if kind == SESSION:
        y[5] += p[14]
        y[2] *= 1.0 - p[15]
    else:
        y[0] += size


def limit_args(pr: dict) -> tuple:
    """The leading arguments of the limit programs (``limit.build``) for ``pr``."""
    return (pr["y0"], pr["P"], pr["times"], pr["kinds"], pr["sizes"], np.zeros((2, 1)))


def accuracy_lanes(n: int, k: int = 200) -> NDArray:
    """Lanes of the accuracy check: the first ``k`` patients."""
    return np.arange(min(k, n))


def subset(pr: dict, lanes: NDArray) -> dict:
    """The problems of some lanes only."""
    out = dict(pr)
    out["P"], out["y0"] = (np.ascontiguousarray(pr[k][:, lanes]) for k in ("P", "y0"))
    for key in ("times", "kinds", "sizes"):
        out[key] = np.ascontiguousarray(pr[key][lanes])
    return out


def run_scipy(pr: dict, method: str, rtol: float = 1e-6, atol: float = 1e-8) -> NDArray:
    """Daily pain by ``scipy.integrate.solve_ivp`` per patient and per segment between
    events (the reference of the accuracy check, at tight tolerances)."""
    from scipy.integrate import solve_ivp

    n = pr["y0"].shape[1]
    T, days = pr["t_eval"], pr["days"]
    out = np.empty((n, T.size))
    for i in range(n):
        p = pr["P"][:, i]

        def f(t, y, p=p):
            dy = np.empty(6)
            lane_rhs(t, y, p, dy)
            return dy

        y, t0 = pr["y0"][:, i].copy(), 0.0
        ev = [(t, pr["kinds"][i, j], pr["sizes"][i, j])
              for j, t in enumerate(pr["times"][i]) if np.isfinite(t)]
        for t_end, kind, size in [*ev, (days, -1, 0.0)]:
            sel = (T >= t0) & (T < t_end)
            if t_end > t0:  # t_end is the last output: the state the event applies to
                sol = solve_ivp(f, (t0, t_end), y, method=method, rtol=rtol, atol=atol,
                                t_eval=np.append(T[sel], t_end))
                for c, yy in zip(np.flatnonzero(sel), sol.y[:, :-1].T, strict=True):
                    out[i, c] = lane_pain(yy, p)
                y = sol.y[:, -1].copy()
            if kind >= 0:
                lane_event(y, p, kind, size, None)
            t0 = t_end
        out[i, T >= days] = lane_pain(y, p)
    return out


def session_pulse(y: NDArray, P: NDArray, dose: float) -> NDArray:
    """A session as the model's pulse (``Model.pulses``): ``r`` rises by ``dose`` times
    the patient's own ``dose`` parameter, ``m`` is scaled by ``1 - knock``; a copy. With
    ``dose`` 1 it is a session of :func:`event`."""
    y = np.array(y, dtype=float)
    y[5] += dose * P[IX["dose"]]
    y[2] *= 1.0 - P[IX["knock"]]
    return y


def painsim_model() -> ps.Model:
    """The model through painsim's public user-model API (:class:`painsim.Model`), with
    its compiled form (:func:`lane_rhs`, :func:`lane_pain`) for ``backend="numba"`` and
    its session as a pulse (:func:`session_pulse`) for :func:`study`."""
    states = tuple(ps.State(name=s, unit="1", description=f"state {s} of the switch model",
                            initial=0.0) for s in STATES)
    params = tuple(ps.Parameter(name=name, default=0.5 * (lo + hi), unit=unit,
                                description=name, bounds=(0.0, 100.0), plausible=(lo, hi))
                   for name, ((lo, hi), unit) in PARAMETERS.items())

    from painsim.compiled import LaneForm

    return ps.Model(name="bistable-switch", states=states, parameters=params, rhs=rhs,
                    pain=pain, lane_form=LaneForm(rhs=lane_rhs, pain=lane_pain,
                                       pulses={"session": lane_session_pulse}),
                    pulses={"session": session_pulse})


def study(pr: dict) -> tuple[list[ps.Arm], ps.Cohort]:
    """The problems ``pr`` (:func:`problems`) as a study for :func:`painsim.simulate`:
    every patient's parameters and initial states as the cohort's table, the flares as
    its event table (``random_flares=False``, no run-in), the sessions as a ``Given``
    schedule of an intervention whose one effect is the ``session`` pulse. ``simulate``
    then solves exactly the problems the other methods solve (one arm of all ``n``)."""
    n = pr["y0"].shape[1]
    table = {"patient": np.arange(n), **dict(zip(NAMES, pr["P"], strict=True)),
             **dict(zip(STATES, pr["y0"], strict=True))}
    given = np.isfinite(pr["times"])
    flare = given & (pr["kinds"] == FLARE)
    patient = np.nonzero(flare)[0]
    events = {"patient": patient, "day": pr["times"][flare],
              "kind": np.full(patient.size, "u"), "size": pr["sizes"][flare]}
    session = given & (pr["kinds"] == SESSION)
    visits = ps.Given.read({"patient": np.nonzero(session)[0], "day": pr["times"][session]})
    own = ps.Phenotype(name="benchmark", description="the benchmark's drawn patients")
    cohort = ps.Cohort(n=n, seed=1, model=painsim_model(), mix={"benchmark": 1.0},
                       phenotypes={"benchmark": own}, table=table, events=events,
                       random_flares=False, run_in_days=0.0)
    session_iv = ps.Intervention(name="session", lever="mixed", effects=(
        ps.Effect(target="session", op="pulse", value=1.0),))
    return [ps.Arm(name="sessions", protocol=ps.Protocol(intervention=session_iv,
                                                         schedule=visits))], cohort
