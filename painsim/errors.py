"""One error hierarchy for painsim.

Every error carries the facts that caused it as attributes, so programs can react to
them and the CLI can print them without a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PainsimError", "ParameterError", "ScenarioError", "SolverError"]


class PainsimError(Exception):
    """Base class of every error painsim raises on purpose."""


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
        super().__init__(f"parameter {name!r} = {value!r} {reason}; allowed: {allowed}")


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


def check_number(name: str, value: Any, lo: float, hi: float, unit: str = "") -> None:
    """Raise :class:`ParameterError` unless ``value`` is a finite number in [lo, hi].

    Booleans are refused (``True`` is not a dose), and so are non-numbers.
    """
    import math

    if isinstance(value, bool) or not (isinstance(value, int | float)
                                       and math.isfinite(value) and lo <= value <= hi):
        raise ParameterError(name, value, f"[{lo:g}, {hi:g}]{unit}")


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
