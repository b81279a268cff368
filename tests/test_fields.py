"""One set of rules: a setting's range is written once (its ``fields.Key``), and the API
object and a scenario file accept exactly the same values of it."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import painsim.interventions as iv
from painsim.cohort import Cohort
from painsim.errors import ParameterError, ScenarioError
from painsim.fields import MAX_DAY, MAX_INTERVAL_DAYS, Key, keys_of
from painsim.outcomes import Outcomes
from painsim.protocols import Clinic, Fixed, Protocol
from painsim.scenario import SCHEDULE_CLASSES, SCHEDULES, SCHEMA, TREATMENTS, load_scenario

from .strategies import BASE_SCENARIO, toml_document

# Far horizon: the file's own rule "not after the horizon" must not refuse a value the
# object (which knows no horizon) accepts.
BASE = {**copy.deepcopy(BASE_SCENARIO), "horizon": f"{MAX_DAY:g} days"}


@dataclasses.dataclass(frozen=True)
class Case:
    """A setting: where a file writes it, and how the API is given it."""

    label: str
    key: Key
    where: tuple[Any, ...]
    api: Callable[[Any], Any]
    base: dict[str, Any]


def _arm(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d["arms"][0].update(changes)
    return d


def _cases() -> list[Case]:
    out = []
    for f in dataclasses.fields(Outcomes):
        k = f.metadata["key"]
        out.append(Case(f"Outcomes.{f.name}", k, ("outcomes", k.file or f.name),
                        lambda v, n=f.name: Outcomes(**{n: v}), BASE))
    for kind, cls in SCHEDULE_CLASSES.items():
        # a file raises a tapering max_every below every to every; the object refuses
        # it: with every at its least value and max_every at its most, no value in
        # range of either is on the wrong side of the other
        api_extra = ({"every_days": 1 / 24, "max_every_days": MAX_INTERVAL_DAYS}
                     if kind == "tapering" else {})
        file_extra = ({"every": f"{1 / 24!r} days", "max_every": f"{MAX_INTERVAL_DAYS!r} days"}
                      if kind == "tapering" else {})
        for f in dataclasses.fields(cls):
            k = f.metadata["key"]
            out.append(Case(f"{cls.__name__}.{f.name}", k,
                            ("arms", 0, "schedule", k.file or f.name),
                            lambda v, c=cls, n=f.name, e=api_extra: c(**{**e, n: v}),
                            _arm(schedule={"kind": kind, **file_extra})))
    for f in dataclasses.fields(Protocol):
        if "key" in f.metadata:
            k = f.metadata["key"]
            out.append(Case(f"Protocol.{f.name}", k, ("arms", 0, f.name),
                            lambda v, n=f.name: Protocol(intervention=iv.sham(),
                                                         schedule=Fixed(), **{n: v}),
                            BASE))
    out.append(Case("Clinic.slots_per_day", keys_of(Clinic)["clinic_slots_per_day"],
                    ("arms", 0, "clinic_slots_per_day"),
                    lambda v: Clinic(slots_per_day=v), BASE))
    for f in dataclasses.fields(Cohort):
        if "key" in f.metadata:
            k = f.metadata["key"]
            where = ("seed",) if f.name == "seed" else ("cohort", k.file or f.name)
            out.append(Case(f"Cohort.{f.name}", k, where,
                            lambda v, n=f.name: Cohort(**{"n": 2, n: v}), BASE))
    for kind, (factory, keys) in TREATMENTS.items():
        for name, k in keys.items():
            out.append(Case(f"{kind}.{name}", k, ("arms", 0, "treatment", 0, name),
                            lambda v, fa=factory, n=name: fa(**{n: v}),
                            _arm(treatment=[{"kind": kind}])))
    return out


CASES = _cases()


def _file_value(key: Key, v: Any) -> Any:
    if key.type == "duration":
        return f"{v!r} days"
    if key.type == "durations":
        return [f"{x!r} days" for x in v]
    return v


def _values(key: Key) -> st.SearchStrategy:
    """Values on both sides of the range: its ends, the next floats out, and draws.

    Whole-day settings get whole days (a file rounds to one; the API refuses a
    fraction, by design). Values stay below 1e6 so that a file's other rules (the
    patients x days a run may allocate) do not refuse what the object accepts.
    """
    if key.type == "bool":
        return st.booleans()
    lo, hi = key.lo, min(key.hi, 1e6)
    if key.type == "int":
        ends = [int(lo) - 1, int(lo), int(hi), int(hi) + 1]
        return st.sampled_from(ends) | st.integers(int(lo) - 3, int(hi) + 3)
    ends = [math.nextafter(lo, -math.inf), lo, hi, math.nextafter(hi, math.inf)]
    span = hi - lo
    one = st.sampled_from(ends) | st.floats(lo - span / 4, hi + span / 4,
                                            allow_nan=False, allow_infinity=False)
    one = one.map(lambda x: x + 0.0)  # -0.0 -> 0.0: a file's duration has no sign
    if key.whole:
        one = one.map(math.floor).map(float)
    if key.type == "durations":
        return st.lists(one, min_size=1, max_size=2).map(tuple)
    return one


def _accepts(case: Case, v: Any, tmp_path) -> tuple[bool, bool, str]:
    try:
        case.api(v)
        api = True
    except ParameterError:
        api = False
    doc = copy.deepcopy(case.base)
    node = doc
    for part in case.where[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[case.where[-1]] = _file_value(case.key, list(v) if isinstance(v, tuple) else v)
    path = tmp_path / "s.toml"
    path.write_text(toml_document(doc))
    try:
        load_scenario(path)
        return api, True, ""
    except ScenarioError as exc:
        return api, False, str(exc)


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
@settings(max_examples=25)
@given(data=st.data())
def test_the_object_and_the_file_accept_the_same_values(case, data, tmp_path_factory):
    v = data.draw(_values(case.key), label="value")
    api, file, message = _accepts(case, v, tmp_path_factory.mktemp("f"))
    assert api == file, (case.label, v, message)
    if case.key.type != "bool" and not case.key.whole and case.key.type != "durations":
        # a value inside the range passes its own key, whatever the other settings say
        inside = case.key.lo <= v <= case.key.hi
        assert inside or not api, (case.label, v)


def test_the_schema_takes_its_settings_from_the_objects():
    # A key written by hand in the schema for something an object checks would be a
    # second wording of its rule: every object setting is the object's own Key.
    assert SCHEMA["outcomes"] == keys_of(Outcomes)
    for kind, cls in SCHEDULE_CLASSES.items():
        assert SCHEDULES[kind] == keys_of(cls)
    for name, key in keys_of(Protocol).items():
        assert SCHEMA["arms"][name] is key
    assert SCHEMA["arms"]["clinic_slots_per_day"] == dataclasses.replace(
        keys_of(Clinic)["clinic_slots_per_day"], default=None)  # absent: no clinic
    cohort = keys_of(Cohort)
    assert SCHEMA[""]["seed"] is cohort["seed"]
    for name in ("patients", "run_in", "random_flares"):
        assert SCHEMA["cohort"][name] is cohort[name]
    for kind, (factory, keys) in TREATMENTS.items():
        assert keys is iv.PARAMETERS[kind]
        assert {k: key.default for k, key in keys.items()} == factory.__kwdefaults__


def test_a_file_default_is_the_objects_default():
    from painsim.scenario import parse_duration

    def as_days(key: Key) -> Any:
        d = key.default
        if key.type == "duration" and isinstance(d, str):
            return parse_duration(d)
        return tuple(d) if key.type == "durations" else d

    for cls in (Outcomes, *SCHEDULE_CLASSES.values(), Protocol, Clinic, Cohort):
        for f in dataclasses.fields(cls):
            if "key" in f.metadata and f.default is not dataclasses.MISSING:
                assert as_days(f.metadata["key"]) == f.default, f"{cls.__name__}.{f.name}"
