"""What a session or a flare does to a lane, and when the solver stops for it.

The engine's *decide* side (:mod:`~painsim.events`) books sessions as
:class:`Sessions` records: which patients, when, which intervention, and which of its
effects happen (drawn per session from each patient's own ``effects`` stream with
:func:`draw_effects`). This module keeps them in a :class:`SessionBook`, holds the
cohort's flares as a :class:`FlareTable`, and turns both into what the *integrate* side
needs between two decision boundaries: a :class:`StopTable` (per-lane stop times) and
the ``on_stop`` function that applies each stop's effect to its own lane only
(:func:`stop_effects`).

A session whose drawn effects change nothing (``Effect.is_identity``) does not stop the
solver: a zero-effect arm then reproduces the control arm exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .interventions import Intervention
from .model import Model

__all__ = ["FLARE", "SESSION", "FlareTable", "SessionBook", "Sessions", "StopQueue",
           "StopTable", "changes_state", "clusters", "draw_effects", "effect_probabilities",
           "lane_probabilities",
           "stop_effects", "stop_program", "stop_table"]

#: The kind of a session's stop in a :class:`StopTable`.
SESSION = 0
#: The kind of a flare's stop in a :class:`StopTable`.
FLARE = 1


def effect_probabilities(interventions: Sequence[Intervention]) -> list[NDArray]:
    """Each intervention's per-session effect probabilities, in effect order."""
    return [np.array([e.probability for e in iv.effects]) for iv in interventions]


def clusters(interventions: Sequence[Intervention]) -> bool:
    """Whether any effect has patient-specific probabilities (``Effect.clustering``)."""
    return any(e.clustering > 0 for iv in interventions for e in iv.effects)


def lane_probabilities(interventions: Sequence[Intervention],
                       u: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """Each intervention's per-session effect probabilities for each lane, shape
    ``(lanes, effects)``, from the lanes' susceptibility draws ``u`` (one uniform per
    patient; :meth:`Effect.patient_probability`)."""
    return [np.stack([e.patient_probability(u) for e in iv.effects], axis=1)
            if iv.effects else np.zeros((u.size, 0)) for iv in interventions]


def draw_effects(intervention: Intervention, rng: np.random.Generator,
                 probs: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
    """Which effects of one session happen: one uniform draw per effect from ``rng``,
    against ``probs`` (this patient's own probabilities) or the effects' own."""
    if probs is None:
        probs = np.array([e.probability for e in intervention.effects])
    return rng.random(len(probs)) < probs


def changes_state(intervention: Intervention, happens: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per session (a row of ``happens``): does any effect that happens change anything?"""
    acts = np.zeros(happens.shape[0], dtype=bool)
    for e, h in zip(intervention.effects, happens.T, strict=True):
        if not e.is_identity:
            acts |= h
    return acts


@dataclass(frozen=True)
class Sessions:
    """Sessions booked together, one per lane: the record the SimPy processes and the
    batched planner both emit.

    ``lanes`` are the arm run's lane indices, ``t`` the session times (days), ``which``
    the index of the protocol's intervention given, ``happens`` one row of effect draws
    per lane, ``k`` each lane's 0-based session number and ``wait`` the days waited for
    a clinic slot.
    """

    lanes: NDArray[np.intp]
    t: NDArray[np.float64]
    which: int
    happens: NDArray[np.bool_]
    k: NDArray[np.int_]
    wait: float = 0.0


@dataclass
class SessionBook:
    """Every session booked in one arm run, column by column in booking order."""

    interventions: tuple[Intervention, ...]
    which: list[int] = field(default_factory=list)
    happens: list[NDArray[np.bool_]] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    lane: list[int] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    acts: list[bool] = field(default_factory=list)

    def add(self, s: Sessions) -> None:
        m = s.lanes.size
        self.which.extend([s.which] * m)
        self.happens.extend(list(s.happens))
        self.wait.extend([s.wait] * m)
        self.lane.extend(s.lanes.tolist())
        self.t.extend(s.t.tolist())
        self.acts.extend(changes_state(self.interventions[s.which], s.happens).tolist())


@dataclass(frozen=True)
class FlareTable:
    """One arm run's flares before the horizon (common to all arms).

    In log order: ``log_t``, ``log_lane``, ``kind`` and ``detail`` (the event log's
    entries) and ``row``, ``size`` (the state row raised and by how much); sorted by
    time, lane and log order: ``t``, ``lane`` and ``ref`` (the log-order index).
    """

    log_t: NDArray[np.float64]
    log_lane: NDArray[np.int64]
    kind: list[str]
    detail: list[str]
    row: NDArray[np.intp]
    size: NDArray[np.float64]
    t: NDArray[np.float64]
    lane: NDArray[np.int64]
    ref: NDArray[np.intp]

    @classmethod
    def of(cls, model: Model, flares: Sequence[Sequence[tuple]], columns: Sequence[int],
           horizon: float) -> FlareTable:
        """The flares of sample columns ``columns`` (lane ``j`` is ``columns[j]``)."""
        ft, fl, rows, sizes, kinds, details = [], [], [], [], [], []
        for j, g in enumerate(columns):
            for t, kind, target, size in flares[g]:
                if t < horizon:
                    ft.append(t)
                    fl.append(j)
                    rows.append(model.index(target))
                    sizes.append(size)
                    kinds.append(kind if kind.startswith("event: ") else f"flare: {kind}")
                    details.append(f"{target} +{size:g}")
        order = np.lexsort((np.arange(len(ft)), fl, ft))  # time, lane, log order
        return cls(log_t=np.array(ft, dtype=float), log_lane=np.array(fl, dtype=np.int64),
                   kind=kinds, detail=details, row=np.array(rows, dtype=np.intp),
                   size=np.array(sizes, dtype=float), t=np.array(ft, dtype=float)[order],
                   lane=np.array(fl, dtype=np.int64)[order], ref=order)


@dataclass(frozen=True)
class StopTable:
    """Per-lane stops of one integration pass, padded with +inf: ``stops`` (times),
    ``refs`` (index into the flare table or the session book) and ``kinds``
    (:data:`FLARE` or :data:`SESSION`; -1 for padding), each ``(n_lanes, width)``."""

    stops: NDArray[np.float64]
    refs: NDArray[np.int_]
    kinds: NDArray[np.int_]


def stop_table(t: NDArray, lane: NDArray, kind: NDArray, ref: NDArray,
               n: int) -> StopTable | None:
    """Per-lane stop rows from events given in any lane order (``None`` when there are
    none); ties of lane and time keep their given order (flares before sessions)."""
    if not t.size:
        return None
    order = np.lexsort((t, lane))
    t, lane, kind, ref = t[order], lane[order], kind[order], ref[order]
    first = np.searchsorted(lane, lane, side="left")
    col = np.arange(lane.size) - first
    width = int(col.max()) + 1
    stops = np.full((n, width), np.inf)
    refs = np.zeros((n, width), dtype=int)
    kinds = np.full((n, width), -1, dtype=int)
    stops[lane, col], refs[lane, col], kinds[lane, col] = t, ref, kind
    return StopTable(stops=stops, refs=refs, kinds=kinds)


@dataclass
class StopQueue:
    """The flares and booked sessions not yet integrated, taken pass by pass."""

    flares: FlareTable
    book: SessionBook
    f_next: int = 0  # first flare not yet integrated
    s_next: int = 0  # first session not yet integrated

    def take(self, until: float, n: int) -> StopTable | None:
        """The stops of the flares before ``until`` and of every session booked since
        the last call that changes its lane (``n`` lanes)."""
        f_next, s_next, book = self.f_next, self.s_next, self.book
        f_end = int(np.searchsorted(self.flares.t, until, side="left"))
        acts = np.flatnonzero(np.array(book.acts[s_next:], dtype=bool))
        s_ref = s_next + acts
        st = np.concatenate([self.flares.t[f_next:f_end],
                             np.array(book.t[s_next:], dtype=float)[acts]])
        sl = np.concatenate([self.flares.lane[f_next:f_end],
                             np.array(book.lane[s_next:], dtype=np.int64)[acts]])
        sk = np.concatenate([np.full(f_end - f_next, FLARE), np.full(acts.size, SESSION)])
        sr = np.concatenate([self.flares.ref[f_next:f_end], s_ref])
        self.f_next, self.s_next = f_end, len(book.t)
        return stop_table(st, sl, sk, sr, n)


def _lane_operations(model: Model, iv: Intervention) -> tuple[NDArray, ...] | None:
    """Per effect of ``iv``: whether it acts on the model, and its operation
    (code, index, value, lo, hi) for :class:`~painsim.compiled.StopEffects`; None when
    it gives a pulse the model's lane form does not have."""
    from . import compiled as c

    n = len(iv.effects)
    acts = np.zeros(n, dtype=bool)
    code, index = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    value, lo, hi = np.zeros(n), np.full(n, -np.inf), np.full(n, np.inf)
    for j, e in enumerate(iv.effects):
        kind = e.kind(model)
        if kind == "none":
            continue
        acts[j], value[j] = True, e.value
        if kind == "pulse":
            at = model.lane_form.pulse_index(e.target)
            if at is None:
                return None
            code[j], index[j] = c.PULSE, at
        elif kind == "state":
            code[j] = c.ADD_STATE if e.op == "add" else c.SCALE_STATE
            index[j] = model.state_index[e.target]
        else:
            code[j] = c.ADD_PARAMETER if e.op == "add" else c.SCALE_PARAMETER
            index[j] = model.parameter_index[e.target]
            lo[j], hi[j] = model.parameters[index[j]].bounds
    return acts, code, index, value, lo, hi


def stop_program(model: Model, flares: FlareTable, book: SessionBook,
                 table: StopTable) -> Any:
    """The effects :func:`stop_effects` applies, as data for the compiled loop
    (:class:`painsim.compiled.StopEffects`): per stop, a flare's state increase, or the
    operations of the session's effects that happen, in effect order. None when a
    session gives a pulse without a lane form (``LaneForm.pulses``): then
    :func:`stop_effects` applies them in Python."""
    from .compiled import ADD_STATE, StopEffects

    n, width = table.stops.shape
    count = np.zeros((n, width), dtype=np.int64)
    fi, fk = np.nonzero(table.kinds == FLARE)
    count[fi, fk] = 1
    si, sk = np.nonzero(table.kinds == SESSION)
    refs = table.refs[si, sk]
    which = np.array([book.which[x] for x in refs], dtype=np.int64)
    groups = []
    for iv in np.unique(which):
        ops = _lane_operations(model, book.interventions[iv])
        if ops is None:
            return None
        sel = np.flatnonzero(which == iv)
        on = np.stack([book.happens[x] for x in refs[sel]]) & ops[0]
        count[si[sel], sk[sel]] = on.sum(axis=1)
        groups.append((sel, on, ops))
    start = np.cumsum(count.ravel()) - count.ravel()
    start = start.reshape(n, width)
    m = int(count.sum())
    code, index = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    value, lo, hi = np.zeros(m), np.full(m, -np.inf), np.full(m, np.inf)
    at = start[fi, fk]
    r = table.refs[fi, fk]
    code[at], index[at], value[at] = ADD_STATE, flares.row[r], flares.size[r]
    for sel, on, ops in groups:
        row, e = np.nonzero(on)  # row by row: each session's effects in order
        rank = np.arange(row.size) - np.searchsorted(row, row)
        at = start[si[sel][row], sk[sel][row]] + rank
        code[at], index[at], value[at], lo[at], hi[at] = (x[e] for x in ops[1:])
    return StopEffects(start=start, count=count, code=code, index=index, value=value,
                       lo=lo, hi=hi)


def stop_effects(model: Model, P: NDArray, flares: FlareTable, book: SessionBook,
                 table: StopTable) -> Callable[..., NDArray]:
    """The solver's ``on_stop(t, y, lanes, k)``: the effect of stop ``k`` of each lane in
    ``lanes`` on that lane only (a flare raises its state row; a session applies its
    intervention's effects that happen, which may change ``P`` in place)."""
    refs, kinds = table.refs, table.kinds

    def on_stop(t, y, lanes, k):
        out = np.array(y, dtype=float)
        r, kd = refs[lanes, k], kinds[lanes, k]
        fl = np.flatnonzero(kd == FLARE)  # one column each: no repeated index
        out[flares.row[r[fl]], fl] += flares.size[r[fl]]
        sess = np.flatnonzero(kd == SESSION)
        if sess.size:
            which = np.array([book.which[x] for x in r[sess]])
            for iv in np.unique(which):
                s = sess[which == iv]
                hap = np.stack([book.happens[x] for x in r[s]], axis=1)
                out[:, s] = book.interventions[iv].apply(model, out[:, s], P, lanes[s], hap)
        return out
    return on_stop
