"""One error hierarchy for painsim.

Every error carries the facts that caused it as attributes, so programs can react to
them and the CLI can print them without a traceback.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["PainsimError", "ParameterError", "ScenarioError", "ScenarioWarning",
           "SolverError"]


class PainsimError(Exception):
    """Base class of every error painsim raises on purpose."""


class ScenarioWarning(UserWarning):
    """A scenario that runs but may not do what its author meant, in one line
    (``file: dotted.path: what happens``); the CLI prints it as ``warning: ...``."""


class ParameterError(PainsimError, ValueError):
    """A model parameter is unknown, non-finite or outside its allowed range.

    Attributes
    ----------
    name : str
        The parameter's name.
    value : Any
        The offending value.
    allowed : str
        The allowed values or range, with units.
    why : str
        What is wrong with it (``"is out of range"``, ``"is not finite"``, ...).
    """

    def __init__(self, name: str, value: Any, allowed: str, *, why: str = "") -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        reason = why or "is out of range"
        self.why = reason
        super().__init__(f"parameter {name!r} = {short_repr(value)} {reason}; "
                         f"allowed: {allowed}")


class ScenarioError(PainsimError, ValueError):
    """A scenario file is invalid.

    The message lists every problem found, one per line, as ``file: path: message``.

    Attributes
    ----------
    file : str
        The scenario file.
    problems : list of (str, str)
        Dotted path (``arms[1].schedule.every``) and message of each problem.
    """

    def __init__(self, message: str, *, file: str = "",
                 problems: list[tuple[str, str]] | None = None) -> None:
        self.file = file
        self.problems = problems or [("", message)]
        super().__init__(message)


class SolverError(PainsimError, RuntimeError):
    """The integrator failed on at least one lane (patient).

    Attributes
    ----------
    lane : int
        Index of the first failing lane.
    t : float
        Time (days) at which it failed.
    state : numpy.ndarray
        The lane's last accepted state, shape ``(n_states,)``.
    status : int
        The lane's status code (see :class:`painsim.solver.Solution`).
    n_failed : int
        How many lanes failed in total.
    """

    def __init__(self, message: str, *, lane: int, t: float, state: Any, status: int,
                 n_failed: int = 1) -> None:
        self.lane = lane
        self.t = t
        self.state = state
        self.status = status
        self.n_failed = n_failed
        super().__init__(message)


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters.

    A message names the bad value, but a megabyte-long string or a list nested a
    thousand deep must not become the message.

    Examples
    --------
    >>> short_repr("x" * 100, limit=12)
    "'xxxxxxxx..."
    """
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _range(lo: float, hi: float, unit: str, integer: bool) -> str:
    what = "an integer" if integer else "a number"
    if math.isinf(lo) and math.isinf(hi):
        return f"a finite number{unit}"

    def num(v: float) -> str:
        return str(int(v)) if integer and math.isfinite(v) else f"{v:g}"

    return f"{what} in [{num(lo)}, {num(hi)}]{unit}"


def check_number(name: str, value: Any, lo: float, hi: float, unit: str = "", *,
                 integer: bool = False) -> None:
    """Raise :class:`ParameterError` unless ``value`` is a finite number in [lo, hi].

    Booleans are refused (``True`` is not a dose), and so are non-numbers; with
    ``integer`` only whole numbers of an integer type are allowed. The error names
    the argument, the value and the allowed range.

    Examples
    --------
    >>> check_number("dose", True, 0, 10)
    Traceback (most recent call last):
    ...
    painsim.errors.ParameterError: parameter 'dose' = True is a boolean, not a number; \
allowed: a number in [0, 10]
    """
    allowed = _range(lo, hi, unit, integer)
    if isinstance(value, bool | np.bool_):
        raise ParameterError(name, value, allowed, why="is a boolean, not a number")
    if integer and not isinstance(value, numbers.Integral):
        raise ParameterError(name, value, allowed, why="is not an integer")
    if not isinstance(value, numbers.Real):
        raise ParameterError(name, value, allowed, why="is not a number")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        finite = False
    if not finite:
        raise ParameterError(name, value, allowed, why="is not finite")
    if not lo <= value <= hi:
        raise ParameterError(name, value, allowed)


def check_text(name: str, value: Any, allowed: str = "a non-empty string") -> None:
    """Raise :class:`ParameterError` unless ``value`` is a non-blank string."""
    if not isinstance(value, str):
        raise ParameterError(name, value, allowed, why="is not a string")
    if not value.strip():
        raise ParameterError(name, value, allowed, why="is empty")


def check_type(name: str, value: Any, types: type | tuple[type, ...], allowed: str, *,
               optional: bool = False) -> None:
    """Raise :class:`ParameterError` unless ``value`` is an instance of ``types``
    (or ``None`` when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                 else (types,)):
        raise ParameterError(name, value, allowed, why="is a boolean")
    if not isinstance(value, types):
        raise ParameterError(name, value, allowed,
                             why=f"is of the wrong type ({type(value).__name__})")


def did_you_mean(name: str, options: list[str] | tuple[str, ...]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a misspelled ``name``, or ``""``.

    Matching ignores case first (``tau_s`` → ``tau_S``), then uses close spelling.
    """
    import difflib

    lowered = {o.lower(): o for o in options}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
