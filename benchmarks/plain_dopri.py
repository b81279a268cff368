"""A plain batched NumPy Dormand–Prince 5(4): the yardstick of painsim's NumPy solver.

What a researcher would write in an afternoon to solve many patients at once with NumPy,
and nothing more: all lanes of a batch step together, each with its own time, step size
and error control; per-patient event times are landed on exactly and the event applied;
daily output comes from the method's dense output. No crossings, no status codes, no
argument checks, no backward time. It uses painsim's tableau
(:data:`painsim.solver.DOPRI5`) and the same error norm and step-size control as
:func:`painsim.integrate` (RMS over states of ``err / (atol + rtol max(|y|, |y_new|))``,
safety 0.9, factors in [0.2, 10], no growth right after a rejection, restart with
Hairer's initial step after an event), so on the same problem it takes the same steps
and the two differ by rounding. It is written independently of painsim's solver loop,
in the idiom a NumPy user would pick: whole-array expressions, stage sums as matrix
products (BLAS; run it with one BLAS thread to compare one core with one core), and
finished lanes dropped from the batch. A BLAS product may round a lane differently
depending on how many lanes share it, which painsim does not allow itself (its results
are bit-identical for any chunking); here it is fair game.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from painsim.solver import DOPRI5

_C, _A, _B, _E, _P = DOPRI5.C, DOPRI5.A, DOPRI5.B, DOPRI5.E, DOPRI5.P


def _rms(x: NDArray) -> NDArray:
    return np.sqrt(np.mean(x * x, axis=0))


def _first_step(rhs, t, y, f, P, rtol, atol, t1):
    """Hairer, Nørsett & Wanner (1993) II.4, per lane."""
    sc = atol + rtol * np.abs(y)
    d0, d1 = _rms(y / sc), _rms(f / sc)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
    h0 = np.minimum(h0, t1 - t)
    d2 = _rms((rhs(t + h0, y + h0 * f, P) - f) / sc) / h0
    dm = np.maximum(d1, d2)
    h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.maximum(dm, 1e-300)) ** 0.2)
    return np.minimum(np.minimum(100 * h0, h1), t1 - t)


def solve(rhs: Callable[..., NDArray], t1: float, y0: NDArray, P: NDArray, stops: NDArray,
          event: Callable[..., NDArray], t_eval: NDArray, read: Callable[..., NDArray],
          rtol: float = 1e-6, atol: float = 1e-8, batch: int = 8192) -> NDArray:
    """Integrate lanes from t = 0 to ``t1`` (days), reading one quantity at ``t_eval``.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, P) -> dy/dt`` (per day) on lanes: ``t`` (m,), ``y`` (n_states, m),
        ``P`` (n_parameters, m).
    t1 : float
        End time, days.
    y0 : ndarray, shape (n_states, n)
        Initial states.
    P : ndarray, shape (n_parameters, n)
        Parameters per lane.
    stops : ndarray, shape (n, k)
        Event times per lane (days), sorted, padded with +inf.
    event : callable
        ``event(y, lanes, k) -> y_new``: the states after event ``k`` of ``lanes``.
    t_eval : ndarray, shape (n_eval,)
        Sorted output times in [0, t1], days.
    read : callable
        ``read(y, P) -> q`` of shape (m,): the quantity kept (e.g. pain, 0-10).
    rtol, atol : float
        Tolerances of the local error.
    batch : int
        Lanes solved together.

    Returns
    -------
    ndarray, shape (n, n_eval)
        ``read`` at ``t_eval``.
    """
    ns, n = y0.shape
    out = np.full((n, t_eval.size), np.nan)
    stops = np.concatenate([stops, np.full((n, 1), np.inf)], axis=1)
    for lo in range(0, n, batch):
        lane = np.arange(lo, min(n, lo + batch))
        y, p = y0[:, lane].copy(), P[:, lane]
        t, ptr, nxt = np.zeros(lane.size), np.zeros(lane.size, int), np.zeros(lane.size, int)
        f = rhs(t, y, p)
        h = _first_step(rhs, t, y, f, p, rtol, atol, t1)
        rej = np.zeros(lane.size, bool)
        while lane.size:
            m = lane.size
            limit = np.minimum(stops[lane, ptr], t1)
            hu = np.minimum(h, limit - t)
            K = np.empty((7, ns, m))
            K[0] = f
            for s in range(1, 7):  # stage sums as one matrix product each
                dy = (_A[s, :s] @ K[:s].reshape(s, -1)).reshape(ns, m)
                K[s] = rhs(t + _C[s] * hu, y + hu * dy, p)
            y_new = y + hu * (_B @ K[:6].reshape(6, -1)).reshape(ns, m)
            err = hu * (_E @ K.reshape(7, -1)).reshape(ns, m)
            en = _rms(err / (atol + rtol * np.maximum(np.abs(y), np.abs(y_new))))
            ok = en < 1.0
            with np.errstate(divide="ignore"):
                fac = np.where(en == 0, 10.0, 0.9 * en ** -0.2)
            fac = np.where(ok, np.minimum(fac, np.where(rej, 1.0, 10.0)), np.clip(fac, 0.2, 1))
            t_new = np.where(ok, np.where(hu >= limit - t, limit, t + hu), t)
            # dense output at the t_eval points passed by accepted steps
            hi = np.searchsorted(t_eval, t_new, side="left")
            due = np.flatnonzero(hi > nxt)
            if due.size:
                Q = np.tensordot(_P, K[:, :, due], axes=(0, 0))  # (4, ns, due)
                for r in range(int((hi[due] - nxt[due]).max())):
                    w = np.flatnonzero(nxt[due] + r < hi[due])
                    i, e = due[w], nxt[due[w]] + r
                    x = (t_eval[e] - t[i]) / hu[i]
                    q = Q[:, :, w]
                    poly = x * (q[0] + x * (q[1] + x * (q[2] + x * q[3])))
                    out[lane[i], e] = read(y[:, i] + hu[i] * poly, p[:, i])
                nxt = np.maximum(nxt, hi)
            h = np.where(ok & (hu < h), np.maximum(hu * fac, h), hu * fac)
            t, rej = t_new, ~ok
            y = np.where(ok, y_new, y)
            f = np.where(ok, K[6], f)
            # events: apply, then restart those lanes as new initial-value problems
            on = np.flatnonzero(ok & (stops[lane, ptr] <= t))
            while on.size:
                y[:, on] = event(y[:, on], lane[on], ptr[on])
                ptr[on] += 1
                f[:, on] = rhs(t[on], y[:, on], p[:, on])
                go = on[t[on] < t1]
                h[go] = _first_step(rhs, t[go], y[:, go], f[:, go], p[:, go], rtol, atol, t1)
                rej[on] = False
                on = on[stops[lane[on], ptr[on]] <= t[on]]  # events sharing one time
            # lanes at the end: the last output, then drop them from the batch
            end = t >= t1
            if end.any():
                out[np.ix_(lane[end], np.flatnonzero(t_eval >= t1))] = read(
                    y[:, end], p[:, end])[:, None]
                keep = ~end
                lane, y, p, f = lane[keep], y[:, keep], p[:, keep], f[:, keep]
                t, h, ptr, nxt, rej = t[keep], h[keep], ptr[keep], nxt[keep], rej[keep]
    return out
