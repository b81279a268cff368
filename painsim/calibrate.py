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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from .claims import _TREAT, _arms, _metric, _patients, _tables, load_claims
from .cohort import PHENOTYPE_PRESETS, Cohort, with_parameters
from .engine import simulate
from .errors import ScenarioError
from .outcomes import Outcomes
from .painloop import PAIN_LOOP

__all__ = ["CalibrationResult", "calibrate", "format_calibration"]


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


def _plausible(name: str, lo: float, hi: float) -> tuple[float, float]:
    kind, par = name.split(".", 1)
    if kind == "model":
        return PAIN_LOOP.parameters[PAIN_LOOP.parameter_index[par]].plausible
    return lo, hi


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


def calibrate(path: str | Path, *, patients: int | None = None, max_evaluations: int = 40,
              workers: int = 1) -> CalibrationResult:
    """Fit the ``[calibration]`` of claim file ``path`` to its observables' bands."""
    p = str(path)
    (claim,) = load_claims([path])
    spec = tomllib.loads(Path(path).read_text()).get("calibration")
    if not spec:
        raise ScenarioError(f"{p}: no [calibration] table", file=p)
    pars = spec.get("parameter", [])
    if not pars:
        raise ScenarioError(f"{p}: calibration.parameter: at least one is needed", file=p)
    names, lo, hi, x0 = [], [], [], []
    for i, q in enumerate(pars):
        name = q.get("name", "")
        kind, _, par = name.partition(".")
        ok = (kind == "model" and par in PAIN_LOOP.parameter_index) or (
            kind in _TREAT and par in _TREAT[kind].__kwdefaults__)
        if not ok:
            raise ScenarioError(f"{p}: calibration.parameter[{i}].name: {name!r}; use "
                                "model.<parameter> or <treatment>.<parameter> with treatment "
                                f"one of {', '.join(_TREAT)}", file=p)
        a, b, s = float(q["lo"]), float(q["hi"]), float(q.get("start", (q["lo"] + q["hi"]) / 2))
        if kind == "model":
            allowed = PAIN_LOOP.parameters[PAIN_LOOP.parameter_index[par]].bounds
            if a < allowed[0] or b > allowed[1]:
                raise ScenarioError(f"{p}: calibration.parameter[{i}]: [{a:g}, {b:g}] is "
                                    f"outside {name}'s allowed range {allowed}", file=p)
        if not a <= s <= b or a >= b:
            raise ScenarioError(f"{p}: calibration.parameter[{i}]: need lo < hi and start "
                                "within them", file=p)
        names.append(name)
        lo.append(a)
        hi.append(b)
        x0.append(s)
    lo_a, hi_a, x0_a = np.array(lo), np.array(hi), np.array(x0)
    mix = spec.get("mix", {"acute_strain": 0.5, "recurrent": 0.5})
    n = int(patients or spec.get("patients", 120))
    horizon = float(spec.get("horizon_days", 180))
    obs = claim.observables
    need = {o.arm for o in obs} | {o.minus for o in obs if o.minus}
    target = np.array([(o.band[0] + o.band[1]) / 2 for o in obs])
    scale = np.array([max((o.band[1] - o.band[0]) / 2, 1e-9) for o in obs])
    outcomes = Outcomes(short_term_day=42, report_days=(2, 7))
    evals = 0

    def simulated(x: np.ndarray) -> np.ndarray:
        nonlocal evals
        evals += 1
        model = {nm.split(".", 1)[1]: v for nm, v in zip(names, x, strict=True)
                 if nm.startswith("model.")}
        treat: dict[str, dict[str, float]] = {}
        for nm, v in zip(names, x, strict=True):
            kind, par = nm.split(".", 1)
            if kind != "model":
                treat.setdefault(kind, {})[par] = float(v)
        cohort = Cohort(n=n, seed=int(spec.get("seed", 2026)), mix=mix,
                        phenotypes=with_parameters(PHENOTYPE_PRESETS, model))
        arms = [a for a in _arms(treat) if a.name in need]
        res = simulate(arms, cohort, horizon, outcomes=outcomes, workers=workers)
        pt = _patients(res, horizon)
        return np.array([_metric(o, *_tables(pt, o)) for o in obs])

    def residuals(x: np.ndarray) -> np.ndarray:
        r = (simulated(x) - target) / scale
        return np.where(np.isfinite(r), r, 10.0)  # an undefined metric counts as far off

    tic = time.perf_counter()
    fit = least_squares(residuals, x0_a, bounds=(lo_a, hi_a), x_scale=hi_a - lo_a,
                        diff_step=0.05, max_nfev=max_evaluations)
    J = fit.jac
    m, k = J.shape
    dof = max(m - k, 1)
    s2 = 2 * fit.cost / dof
    se, corr = _uncertainty(J, s2)
    sims = simulated(fit.x)
    plaus = [(_plausible(nm, a, b)) for nm, a, b in zip(names, lo, hi, strict=True)]
    return CalibrationResult(
        claim=claim.id, names=tuple(names), start=x0_a, fitted=fit.x, bounds=(lo_a, hi_a),
        plausible=(np.array([q[0] for q in plaus]), np.array([q[1] for q in plaus])),
        std_error=se, correlation=corr,
        targets=[(o.describe().rsplit(" in [", 1)[0], t, s, v)
                 for o, t, s, v in zip(obs, target, scale, sims, strict=True)],
        cost=float(fit.cost), note=str(spec.get("note", "")), evaluations=evals,
        seconds=time.perf_counter() - tic, message=str(fit.message))


def format_calibration(r: CalibrationResult) -> str:
    """The fit as text: parameters, uncertainty, plausibility, residuals."""
    lines = [f"Calibration of claim {r.claim}: {r.evaluations} simulations, "
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
              "", "A model for research and teaching, not medical advice."]
    return "\n".join(lines)

