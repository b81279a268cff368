"""The practical limit of this machine: a compiled Dormand–Prince loop of the same model.

Two hand-written Numba programs for a benchmark workload (no engine, no crossings, no
outcomes: only what the workload asks, daily pain with per-patient events):

* **per patient** — each patient's whole run is one compiled loop; patients are spread
  over threads (``prange``).
* **lanes** — ``LANES`` patients advance side by side in one block, each lane with its
  own time, step, error control and events; a lane that finishes is refilled with the
  block's next patient. Every loop of a step's arithmetic (the stage sums, the
  right-hand side called lane after lane on the lane's column, the solution and error
  sums) has the lanes innermost, with no branch on a lane, so the compiler can run it
  across lanes in SIMD registers (the right-hand side inlined; where it calls ``exp`` or
  ``log``, which this Numba build cannot vectorize, that call stays scalar). The sums
  run in the per-patient program's order, so both give the same numbers bit for bit.
  Blocks are spread over threads.

Both use the method, step-size controller and restart-after-event rule of
:func:`painsim.integrate`. :func:`build` compiles them for any model given as three
functions of one lane: ``rhs(t, y, p, dy)``, ``pain(y, p)`` and ``event(y, p, kind,
size, table)`` (applies an event in place; ``table`` holds the model's constants of
event kinds). :func:`pain_loop` is the build for painsim's lane form of the pain loop
(:func:`painsim.painloop.lane_rhs`), so every method of the benchmark does the same
arithmetic per step; ``benchmarks/second_model.py`` builds one for its own model.

The programs take ``(Y0, P, times, kinds, sizes, table, t_eval, out, rtol, atol, t1)``
(``lanes`` also the number of blocks): initial states and parameters ``(n_states, n)``
and ``(n_parameters, n)``, event times, kinds and sizes ``(n, k)`` (times padded with
+inf), daily output ``(n, n_eval)``; they return the accepted steps.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
from numba import prange

from painsim.painloop import lane_pain, lane_rhs
from painsim.solver import DOPRI5

LANES = 64
njit = numba.njit(error_model="numpy")  # division by zero gives inf, as in NumPy
_Ac, _Bc, _Cc, _Ec, _PD = (np.array(x, dtype=np.float64)
                           for x in (DOPRI5.A, DOPRI5.B, DOPRI5.C, DOPRI5.E, DOPRI5.P))
_T_HALF = 25  # row of t_half_E in the pain loop's parameters


def pain_loop_event(y, p, kind, size, table):
    """An event of the pain-loop workload: ``y <- y * scale + add`` then an analgesia
    ``dose``; row ``kind`` of ``table`` is ``scale`` (n_states), ``add`` (n_states),
    ``dose``."""
    ns = y.shape[0]
    for k in range(ns):
        y[k] = y[k] * table[kind, k] + table[kind, ns + k]
    dose = table[kind, 2 * ns]
    if dose > 0.0:
        y[6] = y[6] * np.exp2(-y[7] / p[_T_HALF]) + dose
        y[7] = 0.0


@functools.cache
def pain_loop() -> SimpleNamespace:
    """The limit programs of the pain loop (compiled on first call)."""
    return build(lane_rhs, lane_pain, pain_loop_event)


def build(rhs: Any, pain: Any, event: Any) -> SimpleNamespace:
    """Compile the ``per_patient`` and ``lanes`` programs for a model's lane functions."""
    _rhs = njit(rhs)
    _pain = njit(pain)
    _event = njit(event)

    @njit
    def _initial_step(t, y, f, p, rtol, atol, t1, tmp, f1):
        ns = y.shape[0]
        d0 = 0.0
        d1 = 0.0
        for k in range(ns):
            sc = atol + rtol * abs(y[k])
            d0 += (y[k] / sc) ** 2
            d1 += (f[k] / sc) ** 2
        d0 = np.sqrt(d0 / ns)
        d1 = np.sqrt(d1 / ns)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, t1 - t)
        for k in range(ns):
            tmp[k] = y[k] + h0 * f[k]
        _rhs(t + h0, tmp, p, f1)
        d2 = 0.0
        for k in range(ns):
            d2 += ((f1[k] - f[k]) / (atol + rtol * abs(y[k]))) ** 2
        d2 = np.sqrt(d2 / ns) / h0
        dm = max(d1, d2)
        h1 = max(1e-6, h0 * 1e-3) if dm <= 1e-15 else (0.01 / dm) ** 0.2
        return min(100 * h0, h1, t1 - t)

    @njit
    def _patient(y0, p, times, kinds, sizes, table, t_eval, out, rtol, atol, t1):
        """One patient's whole run; returns its accepted steps."""
        ns = y0.shape[0]
        y = y0.copy()
        f = np.empty(ns)
        K = np.empty((7, ns))
        tmp = np.empty(ns)
        ynew = np.empty(ns)
        f1 = np.empty(ns)
        q = np.empty(4)
        n_ev = times.shape[0]
        t = 0.0
        sp = 0
        ep = 0
        _rhs(t, y, p, f)
        h = _initial_step(t, y, f, p, rtol, atol, t1, tmp, f1)
        rb = False
        steps = 0
        while t < t1:
            st = times[sp] if sp < n_ev else np.inf
            limit = min(st, t1)
            hu = min(h, limit - t)
            clipped = hu < h
            K[0] = f
            for s in range(1, 7):
                for k in range(ns):
                    acc = 0.0
                    for j in range(s):
                        acc += _Ac[s, j] * K[j, k]
                    tmp[k] = y[k] + hu * acc
                _rhs(t + _Cc[s] * hu, tmp, p, K[s])
            en = 0.0
            for k in range(ns):
                acc = 0.0
                er = 0.0
                for j in range(6):
                    acc += _Bc[j] * K[j, k]
                for j in range(7):
                    er += _Ec[j] * K[j, k]
                ynew[k] = y[k] + hu * acc
                sc = atol + rtol * max(abs(y[k]), abs(ynew[k]))
                en += (hu * er / sc) ** 2
            en = np.sqrt(en / ns)
            accept = en < 1.0
            factor = 10.0 if en == 0.0 else 0.9 * en ** -0.2
            if accept:
                factor = min(factor, 1.0 if rb else 10.0)
                steps += 1
                t_new = limit if hu >= limit - t else t + hu
                while ep < t_eval.shape[0] and t_eval[ep] < t_new:
                    x = (t_eval[ep] - t) / hu
                    for k in range(ns):
                        for j in range(4):
                            q[j] = 0.0
                            for s in range(7):
                                q[j] += _PD[s, j] * K[s, k]
                        tmp[k] = y[k] + hu * (x * (q[0] + x * (q[1] + x * (q[2] + x * q[3]))))
                    out[ep] = _pain(tmp, p)
                    ep += 1
                t = t_new
                y[:] = ynew
                f[:] = K[6]
            else:
                factor = min(max(factor, 0.2), 1.0)
            h = max(hu * factor, h) if (accept and clipped) else hu * factor
            rb = not accept
            if accept and st <= t:
                while sp < n_ev and times[sp] <= t:
                    _event(y, p, kinds[sp], sizes[sp], table)
                    sp += 1
                _rhs(t, y, p, f)
                if t < t1:
                    h = _initial_step(t, y, f, p, rtol, atol, t1, tmp, f1)
                rb = False
        while ep < t_eval.shape[0]:
            out[ep] = _pain(y, p)
            ep += 1
        return steps

    @numba.njit(parallel=True, error_model="numpy")
    def per_patient(Y0, P, times, kinds, sizes, table, t_eval, out, rtol, atol, t1):
        """Every patient on its own, spread over threads. ``out``: (n, n_eval) pain."""
        n = Y0.shape[1]
        steps = np.zeros(n, dtype=np.int64)
        for i in prange(n):
            steps[i] = _patient(Y0[:, i].copy(), P[:, i].copy(), times[i], kinds[i],
                                sizes[i], table, t_eval, out[i], rtol, atol, t1)
        return steps.sum()

    @njit
    def _load(l, i, Y0, P, y, p, f, t, h, rb, pid, sp, ep, rtol, atol, t1, col, fcol, tmp, f1):
        pid[l] = i
        t[l] = 0.0
        sp[l] = 0
        ep[l] = 0
        rb[l] = False
        for k in range(y.shape[0]):
            y[k, l] = Y0[k, i]
            col[k] = Y0[k, i]
        for k in range(p.shape[0]):
            p[k, l] = P[k, i]
        _rhs(0.0, col, P[:, i].copy(), fcol)
        for k in range(y.shape[0]):
            f[k, l] = fcol[k]
        h[l] = _initial_step(0.0, col, fcol, P[:, i].copy(), rtol, atol, t1, tmp, f1)

    @njit
    def _block(lo, hi, Y0, P, times, kinds, sizes, table, t_eval, out, rtol, atol, t1):
        """Patients lo..hi-1 in LANES lanes advanced side by side, refilled as they finish."""
        L = LANES
        ns, npar = Y0.shape[0], P.shape[0]
        y = np.empty((ns, L))
        f = np.empty((ns, L))
        p = np.empty((npar, L))
        K = np.empty((7, ns, L))
        tmp = np.empty((ns, L))
        ynew = np.empty((ns, L))
        t = np.zeros(L)
        h = np.zeros(L)
        hu = np.zeros(L)
        en = np.zeros(L)
        rb = np.zeros(L, dtype=np.bool_)
        pid = np.full(L, -1)
        sp = np.zeros(L, dtype=np.int64)
        ep = np.zeros(L, dtype=np.int64)
        col = np.empty(ns)
        fcol = np.empty(ns)
        pcol = np.empty(npar)
        c1 = np.empty(ns)
        c2 = np.empty(ns)
        q = np.empty(4)
        n_ev = times.shape[1]
        nxt = lo
        for l in range(L):
            if nxt < hi:
                _load(l, nxt, Y0, P, y, p, f, t, h, rb, pid, sp, ep, rtol, atol, t1, col, fcol,
                      c1, c2)
                nxt += 1
        steps = 0
        alive = min(L, hi - lo)
        while alive > 0:
            for l in range(L):
                if pid[l] < 0:
                    hu[l] = 0.0
                    continue
                st = times[pid[l], sp[l]] if sp[l] < n_ev else np.inf
                hu[l] = min(h[l], min(st, t1) - t[l])
            for k in range(ns):
                for l in range(L):
                    K[0, k, l] = f[k, l]
            for s in range(1, 7):
                for k in range(ns):
                    for l in range(L):
                        tmp[k, l] = 0.0
                for j in range(s):
                    a = _Ac[s, j]
                    for k in range(ns):
                        for l in range(L):
                            tmp[k, l] += a * K[j, k, l]
                for k in range(ns):
                    for l in range(L):
                        tmp[k, l] = y[k, l] + hu[l] * tmp[k, l]
                c = _Cc[s]
                for l in range(L):
                    _rhs(t[l] + c * hu[l], tmp[:, l], p[:, l], K[s, :, l])
            for l in range(L):
                en[l] = 0.0
            for k in range(ns):
                for l in range(L):
                    ynew[k, l] = 0.0
                    tmp[k, l] = 0.0
                for j in range(6):
                    b = _Bc[j]
                    for l in range(L):
                        ynew[k, l] += b * K[j, k, l]
                for j in range(7):
                    e = _Ec[j]
                    for l in range(L):
                        tmp[k, l] += e * K[j, k, l]
                for l in range(L):
                    ynew[k, l] = y[k, l] + hu[l] * ynew[k, l]
                    sc = atol + rtol * max(abs(y[k, l]), abs(ynew[k, l]))
                    en[l] += (hu[l] * tmp[k, l] / sc) ** 2
            for l in range(L):
                if pid[l] < 0:
                    continue
                i = pid[l]
                e = np.sqrt(en[l] / ns)
                st = times[i, sp[l]] if sp[l] < n_ev else np.inf
                limit = min(st, t1)
                clipped = hu[l] < h[l]
                accept = e < 1.0
                factor = 10.0 if e == 0.0 else 0.9 * e ** -0.2
                if accept:
                    factor = min(factor, 1.0 if rb[l] else 10.0)
                    steps += 1
                    t_new = limit if hu[l] >= limit - t[l] else t[l] + hu[l]
                    while ep[l] < t_eval.shape[0] and t_eval[ep[l]] < t_new:
                        x = (t_eval[ep[l]] - t[l]) / hu[l]
                        for k in range(ns):
                            for j in range(4):
                                q[j] = 0.0
                                for s in range(7):
                                    q[j] += _PD[s, j] * K[s, k, l]
                            col[k] = y[k, l] + hu[l] * (x * (q[0] + x * (q[1] + x * (q[2]
                                                                                    + x * q[3]))))
                        for k in range(npar):
                            pcol[k] = p[k, l]
                        out[i, ep[l]] = _pain(col, pcol)
                        ep[l] += 1
                    t[l] = t_new
                    for k in range(ns):
                        y[k, l] = ynew[k, l]
                        f[k, l] = K[6, k, l]
                else:
                    factor = min(max(factor, 0.2), 1.0)
                h[l] = max(hu[l] * factor, h[l]) if (accept and clipped) else hu[l] * factor
                rb[l] = not accept
                if accept and st <= t[l]:
                    for k in range(ns):
                        col[k] = y[k, l]
                    for k in range(npar):
                        pcol[k] = p[k, l]
                    while sp[l] < n_ev and times[i, sp[l]] <= t[l]:
                        _event(col, pcol, kinds[i, sp[l]], sizes[i, sp[l]], table)
                        sp[l] += 1
                    _rhs(t[l], col, pcol, fcol)
                    for k in range(ns):
                        y[k, l] = col[k]
                        f[k, l] = fcol[k]
                    if t[l] < t1:
                        h[l] = _initial_step(t[l], col, fcol, pcol, rtol, atol, t1, c1, c2)
                    rb[l] = False
                if t[l] >= t1:
                    for k in range(ns):
                        col[k] = y[k, l]
                    for k in range(npar):
                        pcol[k] = p[k, l]
                    while ep[l] < t_eval.shape[0]:
                        out[i, ep[l]] = _pain(col, pcol)
                        ep[l] += 1
                    if nxt < hi:
                        _load(l, nxt, Y0, P, y, p, f, t, h, rb, pid, sp, ep, rtol, atol, t1,
                              col, fcol, c1, c2)
                        nxt += 1
                    else:
                        pid[l] = -1
                        alive -= 1
        return steps

    @numba.njit(parallel=True, error_model="numpy")
    def lanes(Y0, P, times, kinds, sizes, table, t_eval, out, rtol, atol, t1, n_blocks):
        """Blocks of patients, each block in LANES lanes, spread over threads."""
        n = Y0.shape[1]
        steps = np.zeros(n_blocks, dtype=np.int64)
        for b in prange(n_blocks):
            lo = b * n // n_blocks
            hi = (b + 1) * n // n_blocks
            steps[b] = _block(lo, hi, Y0, P, times, kinds, sizes, table, t_eval, out, rtol,
                              atol, t1)
        return steps.sum()

    return SimpleNamespace(per_patient=per_patient, lanes=lanes)
