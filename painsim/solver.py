"""A batched explicit Runge–Kutta solver with a step size per lane.

Every *lane* (one patient) has its own time, step size, error control, stop times and
status, but all lanes are advanced together by NumPy array operations: one call of the
right-hand side per stage evaluates every lane that is still running. No Python loop
runs over lanes inside a step.

The method is the Dormand–Prince 5(4) pair (Dormand & Prince 1980) with local
extrapolation (the 5th-order solution is propagated), FSAL, and the quartic dense
output of Shampine (1986), the same method as SciPy's ``RK45``. Its tableau and
step-size controller are data, :data:`DOPRI5`, read by every backend; the NumPy kernel
is a few named pieces that follow it (``_dp_stages``, ``_dp_error_norm``,
``_dp_factor``, ``_dense_coefficients``, ``_bisect_crossings``), working in place in
preallocated arrays. :class:`Driver` does what happens between steps, for this kernel
and the compiled one alike: stops, jumps, restarts, the crossing table, the
:class:`Solution` and ``throw``.

Pieces shared with the compiled backend (:mod:`painsim.compiled`), so both accept the
same arguments, keep stops the same way and report the same way:
:func:`validate_integrate_args`, :class:`LaneStops` (stop times, the order of stops at
one time, ``on_stop``), :class:`CrossingLog` (jumps and located crossings),
:func:`status_messages`, :func:`solver_error` and :func:`raise_if_failed`.

Vectorization contract
----------------------
``rhs(t, y, *args)`` receives ``t`` of shape ``(m,)`` (each lane's own time) and ``y``
of shape ``(n_states, m)`` and returns shape ``(n_states, m)``, with::

    rhs(t, y, *args)[:, i] == rhs(t[i:i+1], y[:, i:i+1], *args_i)[:, 0]

where ``args_i`` takes lane ``i`` of every per-lane argument. An argument is per-lane
when it is a NumPy array whose last axis has length ``n_lanes``; the solver passes the
running lanes' slice of it (``a[..., lanes]``). Anything else is passed unchanged.
``rhs`` must not modify ``y`` in place: the solver passes its own working arrays.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import SolverError

__all__ = [
    "DOPRI5",
    "STATUS_MESSAGES",
    "CrossingLog",
    "DormandPrince",
    "Driver",
    "IntegrateArgs",
    "LaneStops",
    "Solution",
    "apply_on_stop",
    "crossing_table",
    "integrate",
    "raise_if_failed",
    "solver_error",
    "status_messages",
    "stop_jumps",
    "validate_integrate_args",
]


def _frozen(rows: Any) -> NDArray[np.float64]:
    arr = np.array(rows, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True)
class DormandPrince:
    """The Dormand–Prince 5(4) method and its step-size controller, as data.

    Every backend (:func:`integrate`, :func:`painsim.compiled.integrate_pain`, the
    benchmarks' hand-written loops) reads the tableau and the control constants from the
    one instance :data:`DOPRI5`, so they run the same method by construction. A step of
    size ``h`` from ``(t, y)`` with stages ``K[0..6]`` (``K[0] = f(t, y)``)::

        K[s]  = f(t + C[s] h, y + h * sum_j A[s, j] K[j])      s = 1..6
        y_new = y + h * sum_j B[j] K[j]                        (5th order; K[6] = f(t+h,
                                                                y_new): FSAL)
        err   = h * sum_j E[j] K[j]                            (5th minus 4th order)
        y(t + x h) = y + h * sum_j K[j] * (P[j] @ [x, x^2, x^3, x^4])   0 <= x <= 1

    The error norm is the root-mean-square over states of ``err / (atol + rtol *
    max(|y|, |y_new|))``; a step is accepted when it is below 1 and the next step is
    ``h * factor``, ``factor = safety * norm ** (-1 / (order_err + 1))`` clipped to
    ``[min_factor, max_factor]`` (at most 1 after a rejection, and after an accepted step
    that follows a rejected one). Sums over stages are taken in stage order, skipping
    zero coefficients, so every backend adds the same terms in the same order.

    Attributes
    ----------
    C : ndarray, shape (7,)
        Nodes, fractions of the step (dimensionless).
    A : ndarray, shape (7, 6)
        Stage coefficients (row ``s`` is used by stage ``s``; row 6 equals ``B``).
    B : ndarray, shape (6,)
        Weights of the propagated 5th-order solution.
    E : ndarray, shape (7,)
        Error weights, 5th-order minus embedded 4th-order solution, over all 7 stages.
    P : ndarray, shape (7, 4)
        Dense-output coefficients (Shampine 1986): stage ``j``'s weight at fraction ``x``
        of the step is ``P[j] @ [x, x^2, x^3, x^4]``.
    order_err : int
        Order of the error estimate (4): the controller's exponent is ``-1/(order_err+1)``.
    safety, min_factor, max_factor : float
        Step-size controller: safety factor and the smallest and largest change of the
        step per step (dimensionless).
    min_rtol : float
        Smallest accepted ``rtol`` (100 ulps of 1, as SciPy's floor).
    cross_ulps : int
        A crossing is bisected on the step's dense output until its bracket is at most
        this many ulps of ``t`` wide, whatever the step size.
    cross_max_bisections : int
        Most bisections of one crossing (2**-64 of a step is below one ulp of ``t`` for
        any step <= t).
    arrive_ulps : int
        A lane within this many ulps of ``t1`` has arrived (it is moved to ``t1``; the
        state cannot change over that interval).
    min_step_ulps : int
        A lane whose step falls below this many ulps of ``max(|t|, 1)`` fails with
        status -2 (step size underflow).
    """

    C: NDArray[np.float64]
    A: NDArray[np.float64]
    B: NDArray[np.float64]
    E: NDArray[np.float64]
    P: NDArray[np.float64]
    order_err: int = 4
    safety: float = 0.9
    min_factor: float = 0.2
    max_factor: float = 10.0
    min_rtol: float = 100 * float(np.finfo(float).eps)
    cross_ulps: int = 4
    cross_max_bisections: int = 64
    arrive_ulps: int = 16
    min_step_ulps: int = 10

    @property
    def exponent(self) -> float:
        """The controller's exponent, ``-1 / (order_err + 1)`` (dimensionless)."""
        return -1.0 / (self.order_err + 1)


# Tableau: Hairer, Nørsett & Wanner (1993), Table II.5.2; dense output: Shampine (1986),
# as SciPy's RK45.
DOPRI5 = DormandPrince(
    C=_frozen([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]),
    A=_frozen([
        [0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ]),
    B=_frozen([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]),
    E=_frozen([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]),
    P=_frozen([
        [1, -8048581381 / 2820520608, 8663915743 / 2820520608,
         -12715105075 / 11282082432],
        [0, 0, 0, 0],
        [0, 131558114200 / 32700410799, -68118460800 / 10900136933,
         87487479700 / 32700410799],
        [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0, 127303824393 / 49829197408, -318862633887 / 49829197408,
         701980252875 / 199316789632],
        [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]),
)
"""The method of every painsim backend; see :class:`DormandPrince`."""

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


def _combine_into(out: NDArray[np.float64], coef: NDArray[np.float64],
                  K: NDArray[np.float64] | list[NDArray[np.float64]],
                  tmp: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_k coef[k] * K[k]`` written into ``out``, elementwise per lane, in stage order,
    skipping zero coefficients (``tmp``: scratch of ``out``'s shape).

    Deliberately not a BLAS call: every lane's arithmetic is then independent of how
    many other lanes share the batch, so results are bit-identical for any chunking.
    Each product is rounded, then added (no fused multiply-add), as in the compiled
    kernel.
    """
    first = True
    for c, k in zip(coef, K, strict=False):
        if c != 0.0:
            if first:
                np.multiply(k, c, out=out)
                first = False
            else:
                np.multiply(k, c, out=tmp)
                np.add(out, tmp, out=out)
    if first:
        out.fill(0.0)
    return out


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


# --- The NumPy kernel: one Dormand–Prince step of many lanes, in named pieces ----------
# Each piece works in place in a _Workspace, so a step allocates no array of shape
# (n_states, n_lanes); each does the arithmetic of the formulas in DormandPrince's
# docstring in the order written there, elementwise per lane.


class _Workspace:
    """Scratch arrays of one step for ``m`` lanes: the stages ``K`` (7, n_states, m),
    the 5th-order solution ``y_new``, the error estimate ``err`` and two scratch arrays
    (n_states, m) each."""

    __slots__ = ("K", "err", "stage", "tmp", "y_new")

    def __init__(self, n_states: int, m: int) -> None:
        self.K = np.empty((7, n_states, m))
        self.y_new = np.empty((n_states, m))
        self.err = np.empty((n_states, m))
        self.stage = np.empty((n_states, m))
        self.tmp = np.empty((n_states, m))


def _dp_stages(call: Callable[[NDArray, NDArray], NDArray], t: NDArray[np.float64],
               y: NDArray[np.float64], f: NDArray[np.float64], h: NDArray[np.float64],
               ws: _Workspace) -> NDArray[np.float64]:
    """The six new stages of a step of size ``h`` (per lane) from ``(t, y)`` with
    ``f = rhs(t, y)``, into ``ws.K``; returns the 5th-order solution ``ws.y_new``.

    Stage 6 is evaluated at ``(t + h, y_new)``, since the last row of ``A`` is ``B``
    (FSAL): its argument *is* the new solution, which is therefore not summed twice.
    """
    K = ws.K
    K[0] = f
    for s in range(1, 7):
        arg = ws.y_new if s == 6 else ws.stage
        _combine_into(arg, DOPRI5.A[s, :s], K[:s], ws.tmp)
        np.multiply(arg, h, out=arg)
        np.add(y, arg, out=arg)  # y + h * sum_j A[s, j] K[j]
        K[s] = call(t + DOPRI5.C[s] * h, arg)
    return ws.y_new


def _dp_error_norm(y: NDArray[np.float64], h: NDArray[np.float64], ws: _Workspace,
                   rtol: float, atol: NDArray[np.float64], positive_scale: bool
                   ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The step's error in tolerance units per lane (RMS over states of ``h sum_j E[j]
    K[j] / (atol + rtol max(|y|, |y_new|))``), and whether the lane's norm and new
    state are finite. ``positive_scale``: ``atol > 0`` for every state, so no scale is
    0 and the division needs no special case (a NaN scale gives a NaN norm, which
    counts as not finite like the inf of the general case)."""
    err = _combine_into(ws.err, DOPRI5.E, ws.K, ws.tmp)
    np.multiply(err, h, out=err)
    scale = np.abs(y, out=ws.tmp)
    abs_new = np.abs(ws.y_new, out=ws.stage)
    # max over states propagates NaN: finite exactly when every state is
    new_finite = np.isfinite(abs_new.max(axis=0))
    np.maximum(scale, abs_new, out=scale)
    np.multiply(scale, rtol, out=scale)
    np.add(scale, atol, out=scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if positive_scale:
            en = _rms(np.divide(err, scale, out=err))
        else:
            en = _rms(_ratio(err, scale))
    return en, np.isfinite(en) & new_finite


def _dp_factor(en: NDArray[np.float64], finite: NDArray[np.bool_], accept: NDArray[np.bool_],
               rejected_before: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Next step over this step, per lane: ``safety * en ** exponent`` clipped to
    ``[min_factor, max_factor]``, at most 1 after a rejection (this one or the last)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = np.where(en == 0, DOPRI5.max_factor, DOPRI5.safety * en ** DOPRI5.exponent)
    factor = np.where(finite, factor, DOPRI5.min_factor)
    return np.where(accept, np.minimum(factor, np.where(rejected_before, 1.0,
                                                        DOPRI5.max_factor)),
                    np.clip(factor, DOPRI5.min_factor, 1.0))


def _dense_coefficients(K: NDArray[np.float64], lanes: NDArray[np.intp] | None
                        ) -> list[NDArray[np.float64]]:
    """``Q[j] = sum_s P[s, j] K[s]`` (j = 0..3) for ``lanes`` (all when None): the step's
    dense output is ``y + h * (x Q[0] + x^2 Q[1] + x^3 Q[2] + x^4 Q[3])``."""
    Ks = K if lanes is None else K[:, :, lanes]
    tmp = np.empty(Ks.shape[1:])
    return [_combine_into(np.empty(Ks.shape[1:]), DOPRI5.P[:, j], Ks, tmp)
            for j in range(4)]


def _bisect_crossings(g_of: Callable[..., NDArray], y: NDArray[np.float64],
                      Q: list[NDArray[np.float64]], t: NDArray[np.float64],
                      h: NDArray[np.float64], which: NDArray[np.intp], up: NDArray[np.bool_],
                      a: tuple) -> NDArray[np.float64]:
    """Times of sign changes of ``g`` row ``which`` inside steps ``[t, t + h]`` (one per
    column), by bisection on each step's dense output until the bracket is at most
    ``DOPRI5.cross_ulps`` ulps of ``t + h`` wide; the time reported is the bracket's end on
    the new side (``up``: g rose through 0). Columns are independent: the result of one
    does not depend on which others are bisected with it."""
    lo_x, hi_x = np.zeros(t.size), np.ones(t.size)
    width = DOPRI5.cross_ulps * np.spacing(np.abs(t + h))
    cols = np.arange(t.size)
    for _ in range(DOPRI5.cross_max_bisections):
        open_ = (hi_x - lo_x) * h > width
        if not open_.any():
            break
        mid = 0.5 * (lo_x + hi_x)
        ym = y + h * _horner(Q, mid)
        gm = g_of(t + mid * h, ym, a)[which, cols]
        before = open_ & ((gm >= 0) != up)  # still on the starting side
        after = open_ & ~before
        lo_x = np.where(before, mid, lo_x)
        hi_x = np.where(after, mid, hi_x)
    return t + hi_x * h


def status_messages(status: NDArray[np.int_], t_final: NDArray[np.float64]
                    ) -> NDArray[np.str_]:
    """Each lane's status in words, with the time of a failure.

    Parameters
    ----------
    status : ndarray of int, shape (n_lanes,)
        Status codes (keys of :data:`STATUS_MESSAGES`).
    t_final : ndarray, shape (n_lanes,)
        Time each lane reached (the caller's time unit, days in painsim's models).

    Returns
    -------
    ndarray of str, shape (n_lanes,)
        :attr:`Solution.message`.
    """
    return np.array([STATUS_MESSAGES[int(s)] + ("" if s == 0 else f" (at t={t_final[i]:.6g})")
                     for i, s in enumerate(status)])


def crossing_table(found: list[tuple[NDArray, ...]]) -> dict[str, NDArray]:
    """:attr:`Solution.crossings` from pieces, sorted by lane, then time, then row.

    Parameters
    ----------
    found : list of (lane, which, t, direction)
        Pieces of the table, each four arrays of one length: lane index (int), row of
        ``g`` (int), time of the crossing (days) and direction (+1 up, -1 down).

    Returns
    -------
    dict of ndarray
        Keys ``lane``, ``which``, ``t`` and ``direction``; empty arrays when nothing was
        found.
    """
    if not found:
        return {"lane": np.zeros(0, int), "which": np.zeros(0, int), "t": np.zeros(0),
                "direction": np.zeros(0, int)}
    cl, cw, ct, cd = (np.concatenate(x) for x in zip(*found, strict=True))
    order = np.lexsort((cw, ct, cl))
    return {"lane": cl[order], "which": cw[order], "t": ct[order], "direction": cd[order]}


def apply_on_stop(on_stop: Callable[..., ArrayLike], t: NDArray[np.float64],
                  y: NDArray[np.float64], lanes: NDArray[np.intp], k: NDArray[np.intp]
                  ) -> NDArray[np.float64]:
    """The states after a stop: ``on_stop`` called on copies, its result checked.

    Parameters
    ----------
    on_stop : callable
        ``on_stop(t, y, lanes, k) -> y_new``, as in :func:`integrate`.
    t : ndarray, shape (m,)
        Stop times of the lanes (days).
    y : ndarray, shape (n_states, m)
        States before the stop.
    lanes : ndarray of int, shape (m,)
        The lanes' indices (passed on to ``on_stop``).
    k : ndarray of int, shape (m,)
        Index of the stop in each lane's row of ``stops``.

    Returns
    -------
    ndarray, shape (n_states, m)
        States after the stop.

    Raises
    ------
    ValueError
        When ``on_stop`` returns another shape.
    """
    new = np.asarray(on_stop(t.copy(), y.copy(), lanes, k), dtype=float)
    if new.shape != y.shape:
        raise ValueError(f"on_stop returned shape {new.shape}; expected {y.shape}")
    return new


def stop_jumps(lanes: NDArray[np.intp], t: NDArray[np.float64],
               before: NDArray[np.float64],
               after: NDArray[np.float64]) -> tuple[NDArray, ...] | None:
    """Crossings made by a stop's jump, reported at the stop time.

    Parameters
    ----------
    lanes : ndarray of int, shape (m,)
        Lane indices of the columns.
    t : ndarray, shape (m,)
        Stop times (days).
    before, after : ndarray, shape (n_g, m)
        ``g`` just before and just after the stop's effect.

    Returns
    -------
    tuple of ndarray or None
        ``(lane, which, t, direction)`` for :func:`crossing_table`; None when no sign
        changed.
    """
    jumped = (before >= 0) != (after >= 0)
    if not jumped.any():
        return None
    which, pos = np.nonzero(jumped)
    return lanes[pos], which, t[pos].copy(), np.where(after[which, pos] >= 0, 1, -1)


class LaneStops:
    """Each lane's stop times and how far it has got through them; applies ``on_stop``.

    The one place where both backends keep stops: :func:`integrate` and
    :func:`painsim.compiled.integrate_pain` differ only in how they step between them.

    Parameters
    ----------
    stops : ndarray, shape (n_lanes, k)
        Sorted stop times per lane (days), padded with +inf, as
        :attr:`IntegrateArgs.stops`.
    on_stop : callable or None
        ``on_stop(t, y, lanes, k) -> y_new``, as in :func:`integrate`; None applies no
        effect (the stops only end steps there).
    """

    def __init__(self, stops: NDArray[np.float64],
                 on_stop: Callable[..., ArrayLike] | None) -> None:
        n_lanes, self.n_cols = stops.shape
        # one +inf column past the last stop makes the lookup a single gather
        self.times = np.concatenate([stops, np.full((n_lanes, 1), np.inf)], axis=1)
        self.ptr = np.zeros(n_lanes, dtype=np.int64)  # index of each lane's next stop
        self.count = np.zeros(n_lanes, dtype=np.int64)  # stops applied (Solution.n_stops)
        self.on_stop = on_stop

    def next_time(self, lanes: NDArray[np.intp]) -> NDArray[np.float64]:
        """Time of the next stop (days; +inf after the last) of ``lanes``."""
        return self.times[lanes, np.minimum(self.ptr[lanes], self.n_cols)]

    def apply(self, y: NDArray[np.float64], cols: NDArray[np.intp], lanes: NDArray[np.intp],
              t: NDArray[np.float64]) -> None:
        """Apply the stops due at ``t``, in order, to columns ``cols`` of ``y`` in place.

        Every lane must sit on its next stop; further stops at the same time are applied
        after it, one ``on_stop`` call per round.

        Parameters
        ----------
        y : ndarray, shape (n_states, m_all)
            The caller's states; columns ``cols`` are updated.
        cols : ndarray of int, shape (m,)
            Columns of ``y`` of the lanes.
        lanes : ndarray of int, shape (m,)
            The lanes' indices (rows of the table; passed on to ``on_stop``).
        t : ndarray, shape (m,)
            The lanes' times (days).
        """
        sel = np.arange(cols.size)
        while sel.size:
            g = lanes[sel]
            if self.on_stop is not None:
                c = cols[sel]
                y[:, c] = apply_on_stop(self.on_stop, t[sel], y[:, c], g, self.ptr[g])
            self.ptr[g] += 1
            self.count[g] += 1
            # several stops may share one time: apply them in order
            sel = sel[self.next_time(g) <= t[sel]]


class CrossingLog:
    """Pieces of :attr:`Solution.crossings` as they are found, in the order they happen.

    A piece whose times are located later (deferred bisection) holds its place with
    :meth:`reserve` and is put there with :meth:`fill`.
    """

    def __init__(self) -> None:
        self.pieces: list[tuple[NDArray, ...] | None] = []

    def add(self, piece: tuple[NDArray, ...]) -> None:
        """Append ``(lane, which, t, direction)``."""
        self.pieces.append(piece)

    def jump(self, lanes: NDArray[np.intp], t: NDArray[np.float64],
             before: NDArray[np.float64], after: NDArray[np.float64]) -> None:
        """Record the crossings a stop's jump made (:func:`stop_jumps`)."""
        j = stop_jumps(lanes, t, before, after)
        if j is not None:
            self.pieces.append(j)

    def reserve(self) -> int:
        """A place for a piece found now and located later; its index."""
        self.pieces.append(None)
        return len(self.pieces) - 1

    def fill(self, slot: int, piece: tuple[NDArray, ...]) -> None:
        """Put a reserved piece in its place."""
        self.pieces[slot] = piece

    def table(self) -> dict[str, NDArray]:
        """The crossings, sorted as :func:`crossing_table` sorts them."""
        return crossing_table([p for p in self.pieces if p is not None])


class Driver(ABC):
    """What a forward integration does between steps, written once for both backends.

    A subclass is a *kernel*: it advances its lanes, the NumPy one (:func:`integrate`)
    every running lane by one step, the compiled one
    (:func:`painsim.compiled.integrate_pain`) every lane to its next stop, the end or a
    failure. The driver does the rest: the stops at ``t0``, each stop a lane lands on
    (``on_stop`` through :class:`LaneStops`, the crossings its jump makes, the restart),
    the crossing table (:class:`CrossingLog`), the :class:`Solution` and ``throw``.

    A kernel keeps its lanes' times ``t`` (m,) and states ``y`` (n_states, m) in
    *columns* (the NumPy kernel drops finished lanes from its working set; the compiled
    kernel's columns are its lanes), sets ``t0``, ``stops``, ``log``, ``on_stop`` and
    ``has_g`` (whether there are crossing quantities), and provides ``lanes(cols)``
    (the lanes of columns), ``g_at(cols)`` (the crossing quantities at the columns'
    present state, (n_g, m)), ``moved(cols)`` (their next stop changed), ``begin()``
    (set up the first step; False when there is nothing to integrate), ``running()``,
    ``advance()`` (advance the lanes; returns the columns that landed on their next stop
    after an accepted step), ``restart(cols)`` (``on_stop`` changed their state: start them as new
    initial-value problems), ``after()`` (arrivals and failures after the stops) and
    ``result()`` (the :class:`Solution`, via :meth:`solution`).
    """

    t0: float
    t: NDArray[np.float64]
    y: NDArray[np.float64]
    stops: LaneStops
    log: CrossingLog
    on_stop: Callable[..., ArrayLike] | None
    has_g: bool
    g_prev: NDArray[np.float64] | None = None  # g at each column's present state

    def run(self, throw: bool) -> Solution:
        """Integrate every lane; raise :func:`solver_error` when ``throw`` and one failed."""
        self.stops_at_start()
        if self.begin():
            while self.running():
                self.settle(self.advance())
                self.after()
        sol = self.result()
        raise_if_failed(sol, throw)
        return sol

    def stops_at_start(self) -> None:
        """Stops at ``t0`` act before the first step (a jump there may cross a level)."""
        cols = np.arange(self.t.size)
        if self.has_g:
            self.g_prev = self.g_at(cols)
        at = np.flatnonzero(self.stops.next_time(self.lanes(cols)) <= self.t0)
        if at.size:
            self.apply(at)
            if self.has_g:
                g0 = self.g_at(at)
                self.log.jump(self.lanes(at), self.t[at], self.g_prev[:, at], g0)
                self.g_prev[:, at] = g0

    def apply(self, cols: NDArray[np.intp]) -> None:
        """Apply the stops due to columns ``cols`` (each sits on its next stop)."""
        self.stops.apply(self.y, cols, self.lanes(cols), self.t[cols])
        self.moved(cols)

    def settle(self, cols: NDArray[np.intp]) -> None:
        """Columns ``cols`` landed on a stop: its effect, the restart, the jump's
        crossings."""
        if not cols.size:
            return
        before = self.g_prev[:, cols] if self.has_g else None  # a copy (fancy index)
        self.apply(cols)
        if self.on_stop is not None:
            self.restart(cols)
            if self.has_g:
                after = self.g_at(cols)
                self.log.jump(self.lanes(cols), self.t[cols], before, after)
                self.g_prev[:, cols] = after

    def solution(self, Y: NDArray[np.float64], t_eval: NDArray[np.float64],
                 t_final: NDArray[np.float64], y_final: NDArray[np.float64],
                 status: NDArray[np.int_], n_steps: NDArray[np.int_],
                 n_rejected: NDArray[np.int_], nfev: int) -> Solution:
        """The :class:`Solution` from the kernel's per-lane results and the driver's
        stops and crossings."""
        return Solution(t=t_eval, y=Y, t_final=t_final, y_final=y_final, status=status,
                        message=status_messages(status, t_final), n_steps=n_steps,
                        n_rejected=n_rejected, n_stops=self.stops.count, nfev=nfev,
                        crossings=self.log.table())

    # the kernel's part (see the class docstring)
    @abstractmethod
    def lanes(self, cols: NDArray[np.intp]) -> NDArray[np.intp]:
        ...

    @abstractmethod
    def g_at(self, cols: NDArray[np.intp]) -> NDArray[np.float64]:
        ...

    @abstractmethod
    def moved(self, cols: NDArray[np.intp]) -> None:
        ...

    @abstractmethod
    def begin(self) -> bool:
        ...

    @abstractmethod
    def running(self) -> bool:
        ...

    @abstractmethod
    def advance(self) -> NDArray[np.intp]:
        ...

    @abstractmethod
    def restart(self, cols: NDArray[np.intp]) -> None:
        ...

    @abstractmethod
    def after(self) -> None:
        ...

    @abstractmethod
    def result(self) -> Solution:
        ...


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
                              t_final=t_final, message=status_messages(sol.status, t_final),
                              crossings=cross)
    raise_if_failed(sol, throw)
    return sol


def solver_error(sol: Solution) -> SolverError:
    """The error raised for a failed :class:`Solution`: the first failing lane, its time
    and state, how many lanes failed, and what to try.

    Both backends (:func:`integrate` and :func:`painsim.compiled.integrate_pain`) raise
    this one message with ``throw=True``.

    Parameters
    ----------
    sol : Solution
        A solution with at least one lane whose status is not 0.

    Returns
    -------
    SolverError
        Not raised here; the caller raises it.
    """
    bad = np.flatnonzero(sol.status != 0)
    if not bad.size:
        raise ValueError("every lane succeeded: there is no failure to report")
    i = int(bad[0])
    return SolverError(
        f"lane {i} failed at t={sol.t_final[i]:.6g}: {sol.message[i]}; last state "
        f"{np.array2string(sol.y_final[:, i], precision=6)}; {bad.size} of "
        f"{sol.status.size} lanes failed. Try a smaller rtol/atol, a larger max_steps, or "
        "check the rhs for non-finite values.",
        lane=i, t=float(sol.t_final[i]), state=sol.y_final[:, i].copy(),
        status=int(sol.status[i]), n_failed=int(bad.size))


def raise_if_failed(sol: Solution, throw: bool) -> None:
    """Raise :func:`solver_error` of ``sol`` when ``throw`` is true and a lane failed.

    Parameters
    ----------
    sol : Solution
        The result to check.
    throw : bool
        The ``throw`` argument of :func:`integrate`; nothing happens when false.

    Raises
    ------
    SolverError
        When ``throw`` is true and not every lane reached the end of ``t_span``.
    """
    if throw and not sol.success:
        raise solver_error(sol)


class IntegrateArgs(NamedTuple):
    """Checked and normalised arguments of a forward integration (see
    :func:`validate_integrate_args`)."""

    t0: float
    """Start time (days, or the caller's unit)."""
    t1: float
    """End time, ``>= t0``."""
    y0: NDArray[np.float64]
    """Initial states, shape (n_states, n_lanes)."""
    atol: NDArray[np.float64]
    """Absolute tolerance, shape () or (n_states, 1)."""
    t_eval: NDArray[np.float64]
    """Sorted output times within ``[t0, t1]``, shape (n_eval,)."""
    stops: NDArray[np.float64]
    """Per-lane sorted stop times padded with +inf, shape (n_lanes, k >= 1)."""


def validate_integrate_args(
    t_span: Any, y0: ArrayLike, rtol: float, atol: float | ArrayLike,
    t_eval: ArrayLike | None, stops: ArrayLike | None, max_steps: int,
    step: float | None, max_step: float,
) -> IntegrateArgs:
    """Check and normalise the arguments of a forward integration, as :func:`integrate`
    documents them; every backend calls this, so they accept and refuse the same input.

    Parameters
    ----------
    t_span, y0, rtol, atol, t_eval, stops, max_steps, step, max_step
        As in :func:`integrate` (times in days, or the caller's unit). ``t_span`` must
        run forwards (``t1 >= t0``): :func:`integrate` reverses a backward span before
        it gets here.

    Returns
    -------
    IntegrateArgs
        ``(t0, t1, y0, atol, t_eval, stops)``: ``y0`` as float, ``atol`` of shape ()
        or (n_states, 1), ``t_eval`` defaulting to ``[t0, t1]``, ``stops`` of shape
        (n_lanes, k >= 1) padded with +inf.

    Raises
    ------
    ValueError
        Naming the argument and what it must be.
    """
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
    if isinstance(rtol, bool) or not (np.isfinite(rtol) and DOPRI5.min_rtol <= rtol < 1):
        raise ValueError(f"rtol must be a number in [{DOPRI5.min_rtol:.3g}, 1) (100 ulps, "
                         f"as SciPy's floor: a smaller one cannot be met in double precision), "
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
    return IntegrateArgs(t0, t1, y0, atol, t_eval, stops)


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
    return _NumpyDriver(rhs, validate_integrate_args(t_span, y0, rtol, atol, t_eval, stops,
                                                max_steps, step, max_step),
                   args=tuple(args), rtol=rtol, on_stop=on_stop, first_step=first_step,
                   max_step=max_step, max_steps=max_steps, step=step,
                   crossings=crossings, save=save).run(throw)


class _NumpyDriver(Driver):
    """One forward integration of :func:`integrate`: the NumPy kernel of :class:`Driver`,
    in named pieces.

    Per lane (global index) it keeps the results: output ``Y``, final time and state,
    status and work counts. Per *working* lane (a column) it keeps the state of the
    integration:
    ``wid`` (the global index), ``t``, ``y``, ``f``, ``h``, the next stop and output
    pointers. Lanes that finish leave the working set when fewer than half are still
    active (:meth:`compact`). Crossings are found at the ends of accepted steps and
    located by bisection in batches (:meth:`bisect_pending`).
    """

    def __init__(self, rhs: Callable[..., ArrayLike], a: IntegrateArgs, *, args: tuple,
                 rtol: float, on_stop: Callable[..., ArrayLike] | None,
                 first_step: float | None, max_step: float, max_steps: int,
                 step: float | None, crossings: Callable[..., ArrayLike] | None,
                 save: Callable[..., ArrayLike] | None) -> None:
        self.rhs, self.on_stop, self.crossings, self.save = rhs, on_stop, crossings, save
        self.has_g = crossings is not None
        self.t0, self.t1, y0, self.atol, self.t_eval, stops = a
        self.rtol, self.first_step, self.max_step = rtol, first_step, max_step
        self.max_steps, self.step = max_steps, step
        self.n_states, n_lanes = y0.shape
        self.n_eval = self.t_eval.size
        self.args = args
        self.lane_mask = _per_lane(args, n_lanes)
        self.nfev = 0
        # global (per-lane) results
        self.n_saved = self.n_states if save is None else np.asarray(save(
            np.full(1, self.t0), y0[:, :1],
            *_take(args, self.lane_mask, np.zeros(1, dtype=np.intp)))).shape[0]
        self.Y = np.full((self.n_saved, n_lanes, self.n_eval), np.nan)
        self.t_fin = np.full(n_lanes, self.t0)
        self.y_fin = y0.copy()
        self.status = np.zeros(n_lanes, dtype=int)
        self.steps_g = np.zeros(n_lanes, dtype=int)
        self.rej_g = np.zeros(n_lanes, dtype=int)
        # working set: all arrays below are indexed by position in `wid`
        self.wid = np.arange(n_lanes)
        self.y = y0.copy()
        self.t = np.full(n_lanes, self.t0)
        self.a = args
        self.stops = LaneStops(stops, on_stop)
        self.stop_t = self.stops.next_time(self.wid)  # each lane's next stop time
        # Crossings: a piece of the table per event, in the order they happen. Bisections
        # are deferred and run together (their columns are independent), so a step with a
        # crossing costs one dense-output evaluation, not one bisection loop of its own.
        self.log = CrossingLog()
        self.pending: list[dict[str, Any]] = []
        self.n_pending = 0
        # atol > 0 for every state: no tolerance scale is 0, and x / scale needs no
        # special case (a NaN scale gives NaN units, which every test treats as inf units)
        self.positive_scale = bool(np.all(self.atol > 0))

    # --- calls of the user's functions --------------------------------------------
    def call(self, t: NDArray, y: NDArray, a: tuple) -> NDArray:
        out = np.asarray(self.rhs(t, y, *a), dtype=float)
        if out.shape != y.shape:
            raise ValueError(f"rhs returned shape {out.shape}; expected {y.shape} "
                             "(n_states, n_lanes)")
        self.nfev += y.shape[1]
        return out

    def saved(self, t: NDArray, y: NDArray, idx: NDArray | None) -> NDArray:
        if self.save is None:
            return y
        a = self.a
        out = np.asarray(self.save(t, y, *(a if idx is None else _take(a, self.lane_mask,
                                                                          idx))), dtype=float)
        if out.shape != (self.n_saved, y.shape[1]):
            raise ValueError(f"save returned shape {out.shape}; expected "
                             f"({self.n_saved}, {y.shape[1]})")
        return out

    def g_of(self, t: NDArray, y: NDArray, a: tuple) -> NDArray:
        g = np.asarray(self.crossings(t, y, *a), dtype=float)
        if g.ndim != 2 or g.shape[1] != y.shape[1]:
            raise ValueError(f"crossings returned shape {g.shape}; expected (n_g, "
                             f"{y.shape[1]})")
        return g

    # --- stops ---------------------------------------------------------------------
    def restart(self, on: NDArray) -> None:
        """Lanes ``on`` jumped at a stop: re-read per-lane args that ``on_stop`` may have
        changed in place, and restart them as a new initial-value problem, so a large
        step cannot stride over a short transient the jump started."""
        a, args, t = self.a, self.args, self.t
        if a is not args:  # on_stop may change per-lane args in place: re-read
            for arr, orig, per in zip(a, args, self.lane_mask, strict=True):
                if per:
                    arr[..., on] = orig[..., self.wid[on]]
        a_on = _take(a, self.lane_mask, on)
        self.f[:, on] = self.call(t[on], self.y[:, on], a_on)
        if self.step is None:
            ok = t[on] < self.t1
            self.h[on[ok]] = self.initial_step(t[on[ok]], self.y[:, on[ok]],
                                               self.f[:, on[ok]],
                                               _take(a_on, self.lane_mask, np.flatnonzero(ok)))
        self.rejected_before[on] = False

    # --- crossings -----------------------------------------------------------------
    def detect_crossings(self, acc: NDArray, t_new: NDArray, y_new: NDArray,
                         h_use: NDArray) -> None:
        """Compare g at the ends of accepted steps; defer the bisection of changes."""
        t, a, lane_mask = self.t, self.a, self.lane_mask
        whole = acc.size == t.size
        a_acc = a if whole else _take(a, lane_mask, acc)
        g_new = self.g_of(t_new if whole else t_new[acc], y_new if whole else y_new[:, acc],
                          a_acc)
        changed = (self.g_prev[:, acc] >= 0) != (g_new >= 0)
        if changed.any():
            which, pos = np.nonzero(changed)
            ln = acc[pos]
            self.pending.append({
                "slot": self.log.reserve(), "lane": self.wid[ln], "which": which,
                "up": g_new[which, pos] >= 0, "t": t[ln], "h": h_use[ln],
                "y": self.y[:, ln], "Q": _dense_coefficients(self.ws.K, ln),
                "a": _take(a, lane_mask, ln)})
            self.n_pending += ln.size
        self.g_prev[:, acc] = g_new

    def bisect_pending(self) -> None:
        """Locate every deferred crossing and put it in its place in the log."""
        pending = self.pending
        if not pending:
            return

        def cat(key: str) -> NDArray:
            return np.concatenate([p[key] for p in pending], axis=-1)

        a_all = tuple(np.concatenate([p["a"][i] for p in pending], axis=-1) if per
                      else pending[0]["a"][i] for i, per in enumerate(self.lane_mask))
        Q = [np.concatenate([p["Q"][j] for p in pending], axis=1) for j in range(4)]
        tc = _bisect_crossings(self.g_of, cat("y"), Q, cat("t"), cat("h"), cat("which"),
                               cat("up"), a_all)
        lo = 0
        for p in pending:
            hi = lo + p["t"].size
            self.log.fill(p["slot"], (p["lane"], p["which"], tc[lo:hi],
                                      np.where(p["up"], 1, -1)))
            lo = hi
        pending.clear()
        self.n_pending = 0

    # --- steps ---------------------------------------------------------------------
    def units(self, x: NDArray, scale: NDArray) -> NDArray:
        if not self.positive_scale:
            return _ratio(x, scale)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return x / scale

    def initial_step(self, t: NDArray, y: NDArray, f: NDArray, a: tuple) -> NDArray:
        """Hairer, Nørsett & Wanner (1993), II.4, per lane (as SciPy's select_initial_step)."""
        t1, units = self.t1, self.units
        scale = self.atol + self.rtol * np.abs(y)
        d0, d1 = _rms(units(y, scale)), _rms(units(f, scale))
        with np.errstate(invalid="ignore"):
            h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
        # an unmeetable tolerance (inf units) gives no usable guess: start small, and let
        # error control shrink the step until the lane fails fast with status -2
        h0 = np.where(np.isfinite(h0) & (h0 > 0), h0, 1e-6)
        h0 = np.minimum(h0, t1 - t)
        f1 = self.call(t + h0, y + h0 * f, a)
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = _rms(units(f1 - f, scale)) / h0
        dm = np.maximum(d1, d2)
        with np.errstate(invalid="ignore", divide="ignore"):
            h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3),
                          (0.01 / np.maximum(dm, 1e-300)) ** (1 / (DOPRI5.order_err + 1)))
        h1 = np.where(np.isfinite(dm), h1, h0 * 1e-3)
        return np.minimum(np.minimum(100 * h0, h1), np.minimum(t1 - t, self.max_step))

    def compact(self, keep: NDArray) -> None:
        """Keep only working-set positions ``keep``."""
        self.wid, self.y, self.t = self.wid[keep], self.y[:, keep], self.t[keep]
        self.f, self.h = self.f[:, keep], self.h[keep]
        if self.g_prev is not None:
            self.g_prev = self.g_prev[:, keep]
        self.rejected_before = self.rejected_before[keep]
        self.eval_ptr, self.active = self.eval_ptr[keep], self.active[keep]
        self.stop_t, self.n_tried = self.stop_t[keep], self.n_tried[keep]
        self.ws = _Workspace(self.n_states, keep.size)
        self.a = _take(self.args, self.lane_mask, self.wid)

    def finish(self, sel: NDArray, code: int) -> None:
        g = self.wid[sel]
        self.t_fin[g] = self.t[sel]
        self.y_fin[:, g] = self.y[:, sel]
        self.status[g] = code
        self.active[sel] = False

    def dense_output(self, acc: NDArray, t_new: NDArray, h_use: NDArray) -> None:
        """Fill Y at the t_eval points in [t, t_new) of accepted lanes ``acc``."""
        t_eval, eval_ptr = self.t_eval, self.eval_ptr
        due = acc[self.t_eval_pad[eval_ptr[acc]] < t_new[acc]]
        if not due.size:
            return
        cnt = np.searchsorted(t_eval, t_new[due], side="left") - eval_ptr[due]
        Q = _dense_coefficients(self.ws.K, due)  # 4 x (n_states, due.size)
        if np.all(cnt == 1):
            lanes, idx = due, eval_ptr[due]
        else:  # several points in a step: one row per (lane, point)
            rep = np.repeat(np.arange(due.size), cnt)
            lanes = due[rep]
            idx = eval_ptr[lanes] + (np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            Q = [q[:, rep] for q in Q]
        x = (t_eval[idx] - self.t[lanes]) / np.where(h_use[lanes] > 0, h_use[lanes], 1)
        yi = self.y[:, lanes] + h_use[lanes] * _horner(Q, x)
        self.Y[:, self.wid[lanes], idx] = self.saved(t_eval[idx], yi, lanes)
        eval_ptr[due] += cnt

    # --- the kernel's part of Driver ---------------------------------------------------
    def lanes(self, cols: NDArray) -> NDArray:
        return self.wid[cols]

    def g_at(self, cols: NDArray) -> NDArray:
        return self.g_of(self.t[cols], self.y[:, cols], _take(self.a, self.lane_mask, cols))

    def moved(self, cols: NDArray) -> None:
        self.stop_t[cols] = self.stops.next_time(self.wid[cols])

    def running(self) -> bool:
        return bool(np.any(self.active))

    def result(self) -> Solution:
        if np.any(self.active):  # pragma: no cover - loop exits only when no lane is active
            self.finish(np.flatnonzero(self.active), -1)
        self.bisect_pending()
        # a failed lane's output after its failure stays NaN
        return self.solution(self.Y, self.t_eval, self.t_fin, self.y_fin, self.status,
                             self.steps_g, self.rej_g, self.nfev)

    # --- the run -------------------------------------------------------------------
    def begin(self) -> bool:
        """The first derivative and step (after the stops at t0); False for a
        zero-length span, whose output is then the state after those stops."""
        t0, t1 = self.t0, self.t1
        n_lanes = self.t.size
        if t1 == t0:
            for j in range(self.n_eval):
                self.Y[:, :, j] = self.saved(np.full(n_lanes, t0), self.y, None)
            self.y_fin, self.active = self.y, np.zeros(n_lanes, dtype=bool)
            return False
        self.f = self.call(self.t, self.y, self.a)
        if self.step is not None:
            h = np.full(n_lanes, float(self.step))
        elif self.first_step is not None:
            h = np.full(n_lanes, float(self.first_step))
        else:
            h = self.initial_step(self.t, self.y, self.f, self.a)
        self.h = np.minimum(h, self.max_step)
        self.rejected_before = np.zeros(n_lanes, dtype=bool)
        self.eval_ptr = np.searchsorted(self.t_eval, self.t, side="left")  # next output
        self.t_eval_pad = np.append(self.t_eval, np.inf)  # its time: t_eval_pad[eval_ptr]
        self.n_tried = np.zeros(n_lanes, dtype=int)  # accepted + rejected steps per lane
        self.ws = _Workspace(self.n_states, n_lanes)
        self.active = self.t < t1
        return True

    def advance(self) -> NDArray:
        """One step of every active lane; returns the columns that landed on a stop."""
        active = self.active
        m = active.size
        if np.count_nonzero(active) < 0.5 * m:
            self.compact(np.flatnonzero(active))
            active, m = self.active, self.active.size
        t, h = self.t, self.h
        limit = np.minimum(self.stop_t, self.t1)
        h_use = np.where(active, np.minimum(h, limit - t), 0.0)
        clipped = active & (h_use < h)
        y_new = _dp_stages(lambda ts, ys: self.call(ts, ys, self.a), t, self.y, self.f,
                           h_use, self.ws)
        if self.step is not None:
            accept = active.copy()
            factor = np.ones(m)
        else:
            en, finite = _dp_error_norm(self.y, h_use, self.ws, self.rtol, self.atol,
                                        self.positive_scale)
            accept = active & finite & (en < 1.0)
            factor = _dp_factor(en, finite, accept, self.rejected_before)
        rejected = active & ~accept
        self.n_tried += active
        self.steps_g[self.wid[accept]] += 1
        self.rej_g[self.wid[rejected]] += 1

        acc = np.flatnonzero(accept)
        t_new = np.where(accept, t + h_use, t)
        hit = accept & (h_use >= limit - t)  # landed on a stop or t1: use it exactly
        t_new[hit] = limit[hit]
        if acc.size and self.n_eval:
            self.dense_output(acc, t_new, h_use)
        if self.crossings is not None and acc.size:
            self.detect_crossings(acc, t_new, y_new, h_use)
            if self.n_pending >= max(m, 1024):
                self.bisect_pending()
        # advance accepted lanes
        self.t = t_new
        np.copyto(self.y, y_new, where=accept)
        np.copyto(self.f, self.ws.K[6], where=accept)
        h_next = h_use * factor
        if self.step is None:
            h = np.where(accept & clipped, np.maximum(h_next, h), np.where(active, h_next, h))
            self.h = np.minimum(h, self.max_step)
        self.rejected_before = rejected
        # lanes on a stop: the driver applies the effects and restarts them
        return np.flatnonzero(accept & (self.stop_t <= self.t))

    def after(self) -> None:
        """Lanes at t1 finish with status 0; too many steps -1; too small a step -2."""
        active, t, t1 = self.active, self.t, self.t1
        # a lane within a few ulps of t1 (a stop just before the end) has arrived: the
        # state cannot change over that interval, and a step that small would be
        # reported as a step-size underflow
        near = np.flatnonzero(active & (t < t1)
                              & (t1 - t <= DOPRI5.arrive_ulps * np.spacing(abs(t1))))
        if near.size:
            t[near] = t1
            self.apply(near[self.stop_t[near] <= t1])
        done = np.flatnonzero(active & (t >= t1))
        if done.size:
            for j in np.flatnonzero(self.t_eval >= t1):
                self.Y[:, self.wid[done], j] = self.saved(np.full(done.size, self.t_eval[j]),
                                                          self.y[:, done], done)
            self.finish(done, 0)
        over = np.flatnonzero(active & (self.n_tried >= self.max_steps))
        if over.size:
            self.finish(over, -1)
        if self.step is None:
            smallest = DOPRI5.min_step_ulps * np.spacing(np.maximum(np.abs(t), 1.0))
            tiny = np.flatnonzero(active & (self.h < smallest))
            if tiny.size:
                self.finish(tiny, -2)
