"""Calibration: fit chosen parameters so that simulated outcomes match a reported table.

A claim file with a ``[calibration]`` table names the population, the parameters to fit
(``model.<parameter>`` or ``<treatment>.<parameter>``, each with bounds and a start) and
uses the claim's observables as targets: the target value is the middle of each band and
its half-width is the residual's scale. The fit is a bounded least-squares problem
(:func:`scipy.optimize.least_squares`) over one paired cohort whose random numbers are
fixed, so the objective is deterministic. How well each parameter is determined comes
from the Jacobian at the optimum: standard errors from ``(JᵀJ)⁻¹`` scaled by the
residual variance, and their correlations.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from .claims import load_claims, observable_value, patients_table, standard_arms
from .cohort import MAX_PATIENTS, PHENOTYPE_PRESETS, Cohort, with_parameters
from .engine import simulate
from .errors import ParameterError, ScenarioError, check_number, did_you_mean, short_repr
from .outcomes import DISCLAIMER, Outcomes
from .painloop import PAIN_LOOP
from .scenario import TREATMENTS

__all__ = ["Calibration", "CalibrationResult", "EvidenceFit", "calibrate", "fit_evidence",
           "format_calibration", "read_calibration", "simulate_evidence"]


@dataclass(frozen=True)
class CalibrationResult:
    """The fit: parameter values, their uncertainty, residuals per target."""

    claim: str
    names: tuple[str, ...]
    start: np.ndarray
    fitted: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray]
    plausible: tuple[np.ndarray, np.ndarray]
    std_error: np.ndarray
    correlation: np.ndarray
    targets: list[tuple[str, float, float, float]]  # what, target, scale, simulated
    cost: float
    note: str
    evaluations: int
    seconds: float
    message: str
    max_evaluations: int = 0


class _BudgetSpent(Exception):
    """The fit has run as many simulations as it was allowed."""


def _plausible(name: str, lo: float, hi: float) -> tuple[float, float]:
    kind, par = name.split(".", 1)
    if kind == "model":
        return PAIN_LOOP.parameters[PAIN_LOOP.parameter_index[par]].plausible
    from .claims import TREATMENT_PLAUSIBLE  # treatment parameters' ranges and bases

    if par in TREATMENT_PLAUSIBLE.get(kind, {}):
        return TREATMENT_PLAUSIBLE[kind][par][:2]
    return math.nan, math.nan  # no plausible range recorded: reported as not plausible


def _uncertainty(J: np.ndarray, s2: float) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors and correlations from the Jacobian, via its SVD.

    A direction the residuals do not respond to (singular value ~0) has unbounded
    variance: every parameter loading on it gets an infinite standard error (it is not
    determined by the targets) instead of the zero a pseudo-inverse would suggest.
    """
    _, sv, Vt = np.linalg.svd(J, full_matrices=False)
    k = J.shape[1]
    if sv.size < k:
        sv = np.concatenate([sv, np.zeros(k - sv.size)])
        Vt = np.linalg.svd(J, full_matrices=True)[2]
    null = sv <= 1e-8 * max(sv.max(), 1e-300)
    load = np.abs(Vt[null]).max(axis=0) > 1e-6 if null.any() else np.zeros(k, dtype=bool)
    keep = ~null
    cov = (Vt[keep].T * (1.0 / sv[keep] ** 2)) @ Vt[keep] * s2
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    se[load] = np.inf
    d = np.where(np.isfinite(se) & (se > 0), se, np.nan)
    corr = cov / np.outer(d, d)
    return se, corr


@dataclass(frozen=True)
class Calibration:
    """A claim file's ``[calibration]`` table, checked (:func:`read_calibration`).

    Attributes
    ----------
    names : tuple of str
        Parameters to fit: ``model.<parameter>`` or ``<treatment>.<parameter>``.
    lo, hi, start : tuple of float
        Bounds and starting value of each (in the parameter's unit).
    mix : dict of str to float
        Phenotype mix of the cohort (default: half acute strain, half recurrent).
    patients : int
        Cohort size (default 120).
    horizon_days : float
        Follow-up, days (default 180).
    seed : int
        Cohort seed (default 2026).
    note : str
        Free text shown with the fit.
    """

    names: tuple[str, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    start: tuple[float, ...]
    mix: dict[str, float]
    patients: int = 120
    horizon_days: float = 180.0
    seed: int = 2026
    note: str = ""


_CAL_KEYS = ("parameter", "mix", "patients", "horizon_days", "seed", "note")
_PAR_KEYS = ("name", "lo", "hi", "start")
#: Longest follow-up a calibration may simulate, days (ten years).
MAX_CALIBRATION_DAYS = 3652.5


def read_calibration(path: str | Path) -> Calibration:
    """Read and check the ``[calibration]`` table of claim file ``path``.

    Every key is checked before anything is simulated: unknown keys (with a
    did-you-mean), types, bounds inside the parameter's allowed range, phenotype names
    of ``mix``, and sizes (``patients`` up to :data:`painsim.cohort.MAX_PATIENTS`,
    ``horizon_days`` up to :data:`MAX_CALIBRATION_DAYS`).

    Parameters
    ----------
    path : str or Path
        A claim file (TOML).

    Returns
    -------
    Calibration

    Raises
    ------
    ScenarioError
        Naming the file, the field (``calibration.parameter[1].lo``) and what is
        allowed.
    """
    p = str(path)

    def fail(field: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{p}: calibration.{field}: {msg}", file=p,
                             problems=[(f"calibration.{field}", msg)])

    def number(field: str, v: Any, lo: float = -math.inf, hi: float = math.inf, *,
               integer: bool = False) -> float:
        try:
            check_number(field, v, lo, hi, integer=integer)
        except ParameterError as exc:
            raise fail(field, f"{short_repr(v)} {exc.why}; allowed: {exc.allowed}") from None
        return v

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{p}: {exc}", file=p) from None
    spec = data.get("calibration")
    if not spec:
        raise ScenarioError(f"{p}: no [calibration] table", file=p)
    if not isinstance(spec, dict):
        raise ScenarioError(f"{p}: calibration: a table ([calibration]), not "
                            f"{type(spec).__name__}", file=p)
    for k in spec:
        if k not in _CAL_KEYS:
            raise fail(k, "unknown key" + did_you_mean(k, _CAL_KEYS)
                       + f"; allowed: {', '.join(_CAL_KEYS)}")
    pars = spec.get("parameter", [])
    if not isinstance(pars, list) or not all(isinstance(q, dict) for q in pars):
        raise fail("parameter", "an array of tables ([[calibration.parameter]])")
    if not pars:
        raise fail("parameter", "at least one is needed ([[calibration.parameter]] with "
                   "name, lo, hi and optionally start)")
    names, lo, hi, x0 = [], [], [], []
    for i, q in enumerate(pars):
        w = f"parameter[{i}]"
        for k in q:
            if k not in _PAR_KEYS:
                raise fail(f"{w}.{k}", "unknown key" + did_you_mean(k, _PAR_KEYS)
                           + f"; allowed: {', '.join(_PAR_KEYS)}")
        for k in ("name", "lo", "hi"):
            if k not in q:
                raise fail(f"{w}.{k}", "missing")
        name = q["name"]
        kind, _, par = name.partition(".") if isinstance(name, str) else ("", "", "")
        ok = (kind == "model" and par in PAIN_LOOP.parameter_index) or (
            kind in TREATMENTS and par in TREATMENTS[kind][0].__kwdefaults__)
        if not ok:
            raise fail(f"{w}.name", f"{short_repr(name)}; use model.<parameter> or "
                       "<treatment>.<parameter> with treatment one of "
                       f"{', '.join(TREATMENTS)}")
        allowed = (PAIN_LOOP.parameters[PAIN_LOOP.parameter_index[par]].bounds
                   if kind == "model" else (-math.inf, math.inf))
        a = float(number(f"{w}.lo", q["lo"], *allowed))
        b = float(number(f"{w}.hi", q["hi"], *allowed))
        if not a < b:
            raise fail(w, f"lo = {a:g} must be below hi = {b:g}")
        st = float(number(f"{w}.start", q.get("start", (a + b) / 2), a, b))
        if name in names:
            raise fail(f"{w}.name", f"{name!r} is listed twice")
        names.append(name)
        lo.append(a)
        hi.append(b)
        x0.append(st)
    if not isinstance(spec.get("note", ""), str):
        raise fail("note", f"{short_repr(spec['note'])}; a string")
    mix = spec.get("mix", {"acute_strain": 0.5, "recurrent": 0.5})
    if not isinstance(mix, dict) or not mix:
        raise fail("mix", f"{short_repr(mix)}; a table of phenotype = share, phenotypes "
                   f"from {', '.join(PHENOTYPE_PRESETS)}")
    for k, v in mix.items():
        if k not in PHENOTYPE_PRESETS:
            raise fail(f"mix.{k}", "unknown phenotype" + did_you_mean(k, list(
                PHENOTYPE_PRESETS)) + f"; allowed: {', '.join(PHENOTYPE_PRESETS)}")
        number(f"mix.{k}", v, 0.0, math.inf)
    if not sum(mix.values()) > 0:
        raise fail("mix", "the shares add up to 0; at least one must be positive")
    return Calibration(
        names=tuple(names), lo=tuple(lo), hi=tuple(hi), start=tuple(x0),
        mix={k: float(v) for k, v in mix.items()},
        patients=int(number("patients", spec.get("patients", 120), 1, MAX_PATIENTS,
                            integer=True)),
        horizon_days=float(number("horizon_days", spec.get("horizon_days", 180), 1,
                                  MAX_CALIBRATION_DAYS)),
        seed=int(number("seed", spec.get("seed", 2026), 0, 2**63 - 1, integer=True)),
        note=str(spec.get("note", "")))


def calibrate(path: str | Path, *, patients: int | None = None, max_evaluations: int = 40,
              workers: int = 1,
              progress: Callable[[int, int], None] | None = None,
              executor: Any = None) -> CalibrationResult:
    """Fit the ``[calibration]`` of claim file ``path`` to its observables' bands.

    Parameters
    ----------
    path : str or Path
        A claim file with a ``[calibration]`` table.
    patients : int, optional
        Cohort size (default: the table's ``patients``, else 120).
    max_evaluations : int
        Most simulations the fit runs, counting those of the finite-difference
        Jacobians (one per parameter each); at least one more than the number of
        parameters. The result's ``evaluations`` is the number actually run.
    workers : int
        Worker processes per simulation.
    progress : callable, optional
        ``progress(done, max_evaluations)`` after each simulation.
    executor : distributed.Client, optional
        Run the simulations' chunks on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.

    Raises
    ------
    ScenarioError
        If the file or its ``[calibration]`` table is broken.
    ParameterError
        If ``max_evaluations`` cannot pay for one Jacobian.
    """
    (claim,) = load_claims([path])
    cal = read_calibration(path)
    names = list(cal.names)
    lo, hi, x0 = list(cal.lo), list(cal.hi), list(cal.start)
    lo_a, hi_a, x0_a = np.array(lo), np.array(hi), np.array(x0)
    if max_evaluations < len(names) + 1:
        raise ParameterError("max_evaluations", max_evaluations, f"an integer >= "
                             f"{len(names) + 1} (one simulation at a point and one per "
                             f"parameter for its Jacobian: {len(names)} parameters)",
                             why="is too small")
    mix = cal.mix
    n = int(patients or cal.patients)
    horizon = cal.horizon_days
    obs = claim.observables
    need = {o.arm for o in obs} | {o.minus for o in obs if o.minus}
    target = np.array([(o.band[0] + o.band[1]) / 2 for o in obs])
    scale = np.array([max((o.band[1] - o.band[0]) / 2, 1e-9) for o in obs])
    outcomes = Outcomes(short_term_day=42, report_days=(2, 7))
    evals = 0
    seen: dict[bytes, np.ndarray] = {}  # a point is simulated once (the cohort is fixed)

    def simulated(x: np.ndarray) -> np.ndarray:
        nonlocal evals
        key = np.asarray(x, dtype=float).tobytes()
        if key in seen:
            return seen[key]
        if evals >= max_evaluations:
            raise _BudgetSpent
        evals += 1
        model = {nm.split(".", 1)[1]: v for nm, v in zip(names, x, strict=True)
                 if nm.startswith("model.")}
        treat: dict[str, dict[str, float]] = {}
        for nm, v in zip(names, x, strict=True):
            kind, par = nm.split(".", 1)
            if kind != "model":
                treat.setdefault(kind, {})[par] = float(v)
        cohort = Cohort(n=n, seed=cal.seed, mix=mix,
                        phenotypes=with_parameters(PHENOTYPE_PRESETS, model))
        arms = [a for a in standard_arms(treat) if a.name in need]
        res = simulate(arms, cohort, horizon, outcomes=outcomes, workers=workers,
                       executor=executor)
        pt = patients_table(res, horizon)
        seen[key] = np.array([observable_value(pt, o) for o in obs])
        if progress is not None:
            progress(evals, max_evaluations)
        return seen[key]

    def residuals(x: np.ndarray) -> np.ndarray:
        r = (simulated(x) - target) / scale
        return np.where(np.isfinite(r), r, 10.0)  # an undefined metric counts as far off

    at: dict[str, np.ndarray] = {}  # the last point whose Jacobian is known, and it

    def jacobian(x: np.ndarray) -> np.ndarray:
        """Forward differences, 5% of each parameter's range (inwards at a bound); each
        column is one simulation, counted in the budget."""
        r0 = residuals(x)
        J = np.empty((r0.size, x.size))
        for i in range(x.size):
            h = 0.05 * (hi_a[i] - lo_a[i])
            h = h if x[i] + h <= hi_a[i] else -h
            xi = np.array(x, dtype=float)
            xi[i] += h
            J[:, i] = (residuals(xi) - r0) / h
        at["x"], at["J"] = np.array(x, dtype=float), J
        return J

    tic = time.perf_counter()
    try:
        fit = least_squares(residuals, x0_a, jac=jacobian, bounds=(lo_a, hi_a),
                            x_scale=hi_a - lo_a, max_nfev=max_evaluations)
        x_fit, J, message = fit.x, fit.jac, str(fit.message)
    except _BudgetSpent:  # the last iterate whose Jacobian was paid for
        x_fit, J = at["x"], at["J"]
        message = (f"stopped after {evals} simulations (max_evaluations); the fit is the "
                   "last accepted point")
    cost = 0.5 * float(np.sum(residuals(x_fit) ** 2))
    m, k = J.shape
    dof = max(m - k, 1)
    s2 = 2 * cost / dof
    se, corr = _uncertainty(J, s2)
    sims = simulated(x_fit)
    plaus = [(_plausible(nm, a, b)) for nm, a, b in zip(names, lo, hi, strict=True)]
    return CalibrationResult(
        claim=claim.id, names=tuple(names), start=x0_a, fitted=x_fit, bounds=(lo_a, hi_a),
        plausible=(np.array([q[0] for q in plaus]), np.array([q[1] for q in plaus])),
        std_error=se, correlation=corr,
        targets=[(o.describe().rsplit(" in [", 1)[0], t, s, v)
                 for o, t, s, v in zip(obs, target, scale, sims, strict=True)],
        cost=cost, note=cal.note, evaluations=evals,
        seconds=time.perf_counter() - tic, message=message, max_evaluations=max_evaluations)


def format_calibration(r: CalibrationResult) -> str:
    """The fit as text: parameters, uncertainty, plausibility, residuals."""
    budget = f" (at most {r.max_evaluations})" if r.max_evaluations else ""
    lines = [f"Calibration of claim {r.claim}: {r.evaluations} simulations{budget}, "
             f"{r.seconds:.0f} s; optimizer: {r.message}", ""]
    if r.note:
        lines += [f"Note: {r.note}", ""]
    lines += ["parameter                      start    fitted   std.err  range          "
              "plausible?"]
    for i, nm in enumerate(r.names):
        inside = r.plausible[0][i] <= r.fitted[i] <= r.plausible[1][i]
        poorly = not np.isfinite(r.std_error[i]) or \
            r.std_error[i] > 0.5 * (r.bounds[1][i] - r.bounds[0][i])
        lines.append(f"{nm:<30} {r.start[i]:<8.3g} {r.fitted[i]:<8.3g} "
                     f"{r.std_error[i]:<8.2g} [{r.bounds[0][i]:g}, {r.bounds[1][i]:g}]"
                     f"{'':<4} {'yes' if inside else 'NO'}"
                     + ("   (poorly determined)" if poorly else ""))
    if len(r.names) > 1:
        lines += ["", "correlation of estimates:"]
        for i, nm in enumerate(r.names):
            lines.append(f"  {nm:<30} " + " ".join(f"{c:6.2f}" for c in r.correlation[i]))
    lines += ["", "target                                                   reported  "
              "simulated  residual (in tolerances)"]
    for what, t, s, v in r.targets:
        res = (v - t) / s if np.isfinite(v) else math.nan
        lines.append(f"{what[:56]:<56} {t:<9.3g} {v:<10.3g} {res:+.2f}")
    worst = max((abs((v - t) / s) for _, t, s, v in r.targets if np.isfinite(v)),
                default=math.nan)
    lines += ["", f"sum of squared residuals {2 * r.cost:.3g}; the worst target is "
              f"{worst:.1f} tolerances away"
              + (" - these assumptions cannot reproduce the table." if worst > 1 else
                 " - every target is within its tolerance."),
              "", DISCLAIMER]
    return "\n".join(lines)



# --- fitting the default model to the evidence suite -----------------------------------

@dataclass(frozen=True)
class EvidenceFit:
    """A fit of model, preset and treatment parameters to many evidence targets at once.

    ``targets`` rows: (file, target name, published, band low, band high, simulated).
    """

    names: tuple[str, ...]
    start: np.ndarray
    fitted: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray]
    std_error: np.ndarray
    targets: list[tuple[str, str, float, float, float, float]]
    residuals: np.ndarray
    cost: float
    evaluations: int
    seconds: float
    message: str
    patients: int | None


def _set_path(phenotypes: dict, name: str, value: float) -> None:
    """Set ``preset.<phenotype>.<what>[.<field>]`` in a phenotypes dict (copy on write)."""
    import dataclasses

    from .cohort import LogNormal, Uniform

    _, ph_name, rest = name.split(".", 2)
    ph = phenotypes[ph_name]
    head, _, field = rest.partition(".")
    if head == "flares":
        phenotypes[ph_name] = dataclasses.replace(
            ph, flares=dataclasses.replace(ph.flares, **{field: float(value)}))
        return
    if head == "injury":
        old = ph.injury
    else:
        old = ph.params.get(head, 0.0)
    if field:
        if not isinstance(old, Uniform | LogNormal):
            raise ScenarioError(f"{name}: {head} of {ph_name} is not a distribution")
        new = dataclasses.replace(old, **{field: float(value)})
        if isinstance(new, Uniform) and new.high < new.low:
            new = Uniform(new.high, new.high)
    else:
        new = float(value)
    if head == "injury":
        phenotypes[ph_name] = dataclasses.replace(ph, injury=new)
    else:
        phenotypes[ph_name] = dataclasses.replace(ph, params={**ph.params, head: new})


class _Overrides:
    """Apply named parameter values for one evaluation and undo them afterwards:
    ``model.<p>`` (fixed for every phenotype), ``preset.<phenotype>.<p>[.<field>]``,
    ``preset.<phenotype>.injury[.<field>]``, ``preset.<phenotype>.flares.<field>``,
    ``<treatment>.<keyword>`` (the scenario schema's default, so files that set the
    keyword keep their value) and ``nonspecific.<kind>``."""

    def __init__(self, names: Sequence[str], values: Sequence[float]) -> None:
        self.items = list(zip(names, map(float, values), strict=True))

    def __enter__(self) -> dict:
        import dataclasses

        from . import interventions as ivm

        self.saved_keys: list[tuple[str, str, Any, Any]] = []
        self.saved_ns = dict(ivm.NONSPECIFIC)
        phenotypes = dict(PHENOTYPE_PRESETS)
        model: dict[str, float] = {}
        for nm, v in self.items:
            kind, _, rest = nm.partition(".")
            if kind == "model":
                model[rest] = v
            elif kind == "preset":
                _set_path(phenotypes, nm, v)
            elif kind == "nonspecific":
                ivm.NONSPECIFIC[rest] = v
            elif kind in TREATMENTS:
                factory, keys = TREATMENTS[kind]
                self.saved_keys.append((kind, rest, keys[rest],
                                        factory.__kwdefaults__[rest]))
                keys[rest] = dataclasses.replace(keys[rest], default=v)
                factory.__kwdefaults__[rest] = v
            else:
                raise ScenarioError(f"unknown fit parameter {nm!r}")
        return with_parameters(phenotypes, model)

    def __exit__(self, *exc: Any) -> None:
        from . import interventions as ivm

        for kind, key, k, default in reversed(self.saved_keys):
            TREATMENTS[kind][1][key] = k
            TREATMENTS[kind][0].__kwdefaults__[key] = default
        ivm.NONSPECIFIC.clear()
        ivm.NONSPECIFIC.update(self.saved_ns)


def simulate_evidence(names: Sequence[str], values: Sequence[float],
                      paths: Sequence[str | Path] = ("scenarios/evidence",), *,
                      patients: int | None = None, workers: int = 1,
                      backend: str = "numpy", executor: Any = None) -> list:
    """Every evidence target's :class:`painsim.validate.TargetResult` with the named
    parameters set to ``values`` (see :class:`_Overrides` for the names)."""
    import dataclasses

    from .validate import evaluate, evidence_files, load_evidence

    rows = []
    with _Overrides(names, values) as phenotypes:
        for f in evidence_files(paths):
            ev = load_evidence(f, patients=patients)
            s = ev.scenario
            cohort = dataclasses.replace(s.cohort, phenotypes=phenotypes)
            res = simulate(list(s.arms), cohort, s.horizon_days, outcomes=s.outcomes,
                           epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol,
                           workers=workers, backend=backend, executor=executor)
            rows += evaluate(ev, res, seed=s.seed)
    return rows


def fit_evidence(parameters: Sequence[tuple[str, float, float, float]],
                 paths: Sequence[str | Path] = ("scenarios/evidence",), *,
                 patients: int | None = None, workers: int = 1, backend: str = "numpy",
                 max_evaluations: int = 60, weights: dict[str, float] | None = None,
                 progress: Any = None, executor: Any = None) -> EvidenceFit:
    """Bounded least squares of many evidence targets at once.

    ``parameters`` rows are (name, low, high, start); names as in
    :func:`simulate_evidence`. Each target's residual is (simulated − band centre) /
    band half-width, times its weight (``weights``: target name → factor, default 1);
    a value that cannot be computed counts as 10 half-widths off. The cohorts' random
    numbers are fixed by the files' seeds, so the objective is deterministic.
    """
    names = tuple(p[0] for p in parameters)
    lo = np.array([p[1] for p in parameters], dtype=float)
    hi = np.array([p[2] for p in parameters], dtype=float)
    x0 = np.array([p[3] for p in parameters], dtype=float)
    evals = 0
    weights = weights or {}
    last: dict[str, Any] = {}

    def residuals(x: np.ndarray) -> np.ndarray:
        nonlocal evals
        evals += 1
        rows = simulate_evidence(names, x, paths, patients=patients, workers=workers,
                                 backend=backend, executor=executor)
        r = []
        for row in rows:
            a, b = row.target.band
            mid, half = (a + b) / 2, max((b - a) / 2, 1e-9)
            w = weights.get(row.target.name, 1.0)
            r.append(w * (row.value - mid) / half if math.isfinite(row.value) else 10.0)
        r_a = np.array(r)
        last["rows"] = rows
        if progress:
            progress(evals, x, r_a)
        return r_a

    tic = time.perf_counter()
    fit = least_squares(residuals, x0, bounds=(lo, hi), x_scale=hi - lo, diff_step=0.05,
                        max_nfev=max_evaluations)
    m, k = fit.jac.shape
    se, _ = _uncertainty(fit.jac, 2 * fit.cost / max(m - k, 1))
    res = residuals(fit.x)
    rows = last["rows"]
    return EvidenceFit(
        names=names, start=x0, fitted=fit.x, bounds=(lo, hi), std_error=se,
        targets=[(Path(r.file).name, r.target.name, r.target.published, r.target.band[0],
                  r.target.band[1], r.value) for r in rows],
        residuals=res, cost=float(fit.cost), evaluations=evals,
        seconds=time.perf_counter() - tic, message=str(fit.message), patients=patients)
