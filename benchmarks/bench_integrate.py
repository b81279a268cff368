"""Benchmark: painsim.integrate on the default model against a per-patient SciPy loop.

Workload (the reference workload of painsim's benchmarks): N patients with every
parameter drawn from its plausible range, 180 days, daily pain saved; weekly sessions
for 6 weeks from day 14 (even patients dry needling, odd patients acupuncture) plus
random flares (tissue drive +1, about one per 60 days per patient, Poisson). Every
patient's event times differ.

Measured in one run, back to back:

* ``painsim.integrate`` (rtol 1e-6, atol 1e-8) in chunks of ``--chunk`` lanes, keeping
  daily pain only;
* ``scipy.integrate.solve_ivp`` per patient and per inter-event segment (RK45 and LSODA,
  same tolerances) on the first ``--baseline`` patients; its rate is per patient-day and
  does not depend on N;
* accuracy: maximum absolute daily-pain error of both against ``solve_ivp(DOP853,
  rtol=1e-10, atol=1e-12)`` on the first ``--accuracy`` patients.

Usage::

    python benchmarks/bench_integrate.py                 # N = 1,000 / 10,000 / 100,000
    python benchmarks/bench_integrate.py --sizes 1000    # quicker

Results go to ``benchmarks/results/integrate.json`` (with the machine description) and a
Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.integrate import solve_ivp

import painsim
from painsim.painloop import PAIN_LOOP, local_kick, systemic_kick

DAYS = 180.0
T_EVAL = np.arange(0.0, DAYS + 1)
SESSIONS = 14.0 + 7.0 * np.arange(6)


def workload(n: int, seed: int = 0):
    """Parameters, initial states and per-patient event times for ``n`` patients."""
    rng = np.random.default_rng([seed, n])
    params = PAIN_LOOP.params(**{p.name: rng.uniform(*p.plausible, n)
                                 for p in PAIN_LOOP.parameters})
    y0 = PAIN_LOOP.initial_state(n)
    y0[PAIN_LOOP.index("D")] = rng.uniform(0, 2, n)
    y0[PAIN_LOOP.index("T")] = rng.uniform(0, 0.5, n)
    y0[PAIN_LOOP.index("S")] = rng.uniform(0, 1, n)
    y0[PAIN_LOOP.index("A")] = rng.uniform(0.1, 1, n)
    n_flares = rng.poisson(DAYS / 60.0, n)
    width = SESSIONS.size + max(1, n_flares.max())
    times = np.full((n, width), np.inf)
    kinds = np.zeros((n, width), dtype=int)  # 0 local, 1 systemic, 2 flare
    for i in range(n):
        fl = np.sort(rng.uniform(0, DAYS, n_flares[i]))
        t = np.concatenate([SESSIONS, fl])
        k = np.concatenate([np.full(SESSIONS.size, i % 2), np.full(fl.size, 2)])
        order = np.argsort(t, kind="stable")
        times[i, : t.size], kinds[i, : t.size] = t[order], k[order]
    return params, y0, times, kinds


def apply_events(y, P, kinds):
    """Apply events of kind 0 (local), 1 (systemic) or 2 (flare) to states ``y``."""
    out = y.copy()
    for kind, fn in ((0, lambda y, P: local_kick(y, P)),
                     (1, lambda y, P: systemic_kick(y, P, dose=0.15))):
        sel = kinds == kind
        if sel.any():
            out[:, sel] = fn(y[:, sel], P[:, sel])
    out[PAIN_LOOP.index("D"), kinds == 2] += 1.0
    return out


def run_painsim(params, y0, times, kinds, chunk: int, rtol=1e-6, atol=1e-8):
    n = y0.shape[1]
    P = params.as_array(n)
    pain = np.empty((n, T_EVAL.size))
    steps = 0
    for lo in range(0, n, chunk):
        sl = slice(lo, min(n, lo + chunk))
        Pc, kc = P[:, sl], kinds[sl]

        def on_stop(t, y, lanes, k, Pc=Pc, kc=kc):
            return apply_events(y, Pc[:, lanes], kc[lanes, k])

        sol = painsim.integrate(PAIN_LOOP.lane_rhs, (0.0, DAYS), y0[:, sl], args=(Pc,),
                                t_eval=T_EVAL, stops=times[sl], on_stop=on_stop,
                                save=lambda t, y, P: PAIN_LOOP.pain_of(y, P)[None, :],
                                rtol=rtol, atol=atol, throw=True)
        pain[sl] = sol.y[0]
        steps += int(sol.n_steps.sum())
    return pain, steps


def scalar_rhs(p: dict):
    """The model written as a researcher would for solve_ivp: plain floats, one patient.

    Written independently of painsim.painloop.rhs from the documented equations.
    """
    g = p.__getitem__
    tau_D, d0, tau_I, c_T, c_A = g("tau_D"), g("d0"), g("tau_I"), g("c_T"), g("c_A")
    tau_T, T0, g_T, P_T, n_T = g("tau_T"), g("T0"), g("g_T"), g("P_T"), g("n_T")
    tau_S, theta0, m, k_R, g_S = g("tau_S"), g("theta0"), g("m"), g("k_R"), g("g_S")
    tau_A, a0, a_P, a_S, k_RA = g("tau_A"), g("a0"), g("a_P"), g("a_S"), g("k_RA")
    tau_R, w_D, w_I, w_T, k_E, th = (g("tau_R"), g("w_D"), g("w_I"), g("w_T"), g("k_E"),
                                     g("t_half_E"))

    def f(t, y):
        D, I, T, S, A, R, Ea, Ez = y
        u = max((w_D * D + w_I * I + w_T * T) * (1 + g_S * S), 0.0)
        P = 10 * u / (1 + u) / (1 + k_E * Ea * 2.0 ** (-Ez / th))
        theta = theta0 * (1 + k_R * R)
        hT = P**n_T / (P_T**n_T + P**n_T)
        hS = P**m / (theta**m + P**m)
        return [(d0 - D) / tau_D, (D + c_T * T + c_A * A - I) / tau_I,
                (T0 + g_T * hT - T) / tau_T, (hS - S) / tau_S,
                ((a0 + a_P * P / 10 + a_S * S) / (1 + k_RA * R) - A) / tau_A,
                -R / tau_R, 0.0, 1.0]
    return f


def run_scipy(params, y0, times, kinds, n: int, method: str, rtol=1e-6, atol=1e-8):
    """The loop a researcher would write: one solve_ivp per patient and segment."""
    P = params.as_array(y0.shape[1])
    names = PAIN_LOOP.parameter_names
    pain = np.empty((n, T_EVAL.size))
    for i in range(n):
        Pi = P[:, i : i + 1]
        f = scalar_rhs(dict(zip(names, Pi[:, 0].tolist(), strict=True)))
        y = y0[:, i].copy()
        t0 = 0.0
        ev = [(t, k) for t, k in zip(times[i], kinds[i], strict=True) if np.isfinite(t)]
        out = np.empty((y.size, T_EVAL.size))
        for t1, k in [*ev, (DAYS, -1)]:
            last = k == -1
            mask = (T_EVAL >= t0) & ((T_EVAL <= t1) if last else (T_EVAL < t1))
            if t1 > t0:
                te = T_EVAL[mask]
                if te.size == 0 or te[-1] != t1:  # the segment's end state comes along
                    te = np.append(te, t1)
                r = solve_ivp(f, (t0, t1), y, method=method, rtol=rtol, atol=atol, t_eval=te)
                out[:, mask] = r.y[:, : np.count_nonzero(mask)]
                y = r.y[:, -1]
            elif mask.any():
                out[:, mask] = y[:, None]
            if not last:
                y = apply_events(y[:, None], Pi, np.array([k]))[:, 0]
            t0 = t1
        pain[i] = PAIN_LOOP.pain_of(out[:, None, :], Pi)[0]
    return pain


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__,
            "painsim": painsim.__version__, "platform": platform.platform()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--baseline", type=int, default=100)
    ap.add_argument("--accuracy", type=int, default=50)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "integrate.json"))
    a = ap.parse_args(argv)

    rows = []
    # accuracy on a small cohort, against the tight DOP853 reference
    params, y0, times, kinds = workload(a.accuracy)
    ref = run_scipy(params, y0, times, kinds, a.accuracy, "DOP853", rtol=1e-10, atol=1e-12)
    err_ps = np.abs(run_painsim(params, y0, times, kinds, a.chunk)[0] - ref).max()
    err = {"painsim": float(err_ps)}
    for method in ("RK45", "LSODA"):
        err[method] = float(np.abs(run_scipy(params, y0, times, kinds, a.accuracy, method)
                                   - ref).max())

    # the per-patient SciPy loop: measured on the first `baseline` patients
    params, y0, times, kinds = workload(a.baseline)
    base = {}
    for method in ("RK45", "LSODA"):
        t = time.perf_counter()
        run_scipy(params, y0, times, kinds, a.baseline, method)
        dt = time.perf_counter() - t
        base[method] = a.baseline * DAYS / dt
        rows.append({"method": f"solve_ivp {method}, per patient and segment",
                     "n": a.baseline, "seconds": dt, "patient_days_per_s": base[method],
                     "max_pain_error": err[method]})

    for n in a.sizes:
        params, y0, times, kinds = workload(n)
        t = time.perf_counter()
        _, steps = run_painsim(params, y0, times, kinds, a.chunk)
        dt = time.perf_counter() - t
        rows.append({"method": f"painsim.integrate (chunks of {min(n, a.chunk)})", "n": n,
                     "seconds": dt, "patient_days_per_s": n * DAYS / dt,
                     "steps_per_patient": steps / n, "max_pain_error": err["painsim"],
                     "speedup_vs_RK45": n * DAYS / dt / base["RK45"]})

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"benchmark": "integrate", "days": DAYS, "machine": machine(),
              "command": "python benchmarks/bench_integrate.py " + " ".join(sys.argv[1:]),
              "peak_rss_mb_whole_run": peak_mb, "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)

    print(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
          f"Python {report['machine']['python']}, NumPy {report['machine']['numpy']}")
    print("| method | patients | wall time (s) | patient-days/s | x RK45 loop | "
          "max pain error |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        sp = r.get("speedup_vs_RK45")
        print(f"| {r['method']} | {r['n']:,} | {r['seconds']:.2f} | "
              f"{r['patient_days_per_s']:.3g} | {'' if sp is None else f'{sp:.0f}x'} | "
              f"{r['max_pain_error']:.1e} |")
    print(f"peak RSS of the whole run: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
