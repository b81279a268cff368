"""Hypothesis strategies shared by the property tests."""

import copy
import dataclasses
import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from painsim.painloop import PAIN_LOOP
from painsim.scenario import (
    MAINTENANCE_KIND,
    SCHEDULE_KIND,
    SCHEDULES,
    SCHEMA,
    TREATMENT_KIND,
    TREATMENTS,
    Key,
    parse_duration,
)


@st.composite
def plausible_params(draw, n_lanes: int = 1):
    """A ParameterSet with every value drawn from its documented plausible range."""
    values = {}
    for p in PAIN_LOOP.parameters:
        lo, hi = p.plausible
        vals = [draw(st.floats(lo, hi, allow_nan=False)) for _ in range(n_lanes)]
        values[p.name] = np.array(vals) if n_lanes > 1 else vals[0]
    return PAIN_LOOP.params(**values)


@st.composite
def initial_states(draw, n_lanes: int = 1):
    """Initial states within each state's range (pain-loop model)."""
    y = PAIN_LOOP.initial_state(n_lanes)
    f = st.floats(0.0, 3.0, allow_nan=False)
    for name in ("D", "I", "T", "A", "R"):
        y[PAIN_LOOP.index(name)] = [draw(f) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("S")] = [draw(st.floats(0.0, 1.0)) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("E_amp")] = [draw(st.floats(0.0, 2.0)) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("E_age")] = [draw(st.floats(0.0, 1.0)) for _ in range(n_lanes)]
    return y


session_times = st.lists(st.floats(0.0, 60.0, allow_nan=False), min_size=0, max_size=6).map(
    sorted)


# --- scenario files generated from the schema (painsim.scenario) ----------------------
# Every key the schema knows is a *slot*: its dotted path, its Key, and a small valid
# scenario that holds the key's table. The bad-input tests put values into a slot and
# expect the key's own path back; new keys are covered without new tests.

#: The smallest useful scenario: 2 patients, 20 days, one treated arm.
BASE_SCENARIO: dict[str, Any] = {
    "horizon": "20 days",
    "cohort": {"patients": 2, "run_in": "1 day"},
    "outputs": {"plots": False, "trajectories": False},
    "outcomes": {"bootstrap": 0},
    "arms": [{"name": "a", "treatment": [{"kind": "sham"}],
              "schedule": {"kind": "fixed", "every": "1 week", "sessions": 2}}],
}


@dataclass(frozen=True)
class Slot:
    """One key of the scenario schema: where it lives in a file, and its Key."""

    path: str  # dotted path as messages print it: arms[0].schedule.every
    where: tuple[Any, ...]  # keys and list indices from the document's root
    key: Key
    base: dict[str, Any]  # a valid scenario holding the key's table
    kind: str = ""  # the treatment or schedule kind whose key this is

    @property
    def label(self) -> str:
        """A unique name: the path, and the kind where paths repeat."""
        return f"{self.path}[{self.kind}]" if self.kind else self.path

    def doc(self, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """A copy of the base scenario with ``value`` at this slot."""
        d = copy.deepcopy(base if base is not None else self.base)
        node = d
        for part in self.where[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[self.where[-1]] = value
        return d


def _with_arm(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE_SCENARIO)
    d["arms"][0].update(changes)
    return d


def schema_slots() -> list[Slot]:
    """Every key of :data:`painsim.scenario.SCHEMA`, the treatments and the schedules."""
    slots = []
    for section, keys in SCHEMA.items():
        if section:  # the section itself: a table, or for arms an array of tables
            kind = "list" if section == "arms" else "table"
            slots.append(Slot(section, (section,), Key(kind, section), BASE_SCENARIO))
        for k, key in keys.items():
            if section == "arms":
                slots.append(Slot(f"arms[0].{k}", ("arms", 0, k), key, BASE_SCENARIO))
            else:
                where = (section, k) if section else (k,)
                slots.append(Slot(".".join(where), where, key, BASE_SCENARIO))
            for e, entry in (key.entries or {}).items():
                where = (section, k, e)
                slots.append(Slot(".".join(where), where, entry, BASE_SCENARIO))
    slots.append(Slot("arms[0].treatment[0].kind", ("arms", 0, "treatment", 0, "kind"),
                      TREATMENT_KIND, BASE_SCENARIO))
    for kind, (_, keys) in TREATMENTS.items():
        base = _with_arm(treatment=[{"kind": kind}])
        for k, key in keys.items():
            slots.append(Slot(f"arms[0].treatment[0].{k}", ("arms", 0, "treatment", 0, k),
                              key, base, kind))
    for table, kind_key in (("schedule", SCHEDULE_KIND), ("maintenance", MAINTENANCE_KIND)):
        base = _with_arm(maintenance={"kind": "fixed", "sessions": 1})
        slots.append(Slot(f"arms[0].{table}.kind", ("arms", 0, table, "kind"), kind_key, base))
        for kind, keys in SCHEDULES.items():
            if kind not in kind_key.choices:
                continue
            base = _with_arm(**{table: {"kind": kind}})
            for k, key in keys.items():
                slots.append(Slot(f"arms[0].{table}.{k}", ("arms", 0, table, k), key, base,
                                  kind))
    return slots


def toml_value(v: Any) -> str:
    """``v`` as an inline TOML value (tables inline, floats with nan/inf)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v)
                else repr(v))
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, _dt.datetime | _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {toml_value(x)}"
                                for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_document(doc: dict[str, Any]) -> str:
    """A scenario as TOML text: one ``key = value`` line per top-level key."""
    return "".join(f"{_toml_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


# Every kind of TOML value, nested a little: the junk pool the wrong values come from.
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
toml_scalars = st.one_of(
    _text, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.datetimes(min_value=_dt.datetime(1900, 1, 1)),
    st.dates(min_value=_dt.date(1900, 1, 1)), st.times())
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=6), inner, max_size=3),
    max_leaves=6)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fits(key: Key, v: Any) -> bool:
    """Whether a value of the junk pool would pass ``key`` (then it is no bad value)."""
    t = key.type
    if t == "int":
        return isinstance(v, int) and not isinstance(v, bool) and key.lo <= v <= key.hi
    if t == "float":
        return _is_number(v) and math.isfinite(v) and key.lo <= v <= key.hi
    if t == "str":
        return (isinstance(v, str) and (not key.nonempty or bool(v.strip()))
                and (not key.choices or v in key.choices))
    if t == "bool":
        return isinstance(v, bool)
    if t == "table":
        return isinstance(v, dict) and (key.entries is None or not v)
    if t == "list":
        return isinstance(v, list) and not v
    if t == "duration":
        try:
            d = parse_duration(v)
        except ValueError:
            return False
        return math.isfinite(d) and key.lo <= d <= key.hi
    if t == "durations":
        return isinstance(v, list) and all(_fits(as_type(key, "duration"), x) for x in v)
    raise AssertionError(t)


def _outside(key: Key) -> st.SearchStrategy:
    """Numbers just and far outside the key's range (``[]`` when it has none)."""
    out = []
    for edge, far, step in ((key.lo, -1e300, -1), (key.hi, 1e300, 1)):
        if math.isinf(edge):
            continue
        if key.type == "int":
            out.append(st.integers(int(edge) + step, int(edge) + step * 10**6)
                       if step > 0 else st.integers(int(edge) - 10**6, int(edge) - 1))
        else:
            out.append(st.floats(min(far, edge), max(far, edge), exclude_min=step > 0,
                                 exclude_max=step < 0))
    return st.one_of(out) if out else st.nothing()


def bad_values(key: Key) -> st.SearchStrategy:
    """Values that ``key`` must refuse: every wrong TOML type, out of range, non-finite,
    booleans, nested junk, and for durations numbers without a unit and bad units."""
    junk = toml_values.filter(lambda v: not _fits(key, v))
    if key.type in ("int", "float"):
        return st.one_of(junk, _outside(key), st.sampled_from([math.nan, math.inf,
                                                               -math.inf, True, False]))
    if key.type == "duration":
        outside = _outside(as_type(key, "float"))
        return st.one_of(
            junk, outside.map(lambda d: f"{d!r} days"),
            st.sampled_from(["nan days", "inf days", "-1 day", "2 fortnights", "1e999 days",
                             "week", "", "3"]))
    if key.type == "durations":
        inner = bad_values(as_type(key, "duration"))
        return st.one_of(junk.filter(lambda v: not isinstance(v, list)),
                         inner.map(lambda v: [v]), inner.map(lambda v: ["1 day", v]))
    if key.type == "table" and key.entries:
        entry = st.sampled_from(sorted(key.entries)).flatmap(
            lambda e: bad_values(key.entries[e]).map(lambda v: {e: v}))
        return st.one_of(junk.filter(lambda v: not isinstance(v, dict)), entry,
                         st.just({"no_such_key": 1.0}))
    return junk


def as_type(key: Key, type_: str) -> Key:
    """``key`` as another type with the same range (a duration's range in days)."""
    return dataclasses.replace(key, type=type_, unit="")


def good_values(key: Key) -> st.SearchStrategy:
    """Values that ``key`` accepts, its range's ends included (durations in days)."""
    t = key.type
    if t == "int":
        lo, hi = int(max(key.lo, -(2**63))), int(min(key.hi, 2**63 - 1))
        return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    if t == "float":
        return st.one_of(st.sampled_from([key.lo, key.hi]), st.floats(key.lo, key.hi))
    if t == "duration":
        return st.one_of(st.sampled_from([key.lo, key.hi]),
                         st.floats(key.lo, key.hi)).map(lambda d: f"{d!r} days")
    if t == "durations":
        return st.lists(good_values(as_type(key, "duration")), max_size=3)
    if t == "bool":
        return st.booleans()
    if t == "str":
        return st.sampled_from(key.choices) if key.choices else _text.filter(str.strip)
    if t == "table" and key.entries:
        return st.sampled_from(sorted(key.entries)).flatmap(
            lambda e: good_values(key.entries[e]).map(lambda v: {e: v}))
    return st.nothing()  # tables and lists of tables: their own slots cover them
