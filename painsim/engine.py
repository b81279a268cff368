"""The engine: one clock for SimPy decisions and the batched solver.

For each arm the cohort's state is one array ``(n_states, n_patients)``. The engine
alternates:

1. **Decide** — :mod:`~painsim.events`: the SimPy processes (one per patient: its
   protocol; and a shared clinic) run up to the next decision boundary, reading each
   patient's pain as of the last boundary, and emit events with exact times (sessions,
   missed visits, dropout).
2. **Integrate** — every patient is integrated to that boundary by one call of
   :func:`painsim.integrate`, each stopping exactly at its *own* event times (sessions,
   flares) where the event's effect (:mod:`~painsim.effects`) is applied to its lane
   only.

When no process reads the state (fixed schedules, no pain-dependent dropout) the whole
horizon is one pass; fixed schedules without a clinic or dropout are then planned for all
patients at once (:func:`painsim.events.plan_fixed`, the same decisions as the SimPy
processes, which a test checks) instead of running one process per patient. Otherwise
boundaries are ``epoch_days`` apart (default 1 day): the *resolution of state-based
decisions*, not of the dynamics, which are always integrated with error control and exact
event times.

Crossings of the relief and relapse thresholds are located on the solver's dense
output (:attr:`painsim.Solution.crossings`), not on the daily save grid.

:func:`simulate` checks its arguments, splits the cohort into chunks (a :class:`Job` and
a ``_Chunking``), runs them serially, in forked workers or on Dask, and assembles one
:class:`~painsim.summary.SimulationResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import math
import mmap
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from .cohort import MAX_PATIENTS, Cohort, CohortSample
from .compiled import integrate_pain, require_numba, warm_up
from .effects import FlareTable, StopQueue, stop_effects, stop_program
from .errors import ParameterError, check_number, check_type
from .events import Visits, plan_fixed, plannable
from .model import Model
from .outcomes import Outcomes, patient_outcomes
from .protocols import MAX_DAY, Arm
from .solver import integrate
from .spool import array_file, drop_pages, pain_file, release_freed_memory, to_file
from .summary import ArmOutcomes, SimulationResult, build_result

__all__ = ["check_threads", "simulate"]


@dataclass(frozen=True)
class ArmTrajectories:
    """One arm run on one chunk, before outcomes: the save days, daily pain
    ``(n, n_days)``, baseline pain, solver status, threshold ``crossings`` (lane, which
    level, day, direction), dropout days, the day each course ended, the booked
    ``sessions`` (lane, day, days waited), the event log's arrays and phase timings."""

    days: NDArray[np.float64]
    pain: NDArray[np.float64]
    baseline: NDArray[np.float64]
    status: NDArray[np.int_]
    crossings: tuple[NDArray, NDArray, NDArray, NDArray]
    dropout: NDArray[np.float64]
    course_end: NDArray[np.float64]
    sessions: tuple[NDArray, NDArray, NDArray]
    log: dict[str, Any]
    timings: dict[str, float]


@dataclass
class _ArmRun:
    """One arm on one chunk of patients: the decide/integrate loop over epochs."""

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
    threads: int = 1  # threads of the compiled loop (backend "numba")
    first: int = 0  # global index of the sample's first patient
    pain_out: NDArray[np.float64] | None = None  # (n, n_days) to fill, e.g. shared memory
    timings: dict[str, float] = field(default_factory=lambda: {"decide_s": 0.0,
                                                                "integrate_s": 0.0})

    #: Use :func:`painsim.events.plan_fixed` where it applies (tests switch it off to
    #: compare with the SimPy processes).
    use_planner = True

    def __post_init__(self) -> None:
        cols = self.lanes - self.first
        self.P = self.sample.params[:, cols].copy()
        self.y = self.sample.y0[:, cols].copy()
        pain_now = self.model.pain_of(self.y, self.P)
        baseline = pain_now.copy()
        o = self.outcomes
        self.levels = np.stack([baseline * (1 - o.relief_fraction),
                                baseline * (1 - o.relapse_fraction)])
        self.visits = Visits(arm=self.arm, lanes=self.lanes, seed=self.seed,
                             horizon=self.horizon, baseline=baseline, pain_now=pain_now)
        # flares are known in advance (common to all arms), logged before any session
        self.flares = FlareTable.of(self.model, self.sample.flares, cols.tolist(),
                                    self.horizon)
        f = self.flares
        self.visits.log.extend(f.log_lane, f.log_t, f.kind, f.detail)
        self.queue = StopQueue(self.flares, self.visits.book)

    def _decide_ahead(self, env: simpy.Environment) -> None:
        """Plan every visit now where nothing reads the state; else start the SimPy
        processes, which decide as ``env`` runs."""
        if self.arm.protocol is None:
            return
        if self.use_planner and plannable(self.arm):
            tic = time.perf_counter()
            plan_fixed(self.visits)
            self.timings["decide_s"] += time.perf_counter() - tic
        else:
            self.visits.start(env)

    def _lane_functions(self) -> tuple[Callable, Callable, Callable]:
        """The solver's rhs, threshold crossings and saved pain, for the numpy backend."""
        model = self.model

        def rhs(t, y, P, L):
            return model.lane_rhs(t, y, P)

        def g(t, y, P, L):
            return model.pain_of(y, P)[None, :] - L

        def keep_pain(t, y, P, L):  # only pain is kept at the save points
            return model.pain_of(y, P)[None, :]

        return rhs, g, keep_pain

    def _integrate(self, b0: float, b1: float, days: NDArray, pain: NDArray,
                   fns: tuple[Callable, Callable, Callable]) -> Any:
        """Every lane from ``b0`` to ``b1``, stopping at its own flares and sessions;
        daily pain written into ``pain``. Returns the solver's solution."""
        model = self.model
        table = self.queue.take(b1, self.lanes.size)
        sel = (days >= b0) & ((days < b1) | (b1 == self.horizon))
        t_eval = days[sel] if sel.any() else np.array([b1])
        stops = None if table is None else table.stops
        effects = on_stop = None
        if table is not None and self.backend == "numba":  # applied in the compiled loop
            effects = stop_program(model, self.flares, self.visits.book, table)
        if table is not None and effects is None:
            on_stop = stop_effects(model, self.P, self.flares, self.visits.book, table)
        if self.backend == "numba":
            whole = bool(sel.all()) and pain.flags.c_contiguous  # write in place
            sol = integrate_pain(model, (b0, b1), self.y, self.P, levels=self.levels,
                                 t_eval=t_eval, stops=stops, on_stop=on_stop,
                                 effects=effects,
                                 rtol=self.rtol, atol=self.atol,
                                 out=pain if whole else None, threads=self.threads)
        else:
            rhs, g, keep_pain = fns
            sol = integrate(rhs, (b0, b1), self.y, args=(self.P, self.levels),
                            t_eval=t_eval, stops=stops, on_stop=on_stop, crossings=g,
                            save=keep_pain, rtol=self.rtol, atol=self.atol)
        if sel.any() and sol.y[0] is not pain:
            pain[:, sel] = sol.y[0]
        self.y = sol.y_final
        self.visits.pain_now = model.pain_of(self.y, self.P)
        return sol

    def run(self) -> ArmTrajectories:
        n = self.lanes.size
        env = simpy.Environment()
        self._decide_ahead(env)
        proto = self.arm.protocol
        stepwise = proto is not None and proto.reads_state
        step = self.epoch_days if stepwise else self.horizon
        bounds = [*np.arange(0.0, self.horizon, step).tolist(), self.horizon]
        days = np.arange(0.0, math.floor(self.horizon) + 1)
        pain = np.empty((n, days.size)) if self.pain_out is None else self.pain_out
        pain.fill(np.nan)
        status = np.zeros(n, dtype=int)
        cross: list[tuple[NDArray, ...]] = []
        fns = self._lane_functions()
        for b0, b1 in itertools.pairwise(bounds):
            # SimPy's run(until=b1) leaves events at b1 for the next run, so every
            # session emitted now lies in [b0, b1)
            tic = time.perf_counter()
            env.run(until=b1)
            self.timings["decide_s"] += time.perf_counter() - tic
            tic = time.perf_counter()
            sol = self._integrate(b0, b1, days, pain, fns)
            status = np.minimum(status, sol.status)
            c = sol.crossings
            cross.append((c["lane"], c["which"], c["t"], c["direction"]))
            self.timings["integrate_s"] += time.perf_counter() - tic
        cl, cw, ct, cd = (np.concatenate(x) for x in zip(*cross, strict=True))
        v, book = self.visits, self.visits.book
        return ArmTrajectories(
            days=days, pain=pain, baseline=v.baseline, status=status,
            crossings=(cl, cw, ct, cd), dropout=v.dropout, course_end=v.course_end,
            sessions=(np.array(book.lane, dtype=int), np.array(book.t, dtype=float),
                      np.array(book.wait, dtype=float)),
            log=v.log.arrays(), timings=self.timings)


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
    threads: int = 1,
    spool: str | os.PathLike[str] | None = None,
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
        ``chunk_size`` the cohort is split into chunks of equal size (the last may be
        shorter), at most 4,096 patients each, about ``workers`` or a multiple of it,
        so that the workers finish together. Needs the ``fork``
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
        is split as for ``workers``, one worker per Dask worker thread.
        ``workers`` is then ignored.
    threads : int
        Threads of the compiled loop in each process (``backend="numba"`` only; the
        NumPy backend refuses more than 1): blocks of lanes are advanced at once without
        the GIL, so one process uses several cores. Results are bit-identical for any
        number. ``workers * threads`` beyond the cores oversubscribes them.
    spool : str or Path, optional
        An existing folder to keep daily pain in instead of memory: one file per arm
        (``pain_0.npy``, ``pain_1.npy``, ... in arm order; float64, ``(patients, days)``,
        NumPy's array format), written as each chunk finishes, its disk space reserved
        before any work starts. The result's ``pain`` then holds memory maps of those
        files (:mod:`painsim.spool`): the operating system pages them in as they are
        read and out again, so a run holds at most a chunk of daily pain rather than
        ``8 * patients * days`` bytes an arm. The numbers are bit-identical to a run
        without it. The event log's columns, the drawn parameters and the phenotypes
        are kept there too (``part_*.npy``, written as each chunk arrives), so that
        the main process holds neither them nor the chunks' copies of them; readers
        of the result (its tables' blocks, :meth:`SimulationResult.event_days`) give
        their pages back as they go. The files must stay while the result is used;
        removing them is the caller's (``painsim run`` keeps them in a temporary folder
        beside its results).

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
    if spool is not None and (not isinstance(spool, str | os.PathLike)
                              or not Path(spool).is_dir()):
        raise ParameterError("spool", spool, "an existing folder (or None)")
    compile_s = _check_arguments(arms, cohort, horizon_days, outcomes, epoch_days, chunk_size,
                                 rtol, atol, progress, workers, backend, executor, threads)
    outcomes = _settled_outcomes(outcomes, horizon_days)
    _check_arms(arms, cohort.model, horizon_days)
    plan = _Chunking.of(cohort.n, arms, workers, executor, chunk_size)
    n, n_days = cohort.n, math.floor(horizon_days) + 1
    # daily pain is written in place by whoever integrates (forked workers: shared memory,
    # or a shared map of the spool's files); Dask tasks return theirs, written here as
    # each chunk arrives
    if spool is not None:
        pain = [pain_file(Path(spool) / f"pain_{i}.npy", (n, n_days))
                for i in range(len(arms))]
    else:
        pain = [_shared_array((n, n_days)) if plan.parallel else np.empty((n, n_days))
                for _ in arms]
    job = Job(model=cohort.model, cohort=cohort, arms=tuple(arms),
              horizon=float(horizon_days), epoch=float(epoch_days), outcomes=outcomes,
              seed=cohort.seed, rtol=rtol, atol=atol, backend=backend, threads=threads,
              pain=None if executor is not None else pain)
    timings = {"cohort_s": 0.0, "decide_s": 0.0, "integrate_s": 0.0, "outcomes_s": 0.0,
               "compile_s": compile_s}
    ran = _run_chunks(job, plan, pain, _Progress(progress, plan.tasks), executor,
                      None if spool is None else Path(spool))
    result = _assemble(job, plan, ran, pain, timings)
    result.settings.update(backend=backend, rtol=rtol, atol=atol, epoch_days=epoch_days,
                           horizon_days=float(horizon_days), seed=cohort.seed,
                           patients=cohort.n, confidence=outcomes.confidence)
    return result


def _check_arguments(arms: Sequence[Arm], cohort: Cohort, horizon_days: float,
                     outcomes: Outcomes | None, epoch_days: float, chunk_size: int | None,
                     rtol: float, atol: float, progress: Any, workers: int, backend: str,
                     executor: Any, threads: int = 1) -> float:
    """Check :func:`simulate`'s arguments; compile the Numba loop if asked for (before
    any fork: workers inherit it). Returns the seconds that loading Numba, checking the
    model's lane form and compiling took (almost 0 after the first call in a process)."""
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
    check_threads(threads, backend)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ParameterError("executor", executor, "a distributed.Client (or None)")
    compile_s = 0.0
    if backend == "numba":
        # the compiled backend's one-time cost in a process, reported apart from the
        # run: importing Numba (the first require_numba), checking the lane form once
        # and compiling the loop (before forking: workers inherit it)
        tic = time.perf_counter()
        require_numba(cohort.model.name, cohort.model.lane_form)
        _checked(cohort.model)
        warm_up(cohort.model)
        compile_s = time.perf_counter() - tic
    if chunk_size is not None and any(a.clinic for a in arms):
        raise ParameterError("chunk_size", chunk_size, "None when an arm has a clinic",
                             why="would split the clinic's shared queue")
    return compile_s


def check_threads(threads: int, backend: str) -> None:
    """Raise :class:`~painsim.errors.ParameterError` unless ``threads`` (threads of the
    compiled loop per process) is an integer from 1 to 4 per core, and 1 unless
    ``backend`` is ``"numba"``: the check :func:`simulate` makes, for callers that
    check before they start."""
    cap = 4 * (os.cpu_count() or 1)
    check_number("threads", threads, 1, cap, f" (at most {cap}, 4 per core)", integer=True)
    if threads > 1 and backend != "numba":
        raise ParameterError("threads", threads, "1 with backend='numpy'",
                             why="is for the compiled loop (backend='numba')")


def _check_arms(arms: Sequence[Arm], model: Model, horizon_days: float) -> None:
    """Every intervention fits the model; no schedule starts after the horizon."""
    for a in arms:
        if a.protocol is not None:
            for iv in a.protocol.interventions:
                iv.validate_for(model)
            for sched in (a.protocol.schedule, a.protocol.maintenance):
                if sched is not None and sched.start_day > horizon_days:
                    raise ParameterError(f"arms[{a.name!r}].schedule.start_day",
                                         sched.start_day, f"[0, {horizon_days:g}] day",
                                         why="is after the horizon")


@dataclass(frozen=True)
class _Chunking:
    """How a run is split: ``spans`` (patients ``lo..hi-1``, every arm without a clinic),
    ``whole`` (the arms with a clinic, each run on the whole cohort), at most ``chunk``
    patients a chunk, and whether the tasks run in forked workers (``parallel``)."""

    workers: int
    chunk: int
    spans: tuple[tuple[int, int], ...]
    whole: tuple[int, ...]
    parallel: bool

    @property
    def tasks(self) -> int:
        return len(self.spans) + len(self.whole)

    @classmethod
    def of(cls, n: int, arms: Sequence[Arm], workers: int, executor: Any,
           chunk_size: int | None) -> _Chunking:
        if executor is not None:
            workers = max(1, sum(executor.nthreads().values()))
        elif workers == 0:
            workers = os.cpu_count() or 1
        # chunks bound the working memory (it scales with the chunk, results with n) and
        # spread the work over the workers: k = workers x m chunks' worth of equal size
        # (at most _CHUNK; the last may be shorter, and for a small cohort there may be
        # fewer), so that no worker is left with one chunk more than the others (10,000
        # patients on 2 workers: 4 chunks of 2,500, not 4,096 + 4,096 + 1,808)
        auto = chunk_size or math.ceil(n / (workers * math.ceil(n / (workers * _CHUNK))))
        spans = tuple((lo, min(n, lo + auto)) for lo in range(0, n, auto))
        whole = tuple(i for i, a in enumerate(arms) if a.clinic)  # a clinic couples them
        fork = "fork" in multiprocessing.get_all_start_methods()
        parallel = (executor is None and workers > 1 and fork
                    and (len(spans) > 1 or len(whole) > 1))
        return cls(workers=workers, chunk=auto, spans=spans, whole=whole, parallel=parallel)


class _Progress:
    """``progress(done, total)`` called as each task finishes."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.finished = progress, total, 0

    def __call__(self) -> None:
        self.finished += 1
        if self.progress is not None:
            self.progress(self.finished, self.total)


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk task returns: its patients' ``sample`` (trimmed to phenotypes and
    parameters when no arm has a clinic), one run per arm without a clinic (by arm
    index), the seconds drawing the cohort took and the ``span`` of patients."""

    sample: CohortSample
    runs: dict[int, ArmOutcomes]
    cohort_s: float
    span: tuple[int, int]


@dataclass(frozen=True)
class _Ran:
    """Every task's output: the whole cohort's sample, each chunk's runs (in chunk
    order), the runs of the arms with a clinic (in ``_Chunking.whole`` order) and the
    summed seconds drawing the cohort took."""

    sample: CohortSample
    chunk_runs: list[dict[int, ArmOutcomes]]
    whole_runs: list[ArmOutcomes]
    cohort_s: float


def _chunks_done(done: list[ChunkResult],
                 files: _SampleFiles | None) -> tuple[CohortSample, list, float]:
    """The merged sample, the runs and the cohort seconds of ``done``."""
    return (_merge_samples([d.sample for d in done], files), [d.runs for d in done],
            sum(d.cohort_s for d in done))


@dataclass(frozen=True)
class _SampleFiles:
    """The whole cohort's drawn parameters ``(n_parameters, n)`` and phenotypes ``(n,)``
    in two files of a spool folder, each chunk's written into its columns as it
    arrives (:meth:`put`), read back as read-only maps once all have (:meth:`read`)."""

    params: np.memmap
    phenotype: np.memmap

    @classmethod
    def create(cls, spool: Path, cohort: Cohort) -> _SampleFiles:
        n_params = len(cohort.model.parameters)
        return cls(params=array_file(spool / "params.npy", (n_params, cohort.n), np.float64,
                                     what="the drawn parameters"),
                   phenotype=array_file(spool / "phenotype.npy", (cohort.n,),
                                        cohort.phenotype_dtype, what="the phenotypes"))

    def put(self, s: CohortSample, lo: int) -> None:
        hi = lo + s.phenotype.shape[0]
        self.params[:, lo:hi] = s.params
        self.phenotype[lo:hi] = s.phenotype
        # written: in the files' pages, given back (every chunk's at once would add up)
        drop_pages(self.params[:, lo:hi], self.phenotype[lo:hi])

    def read(self) -> tuple[NDArray, NDArray]:
        for a in (self.params, self.phenotype):
            if isinstance(a, np.memmap):
                a.flush()
        return tuple(np.load(a.filename, mmap_mode="r") if isinstance(a, np.memmap) else a
                     for a in (self.params, self.phenotype))


def _settled_run(run: ArmOutcomes, first: int, spool: Path | None) -> ArmOutcomes:
    """``run`` (of patients from ``first``) with its event log made a piece of the
    arm's: lanes turned into the cohort's patient indices and, with a folder
    ``spool``, the log's columns moved into files there (a large cohort's log is the
    largest thing a result holds after daily pain)."""
    lg = run.log
    piece = {**lg, "lane": to_file(np.add(lg["lane"], first, dtype=np.int32), spool),
             **{k: to_file(lg[k], spool) for k in ("t", "kind", "detail")}}
    return dataclasses.replace(run, log=piece)


def _settled_chunk(d: ChunkResult, spool: Path | None,
                   files: _SampleFiles | None) -> ChunkResult:
    """A chunk task's output as it arrives: every run settled (:func:`_settled_run`);
    with ``files``, the drawn parameters and phenotypes written into their columns
    there (the sample then keeps none). A new object: the arrival's own arrays are
    released with it."""
    s = d.sample
    if files is not None:
        files.put(s, d.span[0])
        # new empty arrays, not empty views: a view would keep the chunk's arrays alive
        s = dataclasses.replace(s, params=np.empty((s.params.shape[0], 0)),
                                phenotype=np.empty(0, dtype=s.phenotype.dtype))
    return dataclasses.replace(d, sample=s, runs={
        i: _settled_run(r, d.span[0], spool) for i, r in d.runs.items()})


@contextlib.contextmanager
def _frozen_for_fork() -> Iterator[None]:
    """Freeze this process's Python objects (:func:`gc.freeze`) while workers are forked.

    A forked worker shares this process's pages until it writes to one; its garbage
    collector's full scans write into every object they visit, so each worker would
    copy every page holding this process's Python objects (the job's tables, the
    modules). Objects frozen at the fork are never scanned there. Measured: the second
    benchmark model's ``simulate`` at 100,000 patients, Numba, 2 workers, pain
    spooled, peak PSS of all processes 583 -> 493 MB. A caller that froze objects itself
    keeps its own arrangement.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_chunks(job: Job, plan: _Chunking, pain: list[NDArray[np.float64]],
                tick: Callable[[], None], executor: Any, spool: Path | None) -> _Ran:
    """Every task, on Dask, in forked workers or here, in turn; each task's output
    settled (:func:`_settled_chunk`) as it arrives."""
    files = None if spool is None else _SampleFiles.create(spool, job.cohort)
    if executor is not None:
        return _run_on_dask(executor, job, plan, pain, tick, spool, files)
    if plan.parallel:
        # each forked worker gets the job as its initializer's argument, which fork
        # passes without pickling (the pain arrays stay shared memory)
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=plan.workers, mp_context=ctx,
                                 initializer=_hold_job, initargs=(job,)) as pool:
            with _frozen_for_fork():  # the pool forks its workers at the first submit
                futures = [pool.submit(_chunk_task, sp) for sp in plan.spans]
            sample, chunk_runs, cohort_s = _chunks_done(
                _gather(futures, tick, lambda d: _settled_chunk(d, spool, files)), files)
            whole_runs = _gather([pool.submit(_whole_task, i, sample) for i in plan.whole],
                                 tick, lambda r: _settled_run(r, 0, spool))
        return _Ran(sample, chunk_runs, whole_runs, cohort_s)
    done = []
    for sp in plan.spans:
        done.append(_settled_chunk(_chunk_task(sp, job), spool, files))
        tick()
    sample, chunk_runs, cohort_s = _chunks_done(done, files)
    del done
    whole_runs = []
    for i in plan.whole:
        whole_runs.append(_settled_run(_whole_task(i, sample, job), 0, spool))
        tick()
    return _Ran(sample, chunk_runs, whole_runs, cohort_s)


def _assemble(job: Job, plan: _Chunking, ran: _Ran, pain: list[NDArray[np.float64]],
              timings: dict[str, float]) -> SimulationResult:
    """The result from every task's runs: arms merged over chunks, phase timings
    summed."""
    runs = {}
    for i, a in enumerate(job.arms):
        if a.clinic:
            parts = [ran.whole_runs[plan.whole.index(i)]]
        else:
            parts = [r.pop(i) for r in ran.chunk_runs]  # released once merged
        runs[a.name] = _merge(parts)
        runs[a.name].pain = pain[i]
        release_freed_memory()  # the chunks' arrays, merged: their pages, not the peak
        for p in parts:
            for k in ("decide_s", "integrate_s", "outcomes_s"):
                timings[k] += p.timings[k]
        # the chunks' runs, merged: released now, not held through the assembly below
        # (the last arm's would be: a third of every chunk's results, at 3 arms)
        del parts, p
    timings["cohort_s"] = ran.cohort_s
    tic = time.perf_counter()
    result = build_result(job.arms, job.cohort, ran.sample, runs, job.outcomes, job.horizon)
    timings["outcomes_s"] += time.perf_counter() - tic
    result.timings.update(timings)
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
            run = done.runs[i]
        runs[a.name] = run
    one = SimpleNamespace(n=1, seed=cohort.seed, model=cohort.model)
    result = build_result(arms, one, done.sample, runs, outcomes, float(horizon_days))
    result.patients["patient"] = patient
    for lg in result.event_log:
        lg["patient"] = np.full_like(lg["patient"], patient)
    result.settings.update(backend=backend, rtol=rtol, atol=atol, epoch_days=epoch_days,
                           horizon_days=float(horizon_days), replayed_patient=patient)
    return result


def _one_patient(run: ArmOutcomes, k: int) -> ArmOutcomes:
    """Patient ``k``'s part of a whole-cohort arm run (the clinic's waits stay whole:
    they describe the queue)."""
    lg = run.log
    keep = lg["lane"] == k
    one = slice(k, k + 1)
    return dataclasses.replace(
        run, pain=run.pain[one], status=run.status[one], dropout=run.dropout[one],
        baseline=run.baseline[one], course_end=run.course_end[one],
        outcomes={key: v[one] for key, v in run.outcomes.items()},
        log={**lg, "lane": np.zeros(int(keep.sum()), dtype=np.int32), "t": lg["t"][keep],
             "kind": lg["kind"][keep], "detail": lg["detail"][keep]})


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
    threads: int = 1
    pain: list[NDArray[np.float64]] | None = field(default=None, repr=False)


_WORKER_JOB: list[Job] = []  # in a forked worker only: its pool's job (_hold_job)


def _hold_job(job: Job) -> None:
    """A forked worker's initializer: keep its pool's job for the tasks it runs. The
    parent never sets this, so simulations in several threads of one process each get
    their own job."""
    _WORKER_JOB[:] = [job]


def _arm_run(job: Job, i: int, sample: CohortSample, lo: int, hi: int) -> ArmOutcomes:
    """Arm ``i`` on patients ``lo..hi-1`` (``sample`` holds patients from ``lo``), with
    the per-patient outcomes of that chunk."""
    out = None if job.pain is None else job.pain[i][lo:hi]
    tr = _ArmRun(model=job.model, arm=job.arms[i], sample=sample,
                 lanes=np.arange(lo, hi), first=lo, horizon=job.horizon,
                 epoch_days=job.epoch, outcomes=job.outcomes, seed=job.seed,
                 rtol=job.rtol, atol=job.atol, backend=job.backend, threads=job.threads,
                 pain_out=out).run()
    tic = time.perf_counter()
    values = patient_outcomes(tr, job.outcomes, job.horizon)
    if isinstance(out, np.memmap):  # pain kept in a file: give its pages back
        # columns such as the pain on a report day are views of it: copied first, or
        # every later read of them (merging, pickling) would page the whole chunk in
        values = {k: np.array(v) if np.may_share_memory(v, out) else v
                  for k, v in values.items()}
        drop_pages(out)
    timings = {**tr.timings, "outcomes_s": time.perf_counter() - tic}
    # crossings and session lists are summed up in the outcomes: none of them goes back
    # through a pipe; pain does only when it is not already in place
    return ArmOutcomes(days=tr.days, baseline=tr.baseline, status=tr.status,
                       dropout=tr.dropout, course_end=tr.course_end, waits=tr.sessions[2],
                       log=tr.log, timings=timings, outcomes=values,
                       pain=tr.pain if job.pain is None else None)


def _chunk_task(span: tuple[int, int], job: Job | None = None) -> ChunkResult:
    """Draw patients ``lo..hi-1`` and run every arm without a clinic on them;
    module-level so worker processes can call it (a forked worker's job is the one
    its pool's initializer kept, :func:`_hold_job`)."""
    job = job or _WORKER_JOB[0]
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
    release_freed_memory()  # the chunk's working arrays: a worker's pages, chunk after chunk
    return ChunkResult(sample=sample, runs=runs, cohort_s=cohort_s, span=span)


def _whole_task(i: int, sample: CohortSample, job: Job | None = None) -> ArmOutcomes:
    """Arm ``i`` (with a clinic: its queue couples the patients) on the whole cohort."""
    job = job or _WORKER_JOB[0]
    return _arm_run(job, i, sample, 0, job.cohort.n)


def _gather(futures: list[Any], tick: Callable[[], None],
            settle: Callable[[Any], Any]) -> list[Any]:
    """``settle`` of each result of ``futures``, in their order, taken as each one
    finishes (ticking): a future is let go of at once, so a result as it arrived is
    held only until it is settled."""
    from concurrent.futures import as_completed

    index = {f: k for k, f in enumerate(futures)}
    futures.clear()
    out: list[Any] = [None] * len(index)
    for f in as_completed(list(index)):
        out[index.pop(f)] = settle(f.result())
        del f
        tick()
    return out


def _run_on_dask(client: Any, job: Job, plan: _Chunking, pain: list[NDArray[np.float64]],
                 tick: Callable[[], None], spool: Path | None,
                 files: _SampleFiles | None) -> _Ran:
    """The chunks as Dask tasks, gathered one by one as they finish (bounded memory)."""
    from distributed import as_completed

    def keep(run: ArmOutcomes, i: int, lo: int) -> None:
        rows, run.pain = run.pain, None
        pain[i][lo:lo + rows.shape[0]] = rows
        drop_pages(pain[i][lo:lo + rows.shape[0]])

    job_f = client.scatter(job, broadcast=True, hash=False)
    futures = {client.submit(_chunk_task, sp, job_f, pure=False): k
               for k, sp in enumerate(plan.spans)}
    done: list[Any] = [None] * len(plan.spans)
    for fut in as_completed(futures):
        d = fut.result()
        for i, run in d.runs.items():
            keep(run, i, d.span[0])
        done[futures[fut]] = _settled_chunk(d, spool, files)
        fut.release()
        del d
        tick()
    sample, chunk_runs, cohort_s = _chunks_done(done, files)
    del done
    whole_runs = []
    if plan.whole:
        sample_f = client.scatter(sample, hash=False)
        for i in plan.whole:  # few: a clinic couples its whole cohort
            run = client.submit(_whole_task, i, sample_f, job_f, pure=False).result()
            keep(run, i, 0)
            whole_runs.append(_settled_run(run, 0, spool))
            tick()
    return _Ran(sample, chunk_runs, whole_runs, cohort_s)


def _shared_array(shape: tuple[int, ...]) -> NDArray[np.float64]:
    """A float64 array in anonymous shared memory: processes forked after it is made
    write into the same pages, so their results need not be copied back."""
    size = math.prod(shape)
    buf = mmap.mmap(-1, max(8, 8 * size))
    return np.frombuffer(buf, dtype=np.float64, count=size).reshape(shape)


def _merge_samples(parts: list[CohortSample], files: _SampleFiles | None) -> CohortSample:
    """The chunks' samples as one, patients in chunk order; with ``files``, the
    parameters and phenotypes are the files' (every chunk's already written there)."""
    if files is not None:
        params, phenotype = files.read()
    elif len(parts) == 1:
        return parts[0]
    else:
        params = np.concatenate([p.params for p in parts], axis=1)
        phenotype = np.concatenate([p.phenotype for p in parts])
    y0 = parts[0].y0 if len(parts) == 1 else np.concatenate([p.y0 for p in parts], axis=1)
    return CohortSample(phenotype=phenotype, params=params, y0=y0,
                        flares=[f for p in parts for f in p.flares])


def _merge(parts: list[ArmOutcomes]) -> ArmOutcomes:
    """One arm's settled runs (:func:`_settled_run`) as one run, patients in chunk
    order. Its log is the list of the runs' logs, not one joined copy of them; pain
    is not merged: it is already in the result's arrays."""
    if len(parts) == 1:
        return dataclasses.replace(parts[0], log=[parts[0].log])

    def cat(k: str) -> NDArray:
        return np.concatenate([getattr(p, k) for p in parts], axis=0)

    return ArmOutcomes(
        days=parts[0].days, baseline=cat("baseline"), status=cat("status"),
        dropout=cat("dropout"), course_end=cat("course_end"), waits=cat("waits"),
        outcomes={k: np.concatenate([p.outcomes[k] for p in parts])
                  for k in parts[0].outcomes},
        log=[p.log for p in parts],
        timings={})
