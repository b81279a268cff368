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
    """

    def __init__(self, name: str, value: Any, allowed: str, *, why: str = "") -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        reason = why or "is out of range"
        super().__init__(f"parameter {name!r} = {value!r} {reason}; allowed: {allowed}")


class ScenarioError(PainsimError, ValueError):
    """A scenario file or scenario object is invalid (reserved for the scenario layer)."""


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
