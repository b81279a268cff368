"""Scenario files: a study in TOML, validated against one schema.

The schema (:data:`SCHEMA`, :data:`TREATMENTS`, :data:`SCHEDULES`) is the single source
of truth: :func:`load_scenario` validates against it, collecting *every* problem with
its dotted path (``arms[1].schedule.every``), and :func:`reference_markdown` renders it
as the key reference (``scenarios/REFERENCE.md``), so the two cannot drift. Wherever a
key is a setting of an API object (the outcome definitions, a schedule, a protocol, a
clinic, the cohort, a treatment's factory), the schema holds that object's own
:class:`~painsim.fields.Key` (:func:`painsim.fields.keys_of`,
:data:`painsim.interventions.PARAMETERS`): one range, unit and meaning, checked alike
by the object and by the file.

Durations are strings with a unit — ``"30 min"``, ``"2 weeks"``, ``"3 months"`` — and
are converted once, here, to days (a month is 30.4375 days, a year 365.25 days: the
Gregorian averages). Visits stay on the calendar: a schedule's ``start`` in months or
years is rounded down to a whole day, and visits at least a day apart are whole days apart
(:func:`painsim.protocols.visit_day`), at the arm's ``visit_hour``; a maintenance phase
starts one ``every`` after the course's last visit unless its ``start`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import math
import re
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import interventions as iv
from .cohort import MAX_PATIENTS, PHENOTYPE_PRESETS, Cohort, with_parameters
from .errors import ParameterError, ScenarioError, ScenarioWarning, did_you_mean, short_repr
from .fields import Key, keys_of
from .outcomes import DISCLAIMER, Outcomes
from .painloop import PAIN_LOOP
from .protocols import (
    MAX_DAY,
    MAX_INTERVAL_DAYS,
    Arm,
    AsNeeded,
    Clinic,
    Fixed,
    Given,
    Protocol,
    Tapering,
    days_in_words,
    visit_days_in_words,
)

__all__ = [
    "SCHEDULES",
    "SCHEMA",
    "TREATMENTS",
    "Scenario",
    "describe_scenario",
    "load_scenario",
    "parse_duration",
    "reference_markdown",
]

MAX_FILE_BYTES = 1 << 20
#: Deepest nesting of arrays and tables a scenario may have (a real one needs 4).
MAX_DEPTH = 16
UNITS = {"min": 1 / 1440, "minute": 1 / 1440, "minutes": 1 / 1440, "h": 1 / 24,
         "hour": 1 / 24, "hours": 1 / 24, "d": 1.0, "day": 1.0, "days": 1.0, "w": 7.0,
         "week": 7.0, "weeks": 7.0, "month": 30.4375, "months": 30.4375,
         "y": 365.25, "year": 365.25, "years": 365.25}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]+)\s*$")


def _in_calendar_units(value: Any) -> bool:
    """Whether a duration is written in months or years (average lengths of 30.4375 and
    365.25 days): a schedule's ``start`` in them is rounded down to a whole day."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    return bool(m) and m.group(2).lower() in ("month", "months", "y", "year", "years")


def parse_duration(value: Any) -> float:
    """``"2 weeks"`` → 14.0 (days). Raises ``ValueError`` with a plain message.

    Examples
    --------
    >>> parse_duration("36 h"), parse_duration("2 weeks"), parse_duration("3 months")
    (1.5, 14.0, 91.3125)
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit; write a number and a unit, e.g. "
                         f"'{value} days'" if isinstance(value, int | float)
                         else f"{value!r} is not a duration")
    if value.strip().startswith("-"):
        raise ValueError(f"{value!r} is negative; durations are >= 0, e.g. '2 weeks'")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration; write a number and a unit "
                         "(min, hour, day, week, month, year), e.g. '2 weeks'")
    number, unit = float(m.group(1)), m.group(2).lower()
    if unit not in UNITS:
        raise ValueError(f"{value!r}: unknown unit {unit!r}; allowed: min, hour, day, "
                         f"week, month, year{did_you_mean(unit, tuple(UNITS))}")
    return number * UNITS[unit]


#: ``[model] parameters``: one key per model parameter, its range the model's bounds.
MODEL_PARAMETERS: dict[str, Key] = {
    p.name: Key("float", p.description, p.default, p.bounds[0], p.bounds[1],
                "" if p.unit == "1" else p.unit) for p in PAIN_LOOP.parameters}
#: ``[cohort] mix``: one fraction per phenotype preset.
COHORT_MIX: dict[str, Key] = {
    k: Key("float", f"Fraction of {ph.description}.", None, 0, 1)
    for k, ph in PHENOTYPE_PRESETS.items()}
_COHORT = keys_of(Cohort)
#: Section -> key -> :class:`Key` (type, meaning, default, allowed range, unit) of a
#: scenario file: the loader checks files against it and ``REFERENCE.md`` is written from it.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "title": Key("str", "Short title of the study.", default=""),
        "description": Key("str", "What the study asks, in plain words.", default=""),
        "seed": _COHORT["seed"],
        "horizon": Key("duration", "Follow-up from day 0.", "180 days", 1, MAX_DAY),
        "decision_resolution": Key("duration", "Epoch of state-based decisions (as-needed "
                                   "visits, tapering, pain-driven dropout).", "1 day",
                                   1 / 24, 365),
    },
    "model": {
        "parameters": Key("table", "Overrides of the default model's parameters for every "
                          "patient (name = value; see `model.parameters` below and "
                          "`painsim describe`).", {}, entries=MODEL_PARAMETERS),
    },
    "cohort": {
        "patients": _COHORT["patients"],
        "mix": Key("table", "Phenotype = fraction, summing to 1; phenotypes: "
                   + ", ".join(PHENOTYPE_PRESETS) + ".", {"chronic_sensitized": 1.0},
                   entries=COHORT_MIX),
        "run_in": _COHORT["run_in"],
        "table": Key("str", "CSV or Parquet file (path relative to this file) of "
                     "per-patient columns, one row per patient: model parameters, and "
                     "model states (the state at the start of the run-in); an optional "
                     "`patient` column 0..n-1.", None, nonempty=True),
        "events": Key("str", "CSV or Parquet event table (path relative to this file) "
                      "with columns patient, day, kind (`flare`, `stress` or a state "
                      "name), size: events at exact times in every arm.", None,
                      nonempty=True),
        "random_flares": _COHORT["random_flares"],
    },
    "arms": {
        "name": Key("str", "Label of the arm (unique, not blank).", required=True,
                    nonempty=True),
        "treatment": Key("list", "Interventions of a visit: a list of tables with `kind` "
                         "and its parameters (see Treatments). Empty or absent: natural "
                         "course.", []),
        "visits": Key("str", "With several treatments: all in the `same` visit, or "
                      "`alternate` from visit to visit.", "same",
                      choices=("same", "alternate")),
        "schedule": Key("table", "When visits happen (see Schedules).", None),
        "maintenance": Key("table", "Further `fixed` visits after the course; `start` "
                           "counts from the day of the course's last visit (default: "
                           "one `every` after it).", None),
        **keys_of(Protocol),
        # a file's arm without the key has no clinic (unlimited), not Clinic()'s 10 slots
        **{k: dataclasses.replace(key, default=None) for k, key in keys_of(Clinic).items()},
    },
    "outcomes": keys_of(Outcomes),
    "outputs": {
        "trajectories": Key("bool", "Write daily pain per patient (the trajectories table).",
                            True),
        "plots": Key("bool", "Write the figures (PNG and SVG).", True),
        "format": Key("str", "Table format of the results folder: csv (6 significant "
                      "digits) or parquet (exact and typed; needs pyarrow: pip install "
                      "\"painsim[parquet]\").", "csv", choices=("csv", "parquet")),
    },
    "solver": {
        "rtol": Key("float", "Relative tolerance.", 1e-6, 1e-12, 1e-2),
        "atol": Key("float", "Absolute tolerance.", 1e-8, 1e-14, 1e-2),
    },
    "sensitivity": {  # painsim sensitivity FILE (painsim.sensitivity)
        "parameters": Key("table", "Parameters to vary, each over [low, high]: "
                          "`model.<parameter>` (a model parameter, set for every patient), "
                          "`<treatment>.<parameter>` (e.g. `acupuncture.dose`), or "
                          "`protocol.sessions` / `protocol.every` (days; every treated "
                          "arm's schedule).", {}),
        "outcomes": Key("list", "Outcomes (painsim.sensitivity.OUTCOMES), e.g. "
                        "`change_short_term`, `relapse_km`.", ["change_short_term"]),
        "arm": Key("str", "Arm whose outcome is analysed (absent: the last arm).", None),
        "reference": Key("str", "If given, the outcome is the paired difference arm - "
                         "reference.", None),
        "method": Key("str", "Design and estimator (SALib).", "sobol",
                      choices=("sobol", "morris")),
        "n": Key("int", "Sobol base samples (a power of 2) or Morris trajectories.", 64, 2,
                 2**16),
        "second_order": Key("bool", "Sobol: also second-order indices' design "
                            "(n x (2k + 2) sets instead of n x (k + 2)).", False),
        "levels": Key("int", "Morris grid levels.", 4, 2, 64),
        "resamples": Key("int", "Bootstrap resamples of the index intervals.", 200, 10,
                         100000),
    },
    "basins": {  # painsim basins FILE (painsim.basins); its flags override these
        "max_sessions": Key("int", "Longest course tried (`--max-sessions`).", 12, 1, 200),
        "every": Key("duration", "Days between the course's sessions (`--every`).",
                     "7 days", 0.05, 365),
        "horizon": Key("duration", "Follow-up integrated after the (last) session, "
                       "separate from the study's horizon (`--horizon`).", "365 days", 10,
                       3650),
        "settle": Key("duration", "Low for good: pain at or below the patient's level over "
                      "this last part of the follow-up (at most `horizon`).", "60 days", 1,
                      3650),
        "low_level": Key("float", "Pain counting as low where a patient has no saddle "
                         "(or equilibria are skipped).", 2.0, 0, 10, "pain"),
        "patient": Key("int", "Patient (0-based) of the phase plane and of the driver "
                       "curve (`--patient`; absent: 0).", None, 0, MAX_PATIENTS - 1),
        "arm": Key("str", "Treated arm whose session is the course (`--arm`; absent: the "
                   "file's dry needling, or dry needling with its defaults).", None),
        "equilibria": Key("bool", "Compute each patient's stable states and saddles (the "
                          "slowest part; `--no-equilibria`).", True),
    },
    "explain": {  # painsim explain FILE (painsim.attribute); its flags override these
        "arm": Key("str", "Arm to explain (`--arm`; absent: every treated arm).", None),
        "reference": Key("str", "Reference arm (`--reference`; absent: the first arm).",
                         None),
        "patient": Key("int", "Patient (0-based) whose story is printed (`--patient`; "
                       "absent: none).", None, 0, MAX_PATIENTS - 1),
        "days": Key("durations", "Days of the contributions, each rounded to a whole day "
                    "(empty: the short-term day and the horizon).", [], 0, MAX_DAY),
    },
}

#: Treatment kind (``[arms.treatment] kind``) -> (its factory in
#: :mod:`painsim.interventions`, its keys: :data:`painsim.interventions.PARAMETERS`, the
#: ranges the factory itself checks, with the factory's defaults).
TREATMENTS: dict[str, tuple[Callable[..., iv.Intervention], dict[str, Key]]] = {
    kind: (getattr(iv, kind), keys) for kind, keys in iv.PARAMETERS.items()}

#: Schedule kinds with settings -> their class (its fields' keys are the file's keys).
SCHEDULE_CLASSES: dict[str, type] = {"fixed": Fixed, "tapering": Tapering,
                                     "as_needed": AsNeeded}
#: Schedule kinds and their keys.
SCHEDULES: dict[str, dict[str, Key]] = {
    **{kind: keys_of(cls) for kind, cls in SCHEDULE_CLASSES.items()},
    "given": {
        "table": Key("str", "CSV or Parquet file (path relative to this file) with "
                     "columns patient, day: each patient's own visit days.", None,
                     required=True, nonempty=True)},
}

#: The ``kind`` of a treatment, of a schedule, and of maintenance visits.
TREATMENT_KIND = Key("str", "Kind of treatment.", required=True, choices=tuple(TREATMENTS))
SCHEDULE_KIND = Key("str", "Kind of schedule.", "fixed", choices=tuple(SCHEDULES))
MAINTENANCE_KIND = Key("str", "Maintenance visits are a fixed schedule.", "fixed",
                       choices=("fixed",))


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, msg: str) -> None:
        self.items.append((path, msg))


def _fmt(v: Any) -> str:
    """A value as the file wrote it (``true``, ``'2 weeks'``), on one short line."""
    return str(v).lower() if isinstance(v, bool) else short_repr(v)


def _value(key: Key, v: Any, path: str, pr: _Problems) -> Any:
    """Check one value against its key; return it converted (durations to days)."""
    t = key.type
    if t == "duration":
        try:
            d = parse_duration(v)
        except ValueError as exc:
            pr.add(path, str(exc))
            return None
        if not (math.isfinite(d) and key.lo <= d <= key.hi):
            pr.add(path, f"{_fmt(v)} = {d:g} days is out of range; allowed: {key.allowed()}")
            return None
        return d
    if t == "durations":
        if not isinstance(v, list):
            pr.add(path, f"{_fmt(v)} is not a list of durations, e.g. ['1 week', '3 months']")
            return None
        out = [_value(Key("duration", key.doc, lo=key.lo, hi=key.hi), x, f"{path}[{i}]", pr)
               for i, x in enumerate(v)]
        return None if any(x is None for x in out) else out
    if t in ("int", "float"):
        ok = isinstance(v, int) if t == "int" else isinstance(v, int | float)
        if isinstance(v, bool) or not ok:
            what = "an integer" if t == "int" else "a number"
            pr.add(path, f"{_fmt(v)} is {'a boolean, ' if isinstance(v, bool) else ''}not "
                         f"{what}; allowed: {key.allowed()}")
            return None
        if (isinstance(v, float) and not math.isfinite(v)) or not key.lo <= v <= key.hi:
            pr.add(path, f"{_fmt(v)} is out of range; allowed: {key.allowed()}")
            return None
        return v
    if t == "str":
        if not isinstance(v, str):
            pr.add(path, f"{_fmt(v)} is not a string"
                   + (f"; allowed: {key.allowed()}" if key.choices else ""))
            return None
        if key.nonempty and not v.strip():
            pr.add(path, f"{_fmt(v)} is empty; allowed: a non-empty string")
            return None
        if key.choices and v not in key.choices:
            pr.add(path, f"{_fmt(v)} is not allowed; allowed: {key.allowed()}"
                   + did_you_mean(v, key.choices))
            return None
        return v
    if t == "bool":
        if not isinstance(v, bool):
            pr.add(path, f"{_fmt(v)} is not true or false")
            return None
        return v
    if t == "table":
        if not isinstance(v, dict):
            pr.add(path, f"{_fmt(v)} is not a table")
            return None
        if key.entries is not None:
            before = len(pr.items)
            out = _section(key.entries, v, f"{path}.", pr, fill=False)
            return None if len(pr.items) > before else out
        return v
    if t == "list":
        if not isinstance(v, list):
            pr.add(path, f"{_fmt(v)} is not a list")
            return None
        return v
    raise AssertionError(t)  # pragma: no cover


def _section(keys: dict[str, Key], data: dict[str, Any], prefix: str, pr: _Problems,
             skip: tuple[str, ...] = (), *, fill: bool = True) -> dict[str, Any]:
    """Validate a table: unknown keys, missing required keys, each value.

    With ``fill`` the result has every key (absent ones at their defaults); without,
    only the keys the table gives (overrides such as ``[model] parameters``).
    """
    out: dict[str, Any] = {}
    for k in data:
        if k not in keys and k not in skip:
            v = data[k]
            if skip and (isinstance(v, dict) or (isinstance(v, list) and v and all(
                    isinstance(x, dict) for x in v))):  # a misspelt [section]
                names = {s: f"[[{s}]]" if s == "arms" else f"[{s}]" for s in skip}
                hint = did_you_mean(k, tuple(skip))
                for s, shown in names.items():
                    hint = hint.replace(repr(s), shown)
                pr.add(f"{prefix}{k}", f"unknown section [{k}]{hint}; sections: "
                       + ", ".join(names.values()))
                continue
            known = (*keys, *skip)
            pr.add(f"{prefix}{k}", "unknown key" + did_you_mean(k, known)
                   + "; allowed: " + ", ".join(known))
    for k, key in keys.items():
        if k in data:
            out[k] = _value(key, data[k], f"{prefix}{k}", pr)
        elif key.required:
            pr.add(f"{prefix}{k}", "is required")
            out[k] = None
        elif fill:
            default = key.default
            if key.type == "duration" and isinstance(default, str):
                default = parse_duration(default)
            out[k] = default
    return out


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to simulate.

    Attributes
    ----------
    path : str
        The file it came from (as given).
    text : str
        The file's text.
    sha256 : str
        SHA-256 of the text.
    title, description : str
    seed, patients : int
    horizon_days, epoch_days : float
    arms : tuple of Arm
    cohort : Cohort
    outcomes : Outcomes
    rtol, atol : float
    outputs : dict
    data : dict
        The normalized scenario (durations in days), for manifests and descriptions.
    inputs : dict of str to str
        Files the scenario reads (per-patient tables, event tables), as written in it,
        with the SHA-256 of their bytes: a manifest then pins them as well.
    warnings : tuple of str
        What runs but may not be meant (each also issued as a :class:`ScenarioWarning`
        by :func:`load_scenario`), one line each: two sessions of one patient at the
        same time.
    """

    path: str
    text: str
    sha256: str
    title: str
    description: str
    seed: int
    patients: int
    horizon_days: float
    epoch_days: float
    arms: tuple[Arm, ...]
    cohort: Cohort
    outcomes: Outcomes
    rtol: float
    atol: float
    outputs: dict[str, Any]
    data: dict[str, Any] = field(repr=False)
    inputs: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _read(path: Path) -> str:
    """The file's text, or a one-line :class:`ScenarioError` saying why not."""
    import stat

    name = str(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ScenarioError(f"{name}: not a file", file=name)
        size = st.st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{name}: file is too large ({size:,} bytes; a scenario is "
                                f"at most {MAX_FILE_BYTES:,} bytes)", file=name)
        raw = path.read_bytes()
    except FileNotFoundError:
        why = ("a symbolic link to a missing file" if path.is_symlink() else
               "file not found")
        raise ScenarioError(f"{name}: {why}", file=name) from None
    except OSError as exc:
        why = ("symbolic link loop (the link points, through links, back to itself)"
               if exc.errno == errno.ELOOP else f"cannot read it: {exc.strerror or exc}")
        raise ScenarioError(f"{name}: {why}", file=name) from None
    if not raw.strip():
        raise ScenarioError(f"{name}: file is empty; a scenario needs at least [[arms]]",
                            file=name)
    if b"\x00" in raw:
        raise ScenarioError(f"{name}: binary file (contains NUL bytes), not TOML text",
                            file=name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{name}: not UTF-8 text (byte {exc.start})", file=name) from None


def _depth(value: Any) -> int:
    """Deepest nesting of lists and dicts in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d + 1)
            if d + 1 <= MAX_DEPTH:
                stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def load_scenario(path: str | Path, *, patients: int | None = None,
                  seed: int | None = None, ignore: tuple[str, ...] = (),
                  text: str | None = None) -> Scenario:
    """Read, validate and build a scenario file.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    patients, seed : int, optional
        Overrides of ``cohort.patients`` and ``seed`` (the CLI's ``--patients``,
        ``--seed``).
    ignore : tuple of str
        Top-level tables that are not scenario keys and are skipped (a file that embeds
        a scenario, e.g. an evidence file's ``evidence`` and ``targets``).
    text : str, optional
        The file's text, when it comes from elsewhere (a results folder's manifest);
        ``path`` then names it in messages and anchors its relative paths.

    Raises
    ------
    ScenarioError
        Listing every problem found, each as ``file: path: message``.
    """
    p = Path(path)
    name = str(path)
    text = _read(p) if text is None else text
    too_deep = ScenarioError(f"{name}: arrays or tables nested more than {MAX_DEPTH} deep; "
                             "a scenario needs 5 at most", file=name)
    try:
        data = tomllib.loads(text)
        for k in ignore:
            data.pop(k, None)
    except tomllib.TOMLDecodeError as exc:
        msg = " ".join(str(exc).split())
        raise ScenarioError(f"{name}: invalid TOML: {msg}", file=name) from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise too_deep from None
    if _depth(data) > MAX_DEPTH:
        raise too_deep
    if patients is not None:
        data.setdefault("cohort", {})
        if isinstance(data["cohort"], dict):
            data["cohort"]["patients"] = patients
    if seed is not None:
        data["seed"] = seed
    pr = _Problems()
    sections = [s for s in SCHEMA if s]
    top = _section(SCHEMA[""], data, "", pr, skip=tuple(sections))
    tables: dict[str, dict[str, Any]] = {}
    for s in sections:
        if s == "arms":
            continue
        raw = data.get(s, {})
        if not isinstance(raw, dict):
            pr.add(s, f"{_fmt(raw)} is not a table")
            raw = {}
        tables[s] = _section(SCHEMA[s], raw, f"{s}.", pr)
    # model parameters and cohort mix: checked key by key as tables with known entries
    cohort_raw = data.get("cohort")
    raw_mix = cohort_raw.get("mix") if isinstance(cohort_raw, dict) else None
    if raw_mix == {}:
        pr.add("cohort.mix", "is empty; give at least one phenotype = fraction")
    elif isinstance(raw_mix, dict) and all(  # fractions (others are reported one by one)
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
            for v in raw_mix.values()) and abs(sum(raw_mix.values()) - 1) > 1e-9:
        pr.add("cohort.mix", f"fractions sum to {sum(raw_mix.values()):g}; they must sum "
               "to 1")
    mix = tables["cohort"]["mix"] or {}
    # arms
    arms_raw = data.get("arms")
    if arms_raw is None or arms_raw == []:
        pr.add("arms", "no arms; add at least one [[arms]] table with a name")
        arms_raw = []
    elif not isinstance(arms_raw, list) or not all(isinstance(a, dict) for a in arms_raw):
        pr.add("arms", "must be an array of tables: write each arm as [[arms]]")
        arms_raw = []
    arms_norm = [_arm(a, i, pr) for i, a in enumerate(arms_raw)]
    names = [a["name"] for a in arms_norm if a.get("name")]
    for n in {x for x in names if names.count(x) > 1}:
        pr.add("arms", f"arm name {n!r} is used more than once; names must be unique")
    horizon = top["horizon"]
    if horizon is not None:
        for i, a in enumerate(arms_norm):
            for key in ("schedule", "maintenance"):
                sch = a.get(key) or {}
                if sch.get("start") is not None and sch["start"] > horizon:
                    given = "start" in (arms_raw[i].get(key) or {})
                    pr.add(f"arms[{i}].{key}.{'start' if given else 'every'}",
                           f"{sch['start']:g} days is after the horizon ({horizon:g} "
                           "days)" if given else f"the first maintenance visit, one "
                           f"interval ({sch['start']:g} days) after the course, is after "
                           f"the horizon ({horizon:g} days); give a shorter every or a start")
        st = tables["outcomes"]["short_term"]
        if st is not None and st > horizon:
            pr.add("outcomes.short_term", f"{st:g} days is after the horizon "
                   f"({horizon:g} days)")
    _check_sensitivity(tables["sensitivity"], names, pr)
    _check_basins_explain(tables, arms_norm, horizon, pr)
    o = tables["outcomes"]
    if o["short_term"] is not None:  # the save grid is daily
        o["short_term"] = float(round(o["short_term"]))
    if o["report_days"]:
        o["report_days"] = [float(round(d)) for d in o["report_days"]]
    if horizon is not None and o["report_days"]:
        for i, d in enumerate(o["report_days"]):
            if d > horizon:
                pr.add(f"outcomes.report_days[{i}]", f"{d:g} days is after the horizon "
                       f"({horizon:g} days)")
    for k in ("responder_days", "recovered_by", "adverse_event_by"):
        for i, d in enumerate(o[k] or [] if horizon is not None else []):
            if d is not None and round(d) > horizon:
                pr.add(f"outcomes.{k}[{i}]", f"{d:g} days is after the horizon "
                       f"({horizon:g} days)")
    if o["relapse_fraction"] is not None and o["relief_fraction"] is not None and \
            o["relapse_fraction"] >= o["relief_fraction"]:
        pr.add("outcomes.relapse_fraction", f"{o['relapse_fraction']:g} must be below "
               f"relief_fraction ({o['relief_fraction']:g})")
    if top["decision_resolution"] is not None and horizon is not None and \
            top["decision_resolution"] > horizon:
        pr.add("decision_resolution", "is longer than the horizon")
    if pr.items:
        raise ScenarioError("\n".join(f"{name}: {p}: {m}" for p, m in pr.items), file=name,
                            problems=pr.items)
    s = _build(name, text, top, tables, arms_norm, mix)
    found = tuple(_same_time_sessions(name, s.arms))
    for w in found:
        warnings.warn(w, ScenarioWarning, stacklevel=2)
    return dataclasses.replace(s, warnings=found) if found else s


def _same_time_sessions(name: str, arms: tuple[Arm, ...]) -> list[str]:
    """One line per arm in which two sessions of one patient fall at the same time: a
    maintenance phase starting 0 days after the course, or a patient's repeated day in a
    ``given`` table (a session on top of a session is rarely what a protocol means)."""
    out = []
    for i, a in enumerate(arms):
        p = a.protocol
        if p is None:
            continue
        if p.maintenance is not None and p.maintenance.start_day == 0 and \
                p.maintenance.sessions and (not isinstance(p.schedule, Given)
                                            or p.schedule.sessions):
            out.append(f"{name}: arms[{i}].maintenance.start: 0 days puts the first "
                       "maintenance visit at the time of the course's last visit (two "
                       "sessions at once); leave start out for one interval after it")
        if isinstance(p.schedule, Given):
            twice = sorted(q for q, ds in p.schedule.days.items() if len(set(ds)) < len(ds))
            if twice:
                q = twice[0]
                d = next(x for x in p.schedule.days[q] if p.schedule.days[q].count(x) > 1)
                out.append(f"{name}: arms[{i}].schedule.table: {len(twice)} patient(s) have "
                           f"two sessions at the same time (patient {q} on day {d:g})")
    return out


#: ``[sensitivity] parameters``: protocol keys (every treated arm's schedule).
SENSITIVITY_PROTOCOL: dict[str, Key] = {
    "sessions": Key("int", "Visits of the course (rounded to whole numbers).", None, 1,
                    10000),
    "every": Key("float", "Days between visits (fixed or tapering schedules).", None, 1 / 24,
                 MAX_INTERVAL_DAYS, "day"),
}


def _check_sensitivity(sec: dict[str, Any], arm_names: list[str], pr: _Problems) -> None:
    """``[sensitivity]``: names, ranges within the allowed ones, outcomes and arms; the
    ``parameters`` table is normalized to ``{"model.x": (lo, hi), ...}``."""
    from .sensitivity import OUTCOMES

    raw = sec.get("parameters") or {}
    flat: dict[str, Any] = {}
    for k, v in raw.items():  # `model.theta0 = [..]` in TOML is a nested table
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k if "." in k or k not in MODEL_PARAMETERS else f"model.{k}"] = v
    out = {}
    for name, v in flat.items():
        path = f"sensitivity.parameters.{name}"
        kind, _, par = name.partition(".")
        keys = MODEL_PARAMETERS if kind == "model" else SENSITIVITY_PROTOCOL if \
            kind == "protocol" else (TREATMENTS[kind][1] if kind in TREATMENTS else None)
        if keys is None or par not in keys:
            known = [f"model.{p}" for p in MODEL_PARAMETERS] + [
                f"{t}.{p}" for t, (_, ks) in TREATMENTS.items() for p in ks] + [
                f"protocol.{p}" for p in SENSITIVITY_PROTOCOL]
            pr.add(path, "unknown parameter" + did_you_mean(name, tuple(known)) + "; use "
                   "model.<parameter>, <treatment>.<parameter> (treatments: "
                   + ", ".join(TREATMENTS) + ") or protocol.sessions, protocol.every")
            continue
        key = keys[par]
        if not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for x in v)):
            pr.add(path, f"{_fmt(v)} is not a range [low, high] of two numbers")
            continue
        lo, hi = float(v[0]), float(v[1])
        if not (key.lo <= lo < hi <= key.hi):
            pr.add(path, f"{_fmt(v)} needs low < high within the allowed range; allowed: "
                   f"{key.allowed()}")
            continue
        out[name] = (lo, hi)
    sec["parameters"] = out
    for i, o in enumerate(sec.get("outcomes") or []):
        if not isinstance(o, str) or o not in OUTCOMES:
            pr.add(f"sensitivity.outcomes[{i}]", f"{_fmt(o)} is not an outcome; allowed: "
                   + ", ".join(OUTCOMES) + (did_you_mean(o, tuple(OUTCOMES))
                                            if isinstance(o, str) else ""))
    n = sec.get("n")
    if sec.get("method") == "sobol" and isinstance(n, int) and n & (n - 1):
        pr.add("sensitivity.n", f"{n} is not a power of 2, which Sobol' sequences need; "
               "e.g. 32, 64, 256")
    for k in ("arm", "reference"):
        a = sec.get(k)
        if a is not None and arm_names and a not in arm_names:
            pr.add(f"sensitivity.{k}", f"{_fmt(a)} is not an arm; arms: "
                   + ", ".join(arm_names) + did_you_mean(a, tuple(arm_names)))


def _check_basins_explain(tables: dict[str, dict[str, Any]], arms: list[dict[str, Any]],
                          horizon: float | None, pr: _Problems) -> None:
    """``[basins]`` and ``[explain]``: arms that exist (the basins course a treated one,
    the explained arm not the reference), ``settle`` within ``horizon`` and ``days``
    within the study's horizon (rounded to whole days). A ``patient`` is checked against
    the cohort by the command, after its flags (``--patients``) are applied."""
    names = [a["name"] for a in arms if a.get("name")]
    treated = [a["name"] for a in arms if a.get("name") and a.get("treatment")]
    b, e = tables["basins"], tables["explain"]
    for sec, k, allowed in (("basins", "arm", treated), ("explain", "arm", names),
                            ("explain", "reference", names)):
        a = tables[sec].get(k)
        if a is not None and names and a not in allowed:
            what = "a treated arm" if allowed is treated else "an arm"
            pr.add(f"{sec}.{k}", f"{_fmt(a)} is not {what}; {what[2:].strip()}s: "
                   + (", ".join(allowed) or "none") + did_you_mean(a, tuple(allowed)))
    if e.get("arm") is not None and e.get("arm") == e.get("reference"):
        pr.add("explain.arm", f"{_fmt(e['arm'])} is also the reference; choose another arm")
    if b.get("settle") is not None and b.get("horizon") is not None and \
            b["settle"] > b["horizon"]:
        pr.add("basins.settle", f"{b['settle']:g} days is longer than basins.horizon "
               f"({b['horizon']:g} days)")
    if e.get("days"):
        e["days"] = [float(round(d)) for d in e["days"]]
        for i, d in enumerate(e["days"] if horizon is not None else []):
            if d > horizon:
                pr.add(f"explain.days[{i}]", f"{d:g} days is after the horizon "
                       f"({horizon:g} days)")


def _arm(a: dict[str, Any], i: int, pr: _Problems) -> dict[str, Any]:
    pre = f"arms[{i}]."
    out = _section(SCHEMA["arms"], a, pre, pr)
    treat = []
    for j, t in enumerate(out.get("treatment") or []):
        tp = f"{pre}treatment[{j}]"
        if not isinstance(t, dict):
            pr.add(tp, f"{_fmt(t)} is not a table like {{ kind = 'acupuncture' }}")
            continue
        kind = _section({"kind": TREATMENT_KIND}, {"kind": t["kind"]} if "kind" in t else {},
                        f"{tp}.", pr)["kind"]
        if kind is None:
            continue
        params = _section(TREATMENTS[kind][1], {k: v for k, v in t.items() if k != "kind"},
                          f"{tp}.", pr)
        treat.append((kind, params))
    out["treatment"] = treat
    for key in ("schedule", "maintenance"):
        sch = out.get(key)
        if sch is None:
            continue
        kind_key = SCHEDULE_KIND if key == "schedule" else MAINTENANCE_KIND
        kind = _section({"kind": kind_key}, {k: v for k, v in sch.items() if k == "kind"},
                        f"{pre}{key}.", pr)["kind"]
        if kind is None:
            out[key] = None
            continue
        body = _section(SCHEDULES[kind], {k: v for k, v in sch.items() if k != "kind"},
                        f"{pre}{key}.", pr)
        body["kind"] = kind
        if key == "maintenance" and "start" not in sch:  # one interval after the course
            body["start"] = body["every"]
            sch = {**sch, "start": sch.get("every")}
        if body.get("start") is not None and _in_calendar_units(sch.get("start")):
            body["start"] = float(math.floor(body["start"]))  # months, years: whole days
        out[key] = body
    if treat and out.get("schedule") is None and "schedule" not in a:
        pr.add(f"{pre}schedule", "is required when the arm has a treatment, e.g. "
               "{ kind = 'fixed', every = '1 week', sessions = 6 }")
    return out


def _settings(cls: type, table: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``cls`` from a checked table of the file: each setting under
    its file name, lists of days as tuples (rounded where whole days are asked)."""
    out = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key")
        if key is not None:
            v = table[key.file or f.name]
            if key.type == "durations":
                v = tuple(float(round(d)) if key.whole else d for d in v or ())
            out[f.name] = v
    return out


def _schedule(s: dict[str, Any], base: Path) -> Fixed | Tapering | AsNeeded | Given:
    if s["kind"] == "given":
        return Given.read(base / s["table"], name=s["table"])
    if s["kind"] == "tapering":  # a max_every below every is raised to it
        s = {**s, "max_every": max(s["max_every"], s["every"])}
    cls = SCHEDULE_CLASSES[s["kind"]]
    return cls(**_settings(cls, s))


#: Argument names of the API objects -> keys of the file, where they differ: the
#: settings' own ``file`` names, and the arguments that are not settings.
_FILE_KEYS = {"intervention": "treatment",
              **{f.name: f.metadata["key"].file
                 for cls in (Outcomes, Fixed, Tapering, AsNeeded, Protocol, Clinic, Cohort)
                 for f in dataclasses.fields(cls)
                 if "key" in f.metadata and f.metadata["key"].file}}
#: Cohort arguments that live elsewhere in the file.
_COHORT_PATHS = {"seed": "seed", "params": "model.parameters", "table": "model.parameters"}


def _dotted(where: str, keys: dict[str, Key], error_name: str) -> str:
    """The file's dotted path of an API error named like ``Fixed.start_day`` raised while
    building the object at ``where`` (whose keys are ``keys``): ``arms[0].schedule.start``.
    """
    m = re.fullmatch(r"(\w+)(?:\[['\"]?(.*?)['\"]?\])?", error_name.rsplit(".", 1)[-1])
    if not m:
        return where
    attr, sub = m.groups()
    if where == "cohort" and attr in _COHORT_PATHS:
        path = _COHORT_PATHS[attr]
    elif _FILE_KEYS.get(attr, attr) in keys:
        path = f"{where}.{_FILE_KEYS.get(attr, attr)}".lstrip(".")
    else:
        return where
    return f"{path}.{sub}" if sub else path


def _build(name: str, text: str, top: dict[str, Any], tables: dict[str, dict[str, Any]],
           arms_norm: list[dict[str, Any]], mix: dict[str, float]) -> Scenario:
    # Every value passed its key's check; the objects' own checks see combinations (and
    # guard against the schema drifting from them): their errors get the file's path.
    where, keys = "", SCHEMA[""]
    try:
        arms = []
        for i, a in enumerate(arms_norm):
            parts = []
            for j, (k, p) in enumerate(a["treatment"]):
                where, keys = f"arms[{i}].treatment[{j}]", TREATMENTS[k][1]
                parts.append(TREATMENTS[k][0](**p))
            proto = None
            if parts:
                intervention = (parts[0] if len(parts) == 1 else
                                tuple(parts) if a["visits"] == "alternate" else
                                iv.combine(*parts))
                schedules = {}
                for key in ("schedule", "maintenance"):
                    if a[key]:
                        where, keys = f"arms[{i}].{key}", SCHEDULES[a[key]["kind"]]
                        schedules[key] = _schedule(a[key], Path(name).parent)
                where, keys = f"arms[{i}]", SCHEMA["arms"]
                proto = Protocol(
                    intervention=intervention, schedule=schedules["schedule"],
                    maintenance=schedules.get("maintenance"), **_settings(Protocol, a))
            where, keys = f"arms[{i}]", SCHEMA["arms"]
            clinic = (Clinic(slots_per_day=a["clinic_slots_per_day"])
                      if a["clinic_slots_per_day"] else None)
            arms.append(Arm(name=a["name"], protocol=proto, clinic=clinic))
        params = tables["model"]["parameters"] or {}
        where, keys = "cohort", SCHEMA["cohort"]
        phenotypes = with_parameters(PHENOTYPE_PRESETS, params)
        c = tables["cohort"]
        base = Path(name).parent
        cohort = Cohort(n=c["patients"], seed=top["seed"], mix=mix,
                        phenotypes=phenotypes, run_in_days=c["run_in"],
                        table=None if c["table"] is None else base / c["table"],
                        events=None if c["events"] is None else base / c["events"],
                        random_flares=c["random_flares"])
        o = tables["outcomes"]
        where, keys = "outcomes", SCHEMA["outcomes"]
        outcomes = Outcomes(**_settings(Outcomes, o))
    except ParameterError as exc:  # a combination the key checks cannot see
        path = _dotted(where, keys, exc.name)
        msg = f"{_fmt(exc.value)} {exc.why}; allowed: {exc.allowed}"
        if " row " in exc.name or exc.name.endswith(" columns"):  # inside a table file
            msg = f"{exc.name}: {msg}"
        raise ScenarioError(f"{name}: {path}: {msg}", file=name,
                            problems=[(path, msg)]) from None
    data = {"title": top["title"], "description": top["description"], "seed": top["seed"],
            "horizon_days": top["horizon"], "decision_resolution_days":
            top["decision_resolution"], **tables, "arms": arms_norm}
    files = [tables["cohort"]["table"], tables["cohort"]["events"],
             *[a[k]["table"] for a in arms_norm for k in ("schedule", "maintenance")
               if a.get(k) and a[k].get("kind") == "given"]]
    inputs = {f: hashlib.sha256((Path(name).parent / f).read_bytes()).hexdigest()
              for f in files if f is not None}
    return Scenario(
        inputs=inputs,
        path=name, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
        title=top["title"], description=top["description"], seed=top["seed"],
        patients=tables["cohort"]["patients"], horizon_days=top["horizon"],
        epoch_days=top["decision_resolution"], arms=tuple(arms), cohort=cohort,
        outcomes=outcomes, rtol=tables["solver"]["rtol"], atol=tables["solver"]["atol"],
        outputs=tables["outputs"], data=data)


_days = days_in_words


def _as_written(raw: Any, days: float) -> str:
    """A duration in the words of the file (``"9 months"``), else in days or weeks."""
    return " ".join(raw.split()) if isinstance(raw, str) else _days(days)


def describe_scenario(s: Scenario) -> str:
    """The scenario in plain words: who, which arms, which sessions when; durations in
    the units the file used ("9 months", "every 2 weeks"), visit days as they fall."""
    try:
        written = tomllib.loads(s.text)
    except tomllib.TOMLDecodeError:  # pragma: no cover - it was loaded from this text
        written = {}
    raw_arms = written.get("arms") if isinstance(written.get("arms"), list) else []
    raw_arms = [a if isinstance(a, dict) else {} for a in raw_arms]
    raw_arms += [{}] * (len(s.arms) - len(raw_arms))

    def said(arm: int, table: str, key: str, days: float) -> str:
        t = raw_arms[arm].get(table)
        return _as_written(t.get(key) if isinstance(t, dict) else None, days)

    mix = ", ".join(f"{frac:.0%} {k.replace('_', ' ')} ({PHENOTYPE_PRESETS[k].description})"
                    for k, frac in s.cohort.mix.items())
    lines = [f"{s.title or Path(s.path).stem}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    cohort = written.get("cohort") if isinstance(written.get("cohort"), dict) else {}
    horizon = _as_written(written.get("horizon"), s.horizon_days) + " from day 0"
    if s.horizon_days != int(s.horizon_days):
        horizon += f" (daily readings to day {int(s.horizon_days)})"
    lines += [f"Who: {s.patients} virtual patients, seed {s.seed}: {mix}. Each is settled "
              f"by an untreated run-in of "
              f"{_as_written(cohort.get('run_in'), s.cohort.run_in_days)} before day 0.",
              f"Follow-up: {horizon}"
              + ("; decisions that read pain are taken every "
                 f"{_as_written(written.get('decision_resolution'), s.epoch_days)}."
                 if any(a.protocol and a.protocol.reads_state for a in s.arms) else "."),
              ""]
    for i, (a, raw) in enumerate(zip(s.arms, s.data["arms"], strict=True)):
        lines.append(f"Arm {a.name!r}:")
        if a.protocol is None:
            lines.append("  no treatment (natural course).")
        else:
            p = a.protocol
            what = " then ".join(i.name for i in p.interventions) if len(
                p.interventions) > 1 else p.interventions[0].name
            if len(p.interventions) > 1:
                what = "alternating " + what
            for kind, params in raw["treatment"]:
                if params:
                    args = ", ".join(f"{k} {v:g}" for k, v in params.items()
                                     if v is not None)
                    lines.append(f"  {kind.replace('_', ' ')}: {args}")
            sch = p.schedule
            hour = f"{int(p.visit_hour):02d}:{round(p.visit_hour % 1 * 60):02d}"
            lines.append(f"  {what}: "
                         + sch.in_words(hour, lambda k, d, i=i: said(i, "schedule", k, d))
                         + ".")
            if p.maintenance:
                m = p.maintenance
                raw_m = raw_arms[i].get("maintenance")
                told = isinstance(raw_m, dict) and "start" in raw_m  # else one `every`
                first = ("at the time of the course's last visit" if m.start_day == 0 else
                         f"{said(i, 'maintenance', 'start' if told else 'every', m.start_day)}"
                         " after the course's last visit")
                if isinstance(sch, Fixed) and sch.sessions:
                    first += (" (days " + visit_days_in_words(sch.planned_end_day
                                                              + m.start_day, m.every_days,
                                                              m.sessions) + ")")
                lines.append(f"  then {m.sessions} maintenance visits every "
                             f"{said(i, 'maintenance', 'every', m.every_days)}, the first "
                             f"{first}.")
            extras = []
            if p.p_miss:
                extras.append(f"{p.p_miss:.0%} of visits missed")
            if p.dropout_per_day:
                extras.append(f"dropout hazard {p.dropout_per_day:g}/day")
            if extras:
                lines.append("  " + "; ".join(extras) + ".")
        if a.clinic:
            lines.append(f"  Clinic: {a.clinic.slots_per_day} slots per day, first come "
                         "first served.")
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def reference_markdown() -> str:
    """Every scenario key with type, unit, default and allowed values, from the schema."""
    out = ["# Scenario file reference", "",
           "Generated from `painsim.scenario` (the schema that validates scenario files); "
           "regenerate with `painsim describe --reference`. Durations are strings with a "
           "unit: `min`, `hour`, `day`, `week`, `month` (30.4375 days), `year` (365.25 "
           "days). Visits stay on the calendar: a schedule's `start` in months or years "
           "is rounded down to a whole day, and visits at least a day apart are whole "
           "days apart, at the arm's `visit_hour` (every '1 month' from day 0: days 0, 30, "
           "60, 91, ..., 365 a year later).", ""]

    def table(title: str, keys: dict[str, Key]) -> None:
        out.extend([f"## {title}", "", "| key | type | default | allowed | meaning |",
                    "|---|---|---|---|---|"])
        for k, key in keys.items():
            d = "(required)" if key.required else ("—" if key.default is None else
                                                  f"`{key.default!r}`")
            out.append(f"| `{k}` | {key.type} | {d} | {key.allowed()} | {key.doc} |")
        out.append("")

    for section, keys in SCHEMA.items():
        title = "Top level" if not section else (
            "[[arms]] (one table per arm)" if section == "arms" else f"[{section}]")
        table(title, keys)
        for k, key in keys.items():
            if key.entries is not None:
                table(f"`{section}.{k}` (any of these keys)", key.entries)
    for kind, (_, keys) in TREATMENTS.items():
        table(f"Treatments: `kind = \"{kind}\"`", keys)
    for kind, keys in SCHEDULES.items():
        table(f"Schedules: `kind = \"{kind}\"`", keys)
    return "\n".join(out)
