"""Settings as data: the type, range, unit and meaning of each setting, written once.

A setting of an API object (a schedule, a protocol, the outcome definitions) is a
dataclass field whose metadata holds a :class:`Key`::

    every_days: float = setting(7.0, "Interval between visits.", 1 / 24, 3652.5,
                                type="duration", file="every", written="1 week")

The object checks itself with :func:`check_settings`; a scenario file's table is the
same keys read by :func:`keys_of` (``painsim.scenario`` checks files against them, and
``scenarios/REFERENCE.md`` is written from them). So the API, ``painsim check``,
``painsim run`` and the reference enforce one set of rules. Rules that tie two
settings together (a relapse level above the relief level) stay in the object's own
``__post_init__``, which the loader calls too.

A :class:`Key` describes the *file's* view of a setting: durations are strings with a
unit there (``"1 week"``) and days in the API (``7.0``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError, check_number

__all__ = ["MAX_DAY", "MAX_INTERVAL_DAYS", "MAX_REPORT_DAY", "Key", "check_arguments",
           "check_settings", "check_value", "keys_of", "setting"]

#: Latest day of a study (horizon, visits, outcome days): 100 years of 365 days.
MAX_DAY = 36500.0
#: Longest interval between two visits, and longest run-in (days): 10 years.
MAX_INTERVAL_DAYS = 3652.5
#: Latest day an outcome may be reported at, counted from day 0 or from a recovery:
#: 100 years of 365.25 days.
MAX_REPORT_DAY = 36525.0


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: its type, unit, default, allowed range or values, meaning.

    ``type`` is the file's type: ``"int"``, ``"float"``, ``"str"``, ``"bool"``,
    ``"duration"`` (a string with a unit in a file, days in the API), ``"durations"``
    (a list of them), ``"table"`` or ``"list"``. ``file`` is the key's name in a
    scenario file where it differs from the field's name; ``whole`` asks the API for
    whole days (a file's value is rounded to one).
    """

    type: str
    doc: str
    default: Any = None
    lo: float = -math.inf
    hi: float = math.inf
    unit: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    entries: dict[str, Key] | None = None  # a table with known keys: the keys' schema
    nonempty: bool = False  # a string that must not be blank
    file: str = ""
    whole: bool = False

    def allowed(self) -> str:
        """The allowed values as text: choices, or type and range with the unit."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type in ("int", "float", "duration", "durations"):
            def num(v: float) -> str:
                if math.isinf(v):
                    return "inf" if v > 0 else "-inf"
                return str(int(v)) if self.type == "int" else f"{v:g}"
            lo, hi = num(self.lo), num(self.hi)
            u = " days" if self.type in ("duration", "durations") else (
                f" {self.unit}" if self.unit else "")
            return f"{self.type} in [{lo}, {hi}]{u}"
        return self.type


def setting(default: Any, doc: str, lo: float = -math.inf, hi: float = math.inf,
            unit: str = "", *, type: str = "float", file: str = "",
            written: Any = None, whole: bool = False) -> Any:
    """A dataclass field with its :class:`Key`: the default in API units (days), the
    meaning, the allowed range ``[lo, hi]`` and the unit.

    ``written`` is how a scenario file writes the default (``"1 week"`` for 7 days),
    or a file's default where the API has none (``dataclasses.MISSING``: a required
    argument); a default of ``None`` means "off" (the setting is optional).
    """
    shown = (list(default) if type == "durations" else default) if written is None else written
    key = Key(type, doc, shown, lo, hi, unit, file=file, whole=whole)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"key": key})
    value = tuple(default) if isinstance(default, list) else default
    return dataclasses.field(default=value, metadata={"key": key})


def keys_of(cls: type) -> dict[str, Key]:
    """The :class:`Key` s of a dataclass's settings, by their names in a file."""
    return {(f.metadata["key"].file or f.name): f.metadata["key"]
            for f in dataclasses.fields(cls) if "key" in f.metadata}


def _days(name: str, v: Any, key: Key) -> None:
    check_number(name, v, key.lo, key.hi, " day")
    if key.whole and not float(v).is_integer():
        raise ParameterError(name, v, f"a whole day in [{key.lo:g}, {key.hi:g}] (the save "
                             "grid is daily)", why="is not a whole day")


def check_value(name: str, v: Any, key: Key, *, optional: bool = False) -> None:
    """Check one value of a setting against its :class:`Key` (API units: days).

    Raises :class:`~painsim.errors.ParameterError` naming ``name``, the value and the
    allowed range with its unit; ``None`` passes where ``optional``.
    """
    if v is None and optional:
        return
    unit = f" {key.unit}" if key.unit else ""
    if key.type == "int":
        check_number(name, v, key.lo, key.hi, unit, integer=True)
    elif key.type == "float":
        check_number(name, v, key.lo, key.hi, unit)
    elif key.type == "duration":
        _days(name, v, key)
    elif key.type == "bool":
        if not isinstance(v, bool):
            raise ParameterError(name, v, "True or False", why="is not a boolean")
    elif key.type == "durations":
        if not isinstance(v, tuple | list):
            raise ParameterError(name, v, "a tuple of days", why="is not a tuple")
        for d in v:
            _days(name, d, key)
    else:  # pragma: no cover - a coding error in a setting's declaration
        raise AssertionError(f"{name}: no API check for type {key.type!r}")


def check_settings(obj: Any) -> None:
    """Check every setting of the dataclass ``obj`` against its :class:`Key`.

    Raises :class:`~painsim.errors.ParameterError` naming ``Class.field``, the value
    and the allowed range with its unit. ``None`` is allowed where the default is
    ``None``.
    """
    owner = type(obj).__name__
    for f in dataclasses.fields(obj):
        if "key" in f.metadata:
            check_value(f"{owner}.{f.name}", getattr(obj, f.name), f.metadata["key"],
                        optional=f.default is None)


def check_arguments(owner: str, keys: dict[str, Key], values: dict[str, Any]) -> None:
    """Check a function's keyword arguments against their :class:`Key` s (a factory
    such as :func:`painsim.interventions.dry_needling` calls it first); an argument
    whose key has no default (``None``) may be ``None``."""
    for name, key in keys.items():
        check_value(f"{owner}.{name}", values[name], key, optional=key.default is None)
