"""The ``painsim`` command line: a thin layer over the library.

Every expected failure (a broken scenario, an existing output folder, a cohort too
large for memory) becomes one clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import PainsimError

__all__ = ["main"]


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
    """Validate scenario FILES without running them; list every problem."""
    from .scenario import load_scenario

    bad = 0
    for f in files:
        try:
            s = load_scenario(f)
        except PainsimError as exc:
            bad += 1
            click.echo(str(exc), err=True)
        else:
            click.echo(f"{f}: ok ({len(s.arms)} arms, {s.patients} patients, "
                       f"{s.horizon_days:g} days)")
    if bad:
        raise click.ClickException(f"{bad} of {len(files)} scenario file(s) have problems")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Results folder to create.")
@click.option("--patients", type=click.IntRange(min=1), help="Override cohort.patients.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario seed.")
@click.option("--force", is_flag=True, help="Replace an existing results folder.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes (0: one per core); results do not depend on it.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default="numpy",
              show_default=True, help="Solver: the NumPy reference, or the same method "
              "compiled with Numba (faster; pip install \"painsim[fast]\"); they agree to "
              "rounding.")
def run(file: Path, out: Path, patients: int | None, seed: int | None, force: bool,
        quiet: bool, workers: int, backend: str) -> None:
    """Run the scenario FILE and write the results folder --out."""
    from .engine import simulate
    from .results import estimate_memory_bytes, write_results
    from .scenario import load_scenario

    try:
        s = load_scenario(file, patients=patients, seed=seed)
    except PainsimError as exc:
        raise _fail(exc) from None
    if out.exists() and not out.is_dir():
        raise click.ClickException(f"{out}: exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise click.ClickException(f"{out}: already exists; use --force to replace it")
    need, have = estimate_memory_bytes(s), _available_memory()
    if have is not None and need > 0.8 * have:
        raise click.ClickException(
            f"{file}: cohort.patients: {s.patients:,} patients x {len(s.arms)} arms x "
            f"{int(s.horizon_days) + 1} days needs about {need / 2**30:.1f} GiB; this "
            f"machine has {have / 2**30:.1f} GiB available. Use fewer patients "
            "(--patients) or set outputs.trajectories = false.")
    show = not quiet and sys.stdout.isatty()
    t0 = time.perf_counter()
    try:
        if show:
            with click.progressbar(length=len(s.arms), label="simulating arms") as bar:
                result = simulate(list(s.arms), s.cohort, s.horizon_days,
                                  outcomes=s.outcomes, epoch_days=s.epoch_days,
                                  rtol=s.rtol, atol=s.atol, workers=workers,
                                  backend=backend, progress=lambda _: bar.update(1))
        else:
            result = simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes,
                              epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol,
                              workers=workers, backend=backend)
        command = "painsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        files = write_results(s, result, out, force=force, command=command,
                              wall_seconds=time.perf_counter() - t0)
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
        click.echo("A model for research and teaching, not medical advice.")


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--assumptions", type=click.Path(dir_okay=False, path_type=Path),
              help="Assumption sets file (default: assumptions.toml beside the claims).")
@click.option("--patients", type=click.IntRange(min=8), default=200, show_default=True,
              help="Patients in the paired cohort of each assumption set.")
@click.option("--seed", type=click.IntRange(min=0), default=2026, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0: one per core); results do not depend on it.")
def claims(files: tuple[Path, ...], assumptions: Path | None, patients: int, seed: int,
           workers: int) -> None:
    """Check claims (default: scenarios/claims/*.toml) under every assumption set."""
    from .claims import evaluate_claims, format_verdicts, load_assumptions, load_claims

    if not files:
        folder = Path("scenarios") / "claims"
        files = tuple(sorted(f for f in folder.glob("*.toml") if f.name != "assumptions.toml"))
        if not files:
            raise click.ClickException("no claim files given and none in scenarios/claims/")
    assumptions = assumptions or files[0].parent / "assumptions.toml"
    try:
        sets = load_assumptions(assumptions)
        cl = load_claims(files)
    except PainsimError as exc:
        raise _fail(exc) from None
    table = evaluate_claims(cl, sets, patients=patients, seed=seed, workers=workers)
    click.echo(format_verdicts(cl, sets, table))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--patients", type=click.IntRange(min=8), help="Override the cohort size.")
@click.option("--max-evaluations", type=click.IntRange(min=1), default=40, show_default=True,
              help="Most simulations the optimizer may run.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0: one per core); results do not depend on it.")
def calibrate(file: Path, patients: int | None, max_evaluations: int, workers: int) -> None:
    """Fit a claim file's [calibration] parameters to its reported numbers."""
    from .calibrate import calibrate as fit
    from .calibrate import format_calibration

    try:
        result = fit(file, patients=patients, max_evaluations=max_evaluations,
                     workers=workers)
    except PainsimError as exc:
        raise _fail(exc) from None
    click.echo(format_calibration(result))


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("teaching"), show_default=True, help="Folder for report.html.")
@click.option("--claims-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("scenarios") / "claims", show_default=True)
@click.option("--patients", type=click.IntRange(min=8), default=120, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0: one per core); results do not depend on it.")
def teach(out: Path, claims_dir: Path, patients: int, workers: int) -> None:
    """Write a self-contained HTML report on the contradictions between the claims."""
    from .teach import build_report

    if not (claims_dir / "assumptions.toml").is_file():
        raise click.ClickException(f"{claims_dir}: no assumptions.toml; pass --claims-dir")
    try:
        path = build_report(out, claims_dir, patients=patients, workers=workers)
    except PainsimError as exc:
        raise _fail(exc) from None
    click.echo(f"wrote {path} (open it in a browser; it works offline)")
    click.echo("A model for research and teaching, not medical advice.")


@main.command()
@click.argument("dir_a", type=click.Path(file_okay=False, path_type=Path))
@click.argument("dir_b", type=click.Path(file_okay=False, path_type=Path))
def compare(dir_a: Path, dir_b: Path) -> None:
    """Side-by-side summary of two results folders, and how their manifests differ."""
    import pandas as pd

    from .results import read_results

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
    click.echo("\nmanifest differences:")
    keys = ["scenario_sha256", "title", "seed", "patients", "arms", "horizon_days",
            "decision_resolution_days", "solver", "versions"]
    diffs = [f"  {k}: A={ma.get(k)!r}  B={mb.get(k)!r}" for k in keys
             if ma.get(k) != mb.get(k)]
    click.echo("\n".join(diffs) if diffs else "  none (same scenario, seed and versions)")


if __name__ == "__main__":  # pragma: no cover
    main()
