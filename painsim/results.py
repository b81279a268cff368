"""Results folders: written completely into a temporary folder, then renamed into place.

The temporary folder sits beside the results folder and is named
``.NAME.painsim-PID-XXXXXXXX`` (``NAME`` the results folder, ``PID`` the writing
process). An interrupted run removes it; one killed outright (``SIGKILL``, a power cut)
cannot, so the next run to the same folder removes those whose process is gone
(:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import PainsimError, short_repr
from .outcomes import DISCLAIMER
from .scenario import Scenario
from .spool import release_freed_memory as _release_freed_memory
from .summary import SimulationResult

__all__ = ["TABLE_FORMATS", "ScenarioRun", "check_out", "check_table_format",
           "estimate_memory_bytes", "read_results", "remove_stale_temporaries",
           "run_scenario", "write_results"]

#: The formats of a results folder's tables (:func:`write_results`' ``table_format``):
#: ``"csv"`` (six significant digits) or ``"parquet"`` (typed, columnar, float64 kept
#: exactly; needs ``pyarrow``, the ``parquet`` extra).
TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")

_PARQUET_INSTALL = 'pip install "painsim[parquet]"'


def check_table_format(table_format: Any) -> str:
    """Raise :class:`PainsimError` unless the tables can be written as ``table_format``.

    Run before simulating (and by :func:`write_results` before it writes anything): an
    unknown format, or ``"parquet"`` without ``pyarrow`` installed, fails at once.

    Parameters
    ----------
    table_format : str
        One of :data:`TABLE_FORMATS`.

    Returns
    -------
    str
        ``table_format``, checked.

    Examples
    --------
    >>> check_table_format("xlsx")
    Traceback (most recent call last):
    ...
    painsim.errors.PainsimError: table_format = 'xlsx' is not a table format; allowed: \
'csv' or 'parquet'
    """
    if not isinstance(table_format, str) or table_format not in TABLE_FORMATS:
        raise PainsimError(f"table_format = {short_repr(table_format)} is not a table "
                           "format; allowed: " + " or ".join(map(repr, TABLE_FORMATS)))
    if table_format == "parquet":
        try:
            import pyarrow  # noqa: F401  (pandas.to_parquet's engine)
        except ImportError:
            raise PainsimError("table_format = 'parquet' needs pyarrow, which is not "
                               f"installed: {_PARQUET_INSTALL}") from None
    return table_format


def estimate_memory_bytes(s: Scenario) -> int:
    """Rough peak memory of a run's data (beyond the libraries it imports, about 300 MB):
    its per-patient tables and event log, and a chunk's solver work arrays.

    Daily pain is kept on disk (:meth:`ScenarioRun.simulate`), so it does not count. The
    rate per patient and arm, 2 KB, rounds up what ``painsim run
    scenarios/chronic_needling.toml --patients 100000`` holds: 423 MB of resident memory
    once simulated, 562 MB at its peak, of which about 135 MB are the imports (measured
    on Linux, 3 arms, 183 days, about 10 events per patient and arm).
    """
    per_patient = len(s.arms) * 2048
    chunk = 8 * 8 * 60 * min(s.patients, 8192)  # states, stages and work arrays per lane
    return int(s.patients * per_patient + chunk)


@dataclass(frozen=True)
class ScenarioRun:
    """A scenario file checked and ready to run into a results folder: what ``painsim
    run`` does, as library steps (:func:`run_scenario` takes them all).

    Build it with :meth:`prepare` (which checks everything that can be checked before
    simulating), then :meth:`simulate` and :meth:`write`.
    """

    #: The loaded and validated scenario.
    scenario: Scenario
    #: The results folder to create.
    out: Path
    #: Replace an existing painsim results folder.
    force: bool
    #: Table format of the folder (:data:`TABLE_FORMATS`).
    table_format: str
    #: Worker processes, solver backend and threads (as :func:`painsim.simulate`).
    workers: int = 1
    backend: str = "numpy"
    threads: int = 1

    @classmethod
    def prepare(cls, path: str | Path, out: str | Path, *, patients: int | None = None,
                seed: int | None = None, force: bool = False, workers: int = 1,
                backend: str = "numpy", threads: int = 1,
                table_format: str | None = None) -> ScenarioRun:
        """Load and check the scenario file ``path``, the folder ``out`` and the table
        format before anything runs.

        Raises
        ------
        ScenarioError
            The file is missing, not TOML, or breaks the schema (every problem, by path).
        PainsimError
            ``out`` exists and is not replaceable, the table format is unknown or needs
            a missing package, or ``threads > 1`` without the compiled backend.
        """
        from .engine import check_threads
        from .scenario import load_scenario

        s = load_scenario(path, patients=patients, seed=seed)
        out = Path(out)
        check_out(out, force=force)
        fmt = check_table_format(table_format or s.outputs["format"])
        check_threads(threads, backend)
        return cls(scenario=s, out=out, force=force, table_format=fmt, workers=workers,
                   backend=backend, threads=threads)

    def simulate(self, *, progress: Any = None, executor: Any = None) -> SimulationResult:
        """Run the scenario's study (:func:`painsim.simulate` with its settings).

        Daily pain is kept on disk, not in memory (``simulate(spool=...)``): in a
        temporary folder beside the results folder (``.NAME.painsim-spool-PID-XXXXXXXX``),
        removed when the result is garbage-collected or the process exits, and at once
        if the run fails or is interrupted.
        """
        import weakref

        from .engine import simulate

        s = self.scenario
        spool = _spool_folder(self.out)
        try:
            result = simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes,
                              epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol,
                              workers=self.workers, backend=self.backend,
                              threads=self.threads, executor=executor, progress=progress,
                              spool=spool)
        except BaseException:
            shutil.rmtree(spool, ignore_errors=True)
            raise
        # the maps stay readable once the files are removed (POSIX); elsewhere the folder
        # goes when the result does
        weakref.finalize(result, shutil.rmtree, spool, ignore_errors=True)
        _release_freed_memory()
        return result

    def write(self, result: SimulationResult, *, command: str = "",
              wall_seconds: float = 0.0) -> list[str]:
        """Write ``result`` into the folder, complete or not at all; the files written."""
        return write_results(result, self.out, scenario=self.scenario, force=self.force,
                             command=command, wall_seconds=wall_seconds,
                             table_format=self.table_format)


def run_scenario(path: str | Path, out: str | Path, *, patients: int | None = None,
                 seed: int | None = None, force: bool = False, workers: int = 1,
                 backend: str = "numpy", threads: int = 1, table_format: str | None = None,
                 progress: Any = None, executor: Any = None,
                 command: str = "") -> tuple[SimulationResult, list[str]]:
    """Run the scenario file ``path`` and write its results folder ``out``: ``painsim
    run`` as one call.

    Parameters
    ----------
    path, out : str or Path
        The scenario file and the results folder to create (it appears only complete).
    patients, seed : int, optional
        Override the file's cohort size and seed.
    force : bool
        Replace an existing painsim results folder ``out``.
    workers, backend, threads, progress, executor
        As :func:`painsim.simulate`.
    table_format : {"csv", "parquet"}, optional
        Default: the file's ``[outputs] format``, else csv.
    command : str
        The command line, for the manifest.

    Returns
    -------
    (SimulationResult, list of str)
        The result and the files written (the manifest last).

    Examples
    --------
    >>> import painsim, tempfile, pathlib
    >>> study = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (study / "s.toml").write_text('''horizon = "20 days"
    ... [cohort]
    ... patients = 3
    ... [[arms]]
    ... name = "none"
    ... [outputs]
    ... plots = false
    ... ''')
    >>> res, files = painsim.run_scenario(study / "s.toml", study / "results")
    >>> files[:3], list(res.summary.index)
    (['summary.csv', 'patients.csv', 'events.csv'], ['none'])
    """
    run = ScenarioRun.prepare(path, out, patients=patients, seed=seed, force=force,
                              workers=workers, backend=backend, threads=threads,
                              table_format=table_format)
    tic = time.perf_counter()
    result = run.simulate(progress=progress, executor=executor)
    files = run.write(result, command=command, wall_seconds=time.perf_counter() - tic)
    return result, files


def _versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of painsim, Python and the dependencies (and of the ``extra`` ones)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"painsim": __version__, "python": platform.python_version()}
    for dist in ("numpy", "scipy", "simpy", "pandas", "click", "matplotlib", *extra):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = "not installed"
    return out


def _temp_prefix(out: Path, kind: str = "") -> str:
    """``.NAME.painsim-PID-`` (``kind``: ``probe-`` for the writability test, ``spool-``
    for daily pain kept on disk)."""
    return f".{out.name}.painsim-{kind}{os.getpid()}-"


def _nearest_existing_parent(out: Path) -> Path:
    """``out``'s parent folder, or the nearest path above it that exists (a file or a
    dangling link included: the caller says why it cannot hold ``out``)."""
    parent = out.absolute().parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    return parent


def _spool_folder(out: Path) -> Path:
    """A new temporary folder for the daily pain of a run into ``out``: beside ``out``
    (on the same disk as the results), or in the nearest folder above it that exists
    when ``out``'s parent is still to be made."""
    parent = _nearest_existing_parent(out)
    try:
        folder = Path(tempfile.mkdtemp(prefix=_temp_prefix(out, "spool-"), dir=parent))
        # whose it is: a folder above --out is shared by runs into other folders of the
        # same name, maybe on other machines (a cluster's shared disk), whose processes
        # this one cannot see; only its own machine's runs into this --out remove it
        (folder / _OWNER).write_text(json.dumps(_owner(out)))
        return folder
    except OSError as exc:
        raise PainsimError(f"{out}: cannot make a temporary folder for daily pain in "
                           f"{parent}: {exc.strerror or exc}; choose another --out") from None


_OWNER = "owner.json"  # in a spool folder: the machine and --out of the run that made it


def _owner(out: Path) -> dict[str, Any]:
    """This machine (host name, boot, and process namespace, which tells apart the
    containers of one host) and ``out``, absolute and normalized."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return {"host": platform.node(), "boot": boot, "pid_namespace": namespace,
            "out": os.path.abspath(out)}


def _owned_by(folder: Path, owner: dict[str, Any]) -> bool:
    """Whether spool ``folder`` records ``owner`` (:func:`_owner`) as its maker."""
    try:
        return json.loads((folder / _OWNER).read_text()) == owner
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:  # pragma: no cover - a pid out of range
        return False
    return True


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove temporary folders of ``out`` left by painsim runs that were killed.

    Only folders named as :func:`write_results` names them, whose writing process no
    longer runs, are removed: beside ``out``, and for the daily pain kept on disk also in
    the folders above it (a run whose ``out`` had no parent folder yet keeps it in the
    nearest folder above that exists).

    Returns
    -------
    list of Path
        The folders removed.
    """
    out = Path(os.path.abspath(out))
    name = re.escape(f".{out.name}.painsim-")
    beside = re.compile(rf"{name}(?:probe-|spool-)?(\d+)-[A-Za-z0-9_]{{8}}")
    # a run whose --out had no parent folder yet kept its daily pain in the nearest
    # folder above that existed (_spool_folder), which may since have got the parent:
    # there, only a spool of this machine's run into this very --out is ours
    spool = re.compile(rf"{name}spool-(\d+)-[A-Za-z0-9_]{{8}}")
    ours = _owner(out)
    removed = []
    for k, folder in enumerate(out.parents):
        try:
            entries = list(folder.iterdir()) if folder.is_dir() else []
        except OSError:
            continue
        for entry in entries:
            m = (beside if k == 0 else spool).fullmatch(entry.name)
            if (m and entry.is_dir() and not entry.is_symlink()
                    and (k == 0 or _owned_by(entry, ours))
                    and not _alive(int(m.group(1)))):
                shutil.rmtree(entry, ignore_errors=True)
                if not entry.exists():
                    removed.append(entry)
    return sorted(removed)


def _check_replaceable(out: Path, force: bool) -> None:
    """An existing ``out`` is replaced only with ``force``, and only if it is a painsim
    results folder (or empty): ``--out . --force`` must not delete a project."""
    if out.exists() and not out.is_dir():
        raise PainsimError(f"{out}: exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise PainsimError(f"{out}: already exists; use --force to replace it")
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise PainsimError(f"{out}: is not a painsim results folder (no manifest.json); "
                           "--force replaces only those; choose another --out")


def check_out(out: Path, *, force: bool = False) -> None:
    """Raise :class:`PainsimError` unless the results folder ``out`` can be written.

    Run before simulating, so that a folder that cannot be created (its parent is a
    file, a read-only folder, a full or read-only disk) fails in a second, not after the
    simulation. Nothing is left behind.
    """
    out = Path(out)
    _check_replaceable(out, force)
    parent = _nearest_existing_parent(out)
    if not parent.is_dir():
        raise PainsimError(f"{out}: cannot create it: {parent} is not a folder; choose "
                           "another --out")
    try:  # the only sure test: make (and remove) a folder where the results will go
        probe = Path(tempfile.mkdtemp(prefix=_temp_prefix(out, "probe-"), dir=parent))
        probe.rmdir()
    except OSError as exc:
        why = {errno.EACCES: "no permission to write in", errno.EPERM:
               "no permission to write in", errno.EROFS: "read-only file system at",
               errno.ENOSPC: "no space left in"}.get(exc.errno or 0, "cannot write in")
        raise PainsimError(f"{out}: cannot create it: {why} {parent}; choose another "
                           "--out") from None


@contextlib.contextmanager
def atomic_folder(out: Path, *, force: bool = False, check: bool = True) -> Iterator[Path]:
    """A temporary folder beside ``out`` that becomes ``out`` when the block succeeds.

    ``out`` appears complete or not at all: everything is written into the temporary
    folder (named so that :func:`remove_stale_temporaries` cleans up after a killed run)
    and renamed at the end; on any error or interrupt the temporary folder is removed.
    An existing ``out`` is replaced only with ``force`` and only if it is a painsim
    folder (:func:`check_out`, run first unless ``check`` is false).
    """
    out = Path(out)
    if check:
        remove_stale_temporaries(out)
        check_out(out, force=force)
    else:
        _check_replaceable(out, force)
    # the parent folders this call makes, deepest first: removed again (if still empty)
    # when the block fails, so a failed run leaves nothing behind
    made = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(out), dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a results folder is an ordinary one
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for p in made:
            with contextlib.suppress(OSError):  # not empty (someone else wrote there)
                p.rmdir()
        raise


def _stream_table(blocks: Iterator[Any], folder: Path, name: str, table_format: str) -> str:
    """Write the DataFrames ``blocks`` one after another as one table ``name`` in
    ``folder``; return the file's name. The file is what one ``to_csv`` or
    ``to_parquet`` of their concatenation would write (the same rows and columns; in
    Parquet one row group per block), with one block in memory at a time."""
    file = f"{name}.{table_format}"
    if table_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = schema = None
        try:
            for block in blocks:
                if schema is None:  # text columns are strings, even if a block has none
                    first = pa.Table.from_pandas(block, preserve_index=False).schema
                    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type)
                                        else f for f in first], metadata=first.metadata)
                    writer = pq.ParquetWriter(folder / file, schema)
                writer.write_table(pa.Table.from_pandas(block, schema=schema,
                                                        preserve_index=False))
        finally:
            if writer is not None:
                writer.close()
    else:
        with open(folder / file, "w", newline="") as fh:
            for k, block in enumerate(blocks):
                block.to_csv(fh, index=False, header=k == 0, float_format="%.6g")
    return file


def write_results(result: SimulationResult, out: str | Path, *,
                  scenario: Scenario | None = None, force: bool = False, command: str = "",
                  wall_seconds: float = 0.0, trajectories: bool | None = None,
                  plots: bool | None = None, table_format: str | None = None) -> list[str]:
    """Write the results folder ``out``: summary, patients, events, trajectories (CSV or
    Parquet tables), plots (PNG and SVG) and a manifest.

    The folder appears only when complete: everything is written into a temporary
    folder beside it and renamed. An existing ``out`` is replaced only with ``force``.

    Parameters
    ----------
    result : SimulationResult
        From :func:`painsim.simulate` (or :func:`painsim.load`).
    out : str or Path
        The folder to create.
    scenario : Scenario, optional
        The scenario file it ran (:func:`painsim.scenario.load_scenario`): the manifest
        then holds its text and hash, and its ``[outputs]`` choose what is written.
        Without one, the manifest records what the result itself knows (arms, seed,
        cohort size, horizon, solver settings).
    force : bool
        Replace an existing ``out``.
    command, wall_seconds : str, float
        The command line and its wall time (s), for the manifest.
    trajectories, plots : bool, optional
        Write the trajectories table and the figures (default: the scenario's
        ``[outputs]``, else both).
    table_format : {"csv", "parquet"}, optional
        How the tables (summary, patients, events, summary by phenotype, trajectories)
        are written, with the same columns either way: ``"csv"`` rounds to six
        significant digits; ``"parquet"`` keeps every float64 and each column's type and
        needs ``pyarrow`` (``pip install "painsim[parquet]"``). Default: the scenario's
        ``[outputs] format`` where it has one, else ``"csv"``. The manifest records it.

    Returns
    -------
    list of str
        The files written, the manifest last.

    Raises
    ------
    PainsimError
        Before anything is written: ``result`` is not a :class:`SimulationResult`,
        ``table_format`` is not one of :data:`TABLE_FORMATS`, or it is ``"parquet"``
        and ``pyarrow`` is not installed; or ``out`` exists (without ``force``) or
        cannot be written.

    Examples
    --------
    >>> import painsim, tempfile, pathlib
    >>> res = painsim.simulate([painsim.Arm(name="none")], painsim.Cohort(n=3, seed=1), 14)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> write_results(res, out, plots=False)[:3]
    ['summary.csv', 'patients.csv', 'events.csv']
    """
    if not isinstance(result, SimulationResult):
        raise PainsimError(f"write_results: result is {type(result).__name__}, not a "
                           "SimulationResult; call write_results(result, out, "
                           "scenario=...)")
    out, s = Path(out), scenario
    settings = result.settings
    if trajectories is None:
        trajectories = s.outputs["trajectories"] if s is not None else True
    if plots is None:
        plots = s.outputs["plots"] if s is not None else True
    if table_format is None:
        table_format = s.outputs.get("format", "csv") if s is not None else "csv"
    table_format = check_table_format(table_format)
    with atomic_folder(out, force=force, check=False) as tmp:

        def table(frame: Any, name: str, *, index: bool = False) -> str:
            """Write ``frame`` into the folder as ``name`` in ``table_format``; return
            the file's name."""
            file = f"{name}.{table_format}"
            if table_format == "parquet":
                frame.to_parquet(tmp / file, index=index)
            else:
                frame.to_csv(tmp / file, index=index, float_format="%.6g")
            return file

        # blocks: a Parquet file has one row group per block (their sizes are part of the
        # file); a CSV file is the same for any, so it is written in smaller ones (memory)
        csv = table_format == "csv"
        files = []
        s_out = result.summary.copy()
        s_out.insert(0, "note", DISCLAIMER)
        files.append(table(s_out, "summary", index=True))
        # in blocks of rows, built from the compact columns: the whole table repeats
        # each patient's parameters in every arm, and to_csv of it would first join its
        # float columns into one block (120 MB at 100,000 patients and 3 arms)
        files.append(_stream_table(result.patient_blocks(20_000 if csv else 100_000),
                                   tmp, "patients", table_format))
        _release_freed_memory()
        files.append(_stream_table(result.event_blocks(50_000 if csv else 1_000_000), tmp,
                                   "events", table_format))
        _release_freed_memory()
        if result.patient_table(["phenotype"]).phenotype.nunique() > 1:
            cols = ["baseline_pain", "pain_short_term", "change_short_term",
                    "responder_pct", "relief", "relapse", "durable_response", "sessions"]
            pt = result.patient_table(["arm", "phenotype", *cols])
            by = pt.groupby(["arm", "phenotype"], sort=False)[cols].mean()
            by.insert(0, "patients", pt.groupby(["arm", "phenotype"], sort=False).size())
            files.append(table(by, "summary_by_phenotype", index=True))
            del pt
        if trajectories:  # streamed: the long table is the largest thing written
            files.append(_stream_table(result.trajectory_blocks(2_000 if csv else 10_000),
                                       tmp, "trajectories", table_format))
            _release_freed_memory()
        if plots:
            from .plots import plot_all

            # the markers need each day once: not every session of every patient
            sessions = {a: np.unique(result.event_days(a, "session")) for a in result.arms}
            files += plot_all(result, tmp, sessions, confidence=(
                s.outcomes.confidence if s is not None else settings.get("confidence", 0.95)))
        seed = s.seed if s is not None else settings.get("seed")
        manifest = {
            "painsim_manifest": 1, "note": DISCLAIMER, "command": command,
            "created_unix": time.time(),
            # without a scenario file there is no text to hash, compare or replay
            **({"scenario_file": s.path, "scenario_sha256": s.sha256,
                "scenario_text": s.text, "input_files_sha256": s.inputs}
               if s is not None else {"scenario_file": None}),
            "title": s.title if s is not None else "",
            "seed": seed,
            "patients": s.patients if s is not None else int(
                settings.get("patients", result.pain[result.arms[0]].shape[0])),
            "arms": list(result.arms),
            "horizon_days": s.horizon_days if s is not None else settings.get("horizon_days"),
            "decision_resolution_days": s.epoch_days if s is not None else settings.get(
                "epoch_days"),
            "seeds": {"scenario": seed, "patient_streams":
                      "SeedSequence([seed, patient, stream]); streams: cohort 1, flares 2, "
                      "visits 3, effects 4, dropout 5"},
            "solver": {"method": "Dormand-Prince 5(4), per-patient steps",
                       "rtol": s.rtol if s is not None else settings.get("rtol"),
                       "atol": s.atol if s is not None else settings.get("atol"),
                       "backend": settings.get("backend", "numpy")},
            "table_format": table_format,
            "versions": _versions(("pyarrow",) if table_format == "parquet" else ()),
            "platform": {"system": platform.platform(), "machine": platform.machine(),
                         "python": sys.version.split()[0]},
            "timings_s": {**{k: round(v, 4) for k, v in result.timings.items()},
                          "total": round(wall_seconds, 4)},
            "solver_failures": {a: int(np.count_nonzero(st != 0))
                                for a, st in result.status.items()},
            "files": [*files, "manifest.json"],
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest["files"]


def read_results(folder: str | Path) -> tuple[dict[str, Any], Any]:
    """The manifest and summary table of a results folder (for ``painsim compare``).

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`write_results`, with ``summary.csv`` or (written with
        ``table_format="parquet"``) ``summary.parquet``.

    Returns
    -------
    manifest : dict
        The parsed ``manifest.json``.
    summary : pandas.DataFrame
        One row per arm, indexed by arm.

    Raises
    ------
    PainsimError
        When the folder has no manifest or summary, the manifest is broken, or the
        summary is Parquet and ``pyarrow`` is not installed.
    """
    import pandas as pd

    folder = Path(folder)
    mf, csv, pq = (folder / "manifest.json", folder / "summary.csv",
                   folder / "summary.parquet")
    if not mf.is_file() or not (csv.is_file() or pq.is_file()):
        raise PainsimError(f"{folder}: not a painsim results folder (needs manifest.json "
                           "and summary.csv or summary.parquet)")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise PainsimError(f"{mf}: broken manifest ({exc})") from None
    if csv.is_file():
        return manifest, pd.read_csv(csv, index_col=0)
    try:
        import pyarrow  # noqa: F401  (pandas.read_parquet's engine)
    except ImportError:
        raise PainsimError(f"{pq}: reading Parquet needs pyarrow, which is not installed: "
                           f"{_PARQUET_INSTALL}") from None
    return manifest, pd.read_parquet(pq)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths of a parsed TOML document: ``arms[1].schedule.every`` -> value."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = d
    return out


def why_different(ma: dict[str, Any], mb: dict[str, Any], sa: Any, sb: Any,
                  *, most: int = 8) -> dict[str, list[str]]:
    """Why two results folders differ: causes first, then the outputs that moved most.

    Parameters
    ----------
    ma, mb : dict
        The two manifests.
    sa, sb : pandas.DataFrame
        The two summaries (one row per arm).
    most : int
        How many moved outputs to list.

    Returns
    -------
    dict of str to list of str
        ``"scenario"`` (keys whose values differ, as dotted paths), ``"inputs"`` (table
        files whose SHA-256 differ), ``"seeds"``, ``"solver"``, ``"versions"``, and
        ``"outputs"`` (summary values that moved most, largest change first, relative to
        the larger magnitude of the two).
    """
    import tomllib

    def parsed(m: dict[str, Any]) -> dict[str, Any]:
        try:
            return _flatten(tomllib.loads(m.get("scenario_text", "")))
        except tomllib.TOMLDecodeError:
            return {}

    fa, fb = parsed(ma), parsed(mb)
    out: dict[str, list[str]] = {k: [] for k in ("scenario", "inputs", "seeds", "solver",
                                                 "versions", "outputs")}
    for k in sorted(set(fa) | set(fb)):
        if fa.get(k, "(absent)") != fb.get(k, "(absent)"):
            out["scenario"].append(f"{k}: {fa.get(k, '(absent)')!r} -> "
                                   f"{fb.get(k, '(absent)')!r}")
    ia, ib = ma.get("input_files_sha256") or {}, mb.get("input_files_sha256") or {}
    for k in sorted(set(ia) | set(ib)):
        if ia.get(k) != ib.get(k):
            out["inputs"].append(f"{k}: contents differ (SHA-256)")
    for k in ("seed", "patients"):
        if ma.get(k) != mb.get(k):
            out["seeds"].append(f"{k}: {ma.get(k)!r} -> {mb.get(k)!r}")
    for group, key in (("solver", "solver"), ("versions", "versions")):
        a, b = ma.get(key) or {}, mb.get(key) or {}
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                out[group].append(f"{k}: {a.get(k)!r} -> {b.get(k)!r}")
    moved = []
    for arm in [x for x in sa.index if x in sb.index]:
        for col in [c for c in sa.columns if c in sb.columns]:
            x, y = sa.at[arm, col], sb.at[arm, col]
            if not (isinstance(x, int | float | np.number) and
                    isinstance(y, int | float | np.number)):
                continue
            if not (np.isfinite(x) and np.isfinite(y)) or x == y:
                continue
            rel = abs(y - x) / max(abs(x), abs(y))
            moved.append((rel, f"{arm}: {col} {x:.4g} -> {y:.4g} ({y - x:+.3g})"))
    out["outputs"] = [t for _, t in sorted(moved, key=lambda r: -r[0])[:most]]
    return out
