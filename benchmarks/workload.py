"""The reference workload of painsim's benchmarks, and the same work for other tools.

N patients of the default model over ``days`` (180 by default), daily pain saved:
every parameter drawn uniformly from its plausible range, an acute strain at day 0
(tissue drive D uniform on [0, 2]), random strains (D + 1, Poisson, about one per 60
days per patient), and weekly sessions for 6 weeks from day 14 at noon — half of the N
patients dry needling, the other half acupuncture (painsim's two arms share their
N/2 patients and flares). Every patient's event times differ.

:func:`study` builds it with painsim's own objects (what :func:`painsim.simulate`
runs); :func:`problems` turns the same study into plain arrays — parameters, initial
states, per-patient event times and an event table — so SciPy and the hand-written
compiled loops solve exactly the same problems.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import scipy

import painsim as ps
from painsim.painloop import PAIN_LOOP

DAYS = 180.0


def study(n: int, days: float = DAYS, seed: int = 1) -> tuple[list[ps.Arm], ps.Cohort]:
    """The workload as painsim objects: two arms on a cohort of ``n // 2`` patients."""
    if n < 2 or n % 2:
        raise ValueError(f"n must be an even number >= 2, got {n}")
    ph = ps.Phenotype(
        name="plausible", description="every parameter uniform on its plausible range",
        params={p.name: ps.Uniform(*p.plausible) for p in PAIN_LOOP.parameters},
        injury=ps.Uniform(0.0, 2.0), flares=ps.Flares(strain_per_day=1 / 60))
    weekly = ps.Fixed(start_day=14, every_days=7, sessions=6)
    # soreness every session (not 30%): every tool then solves the same problem
    arms = [ps.Arm(name="dry needling", protocol=ps.Protocol(
                intervention=ps.dry_needling(p_soreness=1.0), schedule=weekly)),
            ps.Arm(name="acupuncture", protocol=ps.Protocol(
                intervention=ps.acupuncture(), schedule=weekly))]
    cohort = ps.Cohort(n=n // 2, seed=seed, mix={"plausible": 1.0},
                       phenotypes={"plausible": ph}, run_in_days=0)
    return arms, cohort


def problems(n: int, days: float = DAYS, seed: int = 1) -> dict:
    """The same study as arrays, lanes ordered arm by arm (lane ``a * n/2 + i`` is
    patient ``i`` in arm ``a``).

    Returns a dict with ``P`` (26, n), ``y0`` (8, n), ``times`` (n, k) event times in
    days padded with +inf, ``kinds`` (n, k) rows of the event table, and the event table
    ``scale``, ``add`` (n_kinds, 8) and ``dose`` (n_kinds,): an event of kind ``e``
    sets ``y <- y * scale[e] + add[e]`` and then adds analgesia ``dose[e]``.
    """
    arms, cohort = study(n, days, seed)
    sample = cohort.sample(days)
    m = n // 2
    ns = len(PAIN_LOOP.states)
    scale, add, dose = np.ones((3, ns)), np.zeros((3, ns)), np.zeros(3)
    for e, arm in enumerate(arms):
        for eff in arm.protocol.intervention.effects:
            kind = eff.kind(PAIN_LOOP)
            if kind == "none":
                continue
            assert eff.probability == 1.0, "the benchmark needs deterministic effects"
            if kind == "pulse":
                dose[e] += eff.value
            elif eff.op == "scale":
                scale[e, PAIN_LOOP.index(eff.target)] *= eff.value
            else:
                add[e, PAIN_LOOP.index(eff.target)] += eff.value
    sched = arms[0].protocol.schedule
    hour = arms[0].protocol.visit_hour / 24.0
    sessions = sched.start_day + sched.every_days * np.arange(sched.sessions) + hour
    sessions = sessions[sessions < days]
    rows = []
    for e in range(2):
        for i in range(m):
            fl = [(t, 2) for t, _, target, size in sample.flares[i] if t < days]
            ev = sorted([*((t, e) for t in sessions), *fl])
            rows.append(ev)
            for _, _, target, size in sample.flares[i]:
                assert target == "D" and size == 1.0
    add[2, PAIN_LOOP.index("D")] = 1.0
    width = max(1, max(len(r) for r in rows))
    times = np.full((n, width), np.inf)
    kinds = np.zeros((n, width), dtype=np.int64)
    for lane, ev in enumerate(rows):
        times[lane, : len(ev)] = [t for t, _ in ev]
        kinds[lane, : len(ev)] = [k for _, k in ev]
    return {"P": np.ascontiguousarray(np.tile(sample.params, 2)),
            "y0": np.ascontiguousarray(np.tile(sample.y0, 2)), "times": times,
            "kinds": kinds, "scale": scale, "add": add, "dose": dose,
            "t_eval": np.arange(0.0, np.floor(days) + 1), "days": float(days)}


def accuracy_lanes(n: int, k: int = 100) -> np.ndarray:
    """Lanes of the accuracy check: the first ``k`` patients of each arm."""
    m = n // 2
    k = min(k, m)
    return np.concatenate([np.arange(k), m + np.arange(k)])


def subset(pr: dict, lanes: np.ndarray) -> dict:
    """The problems of some lanes only."""
    out = dict(pr)
    for key in ("P", "y0"):
        out[key] = np.ascontiguousarray(pr[key][:, lanes])
    for key in ("times", "kinds"):
        out[key] = np.ascontiguousarray(pr[key][lanes])
    return out


def limit_args(pr: dict) -> tuple:
    """The leading arguments of the limit programs (``limit.pain_loop()``) for ``pr``:
    event rows ``scale``, ``add``, ``dose`` as one table (no event sizes)."""
    table = np.hstack([pr["scale"], pr["add"], pr["dose"][:, None]])
    return (pr["y0"], pr["P"], pr["times"], pr["kinds"], np.zeros(pr["times"].shape), table)


def apply_events(y: np.ndarray, P: np.ndarray, kinds: np.ndarray, pr: dict) -> np.ndarray:
    """Apply events of ``kinds`` (one per column) to states ``y`` (n_states, m)."""
    out = y * pr["scale"][kinds].T + pr["add"][kinds].T
    d = pr["dose"][kinds]
    th = P[PAIN_LOOP.parameter_index["t_half_E"]]
    ia, ig = PAIN_LOOP.index("E_amp"), PAIN_LOOP.index("E_age")
    hit = d > 0
    out[ia, hit] = out[ia, hit] * np.exp2(-out[ig, hit] / th[hit]) + d[hit]
    out[ig, hit] = 0.0
    return out


def scalar_rhs(p: dict):
    """The model written as a researcher would for solve_ivp: plain floats, one patient.

    Written independently of painsim.painloop from the documented equations
    (:data:`painsim.painloop.EQUATIONS`): ten states, the loop's pain L above the
    threshold N0, the Emax systemic effect F = R / (R50 + R), non-specific relief C and
    soreness Q (which the loop does not feel; the pain saved is computed by painsim).
    """
    g = p.__getitem__
    tau_D, d0, tau_I, c_T, c_A = g("tau_D"), g("d0"), g("tau_I"), g("c_T"), g("c_A")
    tau_T, T0, g_T, P_T, n_T = g("tau_T"), g("T0"), g("g_T"), g("P_T"), g("n_T")
    tau_S, theta0, m, k_R, g_S = g("tau_S"), g("theta0"), g("m"), g("k_R"), g("g_S")
    tau_A, a0, a_P, a_S, k_RA = g("tau_A"), g("a0"), g("a_P"), g("a_S"), g("k_RA")
    tau_R, w_D, w_I, w_T, k_E, th = (g("tau_R"), g("w_D"), g("w_I"), g("w_T"), g("k_E"),
                                     g("t_half_E"))
    N0, R50, tau_C, tau_Q = g("N0"), g("R50"), g("tau_C"), g("tau_Q")

    def hill(x, K, n):
        return x**n / (K**n + x**n)

    def f(t, y):
        D, I, T, S, A, R, Ea, Ez, C, Q = y
        u = max(w_D * D + w_I * I + w_T * T - N0, 0.0) * (1 + g_S * S)
        L = 10 * u / (1 + u) / (1 + k_E * Ea * 2.0 ** (-Ez / th) + C)
        F = max(R, 0.0) / (R50 + max(R, 0.0))
        theta = theta0 * (1 + k_R * F)
        return [(d0 - D) / tau_D, (D + c_T * T + c_A * A - I) / tau_I,
                (T0 + g_T * hill(L, P_T, n_T) - T) / tau_T, (hill(L, theta, m) - S) / tau_S,
                ((a0 + a_P * L / 10 + a_S * S) / (1 + k_RA * F) - A) / tau_A,
                -R / tau_R, 0.0, 1.0, -C / tau_C, -Q / tau_Q]
    return f


def run_scipy(pr: dict, method: str, rtol: float = 1e-6, atol: float = 1e-8) -> np.ndarray:
    """The loop a researcher would write: one solve_ivp per patient and inter-event
    segment. Returns daily pain, shape (n, n_days)."""
    # imported here: scipy.integrate is about 39 MB of a process, which the rows that do
    # not call solve_ivp would otherwise carry in their peak memory
    from scipy.integrate import solve_ivp

    P, y0, times, kinds, T = pr["P"], pr["y0"], pr["times"], pr["kinds"], pr["t_eval"]
    days = pr["days"]
    names = PAIN_LOOP.parameter_names
    n = y0.shape[1]
    pain = np.empty((n, T.size))
    for i in range(n):
        Pi = P[:, i : i + 1]
        f = scalar_rhs(dict(zip(names, Pi[:, 0].tolist(), strict=True)))
        y = y0[:, i].copy()
        t0 = 0.0
        ev = [(t, k) for t, k in zip(times[i], kinds[i], strict=True) if np.isfinite(t)]
        out = np.empty((y.size, T.size))
        for t1, k in [*ev, (days, -1)]:
            last = k == -1
            mask = (T >= t0) & ((T <= t1) if last else (T < t1))
            if t1 > t0:
                te = T[mask]
                if te.size == 0 or te[-1] != t1:  # the segment's end state comes along
                    te = np.append(te, t1)
                r = solve_ivp(f, (t0, t1), y, method=method, rtol=rtol, atol=atol, t_eval=te)
                out[:, mask] = r.y[:, : np.count_nonzero(mask)]
                y = r.y[:, -1]
            elif mask.any():
                out[:, mask] = y[:, None]
            if not last:
                y = apply_events(y[:, None], Pi, np.array([k]), pr)[:, 0]
            t0 = t1
        pain[i] = PAIN_LOOP.pain_of(out[:, None, :], Pi)[0]
    return pain


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__,
            "painsim": ps.__version__, "platform": platform.platform()}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    return info
