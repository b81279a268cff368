"""A batched explicit Runge–Kutta solver with a step size per lane.

Every *lane* (one patient) has its own time, step size, error control, stop times and
status, but all lanes are advanced together by NumPy array operations: one call of the
right-hand side per stage evaluates every lane that is still running. No Python loop
runs over lanes inside a step.

The method is the Dormand–Prince 5(4) pair (Dormand & Prince 1980) with local
extrapolation (the 5th-order solution is propagated), FSAL, and the quartic dense
output of Shampine (1986), the same method as SciPy's ``RK45``.

Vectorization contract
----------------------
``rhs(t, y, *args)`` receives ``t`` of shape ``(m,)`` (each lane's own time) and ``y``
of shape ``(n_states, m)`` and returns shape ``(n_states, m)``, with::

    rhs(t, y, *args)[:, i] == rhs(t[i:i+1], y[:, i:i+1], *args_i)[:, 0]

where ``args_i`` takes lane ``i`` of every per-lane argument. An argument is per-lane
when it is a NumPy array whose last axis has length ``n_lanes``; the solver passes the
running lanes' slice of it (``a[..., lanes]``). Anything else is passed unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import SolverError

__all__ = ["STATUS_MESSAGES", "Solution", "integrate"]

# --- Dormand–Prince 5(4) tableau (Hairer, Nørsett & Wanner, Table II.5.2) -------------
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.zeros((7, 6))
_A[1, :1] = [1 / 5]
_A[2, :2] = [3 / 40, 9 / 40]
_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_B = _A[6, :6].copy()  # 5th-order weights; the 7th stage is f(t + h, y_new) (FSAL)
# error weights: 5th-order minus 4th-order solution, over all 7 stages
_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
# dense output: y(t + x h) = y + h * sum_k K_k * (P[k] @ [x, x^2, x^3, x^4])
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933,
     87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408,
     701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
_ORDER_ERR = 4  # the error estimate is of the 4th-order solution
_MIN_RTOL = 100 * np.finfo(float).eps  # as solve_ivp: below this no step is accurate enough
# Crossing search: bisection on the step's dense-output polynomial until the bracket is
# at most _CROSS_ULPS ulps of t wide, whatever the step size; both backends use the same
# rule, so they differ only where their rounding of g differs (|dg| / |g'|).
_CROSS_ULPS = 4
_CROSS_MAX_BISECTIONS = 64  # 2**-64 of a step is below one ulp of t for any step <= t
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0

#: Lane status codes and their meaning.
STATUS_MESSAGES = {
    0: "reached the end of t_span",
    -1: "reached max_steps before the end of t_span",
    -2: "step size fell below the smallest representable step (stiff or non-finite rhs, "
        "or a tolerance that cannot be met, e.g. atol 0 for a state at 0)",
}


@dataclass(frozen=True, slots=True)
class Solution:
    """Result of :func:`integrate`, per lane.

    Attributes
    ----------
    t : ndarray, shape (n_eval,)
        Output times (days, or whatever unit ``rhs`` uses).
    y : ndarray, shape (n_states, n_lanes, n_eval)
        State at the output times (or, with ``save``, the saved quantities, shape
        ``(n_saved, n_lanes, n_eval)``). A lane that failed holds NaN after its failure.
    t_final : ndarray, shape (n_lanes,)
        Time each lane reached.
    y_final : ndarray, shape (n_states, n_lanes)
        State each lane reached (after any stop effect applied at ``t_final``).
    status : ndarray of int, shape (n_lanes,)
        0 success, -1 ``max_steps`` reached, -2 step size underflow; see
        :data:`STATUS_MESSAGES`.
    message : ndarray of str, shape (n_lanes,)
        Human-readable status per lane, with the time of failure.
    n_steps, n_rejected : ndarray of int, shape (n_lanes,)
        Accepted and rejected steps per lane.
    n_stops : ndarray of int, shape (n_lanes,)
        Stops each lane reached.
    nfev : int
        Right-hand-side evaluations, counted in lanes (one call on ``m`` lanes counts ``m``).
    crossings : dict of ndarray
        Sign changes of ``crossings(t, y)``, sorted by lane then time: ``lane`` (int),
        ``which`` (row of ``g``), ``t`` (time) and ``direction`` (+1 upward, -1
        downward), each of shape ``(n_crossings,)``. Empty without ``crossings``.
    """

    t: NDArray[np.float64]
    y: NDArray[np.float64]
    t_final: NDArray[np.float64]
    y_final: NDArray[np.float64]
    status: NDArray[np.int_]
    message: NDArray[np.str_]
    n_steps: NDArray[np.int_]
    n_rejected: NDArray[np.int_]
    n_stops: NDArray[np.int_]
    nfev: int
    crossings: dict[str, NDArray] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when every lane reached the end of ``t_span``."""
        return bool(np.all(self.status == 0))


def _combine(coef: NDArray[np.float64], K: NDArray[np.float64]) -> NDArray[np.float64]:
    """sum_k coef[k] * K[k] in a fixed order, elementwise per lane.

    Deliberately not a BLAS call: every lane's arithmetic is then independent of how
    many other lanes share the batch, so results are bit-identical for any chunking.
    """
    out = None
    for c, k in zip(coef, K, strict=False):
        if c != 0.0:
            out = c * k if out is None else out + c * k
    return out if out is not None else np.zeros_like(K[0])


def _horner(Q: list[NDArray[np.float64]], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """sum_j Q[j] * x^(j+1): the dense-output polynomial at fractions ``x`` of the step."""
    return x * (Q[0] + x * (Q[1] + x * (Q[2] + x * Q[3])))


def _ratio(x: NDArray[np.float64], scale: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x / scale`` in tolerance units, where a zero scale (a state at 0 with ``atol``
    0) counts an exact zero as met (0) and anything else as unmet (inf), never NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, x / np.where(scale > 0, scale, 1.0),
                        np.where(x == 0, 0.0, np.inf))


def _rms(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Root-mean-square over states, per lane, summed row by row in a fixed order.

    ``np.mean(axis=0)`` may sum an ``(n, 1)`` array pairwise but an ``(n, m)`` array row
    by row; the explicit loop keeps a lane's norm independent of the batch size.
    """
    acc = x[0] * x[0]
    for row in x[1:]:
        acc = acc + row * row
    return np.sqrt(acc / x.shape[0])


def _messages(status: NDArray, t_final: NDArray) -> NDArray[np.str_]:
    """Each lane's status in words, with the time of a failure."""
    return np.array([STATUS_MESSAGES[int(s)] + ("" if s == 0 else f" (at t={t_final[i]:.6g})")
                     for i, s in enumerate(status)])


def _crossing_table(found: list[tuple[NDArray, ...]]) -> dict[str, NDArray]:
    """:attr:`Solution.crossings` from pieces (lane, which, t, direction), sorted by
    lane, then time, then row."""
    if not found:
        return {"lane": np.zeros(0, int), "which": np.zeros(0, int), "t": np.zeros(0),
                "direction": np.zeros(0, int)}
    cl, cw, ct, cd = (np.concatenate(x) for x in zip(*found, strict=True))
    order = np.lexsort((cw, ct, cl))
    return {"lane": cl[order], "which": cw[order], "t": ct[order], "direction": cd[order]}


def _stop_effect(on_stop: Callable[..., ArrayLike], t: NDArray, y: NDArray,
                 lanes: NDArray, k: NDArray) -> NDArray[np.float64]:
    """The states after ``on_stop`` (called on copies), checked for shape."""
    new = np.asarray(on_stop(t.copy(), y.copy(), lanes, k), dtype=float)
    if new.shape != y.shape:
        raise ValueError(f"on_stop returned shape {new.shape}; expected {y.shape}")
    return new


def _jumps(lanes: NDArray, t: NDArray, before: NDArray, after: NDArray
           ) -> tuple[NDArray, ...] | None:
    """Crossings made by a stop's jump (``g`` before and after, one column per lane),
    reported at the stop time ``t``; None when there are none."""
    jumped = (before >= 0) != (after >= 0)
    if not jumped.any():
        return None
    which, pos = np.nonzero(jumped)
    return lanes[pos], which, t[pos].copy(), np.where(after[which, pos] >= 0, 1, -1)


def _per_lane(args: Sequence[Any], n_lanes: int) -> list[bool]:
    return [isinstance(a, np.ndarray) and a.ndim >= 1 and a.shape[-1] == n_lanes for a in args]


def _take(args: Sequence[Any], mask: list[bool], idx: NDArray[np.intp] | None) -> tuple:
    if idx is None:
        return tuple(args)
    return tuple(a[..., idx] if m else a for a, m in zip(args, mask, strict=True))


def _as_float_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    return arr


def _span(t_span: Any) -> tuple[float, float]:
    try:
        if isinstance(t_span, str | bytes) or len(t_span) != 2:
            raise TypeError
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be two finite times (t0, t1), got {t_span!r}") from None
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise ValueError(f"t_span must be two finite times (t0, t1), got {t_span!r}")
    return t0, t1


def _backwards(rhs, t0, t1, y0, kw):
    """Integrate from t0 down to t1 < t0 as a forward problem in s = t0 - t."""
    t_eval, stops, on_stop = kw["t_eval"], kw["stops"], kw["on_stop"]
    crossings, save, throw = kw["crossings"], kw["save"], kw["throw"]
    if t_eval is not None:
        t_eval = _as_float_array("t_eval", t_eval)
        if t_eval.ndim != 1 or t_eval.size == 0:
            raise ValueError(f"t_eval must be a non-empty 1-D array, got shape {t_eval.shape}")
        if not np.all(np.isfinite(t_eval)) or t_eval.max() > t0 or t_eval.min() < t1:
            raise ValueError(f"t_eval must lie within t_span=({t0}, {t1}), got "
                             f"[{t_eval.min()}, {t_eval.max()}]")
        if np.any(np.diff(t_eval) > 0):
            raise ValueError("t_eval must be sorted in the direction of integration "
                             "(decreasing for t1 < t0)")
    stops_s = None
    if stops is not None:
        stops = _as_float_array("stops", stops)
        if stops.ndim == 1:
            stops = stops[None, :]
        finite = np.isfinite(stops)
        if np.any(np.isnan(stops)) or np.any(stops == -np.inf):
            raise ValueError("stops must not contain NaN or -inf; pad rows with +inf")
        if np.any(finite & ((stops > t0) | (stops < t1))):
            raise ValueError(f"stops must lie within t_span=({t0}, {t1}) (pad with +inf)")
        s = np.where(finite, t0 - np.where(finite, stops, 0.0), np.inf)
        if stops.ndim == 2 and np.any(s[:, 1:] < s[:, :-1]):
            raise ValueError("each row of stops must be sorted in the direction of "
                             "integration (decreasing for t1 < t0), padded with +inf")
        stops_s = s

    def back(f):
        return None if f is None else (lambda s, y, *a: f(t0 - s, y, *a))

    on_stop_s = None
    if on_stop is not None:
        def on_stop_s(s, y, lanes, k):  # the caller's own stop times, not t0 - (t0 - t)
            return on_stop(stops[lanes, k], y, lanes, k)

    sol = integrate(lambda s, y, *a: -np.asarray(rhs(t0 - s, y, *a), dtype=float),
                    (0.0, t0 - t1), y0, args=kw["args"],
                    t_eval=None if t_eval is None else t0 - t_eval,
                    rtol=kw["rtol"], atol=kw["atol"], stops=stops_s, on_stop=on_stop_s,
                    first_step=kw["first_step"], max_step=kw["max_step"],
                    max_steps=kw["max_steps"], step=kw["step"], crossings=back(crossings),
                    save=back(save), throw=False)
    t_final = np.where(sol.status == 0, t1, t0 - sol.t_final)
    cross = dict(sol.crossings)
    if cross["t"].size:
        cross["t"] = t0 - cross["t"]
    sol = dataclasses.replace(sol, t=np.array([t0, t1]) if t_eval is None else t_eval,
                              t_final=t_final, message=_messages(sol.status, t_final),
                              crossings=cross)
    _raise_if_failed(sol, throw)
    return sol


def _raise_if_failed(sol: Solution, throw: bool) -> None:
    if not throw or sol.success:
        return
    bad = np.flatnonzero(sol.status != 0)
    i = int(bad[0])
    raise SolverError(
        f"lane {i} failed at t={sol.t_final[i]:.6g}: {sol.message[i]}; last state "
        f"{np.array2string(sol.y_final[:, i], precision=6)}; {bad.size} of "
        f"{sol.status.size} lanes failed. Try a smaller rtol/atol, a larger max_steps, or "
        "check the rhs for non-finite values.",
        lane=i, t=float(sol.t_final[i]), state=sol.y_final[:, i].copy(),
        status=int(sol.status[i]), n_failed=int(bad.size))


def _validate(t_span, y0, rtol, atol, t_eval, stops, max_steps, step, max_step):
    if len(t_span) != 2:
        raise ValueError(f"t_span must be (t0, t1), got {t_span!r}")
    t0, t1 = _span(t_span)
    if t1 < t0:  # integrate() reverses time before it gets here; the compiled path does not
        raise ValueError(f"t_span {t_span!r} runs backwards; only painsim.integrate "
                         "integrates backwards in time")
    y0 = _as_float_array("y0", y0)
    if y0.ndim != 2 or y0.shape[0] == 0 or y0.shape[1] == 0:
        raise ValueError(f"y0 must have shape (n_states, n_lanes) with both > 0, got {y0.shape}")
    if not np.all(np.isfinite(y0)):
        bad = np.argwhere(~np.isfinite(y0))[0]
        raise ValueError(f"y0 must be finite; y0[{bad[0]}, {bad[1]}] = {y0[tuple(bad)]}")
    if isinstance(rtol, bool) or not (np.isfinite(rtol) and _MIN_RTOL <= rtol < 1):
        raise ValueError(f"rtol must be a number in [{_MIN_RTOL:.3g}, 1) (100 ulps, as SciPy's "
                         f"floor: a smaller one cannot be met in double precision), "
                         f"got {rtol!r}")
    atol = _as_float_array("atol", atol)
    if atol.ndim > 1 or (atol.ndim == 1 and atol.shape[0] != y0.shape[0]):
        raise ValueError(f"atol must be a scalar or have shape (n_states,)={y0.shape[:1]}, "
                         f"got {atol.shape}")
    if not np.all(np.isfinite(atol)) or np.any(atol < 0):
        raise ValueError(f"atol must be finite and >= 0, got {atol!r}")
    if atol.ndim == 1:
        atol = atol[:, None]
    if t_eval is None:
        t_eval = np.array([t0, t1])
    else:
        t_eval = _as_float_array("t_eval", t_eval)
        if t_eval.ndim != 1 or t_eval.size == 0:
            raise ValueError(f"t_eval must be a non-empty 1-D array, got shape {t_eval.shape}")
        if not np.all(np.isfinite(t_eval)) or t_eval[0] < t0 or t_eval[-1] > t1:
            raise ValueError(f"t_eval must lie within t_span=({t0}, {t1}), got "
                             f"[{t_eval.min()}, {t_eval.max()}]")
        if np.any(np.diff(t_eval) < 0):
            raise ValueError("t_eval must be sorted in increasing order")
    n_lanes = y0.shape[1]
    if stops is None:
        stops = np.full((n_lanes, 1), np.inf)
    else:
        stops = _as_float_array("stops", stops)
        if stops.ndim == 1 and n_lanes == 1:
            stops = stops[None, :]
        if stops.ndim != 2 or stops.shape[0] != n_lanes:
            raise ValueError(f"stops must have shape (n_lanes, n_stops)=({n_lanes}, k), "
                             f"got {stops.shape}")
        if stops.shape[1] == 0:
            stops = np.full((n_lanes, 1), np.inf)
        if np.any(np.isnan(stops)):
            raise ValueError("stops must not contain NaN; pad rows with +inf")
        finite = np.isfinite(stops)
        if np.any(finite & ((stops < t0) | (stops > t1))) or np.any(stops == -np.inf):
            raise ValueError(f"stops must lie within t_span=({t0}, {t1}) (pad with +inf)")
        if np.any(stops[:, 1:] < stops[:, :-1]):
            raise ValueError("each row of stops must be sorted in increasing order")
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
    if step is not None and not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0, got {step!r}")
    if not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step!r}")
    return t0, t1, y0, atol, t_eval, stops


def integrate(
    rhs: Callable[..., ArrayLike],
    t_span: tuple[float, float],
    y0: ArrayLike,
    *,
    args: Sequence[Any] = (),
    t_eval: ArrayLike | None = None,
    rtol: float = 1e-6,
    atol: float | ArrayLike = 1e-8,
    stops: ArrayLike | None = None,
    on_stop: Callable[..., ArrayLike] | None = None,
    first_step: float | None = None,
    max_step: float = np.inf,
    max_steps: int = 100_000,
    step: float | None = None,
    crossings: Callable[..., ArrayLike] | None = None,
    save: Callable[..., ArrayLike] | None = None,
    throw: bool = False,
) -> Solution:
    """Integrate many independent initial-value problems at once, each with its own steps.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, *args) -> dy/dt`` with ``t`` of shape ``(m,)``, ``y`` and the
        result of shape ``(n_states, m)`` (see the module's vectorization contract).
        Units are the caller's; painsim's models use days.
    t_span : (float, float)
        Start and end time, shared by all lanes. ``t1 < t0`` integrates backwards in
        time (as :func:`scipy.integrate.solve_ivp`): ``t_eval`` and each row of
        ``stops`` are then sorted in decreasing order, and a crossing's direction is that
        of ``g`` as the integration proceeds. ``t1 == t0`` takes no step: the output is
        the initial state after any stops at ``t0``.
    y0 : array_like, shape (n_states, n_lanes)
        Initial state of every lane.
    args : sequence, optional
        Extra arguments for ``rhs``. Arrays whose last axis has length ``n_lanes`` are
        per-lane and are sliced to the running lanes.
    t_eval : array_like, shape (n_eval,), optional
        Sorted output times within ``t_span``, filled by dense output (not by stepping
        to them). Default ``[t0, t1]``. A value at a stop time is the state *after*
        that stop's effect (right-continuous).
    rtol, atol : float or array_like
        Relative and absolute tolerance of the local error, per state
        (``atol`` may have shape ``(n_states,)``).
    stops : array_like, shape (n_lanes, n_stops), optional
        Per-lane stop times, each row sorted, within ``t_span``; pad with ``+inf``.
        Each lane lands exactly on each of its stop times.
    on_stop : callable, optional
        ``on_stop(t, y, lanes, k) -> y_new`` is called when lanes reach a stop, with
        ``t`` of shape ``(m,)``, the lanes' states ``y`` of shape ``(n_states, m)``,
        their indices ``lanes`` and the index ``k`` of the stop in each row. It returns
        the states after the stop (e.g. a treatment session's effect). Only the lanes
        that reached a stop in the same iteration are passed. It may also change those
        lanes' entries of per-lane arrays in ``args`` in place (a change of drivers);
        the solver uses the new values from that stop on.
    first_step : float, optional
        Initial step; chosen per lane by Hairer's rule when omitted.
    max_step : float
        Largest step allowed.
    max_steps : int
        Most accepted-or-rejected steps per lane before it stops with status -1.
    step : float, optional
        Take fixed steps of this size without error control (landing on stops and
        ``t1`` exactly). Meant for convergence studies.
    crossings : callable, optional
        ``crossings(t, y, *args) -> g`` of shape ``(n_g, m)``: quantities whose sign
        changes are located (e.g. pain minus a per-patient threshold). Each change
        inside a step is found by bisection on the step's dense-output polynomial until
        the bracket is at most 4 ulps of ``t`` wide (the time reported is the bracket's
        end, on the new side); the NumPy and compiled backends use the same rule, so
        their crossing times differ only by their rounding of ``g`` divided by the slope
        of ``g``. A change caused by a stop's jump is reported at the
        stop time. Two changes of one quantity inside one step are not resolved (bound
        the step with ``max_step`` if that matters). See :attr:`Solution.crossings`.
    save : callable, optional
        ``save(t, y, *args) -> q`` of shape ``(n_saved, m)``: keep only these quantities at
        the output times instead of every state (e.g. pain alone; memory scales with
        ``n_saved``). Called on the interpolated states, with the lanes' ``args``.
    throw : bool
        Raise :class:`~painsim.errors.SolverError` naming the first failing lane, its
        time and state, instead of only reporting the failure in ``status``.

    Returns
    -------
    Solution
        Output, final states, per-lane status, messages and work counts.

    Examples
    --------
    Exponential decay with a different rate in each of three lanes:

    >>> import numpy as np, painsim
    >>> k = np.array([0.1, 0.5, 1.0])                      # per day
    >>> sol = painsim.integrate(lambda t, y, k: -k * y, (0.0, 2.0),
    ...                         np.ones((1, 3)), args=(k,), t_eval=[2.0], rtol=1e-9)
    >>> np.round(sol.y[0, :, -1], 6)                       # exp(-2 k)
    array([0.818731, 0.367879, 0.135335])
    """
    t0, t1 = _span(t_span)
    if t1 < t0:
        return _backwards(rhs, t0, t1, y0, dict(
            args=args, t_eval=t_eval, rtol=rtol, atol=atol, stops=stops, on_stop=on_stop,
            first_step=first_step, max_step=max_step, max_steps=max_steps, step=step,
            crossings=crossings, save=save, throw=throw))
    t0, t1, y0, atol, t_eval, stops = _validate(t_span, y0, rtol, atol, t_eval, stops,
                                                max_steps, step, max_step)
    n_states, n_lanes = y0.shape
    n_eval = t_eval.size
    args = tuple(args)
    lane_mask = _per_lane(args, n_lanes)
    nfev = 0

    def call(t: NDArray, y: NDArray, a: tuple) -> NDArray:
        nonlocal nfev
        out = np.asarray(rhs(t, y, *a), dtype=float)
        if out.shape != y.shape:
            raise ValueError(f"rhs returned shape {out.shape}; expected {y.shape} "
                             "(n_states, n_lanes)")
        nfev += y.shape[1]
        return out

    # global (per-lane) results
    if save is None:
        n_saved = n_states

        def saved(t: NDArray, y: NDArray, idx: NDArray | None) -> NDArray:
            return y
    else:
        n_saved = np.asarray(save(np.full(1, t0), y0[:, :1], *_take(
            args, lane_mask, np.zeros(1, dtype=np.intp)))).shape[0]

        def saved(t: NDArray, y: NDArray, idx: NDArray | None) -> NDArray:
            out = np.asarray(save(t, y, *(a if idx is None else _take(a, lane_mask, idx))),
                             dtype=float)
            if out.shape != (n_saved, y.shape[1]):
                raise ValueError(f"save returned shape {out.shape}; expected "
                                 f"({n_saved}, {y.shape[1]})")
            return out
    Y = np.full((n_saved, n_lanes, n_eval), np.nan)
    t_fin = np.full(n_lanes, t0)
    y_fin = y0.copy()
    status = np.zeros(n_lanes, dtype=int)
    steps_g = np.zeros(n_lanes, dtype=int)
    rej_g = np.zeros(n_lanes, dtype=int)
    nstop_g = np.zeros(n_lanes, dtype=int)

    # working set: all arrays below are indexed by position in `wid`
    wid = np.arange(n_lanes)
    y = y0.copy()
    t = np.full(n_lanes, t0)
    ptr = np.zeros(n_lanes, dtype=int)  # next stop index per lane
    n_stop_cols = stops.shape[1]
    a = args

    # one +inf column past the last stop makes the lookup a single gather
    stops_pad = np.concatenate([stops, np.full((n_lanes, 1), np.inf)], axis=1)

    def next_stop(w: NDArray, p: NDArray) -> NDArray:
        return stops_pad[w, np.minimum(p, n_stop_cols)]

    def apply_stops(sel: NDArray) -> None:
        """Apply on_stop for working-set positions `sel` sitting on their next stop."""
        nonlocal y
        while sel.size:
            k = ptr[sel]
            if on_stop is not None:
                y[:, sel] = _stop_effect(on_stop, t[sel], y[:, sel], wid[sel], k)
            ptr[sel] += 1
            nstop_g[wid[sel]] += 1
            # several stops may share one time: apply them in order
            again = next_stop(wid[sel], ptr[sel]) <= t[sel]
            sel = sel[again]

    found: list[tuple[NDArray, NDArray, NDArray, NDArray]] = []

    def g_of(t: NDArray, y: NDArray, a: tuple) -> NDArray:
        g = np.asarray(crossings(t, y, *a), dtype=float)
        if g.ndim != 2 or g.shape[1] != y.shape[1]:
            raise ValueError(f"crossings returned shape {g.shape}; expected (n_g, "
                             f"{y.shape[1]})")
        return g

    def jump_crossings(on: NDArray, g_before: NDArray, g_after: NDArray) -> None:
        j = _jumps(wid[on], t[on], g_before, g_after)
        if j is not None:
            found.append(j)

    g_prev = g_of(t, y, a) if crossings is not None else None
    # stops at t0 act before the first step
    at_t0 = np.flatnonzero(next_stop(wid, ptr) <= t0)
    if at_t0.size:
        apply_stops(at_t0)
        if crossings is not None:
            g0 = g_of(t, y, a)
            jump_crossings(at_t0, g_prev[:, at_t0], g0[:, at_t0])
            g_prev = g0
    if t1 == t0:  # a zero-length span: the state after the stops at t0, no step taken
        for j in range(n_eval):
            Y[:, :, j] = saved(np.full(n_lanes, t0), y, None)
        sol = Solution(t=t_eval, y=Y, t_final=t_fin, y_final=y, status=status,
                       message=_messages(status, t_fin), n_steps=steps_g, n_rejected=rej_g,
                       n_stops=nstop_g, nfev=nfev, crossings=_crossing_table(found))
        return sol
    f = call(t, y, a)

    def initial_step(t: NDArray, y: NDArray, f: NDArray, a: tuple) -> NDArray:
        """Hairer, Nørsett & Wanner (1993), II.4, per lane (as SciPy's select_initial_step)."""
        scale = atol + rtol * np.abs(y)
        d0, d1 = _rms(_ratio(y, scale)), _rms(_ratio(f, scale))
        with np.errstate(invalid="ignore"):
            h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
        # an unmeetable tolerance (inf units) gives no usable guess: start small, and let
        # error control shrink the step until the lane fails fast with status -2
        h0 = np.where(np.isfinite(h0) & (h0 > 0), h0, 1e-6)
        h0 = np.minimum(h0, t1 - t)
        f1 = call(t + h0, y + h0 * f, a)
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = _rms(_ratio(f1 - f, scale)) / h0
        dm = np.maximum(d1, d2)
        with np.errstate(invalid="ignore", divide="ignore"):
            h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3),
                          (0.01 / np.maximum(dm, 1e-300)) ** (1 / (_ORDER_ERR + 1)))
        h1 = np.where(np.isfinite(dm), h1, h0 * 1e-3)
        return np.minimum(np.minimum(100 * h0, h1), np.minimum(t1 - t, max_step))

    if step is not None:
        h = np.full(n_lanes, float(step))
    elif first_step is not None:
        h = np.full(n_lanes, float(first_step))
    else:
        h = initial_step(t, y, f, a)
    h = np.minimum(h, max_step)
    rejected_before = np.zeros(n_lanes, dtype=bool)
    eval_ptr = np.searchsorted(t_eval, t, side="left")  # next t_eval index per lane
    K = np.empty((7, n_states, n_lanes))
    active = t < t1

    def compact(keep: NDArray) -> None:
        nonlocal wid, y, t, ptr, f, h, rejected_before, eval_ptr, K, active, a, g_prev
        wid, y, t, ptr, f, h = wid[keep], y[:, keep], t[keep], ptr[keep], f[:, keep], h[keep]
        if g_prev is not None:
            g_prev = g_prev[:, keep]
        rejected_before, eval_ptr, active = rejected_before[keep], eval_ptr[keep], active[keep]
        K = np.empty((7, n_states, keep.size))
        a = _take(args, lane_mask, wid)

    def finish(sel: NDArray, code: int) -> None:
        g = wid[sel]
        t_fin[g] = t[sel]
        y_fin[:, g] = y[:, sel]
        status[g] = code
        active[sel] = False

    while np.any(active):
        m = active.size
        if np.count_nonzero(active) < 0.5 * m:
            compact(np.flatnonzero(active))
            m = active.size
        stop_t = next_stop(wid, ptr)
        limit = np.minimum(stop_t, t1)
        h_use = np.where(active, np.minimum(h, limit - t), 0.0)
        clipped = active & (h_use < h)
        K[0] = f
        for s in range(1, 7):
            K[s] = call(t + _C[s] * h_use, y + h_use * _combine(_A[s, :s], K[:s]), a)
        y_new = y + h_use * _combine(_B, K[:6])
        # K[6] was evaluated at t + h, y + h * sum(B K) == y_new (FSAL)
        if step is not None:
            accept = active.copy()
            factor = np.ones(m)
        else:
            err = h_use * _combine(_E, K)
            scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
            with np.errstate(invalid="ignore", over="ignore"):
                en = _rms(_ratio(err, scale))
            finite = np.isfinite(en) & np.all(np.isfinite(y_new), axis=0)
            accept = active & finite & (en < 1.0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                factor = np.where(en == 0, _MAX_FACTOR, _SAFETY * en ** (-1 / (_ORDER_ERR + 1)))
            factor = np.where(finite, factor, _MIN_FACTOR)
            factor = np.where(accept, np.minimum(factor, np.where(rejected_before, 1.0,
                                                                  _MAX_FACTOR)),
                              np.clip(factor, _MIN_FACTOR, 1.0))
        rejected = active & ~accept
        steps_g[wid[accept]] += 1
        rej_g[wid[rejected]] += 1

        # dense output for t_eval points in [t, t_new) of accepted lanes
        acc = np.flatnonzero(accept)
        t_new = np.where(accept, t + h_use, t)
        hit = accept & (h_use >= limit - t)  # landed on a stop or t1: use it exactly
        t_new[hit] = limit[hit]
        if acc.size and n_eval:
            hi = np.searchsorted(t_eval, t_new[acc], side="left")
            cnt = hi - eval_ptr[acc]
            if np.any(cnt > 0):
                sel = acc[cnt > 0]
                cnt = cnt[cnt > 0]
                Ks = K[:, :, sel]
                Q = [_combine(_P[:, j], Ks) for j in range(4)]  # 4 x (n_states, len(sel))
                for j in range(int(cnt.max())):
                    w = cnt > j
                    lanes = sel[w]
                    idx = eval_ptr[lanes] + j
                    x = (t_eval[idx] - t[lanes]) / np.where(h_use[lanes] > 0, h_use[lanes], 1)
                    # at j = 0 every selected lane is due a point: no gathering needed
                    Qw = Q if j == 0 else [q[:, w] for q in Q]
                    yi = y[:, lanes] + h_use[lanes] * _horner(Qw, x)
                    Y[:, wid[lanes], idx] = saved(t_eval[idx], yi, lanes)
                eval_ptr[sel] += cnt

        if crossings is not None and acc.size:
            a_acc = _take(a, lane_mask, acc)
            g_new = g_of(t_new[acc], y_new[:, acc], a_acc)
            changed = (g_prev[:, acc] >= 0) != (g_new >= 0)
            if changed.any():
                which, pos = np.nonzero(changed)
                ln = acc[pos]
                Ks = K[:, :, ln]
                Q = [_combine(_P[:, j], Ks) for j in range(4)]
                a_ln = _take(a, lane_mask, ln)
                up = g_new[which, pos] >= 0
                lo_x, hi_x = np.zeros(ln.size), np.ones(ln.size)
                t_ln, h_ln = t[ln], h_use[ln]
                width = _CROSS_ULPS * np.spacing(np.abs(t_ln + h_ln))
                cols = np.arange(ln.size)
                for _ in range(_CROSS_MAX_BISECTIONS):  # bisection on the dense output
                    open_ = (hi_x - lo_x) * h_ln > width
                    if not open_.any():
                        break
                    mid = 0.5 * (lo_x + hi_x)
                    ym = y[:, ln] + h_ln * _horner(Q, mid)
                    gm = g_of(t_ln + mid * h_ln, ym, a_ln)[which, cols]
                    before = open_ & ((gm >= 0) != up)  # still on the starting side
                    after = open_ & ~before
                    lo_x = np.where(before, mid, lo_x)
                    hi_x = np.where(after, mid, hi_x)
                found.append((wid[ln], which, t_ln + hi_x * h_ln, np.where(up, 1, -1)))
            g_prev[:, acc] = g_new

        # advance accepted lanes
        t = t_new
        y[:, acc] = y_new[:, acc]
        f[:, acc] = K[6][:, acc]
        h_next = h_use * factor
        if step is None:
            h = np.where(accept & clipped, np.maximum(h_next, h), np.where(active, h_next, h))
            h = np.minimum(h, max_step)
        rejected_before = rejected

        # lanes on a stop: apply effects, refresh f (the state jumped)
        on = np.flatnonzero(accept & (stop_t <= t))
        if on.size:
            apply_stops(on)
            if on_stop is not None:
                if a is not args:  # on_stop may change per-lane args in place: re-read
                    for arr, orig, per in zip(a, args, lane_mask, strict=True):
                        if per:
                            arr[..., on] = orig[..., wid[on]]
                # the state jumped: restart those lanes as a new initial-value problem,
                # so a large step cannot stride over a short transient the jump started
                a_on = _take(a, lane_mask, on)
                f[:, on] = call(t[on], y[:, on], a_on)
                if step is None:
                    ok = t[on] < t1
                    h[on[ok]] = initial_step(t[on[ok]], y[:, on[ok]], f[:, on[ok]],
                                             _take(a_on, lane_mask, np.flatnonzero(ok)))
                rejected_before[on] = False
                if crossings is not None:
                    g_after = g_of(t[on], y[:, on], a_on)
                    jump_crossings(on, g_prev[:, on], g_after)
                    g_prev[:, on] = g_after

        # a lane within a few ulps of t1 (a stop just before the end) has arrived: the
        # state cannot change over that interval, and a step that small would be
        # reported as a step-size underflow
        near = np.flatnonzero(active & (t < t1) & (t1 - t <= 16 * np.spacing(abs(t1))))
        if near.size:
            t[near] = t1
            apply_stops(near[next_stop(wid[near], ptr[near]) <= t1])
        # lanes at the end
        done = np.flatnonzero(active & (t >= t1))
        if done.size:
            for j in np.flatnonzero(t_eval >= t1):
                Y[:, wid[done], j] = saved(np.full(done.size, t_eval[j]), y[:, done], done)
            finish(done, 0)
        # failures
        steps_w = steps_g[wid] + rej_g[wid]
        over = np.flatnonzero(active & (steps_w >= max_steps))
        if over.size:
            finish(over, -1)
        if step is None:
            tiny = np.flatnonzero(active & (h < 10 * np.spacing(np.maximum(np.abs(t), 1.0))))
            if tiny.size:
                finish(tiny, -2)

    if np.any(active):  # pragma: no cover - loop exits only when no lane is active
        finish(np.flatnonzero(active), -1)
    # a failed lane's output after its failure stays NaN
    messages = _messages(status, t_fin)
    cross = _crossing_table(found)
    sol = Solution(t=t_eval, y=Y, t_final=t_fin, y_final=y_fin, status=status,
                   message=messages, n_steps=steps_g, n_rejected=rej_g, n_stops=nstop_g,
                   nfev=nfev, crossings=cross)
    _raise_if_failed(sol, throw)
    return sol
