"""Basin maps: for which patients does a local kick tip them into lasting relief?

For each virtual patient of a cohort (its state at day 0, after the run-in):

* its stable states and saddles (the model's ``equilibria`` function, for the built-in
  model :func:`painsim.equilibria`);
* the **minimal release** of one session of a *lever* (by default dry needling, whose
  strength is the fraction of tension released) that lands it in the low-pain basin for
  good, and the **minimal number of sessions** of a protocol that does, both checked by
  integrating to the horizon (not by a linearisation); ``inf`` where nothing in the
  allowed range does;
* how a systemic change moves the boundary: the minimal release as a function of a held
  value of the slow systemic state (the *driver*, ``R``), which drops to 0 where the
  high state disappears (a saddle-node).

"Low for good" means: pain stays at or below the patient's *level* over the last
``settle_days`` of the horizon, the level being the pain of its lowest saddle (the
basin boundary on the pain axis) where one exists, else ``low_level``. Chance effects
of a session (soreness, bruising) are left out of the single-session map (only effects
with probability 1 are applied); flares are switched off (the map is of the intrinsic
landscape). The minimal release is found by bisection, all patients at once as solver
lanes, assuming that a larger release never undoes tipping (true for a cubic-like
boundary; the bracket is checked at both ends).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .cohort import Cohort, Flares
from .interventions import Intervention, dry_needling
from .model import Model, ParameterSet

__all__ = ["BasinMap", "basin_map", "kick_vs_driver", "minimal_release", "tipped",
           "write_basins"]

Lever = Callable[[float], Intervention]
#: Default held values of the driver for the minimal-kick curve (its unit; for the
#: built-in model's R, whose effect saturates at R50 = 0.3, most change is below 0.5).
DRIVER_VALUES = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1.0)


def _default_equilibria(model: Model) -> Callable[..., list[dict[str, Any]]] | None:
    """:func:`painsim.equilibria` for the built-in model (pain grid of 0.1 points to
    bracket the fixed points: steady states closer than that merge in a fold anyway, and
    it is 3x faster than the default grid), none for other models."""
    import functools
    import inspect

    from .painloop import PAIN_LOOP, equilibria

    if model is not PAIN_LOOP:
        return None
    if "n_grid" in inspect.signature(equilibria).parameters:
        return functools.partial(equilibria, n_grid=100)
    return equilibria


def _end_pain(model: Model, y0: NDArray, P: NDArray, horizon: float, settle: float,
              backend: str, rtol: float, atol: float) -> NDArray[np.float64]:
    """Highest pain (0-10) over the last ``settle`` days of ``[0, horizon]``, per lane."""
    t_eval = np.linspace(max(horizon - settle, 0.0), horizon, 9)
    if backend == "numba":
        from .compiled import integrate_pain

        sol = integrate_pain(model, (0.0, horizon), np.ascontiguousarray(y0),
                             np.ascontiguousarray(P), t_eval=t_eval, rtol=rtol, atol=atol)
        pain = sol.y[0]
    else:
        from .solver import integrate

        sol = integrate(model.lane_rhs, (0.0, horizon), y0, args=(P,), t_eval=t_eval,
                        rtol=rtol, atol=atol)
        pain = model.pain_of(sol.y, P)
    return np.asarray(pain).max(axis=1)


def _kick(model: Model, lever: Lever, f: NDArray, y: NDArray, P: NDArray
          ) -> tuple[NDArray, NDArray]:
    """States (and parameters) right after one session of ``lever(f_i)`` in lane i.

    Only the effects with probability 1 happen. Sessions whose effect is affine in the
    strength (every built-in lever) are applied to all lanes at once; others lane by
    lane.
    """
    n = y.shape[1]
    lanes = np.arange(n)

    def at(x: float) -> tuple[NDArray, NDArray]:
        iv = lever(x)
        Px = P.copy()
        hap = np.array([[e.probability >= 1.0] * n for e in iv.effects], dtype=bool)
        hap = hap.reshape(len(iv.effects), n)
        return iv.apply(model, y, Px, lanes, hap), Px

    (y0, P0), (y1, P1), (ym, Pm) = at(0.0), at(1.0), at(0.5)
    if np.allclose(ym, (y0 + y1) / 2, rtol=1e-12, atol=1e-12) and \
            np.allclose(Pm, (P0 + P1) / 2, rtol=1e-12, atol=1e-12):
        return y0 + f * (y1 - y0), P0 + f * (P1 - P0)
    ys, Ps = np.empty_like(y), np.empty_like(P)
    for i in range(n):  # not affine: one lane at a time
        iv = lever(float(f[i]))
        Pi = P[:, i:i + 1].copy()
        hap = np.array([[e.probability >= 1.0] for e in iv.effects], dtype=bool)
        ys[:, i:i + 1] = iv.apply(model, y[:, i:i + 1], Pi, np.array([0]),
                                  hap.reshape(len(iv.effects), 1))
        Ps[:, i] = Pi[:, 0]
    return ys, Ps


def tipped(model: Model, lever: Lever, f: NDArray, y: NDArray, P: NDArray,
           level: NDArray, *, horizon: float = 365.0, settle_days: float = 60.0,
           backend: str = "numpy", rtol: float = 1e-6, atol: float = 1e-8
           ) -> NDArray[np.bool_]:
    """Whether one session of strength ``f`` (per lane) leaves pain at or below
    ``level`` (per lane) over the last ``settle_days`` of ``horizon`` days."""
    yk, Pk = _kick(model, lever, np.asarray(f, dtype=float), y, P)
    return _end_pain(model, yk, Pk, horizon, settle_days, backend, rtol, atol) <= level


def minimal_release(model: Model, y: NDArray, P: NDArray, level: NDArray, *,
                    lever: Lever | None = None, max_release: float = 1.0,
                    tol: float = 1e-3, horizon: float = 365.0, settle_days: float = 60.0,
                    backend: str = "numpy", rtol: float = 1e-6, atol: float = 1e-8
                    ) -> NDArray[np.float64]:
    """Smallest session strength in ``[0, max_release]`` that tips each lane for good.

    Bisection to ``tol``, all lanes at once (lanes still bracketing are integrated
    together). 0 where the patient gets there without a kick; ``inf`` where even
    ``max_release`` does not.

    Parameters
    ----------
    y : ndarray, shape (n_states, n)
        States at the session (day 0).
    P : ndarray, shape (n_parameters, n)
        Packed parameters.
    level : ndarray, shape (n,)
        Pain (0-10) at or below which the lane counts as low.
    lever : callable, optional
        Strength (0-1) -> Intervention (default ``dry_needling(release=f)``).
    """
    lever = lever or (lambda f: dry_needling(release=f))
    n = y.shape[1]
    kw = dict(horizon=horizon, settle_days=settle_days, backend=backend, rtol=rtol,
              atol=atol)
    zero = tipped(model, lever, np.zeros(n), y, P, level, **kw)
    top = tipped(model, lever, np.full(n, max_release), y, P, level, **kw)
    out = np.where(zero, 0.0, np.where(top, max_release, np.inf))
    act = np.flatnonzero(~zero & top)
    lo, hi = np.zeros(act.size), np.full(act.size, max_release)
    while act.size and np.max(hi - lo) > tol:
        mid = (lo + hi) / 2
        ok = tipped(model, lever, mid, y[:, act], P[:, act], level[act], **kw)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    out[act] = hi
    return out


@dataclass(frozen=True)
class BasinMap:
    """What :func:`basin_map` returns.

    Attributes
    ----------
    patients : pandas.DataFrame
        One row per patient: phenotype, day-0 pain, stable states and saddles (pain,
        0-10), level, ``min_release`` (0-1, inf: none), ``min_sessions`` (inf: none
        within ``max_sessions``).
    tipped : pandas.DataFrame
        Share tipped (low for good) per phenotype against the number of sessions.
    driver : pandas.DataFrame or None
        For patient ``driver_patient``: held driver value, stable and saddle pain, and
        the minimal release at that value.
    info : dict
        Settings and timings (s).
    """

    patients: pd.DataFrame
    tipped: pd.DataFrame
    driver: pd.DataFrame | None
    info: dict[str, Any] = field(default_factory=dict)


def _no_flares(cohort: Cohort) -> Cohort:
    return dataclasses.replace(cohort, phenotypes={
        k: dataclasses.replace(ph, flares=Flares()) for k, ph in cohort.phenotypes.items()})


def _params_of(model: Model, P: NDArray, i: int) -> ParameterSet:
    return model.params(**dict(zip(model.parameter_names, P[:, i].tolist(), strict=True)))


def _landscape(eqs: list[dict[str, Any]]) -> dict[str, float]:
    st = sorted(e["pain"] for e in eqs if e["kind"] == "stable")
    sd = sorted(e["pain"] for e in eqs if e["kind"] == "saddle")
    return {"n_stable": len(st), "low_stable_pain": st[0] if st else math.nan,
            "high_stable_pain": st[-1] if len(st) > 1 else math.nan,
            "saddle_pain": sd[0] if sd else math.nan}


_EQ_JOB: dict[str, Any] = {}


def _landscape_task(cols: range) -> list[dict[str, float]]:
    j = _EQ_JOB
    if j["batch"]:  # the built-in model's equilibria, the grid of all lanes at once
        from .painloop import equilibria_of_lanes

        return [_landscape(e) for e in equilibria_of_lanes(j["P"][:, cols.start:cols.stop],
                                                          n_grid=100)]
    return [_landscape(j["eq"](_params_of(j["model"], j["P"], i), R=0.0)) for i in cols]


def _landscapes(eq: Callable[..., list[dict[str, Any]]], model: Model, P: NDArray,
                workers: int, batch: bool = False) -> list[dict[str, float]]:
    """Stable states and saddles of every patient (one equilibria call each, or with
    ``batch`` :func:`painsim.painloop.equilibria_of_lanes` for the built-in model's
    default), split
    over ``workers`` forked processes where there are several."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    n = P.shape[1]
    _EQ_JOB.update(eq=eq, model=model, P=P, batch=batch)
    try:
        if workers > 1 and n > 1 and "fork" in multiprocessing.get_all_start_methods():
            step = math.ceil(n / workers)
            spans = [range(lo, min(n, lo + step)) for lo in range(0, n, step)]
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                return [r for part in pool.map(_landscape_task, spans) for r in part]
        return _landscape_task(range(n))
    finally:
        _EQ_JOB.clear()


def kick_vs_driver(model: Model, y: NDArray, P: NDArray, values: Sequence[float], *,
                   driver: str = "R", lever: Lever | None = None,
                   equilibria: Callable[..., list[dict[str, Any]]] | None = None,
                   low_level: float = 2.0, settle_in_days: float = 365.0,
                   horizon: float = 365.0, settle_days: float = 60.0, tol: float = 1e-3,
                   rtol: float = 1e-6, atol: float = 1e-8) -> pd.DataFrame:
    """Minimal release of one patient with the driver state held at each value.

    The driver (a state, e.g. ``R``) is held fixed (its rate set to 0): the patient
    first settles for ``settle_in_days`` at that value, then gets one session and is
    integrated to ``horizon``. Where the high state has disappeared (past the
    saddle-node) the patient is already low and the minimal release is 0.

    Parameters
    ----------
    y : ndarray, shape (n_states,)
        The patient's state; P : ndarray, shape (n_parameters,) its parameters.
    values : sequence of float
        Held values of the driver (its unit).
    """
    j = model.index(driver)
    base_rhs = model.rhs

    def held(t: Any, yy: Any, p: Any) -> Any:
        d = np.array(base_rhs(t, yy, p), dtype=float)
        d[j] = 0.0
        return d

    frozen = dataclasses.replace(model, rhs=held, lane_form=None)
    vals = np.asarray(values, dtype=float)
    m = vals.size
    Y = np.repeat(np.asarray(y, dtype=float)[:, None], m, axis=1)
    Y[j] = vals
    PP = np.repeat(np.asarray(P, dtype=float)[:, None], m, axis=1)
    from .solver import integrate

    Y = integrate(frozen.lane_rhs, (0.0, settle_in_days), Y, args=(PP,),
                  t_eval=[settle_in_days], rtol=rtol, atol=atol).y_final
    eq = equilibria if equilibria is not None else _default_equilibria(model)
    rows = []
    for k in range(m):
        land = {"n_stable": math.nan, "low_stable_pain": math.nan,
                "high_stable_pain": math.nan, "saddle_pain": math.nan}
        if eq is not None:
            land = _landscape(eq(_params_of(model, PP, k), R=float(vals[k])))
        rows.append(land)
    df = pd.DataFrame(rows)
    level = np.where(np.isfinite(df.saddle_pain), df.saddle_pain, low_level)
    df.insert(0, driver, vals)
    df["pain_before"] = frozen.pain_of(Y, PP)
    df["min_release"] = minimal_release(frozen, Y, PP, level, lever=lever, tol=tol,
                                        horizon=horizon, settle_days=settle_days,
                                        rtol=rtol, atol=atol)
    return df


def basin_map(cohort: Cohort, *, lever: Lever | None = None,
              course: Intervention | None = None, every_days: float = 7.0,
              max_sessions: int = 12, horizon: float = 365.0, settle_days: float = 60.0,
              low_level: float = 2.0,
              equilibria: Callable[..., list[dict[str, Any]]] | None = None,
              with_equilibria: bool = True, driver: str | None = "R",
              driver_values: Sequence[float] | None = None, driver_patient: int = 0,
              backend: str = "numpy", workers: int = 1, tol: float = 1e-3,
              rtol: float = 1e-6, atol: float = 1e-8, executor: Any = None,
              progress: Callable[[int, int], None] | None = None) -> BasinMap:
    """The basin map of a cohort (see the module docstring).

    Parameters
    ----------
    cohort : Cohort
        Who; flares are switched off.
    lever : callable, optional
        Strength (0-1) -> Intervention of one session (default dry needling's release).
    course : Intervention, optional
        The protocol's session (default ``lever(0.7)``, the default release), given
        every ``every_days`` from day 0, up to ``max_sessions`` sessions.
    horizon, settle_days : float
        Days integrated after day 0; low-for-good is checked over the last
        ``settle_days``.
    low_level : float
        Pain (0-10) counting as low where a patient has no saddle (or no equilibria).
    equilibria : callable, optional
        ``equilibria(params, R=...) -> [{"pain", "kind", ...}]`` of the model (default:
        :func:`painsim.equilibria` for the built-in model, none for others).
    driver, driver_values, driver_patient
        The slow systemic state, the held values of the minimal-kick curve, and the
        patient (index) it is drawn for; ``driver=None`` or a model without that state
        skips it.
    backend, workers : str, int
        Solver backend of the integrations and of :func:`painsim.simulate` (sessions);
        results do not depend on ``workers``.
    executor : distributed.Client, optional
        Run the sessions' simulation on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.
    progress : callable, optional
        ``progress(done, total)`` after each stage: equilibria, minimal release,
        sessions, and the driver curve where there is one; it does not change the
        results.
    """
    from .engine import simulate
    from .protocols import Arm, Fixed, Protocol

    lever = lever or (lambda f: dry_needling(release=f))
    course = course or lever(0.7)
    model = cohort.model
    cohort = _no_flares(cohort)
    timings: dict[str, float] = {}
    stages = 3 + (driver is not None and driver in model.state_index)
    done = [0]

    def stage_done() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], stages)

    tic = time.perf_counter()
    sample = cohort.sample(horizon, backend=backend)
    y, P = sample.y0, sample.params
    n = y.shape[1]
    timings["cohort_s"] = time.perf_counter() - tic
    eq = equilibria if equilibria is not None else _default_equilibria(model)
    tic = time.perf_counter()
    if eq is not None and with_equilibria:
        from .painloop import PAIN_LOOP

        land = pd.DataFrame(_landscapes(eq, model, P, workers,
                                        batch=equilibria is None and model is PAIN_LOOP))
    else:
        land = pd.DataFrame({k: np.full(n, math.nan) for k in
                             ("n_stable", "low_stable_pain", "high_stable_pain",
                              "saddle_pain")})
    timings["equilibria_s"] = time.perf_counter() - tic
    stage_done()
    level = np.where(np.isfinite(land.saddle_pain), land.saddle_pain, low_level)
    tic = time.perf_counter()
    rel = minimal_release(model, y, P, level, lever=lever, tol=tol, horizon=horizon,
                          settle_days=settle_days, backend=backend, rtol=rtol, atol=atol)
    timings["min_release_s"] = time.perf_counter() - tic
    stage_done()
    # sessions: one arm per course length, the same patients (common random numbers)
    tic = time.perf_counter()
    arms = [Arm(name="0 sessions")] + [
        Arm(name=f"{k} sessions", protocol=Protocol(
            intervention=course, schedule=Fixed(start_day=0.0, every_days=every_days,
                                                sessions=k)))
        for k in range(1, max_sessions + 1)]
    total = horizon + every_days * max_sessions  # every course ends >= horizon before
    res = simulate(arms, cohort, total, backend=backend, workers=workers, executor=executor,
                   rtol=rtol,
                   atol=atol)
    days = res.days
    low = np.empty((n, len(arms)), dtype=bool)
    for k, a in enumerate(arms):
        last = (k - 1) * every_days if k else 0.0
        end = last + horizon
        w = (days >= end - settle_days) & (days <= end)
        low[:, k] = np.nanmax(res.pain[a.name][:, w], axis=1) <= level
    first = np.where(low.any(axis=1), low.argmax(axis=1).astype(float), np.inf)
    timings["sessions_s"] = time.perf_counter() - tic
    stage_done()
    patients = pd.DataFrame({"patient": np.arange(n), "phenotype": sample.phenotype,
                             "pain_day_0": model.pain_of(y, P)})
    patients = pd.concat([patients, land], axis=1)
    patients["level"] = level
    patients["min_release"] = rel
    patients["min_sessions"] = first
    share = pd.DataFrame(low, columns=list(range(len(arms))))
    share["phenotype"] = sample.phenotype
    tipped_share = share.groupby("phenotype").mean().T
    tipped_share.index.name = "sessions"
    tipped_share["all"] = low.mean(axis=0)
    drv = None
    if driver is not None and driver in model.state_index:
        tic = time.perf_counter()
        vals = driver_values if driver_values is not None else DRIVER_VALUES
        drv = kick_vs_driver(model, y[:, driver_patient], P[:, driver_patient], vals,
                             driver=driver, lever=lever, equilibria=eq,
                             low_level=low_level, horizon=horizon,
                             settle_days=settle_days, tol=tol, rtol=rtol, atol=atol)
        timings["driver_s"] = time.perf_counter() - tic
        stage_done()
    info = {"patients": n, "driver_patient": driver_patient, "horizon_days": horizon,
            "settle_days": settle_days, "every_days": every_days,
            "max_sessions": max_sessions, "low_level": low_level,
            "course": course.name, "backend": backend, "workers": workers,
            "timings_s": timings}
    return BasinMap(patients=patients, tipped=tipped_share, driver=drv, info=info)


def _phase_plane(model: Model, y: NDArray, P: NDArray, lever: Lever, release: float,
                 course: Intervention, every_days: float, sessions: int,
                 systemic: Intervention | None, horizon: float, ax: Any,
                 x: str = "T", ystate: str = "S") -> None:
    """Separatrix (grid of starts classified by their end pain) and trajectories."""
    from .solver import integrate

    ix, iy = model.index(x), model.index(ystate)
    g = 30
    xs = np.linspace(0.0, max(1.2 * y[ix], 0.1), g)
    ys = np.linspace(0.0, 1.0 if model.states[iy].upper == 1.0 else 1.2 * max(y[iy], 0.1), g)
    XX, YY = np.meshgrid(xs, ys)
    Y0 = np.repeat(y[:, None], g * g, axis=1)
    Y0[ix], Y0[iy] = XX.ravel(), YY.ravel()
    PP = np.repeat(P[:, None], g * g, axis=1)
    end = _end_pain(model, Y0, PP, horizon, 30.0, "numpy", 1e-5, 1e-7)
    hi = float(model.pain_of(y[:, None], P[:, None])[0])
    ax.contourf(XX, YY, (end > hi / 2).reshape(g, g), levels=[-0.5, 0.5, 1.5],
                colors=["#d8ecd8", "#f3d9d9"], alpha=0.8)
    ax.contour(XX, YY, (end > hi / 2).reshape(g, g).astype(float), levels=[0.5],
               colors="k", linewidths=1.5)
    levers = [("no treatment", None, []), (f"1 session, release {release:.2f}",
                                          lever(release), [0.0]),
              (f"{course.name} x{sessions}", course, [k * every_days for k in range(sessions)])]
    if systemic is not None:
        levers.append((f"{systemic.name} x{sessions}", systemic,
                       [k * every_days for k in range(sessions)]))
    t_eval = np.linspace(0.0, horizon, 400)
    for label, iv, all_times in levers:
        times = [t for t in all_times if t < horizon]  # a short horizon cuts the course
        yy = y[:, None].copy()
        PP1 = P[:, None].copy()

        def on_stop(t: Any, yl: Any, lanes: Any, k: Any, iv: Any = iv, PP1: Any = PP1) -> Any:
            hap = np.array([[e.probability >= 1.0] for e in iv.effects], dtype=bool)
            return iv.apply(model, yl, PP1, lanes, hap.reshape(len(iv.effects), -1))

        stops = np.array([times]) if times else None
        sol = integrate(model.lane_rhs, (0.0, horizon), yy, args=(PP1,), t_eval=t_eval,
                        stops=stops, on_stop=on_stop if times else None, rtol=1e-6,
                        atol=1e-8)
        ax.plot(sol.y[ix, 0], sol.y[iy, 0], lw=1.4, label=label)
    ax.plot([y[ix]], [y[iy]], "ko", ms=5)
    ax.set_xlabel(f"{x}: {model.states[ix].description}")
    ax.set_ylabel(f"{ystate}: {model.states[iy].description}")
    ax.legend(fontsize=7, loc="upper left")


def write_basins(bm: BasinMap, cohort: Cohort, out: Path, *, force: bool = False,
                 lever: Lever | None = None, course: Intervention | None = None,
                 systemic: Intervention | None = None, patient: int | None = None,
                 scenario: Any = None) -> list[str]:
    """Write ``patients.csv``, ``tipped.csv``, ``driver.csv``, ``phase_plane.png``,
    ``cohort.png`` and ``manifest.json`` into ``out`` atomically."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import save_figure
    from .results import DISCLAIMER, atomic_folder

    lever = lever or (lambda f: dry_needling(release=f))
    course = course or lever(0.7)
    model = cohort.model
    files: list[str] = []
    with atomic_folder(out, force=force) as tmp:
        p = bm.patients.copy()
        p.insert(0, "note", DISCLAIMER)
        p.to_csv(tmp / "patients.csv", index=False, float_format="%.6g")
        bm.tipped.to_csv(tmp / "tipped.csv", float_format="%.6g")
        files += ["patients.csv", "tipped.csv"]
        if bm.driver is not None:
            bm.driver.to_csv(tmp / "driver.csv", index=False, float_format="%.6g")
            files.append("driver.csv")
        # phase plane of one patient (default: the first one whose release is finite)
        fin = np.flatnonzero(np.isfinite(bm.patients.min_release.to_numpy())
                             & (bm.patients.min_release.to_numpy() > 0))
        k = patient if patient is not None else (int(fin[0]) if fin.size else 0)
        sample = _no_flares(cohort).sample(bm.info["horizon_days"])
        y, P = sample.y0[:, k], sample.params[:, k]
        axes_states = (("T", "S") if {"T", "S"} <= set(model.state_names)
                       else model.state_names[:2])
        if len(axes_states) == 2:
            fig, axes = plt.subplots(1, 2 if bm.driver is not None else 1,
                                     figsize=(12 if bm.driver is not None else 8, 5))
            axes = np.atleast_1d(axes)
            r = float(bm.patients.min_release[k])
            r = min(1.0, 1.1 * r) if np.isfinite(r) and r > 0 else 0.7
            _phase_plane(model, y, P, lever, r, course, bm.info["every_days"], 6, systemic,
                         min(bm.info["horizon_days"], 180.0), axes[0], *axes_states)
            axes[0].set_title(f"patient {k}: green = low-pain basin, red = high "
                              "(end pain of each start); black line: the boundary",
                              fontsize=8)
            if bm.driver is not None:
                d = bm.driver
                drv = d.columns[0]
                ax = axes[1]
                fin = np.isfinite(d.min_release)
                ax.plot(d[drv][fin], d.min_release[fin], "o-",
                        label="minimal release (one session)")
                ax.plot(d[drv][~fin], np.ones((~fin).sum()), "rx", ms=9,
                        label="no release tips the patient")
                ax.set_ylim(-0.05, 1.1)
                ax.set_xlabel(f"held {drv} (slow systemic state)")
                ax.set_ylabel("minimal release (fraction of tension)")
                ax2 = ax.twinx()
                ax2.plot(d[drv], d.high_stable_pain, "r--", label="high state pain")
                ax2.plot(d[drv], d.saddle_pain, "k:", label="saddle pain")
                ax2.set_ylabel("pain (0-10)")
                ax.set_title(f"patient {driver_patient_of(bm)}: the boundary moves with "
                             f"{drv}; past the saddle-node no kick is needed", fontsize=8)
                ax.legend(loc="upper right", fontsize=7)
                ax2.legend(loc="center right", fontsize=7)
            fig.suptitle(DISCLAIMER, fontsize=8)
            fig.tight_layout()
            files += save_figure(fig, tmp, "phase_plane")
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for col in bm.tipped.columns:
            ax.plot(bm.tipped.index, bm.tipped[col], "o-" if col == "all" else ".-",
                    label=str(col), lw=2.5 if col == "all" else 1.2)
        ax.set_xlabel(f"sessions of {course.name} (every {bm.info['every_days']:g} days)")
        ax.set_ylabel("share low for good")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
        ax.set_title(f"Share tipped into the low-pain basin\n{DISCLAIMER}", fontsize=9)
        fig.tight_layout()
        files += save_figure(fig, tmp, "cohort")
        manifest = {"note": DISCLAIMER, **bm.info,
                    "scenario_file": getattr(scenario, "path", None),
                    "scenario_sha256": getattr(scenario, "sha256", None),
                    "phase_plane_patient": k, "files": [*files, "manifest.json"]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return manifest["files"]


def driver_patient_of(bm: BasinMap) -> int:
    """Index of the patient of the driver curve."""
    return int(bm.info.get("driver_patient", 0))


def format_basins(bm: BasinMap) -> str:
    """A short text summary of a basin map."""
    p = bm.patients
    lines = []
    for ph, g in p.groupby("phenotype"):
        rel = g.min_release
        fin = rel[np.isfinite(rel)]
        ses = g.min_sessions
        lines.append(
            f"{ph}: {len(g)} patients; bistable {np.mean(g.n_stable >= 2):.0%}; one session "
            f"tips {np.isfinite(rel).mean():.0%} (median minimal release "
            f"{(fin.median() if fin.size else math.nan):.2f}); a course tips "
            f"{np.isfinite(ses).mean():.0%} (median sessions "
            f"{(ses[np.isfinite(ses)].median() if np.isfinite(ses).any() else math.nan):g})")
    if bm.driver is not None:
        d = bm.driver
        drv = d.columns[0]
        zero = d[d.min_release == 0]
        lines.append(f"driver {drv}: minimal release "
                     + ", ".join(f"{r:g}->{m:.2f}" for r, m in zip(d[drv], d.min_release,
                                                                  strict=True))
                     + (f"; none needed from {drv} = {zero[drv].min():g}"
                        if len(zero) else ""))
    return "\n".join(lines)
