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
horizon is one pass. Otherwise boundaries are ``epoch_days`` apart (default 1 day): the
*resolution of state-based decisions*, not of the dynamics, which are always integrated
with error control and exact event times.

Crossings of the relief and relapse thresholds are located on the solver's dense
output (:attr:`painsim.Solution.crossings`), not on the daily save grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
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

from .cohort import Cohort, CohortSample, patient_rng
from .compiled import _require, integrate_pain, warm_up
from .errors import ParameterError
from .interventions import Intervention
from .model import Model
from .outcomes import Outcomes, SimulationResult, build_result
from .protocols import Arm, AsNeeded, Fixed, Tapering
from .solver import integrate

__all__ = ["simulate"]

_SESSION, _FLARE = 0, 1


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
    log: list[tuple[int, float, str, str]] = field(default_factory=list)
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
        self.P = self.sample.params[:, self.lanes].copy()
        self.y = self.sample.y0[:, self.lanes].copy()
        self.pain_now = self.model.pain_of(self.y, self.P)
        self.baseline = self.pain_now.copy()
        o = self.outcomes
        self.levels = np.stack([self.baseline * (1 - o.relief_fraction),
                                self.baseline * (1 - o.relapse_fraction)])
        self.dropout = np.full(n, np.inf)
        self.course_end = np.full(n, np.nan)
        # flares are known in advance (common to all arms): one time-sorted list
        self.flare_row: list[int] = []
        self.flare_size: list[float] = []
        self.flares: list[tuple[float, int, int, int]] = []
        for j, g in enumerate(self.lanes):
            for t, kind, target, size in self.sample.flares[g]:
                if t < self.horizon:
                    self.flares.append((t, j, _FLARE, len(self.flare_size)))
                    self.flare_row.append(self.model.index(target))
                    self.flare_size.append(size)
                    self.log.append((j, t, f"flare: {kind}", f"{target} +{size:g}"))
        self.flares.sort()
        self.interventions: tuple[Intervention, ...] = (
            self.arm.protocol.interventions if self.arm.protocol else ())

    # --- SimPy side ----------------------------------------------------------------
    def _log(self, lane: int, t: float, kind: str, detail: str = "") -> None:
        self.log.append((lane, t, kind, detail))

    def _session(self, lane: int, t: float, st: _Patient, wait: float) -> None:
        idx = st.k % len(self.interventions)
        intv = self.interventions[idx]
        probs = np.array([e.probability for e in intv.effects])
        happens = st.rng_effects.random(len(probs)) < probs
        self._record(lane, t, idx, intv, happens, wait, st.k)
        for e, h in zip(intv.effects, happens, strict=True):
            if h and e.event:
                st.adverse = True
        st.k += 1
        st.last_session = t

    def _record(self, lane: int, t: float, idx: int, intv: Intervention,
                happens: NDArray[np.bool_], wait: float, k: int) -> None:
        """Book session ``k`` (0-based) of ``lane`` at day ``t`` and log it."""
        self.sess_int.append(idx)
        self.sess_hap.append(happens)
        self.sess_wait.append(wait)
        self.sess_lane.append(lane)
        self.sess_t.append(t)
        # a session that changes nothing does not stop the solver: a zero-effect arm
        # then reproduces the control arm exactly
        self.sess_acts.append(any(h and not e.is_identity
                                  for e, h in zip(intv.effects, happens, strict=True)))
        self._log(lane, t, "session", f"{intv.name} #{k + 1}"
                  + (f", waited {wait:.2f} d" if wait > 0 else ""))
        for e, h in zip(intv.effects, happens, strict=True):
            if h and e.event:
                self._log(lane, t, "adverse event", e.event)

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
            if t_plan + hour >= self.horizon or st.dropped:
                return
            if t_plan + hour > env.now:
                yield env.timeout(t_plan + hour - env.now)
            yield from self._attend(env, lane, st, clinic)
            if improvement is not None and \
                    self.pain_now[lane] <= (1 - improvement) * self.baseline[lane]:
                interval = min(interval * growth, max_every)
            t_plan = max(t_plan, st.last_session - hour) + interval

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
        """Fixed schedules without a clinic or dropout: nothing couples patients or
        reads the state, so every visit time is known in advance."""
        proto = self.arm.protocol
        return (self.use_planner and proto is not None and self.arm.clinic is None
                and isinstance(proto.schedule, Fixed) and proto.dropout_per_day == 0)

    def _plan_fixed(self) -> None:
        """All patients' visits of a Fixed schedule (and Fixed maintenance) at once.

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
        n_visits = proto.schedule.sessions + (m.sessions if m is not None else 0)
        if proto.p_miss > 0:
            U = np.array([patient_rng(self.seed, int(g), "visits").random(n_visits)
                          for g in self.lanes]).reshape(n, n_visits)
        if any(((p > 0) & (p < 1)).any() for p in probs):
            width = n_visits * max(p.size for p in probs)
            R = np.array([patient_rng(self.seed, int(g), "effects").random(width)
                          for g in self.lanes]).reshape(n, width)
        else:
            R = None
        now = np.zeros(n)
        k = np.zeros(n, dtype=int)
        visit = np.zeros(n, dtype=int)
        used = np.zeros(n, dtype=int)  # effect draws used per patient
        last = np.full(n, -math.inf)

        def planned(alive: NDArray, t_plan: NDArray, sessions: int, every: float) -> None:
            for _ in range(sessions):
                alive = alive & (t_plan + hour < horizon)
                if not alive.any():
                    return
                target = t_plan + hour
                adv = alive & (target > now)
                now[adv] = now[adv] + (target[adv] - now[adv])
                lanes = np.flatnonzero(alive)
                if proto.p_miss > 0:
                    missed = U[lanes, visit[lanes]] < proto.p_miss
                else:
                    missed = np.zeros(lanes.size, dtype=bool)
                visit[lanes] += 1
                for j, miss in zip(lanes.tolist(), missed.tolist(), strict=True):
                    t = float(now[j])
                    if miss:
                        self._log(j, t, "missed visit")
                        continue
                    idx = int(k[j]) % len(ivs)
                    intv, p = ivs[idx], probs[idx]
                    if R is None:
                        happens = p >= 1.0
                    else:
                        happens = R[j, used[j]:used[j] + p.size] < p
                        used[j] += p.size
                    self._record(j, t, idx, intv, happens, 0.0, int(k[j]))
                    k[j] += 1
                    last[j] = t
                t_plan = np.maximum(t_plan, last - hour) + every

        sched = proto.schedule
        planned(np.ones(n, dtype=bool), np.full(n, float(sched.start_day)), sched.sessions,
                sched.every_days)
        self.course_end = np.where(k > 0, last, np.nan)
        if m is not None:
            planned(k > 0, (last - hour) + m.start_day, m.sessions, m.every_days)

    # --- solver side ---------------------------------------------------------------
    def _on_stop(self, refs: NDArray, kinds: NDArray):
        model, P = self.model, self.P

        def on_stop(t, y, lanes, k):
            out = np.array(y, dtype=float)
            r, kd = refs[lanes, k], kinds[lanes, k]
            for pos in np.flatnonzero(kd == _FLARE):
                out[self.flare_row[r[pos]], pos] += self.flare_size[r[pos]]
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
        pain = np.full((n, days.size), np.nan)
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
            f_end = f_next
            while f_end < len(self.flares) and self.flares[f_end][0] < b1:
                f_end += 1
            batch = [*self.flares[f_next:f_end],
                     *((self.sess_t[r], self.sess_lane[r], _SESSION, r)
                       for r in range(s_next, len(self.sess_t)) if self.sess_acts[r])]
            f_next, s_next = f_end, len(self.sess_t)
            stops, refs, kinds = _stop_table(batch, n)
            sel = (days >= b0) & ((days < b1) | (b1 == self.horizon))
            t_eval = days[sel] if sel.any() else np.array([b1])
            on_stop = self._on_stop(refs, kinds) if batch else None
            if self.backend == "numba":
                sol = integrate_pain(model, (b0, b1), self.y, self.P, levels=self.levels,
                                     t_eval=t_eval, stops=stops, on_stop=on_stop,
                                     rtol=self.rtol, atol=self.atol)
            else:
                sol = integrate(rhs, (b0, b1), self.y, args=(self.P, self.levels),
                                t_eval=t_eval, stops=stops, on_stop=on_stop, crossings=g,
                                save=keep_pain, rtol=self.rtol, atol=self.atol)
            if sel.any():
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
                "log": self.log, "timings": self.timings}


def _stop_table(batch: Sequence[tuple[float, int, int, int]], n: int):
    if not batch:
        return None, None, None
    t = np.array([e[0] for e in batch])
    lane = np.array([e[1] for e in batch], dtype=int)
    kind = np.array([e[2] for e in batch], dtype=int)
    ref = np.array([e[3] for e in batch], dtype=int)
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
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
    backend: str = "numpy",
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
        Called with each arm's name when that arm is done (progress bars).
    workers : int
        Worker processes (0: one per core). Each (arm, chunk of patients) is a task;
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
    if not arms:
        raise ParameterError("arms", [], "at least one Arm")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ParameterError("arms", names, "unique arm names")
    if not (isinstance(horizon_days, int | float) and math.isfinite(horizon_days)
            and 1 <= horizon_days <= 36500):
        raise ParameterError("horizon_days", horizon_days, "[1, 36500] day")
    if not (math.isfinite(epoch_days) and 1 / 24 <= epoch_days <= horizon_days):
        raise ParameterError("epoch_days", epoch_days, f"[1/24, {horizon_days:g}] day")
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ParameterError("chunk_size", chunk_size, "an integer >= 1")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ParameterError("workers", workers, "an integer >= 0 (0: one per core)")
    if backend not in ("numpy", "numba"):
        raise ParameterError("backend", backend, "numpy, numba")
    compile_s = 0.0
    if backend == "numba":
        _require(cohort.model.name, cohort.model.lane_form)
        compile_s = warm_up(cohort.model)  # before forking: workers inherit the loop
    if chunk_size is not None and any(a.clinic for a in arms):
        raise ParameterError("chunk_size", chunk_size, "None when an arm has a clinic",
                             why="would split the clinic's shared queue")
    outcomes = outcomes or Outcomes()
    if outcomes.short_term_day is None:
        outcomes = dataclasses.replace(outcomes, short_term_day=min(42.0, float(
            math.floor(horizon_days))))
    elif outcomes.short_term_day > horizon_days:
        raise ParameterError("Outcomes.short_term_day", outcomes.short_term_day,
                             f"[0, {horizon_days:g}] day", why="is after the horizon")
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
    tic = time.perf_counter()
    sample = cohort.sample(horizon_days, rtol=rtol, atol=atol)
    timings = {"cohort_s": time.perf_counter() - tic, "decide_s": 0.0, "integrate_s": 0.0,
               "compile_s": compile_s}
    n = cohort.n
    if workers == 0:
        workers = os.cpu_count() or 1
    auto = chunk_size or (math.ceil(n / workers) if workers > 1 else n)
    chunks = [n if a.clinic else auto for a in arms]  # a clinic couples its patients
    tasks = [(i, lo, min(n, lo + chunks[i])) for i in range(len(arms))
             for lo in range(0, n, chunks[i])]
    _JOB.update(model=model, arms=list(arms), sample=sample, horizon=float(horizon_days),
                epoch=float(epoch_days), outcomes=outcomes, seed=cohort.seed, rtol=rtol,
                atol=atol, backend=backend)
    try:
        fork = "fork" in multiprocessing.get_all_start_methods()
        if workers > 1 and len(tasks) > 1 and fork:
            ctx = multiprocessing.get_context("fork")  # workers inherit _JOB: no pickling
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                done = list(pool.map(_run_task, tasks))
        else:
            done = [_run_task(t) for t in tasks]
    finally:
        _JOB.clear()
    runs = {}
    for i, a in enumerate(arms):
        parts = [r for t, r in zip(tasks, done, strict=True) if t[0] == i]
        runs[a.name] = _merge(parts, chunks[i])
        for p in parts:
            for k in ("decide_s", "integrate_s"):
                timings[k] += p["timings"][k]
        if progress is not None:
            progress(a.name)
    tic = time.perf_counter()
    result = build_result(arms, cohort, sample, runs, outcomes, float(horizon_days))
    timings["outcomes_s"] = time.perf_counter() - tic
    result.timings.update(timings)
    return result


_JOB: dict[str, Any] = {}


def _run_task(task: tuple[int, int, int]) -> dict[str, Any]:
    """Run one (arm, chunk) task; module-level so worker processes can call it."""
    i, lo, hi = task
    j = _JOB
    return _ArmRun(model=j["model"], arm=j["arms"][i], sample=j["sample"],
                   lanes=np.arange(lo, hi), horizon=j["horizon"], epoch_days=j["epoch"],
                   outcomes=j["outcomes"], seed=j["seed"], rtol=j["rtol"],
                   atol=j["atol"], backend=j["backend"]).run()


def _merge(parts: list[dict[str, Any]], chunk: int) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {"days": parts[0]["days"]}
    for k in ("pain", "baseline", "status", "dropout", "course_end"):
        out[k] = np.concatenate([p[k] for p in parts], axis=0)
    cross, sess, log = [], [], []
    for j, p in enumerate(parts):
        off = j * chunk
        cl, cw, ct, cd = p["crossings"]
        cross.append((cl + off, cw, ct, cd))
        sl, st, sw = p["sessions"]
        sess.append((sl + off, st, sw))
        log.extend((lane + off, t, k, d) for lane, t, k, d in p["log"])
    out["crossings"] = tuple(np.concatenate(x) for x in zip(*cross, strict=True))
    out["sessions"] = tuple(np.concatenate(x) for x in zip(*sess, strict=True))
    out["log"] = log
    return out
