"""An optional compiled (Numba) path for models written one lane at a time.

The NumPy solver (:func:`painsim.integrate`) is the reference: it runs any model and
needs nothing beyond NumPy. This module runs the *same* method with the *same* step-size
control, stop handling, dense output, crossing location and failure rules, but the
steps are a compiled loop, so there is no array temporary per stage and no Python
overhead per step. The loop advances blocks of lanes side by side (``width`` of them,
:data:`WIDTH` by default), each with its own time, step size, error control and stops,
a finished lane replaced by the next; a step's arithmetic (stage sums, the right-hand
side, solution and error sums) runs across the block's lanes in the innermost loops,
which the compiler turns into SIMD instructions where the lane form allows (Numba
without Intel's SVML cannot vectorize ``exp`` and ``log``; a right-hand side calling
them keeps those calls scalar). A lane's numbers are the same, bit for bit, whatever
the width, its neighbours or the number of threads. What happens between steps (stops,
``on_stop``, the crossings a jump makes, the restart, the crossing table, the
:class:`~painsim.Solution`) is :class:`painsim.solver.Driver`, the same code as for the
NumPy kernel; the compiled loop is only the kernel that advances each lane to its next
stop. Where the stops' effects are given as data (:class:`StopEffects`: what
:func:`painsim.simulate` builds for flares and for sessions whose pulses have a lane
form), the loop applies them itself, in the driver's order and with the same
arithmetic, and does not return to Python at each stop. It is used by
:func:`painsim.simulate` with ``backend="numba"`` for models that carry a
:class:`LaneForm`; the built-in :data:`painsim.PAIN_LOOP` does.

Results agree with the NumPy path to rounding (tests require 1e-10 in pain over months
of simulated time); they are not bit-identical, because compiled ``exp``/``log``/``pow``
may round differently in the last bit. Reproducibility across worker counts and chunk
sizes holds within each backend.

Numba is an optional dependency (``pip install "painsim[fast]"``); nothing else in
painsim imports it.

Writing a model in lane form
----------------------------
Two plain functions on one lane, using only what Numba compiles (arithmetic, ``math``,
NumPy scalar functions, loops), and calling no other Python function::

    def rhs(t, y, p, dy):      # t: day; y: states (n_states,); p: parameters
        dy[0] = -p[0] * y[0]   # (n_parameters,), in Model.parameters order;
                               # dy: output (n_states,), per day
    def pain(y, p):            # -> pain on 0-10 (float)
        return y[0]

and pass ``lane_form=LaneForm(rhs=rhs, pain=pain)`` to :class:`painsim.Model`. A model
with pulses (:attr:`painsim.Model.pulses`) may give their lane forms too,
``pulses={"name": pulse}`` with ``def pulse(y, p, dose)`` changing ``y`` in place; then
sessions giving them are applied inside the compiled loop. The functions stay ordinary
Python, so they can be tested against the vectorized ``rhs`` without Numba (painsim's
tests do that for the built-in model).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError
from .solver import (
    DOPRI5,
    CrossingLog,
    Driver,
    LaneStops,
    Solution,
    validate_integrate_args,
)

__all__ = ["ADD_PARAMETER", "ADD_STATE", "PULSE", "SCALE_PARAMETER", "SCALE_STATE",
           "WIDTH", "LaneForm", "StopEffects", "available", "cache_key", "integrate_pain",
           "kernel", "require_numba", "warm_up"]

# lane codes inside the compiled loop (never returned to the user)
_RUNNING, _AT_STOP, _BUFFER_FULL, _STOP_AT_END, _CHECK_FIRST = 1, 2, 3, 4, 5
_CROSS_CAP = 8  # crossings held per lane before the loop hands them to Python
_BLOCK = 512  # lanes per call of the compiled loop when threads share the lanes
#: Lanes the compiled loop advances side by side by default (``integrate_pain(width=)``).
WIDTH = 64
_MAX_WIDTH = 4096  # the block's scratch is 10 * n_states * width floats


@dataclass(frozen=True, slots=True)
class LaneForm:
    """A model's right-hand side and pain read-out written for one lane.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, p, dy) -> None``: writes dy/dt (per day) of the states ``y`` of one
        lane (shape ``(n_states,)``) at time ``t`` (days) with parameters ``p`` (shape
        ``(n_parameters,)``, model order) into ``dy``.
    pain : callable
        ``pain(y, p) -> float``: pain on 0–10.
    pulses : dict of str to callable, optional
        Lane forms of the model's pulses (:attr:`painsim.Model.pulses`),
        ``pulse(y, p, dose) -> None`` changing the states ``y`` of one lane in place.
        A session whose pulses all have a lane form is applied inside the compiled loop
        (:class:`StopEffects`); one giving a pulse without it is applied in Python
        between compiled segments, with the same numbers. Kept as ``(name, function)``
        pairs.

    All must be compilable by ``numba.njit`` and call no other Python function; see the
    module docstring.
    """

    rhs: Callable[..., None]
    pain: Callable[..., float]
    pulses: Any = ()

    def __post_init__(self) -> None:
        pulses = self.pulses.items() if isinstance(self.pulses, Mapping) else self.pulses
        try:
            pairs = tuple((name, fn) for name, fn in (pulses or ()))
        except (TypeError, ValueError):
            raise ValueError("LaneForm.pulses must be a dict of pulse name to function, "
                             f"got {self.pulses!r}") from None
        for name, fn in pairs:
            if not isinstance(name, str) or not callable(fn):
                raise ValueError("LaneForm.pulses must map pulse names (str) to "
                                 f"functions pulse(y, p, dose), got {name!r}: {fn!r}")
        if len({name for name, _ in pairs}) != len(pairs):
            raise ValueError("LaneForm.pulses names a pulse twice")
        object.__setattr__(self, "pulses", pairs)

    def pulse_index(self, name: str) -> int | None:
        """Position of the lane-form pulse ``name`` in :attr:`pulses`, or None."""
        for j, (n, _) in enumerate(self.pulses):
            if n == name:
                return j
        return None


#: Operation of :class:`StopEffects`: ``y[index] += value``.
ADD_STATE = 0
#: Operation of :class:`StopEffects`: ``y[index] *= value``.
SCALE_STATE = 1
#: Operation of :class:`StopEffects`: ``p[index] = clip(p[index] + value, lo, hi)``.
ADD_PARAMETER = 2
#: Operation of :class:`StopEffects`: ``p[index] = clip(p[index] * value, lo, hi)``.
SCALE_PARAMETER = 3
#: Operation of :class:`StopEffects`: the lane form's pulse number ``index``, dose ``value``.
PULSE = 4


@dataclass(frozen=True)
class StopEffects:
    """What each stop of :func:`integrate_pain` does, as data the compiled loop applies
    itself (instead of returning to Python for ``on_stop``).

    Stop ``k`` of lane ``i`` (``stops[i, k]``) applies operations ``start[i, k]`` to
    ``start[i, k] + count[i, k] - 1`` of the flat arrays, in order. Operation ``o`` by
    its ``code[o]``, with ``j = index[o]``, ``v = value[o]``:

    - :data:`ADD_STATE`: ``y[j] += v``; :data:`SCALE_STATE`: ``y[j] *= v``;
    - :data:`ADD_PARAMETER`, :data:`SCALE_PARAMETER`: ``p[j] = clip(p[j] + v, lo[o],
      hi[o])`` (``* v`` for scale), in the lane's column of ``P``, used from the stop on;
    - :data:`PULSE`: the lane form's pulse number ``j`` (:attr:`LaneForm.pulses`) with
      dose ``v``.

    These are the operations of :meth:`painsim.Intervention.apply` and of a flare, with
    the same arithmetic; :func:`painsim.effects.stop_program` builds them for the engine.
    A pulse gets a copy of the lane's parameters (a pulse cannot change drivers, as with
    :attr:`painsim.Model.pulses`). The loop tests a jump's crossings with the lane
    form's ``pain`` and applies the lane form's pulses, where the Python path uses the
    vectorized ones: results are the same bit for bit where the two forms round alike
    (the built-in model's do), else they agree to rounding.
    """

    start: NDArray[np.int64]
    count: NDArray[np.int64]
    code: NDArray[np.int64]
    index: NDArray[np.int64]
    value: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]

    def checked(self, shape: tuple[int, int], n_states: int, n_parameters: int,
                n_pulses: int) -> StopEffects:
        """This program as the compiled loop takes it (C-contiguous int64 and float64
        arrays); ValueError unless it fits stops of ``shape`` and a model of these
        sizes."""
        ints = ("start", "count", "code", "index")
        for name in ints:  # not rounded silently
            if not np.issubdtype(np.asarray(getattr(self, name)).dtype, np.integer):
                raise ValueError(f"effects.{name} must be an integer array")
        e = StopEffects(**{f.name: np.ascontiguousarray(
            getattr(self, f.name), dtype=np.int64 if f.name in ints else np.float64)
            for f in dataclasses.fields(StopEffects)})
        e._check(shape, n_states, n_parameters, n_pulses)
        return e

    def _check(self, shape: tuple[int, int], n_states: int, n_parameters: int,
               n_pulses: int) -> None:
        if self.start.shape != shape or self.count.shape != shape:
            raise ValueError(f"effects.start and effects.count must have the shape of "
                             f"stops {shape}, got {self.start.shape} and {self.count.shape}")
        m = self.code.shape[0]
        for name in ("code", "index", "value", "lo", "hi"):
            if getattr(self, name).shape != (m,):
                raise ValueError(f"effects.{name} must have shape ({m},) like effects.code")
        if np.any(self.count < 0) or np.any(self.start < 0) or np.any(
                self.start + self.count > m):
            raise ValueError(f"effects.start and effects.count must select operations "
                             f"0..{m - 1}")
        if np.any((self.code < ADD_STATE) | (self.code > PULSE)):
            raise ValueError(f"effects.code must be {ADD_STATE}..{PULSE}")
        size = np.select([self.code <= SCALE_STATE, self.code <= SCALE_PARAMETER],
                         [n_states, n_parameters], n_pulses)
        if np.any((self.index < 0) | (self.index >= size)):
            raise ValueError("effects.index must name a state, parameter or lane-form "
                             "pulse of the model (by position)")

    @classmethod
    def none(cls) -> StopEffects:
        """An empty program (the loop then returns to Python at every stop)."""
        i2, i1, f1 = np.zeros((0, 0), np.int64), np.zeros(0, np.int64), np.zeros(0)
        return cls(start=i2, count=i2, code=i1, index=i1, value=f1, lo=f1, hi=f1)


def available() -> bool:
    """True when Numba can be imported (the compiled path can run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def require_numba(model_name: str, lane_form: LaneForm | None) -> None:
    """Refuse the ``numba`` backend unless it can run this model.

    Parameters
    ----------
    model_name : str
        The model's name (for the message).
    lane_form : LaneForm or None
        The model's compiled form (:attr:`painsim.Model.lane_form`).

    Raises
    ------
    ParameterError
        The model has no ``lane_form``, or Numba is not installed; the message says
        what to do (use ``backend="numpy"``, or install ``painsim[fast]``).
    """
    if lane_form is None:
        raise ParameterError("backend", "numba", "numpy",
                             why=f"model {model_name!r} has no lane_form (LaneForm) to "
                             "compile")
    if not available():
        raise ParameterError("backend", "numba", "numpy",
                             why="Numba is not installed; install it with "
                             "pip install \"painsim[fast]\"")


def _digest_value(v: Any, h: Any, seen: dict[int, int]) -> bool:
    """Feed what compiled code built from ``v`` depends on into the hash ``h``: numbers,
    text, arrays (their bytes), tuples of these, modules (by name) and functions (their
    code, recursively). False for anything else: its compiled form cannot be keyed."""
    import types

    if v is None or isinstance(v, bool | int | float | complex | str | bytes | np.generic):
        h.update(repr((type(v).__name__, v)).encode())
    elif isinstance(v, np.ndarray):
        h.update(f"{v.dtype.str}{v.shape}".encode())
        h.update(np.ascontiguousarray(v).tobytes())
    elif isinstance(v, tuple):  # delimited: ((1,), 2) and ((1, 2),) differ
        h.update(b"(")
        ok = all(_digest_value(x, h, seen) for x in v)
        h.update(b")")
        return ok
    elif isinstance(v, types.ModuleType):
        h.update(f"module {v.__name__}".encode())
    else:
        fn = getattr(v, "py_func", v)  # a Numba dispatcher: its Python function
        if not isinstance(fn, types.FunctionType):
            return False
        if id(fn) in seen:  # digested before in this function's tree: which one
            h.update(f"function #{seen[id(fn)]}".encode())
            return True
        seen[id(fn)] = len(seen)
        return _digest_function(fn, h, seen)
    return True


def _digest_code(code: Any, h: Any, names: set[str]) -> None:
    """Bytecode, constants and argument count of ``code`` and of the code nested in it;
    the global names it may read go into ``names``."""
    import types

    h.update(code.co_code)
    h.update(repr((code.co_argcount, code.co_names)).encode())
    names.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _digest_code(c, h, names)
        else:
            h.update(repr((type(c).__name__, c)).encode())


def _digest_function(fn: Any, h: Any, seen: dict[int, int]) -> bool:
    # the module too: the cached code refers to it by name (it is imported on loading)
    h.update(f"module of function {fn.__module__}".encode())
    names: set[str] = set()
    _digest_code(fn.__code__, h, names)
    for name in sorted(names):  # globals it reads (attribute names are not in them)
        if name in fn.__globals__:
            h.update(f"global {name}".encode())
            if not _digest_value(fn.__globals__[name], h, seen):
                return False
    extra = [c.cell_contents for c in fn.__closure__ or ()] + list(fn.__defaults__ or ())
    return all(_digest_value(v, h, seen) for v in extra)


def cache_key(lane_form: LaneForm) -> str | None:
    """The key under which the compiled loop of ``lane_form`` is cached on disk, or
    ``None`` when it cannot be keyed (a function reads an object that is not a number,
    text, array, tuple, module or function).

    It is a SHA-256 of everything the compiled code depends on beyond this module's own
    source (which Numba's cache checks itself): the lane functions' (and pulses') bytecode and
    constants, the values of the globals and closure variables they read (recursively
    through functions they call), and the Dormand–Prince tableau and controller. Any
    change to a model's lane functions, or to a constant they read, gives a new key,
    so a stale compiled loop is never loaded.
    """
    import hashlib

    h = hashlib.sha256()
    # each function from the start (a function rhs calls may also be given as a pulse:
    # each place must hash its code)
    for role, fn in (("rhs", lane_form.rhs), ("pain", lane_form.pain),
                     *((f"pulse {name}", fn) for name, fn in lane_form.pulses)):
        h.update(role.encode())
        if not _digest_value(fn, h, {}):
            return None
    for f in dataclasses.fields(DOPRI5):  # every field: a new one cannot be missed
        h.update(f.name.encode())
        _digest_value(getattr(DOPRI5, f.name), h, {})
    return h.hexdigest()


def _cache_on_disk(dispatcher: Any, key: str) -> None:
    """Let Numba keep ``dispatcher``'s compiled code on disk under ``key`` and load it in
    later processes (where Numba finds a writable cache folder: beside this module, or
    ``NUMBA_CACHE_DIR``, or the user's cache folder). Numba's own cache keys a closure
    by pickling its variables, which for compiled functions hold a random id, so it
    would never find it again; this key (:func:`cache_key`) replaces that part. Where
    Numba cannot cache here, nothing changes (the loop is compiled in each process)."""
    try:
        from numba.core.caching import FunctionCache

        class _KeyedCache(FunctionCache):
            def _index_key(self, sig: Any, codegen: Any) -> tuple:
                return (sig, codegen.magic_tuple(), ("painsim", key))

        dispatcher._cache = _KeyedCache(dispatcher.py_func)
    except Exception:  # no writable cache folder, or a Numba without this interface
        return


def _pulse_switch(njit: Any, fns: list[Callable[..., None]]) -> Any:
    """A compiled ``pulse(j, y, p, dose)`` calling the ``j``-th of ``fns`` (a compiled
    function cannot index a list of functions, so each is a branch)."""
    @njit
    def nothing(j, y, p, dose):
        pass

    switch = nothing
    for j in range(len(fns) - 1, -1, -1):
        switch = _pulse_branch(njit, j, njit(fns[j]), switch)
    return switch


def _pulse_branch(njit: Any, j: int, fn: Any, rest: Any) -> Any:
    @njit
    def branch(i, y, p, dose):
        if i == j:
            fn(y, p, dose)
        else:
            rest(i, y, p, dose)
    return branch


@functools.lru_cache(maxsize=16)
def kernel(lane_form: LaneForm) -> Callable[..., None]:
    """The compiled stepping loop for ``lane_form`` (compiled once per process).

    Compilation takes a few seconds; it happens on the first call of the returned
    function and is reused for every later call in the process (and in worker
    processes forked after it). The compiled code is also kept on disk (Numba's cache)
    under :func:`cache_key`, so a later process loads it instead of compiling, where
    the lane form can be keyed and Numba finds a writable cache folder.
    """
    import numba

    key = cache_key(lane_form)
    # error_model="numpy": a division by zero gives inf/nan (then a failed lane, status
    # -2, as in the NumPy path) instead of raising inside the loop
    compile_ = numba.njit(cache=False, nogil=True, error_model="numpy")
    tag = f"painsim_{key[:24] if key else 'unkeyed'}"

    def njit(fn: Callable[..., Any]) -> Any:
        return compile_(_tagged(fn, tag))

    rhs = njit(lane_form.rhs)
    pain = njit(lane_form.pain)
    pulse = _pulse_switch(njit, [fn for _, fn in lane_form.pulses])
    # the tableau and the controller of painsim.solver.DOPRI5 (writable copies: Numba
    # freezes them as constants of the compiled loop)
    A, B, C, E, PD = (np.array(x, dtype=np.float64)
                      for x in (DOPRI5.A, DOPRI5.B, DOPRI5.C, DOPRI5.E, DOPRI5.P))
    safety, fmin, fmax = DOPRI5.safety, DOPRI5.min_factor, DOPRI5.max_factor
    expo = DOPRI5.exponent
    n_ulps, max_bis = float(DOPRI5.cross_ulps), DOPRI5.cross_max_bisections
    inv_order = 1.0 / (DOPRI5.order_err + 1)
    arrive_ulps, min_step_ulps = DOPRI5.arrive_ulps, DOPRI5.min_step_ulps

    @njit
    def ratio(x, sc):
        # as solver._ratio: a zero scale counts an exact zero as met, anything else unmet
        if sc > 0.0:
            return x / sc
        return 0.0 if x == 0.0 else np.inf

    @njit
    def initial_step(t, y, f, p, atol, rtol, t1, max_step, tmp, f1):
        # Hairer, Nørsett & Wanner (1993) II.4, as integrate()'s initial_step
        ns = y.shape[0]
        d0 = 0.0
        d1 = 0.0
        for k in range(ns):
            sc = atol[k] + rtol * abs(y[k])
            a = ratio(y[k], sc)
            b = ratio(f[k], sc)
            d0 = a * a if k == 0 else d0 + a * a
            d1 = b * b if k == 0 else d1 + b * b
        d0 = np.sqrt(d0 / ns)
        d1 = np.sqrt(d1 / ns)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / max(d1, 1e-300)
        if not (np.isfinite(h0) and h0 > 0.0):  # an unmeetable tolerance, as integrate()
            h0 = 1e-6
        h0 = min(h0, t1 - t)
        for k in range(ns):
            tmp[k] = y[k] + h0 * f[k]
        rhs(t + h0, tmp, p, f1)
        d2 = 0.0
        for k in range(ns):
            sc = atol[k] + rtol * abs(y[k])
            v = ratio(f1[k] - f[k], sc)
            d2 = v * v if k == 0 else d2 + v * v
        d2 = np.sqrt(d2 / ns) / h0
        dm = max(d1, d2)
        if not np.isfinite(dm):
            h1 = h0 * 1e-3
        elif dm <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(dm, 1e-300)) ** inv_order
        return min(min(100 * h0, h1), min(t1 - t, max_step))

    @njit
    def dense(Q, K, ns):
        for j in range(4):
            for k in range(ns):
                acc = 0.0
                first = True
                for s in range(7):
                    c = PD[s, j]
                    if c != 0.0:
                        acc = c * K[s, k] if first else acc + c * K[s, k]
                        first = False
                Q[j, k] = acc

    @njit
    def interp(out, y, h, Q, x, ns):
        for k in range(ns):
            out[k] = y[k] + h * (x * (Q[0, k] + x * (Q[1, k] + x * (Q[2, k] + x * Q[3, k]))))

    @njit
    def log_crossing(i, tc, w, up, cross_t, cross_w, cross_d, n_cross):
        # one crossing of level w by lane i at tc into its buffer (room is checked
        # before a step and before a stop's jump)
        c_i = n_cross[i]
        cross_t[i, c_i] = tc
        cross_w[i, c_i] = w
        cross_d[i, c_i] = 1 if up else -1
        n_cross[i] = c_i + 1

    @njit
    def apply_due(i, ti, yl, pl, ps, times, sptr, scount, e_start, e_count, e_code,
                  e_index, e_value, e_lo, e_hi):
        # LaneStops.apply for lane i at ti, with the effects as data (StopEffects); a
        # pulse gets a copy of the parameters (ps), as Model.pulses do
        n_cols = times.shape[1] - 1
        while sptr[i] < n_cols and times[i, sptr[i]] <= ti:
            k = sptr[i]
            a = e_start[i, k]
            for o in range(a, a + e_count[i, k]):
                c = e_code[o]
                j = e_index[o]
                v = e_value[o]
                if c == ADD_STATE:
                    yl[j] = yl[j] + v
                elif c == SCALE_STATE:
                    yl[j] = yl[j] * v
                elif c == PULSE:
                    for q in range(pl.shape[0]):
                        ps[q] = pl[q]
                    pulse(j, yl, ps, v)
                else:  # a parameter, clipped to its bounds as np.clip
                    x = pl[j] + v if c == ADD_PARAMETER else pl[j] * v
                    pl[j] = min(max(x, e_lo[o]), e_hi[o])
            sptr[i] = k + 1
            scount[i] += 1
        return times[i, min(sptr[i], n_cols)]

    @njit
    def next_lane(nxt, hi, lane_state):
        # the next lane of the queue nxt..hi-1 that still runs (-1: none); and the queue
        while nxt < hi:
            i = nxt
            nxt += 1
            if lane_state[i] == _RUNNING or lane_state[i] == _CHECK_FIRST:
                return i, nxt
        return -1, nxt

    @njit
    def load(s, i, y, f, P, t, h, rej_before, fresh, lane_state, times, sptr, lane_of,
             Ys, Fs, Ps, ts, hs, rbs, sts, rst, chk):
        # lane i into slot s of the block: its state, whether it restarts (fresh) and
        # whether integrate()'s end-of-iteration checks come before its next step
        lane_of[s] = i
        for k in range(Ys.shape[0]):
            Ys[k, s] = y[k, i]
            Fs[k, s] = f[k, i]
        for k in range(Ps.shape[0]):
            Ps[k, s] = P[k, i]
        ts[s] = t[i]
        hs[s] = h[i]
        rbs[s] = rej_before[i]
        sts[s] = times[i, min(sptr[i], times.shape[1] - 1)]
        rst[s] = fresh[i]
        chk[s] = lane_state[i] == _CHECK_FIRST

    @njit
    def store(s, code, y, f, P, t, h, rej_before, lane_state, lane_of, Ys, Fs, Ps, ts, hs,
              rbs):
        # slot s's lane back into the arrays, leaving the block with ``code``
        i = lane_of[s]
        for k in range(Ys.shape[0]):
            y[k, i] = Ys[k, s]
            f[k, i] = Fs[k, s]
        for k in range(Ps.shape[0]):
            P[k, i] = Ps[k, s]
        t[i] = ts[s]
        h[i] = hs[s]
        rej_before[i] = rbs[s]
        lane_state[i] = code
        lane_of[s] = -1

    @njit
    def move(a, b, lane_of, Ys, Fs, Ps, ts, hs, rbs, sts, rst, chk):
        # slot a into slot b (keeps the running slots first), before a step's stages
        lane_of[b] = lane_of[a]
        lane_of[a] = -1
        for k in range(Ys.shape[0]):
            Ys[k, b] = Ys[k, a]
            Fs[k, b] = Fs[k, a]
        for k in range(Ps.shape[0]):
            Ps[k, b] = Ps[k, a]
        ts[b] = ts[a]
        hs[b] = hs[a]
        rbs[b] = rbs[a]
        sts[b] = sts[a]
        rst[b] = rst[a]
        chk[b] = chk[a]

    # inlined where it is called (Numba IR; it reads no closure variable): as a call it
    # added about 2 s to the loop's compile time
    @_inlined(tag)
    def weighted_sum(out, coef, m, K, n):
        # out[k, s] = sum over j < m of coef[j] * K[j, k, s] for slots s < n: the
        # fixed-order sum of integrate() (zero coefficients skipped, 0 if all are), the
        # slots innermost so the compiler can run it across them
        first = True
        for j in range(m):
            c = coef[j]
            if c != 0.0:
                for k in range(out.shape[0]):
                    if first:
                        for s in range(n):
                            out[k, s] = c * K[j, k, s]
                    else:
                        for s in range(n):
                            out[k, s] = out[k, s] + c * K[j, k, s]
                first = False
        if first:
            for k in range(out.shape[0]):
                for s in range(n):
                    out[k, s] = 0.0

    @njit
    def stages(n, K, Ys, Fs, Ps, Tm, Yn, Er, ts, hus):
        # one Dormand-Prince step of slots 0..n-1, side by side: each slot's numbers are
        # those of a step taken alone (same operations, same order), but the arithmetic
        # runs across slots in the innermost loops, where the compiler can use SIMD
        ns = Ys.shape[0]
        for k in range(ns):
            for s in range(n):
                K[0, k, s] = Fs[k, s]
        for r in range(1, 7):
            weighted_sum(Tm, A[r], r, K, n)
            for k in range(ns):
                for s in range(n):
                    Tm[k, s] = Ys[k, s] + hus[s] * Tm[k, s]
            cr = C[r]
            for s in range(n):
                rhs(ts[s] + cr * hus[s], Tm[:, s], Ps[:, s], K[r, :, s])
        weighted_sum(Yn, B, 6, K, n)
        weighted_sum(Er, E, 7, K, n)
        for k in range(ns):
            for s in range(n):
                Yn[k, s] = Ys[k, s] + hus[s] * Yn[k, s]
                Er[k, s] = hus[s] * Er[k, s]

    @njit
    def run(t, y, f, h, rej_before, fresh, lane_state, times, sptr, scount, inline,
            e_start, e_count, e_code, e_index, e_value, e_lo, e_hi, t1, P, levels, g_prev,
            t_eval, eval_ptr, Y, steps, rejs, nfev, cross_t, cross_w, cross_d, n_cross,
            rtol, atol, max_step, max_steps, lo, hi, width):
        # lanes lo..hi-1 only: each lane reads and writes its own entries, and the
        # scratch arrays below belong to this call, so calls on disjoint blocks can run
        # at once in threads (the function holds no GIL) with the same per-lane numbers.
        # Up to ``width`` lanes advance side by side in slots (a lane that leaves is
        # replaced by the next of the queue; running slots are kept first): a slot's
        # numbers do not depend on its neighbours, so neither on ``width``.
        # inline: the stops' effects are applied here (StopEffects e_*), in the order
        # and with the numbers of Driver.settle and Driver.after; else the loop returns
        # each lane that lands on a stop to Python (_AT_STOP, _STOP_AT_END).
        ns = y.shape[0]
        W = max(1, min(width, hi - lo))
        Ys = np.zeros((ns, W))
        Fs = np.zeros((ns, W))
        Ps = np.zeros((P.shape[0], W))
        K = np.zeros((7, ns, W))
        Tm = np.zeros((ns, W))
        Yn = np.zeros((ns, W))
        Er = np.zeros((ns, W))
        lane_of = np.full(W, -1, dtype=np.int64)
        ts = np.zeros(W)
        hs = np.zeros(W)
        hus = np.zeros(W)
        sts = np.zeros(W)
        rbs = np.zeros(W, dtype=np.bool_)
        rst = np.zeros(W, dtype=np.bool_)
        chk = np.zeros(W, dtype=np.bool_)
        ps = np.empty(P.shape[0])
        tmp = np.empty(ns)
        err = np.empty(ns)
        Q = np.empty((4, ns))
        g_new = np.empty(max(levels.shape[0], 1))
        nxt = lo
        n_live = W  # slots 0..n_live-1 are in use (an empty one is filled below)
        n_g = levels.shape[0]
        n_eval = t_eval.shape[0]
        while True:
            # each slot's lane up to its next step: a stop's effects when inline, a
            # restart, the end-of-iteration checks of integrate() in its order, then the
            # step size; a lane that leaves (a code other than _RUNNING) is replaced
            s = 0
            while s < n_live:
                i = lane_of[s]
                if i < 0:  # an empty slot: the queue's next lane, or the last slot
                    i, nxt = next_lane(nxt, hi, lane_state)
                    if i >= 0:
                        load(s, i, y, f, P, t, h, rej_before, fresh, lane_state, times,
                             sptr, lane_of, Ys, Fs, Ps, ts, hs, rbs, sts, rst, chk)
                    else:
                        n_live -= 1
                        if s < n_live:
                            move(n_live, s, lane_of, Ys, Fs, Ps, ts, hs, rbs, sts, rst, chk)
                        continue
                ti, hl, st = ts[s], hs[s], sts[s]
                check = chk[s]
                code = _RUNNING
                while True:  # one pass; ``break`` with a code leaves the block
                    if inline and st <= ti:
                        # on its next stop (at t0, after an accepted step, or kept there
                        # by a full crossing buffer): the effects, the crossings of the
                        # jump (as stop_jumps), then a restart
                        if n_cross[i] + n_g > cross_t.shape[1]:
                            code = _BUFFER_FULL
                            break
                        yl, pl = Ys[:, s], Ps[:, s]
                        st = apply_due(i, ti, yl, pl, ps, times, sptr, scount, e_start,
                                       e_count, e_code, e_index, e_value, e_lo, e_hi)
                        sts[s] = st
                        if n_g:
                            pn = pain(yl, pl)
                            for w in range(n_g):
                                g_new[w] = pn - levels[w, i]
                                up = g_new[w] >= 0
                                if (g_prev[w, i] >= 0) != up:
                                    log_crossing(i, ti, w, up, cross_t, cross_w, cross_d,
                                                 n_cross)
                                g_prev[w, i] = g_new[w]
                        rst[s] = True
                        # after a step integrate() runs its end-of-iteration checks
                        # before the next one; at t0 it does not
                        check = steps[i] + rejs[i] > 0
                    if rst[s]:  # (re)start: the state jumped, or the first call
                        yl, fl, pl = Ys[:, s], Fs[:, s], Ps[:, s]
                        rhs(ti, yl, pl, fl)
                        nfev[i] += 1
                        if ti < t1:
                            hl = initial_step(ti, yl, fl, pl, atol, rtol, t1, max_step, tmp,
                                              err)
                            hs[s] = hl
                            nfev[i] += 1
                        rbs[s] = False
                        rst[s] = False
                        fresh[i] = False
                    if check:
                        # the end-of-iteration checks of integrate(), in its order
                        if ti < t1 and t1 - ti <= arrive_ulps * np.spacing(abs(t1)):
                            ti = t1
                            ts[s] = ti
                            if st <= t1:
                                if not inline:
                                    code = _STOP_AT_END
                                    break
                                # a stop at the end: its effect only (as Driver.after)
                                st = apply_due(i, ti, Ys[:, s], Ps[:, s], ps, times, sptr,
                                               scount, e_start, e_count, e_code, e_index,
                                               e_value, e_lo, e_hi)
                                sts[s] = st
                        if ti >= t1:
                            for j in range(n_eval):
                                if t_eval[j] >= t1:
                                    Y[i, j] = pain(Ys[:, s], Ps[:, s])
                            code = 0
                            break
                        if steps[i] + rejs[i] >= max_steps:
                            code = -1
                            break
                        if hl < min_step_ulps * np.spacing(max(abs(ti), 1.0)):
                            code = -2
                            break
                    chk[s] = True
                    if n_cross[i] + n_g > cross_t.shape[1]:
                        code = _BUFFER_FULL
                        break
                    hus[s] = min(hl, min(st, t1) - ti)
                    break
                if code == _RUNNING:
                    s += 1
                else:
                    store(s, code, y, f, P, t, h, rej_before, lane_state, lane_of, Ys, Fs,
                          Ps, ts, hs, rbs)
            if n_live == 0:
                break
            stages(n_live, K, Ys, Fs, Ps, Tm, Yn, Er, ts, hus)
            # each slot's error test, and for an accepted step its daily output,
            # crossings and new state; the next step size
            for s in range(n_live):
                i = lane_of[s]
                # hs and sts are as the step size was chosen from them above
                ti, hl, hu, limit = ts[s], hs[s], hus[s], min(sts[s], t1)
                nfev[i] += 6
                ok = True
                en = 0.0
                for k in range(ns):  # RMS of the scaled error, as integrate()
                    if not np.isfinite(Yn[k, s]):
                        ok = False
                    sc = atol[k] + rtol * max(abs(Ys[k, s]), abs(Yn[k, s]))
                    v = ratio(Er[k, s], sc)
                    en = v * v if k == 0 else en + v * v
                en = np.sqrt(en / ns)
                finite = ok and np.isfinite(en)
                accept = finite and en < 1.0
                if en == 0.0:
                    factor = fmax
                else:
                    factor = safety * en ** expo
                if not finite:
                    factor = fmin
                if accept:
                    factor = min(factor, 1.0 if rbs[s] else fmax)
                    steps[i] += 1
                else:
                    factor = min(max(factor, fmin), 1.0)
                    rejs[i] += 1
                if accept:
                    t_new = ti + hu
                    if hu >= limit - ti:
                        t_new = limit
                    have_q = False
                    p0 = eval_ptr[i]
                    while p0 < n_eval and t_eval[p0] < t_new:
                        if not have_q:
                            dense(Q, K[:, :, s], ns)
                            have_q = True
                        x = (t_eval[p0] - ti) / (hu if hu > 0 else 1.0)
                        interp(tmp, Ys[:, s], hu, Q, x, ns)
                        Y[i, p0] = pain(tmp, Ps[:, s])
                        p0 += 1
                    eval_ptr[i] = p0
                    if n_g:
                        pl = Ps[:, s]
                        pn = pain(Yn[:, s], pl)
                        for w in range(n_g):
                            g_new[w] = pn - levels[w, i]
                        for w in range(n_g):
                            up = g_new[w] >= 0
                            if (g_prev[w, i] >= 0) != up:
                                if not have_q:
                                    dense(Q, K[:, :, s], ns)
                                    have_q = True
                                a, b = 0.0, 1.0
                                bracket = n_ulps * np.spacing(abs(ti + hu))
                                for _ in range(max_bis):  # bisection, as integrate()
                                    if (b - a) * hu <= bracket:
                                        break
                                    mid = 0.5 * (a + b)
                                    interp(tmp, Ys[:, s], hu, Q, mid, ns)
                                    gm = pain(tmp, pl) - levels[w, i]
                                    if (gm >= 0) != up:
                                        a = mid
                                    else:
                                        b = mid
                                log_crossing(i, ti + b * hu, w, up, cross_t, cross_w,
                                             cross_d, n_cross)
                            g_prev[w, i] = g_new[w]
                    ti = t_new
                    ts[s] = ti
                    for k in range(ns):
                        Ys[k, s] = Yn[k, s]
                        Fs[k, s] = K[6, k, s]
                h_next = hu * factor
                if accept and hu < hl:  # a step clipped to reach its stop or t1
                    hl = max(h_next, hl)
                else:
                    hl = h_next
                hs[s] = min(hl, max_step)
                rbs[s] = not accept
                if accept and sts[s] <= ti and not inline:
                    store(s, _AT_STOP, y, f, P, t, h, rej_before, lane_state, lane_of, Ys,
                          Fs, Ps, ts, hs, rbs)

    if key is not None:
        _cache_on_disk(run, key)
    return run


def _inlined(tag: str) -> Callable[[Callable[..., Any]], Any]:
    """A decorator compiling a function of the loop to be inlined into its callers in
    Numba IR (``inline="always"``), tagged as :func:`_tagged`; for functions that read no
    closure variable (Numba cannot inline closures)."""
    import numba

    def compile_(fn: Callable[..., Any]) -> Any:
        return numba.njit(nogil=True, error_model="numpy", inline="always")(
            _tagged(fn, tag))
    return compile_


def _tagged(fn: Callable[..., Any], tag: str) -> Callable[..., Any]:
    """A copy of ``fn`` whose qualified name starts with ``tag``.

    Numba names a compiled function's symbol by module, qualified name and a counter of
    the process. The loops of two lane forms, compiled in two processes and both loaded
    from the disk cache into a third, can then define one symbol twice (say
    ``kernel.<locals>.initial_step``, calling each its own ``rhs``), and one loop runs
    the other's function. Tagging every function of a loop with its :func:`cache_key`
    keeps the symbols of different loops apart (same key: same code).
    """
    import types

    fn = getattr(fn, "py_func", fn)  # a Numba dispatcher: its Python function
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__module__ = fn.__module__
    copy.__qualname__ = f"{tag}.{fn.__qualname__}"
    return copy


def warm_up(model: Any) -> float:
    """Compile the loop for ``model`` now (e.g. before forking workers); seconds taken.

    Later calls in this process (and in processes forked after it) reuse the compiled
    loop; the second call of ``warm_up`` returns almost at once.
    """
    import time

    tic = time.perf_counter()
    P = model.params().as_array(1)
    integrate_pain(model, (0.0, 1.0), model.initial_state(1), P, levels=np.zeros((1, 1)),
                   t_eval=np.array([0.0, 1.0]), stops=np.array([[0.5]]),
                   on_stop=lambda t, y, lanes, k: y)
    return time.perf_counter() - tic


def integrate_pain(
    model: Any,
    t_span: tuple[float, float],
    y0: NDArray[np.float64],
    P: NDArray[np.float64],
    *,
    levels: NDArray[np.float64] | None = None,
    t_eval: NDArray[np.float64] | None = None,
    stops: NDArray[np.float64] | None = None,
    on_stop: Callable[..., NDArray[np.float64]] | None = None,
    effects: StopEffects | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_step: float = np.inf,
    max_steps: int = 100_000,
    throw: bool = False,
    out: NDArray[np.float64] | None = None,
    threads: int = 1,
    width: int = WIDTH,
) -> Solution:
    """Integrate ``model`` on many lanes with the compiled loop, keeping pain only.

    The equivalent NumPy call is ``painsim.integrate(model.lane_rhs, t_span, y0,
    args=(P, levels), t_eval=t_eval, stops=stops, on_stop=on_stop, crossings=pain -
    levels, save=pain, rtol=rtol, atol=atol)``; the result has the same fields and
    meaning.

    Parameters
    ----------
    model : Model
        A model with a :class:`LaneForm` (``model.lane_form``).
    t_span : (float, float)
        Start and end, days.
    y0 : ndarray, shape (n_states, n_lanes)
        Initial states.
    P : ndarray, shape (n_parameters, n_lanes)
        Packed parameters; ``on_stop`` may change its columns in place (a change of
        drivers), which the loop uses from that stop on.
    levels : ndarray, shape (n_levels, n_lanes), optional
        Pain levels (0–10) whose crossings are located (e.g. relief and relapse
        thresholds); reported as ``which`` = row.
    t_eval : ndarray, optional
        Output times, days (default ``[t0, t1]``).
    stops, on_stop
        As in :func:`painsim.integrate`.
    effects : StopEffects, optional
        The stops' effects as data, applied inside the compiled loop (no return to
        Python at each stop); instead of ``on_stop``, with the same result as an
        ``on_stop`` doing these operations. Needs ``stops``.
    rtol, atol, max_step, max_steps, throw
        As in :func:`painsim.integrate`.
    out : ndarray, shape (n_lanes, n_eval), optional
        C-contiguous float64 array to write pain into (saves a copy of the largest
        array of a long run); ``Solution.y[0]`` is then this array.
    threads : int
        Threads advancing blocks of lanes at once in this process (the compiled loop
        runs without the GIL). The result is the same, bit for bit, for any number.
    width : int
        Lanes each thread advances side by side (default :data:`WIDTH`): a step's
        stage arithmetic runs across them in the loop's innermost loops, which the
        compiler turns into SIMD instructions where the lane form allows. 1 advances
        one lane at a time. The result is the same, bit for bit, for any width.

    Returns
    -------
    Solution
        ``y`` has shape ``(1, n_lanes, n_eval)``: pain on 0–10.
    """
    require_numba(model.name, model.lane_form)
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or not (
            1 <= width <= _MAX_WIDTH):
        raise ValueError(f"width must be an integer in [1, {_MAX_WIDTH}], got {width!r}")
    a = validate_integrate_args(t_span, y0, rtol, atol, t_eval, stops, max_steps, None,
                                max_step)
    n = a.y0.shape[1]
    if not (isinstance(P, np.ndarray) and P.dtype == np.float64 and P.flags.c_contiguous):
        raise ValueError("P must be a C-contiguous float64 array (on_stop may edit it in "
                         "place, so it is not copied)")
    if P.shape != (len(model.parameters), n):
        raise ValueError(f"P must have shape {(len(model.parameters), n)}, got {P.shape}")
    levels = np.zeros((0, n)) if levels is None else np.ascontiguousarray(levels, dtype=float)
    if levels.ndim != 2 or levels.shape[1] != n:
        raise ValueError(f"levels must have shape (n_levels, {n}), got {levels.shape}")
    n_eval = a.t_eval.size
    if out is not None and not (isinstance(out, np.ndarray) and out.dtype == np.float64
                                and out.flags.c_contiguous and out.shape == (n, n_eval)):
        raise ValueError(f"out must be a C-contiguous float64 array of shape {(n, n_eval)}")
    if effects is not None:
        if on_stop is not None:
            raise ValueError("give on_stop or effects, not both")
        if stops is None:
            raise ValueError("effects needs stops (the times its operations apply)")
        effects = effects.checked(a.stops.shape, a.y0.shape[0], len(model.parameters),
                                  len(model.lane_form.pulses))
    drv = _CompiledDriver(model, a, P, levels, on_stop, effects, rtol, max_step,
                          max_steps, out, threads, int(width))
    try:
        return drv.run(throw)
    finally:
        drv.blocks.close()


class _CompiledDriver(Driver):
    """The compiled kernel of :class:`painsim.solver.Driver`: each call of the compiled
    loop advances every lane to its next stop, ``t1``, a failure or a full crossing
    buffer; the columns are the lanes."""

    def __init__(self, model: Any, a: Any, P: NDArray, levels: NDArray,
                 on_stop: Callable[..., NDArray] | None, effects: StopEffects | None,
                 rtol: float, max_step: float, max_steps: int, out: NDArray | None,
                 threads: int, width: int) -> None:
        t0, self.t1, y0, atol_a, t_eval, stops = a
        n_states, n = y0.shape
        self.model, self.P, self.levels, self.on_stop = model, P, levels, on_stop
        self.inline = effects is not None
        self.effects = StopEffects.none() if effects is None else effects
        self.t0, self.has_g = t0, levels.shape[0] > 0
        self.rtol, self.max_step, self.max_steps = float(rtol), float(max_step), max_steps
        self.t_eval = np.ascontiguousarray(t_eval)
        self.atol = np.ascontiguousarray(np.broadcast_to(atol_a.reshape(-1), (n_states,)),
                                         dtype=float)
        self.loop = kernel(model.lane_form)
        self.stops = LaneStops(stops, on_stop)
        self.log = CrossingLog()
        self.y = np.ascontiguousarray(y0, dtype=float).copy()
        self.t = np.full(n, t0)
        self.f = np.zeros_like(self.y)
        self.h = np.zeros(n)
        self.rej_before = np.zeros(n, dtype=np.bool_)
        self.fresh = np.ones(n, dtype=np.bool_)
        self.lane_state = np.full(n, _RUNNING, dtype=np.int64)
        if out is None:
            self.Y = np.full((n, self.t_eval.size), np.nan)
        else:
            self.Y = out
            self.Y.fill(np.nan)
        self.eval_ptr = np.searchsorted(self.t_eval, self.t, side="left").astype(np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.rejs = np.zeros(n, dtype=np.int64)
        self.nfev = np.zeros(n, dtype=np.int64)
        cap = max(_CROSS_CAP, 2 * levels.shape[0])
        self.cross_t = np.empty((n, cap))
        self.cross_w = np.empty((n, cap), dtype=np.int64)
        self.cross_d = np.empty((n, cap), dtype=np.int64)
        self.n_cross = np.zeros(n, dtype=np.int64)
        self.all = np.arange(n)
        self.no_g = np.zeros((0, n))
        self.blocks = _Blocks(n, threads)
        self.width = width

    def lanes(self, cols: NDArray) -> NDArray:
        return cols

    def g_at(self, cols: NDArray) -> NDArray:
        pain = self.model.pain_of(self.y[:, cols], self.P[:, cols])
        return np.ascontiguousarray(pain[None, :] - self.levels[:, cols])

    def moved(self, cols: NDArray) -> None:
        pass  # advance() reads each lane's next stop from the table

    def begin(self) -> bool:
        return True  # the loop computes the first derivative and step (``fresh``)

    def running(self) -> bool:
        ls = self.lane_state
        return bool(np.any((ls == _RUNNING) | (ls == _CHECK_FIRST)))

    def stops_at_start(self) -> None:
        if not self.inline:
            super().stops_at_start()
        elif self.has_g:  # the loop applies the stops at t0 and logs their jumps
            self.g_prev = self.g_at(self.all)

    def advance(self) -> NDArray:
        g = self.g_prev if self.has_g else self.no_g
        st, e = self.stops, self.effects

        def run(lo: int, hi: int) -> None:
            self.loop(self.t, self.y, self.f, self.h, self.rej_before, self.fresh,
                      self.lane_state, st.times, st.ptr, st.count, self.inline, e.start,
                      e.count, e.code, e.index, e.value, e.lo, e.hi, self.t1, self.P,
                      self.levels, g, self.t_eval,
                      self.eval_ptr, self.Y, self.steps, self.rejs, self.nfev, self.cross_t,
                      self.cross_w, self.cross_d, self.n_cross, self.rtol, self.atol,
                      self.max_step, int(self.max_steps), lo, hi, self.width)

        self.blocks(run)
        n_cross = self.n_cross
        if n_cross.any():  # hand the crossing buffers to the log
            has = np.flatnonzero(n_cross)
            cnt = n_cross[has]
            lane = np.repeat(has, cnt)
            col = np.arange(lane.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            self.log.add((lane, self.cross_w[lane, col], self.cross_t[lane, col],
                          self.cross_d[lane, col]))
            n_cross[:] = 0
        self.lane_state[self.lane_state == _BUFFER_FULL] = _RUNNING
        self.on = np.flatnonzero(self.lane_state == _AT_STOP)  # after() reads it too
        return self.on

    def restart(self, cols: NDArray) -> None:
        self.fresh[cols] = True  # the loop restarts them as new initial-value problems

    def after(self) -> None:
        ls = self.lane_state
        ls[self.on] = _CHECK_FIRST  # the loop runs its end-of-step checks first
        at_end = np.flatnonzero(ls == _STOP_AT_END)
        if at_end.size:
            self.apply(at_end[self.stops.next_time(at_end) <= self.t1])
            ls[at_end] = _CHECK_FIRST  # the loop finds t >= t1 and finishes

    def result(self) -> Solution:
        return self.solution(self.Y[None], self.t_eval, self.t, self.y, self.lane_state,
                             self.steps, self.rejs, int(self.nfev.sum()))


class _Blocks:
    """Runs ``fn(lo, hi)`` over ``n`` lanes: at once with 1 thread, else on blocks of
    lanes in a pool of ``threads`` threads (the compiled loop releases the GIL). Blocks
    are interleaved (small ones, ``_BLOCK`` lanes), so a thread that gets slow lanes
    does not hold up the others; each lane is advanced by exactly one call, so the
    numbers do not depend on ``threads``."""

    def __init__(self, n: int, threads: int) -> None:
        self.n, self.threads = n, max(1, min(int(threads), -(-n // _BLOCK)))
        self.pool = None
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="painsim")

    def __call__(self, fn: Callable[[int, int], None]) -> None:
        if self.pool is None:
            fn(0, self.n)
            return
        futures = [self.pool.submit(fn, lo, min(lo + _BLOCK, self.n))
                   for lo in range(0, self.n, _BLOCK)]
        for fut in futures:
            fut.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
