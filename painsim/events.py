"""When sessions happen in one arm run: the SimPy processes, the batched planner, and
the event log.

:class:`Visits` holds what deciding needs and writes: each patient's pain as of the last
decision boundary (``pain_now``, set by the engine), the :class:`EventLog`, the
:class:`~painsim.effects.SessionBook`, dropout days and the day each course ended. Its
SimPy processes (:meth:`Visits.start`: one per patient, and a shared clinic) decide
visit by visit and may read pain; :func:`plan_fixed` makes the same decisions for all
patients at once when nothing reads the state or couples patients (:func:`plannable`).
Both emit :class:`~painsim.effects.Sessions` records through :meth:`Visits.book`.
"""

from __future__ import annotations

import array
import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from .cohort import PatientStreams, patient_rng
from .effects import (
    SessionBook,
    Sessions,
    clusters,
    draw_effects,
    effect_probabilities,
    lane_probabilities,
)
from .interventions import Intervention
from .protocols import Arm, Fixed, Given, visit_day
from .spool import code_dtype

__all__ = ["EventLog", "Visits", "plan_fixed", "plannable"]


class EventLog:
    """The event log, column by column with coded strings (a million events of a large
    cohort take tens of MB, not hundreds as tuples of strings would)."""

    def __init__(self) -> None:
        self.lane = array.array("q")
        self.t = array.array("d")
        self.kind = array.array("i")
        self.detail = array.array("i")
        self.kinds: dict[str, int] = {}
        self.details: dict[str, int] = {}

    def add(self, lane: int, t: float, kind: str, detail: str) -> None:
        self.lane.append(lane)
        self.t.append(t)
        self.kind.append(self.kinds.setdefault(kind, len(self.kinds)))
        self.detail.append(self.details.setdefault(detail, len(self.details)))

    def extend(self, lanes: NDArray, t: NDArray, kind: str | list[str],
               details: list[str]) -> None:
        """Many entries at once: one kind for all, or one per entry."""
        if not len(lanes):
            return
        self.lane.extend(lanes.tolist())
        self.t.extend(t.tolist())
        k = self.kinds
        if isinstance(kind, str):
            self.kind.extend([k.setdefault(kind, len(k))] * len(lanes))
        else:
            self.kind.extend([k.setdefault(x, len(k)) for x in kind])
        d = self.details
        self.detail.extend([d.setdefault(x, len(d)) for x in details])

    def arrays(self) -> dict[str, Any]:
        """The log as arrays: lanes as int32 (a cohort has at most 10**7 patients) and
        kind codes in the smallest type that holds them (:func:`code_dtype`): a million
        events take 17 MB, not 24."""
        return {"lane": np.frombuffer(self.lane, dtype=np.int64).astype(np.int32),
                "t": np.frombuffer(self.t, dtype=np.float64).copy(),
                "kind": np.frombuffer(self.kind, dtype=np.intc).astype(
                    code_dtype(len(self.kinds))),
                "kinds": list(self.kinds),
                "detail": np.frombuffer(self.detail, dtype=np.intc).astype(np.int32),
                "details": list(self.details)}


def plannable(arm: Arm) -> bool:
    """Fixed or Given schedules without a clinic or dropout: nothing couples patients
    or reads the state, so every visit time is known in advance."""
    proto = arm.protocol
    return (proto is not None and arm.clinic is None
            and isinstance(proto.schedule, Fixed | Given) and proto.dropout_per_day == 0)


@dataclass
class _Patient:
    """Mutable per-patient bookkeeping inside one arm's SimPy run."""

    rng_visits: np.random.Generator
    rng_effects: np.random.Generator
    rng_dropout: np.random.Generator
    k: int = 0
    dropped: bool = False
    adverse: bool = False
    last_check: float = 0.0
    last_session: float = -math.inf


@dataclass
class Visits:
    """The decide side of one arm run on ``lanes`` (global patient indices)."""

    arm: Arm
    lanes: NDArray[np.intp]
    seed: int
    horizon: float
    baseline: NDArray[np.float64]  # each lane's pain at day 0
    pain_now: NDArray[np.float64]  # each lane's pain at the last boundary (engine sets)
    log: EventLog = field(default_factory=EventLog)
    book: SessionBook = field(init=False)
    dropout: NDArray[np.float64] = field(init=False)
    course_end: NDArray[np.float64] = field(init=False)
    #: Per intervention, each lane's effect probabilities (lanes, effects); None when
    #: no effect clusters in patients (every lane has the effects' own probabilities).
    lane_probs: list[NDArray[np.float64]] | None = field(init=False)

    def __post_init__(self) -> None:
        n = self.lanes.size
        self.book = SessionBook(self.interventions)
        self.dropout = np.full(n, np.inf)
        self.course_end = np.full(n, np.nan)
        self.lane_probs = None
        if clusters(self.interventions):
            st = PatientStreams(self.seed, self.lanes, "susceptibility")
            u = np.array([st[j].random() for j in range(n)])
            self.lane_probs = lane_probabilities(self.interventions, u)

    @property
    def interventions(self) -> tuple[Intervention, ...]:
        return self.arm.protocol.interventions if self.arm.protocol else ()

    def book_sessions(self, s: Sessions) -> None:
        """Book ``s`` and log it. Per lane the log reads: the session, then its adverse
        events in effect order."""
        self.book.add(s)
        intv = self.interventions[s.which]
        waited = f", waited {s.wait:.2f} d" if s.wait > 0 else ""
        self.log.extend(s.lanes, s.t, "session",
                        [f"{intv.name} #{x + 1}{waited}" for x in s.k.tolist()])
        for e, h in zip(intv.effects, s.happens.T, strict=True):
            if e.event and h.any():
                self.log.extend(s.lanes[h], s.t[h], "adverse event",
                                [e.event] * int(h.sum()))

    # --- SimPy processes -----------------------------------------------------------
    def start(self, env: simpy.Environment) -> None:
        """The arm's clinic (if any) and one process per patient, in ``env``."""
        clinic = (simpy.Resource(env, capacity=self.arm.clinic.slots_per_day)
                  if self.arm.clinic else None)
        for lane in range(self.lanes.size):
            env.process(self._patient(env, lane, clinic))

    def _session(self, lane: int, t: float, st: _Patient, wait: float) -> None:
        idx = st.k % len(self.interventions)
        intv = self.interventions[idx]
        happens = draw_effects(intv, st.rng_effects,
                               None if self.lane_probs is None else self.lane_probs[idx][lane])
        self.book_sessions(Sessions(lanes=np.array([lane]), t=np.array([t]), which=idx,
                                    happens=happens[None, :], k=np.array([st.k]),
                                    wait=wait))
        for e, h in zip(intv.effects, happens, strict=True):
            if h and e.event:
                st.adverse = True
        st.k += 1
        st.last_session = t

    def _drops_out(self, now: float, lane: int, st: _Patient) -> bool:
        """The dropout check at a planned visit (pain- and adverse-event-dependent)."""
        proto = self.arm.protocol
        h = proto.dropout_per_day * (1 + proto.dropout_pain_factor
                                     * self.pain_now[lane] / 10)
        h *= proto.dropout_adverse_factor if st.adverse else 1.0
        p = 1.0 - math.exp(-h * max(now - st.last_check, 0.0))
        st.last_check = now
        if st.rng_dropout.random() < p:
            st.dropped = True
            self.dropout[lane] = now
            self.log.add(lane, now, "dropout", f"pain {self.pain_now[lane]:.2f}")
            return True
        return False

    def _attend(self, env: simpy.Environment, lane: int, st: _Patient,
                clinic: simpy.Resource | None) -> Generator[Any, Any, bool]:
        """One planned visit: dropout check, missed visit, clinic queue, session."""
        proto = self.arm.protocol
        now = env.now
        u_miss = st.rng_visits.random()  # drawn for every planned visit: aligned streams
        if proto.dropout_per_day > 0 and self._drops_out(now, lane, st):
            return False
        if u_miss < proto.p_miss:
            self.log.add(lane, now, "missed visit", "")
            return False
        if clinic is None:
            self._session(lane, now, st, 0.0)
            return True
        req = clinic.request()
        yield req
        self._session(lane, env.now, st, env.now - now)
        yield env.timeout(1.0)  # the slot is taken for the day
        clinic.release(req)
        return True

    def _patient(self, env, lane: int, clinic):
        """One patient's SimPy process: its schedule says when, :meth:`_attend` does the
        visit; then the maintenance phase, if any."""
        proto = self.arm.protocol
        g = int(self.lanes[lane])
        st = _Patient(rng_visits=patient_rng(self.seed, g, "visits"),
                      rng_effects=patient_rng(self.seed, g, "effects"),
                      rng_dropout=patient_rng(self.seed, g, "dropout"))
        ctx = _PatientVisits(self, env, lane, st, clinic, g)
        yield from proto.schedule.visits(ctx)
        self.course_end[lane] = st.last_session if st.k else np.nan
        m = proto.maintenance
        if m is not None and st.k and not st.dropped:
            yield from m.visits(ctx, from_day=st.last_session - ctx.hour)


class _PatientVisits:
    """The :class:`painsim.protocols.VisitContext` of one patient in one arm run."""

    def __init__(self, visits: Visits, env: simpy.Environment, lane: int, st: _Patient,
                 clinic: simpy.Resource | None, patient: int) -> None:
        self._v, self._lane, self._st, self._clinic = visits, lane, st, clinic
        self.env, self.patient = env, patient
        self.horizon = visits.horizon
        self.hour = visits.arm.protocol.visit_hour / 24.0

    @property
    def dropped(self) -> bool:
        return self._st.dropped

    @property
    def last_session(self) -> float:
        return self._st.last_session

    @property
    def pain_now(self) -> float:
        return self._v.pain_now[self._lane]

    @property
    def baseline(self) -> float:
        return self._v.baseline[self._lane]

    def attend(self) -> Generator[Any, Any, bool]:
        return self._v._attend(self.env, self._lane, self._st, self._clinic)


# --- the batched planner: the same decisions without SimPy ----------------------------
@dataclass
class _Lockstep:
    """All lanes' visits in lockstep: the state of :func:`plan_fixed`."""

    visits: Visits
    U: NDArray | None  # each lane's visit draws (missed visits), or None: none missed
    R: NDArray | None  # each lane's effect draws, or None: none needed
    probs: list[NDArray]
    hour: float
    now: NDArray = field(init=False)
    k: NDArray = field(init=False)
    visit: NDArray = field(init=False)
    used: NDArray = field(init=False)  # effect draws used per patient
    last: NDArray = field(init=False)

    def __post_init__(self) -> None:
        n = self.visits.lanes.size
        self.now = np.zeros(n)
        self.k = np.zeros(n, dtype=int)
        self.visit = np.zeros(n, dtype=int)
        self.used = np.zeros(n, dtype=int)
        self.last = np.full(n, -math.inf)

    def attend(self, alive: NDArray) -> None:
        """The planned visit of the ``alive`` lanes, at ``now``."""
        v, now, k, used = self.visits, self.now, self.k, self.used
        p_miss = v.arm.protocol.p_miss
        lanes = np.flatnonzero(alive)
        if p_miss > 0:
            missed = self.U[lanes, self.visit[lanes]] < p_miss
        else:
            missed = np.zeros(lanes.size, dtype=bool)
        self.visit[lanes] += 1
        gone = lanes[missed]
        v.log.extend(gone, now[gone], "missed visit", [""] * gone.size)
        att = lanes[~missed]
        which = k[att] % len(v.interventions)
        for idx in np.unique(which).tolist():
            sel = att[which == idx]
            p = self.probs[idx]
            if self.R is None:
                H = np.broadcast_to(p >= 1.0, (sel.size, p.size))
            else:
                if v.lane_probs is not None:
                    p = v.lane_probs[idx][sel]
                H = self.R[sel[:, None], used[sel, None] + np.arange(p.shape[-1])] < p
                used[sel] += p.shape[-1]
            v.book_sessions(Sessions(lanes=sel, t=now[sel], which=idx, happens=H, k=k[sel]))
        k[att] += 1
        self.last[att] = now[att]

    def planned(self, alive: NDArray, t_plan: NDArray, sessions: int, every: float) -> None:
        """As :meth:`Visits._planned` (no growth), for the ``alive`` lanes."""
        first, hour, now = t_plan, self.hour, self.now
        for _ in range(sessions):
            day = visit_day(t_plan, every, first)
            alive = alive & (day + hour < self.visits.horizon)
            if not alive.any():
                return
            target = day + hour
            adv = alive & (target > now)
            now[adv] = now[adv] + (target[adv] - now[adv])
            self.attend(alive)
            t_plan = np.maximum(t_plan, self.last - hour) + every

    def given(self, D: NDArray) -> None:
        """As :meth:`Visits._given`: exact days (rows padded with +inf), none from the
        horizon on."""
        now = self.now
        alive = np.ones(D.shape[0], dtype=bool)
        for j in range(D.shape[1]):
            alive = alive & (D[:, j] < self.visits.horizon)
            if not alive.any():
                break
            adv = alive & (D[:, j] > now)
            now[adv] = now[adv] + (D[adv, j] - now[adv])
            self.attend(alive)


def plan_fixed(v: Visits) -> None:
    """All patients' visits of a Fixed or Given schedule (and Fixed maintenance) at once.

    Replays :meth:`Visits._patient` visit by visit for every patient in lockstep: the
    same times (the same floating-point operations), the same draws from each patient's
    streams, the same log entries in the same per-patient order. A stream whose draws
    cannot change anything (no misses possible; effects with probability 0 or 1 only)
    is not created: the streams are per patient and per purpose, so skipping one
    changes no other number.
    """
    proto = v.arm.protocol
    n, lanes = v.lanes.size, v.lanes
    probs = effect_probabilities(v.interventions)
    m, sched = proto.maintenance, proto.schedule
    D = sched.days.rows(lanes) if isinstance(sched, Given) else None
    n_course = D.shape[1] if D is not None else sched.sessions
    n_visits = n_course + (m.sessions if m is not None else 0)
    U = R = None
    if proto.p_miss > 0:
        st = PatientStreams(v.seed, lanes, "visits")
        U = np.array([st[j].random(n_visits) for j in range(n)]).reshape(n, n_visits)
    if any(((p > 0) & (p < 1)).any() for p in probs):
        width = n_visits * max(p.size for p in probs)
        st = PatientStreams(v.seed, lanes, "effects")
        R = np.array([st[j].random(width) for j in range(n)]).reshape(n, width)
    ls = _Lockstep(visits=v, U=U, R=R, probs=probs, hour=proto.visit_hour / 24.0)
    if D is not None:
        ls.given(D)
    else:
        ls.planned(np.ones(n, dtype=bool), np.full(n, float(sched.start_day)),
                   sched.sessions, sched.every_days)
    v.course_end = np.where(ls.k > 0, ls.last, np.nan)
    if m is not None:
        ls.planned(ls.k > 0, (ls.last - ls.hour) + m.start_day, m.sessions, m.every_days)
