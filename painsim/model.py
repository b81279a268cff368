"""Models as data: named states, named parameters with units and ranges, and a
vectorized right-hand side.

The built-in pain-loop model (:mod:`painsim.painloop`) is defined with exactly these
pieces, so a user's own model runs on the same solver (and the same engine) in the
same way.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .compiled import LaneForm
from .errors import ParameterError, check_type, did_you_mean
from .solver import Solution, integrate

__all__ = ["Model", "ModelSolution", "Parameter", "ParameterSet", "State"]


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """A named state variable of a model.

    Parameters
    ----------
    name : str
        Identifier used in code, scenario files and outputs (a Python identifier).
    unit : str
        Unit of the state (``"1"`` for dimensionless).
    description : str
        What it means, in one sentence.
    initial : float
        Default initial value.
    lower, upper : float
        Bounds the dynamics keep it in (used by tests and checks, not enforced by
        clipping).
    """

    name: str
    unit: str
    description: str
    initial: float = 0.0
    lower: float = 0.0
    upper: float = math.inf

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"state name must be an identifier, got {self.name!r}")
        if not self.lower <= self.initial <= self.upper:
            raise ValueError(f"state {self.name!r}: initial {self.initial} outside "
                             f"[{self.lower}, {self.upper}]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """A named model parameter with its unit, allowed range and basis.

    Parameters
    ----------
    name : str
        Identifier (a Python identifier).
    default : float
        Default value, in ``unit``.
    unit : str
        Unit (``"1"`` for dimensionless, ``"day"`` for times, ``"pain"`` for 0–10).
    description : str
        Meaning, in one sentence.
    bounds : (float, float)
        Allowed closed range; values outside raise :class:`~painsim.errors.ParameterError`.
    plausible : (float, float)
        Range supported by the literature or by the model's intended behaviour;
        documentation, and the range random tests sample from.
    basis : str
        Where the value or range comes from.
    per_patient : bool
        ``True`` (default): the value may differ between patients and reaches ``rhs``
        and ``pain`` as an array with one value per lane. ``False``: a cohort-wide
        constant; it reaches them as a plain float (usable in Python control flow, e.g.
        an integer Hill exponent), and per-patient values of it (a phenotype's spread, a
        table column, a session effect) are refused.
    """

    name: str
    default: float
    unit: str
    description: str
    bounds: tuple[float, float]
    plausible: tuple[float, float]
    basis: str = ""
    per_patient: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"parameter name must be an identifier, got {self.name!r}")
        check_type(f"Parameter({self.name}).per_patient", self.per_patient, bool,
                   "True or False")
        lo, hi = self.bounds
        plo, phi = self.plausible
        if not (lo <= plo <= phi <= hi and lo <= self.default <= hi):
            raise ValueError(f"parameter {self.name!r}: need bounds[0] <= plausible <= "
                             f"bounds[1] and default within bounds")

    @property
    def allowed(self) -> str:
        """The allowed range as text, with the unit."""
        return f"[{_fmt(self.bounds[0])}, {_fmt(self.bounds[1])}] {self.unit}"

    def validate(self, value: ArrayLike) -> float | NDArray[np.float64]:
        """Return ``value`` as a float (or a 1-D float array, one per lane) if allowed.

        Raises
        ------
        ParameterError
            If ``value`` is not numeric, not finite, or outside ``bounds``.
        """
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(self.name, value, self.allowed, why="is not a number") from None
        if arr.ndim > 1:
            raise ParameterError(self.name, f"array of shape {arr.shape}", self.allowed,
                                 why="must be a number or a 1-D array (one per patient)")
        if not np.all(np.isfinite(arr)):
            bad = arr if arr.ndim == 0 else arr[~np.isfinite(arr)][0]
            raise ParameterError(self.name, float(bad), self.allowed, why="is not finite")
        lo, hi = self.bounds
        out = (arr < lo) | (arr > hi)
        if np.any(out):
            bad = arr if arr.ndim == 0 else arr[out][0]
            raise ParameterError(self.name, float(bad), self.allowed)
        if arr.ndim == 0:
            return float(arr)
        if not self.per_patient:
            if arr.size and np.all(arr == arr[0]):
                return float(arr[0])
            raise ParameterError(self.name, "per-patient values", f"one number in "
                                 f"{self.allowed}", why="is a cohort-wide constant "
                                 "(Parameter.per_patient=False)")
        arr = arr.copy()
        arr.setflags(write=False)
        return arr


class ParameterSet(Mapping[str, Any]):
    """An immutable, validated set of parameter values for one model.

    Each value is a float, or a read-only 1-D array with one value per lane (patient).
    Read values as attributes (``p.tau_S``) or items (``p["tau_S"]``); change them
    with :meth:`replace`, which returns a new validated set.
    """

    __slots__ = ("_model", "_values")

    def __init__(self, model: Model, values: Mapping[str, Any] | None = None) -> None:
        given = dict(values or {})
        unknown = [k for k in given if k not in model.parameter_index]
        if unknown:
            k = unknown[0]
            hint = did_you_mean(k, model.parameter_names)
            raise ParameterError(k, given[k], ", ".join(model.parameter_names),
                                 why=f"is not a parameter of model {model.name!r}{hint}")
        vals: dict[str, Any] = {}
        for par in model.parameters:
            vals[par.name] = par.validate(given.get(par.name, par.default))
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_values", vals)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("ParameterSet is immutable; use .replace(name=value)")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v if np.ndim(v) == 0 else '<array>'}"
                          for k, v in self._values.items())
        return f"ParameterSet({self._model.name}: {inner})"

    @property
    def model(self) -> Model:
        """The model these values belong to."""
        return self._model

    def replace(self, **changes: Any) -> ParameterSet:
        """Return a new set with ``changes`` applied and validated."""
        return ParameterSet(self._model, {**self._values, **changes})

    @property
    def n_lanes(self) -> int | None:
        """Lanes implied by array values (``None`` if every value is a scalar)."""
        sizes = {np.size(v) for v in self._values.values() if np.ndim(v) == 1}
        if len(sizes) > 1:
            raise ParameterError("(several)", sorted(sizes), "one common length",
                                 why="per-lane arrays have different lengths")
        return sizes.pop() if sizes else None

    def as_array(self, n_lanes: int) -> NDArray[np.float64]:
        """Values as an array of shape ``(n_parameters, n_lanes)``, in model order."""
        out = np.empty((len(self._values), n_lanes))
        for i, v in enumerate(self._values.values()):
            if np.ndim(v) == 1 and np.size(v) != n_lanes:
                raise ParameterError(self._model.parameters[i].name, f"{np.size(v)} values",
                                     f"one value or {n_lanes} values (one per lane)")
            out[i] = v
        return out


@dataclass(frozen=True, slots=True)
class ModelSolution:
    """A solved model: solver output plus named access and the pain read-out.

    Attributes
    ----------
    model : Model
        The model that was solved.
    params : ParameterSet
        Its parameter values.
    solution : Solution
        The raw solver result (``y`` has shape ``(n_states, n_lanes, n_eval)``; with
        ``save=`` it holds the saved quantities instead, shape ``(n_saved, n_lanes,
        n_eval)``).
    pain : ndarray, shape (n_lanes, n_eval)
        Pain on 0–10 at the output times.
    saved : bool
        Whether ``solution.y`` holds quantities chosen with ``save=`` rather than states.
    """

    model: Model
    params: ParameterSet
    solution: Solution
    pain: NDArray[np.float64]
    saved: bool = False

    @property
    def t(self) -> NDArray[np.float64]:
        """Output times, days, shape ``(n_eval,)``."""
        return self.solution.t

    def state(self, name: str) -> NDArray[np.float64]:
        """Trajectory of one named state, shape ``(n_lanes, n_eval)``."""
        if self.saved:
            raise ValueError(f"state {name!r} was not kept: this solution saved only the "
                             "quantities chosen with save=; solve without save= to keep "
                             "every state")
        return self.solution.y[self.model.index(name)]


@functools.lru_cache(maxsize=64)
def _ids(model_name: str, names: tuple[str, ...]) -> Any:
    cls = collections.namedtuple(f"{model_name.replace('-', '_')}_ids", names,
                                 rename=True)  # type: ignore[misc]
    return cls(*range(len(names)))


def _first_disagreement(got: NDArray, want: NDArray) -> int | None:
    """The first draw where a lane form's value differs from the vectorized one by more
    than rounding: 64 ulps of the largest magnitude over the draws (NaN differs)."""
    tol = 64 * np.finfo(float).eps * max(np.abs(want).max(), np.finfo(float).tiny)
    bad = np.flatnonzero(~(np.abs(got - want) <= tol))
    return int(bad[0]) if bad.size else None


def _namespace(model: Model, P: NDArray[np.float64]) -> SimpleNamespace:
    """Packed parameters by name: rows for per-patient ones, floats for constants."""
    ns = dict(zip(model.parameter_names, P, strict=True))
    for i, par in enumerate(model.parameters):
        if not par.per_patient:  # every lane holds the same value (ParameterSet checks)
            ns[par.name] = float(P[i].flat[0]) if P[i].size else par.default
    return SimpleNamespace(**ns)


@dataclass(frozen=True, kw_only=True)
class Model:
    """A pain model: named states and parameters and a right-hand side over lanes.

    Parameters
    ----------
    name : str
        Short name.
    states : tuple of State
        The state variables, in the order of ``y``'s first axis.
    parameters : tuple of Parameter
        The parameters, in a fixed order.
    rhs : callable
        ``rhs(t, y, p) -> dy/dt`` in units per day, with ``t`` of shape ``(m,)`` (days),
        ``y`` of shape ``(n_states, m)``, and ``p`` a namespace whose attributes are
        the parameters as arrays of shape ``(m,)``. It returns an array (or a sequence
        of ``n_states`` arrays) of shape ``(n_states, m)``.
    pain : callable
        ``pain(y, p) -> P`` with ``y`` of shape ``(n_states, ...)`` and ``p`` as above,
        returning pain on 0–10 of shape ``y.shape[1:]``.
    equations : str
        The equations in plain text, shown by ``painsim describe``.
    references : tuple of str
        Literature the structure and values rest on.
    pulses : dict of str to callable, optional
        Named impulses an intervention can give, ``pulse(y, P, dose) -> y_new`` with
        ``y`` of shape ``(n_states, m)`` and packed parameters ``P`` of shape
        ``(n_parameters, m)`` (e.g. the pain-loop model's ``"analgesia"``).
    lane_form : LaneForm, optional
        The same right-hand side and pain read-out written for one lane in a form Numba
        compiles (:class:`painsim.compiled.LaneForm`); enables ``backend="numba"`` in
        :func:`painsim.simulate`. It must compute the same functions as ``rhs`` and
        ``pain`` (and its ``pulses`` the same as ``pulses``; :meth:`check`).
    starts : mapping of str to mapping of str to float, optional
        Named starting points a cohort's phenotypes may ask for (``Phenotype.start``):
        state values, by name, that replace the states' ``initial`` values at the start
        of the run-in (e.g. the pain-loop model's ``"sensitized"``). ``"pain_free"`` is
        always the states' ``initial`` values and needs no entry.
    injury_state : str, optional
        The state a phenotype's ``injury`` is added to at day 0 (the pain-loop model's
        tissue drive ``"D"``); ``None`` when the model has no such state, and a cohort
        that asks for an injury then gets an error.

    Examples
    --------
    A one-state model: pain decays from 6 with a per-patient rate.

    >>> import numpy as np, painsim
    >>> m = painsim.Model(
    ...     name="decay",
    ...     states=(painsim.State(name="x", unit="pain", description="pain", initial=6.0),),
    ...     parameters=(painsim.Parameter(name="k", default=0.1, unit="1/day",
    ...                 description="recovery rate", bounds=(0, 10), plausible=(0.01, 1)),),
    ...     rhs=lambda t, y, p: -p.k * y,
    ...     pain=lambda y, p: y[0],
    ... )
    >>> sol = m.solve((0, 30), m.params(k=np.array([0.05, 0.1])), t_eval=[30])
    >>> np.round(sol.pain[:, -1], 3)                      # 6 exp(-30 k), pain 0-10
    array([1.339, 0.299])
    """

    name: str
    states: tuple[State, ...]
    parameters: tuple[Parameter, ...]
    rhs: Callable[..., Any]
    pain: Callable[..., Any]
    equations: str = ""
    references: tuple[str, ...] = ()
    pulses: dict[str, Callable[..., Any]] = field(default_factory=dict)
    lane_form: LaneForm | None = None
    starts: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    injury_state: str | None = None
    state_index: dict[str, int] = field(init=False, repr=False, compare=False)
    parameter_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sn = [s.name for s in self.states]
        pn = [p.name for p in self.parameters]
        for kind, names in (("state", sn), ("parameter", pn)):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"model {self.name!r}: duplicate {kind} names {sorted(dup)}")
        if not sn:
            raise ValueError(f"model {self.name!r} has no states")
        object.__setattr__(self, "state_index", {n: i for i, n in enumerate(sn)})
        object.__setattr__(self, "parameter_index", {n: i for i, n in enumerate(pn)})
        by_name = {st.name: st for st in self.states}
        for start, values in self.starts.items():
            if start == "pain_free":
                raise ValueError(f"model {self.name!r}: start 'pain_free' is the states' "
                                 "initial values and cannot be redefined")
            for k, v in values.items():
                if k not in by_name:
                    raise ValueError(f"model {self.name!r}: start {start!r} sets unknown "
                                     f"state {k!r}; states: {', '.join(sn)}")
                st = by_name[k]
                if not (math.isfinite(v) and st.lower <= v <= st.upper):
                    raise ValueError(f"model {self.name!r}: start {start!r} sets {k} = "
                                     f"{v!r}, outside [{st.lower:g}, {st.upper:g}]")
        if self.injury_state is not None and self.injury_state not in by_name:
            raise ValueError(f"model {self.name!r}: injury_state {self.injury_state!r} is "
                             f"not a state; states: {', '.join(sn)}")

    @functools.cached_property
    def state_names(self) -> tuple[str, ...]:
        """State names in ``y`` order (computed once: called on every rhs evaluation)."""
        return tuple(s.name for s in self.states)

    @functools.cached_property
    def parameter_names(self) -> tuple[str, ...]:
        """Parameter names in array order (computed once: called on every rhs
        evaluation)."""
        return tuple(p.name for p in self.parameters)

    def index(self, state: str) -> int:
        """Row of ``state`` in ``y``; raises ``KeyError`` naming the known states."""
        try:
            return self.state_index[state]
        except KeyError:
            raise KeyError(f"model {self.name!r} has no state {state!r}; states: "
                           f"{', '.join(self.state_names)}") from None

    def params(self, **values: Any) -> ParameterSet:
        """Validated parameter values: defaults, overridden by ``values``.

        A value may be a number or a 1-D array with one value per lane (patient).
        """
        return ParameterSet(self, values)

    def initial_state(self, n_lanes: int = 1, **values: ArrayLike) -> NDArray[np.float64]:
        """Initial states, shape ``(n_states, n_lanes)``: defaults, overridden by name."""
        y = np.array([[s.initial] for s in self.states], dtype=float).repeat(n_lanes, axis=1)
        for k, v in values.items():
            y[self.index(k)] = v
        return y

    def describe(self) -> str:
        """The model in words: equations, states, parameters (unit, default, ranges,
        basis) and references, as printed by ``painsim describe``."""
        out = [f"Model {self.name!r}", ""]
        if self.equations:
            out += ["Equations", "---------", self.equations.rstrip(), ""]
        out += ["States", "------"]
        w = max(len(s.name) for s in self.states)
        for s in self.states:
            rng = f"[{_fmt(s.lower)}, {_fmt(s.upper)}]"
            out.append(f"  {s.name:<{w}}  unit {s.unit:<4} range {rng:<11} {s.description}")
        out += ["", "Parameters", "----------"]
        w = max(len(p.name) for p in self.parameters)
        out.append(f"  {'name':<{w}}  {'default':>9}  {'unit':<5} {'plausible':<16} "
                   f"{'allowed':<15} meaning [basis]")
        for p in self.parameters:
            pl = f"{_fmt(p.plausible[0])}-{_fmt(p.plausible[1])}"
            al = f"{_fmt(p.bounds[0])}-{_fmt(p.bounds[1])}"
            basis = f" [{p.basis}]" if p.basis else ""
            out.append(f"  {p.name:<{w}}  {p.default:>9.4g}  {p.unit:<5} {pl:<16} {al:<15} "
                       f"{p.description}{basis}")
        if self.references:
            out += ["", "References", "----------"] + [f"  - {r}" for r in self.references]
        return "\n".join(out)

    @property
    def ids(self) -> Any:
        """Parameter positions by name, for a lane form: ``p[m.ids.theta0]``.

        A named tuple of ints (model order). Close over it in the functions of a
        :class:`~painsim.compiled.LaneForm` so the compiled code names parameters
        instead of numbering them; Numba freezes it as constants.

        Examples
        --------
        >>> import painsim
        >>> painsim.PAIN_LOOP.ids.tau_D
        0
        """
        return _ids(self.name, self.parameter_names)

    def check(self, n: int = 64, *, seed: int = 0) -> None:
        """Check that the lane form computes the same functions as ``rhs`` and ``pain``.

        Draws ``n`` states (uniform within each state's bounds; up to ``initial + 10``
        where unbounded above) and parameter sets (uniform over each parameter's
        plausible range), and compares the lane form, called as plain Python, with the
        vectorised ``rhs`` and ``pain`` (and each lane-form pulse with the model's pulse
        of that name, at one dose). They must agree to rounding: 64 ulps of the
        largest magnitude of each state's derivative (or of pain, or of each state after
        the pulse) over the draws.
        :func:`painsim.simulate` runs this before it trusts a lane form with
        ``backend="numba"``.

        Raises
        ------
        ValueError
            Naming the first state (or pain) that disagrees, the draw and both values;
            or when the model has no lane form.
        """
        if self.lane_form is None:
            raise ValueError(f"model {self.name!r} has no lane_form to check")
        rng = np.random.default_rng(seed)
        y = np.stack([rng.uniform(s.lower, s.upper if math.isfinite(s.upper)
                                  else max(s.initial, s.lower) + 10.0, n)
                      for s in self.states])
        P = np.stack([rng.uniform(*p.plausible, n) if p.per_patient
                      else np.full(n, rng.uniform(*p.plausible)) for p in self.parameters])
        t = rng.uniform(0.0, 365.0, n)
        want = self.lane_rhs(t, y, P)
        pain_want = self.pain_of(y, P)
        got = np.empty_like(want)
        pain_got = np.empty(n)
        for i in range(n):
            dy = np.zeros(len(self.states))
            self.lane_form.rhs(float(t[i]), y[:, i].copy(), P[:, i].copy(), dy)
            got[:, i] = dy
            pain_got[i] = self.lane_form.pain(y[:, i].copy(), P[:, i].copy())
        for k, name in enumerate(self.state_names):
            i = _first_disagreement(got[k], want[k])
            if i is not None:
                raise ValueError(
                    f"model {self.name!r}: lane_form.rhs disagrees with rhs for d{name}/dt "
                    f"at draw {i} (t={t[i]:.6g}): {got[k, i]!r} vs {want[k, i]!r}; "
                    "the two must compute the same function")
        i = _first_disagreement(pain_got, pain_want)
        if i is not None:
            raise ValueError(f"model {self.name!r}: lane_form.pain disagrees with pain at "
                             f"draw {i}: {pain_got[i]!r} vs {pain_want[i]!r}")
        for name, fn in self.lane_form.pulses:
            self._check_lane_pulse(name, fn, y, P, float(rng.uniform(0.5, 2.0)))

    def _check_lane_pulse(self, name: str, fn: Any, y: NDArray, P: NDArray,
                          dose: float) -> None:
        if name not in self.pulses:
            raise ValueError(f"model {self.name!r}: lane_form.pulses has {name!r}, which "
                             "is not one of the model's pulses ("
                             + (", ".join(self.pulses) or "it has none") + ")")
        want = np.asarray(self.pulses[name](y.copy(), P.copy(), dose), dtype=float)
        got = y.copy()
        for i in range(y.shape[1]):
            col = got[:, i].copy()
            fn(col, P[:, i].copy(), dose)
            got[:, i] = col
        for k, state in enumerate(self.state_names):
            i = _first_disagreement(got[k], want[k])
            if i is not None:
                raise ValueError(
                    f"model {self.name!r}: lane_form.pulses[{name!r}] disagrees with "
                    f"pulses[{name!r}] for {state} at draw {i} (dose {dose:.6g}): "
                    f"{got[k, i]!r} vs {want[k, i]!r}; the two must compute the same "
                    "function")

    def lane_rhs(self, t: NDArray, y: NDArray, P: NDArray) -> NDArray[np.float64]:
        """The right-hand side on a packed parameter array ``P`` (n_parameters, m)."""
        return np.asarray(self.rhs(t, y, _namespace(self, P)), dtype=float)

    def pain_of(self, y: NDArray, params: ParameterSet | NDArray) -> NDArray[np.float64]:
        """Pain (0–10) of states ``y`` of shape ``(n_states, n_lanes, ...)``."""
        if isinstance(params, ParameterSet):
            P = params.as_array(y.shape[1])
        else:
            P = np.asarray(params, dtype=float)
        P = P.reshape(P.shape + (1,) * (y.ndim - 2))
        return np.asarray(self.pain(y, _namespace(self, P)), dtype=float)

    def solve(
        self,
        t_span: tuple[float, float],
        params: ParameterSet | None = None,
        y0: ArrayLike | None = None,
        *,
        n_lanes: int | None = None,
        t_eval: ArrayLike | None = None,
        stops: ArrayLike | None = None,
        on_stop: Callable[..., ArrayLike] | None = None,
        **solver_options: Any,
    ) -> ModelSolution:
        """Solve the model for one or many lanes (patients) with :func:`painsim.integrate`.

        Parameters
        ----------
        t_span : (float, float)
            Start and end, days.
        params : ParameterSet, optional
            Values (scalars shared by all lanes, or arrays with one value per lane).
            Defaults to the model's defaults.
        y0 : array_like, shape (n_states, n_lanes), optional
            Initial states; defaults to :meth:`initial_state`.
        n_lanes : int, optional
            Number of lanes when neither ``params`` nor ``y0`` implies it (default 1).
        t_eval, stops, on_stop, **solver_options
            Passed to :func:`painsim.integrate`. ``on_stop`` receives the lanes' states
            and lane indices; :meth:`ParameterSet.as_array` gives their parameters.
            ``save(t, y, P) -> q`` (with ``P`` the lanes' parameter rows) keeps only
            ``q`` at the output times (memory); pain is kept beside it.

        Returns
        -------
        ModelSolution
            Trajectories and pain (0–10) at ``t_eval``.
        """
        params = self.params() if params is None else params
        if params.model is not self:
            raise ValueError(f"params belong to model {params.model.name!r}, "
                             f"not {self.name!r}")
        if y0 is not None:
            y0 = np.asarray(y0, dtype=float)
            if y0.ndim == 1:
                y0 = y0[:, None]
        n = (y0.shape[1] if y0 is not None and y0.ndim == 2 else None) or params.n_lanes \
            or n_lanes or 1
        if y0 is None:
            y0 = self.initial_state(n)
        if y0.shape[0] != len(self.states):
            raise ValueError(f"y0 has {y0.shape[0]} rows; model {self.name!r} has "
                             f"{len(self.states)} states ({', '.join(self.state_names)})")
        P = params.as_array(n)
        save = solver_options.pop("save", None)
        if save is None:
            sol = integrate(self.lane_rhs, t_span, y0, args=(P,), t_eval=t_eval,
                            stops=stops, on_stop=on_stop, **solver_options)
            return ModelSolution(model=self, params=params, solution=sol,
                                 pain=self.pain_of(sol.y, P))
        if not callable(save):
            raise ParameterError("save", save, "a callable save(t, y, P) -> (n_saved, m)")

        def with_pain(t: NDArray, y: NDArray, P_: NDArray) -> NDArray[np.float64]:
            # pain is computed from the states before they are dropped
            q = np.asarray(save(t, y, P_), dtype=float)
            return np.concatenate([self.pain_of(y, P_)[None], q.reshape(-1, y.shape[1])])

        sol = integrate(self.lane_rhs, t_span, y0, args=(P,), t_eval=t_eval, stops=stops,
                        on_stop=on_stop, save=with_pain, **solver_options)
        kept = dataclasses.replace(sol, y=sol.y[1:])
        return ModelSolution(model=self, params=params, solution=kept, pain=sol.y[0],
                             saved=True)
