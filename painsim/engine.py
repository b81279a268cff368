"""The engine: one clock for SimPy decisions and the batched solver.

For each arm the cohort's state is one array ``(n_states, n_patients)``. The engine
alternates:

1. **Decide** — the SimPy processes (one per patient: its protocol; and a shared clinic)
   run up to the next decision boundary, reading each patient's pain as of the last
   boundary, and emit events with exact times (sessions, missed visits, dropout).
2. **Integrate** — every patient is integrated to that boundary by one call of
   :func:`painsim.integrate`, each stopping exactly at its *own* event times (sessions,
   flares) where the event's effect is applied to its lane only.

When no process reads the state (fixed schedules, no pain-dependent dropout) the whole
horizon is one pass; fixed schedules without a clinic or dropout are then planned for all
patients at once (:meth:`_ArmRun._plan_fixed`, the same decisions as the SimPy processes,
which a test checks) instead of running one process per patient. Otherwise boundaries
are ``epoch_days`` apart (default 1 day): the *resolution of state-based decisions*,
not of the dynamics, which are always integrated with error control and exact event
times.

Crossings of the relief and relapse thresholds are located on the solver's dense
output (:attr:`painsim.Solution.crossings`), not on the daily save grid.
"""

from __future__ import annotations

import array
import dataclasses
import itertools
import math
import mmap
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from .cohort import MAX_PATIENTS, Cohort, CohortSample, PatientStreams, patient_rng
from .compiled import integrate_pain, require_numba, warm_up
from .errors import ParameterError, check_number, check_type
from .interventions import Intervention
from .model import Model
from .outcomes import Outcomes, SimulationResult, build_result, patient_outcomes
from .protocols import MAX_DAY, Arm, AsNeeded, Fixed, Given, Tapering, visit_day
from .solver import integrate

__all__ = ["simulate"]

_SESSION, _FLARE = 0, 1


class _EventLog:
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
        return {"lane": np.frombuffer(self.lane, dtype=np.int64).copy(),
                "t": np.frombuffer(self.t, dtype=np.float64).copy(),
                "kind": np.frombuffer(self.kind, dtype=np.intc).astype(np.int32),
                "kinds": list(self.kinds),
                "detail": np.frombuffer(self.detail, dtype=np.intc).astype(np.int32),
                "details": list(self.details)}


def _merge_logs(logs: list[dict[str, Any]], offsets: list[int]) -> dict[str, Any]:
    """One log from chunks' logs (lanes shifted by each chunk's first patient)."""
    kinds: dict[str, int] = {}
    details: dict[str, int] = {}
    out: dict[str, list] = {"lane": [], "t": [], "kind": [], "detail": []}
    for lg, off in zip(logs, offsets, strict=True):
        kmap = np.array([kinds.setdefault(k, len(kinds)) for k in lg["kinds"]], dtype=np.int32)
        dmap = np.array([details.setdefault(d, len(details)) for d in lg["details"]],
                        dtype=np.int32)
        out["lane"].append(lg["lane"] + off)
        out["t"].append(lg["t"])
        out["kind"].append(kmap[lg["kind"]] if kmap.size else lg["kind"])
        out["detail"].append(dmap[lg["detail"]] if dmap.size else lg["detail"])
    merged: dict[str, Any] = {k: np.concatenate(v) for k, v in out.items()}
    merged["kinds"], merged["details"] = list(kinds), list(details)
    return merged


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
class _ArmRun:
    model: Model
    arm: Arm
    sample: CohortSample
    lanes: NDArray[np.intp]  # global patient indices
    horizon: float
    epoch_days: float
    outcomes: Outcomes
    seed: int
    rtol: float
    atol: float
    backend: str = "numpy"
    first: int = 0  # global index of the sample's first patient
    pain_out: NDArray[np.float64] | None = None  # (n, n_days) to fill, e.g. shared memory
    log: _EventLog = field(default_factory=lambda: _EventLog())
    sess_int: list[int] = field(default_factory=list)
    sess_hap: list[NDArray[np.bool_]] = field(default_factory=list)
    sess_wait: list[float] = field(default_factory=list)
    sess_lane: list[int] = field(default_factory=list)
    sess_t: list[float] = field(default_factory=list)
    sess_acts: list[bool] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: {"decide_s": 0.0,
                                                                "integrate_s": 0.0})

    def __post_init__(self) -> None:
        n = self.lanes.size
        cols = self.lanes - self.first
        self.P = self.sample.params[:, cols].copy()
        self.y = self.sample.y0[:, cols].copy()
        self.pain_now = self.model.pain_of(self.y, self.P)
        self.baseline = self.pain_now.copy()
        o = self.outcomes
        self.levels = np.stack([self.baseline * (1 - o.relief_fraction),
                                self.baseline * (1 - o.relapse_fraction)])
        self.dropout = np.full(n, np.inf)
        self.course_end = np.full(n, np.nan)
        # flares are known in advance (common to all arms): arrays sorted by time
        ft, fl, rows, sizes, kinds, details = [], [], [], [], [], []
        index = self.model.index
        for j, g in enumerate((self.lanes - self.first).tolist()):
            for t, kind, target, size in self.sample.flares[g]:
                if t < self.horizon:
                    ft.append(t)
                    fl.append(j)
                    rows.append(index(target))
                    sizes.append(size)
                    kinds.append(kind if kind.startswith("event: ") else f"flare: {kind}")
                    details.append(f"{target} +{size:g}")
        self.log.extend(np.array(fl, dtype=np.int64), np.array(ft, dtype=float), kinds,
                        details)
        self.flare_row = np.array(rows, dtype=np.intp)
        self.flare_size = np.array(sizes, dtype=float)
        order = np.lexsort((np.arange(len(ft)), fl, ft))  # time, lane, log order
        self.flare_t = np.array(ft, dtype=float)[order]
        self.flare_lane = np.array(fl, dtype=np.int64)[order]
        self.flare_ref = order
        self.interventions: tuple[Intervention, ...] = (
            self.arm.protocol.interventions if self.arm.protocol else ())

    # --- SimPy side ----------------------------------------------------------------
    def _log(self, lane: int, t: float, kind: str, detail: str = "") -> None:
        self.log.add(lane, t, kind, detail)

    def _session(self, lane: int, t: float, st: _Patient, wait: float) -> None:
        idx = st.k % len(self.interventions)
        intv = self.interventions[idx]
        probs = np.array([e.probability for e in intv.effects])
        happens = st.rng_effects.random(len(probs)) < probs
        self._record(np.array([lane]), np.array([t]), idx, happens[None, :],
                     np.array([st.k]), wait)
        for e, h in zip(intv.effects, happens, strict=True):
            if h and e.event:
                st.adverse = True
        st.k += 1
        st.last_session = t

    def _record(self, lanes: NDArray, t: NDArray, idx: int, happens: NDArray, k: NDArray,
                wait: float = 0.0) -> None:
        """Book session ``k`` (0-based, per lane) of intervention ``idx`` for ``lanes`` at
        days ``t`` and log it; ``happens`` has one row of effect draws per lane. Per lane
        the log reads: the session, then its adverse events in effect order."""
        intv = self.interventions[idx]
        m = lanes.size
        self.sess_int.extend([idx] * m)
        self.sess_hap.extend(list(happens))
        self.sess_wait.extend([wait] * m)
        self.sess_lane.extend(lanes.tolist())
        self.sess_t.extend(t.tolist())
        # a session that changes nothing does not stop the solver: a zero-effect arm
        # then reproduces the control arm exactly
        acts = np.zeros(m, dtype=bool)
        for e, h in zip(intv.effects, happens.T, strict=True):
            if not e.is_identity:
                acts |= h
        self.sess_acts.extend(acts.tolist())
        waited = f", waited {wait:.2f} d" if wait > 0 else ""
        self.log.extend(lanes, t, "session",
                        [f"{intv.name} #{x + 1}{waited}" for x in k.tolist()])
        for e, h in zip(intv.effects, happens.T, strict=True):
            if e.event and h.any():
                self.log.extend(lanes[h], t[h], "adverse event", [e.event] * int(h.sum()))

    def _attend(self, env: simpy.Environment, lane: int, st: _Patient,
                clinic: simpy.Resource | None):
        """One planned visit: dropout check, missed visit, clinic queue, session."""
        proto = self.arm.protocol
        now = env.now
        u_miss = st.rng_visits.random()  # drawn for every planned visit: aligned streams
        if proto.dropout_per_day > 0:
            h = proto.dropout_per_day * (1 + proto.dropout_pain_factor
                                         * self.pain_now[lane] / 10)
            h *= proto.dropout_adverse_factor if st.adverse else 1.0
            p = 1.0 - math.exp(-h * max(now - st.last_check, 0.0))
            st.last_check = now
            if st.rng_dropout.random() < p:
                st.dropped = True
                self.dropout[lane] = now
                self._log(lane, now, "dropout", f"pain {self.pain_now[lane]:.2f}")
                return False
        if u_miss < proto.p_miss:
            self._log(lane, now, "missed visit")
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

    def _planned(self, env, lane, st, clinic, t_first: float, sessions: int,
                 every: float, *, growth: float = 1.0, max_every: float = math.inf,
                 improvement: float | None = None):
        """Planned visits; with ``improvement`` set, intervals grow as pain falls."""
        t_plan, interval = t_first, every
        hour = self.arm.protocol.visit_hour / 24.0
        for _ in range(sessions):
            day = visit_day(t_plan, every, t_first)  # whole days apart (daily or rarer)
            if day + hour >= self.horizon or st.dropped:
                return
            if day + hour > env.now:
                yield env.timeout(day + hour - env.now)
            yield from self._attend(env, lane, st, clinic)
            if improvement is not None and \
                    self.pain_now[lane] <= (1 - improvement) * self.baseline[lane]:
                interval = min(interval * growth, max_every)
            t_plan = max(t_plan, st.last_session - hour) + interval

    def _given(self, env, lane, st, clinic, days: tuple[float, ...]):
        """Visits on the patient's own given days (exact times, no visit hour)."""
        for t in days:
            if t >= self.horizon or st.dropped:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            yield from self._attend(env, lane, st, clinic)

    def _as_needed(self, env, lane, st, clinic, sched: AsNeeded):
        count = done = 0
        t = math.ceil(sched.start_day)
        while t < self.horizon and done < sched.max_sessions and not st.dropped:
            if t > env.now:
                yield env.timeout(t - env.now)
            count = count + 1 if self.pain_now[lane] >= sched.threshold else 0
            hour = self.arm.protocol.visit_hour / 24.0
            if count >= sched.consecutive_days and t + hour < self.horizon and \
                    env.now + hour - st.last_session >= sched.min_gap_days:
                if hour > 0:  # the morning check books a visit later that day
                    yield env.timeout(hour)
                attended = yield from self._attend(env, lane, st, clinic)
                done += 1 if attended else 0
                count = 0
            t = max(t + 1, math.ceil(env.now))

    def _patient(self, env, lane: int, clinic):
        proto = self.arm.protocol
        g = int(self.lanes[lane])
        st = _Patient(rng_visits=patient_rng(self.seed, g, "visits"),
                      rng_effects=patient_rng(self.seed, g, "effects"),
                      rng_dropout=patient_rng(self.seed, g, "dropout"))
        sched = proto.schedule
        if isinstance(sched, Fixed):
            yield from self._planned(env, lane, st, clinic, sched.start_day, sched.sessions,
                                     sched.every_days)
        elif isinstance(sched, Given):
            yield from self._given(env, lane, st, clinic, sched.days.get(g, ()))
        elif isinstance(sched, Tapering):
            yield from self._planned(env, lane, st, clinic, sched.start_day, sched.sessions,
                                     sched.every_days, growth=sched.growth,
                                     max_every=sched.max_every_days,
                                     improvement=sched.improvement)
        else:
            yield from self._as_needed(env, lane, st, clinic, sched)
        self.course_end[lane] = st.last_session if st.k else np.nan
        m = proto.maintenance
        if m is not None and st.k and not st.dropped:
            last_day = st.last_session - proto.visit_hour / 24.0
            yield from self._planned(env, lane, st, clinic, last_day + m.start_day,
                                     m.sessions, m.every_days)

    # --- batched planner: the same decisions without SimPy --------------------------
    #: Use :meth:`_plan_fixed` where it applies (tests switch it off to compare).
    use_planner = True

    def _plannable(self) -> bool:
        """Fixed or Given schedules without a clinic or dropout: nothing couples patients
        or reads the state, so every visit time is known in advance."""
        proto = self.arm.protocol
        return (self.use_planner and proto is not None and self.arm.clinic is None
                and isinstance(proto.schedule, Fixed | Given) and proto.dropout_per_day == 0)

    def _plan_fixed(self) -> None:
        """All patients' visits of a Fixed or Given schedule (and Fixed maintenance) at once.

        Replays :meth:`_patient` visit by visit for every patient in lockstep: the same
        times (the same floating-point operations), the same draws from each patient's
        streams, the same log entries in the same per-patient order. A stream whose draws
        cannot change anything (no misses possible; effects with probability 0 or 1 only)
        is not created: the streams are per patient and per purpose, so skipping one
        changes no other number.
        """
        proto = self.arm.protocol
        n, hour, horizon = self.lanes.size, proto.visit_hour / 24.0, self.horizon
        ivs = self.interventions
        probs = [np.array([e.probability for e in iv.effects]) for iv in ivs]
        m = proto.maintenance
        sched = proto.schedule
        if isinstance(sched, Given):  # each patient's own days, padded with +inf
            own = [sched.days.get(int(g), ()) for g in self.lanes.tolist()]
            D = np.full((n, max((len(d) for d in own), default=0)), np.inf)
            for j, d in enumerate(own):
                D[j, :len(d)] = d
            n_course = D.shape[1]
        else:
            n_course = sched.sessions
        n_visits = n_course + (m.sessions if m is not None else 0)
        if proto.p_miss > 0:
            st = PatientStreams(self.seed, self.lanes, "visits")
            U = np.array([st[j].random(n_visits) for j in range(n)]).reshape(n, n_visits)
        if any(((p > 0) & (p < 1)).any() for p in probs):
            width = n_visits * max(p.size for p in probs)
            st = PatientStreams(self.seed, self.lanes, "effects")
            R = np.array([st[j].random(width) for j in range(n)]).reshape(n, width)
        else:
            R = None
        now = np.zeros(n)
        k = np.zeros(n, dtype=int)
        visit = np.zeros(n, dtype=int)
        used = np.zeros(n, dtype=int)  # effect draws used per patient
        last = np.full(n, -math.inf)

        def attend(alive: NDArray) -> None:
            """The planned visit of the ``alive`` lanes, at ``now``."""
            lanes = np.flatnonzero(alive)
            if proto.p_miss > 0:
                missed = U[lanes, visit[lanes]] < proto.p_miss
            else:
                missed = np.zeros(lanes.size, dtype=bool)
            visit[lanes] += 1
            gone = lanes[missed]
            self.log.extend(gone, now[gone], "missed visit", [""] * gone.size)
            att = lanes[~missed]
            which = k[att] % len(ivs)
            for idx in np.unique(which).tolist():
                sel = att[which == idx]
                p = probs[idx]
                if R is None:
                    H = np.broadcast_to(p >= 1.0, (sel.size, p.size))
                else:
                    H = R[sel[:, None], used[sel, None] + np.arange(p.size)] < p
                    used[sel] += p.size
                self._record(sel, now[sel], idx, H, k[sel])
            k[att] += 1
            last[att] = now[att]

        def planned(alive: NDArray, t_plan: NDArray, sessions: int, every: float) -> None:
            first = t_plan
            for _ in range(sessions):
                day = visit_day(t_plan, every, first)  # as in _planned
                alive = alive & (day + hour < horizon)
                if not alive.any():
                    return
                target = day + hour
                adv = alive & (target > now)
                now[adv] = now[adv] + (target[adv] - now[adv])
                attend(alive)
                t_plan = np.maximum(t_plan, last - hour) + every

        if isinstance(sched, Given):  # as _given: exact days, none from the horizon on
            alive = np.ones(n, dtype=bool)
            for j in range(n_course):
                alive = alive & (D[:, j] < horizon)
                if not alive.any():
                    break
                adv = alive & (D[:, j] > now)
                now[adv] = now[adv] + (D[adv, j] - now[adv])
                attend(alive)
        else:
            planned(np.ones(n, dtype=bool), np.full(n, float(sched.start_day)),
                    sched.sessions, sched.every_days)
        self.course_end = np.where(k > 0, last, np.nan)
        if m is not None:
            planned(k > 0, (last - hour) + m.start_day, m.sessions, m.every_days)

    # --- solver side ---------------------------------------------------------------
    def _on_stop(self, refs: NDArray, kinds: NDArray):
        model, P = self.model, self.P

        def on_stop(t, y, lanes, k):
            out = np.array(y, dtype=float)
            r, kd = refs[lanes, k], kinds[lanes, k]
            fl = np.flatnonzero(kd == _FLARE)  # one column each: no repeated index
            out[self.flare_row[r[fl]], fl] += self.flare_size[r[fl]]
            sess = np.flatnonzero(kd == _SESSION)
            if sess.size:
                which = np.array([self.sess_int[x] for x in r[sess]])
                for iv in np.unique(which):
                    s = sess[which == iv]
                    hap = np.stack([self.sess_hap[x] for x in r[s]], axis=1)
                    out[:, s] = self.interventions[iv].apply(model, out[:, s], P,
                                                             lanes[s], hap)
            return out
        return on_stop

    def run(self) -> dict[str, Any]:
        n = self.lanes.size
        env = simpy.Environment()
        proto = self.arm.protocol
        clinic = (simpy.Resource(env, capacity=self.arm.clinic.slots_per_day)
                  if self.arm.clinic else None)
        if proto is not None and self._plannable():
            tic = time.perf_counter()
            self._plan_fixed()
            self.timings["decide_s"] += time.perf_counter() - tic
        elif proto is not None:
            for lane in range(n):
                env.process(self._patient(env, lane, clinic))
        stepwise = proto is not None and proto.reads_state
        step = self.epoch_days if stepwise else self.horizon
        bounds = [*np.arange(0.0, self.horizon, step).tolist(), self.horizon]
        days = np.arange(0.0, math.floor(self.horizon) + 1)
        pain = np.empty((n, days.size)) if self.pain_out is None else self.pain_out
        pain.fill(np.nan)
        status = np.zeros(n, dtype=int)
        cross: list[tuple[NDArray, ...]] = []
        model = self.model
        f_next = s_next = 0  # first flare / session not yet integrated

        def rhs(t, y, P, L):
            return model.lane_rhs(t, y, P)

        def g(t, y, P, L):
            return model.pain_of(y, P)[None, :] - L

        def keep_pain(t, y, P, L):  # only pain is kept at the save points
            return model.pain_of(y, P)[None, :]

        for b0, b1 in itertools.pairwise(bounds):
            # SimPy's run(until=b1) leaves events at b1 for the next run, so every
            # session emitted now lies in [b0, b1)
            tic = time.perf_counter()
            env.run(until=b1)
            self.timings["decide_s"] += time.perf_counter() - tic
            tic = time.perf_counter()
            f_end = int(np.searchsorted(self.flare_t, b1, side="left"))
            acts = np.flatnonzero(np.array(self.sess_acts[s_next:], dtype=bool))
            s_ref = s_next + acts
            st = np.concatenate([self.flare_t[f_next:f_end],
                                 np.array(self.sess_t[s_next:], dtype=float)[acts]])
            sl = np.concatenate([self.flare_lane[f_next:f_end],
                                 np.array(self.sess_lane[s_next:], dtype=np.int64)[acts]])
            sk = np.concatenate([np.full(f_end - f_next, _FLARE), np.full(acts.size, _SESSION)])
            sr = np.concatenate([self.flare_ref[f_next:f_end], s_ref])
            f_next, s_next = f_end, len(self.sess_t)
            batch = st.size > 0
            stops, refs, kinds = _stop_table(st, sl, sk, sr, n)
            sel = (days >= b0) & ((days < b1) | (b1 == self.horizon))
            t_eval = days[sel] if sel.any() else np.array([b1])
            on_stop = self._on_stop(refs, kinds) if batch else None
            if self.backend == "numba":
                whole = bool(sel.all()) and pain.flags.c_contiguous  # write in place
                sol = integrate_pain(model, (b0, b1), self.y, self.P, levels=self.levels,
                                     t_eval=t_eval, stops=stops, on_stop=on_stop,
                                     rtol=self.rtol, atol=self.atol,
                                     out=pain if whole else None)
            else:
                sol = integrate(rhs, (b0, b1), self.y, args=(self.P, self.levels),
                                t_eval=t_eval, stops=stops, on_stop=on_stop, crossings=g,
                                save=keep_pain, rtol=self.rtol, atol=self.atol)
            if sel.any() and sol.y[0] is not pain:
                pain[:, sel] = sol.y[0]
            status = np.minimum(status, sol.status)
            c = sol.crossings
            cross.append((c["lane"], c["which"], c["t"], c["direction"]))
            self.y = sol.y_final
            self.pain_now = model.pain_of(self.y, self.P)
            self.timings["integrate_s"] += time.perf_counter() - tic
        cl, cw, ct, cd = (np.concatenate(x) for x in zip(*cross, strict=True))
        return {"days": days, "pain": pain, "baseline": self.baseline, "status": status,
                "crossings": (cl, cw, ct, cd), "dropout": self.dropout,
                "course_end": self.course_end,
                "sessions": (np.array(self.sess_lane, dtype=int),
                             np.array(self.sess_t, dtype=float),
                             np.array(self.sess_wait, dtype=float)),
                "log": self.log.arrays(), "timings": self.timings}


def _stop_table(t: NDArray, lane: NDArray, kind: NDArray, ref: NDArray, n: int):
    """Per-lane stop rows (padded with +inf) from events given in any lane order; ties
    of lane and time keep their given order (flares before sessions)."""
    if not t.size:
        return None, None, None
    order = np.lexsort((t, lane))
    t, lane, kind, ref = t[order], lane[order], kind[order], ref[order]
    first = np.searchsorted(lane, lane, side="left")
    col = np.arange(lane.size) - first
    width = int(col.max()) + 1
    stops = np.full((n, width), np.inf)
    refs = np.zeros((n, width), dtype=int)
    kinds = np.full((n, width), -1, dtype=int)
    stops[lane, col], refs[lane, col], kinds[lane, col] = t, ref, kind
    return stops, refs, kinds


def simulate(
    arms: Sequence[Arm],
    cohort: Cohort,
    horizon_days: float = 180.0,
    *,
    outcomes: Outcomes | None = None,
    epoch_days: float = 1.0,
    chunk_size: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    backend: str = "numpy",
    executor: Any = None,
) -> SimulationResult:
    """Simulate a study: every arm on the same virtual patients and flares.

    Parameters
    ----------
    arms : sequence of Arm
        The study's arms; the first is the reference for paired differences.
    cohort : Cohort
        Who (size, seed, phenotype mix); arms share patients and flares (common random
        numbers), so arm differences are intervention effects, not sampling noise.
    horizon_days : float
        Length of follow-up from day 0, days.
    outcomes : Outcomes, optional
        Outcome definitions (thresholds, windows); defaults documented in
        :class:`~painsim.outcomes.Outcomes`.
    epoch_days : float
        Resolution of state-based decisions (days); used only when a protocol reads pain.
    chunk_size : int, optional
        Integrate the cohort in chunks of this many patients (memory); results are
        identical for any chunking. Not allowed with a shared clinic (its queue couples
        the patients).
    rtol, atol : float
        Solver tolerances.
    progress : callable, optional
        ``progress(done, total)`` is called each time a task finishes — a chunk of
        patients through every arm, or a clinic arm on the whole cohort — with the
        number done so far and the total (progress bars).
    workers : int
        Worker processes (0: one per core; at most 4 per core). Each (arm, chunk of
        patients) is a task;
        results are bit-identical to ``workers=1`` because every patient's numbers
        depend only on its own lane and random streams. Without an explicit
        ``chunk_size`` the cohort is split into ``workers`` chunks. Needs the ``fork``
        start method (Linux, macOS); elsewhere the run is serial. Phase timings are
        then summed over workers.
    backend : {"numpy", "numba"}
        ``"numpy"`` (default, the reference): :func:`painsim.integrate`. ``"numba"``:
        the same method compiled per lane (:mod:`painsim.compiled`), several times
        faster; needs Numba (``pip install "painsim[fast]"``) and a model with a
        ``lane_form`` (the built-in model has one). The two agree to rounding (tests
        hold them to 1e-10 in pain), not bit for bit; each is reproducible for any
        ``workers`` and ``chunk_size``. The first call compiles (a few seconds).
    executor : distributed.Client, optional
        Run the chunks on a Dask cluster instead of local processes (``pip install
        "painsim[dask]"``; see :func:`painsim.dask_client` for a local cluster or a
        scheduler address). Results are bit-identical to a serial run for any number of
        Dask workers and any ``chunk_size``; they stream back chunk by chunk (daily pain
        is written into the result as each chunk arrives and its future is released), and
        a chunk whose worker is lost is re-run by Dask. Without ``chunk_size`` the cohort
        is split into one chunk per Dask worker thread (at most 4,096 patients each).
        ``workers`` is then ignored.

    Returns
    -------
    SimulationResult
        Per-patient outcomes, per-arm summary with paired differences, daily pain and
        the event log (pandas DataFrames), and per-patient solver status.

    Examples
    --------
    >>> import painsim
    >>> from painsim.interventions import dry_needling
    >>> res = painsim.simulate(
    ...     [painsim.Arm(name="none"),
    ...      painsim.Arm(name="DN", protocol=painsim.Protocol(
    ...          intervention=dry_needling(), schedule=painsim.Fixed(sessions=4)))],
    ...     painsim.Cohort(n=20, seed=1), horizon_days=60)
    >>> list(res.summary.index)
    ['none', 'DN']
    """
    check_type("arms", arms, Sequence, "a sequence of Arm")
    if isinstance(arms, str) or not arms:
        raise ParameterError("arms", arms, "a non-empty sequence of Arm")
    for i, a in enumerate(arms):
        check_type(f"arms[{i}]", a, Arm, "an Arm")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ParameterError("arms", names, "unique arm names")
    check_type("cohort", cohort, Cohort, "a Cohort")
    check_type("outcomes", outcomes, Outcomes, "an Outcomes", optional=True)
    check_number("horizon_days", horizon_days, 1, MAX_DAY, " day")
    check_number("epoch_days", epoch_days, 1 / 24, horizon_days, " day")
    if chunk_size is not None:
        check_number("chunk_size", chunk_size, 1, MAX_PATIENTS, integer=True)
    # bounded before any process starts: a little oversubscription is allowed (tests of
    # bit-identity with 2 workers run on one core too), a fork bomb is not
    cap = 4 * (os.cpu_count() or 1)
    check_number("workers", workers, 0, cap, f" (0: one per core; at most {cap}, 4 per core)",
                 integer=True)
    check_number("rtol", rtol, 100 * np.finfo(float).eps, 0.1)
    check_number("atol", atol, 0, 1.0)
    if progress is not None and not callable(progress):
        raise ParameterError("progress", progress, "a callable progress(done, total) or "
                             "None")
    if backend not in ("numpy", "numba"):
        raise ParameterError("backend", backend, "numpy, numba")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ParameterError("executor", executor, "a distributed.Client (or None)")
    compile_s = 0.0
    if backend == "numba":
        require_numba(cohort.model.name, cohort.model.lane_form)
        _checked(cohort.model)
        compile_s = warm_up(cohort.model)  # before forking: workers inherit the loop
    if chunk_size is not None and any(a.clinic for a in arms):
        raise ParameterError("chunk_size", chunk_size, "None when an arm has a clinic",
                             why="would split the clinic's shared queue")
    outcomes = _settled_outcomes(outcomes, horizon_days)
    model = cohort.model
    for a in arms:
        if a.protocol is not None:
            for iv in a.protocol.interventions:
                iv.validate_for(model)
            for sched in (a.protocol.schedule, a.protocol.maintenance):
                if sched is not None and sched.start_day > horizon_days:
                    raise ParameterError(f"arms[{a.name!r}].schedule.start_day",
                                         sched.start_day, f"[0, {horizon_days:g}] day",
                                         why="is after the horizon")
    n = cohort.n
    if executor is not None:
        workers = max(1, sum(executor.nthreads().values()))
    elif workers == 0:
        workers = os.cpu_count() or 1
    # chunks bound the working memory (it scales with the chunk, results with n) and
    # spread the work over the workers
    auto = chunk_size or min(math.ceil(n / workers), _CHUNK)
    spans = [(lo, min(n, lo + auto)) for lo in range(0, n, auto)]
    whole = [i for i, a in enumerate(arms) if a.clinic]  # a clinic couples its patients
    fork = "fork" in multiprocessing.get_all_start_methods()
    parallel = executor is None and workers > 1 and fork and (len(spans) > 1 or len(whole) > 1)
    n_days = math.floor(horizon_days) + 1
    # daily pain is written in place by whoever integrates (forked workers: shared memory);
    # Dask tasks return theirs, written here as each chunk arrives
    pain = [_shared_array((n, n_days)) if parallel else np.empty((n, n_days)) for _ in arms]
    job = Job(model=model, cohort=cohort, arms=tuple(arms), horizon=float(horizon_days),
              epoch=float(epoch_days), outcomes=outcomes, seed=cohort.seed, rtol=rtol,
              atol=atol, backend=backend, pain=None if executor is not None else pain)
    timings = {"cohort_s": 0.0, "decide_s": 0.0, "integrate_s": 0.0, "outcomes_s": 0.0,
               "compile_s": compile_s}
    total, finished = len(spans) + len(whole), [0]

    def tick() -> None:
        finished[0] += 1
        if progress is not None:
            progress(finished[0], total)

    if executor is not None:
        done, sample, whole_runs = _run_on_dask(executor, job, spans, whole, pain, tick)
    elif parallel:
        _FORKED.append(job)  # forked workers inherit it: nothing is pickled
        try:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                done = _gather([pool.submit(_chunk_task, sp) for sp in spans], tick)
                sample = _merge_samples([d.pop("sample") for d in done])
                whole_runs = _gather([pool.submit(_whole_task, i, sample) for i in whole],
                                     tick)
        finally:
            _FORKED.clear()
    else:
        done = []
        for sp in spans:
            done.append(_chunk_task(sp, job))
            tick()
        sample = _merge_samples([d.pop("sample") for d in done])
        whole_runs = []
        for i in whole:
            whole_runs.append(_whole_task(i, sample, job))
            tick()
    runs = {}
    for i, a in enumerate(arms):
        if a.clinic:
            parts = [whole_runs[whole.index(i)]]
        else:
            parts = [d["runs"].pop(i) for d in done]  # released once merged
        runs[a.name] = _merge(parts, auto)
        runs[a.name]["pain"] = pain[i]
        for p in parts:
            for k in ("decide_s", "integrate_s", "outcomes_s"):
                timings[k] += p["timings"][k]
    timings["cohort_s"] = sum(d["cohort_s"] for d in done)
    tic = time.perf_counter()
    result = build_result(arms, cohort, sample, runs, outcomes, float(horizon_days))
    timings["outcomes_s"] += time.perf_counter() - tic
    result.timings.update(timings)
    result.settings.update(backend=backend, rtol=rtol, atol=atol, epoch_days=epoch_days,
                           horizon_days=float(horizon_days), seed=cohort.seed,
                           patients=cohort.n, confidence=outcomes.confidence)
    return result


def _settled_outcomes(outcomes: Outcomes | None, horizon_days: float) -> Outcomes:
    """The outcome settings with the short-term day filled in (default: day 42)."""
    outcomes = outcomes or Outcomes()
    if outcomes.short_term_day is None:
        return dataclasses.replace(outcomes, short_term_day=min(42.0, float(
            math.floor(horizon_days))))
    if outcomes.short_term_day > horizon_days:
        raise ParameterError("Outcomes.short_term_day", outcomes.short_term_day,
                             f"[0, {horizon_days:g}] day", why="is after the horizon")
    return outcomes


def replay_patient(arms: Sequence[Arm], cohort: Cohort, horizon_days: float, patient: int,
                   *, outcomes: Outcomes | None = None, epoch_days: float = 1.0,
                   rtol: float = 1e-6, atol: float = 1e-8,
                   backend: str = "numpy") -> SimulationResult:
    """One patient of a study, in every arm, with the numbers :func:`simulate` gives it.

    Every patient's numbers depend only on its own lane and random streams, so running
    patient ``patient`` alone reproduces its row of a whole run bit for bit, whatever the
    workers and chunks were (an arm with a clinic couples its patients through the queue:
    that arm is re-run whole). The result holds that one patient (its ``patient`` column
    and event log keep the cohort's index); the summary's paired statistics are of one
    patient only.

    Parameters
    ----------
    arms, cohort, horizon_days, outcomes, epoch_days, rtol, atol, backend
        As given to :func:`simulate` for the run being replayed.
    patient : int
        The patient's index in the cohort, 0 to ``cohort.n - 1``.

    Returns
    -------
    SimulationResult
    """
    from types import SimpleNamespace

    check_number("patient", patient, 0, cohort.n - 1, integer=True)
    if backend == "numba":
        require_numba(cohort.model.name, cohort.model.lane_form)
        _checked(cohort.model)
        warm_up(cohort.model)
    outcomes = _settled_outcomes(outcomes, horizon_days)
    job = Job(model=cohort.model, cohort=cohort, arms=tuple(arms),
              horizon=float(horizon_days), epoch=float(epoch_days), outcomes=outcomes,
              seed=cohort.seed, rtol=rtol, atol=atol, backend=backend)
    done = _chunk_task((patient, patient + 1), job)
    runs = {}
    for i, a in enumerate(arms):
        if a.clinic:  # the queue couples patients: the whole arm, then this patient's row
            run = _whole_task(i, cohort.sample(horizon_days, rtol=rtol, atol=atol,
                                               backend=backend), job)
            run = _one_patient(run, patient)
        else:
            run = done["runs"][i]
        run["pain"] = run.pop("pain_rows")
        runs[a.name] = run
    one = SimpleNamespace(n=1, seed=cohort.seed, model=cohort.model)
    result = build_result(arms, one, done["sample"], runs, outcomes, float(horizon_days))
    result.patients["patient"] = patient
    for lg in result.event_log:
        lg["patient"] = np.full_like(lg["patient"], patient)
    result.settings.update(backend=backend, rtol=rtol, atol=atol, epoch_days=epoch_days,
                           horizon_days=float(horizon_days), replayed_patient=patient)
    return result


def _one_patient(run: dict[str, Any], k: int) -> dict[str, Any]:
    """Patient ``k``'s part of a whole-cohort arm run (the fields build_result reads)."""
    lg = run["log"]
    keep = lg["lane"] == k
    out = {"days": run["days"], "pain_rows": run["pain_rows"][k:k + 1],
           "status": run["status"][k:k + 1], "dropout": run["dropout"][k:k + 1],
           "baseline": run["baseline"][k:k + 1], "course_end": run["course_end"][k:k + 1],
           "outcomes": {key: v[k:k + 1] for key, v in run["outcomes"].items()},
           "sessions": (None, None, run["sessions"][2]),
           "log": {**lg, "lane": np.zeros(int(keep.sum()), dtype=np.int64),
                   "t": lg["t"][keep], "kind": lg["kind"][keep],
                   "detail": lg["detail"][keep]},
           "timings": run["timings"]}
    return out


_CHUNK = 4096  # default most patients per chunk
_CHECKED: set[Any] = set()  # lane forms already checked against their model in this process


def _checked(model: Model) -> None:
    """Run :meth:`Model.check` once per lane form before the compiled path trusts it."""
    key = (model.name, model.lane_form)
    if key in _CHECKED:
        return
    try:
        model.check()
    except ValueError as exc:
        raise ParameterError("backend", "numba", "numpy, or a lane_form that matches the "
                             "model", why=f"fails its check: {exc}") from None
    _CHECKED.add(key)


@dataclass(frozen=True)
class Job:
    """Everything a chunk task needs: the study and the solver settings.

    ``pain`` holds one ``(n_patients, n_days)`` array per arm that tasks fill in place
    (shared memory for forked workers); ``None`` when tasks run elsewhere (Dask) and
    return their rows instead.
    """

    model: Model
    cohort: Cohort
    arms: tuple[Arm, ...]
    horizon: float
    epoch: float
    outcomes: Outcomes
    seed: int
    rtol: float
    atol: float
    backend: str
    pain: list[NDArray[np.float64]] | None = field(default=None, repr=False)


_FORKED: list[Job] = []  # the job of a forked pool: its workers inherit it, unpickled


def _arm_run(job: Job, i: int, sample: CohortSample, lo: int, hi: int) -> dict[str, Any]:
    """Arm ``i`` on patients ``lo..hi-1`` (``sample`` holds patients from ``lo``), with
    the per-patient outcomes of that chunk."""
    out = None if job.pain is None else job.pain[i][lo:hi]
    run = _ArmRun(model=job.model, arm=job.arms[i], sample=sample,
                  lanes=np.arange(lo, hi), first=lo, horizon=job.horizon,
                  epoch_days=job.epoch, outcomes=job.outcomes, seed=job.seed,
                  rtol=job.rtol, atol=job.atol, backend=job.backend, pain_out=out).run()
    tic = time.perf_counter()
    run["outcomes"] = patient_outcomes(run, job.outcomes, job.horizon)
    run["timings"]["outcomes_s"] = time.perf_counter() - tic
    # crossings and session lists are summed up in the outcomes: none of them goes back
    # through a pipe; pain does only when it is not already in place
    pain = run.pop("pain")
    if job.pain is None:
        run["pain_rows"] = pain
    del run["crossings"]
    run["sessions"] = (None, None, run["sessions"][2])  # waits, for the summary
    return run


def _chunk_task(span: tuple[int, int], job: Job | None = None) -> dict[str, Any]:
    """Draw patients ``lo..hi-1`` and run every arm without a clinic on them;
    module-level so worker processes can call it (a forked worker reads its job from
    ``_FORKED``)."""
    job = job or _FORKED[0]
    lo, hi = span
    tic = time.perf_counter()
    sample = job.cohort.sample(job.horizon, rtol=job.rtol, atol=job.atol, first=lo, stop=hi,
                               backend=job.backend)
    cohort_s = time.perf_counter() - tic
    runs = {i: _arm_run(job, i, sample, lo, hi) for i, a in enumerate(job.arms)
            if not a.clinic}
    if not any(a.clinic for a in job.arms):  # phenotypes and parameters are kept (tables)
        sample = CohortSample(phenotype=sample.phenotype, params=sample.params,
                              y0=sample.y0[:, :0], flares=[])
    return {"sample": sample, "runs": runs, "cohort_s": cohort_s, "span": span}


def _whole_task(i: int, sample: CohortSample, job: Job | None = None) -> dict[str, Any]:
    """Arm ``i`` (with a clinic: its queue couples the patients) on the whole cohort."""
    job = job or _FORKED[0]
    return _arm_run(job, i, sample, 0, job.cohort.n)


def _gather(futures: list[Any], tick: Callable[[], None]) -> list[Any]:
    """Results of ``futures`` in their order, ticking as each one finishes."""
    from concurrent.futures import as_completed

    for _ in as_completed(futures):
        tick()
    return [f.result() for f in futures]


def _run_on_dask(client: Any, job: Job, spans: list[tuple[int, int]], whole: list[int],
                 pain: list[NDArray[np.float64]], tick: Callable[[], None],
                 ) -> tuple[list, CohortSample, list]:
    """The chunks as Dask tasks, gathered one by one as they finish (bounded memory)."""
    from distributed import as_completed

    def keep(run: dict[str, Any], i: int, lo: int) -> None:
        rows = run.pop("pain_rows")
        pain[i][lo:lo + rows.shape[0]] = rows

    job_f = client.scatter(job, broadcast=True, hash=False)
    futures = {client.submit(_chunk_task, sp, job_f, pure=False): k
               for k, sp in enumerate(spans)}
    done: list[dict[str, Any]] = [{} for _ in spans]
    for fut in as_completed(futures):
        d = fut.result()
        for i, run in d["runs"].items():
            keep(run, i, d["span"][0])
        done[futures[fut]] = d
        fut.release()
        tick()
    sample = _merge_samples([d.pop("sample") for d in done])
    whole_runs = []
    if whole:
        sample_f = client.scatter(sample, hash=False)
        for i in whole:  # few: a clinic couples its whole cohort
            run = client.submit(_whole_task, i, sample_f, job_f, pure=False).result()
            keep(run, i, 0)
            whole_runs.append(run)
            tick()
    return done, sample, whole_runs


def _shared_array(shape: tuple[int, ...]) -> NDArray[np.float64]:
    """A float64 array in anonymous shared memory: processes forked after it is made
    write into the same pages, so their results need not be copied back."""
    size = math.prod(shape)
    buf = mmap.mmap(-1, max(8, 8 * size))
    return np.frombuffer(buf, dtype=np.float64, count=size).reshape(shape)


def _merge_samples(parts: list[CohortSample]) -> CohortSample:
    if len(parts) == 1:
        return parts[0]
    return CohortSample(phenotype=np.concatenate([p.phenotype for p in parts]),
                        params=np.concatenate([p.params for p in parts], axis=1),
                        y0=np.concatenate([p.y0 for p in parts], axis=1),
                        flares=[f for p in parts for f in p.flares])


def _merge(parts: list[dict[str, Any]], chunk: int) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {"days": parts[0]["days"]}
    for k in ("baseline", "status", "dropout", "course_end"):
        out[k] = np.concatenate([p[k] for p in parts], axis=0)
    out["outcomes"] = {k: np.concatenate([p["outcomes"][k] for p in parts])
                       for k in parts[0]["outcomes"]}
    out["sessions"] = (None, None, np.concatenate([p["sessions"][2] for p in parts]))
    out["log"] = _merge_logs([p["log"] for p in parts], [j * chunk for j in range(len(parts))])
    return out
