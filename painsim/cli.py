"""The ``painsim`` command line: a thin layer over the library.

Every expected failure (a broken scenario, an existing output folder, a cohort too
large for memory) becomes one clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click

from . import __version__
from .errors import PainsimError, ParameterError

__all__ = ["main"]

#: Most worker processes the CLI starts: one per core (more adds processes, not speed).
MAX_WORKERS = max(os.cpu_count() or 1, 1)
#: Most patients a command that sizes its own cohorts (claims, calibrate, teach) takes.
MAX_COMMAND_PATIENTS = 10**6


def _at_most_the_cores(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value > MAX_WORKERS:
        click.echo(f"note: --workers {value} is more than the {MAX_WORKERS} cores of this "
                   f"machine; using {MAX_WORKERS}", err=True)
        return MAX_WORKERS
    return value


def _workers_option(default: int) -> click.Option:
    """``--workers``: more than the machine's cores are cut to the cores, with a note."""
    return click.option(
        "--workers", type=click.IntRange(min=0), default=default, show_default=True,
        callback=_at_most_the_cores, help="Worker processes (0: one per core; more than "
        "the cores are cut to the cores); results do not depend on it.")


def _scheduler_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--scheduler``: run the simulations' chunks on a Dask cluster."""
    return click.option(
        "--scheduler", default=None, metavar="local|ADDRESS",
        help="Run the chunks on Dask: 'local' starts a local cluster of --workers "
        "processes, or give a scheduler's address (tcp://host:8786); results are the same "
        "numbers. Needs pip install \"painsim[dask]\".")(f)


@contextmanager
def _cluster(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A Dask client for ``--scheduler`` (closed on exit), or None without one."""
    if scheduler is None:
        yield None
        return
    from .cluster import dask_client

    with dask_client(scheduler, workers=workers or MAX_WORKERS) as client:
        yield client


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup runs."""


@contextmanager
def _interruptible() -> Iterator[None]:
    """Treat SIGTERM like SIGINT (Ctrl-C) while the block runs: raise, clean up, exit."""
    def on_term(signum: int, frame: object) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # pragma: no cover - not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminal() -> TextIO | None:
    """Where progress is drawn: standard error when it is a terminal, else nowhere (a
    pipe, a file, a test runner)."""
    return sys.stderr if sys.stderr.isatty() else None


class _Progress:
    """The CLI's one progress mechanism: click's progress bar with an ETA over units of
    work (chunks of patients, assumption sets, evaluations, files), drawn on a terminal
    only, never with ``--quiet``; the total is known from the first report.

    ``callback`` is what the library takes as ``progress(done, total)``: ``None`` when
    nothing is drawn, so no work is spent on reports.
    """

    def __init__(self, label: str, unit: str, show: bool) -> None:
        self.label, self.unit, self.bar = label, unit, None
        self.file = _terminal() if show else None

    def __enter__(self) -> _Progress:
        return self

    @property
    def callback(self) -> Callable[[int, int], None] | None:
        return self.update if self.file is not None else None

    def update(self, done: int, total: int) -> None:
        if self.file is None:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=f"{self.label} ({total} "
                                         f"{self.unit}{'s' if total != 1 else ''})",
                                         show_eta=True, show_pos=True, file=self.file)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _verbosity(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-v/--verbose`` and ``-q/--quiet``, the same on every command that runs models."""
    f = click.option("-q", "--quiet", is_flag=True,
                     help="Print nothing but errors (no progress, no report).")(f)
    return click.option("-v", "--verbose", is_flag=True,
                        help="Also print what is being run (files, arms or sets, cohort "
                        "size, backend, workers).")(f)


def _say(verbose: bool, quiet: bool, message: str) -> None:
    """Print ``message`` (what is being run) to standard error with ``--verbose``; refuse
    ``--verbose`` together with ``--quiet``."""
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet: choose one")
    if verbose and message:
        click.echo(message, err=True)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="painsim")
def main() -> None:
    """painsim: pain-cycle models for research and teaching (not medical advice)."""
    show = warnings.showwarning
    if not (isinstance(show, functools.partial) and show.func is _one_line_warning):
        warnings.showwarning = functools.partial(_one_line_warning, show)


def _one_line_warning(show: Callable[..., None], message: Warning | str,
                      category: type[Warning], *args: Any, **kw: Any) -> None:
    """A :class:`~painsim.errors.ScenarioWarning` as one line, ``warning: ...``, on
    standard error; other warnings as Python shows them."""
    from .errors import ScenarioWarning

    if issubclass(category, ScenarioWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        show(message, category, *args, **kw)


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reference", is_flag=True, help="Print the scenario key reference.")
def describe(file: Path | None, reference: bool) -> None:
    """Without FILE: the model's equations and parameters. With FILE: the scenario in words."""
    if reference:
        from .scenario import reference_markdown

        click.echo(reference_markdown())
        return
    if file is None:
        from .painloop import PAIN_LOOP

        click.echo(PAIN_LOOP.describe())
        return
    from .scenario import describe_scenario, load_scenario

    try:
        click.echo(describe_scenario(load_scenario(file)))
    except PainsimError as exc:
        raise _fail(exc) from None


@main.command()
def demo() -> None:
    """Pain of an acute and a chronic model patient under three arms (days 0-180)."""
    from .demo import format_demo, run_demo

    click.echo(format_demo(run_demo()))


@main.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate FILES without running them; list every problem.

    Each file is checked as what it is: a scenario, a claim file (``id``, ``quote``,
    ``[[observable]]``), an assumption-sets file (``[[set]]``) or an evidence file
    (a scenario with ``[evidence]`` and ``[[targets]]``).
    """
    bad = 0
    for f in files:
        try:
            click.echo(f"{f}: ok ({_check_one(f)})")
        except PainsimError as exc:
            bad += 1
            click.echo(str(exc), err=True)
    if bad:
        raise click.ClickException(f"{bad} of {len(files)} file(s) have problems")


def _how_run(backend: str, workers: int, scheduler: str | None = None) -> str:
    """The tail of a ``-v`` line: backend, workers (0: one per core) and the Dask
    scheduler if one is used."""
    return (f"backend {backend}, {workers or MAX_WORKERS} worker(s)"
            + (f", Dask scheduler {scheduler}" if scheduler else ""))


def _file_kind(f: Path) -> str:
    """``"claim"``, ``"assumptions"``, ``"evidence"`` or ``"scenario"`` (also for a file
    that cannot be read or parsed: the scenario loader says why)."""
    import tomllib

    try:
        d = tomllib.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return "scenario"
    if "arms" not in d and ("observable" in d or "not_expressible" in d
                            or ("id" in d and "quote" in d)):
        return "claim"
    if "set" in d and "arms" not in d:
        return "assumptions"
    return "evidence" if "evidence" in d or "targets" in d else "scenario"


def _check_one(f: Path) -> str:
    """Check one file as its kind; what it holds, in words (raises PainsimError)."""
    kind = _file_kind(f)
    if kind == "claim":
        from .claims import load_claims

        (c,) = load_claims([f])
        if c.not_expressible:
            return f"claim {c.id}, not expressible: {c.not_expressible}"
        cal = ""
        import tomllib

        if "calibration" in tomllib.loads(f.read_text(encoding="utf-8")):
            from .calibrate import read_calibration

            k = read_calibration(f)
            cal = (f"; [calibration] of {len(k.names)} parameter(s) "
                   f"({', '.join(k.names)}) on {k.patients} patients over "
                   f"{k.horizon_days:g} days")
        return f"claim {c.id}: {len(c.observables)} observable(s){cal}"
    if kind == "assumptions":
        from .claims import load_assumptions

        sets = load_assumptions(f)
        return f"{len(sets)} assumption set(s): {', '.join(s.name for s in sets)}"
    if kind == "evidence":
        from .validate import load_evidence

        ev = load_evidence(f)
        s = ev.scenario
        return (f"evidence {ev.id}: {len(ev.targets)} target(s); {len(s.arms)} arms, "
                f"{s.patients} patients, {s.horizon_days:g} days")
    from .scenario import load_scenario

    s = load_scenario(f)
    return f"{len(s.arms)} arms, {s.patients} patients, {s.horizon_days:g} days"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Results folder to create.")
@click.option("--patients", type=click.IntRange(min=1), help="Override cohort.patients.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario seed.")
@click.option("--force", is_flag=True, help="Replace an existing results folder.")
@_verbosity
@_workers_option(1)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver: the NumPy reference, or the same method "
              "compiled with Numba (faster; pip install \"painsim[fast]\"); they agree to "
              "rounding.")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_WORKERS), default=1,
              show_default=True, help="Threads of the compiled loop in each process "
              "(--backend numba only); results do not depend on it.")
@_scheduler_option
@click.option("--format", "table_format", type=click.Choice(["csv", "parquet"]),
              help="Table format of the results folder (default: the scenario's "
              "outputs.format, else csv); parquet is exact and typed and needs pyarrow "
              "(pip install \"painsim[parquet]\").")
def run(file: Path, out: Path, patients: int | None, seed: int | None, force: bool,
        quiet: bool, verbose: bool, workers: int, backend: str, threads: int,
        scheduler: str | None, table_format: str | None) -> None:
    """Run the scenario FILE and write the results folder --out."""
    _say(verbose, quiet, "")  # refuses -v with -q before anything runs
    written: list[str] = []
    with _interruptible():  # from here on SIGTERM, like Ctrl-C, cleans up and exits
        try:
            _run(file, out, patients, seed, force, quiet, workers, backend, written,
                 scheduler, verbose=verbose, table_format=table_format, threads=threads)
        except KeyboardInterrupt as exc:
            signame = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
            what = f"wrote {out} before that" if written else f"{out} was not written"
            click.echo(f"painsim: interrupted ({signame}); {what}", err=True)
            sys.exit(143 if isinstance(exc, _Terminated) else 130)


def _run(file: Path, out: Path, patients: int | None, seed: int | None, force: bool,
         quiet: bool, workers: int, backend: str, written: list[str],
         scheduler: str | None = None, *, verbose: bool = False,
         table_format: str | None = None, threads: int = 1) -> None:
    """The body of ``painsim run``: load and check everything, then simulate and write
    ``out``; ``written`` receives the files once ``out`` is in place."""
    from .results import (
        DISCLAIMER,
        ScenarioRun,
        estimate_memory_bytes,
        remove_stale_temporaries,
    )

    try:
        prepared = ScenarioRun.prepare(file, out, patients=patients, seed=seed, force=force,
                                       workers=workers, backend=backend, threads=threads,
                                       table_format=table_format)
    except PainsimError as exc:
        raise _fail(exc) from None
    s = prepared.scenario
    need, have = estimate_memory_bytes(s), _available_memory()
    if have is not None and need > 0.8 * have:
        raise click.ClickException(
            f"{file}: cohort.patients: {s.patients:,} patients x {len(s.arms)} arms needs "
            f"about {need / 2**30:.1f} GiB of memory (tables and event log); this "
            f"machine has {have / 2**30:.1f} GiB available. Use fewer patients "
            "(--patients).")
    for stale in remove_stale_temporaries(out):
        click.echo(f"removed {stale}: the temporary folder of an interrupted run", err=True)
    _say(verbose, quiet, f"scenario {file} (seed {s.seed}): {s.patients:,} patients, arms "
         f"{', '.join(repr(a.name) for a in s.arms)}, {s.horizon_days:g} days; "
         + _how_run(backend, workers, scheduler))
    if not quiet:
        click.echo(f"simulating {s.patients:,} patients x {len(s.arms)} arms over "
                   f"{s.horizon_days:g} days ...", err=True)
    t0 = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            executor = stack.enter_context(_cluster(scheduler, workers))
            bar = stack.enter_context(_Progress("simulating", "chunk", not quiet))
            result = prepared.simulate(progress=bar.callback, executor=executor)
        command = "painsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        files = prepared.write(result, command=command,
                               wall_seconds=time.perf_counter() - t0)
        written.extend(files)
    except ParameterError as exc:  # the loader's checks should have caught it: name the file
        raise click.ClickException(f"{file}: {exc}") from None
    except PainsimError as exc:
        raise _fail(exc) from None
    if not quiet:
        first_day = [c for c in result.summary.columns if c.startswith("pain_day_")][:1]
        cols = [*first_day, "change_short_term_points", "diff_change_vs_ref_points",
                "responders_30pct", "relief",
                f"relapse_within_{s.outcomes.relapse_window_days:g}d_km", "durable_response"]
        click.echo(result.summary[cols].round(2).to_string())
        click.echo(f"\nwrote {out}/: {', '.join(files)}")
        failures = sum(int((st != 0).sum()) for st in result.status.values())
        if failures:
            click.echo(f"warning: the solver failed for {failures} patient-arms; see "
                       "patients.csv (solver_status)", err=True)
        click.echo(DISCLAIMER)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--assumptions", type=click.Path(dir_okay=False, path_type=Path),
              help="Assumption sets file (default: assumptions.toml beside the claims).")
@click.option("--patients", type=click.IntRange(min=8, max=MAX_COMMAND_PATIENTS),
              default=200, show_default=True,
              help="Patients in the paired cohort of each assumption set.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=2026,
              show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Folder for the verdicts as data: verdict_matrix.csv, verdicts.csv, "
              "verdicts.json, verdicts.txt (written completely or not at all).")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@_workers_option(0)
@_scheduler_option
@_verbosity
def claims(files: tuple[Path, ...], assumptions: Path | None, patients: int, seed: int,
           out: Path | None, force: bool, workers: int, scheduler: str | None,
           verbose: bool, quiet: bool) -> None:
    """Check claims (default: scenarios/claims/*.toml) under every assumption set."""
    _say(verbose, quiet, "")
    from .claims import (
        evaluate_claims,
        format_verdicts,
        load_assumptions,
        load_claims,
        write_verdicts,
    )
    from .results import check_out

    if not files:
        folder = Path("scenarios") / "claims"
        files = tuple(sorted(f for f in folder.glob("*.toml") if f.name != "assumptions.toml"))
        if not files:
            raise click.ClickException("no claim files given and none in scenarios/claims/")
    assumptions = assumptions or files[0].parent / "assumptions.toml"
    try:
        sets = load_assumptions(assumptions)
        cl = load_claims(files)
        if out is not None:
            check_out(out, force=force)  # before the simulations, not after
    except PainsimError as exc:
        raise _fail(exc) from None
    _say(verbose, quiet, f"claims: {len(cl)} ({', '.join(c.id for c in cl)}); assumption "
         f"sets from {assumptions}: {', '.join(s.name for s in sets)}; {patients} patients "
         f"per set, seed {seed}; " + _how_run("numpy", workers))
    try:
        with _cluster(scheduler, workers) as executor, \
                _Progress("checking claims", "assumption set", not quiet) as bar:
            table = evaluate_claims(cl, sets, patients=patients, seed=seed,
                                    workers=workers, progress=bar.callback,
                                    executor=executor)
        written = [] if out is None else write_verdicts(
            cl, sets, table, out, force=force,
            settings={"patients": patients, "seed": seed, "claim_files": list(map(str, files)),
                      "assumptions": str(assumptions), "command": "painsim " + " ".join(
                          shlex.quote(a) for a in sys.argv[1:])})
    except PainsimError as exc:
        raise _fail(exc) from None
    if not quiet:
        click.echo(format_verdicts(cl, sets, table))
        if written:
            click.echo(f"\nwrote {out}/: {', '.join(written)}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--patients", type=click.IntRange(min=8, max=MAX_COMMAND_PATIENTS),
              help="Override the cohort size.")
@click.option("--max-evaluations", type=click.IntRange(min=1, max=10000), default=40,
              show_default=True, help="Most simulations the fit runs, those of its "
              "Jacobians included (at least one more than the parameters fitted).")
@_workers_option(0)
@_scheduler_option
@_verbosity
def calibrate(file: Path, patients: int | None, max_evaluations: int, workers: int,
              scheduler: str | None, verbose: bool, quiet: bool) -> None:
    """Fit a claim file's [calibration] parameters to its reported numbers."""
    from .calibrate import calibrate as fit
    from .calibrate import format_calibration

    _say(verbose, quiet, f"calibrating {file}: at most {max_evaluations} simulations"
         + (f" of {patients} patients" if patients else "")
         + "; " + _how_run("numpy", workers))
    try:
        with _cluster(scheduler, workers) as executor, \
                _Progress("fitting", "simulation", not quiet) as bar:
            result = fit(file, patients=patients, max_evaluations=max_evaluations,
                         workers=workers, progress=bar.callback, executor=executor)
    except PainsimError as exc:
        raise _fail(exc) from None
    if not quiet:
        click.echo(format_calibration(result))


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("teaching"), show_default=True, help="Folder for report.html.")
@click.option("--claims-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("scenarios") / "claims", show_default=True)
@click.option("--patients", type=click.IntRange(min=8, max=MAX_COMMAND_PATIENTS),
              default=120, show_default=True)
@_workers_option(0)
@_verbosity
def teach(out: Path, claims_dir: Path, patients: int, workers: int, verbose: bool,
          quiet: bool) -> None:
    """Write a self-contained HTML report on the contradictions between the claims."""
    from .results import DISCLAIMER
    from .teach import MAP_SHARES, build_report

    _say(verbose, quiet, "")
    if not (claims_dir / "assumptions.toml").is_file():
        raise click.ClickException(f"{claims_dir}: no assumptions.toml; pass --claims-dir")
    _say(verbose, quiet, f"teaching report from {claims_dir}: one cohort of {patients} "
         f"patients per assumption set, then {len(MAP_SHARES)} for the claim map; backend "
         f"numpy, {workers or MAX_WORKERS} worker(s); writing {out}/report.html")
    try:
        with _Progress("building the report", "cohort", not quiet) as bar:
            path = build_report(out, claims_dir, patients=patients, workers=workers,
                                progress=bar.callback)
    except PainsimError as exc:
        raise _fail(exc) from None
    if not quiet:
        click.echo(f"wrote {path} (open it in a browser; it works offline)")
        click.echo(DISCLAIMER)


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("explore"), show_default=True,
              help="Folder for explore.html (and explore_grid.json: grid size, timings).")
@click.option("--claims-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("scenarios") / "claims", show_default=True)
@click.option("--grid", "grid", type=click.Choice(["full", "small"]), default="full",
              show_default=True, help="Control values: 'full' for class, 'small' for a "
              "quick look and tests.")
@click.option("--patients", type=click.IntRange(min=8, max=MAX_COMMAND_PATIENTS),
              default=None, help="Patients simulated per assumption set and protocol "
              "(default: the grid's).")
@_workers_option(0)
def explore(out: Path, claims_dir: Path, grid: str, patients: int | None,
            workers: int) -> None:
    """Write one self-contained, interactive HTML page to question the claims offline."""
    import importlib.util
    import json

    from .explore import build_explorer
    from .results import DISCLAIMER

    if not (claims_dir / "assumptions.toml").is_file():
        raise click.ClickException(f"{claims_dir}: no assumptions.toml; pass --claims-dir")
    if importlib.util.find_spec("plotly") is None:
        raise click.ClickException("painsim explore needs Plotly: "
                                   "python -m pip install 'painsim[explore]'")
    backend = "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if backend == "numpy":
        click.echo("note: Numba is not installed, so the grid runs on the slower NumPy "
                   "backend (python -m pip install 'painsim[explore]')", err=True)

    try:  # the grid's blocks: first simulated, then read
        with _interruptible(), _Progress("building the grid", "step", True) as bar:
            path = build_explorer(out, claims_dir, grid=grid, patients=patients,
                                  workers=workers, backend=backend, progress=bar.callback)
    except PainsimError as exc:
        raise _fail(exc) from None
    d = json.loads((path.parent / "explore_grid.json").read_text(encoding="utf-8"))
    s = d["size"]
    click.echo(f"wrote {path} ({d['page_bytes'] / 1e6:.1f} MB; open it in a browser, it "
               "works offline)")
    click.echo(f"grid: {s['sets']} sets x {s['protocols']} protocols x {s['mixes']} mixes x "
               f"{s['relief']} relief x {s['relapse']} relapse definitions x {s['windows']} "
               f"windows; {d['simulations']} simulations of {d['grid']['patients']} patients "
               f"(cohorts of {d['cohort_n']}); built in {d['build_s']:.0f} s")
    click.echo(DISCLAIMER)


@main.command()
@click.argument("results", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arm", required=True, help="Arm name, as in patients.csv.")
@click.option("--patient", type=click.IntRange(min=0), required=True,
              help="Patient index (0-based), as in patients.csv.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for replay.png/.svg, replay_pain.csv, replay_events.csv, "
                   "replay.txt.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
def replay(results: Path, arm: str, patient: int, out: Path | None, force: bool) -> None:
    """Re-run one patient of the results folder RESULTS bit for bit; print its event log
    and its course in words."""
    import pandas as pd

    from .replay import replay as do_replay
    from .results import DISCLAIMER, atomic_folder

    try:
        r = do_replay(results, arm, patient)
    except PainsimError as exc:
        raise _fail(exc) from None
    log = r.events[["day", "kind", "detail"]]
    click.echo(log.to_string(index=False) if len(log) else "(no events)")
    click.echo("")
    text = r.account()
    click.echo(text)
    click.echo(DISCLAIMER)
    if out is not None:
        try:
            with atomic_folder(out, force=force) as tmp:
                r.plot(tmp / "replay.png")
                pd.DataFrame({"day": r.days, "pain_0_10": r.pain}).to_csv(
                    tmp / "replay_pain.csv", index=False, float_format="%.6g")
                r.events.to_csv(tmp / "replay_events.csv", index=False,
                                float_format="%.6g")
                (tmp / "replay.txt").write_text(text + "\n" + DISCLAIMER + "\n")
                (tmp / "manifest.json").write_text(json.dumps(
                    {"painsim_replay": 1, "results": str(results), "arm": arm,
                     "patient": patient, "note": DISCLAIMER}, indent=2))
        except PainsimError as exc:
            raise _fail(exc) from None
        click.echo(f"wrote {out}/: replay.png, replay.svg, replay_pain.csv, replay_events.csv, "
                   "replay.txt, manifest.json")


@main.command()
@click.argument("dir_a", type=click.Path(file_okay=False, path_type=Path))
@click.argument("dir_b", type=click.Path(file_okay=False, path_type=Path))
def compare(dir_a: Path, dir_b: Path) -> None:
    """Side-by-side summary of two results folders, and how their manifests differ."""
    import pandas as pd

    from .results import read_results, why_different

    try:
        (ma, sa), (mb, sb) = read_results(dir_a), read_results(dir_b)
    except PainsimError as exc:
        raise _fail(exc) from None
    cols = [c for c in sa.columns if c in sb.columns and c != "note"
            and pd.api.types.is_numeric_dtype(sa[c])]
    a, b = sa[cols], sb[cols]
    a.index = [f"A: {i}" for i in a.index]
    b.index = [f"B: {i}" for i in b.index]
    both = pd.concat([a, b]).T
    click.echo(f"A = {dir_a}\nB = {dir_b}\n")
    click.echo(both.round(3).to_string())
    why = why_different(ma, mb, sa, sb)
    heads = {"scenario": "scenario keys that differ", "inputs": "input tables that differ",
             "seeds": "seed and cohort size", "solver": "solver settings",
             "versions": "package versions", "outputs": "outputs that moved most "
             "(relative change)"}
    click.echo("\nwhy they differ:")
    causes = False
    for k, head in heads.items():
        if why[k]:
            causes = causes or k != "outputs"
            click.echo(f"  {head}:")
            click.echo("\n".join(f"    {line}" for line in why[k]))
    if not causes:
        click.echo("  same scenario, inputs, seed, solver and versions: the same numbers "
                   "are expected")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Folder for validate.csv, validate.png/.svg and manifest.json.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@click.option("--patients", type=click.IntRange(min=8, max=MAX_COMMAND_PATIENTS),
              help="Override every cohort size.")
@click.option("--seed", type=click.IntRange(min=0), help="Override every file's seed.")
@_workers_option(1)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver backend (numba: compiled, faster).")
@_scheduler_option
@_verbosity
def validate(paths: tuple[Path, ...], out: Path | None, force: bool, patients: int | None,
             seed: int | None, workers: int, backend: str, scheduler: str | None,
             verbose: bool, quiet: bool) -> None:
    """Check the model against published figures (default: scenarios/evidence/).

    Prints each target's published figure, simulated value with 95% interval, band and
    verdict (pass, fail, or undecided when the interval straddles a band edge). Exit
    status: 0 when no target fails, 3 when any fails, 1 for a bad file or option.
    """
    from .results import check_out
    from .validate import evidence_files, format_report, write_report
    from .validate import validate as run_suite

    _say(verbose, quiet, "")
    paths = paths or (Path("scenarios") / "evidence",)
    try:
        if out is not None:
            check_out(out, force=force)  # before the simulations, not after
        n_files = len(evidence_files(paths))
        _say(verbose, quiet, f"evidence: {n_files} file(s) from "
             f"{', '.join(map(str, paths))}; patients "
             f"{patients if patients else 'as each file says'}, seed "
             f"{seed if seed is not None else 'as each file says'}; "
             + _how_run(backend, workers))
        with _cluster(scheduler, workers) as executor, \
                _Progress("validating", "evidence file", not quiet) as bar:
            done = iter(range(1, n_files + 1))
            report = run_suite(paths, patients=patients, seed=seed, workers=workers,
                               backend=backend, executor=executor,
                               progress=bar.callback and (lambda _: bar.update(
                                   next(done), n_files)))
        if not quiet:
            click.echo(format_report(report))
        if out is not None:
            files = write_report(report, out, force=force)
            if not quiet:
                click.echo(f"wrote {out}/: {', '.join(files)}")
    except PainsimError as exc:
        raise _fail(exc) from None
    if report.counts["fail"]:
        sys.exit(3)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Folder for indices.csv, design.csv and the figures.")
@click.option("--n", "n", type=click.IntRange(min=2, max=2**16),
              help="Override sensitivity.n (Sobol base samples or Morris trajectories).")
@click.option("--method", type=click.Choice(["sobol", "morris"]),
              help="Override sensitivity.method.")
@click.option("--patients", type=click.IntRange(min=1), help="Override cohort.patients.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario seed.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@_workers_option(1)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver backend (numba: compiled, faster).")
@_scheduler_option
@_verbosity
def sensitivity(file: Path, out: Path, n: int | None, method: str | None,
                patients: int | None, seed: int | None, force: bool, workers: int,
                backend: str, scheduler: str | None, verbose: bool, quiet: bool) -> None:
    """Global sensitivity (Morris or Sobol, SALib) of the outcomes in FILE's
    [sensitivity] table to the parameters it names; writes --out."""
    from .results import DISCLAIMER, check_out
    from .scenario import load_scenario
    from .sensitivity import format_indices, run_sensitivity, spec_of, write_sensitivity

    _say(verbose, quiet, "")
    try:
        s = load_scenario(file, patients=patients, seed=seed)
        sec = spec_of(s)
        check_out(out, force=force)
        _say(verbose, quiet, f"sensitivity of {file} (seed {s.seed}): "
             f"{method or sec['method']}, n {n or sec['n']}, parameters "
             f"{', '.join(sec['parameters'])}; {s.patients:,} patients; "
             + _how_run(backend, workers, scheduler))
        t0 = time.perf_counter()
        with _cluster(scheduler, workers) as executor, \
                _Progress("simulating parameter sets", "solver run", not quiet) as bar:
            res = run_sensitivity(s, workers=workers, backend=backend, n=n, method=method,
                                  executor=executor, progress=bar.callback)
        files = write_sensitivity(res, out, force=force, scenario=s)
    except PainsimError as exc:
        raise _fail(exc) from None
    if quiet:
        return
    click.echo(f"{res.method} analysis of {len(res.names)} parameters: {len(res.X)} "
               f"parameter sets x {s.patients} patients, {time.perf_counter() - t0:.1f} s\n")
    click.echo(format_indices(res))
    click.echo(f"wrote {out}/: {', '.join(files)}")
    click.echo(DISCLAIMER)


def _patient_of(k: int | None, flag: int | None, file: Path, section: str,
                patients: int) -> int | None:
    """The ``--patient`` flag, else the file's ``[section] patient``, checked against the
    cohort (after ``--patients``): a bad one names the flag or the file's field."""
    if flag is not None:
        k, where = flag, "--patient"
    else:
        where = f"{file}: {section}.patient:"
    if k is not None and k >= patients:
        raise PainsimError(f"{where} {k} is beyond the cohort ({patients} patients, "
                           "numbered from 0)")
    return k


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Folder for patients.csv, tipped.csv, driver.csv and the figures.")
@click.option("--patients", type=click.IntRange(min=1), help="Override cohort.patients.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario seed.")
@click.option("--max-sessions", type=click.IntRange(min=1, max=200),
              help="Longest course tried (default: basins.max_sessions, 12).")
@click.option("--every", type=click.FloatRange(min=0.05, max=365),
              help="Days between the course's sessions (default: basins.every, 7 days).")
@click.option("--horizon", type=click.FloatRange(min=10, max=3650),
              help="Days integrated after the (last) session (default: basins.horizon, "
              "365 days).")
@click.option("--patient", type=click.IntRange(min=0),
              help="Patient of the phase plane and of the driver curve (default: "
              "basins.patient, 0).")
@click.option("--arm", help="Arm whose session is the course (default: basins.arm, else "
              "the file's dry needling, or dry needling with its defaults).")
@click.option("--equilibria/--no-equilibria", default=None, help="Compute (or skip) each "
              "patient's stable states and saddles (the slowest part; skipped: 'low' is "
              "pain <= basins.low_level). Default: basins.equilibria, true.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@_workers_option(1)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver backend (numba: compiled, faster).")
@_scheduler_option
@_verbosity
def basins(file: Path, out: Path, patients: int | None, seed: int | None,
           max_sessions: int | None, every: float | None, horizon: float | None,
           patient: int | None, arm: str | None, equilibria: bool | None, force: bool,
           workers: int, backend: str, scheduler: str | None, verbose: bool,
           quiet: bool) -> None:
    """Basin map of FILE's cohort: stable states and saddles, the minimal tension
    release of one dry-needling session and the minimal number of sessions that leave
    each patient low for good, and the minimal release against the systemic state R.
    Settings come from FILE's [basins] table; flags override them."""
    from .basins import basin_map, format_basins, write_basins
    from .interventions import acupuncture, dry_needling
    from .results import DISCLAIMER, check_out
    from .scenario import load_scenario

    _say(verbose, quiet, "")
    try:
        s = load_scenario(file, patients=patients, seed=seed)
        b = s.data["basins"]
        max_sessions = max_sessions if max_sessions is not None else b["max_sessions"]
        every = every if every is not None else b["every"]
        settle = b["settle"]
        if horizon is not None and settle > horizon:
            raise PainsimError(f"--horizon {horizon:g}: shorter than {file}'s basins.settle "
                               f"({settle:g} days); give at least that")
        horizon = horizon if horizon is not None else b["horizon"]
        equilibria = equilibria if equilibria is not None else b["equilibria"]
        patient = _patient_of(b["patient"], patient, file, "basins", s.patients)
        check_out(out, force=force)
        dn = {k: v for a in s.data["arms"] for k_, p in a["treatment"] if k_ == "dry_needling"
              for k, v in p.items()}
        ac = {k: v for a in s.data["arms"] for k_, p in a["treatment"] if k_ == "acupuncture"
              for k, v in p.items()}
        rest = {k: v for k, v in dn.items() if k != "release"}

        def lever(f: float) -> Any:
            return dry_needling(**rest, release=f)

        course = dry_needling(**dn)
        arm = arm if arm is not None else b["arm"]
        if arm is not None:
            by = {a.name: a for a in s.arms}
            if arm not in by or by[arm].protocol is None:
                raise PainsimError(f"--arm {arm!r}: not a treated arm of {file}; arms: "
                                   + ", ".join(a.name for a in s.arms if a.protocol))
            course = by[arm].protocol.interventions[0]
        k = patient or 0
        _say(verbose, quiet, f"basin map of {file} (seed {s.seed}): {s.patients:,} patients, "
             f"course {course.name} every {every:g} days up to {max_sessions} sessions, "
             f"{horizon:g} days after it, equilibria {'on' if equilibria else 'off'}, "
             f"driver patient {k}; " + _how_run(backend, workers, scheduler))
        t0 = time.perf_counter()
        with _cluster(scheduler, workers) as executor, \
                _Progress("mapping basins", "stage", not quiet) as bar:
            bm = basin_map(s.cohort, lever=lever, course=course, every_days=every,
                           max_sessions=max_sessions, horizon=horizon, settle_days=settle,
                           low_level=b["low_level"], driver_patient=k,
                           with_equilibria=equilibria, backend=backend,
                           workers=workers, rtol=s.rtol, atol=s.atol, executor=executor,
                           progress=bar.callback)
        files = write_basins(bm, s.cohort, out, force=force, lever=lever, course=course,
                             systemic=acupuncture(**ac), patient=patient, scenario=s)
    except PainsimError as exc:
        raise _fail(exc) from None
    if quiet:
        return
    click.echo(f"basin map of {s.patients} patients ({time.perf_counter() - t0:.1f} s)\n")
    click.echo(format_basins(bm))
    click.echo(f"\nwrote {out}/: {', '.join(files)}")
    click.echo(DISCLAIMER)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Folder for summary.csv, patients.csv and contributions.png/.svg.")
@click.option("--arm", help="Arm to explain (default: explain.arm, else every treated "
              "arm).")
@click.option("--reference", help="Reference arm (default: explain.reference, else the "
              "first arm).")
@click.option("--patient", type=click.IntRange(min=0),
              help="Print the plain-language story of this patient (default: "
              "explain.patient).")
@click.option("--patients", type=click.IntRange(min=1), help="Override cohort.patients.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario seed.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@_workers_option(1)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver backend (numba: compiled, faster).")
@_scheduler_option
@_verbosity
def explain(file: Path, out: Path, arm: str | None, reference: str | None,
            patient: int | None, patients: int | None, seed: int | None, force: bool,
            workers: int, backend: str, scheduler: str | None, verbose: bool,
            quiet: bool) -> None:
    """Why did patients get better? Split each arm's effect on pain into pathway
    contributions (exact Shapley values over counterfactual ablations, common random
    numbers) at the short-term day and at the horizon. Settings come from FILE's
    [explain] table; flags override them."""
    from .attribute import attribute, format_summary, narrative, write_attribution
    from .results import DISCLAIMER, check_out
    from .scenario import load_scenario

    _say(verbose, quiet, "")
    try:
        s = load_scenario(file, patients=patients, seed=seed)
        e = s.data["explain"]
        names = [a.name for a in s.arms]
        arm = arm if arm is not None else e["arm"]
        reference = reference or e["reference"] or names[0]
        for what, a in (("--arm", arm), ("--reference", reference)):
            if a is not None and a not in names:
                raise PainsimError(f"{what} {a!r}: not an arm of {file}; arms: "
                                   + ", ".join(names))
        patient = _patient_of(e["patient"], patient, file, "explain", s.patients)
        if arm == reference:
            raise PainsimError(f"--arm {arm!r} is the reference; choose another arm")
        check_out(out, force=force)
        day = s.outcomes.short_term_day
        days = e["days"] or sorted({min(day if day is not None else 42.0, s.horizon_days),
                                    float(int(s.horizon_days))})
        _say(verbose, quiet, f"attribution of {file} (seed {s.seed}): {s.patients:,} "
             f"patients, arm {arm or 'every treated arm'} against {reference}, days "
             f"{', '.join(f'{d:g}' for d in days)}; "
             + _how_run(backend, workers, scheduler))
        t0 = time.perf_counter()
        with _cluster(scheduler, workers) as executor, \
                _Progress("simulating ablations", "chunk", not quiet) as bar:
            att = attribute(list(s.arms), s.cohort, s.horizon_days, arm=arm,
                            reference=reference, days=days, seed=s.seed, backend=backend,
                            workers=workers, rtol=s.rtol, atol=s.atol,
                            epoch_days=s.epoch_days, executor=executor,
                            progress=bar.callback)
        files = write_attribution(att, out, force=force, scenario=s)
    except PainsimError as exc:
        raise _fail(exc) from None
    if quiet:
        return
    click.echo(f"pathway attribution, {s.patients} patients "
               f"({time.perf_counter() - t0:.1f} s; {att.info['method']})\n")
    vs = [a for a in att.summary.arm.unique() if " vs " in a]
    click.echo(format_summary(dataclasses.replace(
        att, summary=att.summary[att.summary.arm.isin(vs)] if vs else att.summary)))
    if patient is not None:
        for a in vs or list(att.summary.arm.unique()):
            click.echo("\n" + narrative(att, a, patient))
    click.echo(f"\nwrote {out}/: {', '.join(files)}")
    click.echo(DISCLAIMER)


if __name__ == "__main__":  # pragma: no cover
    main()
