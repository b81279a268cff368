"""Result assembly: the per-patient values of :mod:`painsim.outcomes` become a
:class:`SimulationResult`.

:func:`build_result` puts each arm's per-patient outcome columns (the metric
definitions live in :mod:`painsim.outcomes`) into the patients table, summarizes them
per arm with their intervals (Student t for means, Wilson for shares, Greenwood for
Kaplan–Meier rates, the ratio estimator over patients for per-session rates) and paired
bootstrap differences against the first arm, and keeps the daily pain, the relapse
curves and the event log; :func:`load` reads a saved result back.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import PainsimError, ParameterError, check_number
from .outcomes import (
    DISCLAIMER,
    Outcomes,
    bootstrap_ci,
    kaplan_meier,
    km_interval_at,
    km_survival_at,
    mean_ci,
    proportion_ci,
    ratio_ci,
    short_term_day,
    study_summary,
)
from .spool import drop_pages, release_freed_memory

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .cohort import Cohort, CohortSample
    from .protocols import Arm

__all__ = ["ArmOutcomes", "PatientColumns", "SimulationResult", "build_result", "events_table",
           "load"]


def events_table(logs: list[dict[str, NDArray]], names: tuple[str, ...]):
    """One event table, sorted by arm name, patient and day (ties keep log order),
    built column by column (a sort of the finished frame would copy it)."""
    import pandas as pd

    blocks = list(event_blocks(logs, names))
    full = [b for b in blocks if len(b)] or blocks[:1]  # no rows: an empty arm's block
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)


def event_blocks(logs: list[dict[str, NDArray]], names: tuple[str, ...],
                 rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The rows of :func:`events_table`, in order, as blocks of at most ``rows`` rows
    (default: one block per arm) of one arm; arms in alphabetical order, each sorted
    by patient and day, ties in log order."""
    import pandas as pd

    for a in sorted(range(len(names)), key=lambda i: names[i]):
        mine = [lg for lg in logs if lg["arm"] == a]
        if not mine:
            continue
        cols = {k: np.concatenate([lg[k] for lg in mine]) for k in ("patient", "day")}
        tables = {}  # kind and detail: codes into one table of names, looked up per block
        for k, names_k in (("kind", "kinds"), ("detail", "details")):
            off = np.cumsum([0] + [len(lg[names_k]) for lg in mine])
            tables[k] = np.concatenate([lg[names_k] for lg in mine])
            cols[k] = np.concatenate([np.add(lg[k], o, dtype=np.int64)
                                      for lg, o in zip(mine, off, strict=False)])
        for lg in mine:  # pieces kept in files (painsim run): read, done
            drop_pages(lg["patient"], lg["day"], lg["kind"], lg["detail"])
        order = np.lexsort((cols["day"], cols["patient"]))  # stable: ties in log order
        size = max(order.size, 1) if rows is None else rows
        for lo in range(0, max(order.size, 1 if rows is None else 0), size):
            o = order[lo:lo + size]
            # every column is a new array: the frame takes them as they are (copy=False)
            yield pd.DataFrame({"arm": np.full(o.size, names[a], dtype=object),
                                # the compact log's int32 patients, as int64
                                "patient": cols["patient"][o].astype(np.int64),
                                "day": cols["day"][o],
                                "kind": tables["kind"][cols["kind"][o]],
                                "detail": tables["detail"][cols["detail"][o]]}, copy=False)


_TABLE_LOCK = threading.Lock()  # one table built at a time (module-level: picklable)


class PatientColumns:
    """The patients table kept compact until it is asked for: each arm's outcome columns
    and solver status, and the phenotypes and drawn parameters once (the table repeats
    them for every arm: at 100,000 patients, 3 arms and 30 parameters, 46 MB of copies).

    :meth:`table` builds the whole table once and keeps it (the compact columns are
    then released); :meth:`blocks` and :meth:`select` build parts of it without that.
    Every frame they return owns its data: writing into one changes nothing else.
    """

    def __init__(self, arms: tuple[str, ...], outcomes: list[dict[str, NDArray]],
                 status: list[NDArray], phenotype: NDArray, params: NDArray,
                 param_names: Sequence[str]) -> None:
        self.arms, self.param_names = arms, tuple(param_names)
        self._src: tuple | None = (outcomes, status, phenotype, params)
        self._frame: pd.DataFrame | None = None

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> PatientColumns:
        """Columns of a whole table that is already built (:func:`load`)."""
        pc = cls((), [], [], np.zeros(0, dtype=object), np.zeros((0, 0)), ())
        pc._src, pc._frame = None, frame
        return pc

    @property
    def columns(self) -> list[str]:
        src = self._src
        if src is None:
            return [str(c) for c in self._frame.columns]
        return (["arm", "patient", "phenotype", *src[0][0], "solver_status"]
                + [f"param_{p}" for p in self.param_names])

    def _part(self, src: tuple, a: int, lo: int, hi: int, columns: Sequence[str]) -> dict:
        """Columns of arm ``a``'s patients ``lo..hi-1`` from ``src`` (views or new
        arrays)."""
        outcomes, status, phenotype, params = src
        get = {"arm": lambda: np.full(hi - lo, self.arms[a], dtype=object),
               "patient": lambda: np.arange(lo, hi),
               "phenotype": lambda: phenotype[lo:hi].astype(object),
               "solver_status": lambda: status[a][lo:hi]}
        out = {}
        for c in columns:
            if c in get:
                out[c] = get[c]()
            elif c in outcomes[a]:
                out[c] = outcomes[a][c][lo:hi]
            else:
                out[c] = params[self.param_names.index(c.removeprefix("param_")), lo:hi]
        return out

    def select(self, columns: Sequence[str]) -> pd.DataFrame:
        """The table's rows with only ``columns`` (a new frame)."""
        import pandas as pd

        src = self._src  # the table may be built meanwhile: these stay whole
        if src is None:
            return self._frame[list(columns)].copy()
        n = src[2].size
        parts = [self._part(src, a, 0, n, columns) for a in range(len(self.arms))]
        frame = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in columns},
                             copy=False)
        drop_pages(src[2], src[3])  # phenotypes and parameters kept in files: read, done
        return frame

    def blocks(self, rows: int) -> Iterator[pd.DataFrame]:
        """The table's rows, in order, as blocks of at most ``rows`` rows (of one arm
        each while the table is not built), each a copy."""
        import pandas as pd

        src = self._src
        if src is None:
            for lo in range(0, len(self._frame), rows):
                yield self._frame.iloc[lo:lo + rows].copy()
            return
        n, columns = src[2].size, self.columns
        for a in range(len(self.arms)):
            for lo in range(0, n, rows):
                block = pd.DataFrame(self._part(src, a, lo, min(n, lo + rows), columns),
                                     copy=True)
                drop_pages(src[2], src[3])  # phenotypes and parameters in files: read
                yield block

    def table(self) -> pd.DataFrame:
        """The whole table: one row per patient and arm, arm by arm."""
        import pandas as pd

        with _TABLE_LOCK:
            if self._frame is not None:
                return self._frame
            outcomes, status, phenotype, params = self._src
            k, n = len(self.arms), phenotype.size
            columns = {"arm": np.repeat(np.array(self.arms, dtype=object), n),
                       "patient": np.tile(np.arange(n), k),
                       "phenotype": np.tile(phenotype, k).astype(object)}
            for c in outcomes[0]:
                columns[c] = np.concatenate([v[c] for v in outcomes])
            columns["solver_status"] = np.concatenate(status)
            columns.update({f"param_{p}": np.tile(params[j], k)
                            for j, p in enumerate(self.param_names)})
            # the frame keeps the joined arrays as they are (copy=False: no consolidation
            # into 2-D blocks, which would hold the table twice while it is built)
            self._frame = pd.DataFrame(columns, copy=False)
            self._src = None  # the compact columns go with the last reader holding them
            return self._frame


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`painsim.simulate` returns.

    Attributes
    ----------
    arms : tuple of str
        Arm names; the first is the reference of paired differences.
    days : ndarray, shape (n_days,)
        Daily save grid (days).
    pain : dict of str to ndarray, shape (n_patients, n_days)
        Daily pain (0–10) per arm.
    patients : pandas.DataFrame
        One row per patient and arm (outcome columns, units in names). Built on first
        access from :attr:`patient_columns` (:meth:`patient_blocks` and
        :meth:`patient_table` read parts of it without building it).
    patient_columns : PatientColumns
        The patients table, compact (each arm's columns; phenotypes and parameters
        once).
    summary : pandas.DataFrame
        Built on first access from :attr:`summary_rows` (building a result needs no
        pandas). One row per arm: means and rates, each followed by its interval
        (``<column>_ci_low``, ``<column>_ci_high``, level ``Outcomes.confidence``: Wilson
        for shares of patients, Student t for means, Greenwood log-log for Kaplan–Meier
        rates, the patient-clustered ratio for per-session rates), paired differences
        against the first arm with percentile bootstrap intervals, relapse by the window
        (Kaplan–Meier).
    summary_rows : list of dict, or pandas.DataFrame
        The summary's rows as :func:`build_result` computed them (one dict per arm, keyed
        by column), or the table itself (:func:`load`).
    events : pandas.DataFrame
        The event log: arm, patient, day, kind, detail; sorted by arm name, patient and
        day. Built on first access from a compact log (a large cohort's table takes
        hundreds of MB; :attr:`n_events` counts without building it).
    status : dict of str to ndarray of int
        Per-patient solver status per arm (0 = success).
    relapse_curves : dict of str to (ndarray, ndarray)
        Kaplan–Meier relapse-free fraction against days since relief, per arm.
    timings : dict of str to float
        Wall time (s) of each phase: ``cohort_s`` (draws and run-in), ``decide_s``
        (SimPy processes), ``integrate_s`` (solver, event effects), ``outcomes_s``
        (summed over worker processes), and ``compile_s``: the compiled backend's
        one-time cost in the calling process (importing Numba, checking the model's
        lane form, compiling the loop; about 0 after the first call, and for
        ``backend="numpy"``).
    settings : dict
        How it was run: ``backend``, ``rtol``, ``atol``, ``epoch_days``,
        ``horizon_days`` (what a replay needs besides the scenario), and the cohort's
        ``seed`` and ``patients`` and the intervals' ``confidence`` (what a results
        folder written without a scenario file records).
    """

    arms: tuple[str, ...]
    days: NDArray[np.float64]
    pain: dict[str, NDArray[np.float64]]
    patient_columns: PatientColumns = field(repr=False)
    summary_rows: list[dict[str, Any]] | pd.DataFrame = field(repr=False)
    event_log: list[dict[str, NDArray]] = field(repr=False)
    status: dict[str, NDArray[np.int_]]
    relapse_curves: dict[str, tuple[NDArray, NDArray]]
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the whole result to one file (a NumPy ``.npz`` archive), exactly.

        Every array and table column is stored with its dtype, so :func:`painsim.load`
        gives back equal tables and bit-identical arrays. The file is written to a
        temporary name and renamed: it appears complete or not at all.

        Parameters
        ----------
        path : str or Path
            The file; ``.npz`` is added when missing.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> import painsim, tempfile, pathlib
        >>> res = painsim.simulate([painsim.Arm(name="none")], painsim.Cohort(n=3, seed=1),
        ...                        horizon_days=10)
        >>> f = res.save(pathlib.Path(tempfile.mkdtemp()) / "run")
        >>> painsim.load(f).patients.equals(res.patients)
        True
        """
        import json
        import os
        import tempfile

        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays: dict[str, NDArray] = {"days": self.days}
        for i, a in enumerate(self.arms):
            arrays[f"pain/{i}"] = self.pain[a]
            arrays[f"status/{i}"] = self.status[a]
            arrays[f"curve_t/{i}"], arrays[f"curve_s/{i}"] = self.relapse_curves[a]
        for name, table in (("patients", self.patients), ("summary", self.summary)):
            frame = table.reset_index() if name == "summary" else table
            for j, c in enumerate(frame.columns):
                arrays[f"{name}/{j}"] = _column_array(frame[c])
        for i, lg in enumerate(self.event_log):
            for k in ("patient", "day", "kind", "detail"):
                arrays[f"log/{i}/{k}"] = np.asarray(lg[k])
            for k in ("kinds", "details"):
                arrays[f"log/{i}/{k}"] = np.array([str(x) for x in lg[k]], dtype=str)
        meta = {"painsim_result": 1, "arms": list(self.arms),
                "log_arms": [int(lg["arm"]) for lg in self.event_log],
                "patients_columns": [str(c) for c in self.patients.columns],
                "summary_columns": [str(c) for c in self.summary.reset_index().columns],
                "timings": self.timings, "settings": self.settings}
        arrays["meta"] = np.array(json.dumps(meta))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def to_xarray(self) -> Any:
        """Daily pain as an ``xarray.DataArray`` with dims (arm, patient, day).

        Needs xarray (``pip install xarray``). Coordinates: arm names, patient indices,
        days; ``phenotype`` along ``patient``; units in the attributes.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ParameterError("to_xarray", "xarray", "available with xarray installed",
                                 why="needs the xarray package: pip install xarray") from None
        pain = np.stack([self.pain[a] for a in self.arms])
        n = pain.shape[1]
        first = self.patients[self.patients.arm == self.arms[0]]
        return xr.DataArray(
            pain, dims=("arm", "patient", "day"),
            coords={"arm": list(self.arms), "patient": first.patient.to_numpy()[:n],
                    "day": self.days,
                    "phenotype": ("patient", first.phenotype.to_numpy()[:n].astype(str))},
            name="pain", attrs={"units": "pain, 0-10 scale", "day_units": "days",
                                "note": DISCLAIMER})

    @property
    def patients(self) -> pd.DataFrame:
        """The patients table (see the class docstring), built on first access."""
        return self.patient_columns.table()

    def patient_table(self, columns: Sequence[str]) -> pd.DataFrame:
        """The rows of :attr:`patients` with only ``columns``, without building the
        whole table (a new frame, not kept)."""
        columns = list(columns)
        known = self.patient_columns.columns
        bad = [c for c in columns if c not in known]
        if bad:
            raise ParameterError("columns", bad[0], ", ".join(known),
                                 why="is not a column of the patients table")
        twice = [c for i, c in enumerate(columns) if c in columns[:i]]
        if twice:
            raise ParameterError("columns", twice[0], "each column once",
                                 why="is named twice")
        return self.patient_columns.select(columns)

    def patient_blocks(self, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """The rows of :attr:`patients`, in order, as blocks of at most ``rows`` rows,
        built one block at a time from the compact columns (a writer streams them; the
        whole table repeats each patient's parameters in every arm)."""
        check_number("rows", rows, 1, 2**62, integer=True)
        return self.patient_columns.blocks(rows)

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """The per-arm summary (see the class docstring), built on first access."""
        import pandas as pd

        rows = self.summary_rows
        return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows).set_index("arm")

    @functools.cached_property
    def events(self) -> pd.DataFrame:
        """The event log as a table (see the class docstring)."""
        return events_table(self.event_log, self.arms)

    def event_blocks(self, rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
        """The rows of :attr:`events`, in order, as blocks of at most ``rows`` rows,
        built from the compact log one block at a time (nothing is cached: a writer
        streams them)."""
        check_number("rows", rows, 1, 2**62, integer=True)
        return event_blocks(self.event_log, self.arms, rows)

    def event_days(self, arm: str, kind: str) -> NDArray[np.float64]:
        """Days of the events of ``kind`` (e.g. ``"session"``) in ``arm``, in the order
        of :attr:`events`, read from the compact log without building the table."""
        if arm not in self.arms:
            raise ParameterError("arm", arm, ", ".join(self.arms), why="is not an arm")
        a = self.arms.index(arm)
        patient, day = [], []
        for lg in self.event_log:
            if lg["arm"] == a:
                codes = [c for c, name in enumerate(lg["kinds"]) if name == kind]
                hit = np.flatnonzero(np.isin(lg["kind"], codes))
                patient.append(lg["patient"][hit])
                day.append(lg["day"][hit])
                drop_pages(lg["patient"], lg["day"], lg["kind"])  # a piece in files: read
        if not day:
            return np.zeros(0)
        patient_a, day_a = np.concatenate(patient), np.concatenate(day)
        return day_a[np.lexsort((day_a, patient_a))]

    @property
    def n_events(self) -> int:
        """Number of rows of :attr:`events`."""
        return int(sum(lg["patient"].size for lg in self.event_log))

    def trajectories(self) -> pd.DataFrame:
        """Daily pain as a long table: arm, patient, day, pain (0–10)."""
        import pandas as pd

        return pd.concat(list(self.trajectory_blocks()), ignore_index=True)

    def trajectory_blocks(self, patients: int = 10_000) -> Iterator[pd.DataFrame]:
        """The rows of :meth:`trajectories`, in order, as blocks of at most ``patients``
        patients of one arm: a writer streams them instead of holding the whole long
        table (at 100,000 patients, 3 arms and 180 days it is 54 million rows, about
        1.7 GB in memory, more than the daily pain it comes from)."""
        import pandas as pd

        check_number("patients", patients, 1, 2**62, integer=True)
        for arm, p in self.pain.items():
            n, m = p.shape
            for lo in range(0, n, patients):
                hi = min(n, lo + patients)
                # new arrays (pain copied: the block must not write into self.pain), kept
                # as they are (copy=False: not copied again into one 2-D float block)
                rows = np.array(p[lo:hi]).ravel()
                drop_pages(p[lo:hi])  # pain kept in a file: its pages are read, done
                yield pd.DataFrame({"arm": arm, "patient": np.repeat(np.arange(lo, hi), m),
                                    "day": np.tile(self.days, hi - lo),
                                    "pain_0_10": rows}, copy=False)


@dataclass
class ArmOutcomes:
    """One arm's run on a set of patients, as the engine hands it to
    :func:`build_result`: what the decide/integrate loop produced, with the per-patient
    outcome columns already computed (crossings and session lists are summed up in them
    and do not travel further).

    Attributes
    ----------
    days : ndarray, shape (n_days,)
        The daily save grid (days).
    baseline, status, dropout, course_end : ndarray, shape (n,)
        Pain (0–10) at day 0; solver status (0 = success); dropout day (inf: none);
        time of the course's last session (days; NaN: none).
    waits : ndarray
        Clinic waits of every session (days; 0 without a clinic).
    log : dict or list of dict
        The compact event log (lanes, times, kind and detail codes with their names);
        after the engine has settled the chunks' runs, a list of such logs (pieces, in
        log order) whose lanes are the cohort's patient indices.
    timings : dict of str to float
        Seconds of ``decide_s``, ``integrate_s`` and ``outcomes_s``.
    outcomes : dict of str to ndarray
        Per-patient outcome columns (:func:`patient_outcomes`).
    pain : ndarray, shape (n, n_days), optional
        Daily pain (0–10); ``None`` while it lives elsewhere (written in place into the
        result's arrays by forked workers, or taken out as a Dask chunk arrives).
    """

    days: NDArray[np.float64]
    baseline: NDArray[np.float64]
    status: NDArray[np.int_]
    dropout: NDArray[np.float64]
    course_end: NDArray[np.float64]
    waits: NDArray[np.float64]
    log: dict[str, Any] | list[dict[str, Any]]
    timings: dict[str, float]
    outcomes: dict[str, NDArray]
    pain: NDArray[np.float64] | None = None


def build_result(arms: Sequence[Arm], cohort: Cohort, sample: CohortSample,
                 runs: dict[str, ArmOutcomes], o: Outcomes,
                 horizon: float) -> SimulationResult:
    """Assemble per-patient tables, the per-arm summary and the event log.

    The runs' outcome columns and event logs are moved into the result: each run's
    ``outcomes`` dict becomes the result's (:class:`PatientColumns`) and its ``log`` is
    left empty.
    """
    names = tuple(a.name for a in arms)
    per = {a: runs[a].outcomes for a in names}  # computed per chunk by the engine
    rows, summary, curves, logs = [], [], {}, []
    # one object per distinct detail text, shared by every arm's log: flares are the
    # same in every arm, and the thresholds' texts repeat between patients
    share = {}.setdefault
    ref = per[names[0]]
    for i, a in enumerate(names):
        # each arm draws from its own stream, so its resamples do not depend on how
        # many draws the arms before it took (the reference arm takes none)
        rng = np.random.default_rng([cohort.seed, 7, i])
        v, run = per[a], runs[a]
        rows.append(v)
        # the run's log, piece by piece as it came from the chunks (a piece's columns
        # may be memory maps of files: they are used as they are, never joined here),
        # then a piece of the outcome rows
        pieces, run.log = (run.log if isinstance(run.log, list) else [run.log]), []
        rel, rlp = np.flatnonzero(v["relief"]), np.flatnonzero(v["relapse"])
        base = v["baseline_pain"]
        # in the result's form: patients, days, codes into name arrays (the table is
        # built on demand)
        arm_logs = [{"arm": i, "patient": lg["lane"], "day": lg["t"], "kind": lg["kind"],
                     "detail": lg["detail"], "kinds": np.array(lg["kinds"], dtype=object),
                     "details": np.array([share(x, x) for x in lg["details"]],
                                         dtype=object)} for lg in pieces]
        del pieces
        details = np.array([share(x, x) for x in itertools.chain(
            (f"pain <= {(1 - o.relief_fraction) * base[i]:.2f}" for i in rel),
            (f"pain >= {(1 - o.relapse_fraction) * base[i]:.2f}" for i in rlp))],
            dtype=object)
        # the outcome rows after every run row: the order of the single log this
        # replaces (the table's ties between kinds at a day keep it)
        logs.extend(arm_logs)
        logs.append({"arm": i, "patient": np.concatenate([rel, rlp], dtype=np.int32,
                                                         casting="same_kind"),
                     "day": np.concatenate([v["days_to_relief"][rel],
                                            v["relapse_day"][rlp]]),
                     "kind": np.concatenate([np.zeros(rel.size, np.int8),
                                             np.ones(rlp.size, np.int8)]),
                     "detail": np.arange(rel.size + rlp.size, dtype=np.int32),
                     "kinds": np.array(["relief", "relapse"], dtype=object),
                     "details": details})
        relieved = v["relief"]
        rt = v["days_relief_to_relapse_or_censor"][relieved]
        ev = v["relapse"][relieved]
        curves[a] = kaplan_meier(rt, ev)
        n_sess = v["sessions"].sum()
        adverse, lanes, missed = [], [], 0
        for lg in arm_logs:
            code = {k: j for j, k in enumerate(lg["kinds"])}
            hit = lg["kind"] == code.get("adverse event", -1)
            adverse.append(lg["details"][lg["detail"][hit]])
            lanes.append(lg["patient"][hit])
            missed += int(np.count_nonzero(lg["kind"] == code.get("missed visit", -1)))
            drop_pages(lg["patient"], lg["kind"], lg["detail"])  # a piece in files: read
        kinds, lanes = np.concatenate([np.zeros(0, object), *adverse]), np.concatenate(
            [np.zeros(0, np.int32), *lanes])
        waits = run.waits
        d_change = v["change_short_term"] - ref["change_short_term"]
        d_resp = v["responder_pct"].astype(float) - ref["responder_pct"].astype(float)
        d_ci = bootstrap_ci(d_change, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        r_ci = bootstrap_ci(d_resp, n_boot=o.bootstrap, confidence=o.confidence, rng=rng)
        row = {
            "arm": a, "patients": cohort.n,
            "baseline_pain_0_10": np.nanmean(v["baseline_pain"]),
            f"pain_day_{short_term_day(o, horizon):g}_0_10": np.nanmean(v["pain_short_term"]),
            "change_short_term_points": np.nanmean(v["change_short_term"]),
            "responders_30pct": np.mean(v["responder_pct"]),
            "responders_2pt": np.mean(v["responder_points"]),
            "satisfied": np.mean(v["satisfied"]),
            **{f"pain_day_{d:g}_0_10": np.nanmean(v[f"pain_day_{d:g}"])
               for d in o.report_days},
            "relief": np.mean(relieved),
            "median_days_to_relief": np.nanmedian(v["days_to_relief"]) if relieved.any()
            else math.nan,
            "mean_sessions_to_relief": np.nanmean(v["sessions_to_relief"]) if relieved.any()
            else math.nan,
            f"relapse_within_{o.relapse_window_days:g}d_km": 1.0 - km_survival_at(
                rt, ev, o.relapse_window_days),
            "durable_response": np.mean(v["durable_response"]),
            "sessions_per_patient": np.mean(v["sessions"]),
            "soreness_per_session": (np.count_nonzero(kinds == "soreness") / n_sess)
            if n_sess else 0.0,
            "bruising_per_session": (np.count_nonzero(kinds == "bruising") / n_sess)
            if n_sess else 0.0,
            "missed_visits": missed,
            "dropouts": int(np.count_nonzero(np.isfinite(run.dropout))),
            "mean_wait_days": float(np.mean(waits)) if waits.size else 0.0,
            "diff_change_vs_ref_points": np.nanmean(d_change),
            "diff_change_ci_low": d_ci[0], "diff_change_ci_high": d_ci[1],
            "diff_responders_vs_ref": np.nanmean(d_resp),
            "diff_responders_ci_low": r_ci[0], "diff_responders_ci_high": r_ci[1],
            "solver_failures": int(np.count_nonzero(run.status != 0)),
            **study_summary(v, o),
        }
        summary.append(_with_intervals(row, _intervals_of(v, o, horizon, rt, ev, {
            what: np.bincount(lanes[kinds == what], minlength=cohort.n)
            for what in ("soreness", "bruising")})))
        del arm_logs, d_change, d_resp
        release_freed_memory()
    return SimulationResult(
        arms=names, days=runs[names[0]].days, pain={a: runs[a].pain for a in names},
        patient_columns=PatientColumns(names, rows, [runs[a].status for a in names],
                                       sample.phenotype, sample.params,
                                       cohort.model.parameter_names),
        summary_rows=summary, event_log=logs,
        status={a: runs[a].status for a in names}, relapse_curves=curves)


def _intervals_of(v: dict[str, NDArray], o: Outcomes, horizon: float, rt: NDArray,
                  ev: NDArray, adverse: dict[str, NDArray]) -> dict[str, tuple[float, float]]:
    """Intervals (level ``o.confidence``) of an arm's summary columns, by kind: Wilson
    for shares of patients, Student t for means, Greenwood log-log for Kaplan–Meier
    rates, the clustered ratio for per-session rates."""
    c = o.confidence

    def share(x: NDArray) -> tuple[float, float]:
        return proportion_ci(float(np.count_nonzero(x)), float(x.size), c)

    out = {
        "baseline_pain_0_10": mean_ci(v["baseline_pain"], c),
        f"pain_day_{short_term_day(o, horizon):g}_0_10": mean_ci(v["pain_short_term"], c),
        "change_short_term_points": mean_ci(v["change_short_term"], c),
        "responders_30pct": share(v["responder_pct"]),
        "responders_2pt": share(v["responder_points"]),
        "satisfied": share(v["satisfied"]),
        **{f"pain_day_{d:g}_0_10": mean_ci(v[f"pain_day_{d:g}"], c) for d in o.report_days},
        "relief": share(v["relief"]),
        "mean_sessions_to_relief": mean_ci(v["sessions_to_relief"], c),
        f"relapse_within_{o.relapse_window_days:g}d_km": tuple(
            1.0 - x for x in km_interval_at(rt, ev, o.relapse_window_days, c)[::-1]),
        "durable_response": share(v["durable_response"]),
        "sessions_per_patient": mean_ci(v["sessions"], c),
        **{f"{what}_per_session": ratio_ci(y, v["sessions"], c)
           for what, y in adverse.items()},
    }
    for d in o.recovered_by_days:
        out[f"recovered_by_day_{d:g}"] = share(v[f"recovered_by_day_{d:g}"])
    if o.recurrence_level is not None:
        ok = v["recovered"]
        t, e = v["days_recovery_to_recurrence_or_censor"][ok], v["recurrence"][ok]
        for d in o.recurrence_days:
            out[f"recurrence_by_{d:g}d_km"] = tuple(
                1.0 - x for x in km_interval_at(t, e, d, c)[::-1])
    for d in o.responder_days:
        out[f"responders_pct_day_{d:g}"] = share(v[f"responder_pct_day_{d:g}"])
        out[f"responders_points_day_{d:g}"] = share(v[f"responder_points_day_{d:g}"])
    for d in o.adverse_event_days:
        out[f"adverse_event_by_day_{d:g}"] = share(v[f"adverse_event_by_day_{d:g}"])
    if o.adverse_event_days:
        out["sessions_with_adverse_event"] = ratio_ci(v["sessions_with_adverse_event"],
                                                      v["sessions"], c)
    return out


def _with_intervals(row: dict[str, Any], ci: dict[str, tuple[float, float]]
                    ) -> dict[str, Any]:
    """``row`` with ``<column>_ci_low`` and ``<column>_ci_high`` after each column of
    ``ci``."""
    out: dict[str, Any] = {}
    for k, x in row.items():
        out[k] = x
        if k in ci:
            out[f"{k}_ci_low"], out[f"{k}_ci_high"] = (float(y) for y in ci[k])
    return out


def _column_array(col: Any) -> NDArray:
    """A table column as an array :func:`load` turns back into the same column."""
    import pandas as pd

    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        values = col.tolist()
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"column {col.name!r}: only text columns of type object are "
                             "saved")
        return np.array(values, dtype=str)
    return col.to_numpy()


def load(path: str | Path) -> SimulationResult:
    """Read a result written by :meth:`SimulationResult.save`.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.

    Returns
    -------
    SimulationResult
        Equal tables and bit-identical arrays to the saved result.
    """
    import json

    import pandas as pd


    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise PainsimError(f"{path}: not a saved painsim result ({exc})") from None
    if meta.get("painsim_result") != 1:
        raise PainsimError(f"{path}: not a saved painsim result (format unknown)")
    arms = tuple(meta["arms"])

    def table(name: str) -> pd.DataFrame:
        cols = meta[f"{name}_columns"]
        data = {}
        for j, c in enumerate(cols):
            a = z[f"{name}/{j}"]
            data[c] = a.astype(object) if a.dtype.kind == "U" else a
        return pd.DataFrame(data, columns=cols)

    logs = []
    for i, arm_index in enumerate(meta["log_arms"]):
        lg = {k: z[f"log/{i}/{k}"] for k in ("patient", "day", "kind", "detail")}
        for k in ("kinds", "details"):
            lg[k] = z[f"log/{i}/{k}"].astype(object)
        lg["arm"] = arm_index
        logs.append(lg)
    return SimulationResult(
        arms=arms, days=z["days"], pain={a: z[f"pain/{i}"] for i, a in enumerate(arms)},
        patient_columns=PatientColumns.of_frame(table("patients")),
        summary_rows=table("summary").set_index("arm"),
        event_log=logs, status={a: z[f"status/{i}"] for i, a in enumerate(arms)},
        relapse_curves={a: (z[f"curve_t/{i}"], z[f"curve_s/{i}"])
                        for i, a in enumerate(arms)},
        timings=meta["timings"], settings=meta["settings"])
