"""Global sensitivity: which assumptions does a verdict hang on?

Morris screening and Sobol first-order and total indices of study outcomes (change in
pain at the short-term day, relapse by the window, an arm difference, ...) to model and
intervention parameters, each over a range. The designs and estimators are SALib's
(Herman & Usher 2017; Iwanaga et al. 2022): :func:`analyse` draws the design, evaluates
it in blocks and estimates the indices with bootstrap intervals. The evaluations are
painsim's own: :class:`StudyEvaluator` runs every parameter set of a block on the same
virtual patients at once, as solver lanes of one :func:`painsim.simulate` call (both
backends, any number of workers).

How a parameter set becomes lanes
---------------------------------
* A **model parameter** (``model.theta0``) is set for every patient of the set, as a
  scenario's ``[model] parameters`` would; each patient's other draws (phenotype,
  parameters, injury, flares) are the same in every set (common random numbers).
* An **intervention parameter** (``acupuncture.dose``) becomes a per-lane parameter of an
  augmented copy of the model, and every session effect whose size depends on it is
  replaced by a model *pulse* that reads it from the lane (the size must be affine in the
  parameter, which holds for painsim's treatments and is checked). Effects whose
  *probability* depends on it (``p_soreness``) and protocol timings cannot vary between
  lanes of one run and are refused.
* A **protocol parameter** (``protocol.sessions``, ``protocol.every`` in days) sets the
  schedule of every treated arm; it cannot differ between lanes of one run, so sets
  that share its value run together (sessions are rounded to whole numbers: a few runs;
  a continuous interval costs one run per set).
* Session-level chance events (soreness, missed visits) are drawn per lane, so they are
  not shared between sets; they add a small seeded noise (fixed for a given seed and
  block size, independent of ``workers``).

Same seed, same indices, for any number of workers: the design, the lane layout (block
size in parameter sets, not in workers) and SALib's bootstrap are seeded; the simulations
are bit-identical for any ``workers``.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .cohort import Cohort, CohortSample
from .errors import PainsimError, ScenarioError
from .interventions import Effect, Intervention, combine
from .model import Model, Parameter
from .outcomes import kaplan_meier

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "OUTCOMES",
    "SensitivityResult",
    "StudyEvaluator",
    "analyse",
    "ishigami",
    "run_sensitivity",
    "write_sensitivity",
]

#: Outcomes a sensitivity analysis can take: per-patient columns of
#: :attr:`painsim.SimulationResult.patients` (mean per parameter set) and ``relapse_km``
#: (1 - Kaplan-Meier relapse-free fraction at the relapse window, among relieved).
OUTCOMES: dict[str, str] = {
    "change_short_term": "change in pain at the short-term day (points, 0-10)",
    "pain_short_term": "pain at the short-term day (0-10)",
    "responder_pct": "share with a >= 30% reduction at the short-term day",
    "responder_points": "share with a >= 2-point reduction at the short-term day",
    "satisfied": "share satisfied (reduction >= satisfaction points)",
    "relief": "share with relief",
    "relapse": "share relapsed after relief (of all patients)",
    "durable_response": "share with relief and no relapse",
    "days_to_relief": "days to relief (mean among relieved)",
    "sessions": "sessions per patient",
    "relapse_km": "relapse by the relapse window after relief (Kaplan-Meier)",
}


# --------------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class SensitivityResult:
    """Indices of each outcome.

    Attributes
    ----------
    method : {"sobol", "morris"}
    names : tuple of str
        Parameter names, in design order.
    bounds : list of (float, float)
        Range of each parameter (its unit).
    X : ndarray, shape (n_sets, n_parameters)
        The design (parameter sets).
    Y : dict of str to ndarray, shape (n_sets,)
        Outcome values per parameter set.
    indices : dict of str to pandas.DataFrame
        Per outcome, one row per parameter: Sobol ``S1``, ``S1_conf``, ``ST``,
        ``ST_conf`` (half-widths of the bootstrap intervals), or Morris ``mu``,
        ``mu_star``, ``mu_star_conf``, ``sigma``.
    seconds : float
        Wall time of the evaluations, s.
    info : dict
        Settings of the study run (arm, reference, patients, solver runs, ...).
    second : dict of str to pandas.DataFrame
        Sobol with ``second_order``: per outcome, one row per pair of parameters
        (``S2``, ``S2_conf``).
    """

    method: str
    names: tuple[str, ...]
    bounds: list[tuple[float, float]]
    X: NDArray[np.float64]
    Y: dict[str, NDArray[np.float64]]
    indices: dict[str, pd.DataFrame]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    second: dict[str, pd.DataFrame] = field(default_factory=dict)


def ishigami(X: NDArray, a: float = 7.0, b: float = 0.1) -> dict[str, NDArray]:
    """The Ishigami function on [-pi, pi]^3 (known indices; for verification).

    Exact values (a = 7, b = 0.1): S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424,
    0.2437).
    """
    x1, x2, x3 = X[:, 0], X[:, 1], X[:, 2]
    return {"ishigami": np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)}


def analyse(
    names: Sequence[str],
    bounds: Sequence[tuple[float, float]],
    evaluate: Callable[[NDArray], Mapping[str, NDArray]],
    *,
    method: str = "sobol",
    n: int = 64,
    seed: int = 0,
    second_order: bool = False,
    levels: int = 4,
    resamples: int = 200,
    confidence: float = 0.95,
) -> SensitivityResult:
    """Draw a design with SALib, evaluate it, and estimate the indices with SALib.

    Parameters
    ----------
    names, bounds : sequences
        Parameters and their ranges (uniform over each range).
    evaluate : callable
        ``evaluate(X) -> {outcome: Y}`` with ``X`` of shape ``(n_sets, k)`` and each
        ``Y`` of shape ``(n_sets,)``. The study path passes a :class:`StudyEvaluator`;
        the verification passes :func:`ishigami`: the same code path.
    method : {"sobol", "morris"}
        Sobol (Saltelli/Sobol' sequence design, ``n * (k + 2)`` sets, or
        ``n * (2k + 2)`` with ``second_order``) or Morris (``n`` trajectories,
        ``n * (k + 1)`` sets).
    n : int
        Base samples (Sobol; a power of 2) or trajectories (Morris).
    seed : int
        Seeds the design and the bootstrap.
    levels : int
        Morris grid levels.
    resamples, confidence : int, float
        Bootstrap of the intervals.

    Notes
    -----
    An outcome that is not finite for some sets (a mean over relieved patients where
    none is relieved) is replaced there by the mean of the finite values before the
    estimators run; how many is recorded in ``info["non_finite_replaced_by_mean"]``.
    """
    import pandas as pd

    try:
        from SALib.analyze import morris as morris_an
        from SALib.analyze import sobol as sobol_an
        from SALib.sample import morris as morris_sa
        from SALib.sample import sobol as sobol_sa
    except ImportError:
        raise PainsimError("painsim sensitivity needs SALib: pip install "
                           "\"painsim[analysis]\" (or pip install SALib)") from None

    if method == "sobol" and (n < 2 or n & (n - 1)):
        raise PainsimError(f"sensitivity.n: {n} is not a power of 2, which Sobol' "
                           "sequences need; e.g. 32, 64, 256")
    problem = {"num_vars": len(names), "names": list(names),
               "bounds": [list(map(float, b)) for b in bounds]}
    if method == "sobol":
        X = sobol_sa.sample(problem, n, calc_second_order=second_order, scramble=True,
                            seed=seed)
    elif method == "morris":
        X = morris_sa.sample(problem, n, num_levels=levels, seed=seed)
    else:
        raise ValueError(f"method {method!r}; allowed: sobol, morris")
    tic = time.perf_counter()
    Ys = {k: np.asarray(v, dtype=float) for k, v in evaluate(X).items()}
    seconds = time.perf_counter() - tic
    indices, second, info = {}, {}, {}
    for k, Y in Ys.items():
        if not np.all(np.isfinite(Y)):  # e.g. no patient relieved in some set
            info.setdefault("non_finite_replaced_by_mean", {})[k] = int(
                np.count_nonzero(~np.isfinite(Y)))
            Y = np.where(np.isfinite(Y), Y, np.nanmean(Y) if np.isfinite(Y).any() else 0.0)
        if method == "sobol":
            Si = sobol_an.analyze(problem, Y, calc_second_order=second_order,
                                  num_resamples=resamples, conf_level=confidence, seed=seed)
            df = pd.DataFrame({c: Si[c] for c in ("S1", "S1_conf", "ST", "ST_conf")},
                              index=pd.Index(names, name="parameter"))
            if second_order:
                pairs = list(itertools.combinations(range(len(names)), 2))
                second[k] = pd.DataFrame({
                    "parameter_1": [names[i] for i, _ in pairs],
                    "parameter_2": [names[j] for _, j in pairs],
                    "S2": [Si["S2"][i, j] for i, j in pairs],
                    "S2_conf": [Si["S2_conf"][i, j] for i, j in pairs]})
        else:
            Si = morris_an.analyze(problem, X, Y, num_resamples=resamples,
                                   conf_level=confidence, num_levels=levels, seed=seed)
            df = pd.DataFrame({c: np.asarray(Si[c], dtype=float)
                               for c in ("mu", "mu_star", "mu_star_conf", "sigma")},
                              index=pd.Index(names, name="parameter"))
        indices[k] = df
    return SensitivityResult(method=method, names=tuple(names),
                             bounds=[tuple(map(float, b)) for b in bounds], X=X, Y=Ys,
                             indices=indices, seconds=seconds, second=second, info=info)


# --------------------------------------------------------------------------- lanes
@dataclass(frozen=True, kw_only=True)
class _SetCohort(Cohort):
    """``base``'s patients once per parameter set: lane ``s * m + i`` is patient ``i``
    (of ``m``) under set ``s``, with rows ``rows`` of its parameters set to ``values[s]``.

    Draws each patient once (the base cohort without run-in), then runs the run-in of
    every lane with its own parameters, then applies the injury: the steps of
    :meth:`painsim.Cohort.sample`, checked against it by the tests.
    """

    base: Cohort
    rows: tuple[int, ...]
    values: NDArray[np.float64]
    cache: dict[float, Any] = field(default_factory=dict, compare=False)

    def _draws(self, horizon_days: float) -> tuple[CohortSample, NDArray, int]:
        if horizon_days not in self.cache:
            no_inj = {k: dataclasses.replace(ph, injury=0.0)
                      for k, ph in self.base.phenotypes.items()}
            flat = dataclasses.replace(self.base, run_in_days=0.0, model=self.model)
            pre = dataclasses.replace(flat, phenotypes=no_inj).sample(horizon_days)
            inj = flat.sample(horizon_days)
            self.cache[horizon_days] = (inj, inj.y0 - pre.y0, self.base.n)
        return self.cache[horizon_days]

    def sample(self, horizon_days: float, *, rtol: float = 1e-6, atol: float = 1e-8,
               first: int = 0, stop: int | None = None,
               backend: str = "numpy") -> CohortSample:
        """Lanes ``first .. stop-1`` (see the class), settled by the run-in."""
        drawn, injury, m = self._draws(horizon_days)
        stop = self.n if stop is None else stop
        g = np.arange(first, stop)
        s, i = g // m, g % m
        P = drawn.params[:, i].copy()
        for j, r in enumerate(self.rows):
            P[r] = self.values[s, j]
        y = drawn.y0[:, i] - injury[:, i]
        model = self.model
        if self.run_in_days > 0 and backend == "numba":
            from .compiled import integrate_pain

            y = integrate_pain(model, (0.0, self.run_in_days), y, P,
                               t_eval=np.array([self.run_in_days]), rtol=rtol, atol=atol,
                               throw=True).y_final
        elif self.run_in_days > 0:
            from .solver import integrate

            y = integrate(model.lane_rhs, (0.0, self.run_in_days), y, args=(P,),
                          t_eval=[self.run_in_days], rtol=rtol, atol=atol,
                          throw=True).y_final
        return CohortSample(phenotype=drawn.phenotype[i], params=P, y0=y + injury[:, i],
                            flares=[drawn.flares[k] for k in i.tolist()])


def _affine_effects(factory: Callable[..., Intervention], params: dict[str, Any],
                    kw: str, lo: float, hi: float, where: str) -> list[tuple[float, float]]:
    """Per effect of ``factory(**params)``: its size at ``kw = lo`` and its slope in
    ``kw`` (per unit), checked to be affine on [lo, hi] and to leave everything else of
    the effect unchanged."""
    at = [factory(**{**params, kw: x}).effects for x in (lo, (lo + hi) / 2, hi)]
    out = []
    for e0, em, e1 in zip(*at, strict=True):
        if (e0.target, e0.op, e0.event, e0.probability, e0.clustering) != \
                (e1.target, e1.op, e1.event, e1.probability, e1.clustering):
            raise PainsimError(f"{where}: changes the probability or the kind of a session "
                               "effect, which cannot differ between the lanes of one run; "
                               "vary it with separate runs")
        slope = (e1.value - e0.value) / (hi - lo) if hi > lo else 0.0
        if abs(e0.value + slope * (hi - lo) / 2 - em.value) > 1e-9 * (1 + abs(em.value)):
            raise PainsimError(f"{where}: the effect size is not affine in it")
        out.append((e0.value, slope))
    return out


def _lane_pulse(model: Model, e: Effect, v0: float, slopes: list[tuple[int, float, float]]
                ) -> Callable[..., NDArray]:
    """A pulse doing what ``e`` does, with size ``v0 + sum(slope * (P[row] - lo))``."""
    kind = e.kind(model)

    def size(P: NDArray) -> NDArray:
        v = np.full(P.shape[1], v0)
        for row, lo, slope in slopes:
            v = v + slope * (P[row] - lo)
        return v

    if kind == "state":
        i = model.state_index[e.target]

        def pulse(y: NDArray, P: NDArray, dose: float) -> NDArray:
            y = np.array(y, dtype=float)
            y[i] = y[i] + size(P) if e.op == "add" else y[i] * size(P)
            return y
    elif kind == "pulse":
        inner = model.pulses[e.target]

        def pulse(y: NDArray, P: NDArray, dose: float) -> NDArray:
            return inner(y, P, size(P))
    else:
        raise PainsimError(f"an effect on {e.target!r} ({kind}) cannot vary per lane")
    return pulse


@dataclass
class StudyEvaluator:
    """Evaluate a scenario's outcomes for parameter sets, many sets per solver run.

    Parameters
    ----------
    scenario : painsim.scenario.Scenario
        The study (cohort, arms, horizon, outcome definitions).
    names : sequence of str
        ``model.<parameter>`` or ``<treatment>.<parameter>`` (treatment kinds of
        :data:`painsim.scenario.TREATMENTS`).
    outcomes : sequence of str
        Keys of :data:`OUTCOMES`.
    arm : str, optional
        Arm whose outcome is taken (default: the last arm).
    reference : str, optional
        If given, the outcome is the paired difference ``arm - reference``.
    workers : int
        Worker processes of :func:`painsim.simulate`; results do not depend on it.
    executor : distributed.Client, optional
        Run the simulations' chunks on a Dask cluster (see :func:`painsim.simulate`);
        results are bit-identical to a local run.
    backend : {"numpy", "numba"}
    block_lanes : int
        Lanes (sets x patients) per solver run (memory); fixes the lane layout, so it
        is part of what makes a result reproducible (the seed is the other).
    progress : callable, optional
        ``progress(done, total)`` after each solver run (a block of parameter sets);
        it does not change the results.
    """

    scenario: Any
    names: Sequence[str]
    outcomes: Sequence[str] = ("change_short_term",)
    arm: str | None = None
    reference: str | None = None
    workers: int = 1
    backend: str = "numpy"
    block_lanes: int = 8192
    executor: Any = None
    runs: int = 0
    progress: Callable[[int, int], None] | None = None

    def __post_init__(self) -> None:
        s = self.scenario
        arm_names = [a.name for a in s.arms]
        self.arm = self.arm or arm_names[-1]
        for what, a in (("arm", self.arm), ("reference", self.reference)):
            if a is not None and a not in arm_names:
                raise PainsimError(f"{s.path}: sensitivity.{what}: {a!r} is not an arm; "
                                   f"arms: {', '.join(arm_names)}")
        for o in self.outcomes:
            if o not in OUTCOMES:
                raise PainsimError(f"{s.path}: sensitivity.outcomes: {o!r}; allowed: "
                                   + ", ".join(OUTCOMES))
        base = s.cohort.model
        self.model_rows: list[tuple[int, int]] = []  # (column of X, parameter row)
        self.treat: dict[str, list[tuple[int, str]]] = {}  # kind -> (column, keyword)
        self.protocol: list[tuple[int, str]] = []  # (column, "sessions" or "every")
        for c, nm in enumerate(self.names):
            kind, _, par = nm.partition(".")
            if kind == "model":
                self.model_rows.append((c, base.parameter_index[par]))
            elif kind == "protocol":
                self.protocol.append((c, par))
            else:
                self.treat.setdefault(kind, []).append((c, par))

    # one model, one set of arms per evaluator: pulses read their lane's values
    def _build(self, lo: NDArray, hi: NDArray
               ) -> tuple[Model, list[Any], list[tuple[int, int]]]:
        from .scenario import TREATMENTS

        s = self.scenario
        base = s.cohort.model
        extra: list[Parameter] = []
        rows: dict[int, int] = {}
        for kind, cols in self.treat.items():
            for c, kw in cols:
                rows[c] = len(base.parameters) + len(extra)
                extra.append(Parameter(name=f"sa_{kind}_{kw}", default=float(lo[c]),
                                       unit="1", description=f"{kind}.{kw} (per lane)",
                                       bounds=(float(lo[c]), float(hi[c])),
                                       plausible=(float(lo[c]), float(hi[c]))))
        pulses = dict(base.pulses)
        proto_model = dataclasses.replace(base, parameters=base.parameters + tuple(extra))
        wanted = {self.arm, self.reference} - {None}
        arms = []
        for a, raw in zip(s.arms, s.data["arms"], strict=True):
            if a.name not in wanted:
                continue
            if a.protocol is None or not any(k in self.treat for k, _ in raw["treatment"]):
                arms.append(a)
                continue
            parts = []
            for j, (kind, params) in enumerate(raw["treatment"]):
                factory = TREATMENTS[kind][0]
                if kind not in self.treat:
                    parts.append(factory(**params))
                    continue
                at_lo = {kw: float(lo[c]) for c, kw in self.treat[kind]}
                iv = factory(**{**params, **at_lo})  # every varied keyword at its low end
                per_effect: list[list[tuple[int, float, float]]] = [[] for _ in iv.effects]
                v0 = [e.value for e in iv.effects]
                for c, kw in self.treat[kind]:
                    if hi[c] <= lo[c]:
                        continue
                    where = f"{s.path}: sensitivity.parameters.{kind}.{kw}"
                    lin = _affine_effects(factory, {**params, **at_lo}, kw, float(lo[c]),
                                          float(hi[c]), where)
                    for k, (_, slope) in enumerate(lin):
                        if slope != 0.0:
                            per_effect[k].append((rows[c], float(lo[c]), slope))
                effects = []
                for k, e in enumerate(iv.effects):
                    if not per_effect[k]:
                        effects.append(e)
                        continue
                    name = f"sa_{a.name}_{j}_{k}".replace(" ", "_")
                    pulses[name] = _lane_pulse(proto_model, e, v0[k], per_effect[k])
                    effects.append(Effect(target=name, op="pulse", value=1.0,
                                          probability=e.probability, event=e.event,
                                          clustering=e.clustering))
                parts.append(dataclasses.replace(iv, effects=tuple(effects)))
            intervention = (parts[0] if len(parts) == 1 else tuple(parts)
                            if raw["visits"] == "alternate" else combine(*parts))
            arms.append(dataclasses.replace(a, protocol=dataclasses.replace(
                a.protocol, intervention=intervention)))
        model = dataclasses.replace(proto_model, pulses=pulses)
        return model, arms, [(c, rows[c]) for c in rows]

    def __call__(self, X: NDArray) -> dict[str, NDArray]:
        """Outcomes of each row of ``X`` (shape ``(n_sets, n_parameters)``)."""
        from .engine import simulate

        s = self.scenario
        X = np.asarray(X, dtype=float)
        model, arms, treat_rows = self._build(X.min(axis=0), X.max(axis=0))
        cols = [c for c, _ in self.model_rows] + [c for c, _ in treat_rows]
        rows = tuple(r for _, r in self.model_rows) + tuple(r for _, r in treat_rows)
        m = s.cohort.n
        per_block = max(1, self.block_lanes // m)
        base = dataclasses.replace(s.cohort, model=model)
        shared: dict[float, Any] = {}  # the base patients are drawn once for all blocks
        out = {k: np.empty(len(X)) for k in self.outcomes}
        o = dataclasses.replace(s.outcomes, bootstrap=0)
        # protocol values cannot differ between lanes of a run: sets that share them
        # (sessions are rounded to whole numbers) run together, in design order
        key = np.array([[round(x) if f == "sessions" else x for c, f in self.protocol
                         for x in [row[c]]] for row in X]).reshape(len(X), -1)
        groups: dict[tuple[float, ...], list[int]] = {}
        for i, kk in enumerate(map(tuple, key)):
            groups.setdefault(kk, []).append(i)
        blocks = [(kk, idx[b:b + per_block]) for kk, idx in groups.items()
                  for b in range(0, len(idx), per_block)]
        for b, (kk, sel) in enumerate(blocks):
            V = X[sel][:, cols]
            run_arms = arms if not self.protocol else [
                _with_protocol(a, dict(zip([f for _, f in self.protocol], kk, strict=True)))
                for a in arms]
            cohort = _SetCohort(n=len(V) * m, seed=s.cohort.seed, mix=s.cohort.mix,
                                phenotypes=s.cohort.phenotypes,
                                run_in_days=s.cohort.run_in_days, model=model, base=base,
                                rows=rows, values=V, cache=shared)
            cohort._draws(s.horizon_days)  # here, before simulate forks its workers
            res = simulate(run_arms, cohort, s.horizon_days, outcomes=o,
                           epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol,
                           workers=self.workers, backend=self.backend,
                           executor=self.executor)
            self.runs += 1
            for k in self.outcomes:
                y = _per_set(res, self.arm, k, len(V), m, o.relapse_window_days)
                if self.reference is not None:
                    y = y - _per_set(res, self.reference, k, len(V), m,
                                     o.relapse_window_days)
                out[k][sel] = y
            if self.progress is not None:
                self.progress(b + 1, len(blocks))
        return out


def _with_protocol(arm: Any, values: dict[str, float]) -> Any:
    """``arm`` with its schedule's ``sessions`` and/or interval ``every`` (days) set."""
    if arm.protocol is None:
        return arm
    sch = arm.protocol.schedule
    changes: dict[str, Any] = {}
    if "sessions" in values:
        name = "sessions" if hasattr(sch, "sessions") else "max_sessions"
        changes[name] = int(values["sessions"])
    if "every" in values:
        if not hasattr(sch, "every_days"):
            raise PainsimError(f"arm {arm.name!r}: protocol.every needs a fixed or tapering "
                               "schedule")
        changes["every_days"] = float(values["every"])
    return dataclasses.replace(arm, protocol=dataclasses.replace(
        arm.protocol, schedule=dataclasses.replace(sch, **changes)))


def _per_set(res: Any, arm: str, outcome: str, n_sets: int, m: int,
             window: float) -> NDArray[np.float64]:
    """Mean of a per-patient outcome (or Kaplan-Meier relapse) per parameter set."""
    p = res.patients[res.patients.arm == arm]
    sets = p.patient.to_numpy() // m
    if outcome == "relapse_km":
        out = np.full(n_sets, np.nan)
        rel = p.relief.to_numpy(dtype=bool)
        t = p.days_relief_to_relapse_or_censor.to_numpy(dtype=float)
        ev = p.relapse.to_numpy(dtype=bool)
        for k in range(n_sets):
            sel = (sets == k) & rel
            if sel.any():
                ts, S = kaplan_meier(t[sel], ev[sel])
                j = np.searchsorted(ts, window, side="right")
                out[k] = 1.0 - (1.0 if j == 0 else float(S[j - 1]))
        return out
    v = p[outcome].to_numpy(dtype=float)
    sums = np.bincount(sets, weights=np.nan_to_num(v), minlength=n_sets)
    cnt = np.bincount(sets, weights=np.isfinite(v).astype(float), minlength=n_sets)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / cnt


def spec_of(scenario: Any) -> dict[str, Any]:
    """The scenario's validated ``[sensitivity]`` table (``parameters`` as ``{name:
    (lo, hi)}`` with ``model.``/``<treatment>.`` names); raises if it has none."""
    sec = scenario.data.get("sensitivity") or {}
    if not sec.get("parameters"):
        raise ScenarioError(f"{scenario.path}: sensitivity.parameters: the file has no "
                            "[sensitivity] parameters; add e.g. [sensitivity] parameters = "
                            "{ model.theta0 = [2.5, 4.0], acupuncture.dose = [0.02, 0.3] }",
                            file=scenario.path)
    return sec


def run_sensitivity(scenario: Any, *, workers: int = 1, backend: str = "numpy",
                    n: int | None = None, method: str | None = None,
                    block_lanes: int = 8192, executor: Any = None,
                    progress: Callable[[int, int], None] | None = None
                    ) -> SensitivityResult:
    """The ``[sensitivity]`` analysis of a scenario (see :func:`analyse`);
    ``progress(done, total)`` is called after each solver run (a block of parameter
    sets, see :class:`StudyEvaluator`)."""
    sec = spec_of(scenario)
    pars = sec["parameters"]
    names = list(pars)
    ev = StudyEvaluator(scenario, names, outcomes=tuple(sec["outcomes"]), arm=sec["arm"],
                        reference=sec["reference"], workers=workers, backend=backend,
                        block_lanes=block_lanes, executor=executor, progress=progress)
    res = analyse(names, [pars[k] for k in names], ev, method=method or sec["method"],
                  n=n or sec["n"], seed=scenario.seed, second_order=sec["second_order"],
                  levels=sec["levels"], resamples=sec["resamples"])
    res.info.update(arm=ev.arm, reference=ev.reference, patients=scenario.cohort.n,
                    solver_runs=ev.runs, backend=backend, workers=workers)
    return res


def write_sensitivity(res: SensitivityResult, out: Path, *, force: bool = False,
                      scenario: Any = None) -> list[str]:
    """Write ``indices.csv``, ``design.csv`` and one figure per outcome into ``out``
    (atomically, with :func:`painsim.results.atomic_folder`)."""
    import json

    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import save_figure
    from .results import DISCLAIMER, atomic_folder

    files = []
    with atomic_folder(out, force=force) as tmp:
        rows = []
        for k, df in res.indices.items():
            d = df.reset_index()
            d.insert(0, "outcome", k)
            rows.append(d)
        table = pd.concat(rows, ignore_index=True)
        table.insert(0, "note", DISCLAIMER)
        table.to_csv(tmp / "indices.csv", index=False, float_format="%.6g")
        design = pd.DataFrame(res.X, columns=list(res.names))
        for k, y in res.Y.items():
            design[k] = y
        design.to_csv(tmp / "design.csv", index=False, float_format="%.6g")
        files += ["indices.csv", "design.csv"]
        if res.second:
            pd.concat([d.assign(outcome=k) for k, d in res.second.items()],
                      ignore_index=True).to_csv(tmp / "second_order.csv", index=False,
                                                float_format="%.6g")
            files.append("second_order.csv")
        for k, df in res.indices.items():
            fig, ax = plt.subplots(figsize=(8, 0.5 * len(df) + 1.8))
            yy = np.arange(len(df))
            if res.method == "sobol":
                ax.barh(yy - 0.2, df.S1, 0.4, xerr=df.S1_conf, label="first order S1")
                ax.barh(yy + 0.2, df.ST, 0.4, xerr=df.ST_conf, label="total ST")
                ax.set_xlabel("Sobol index (share of outcome variance), 95% interval")
            else:
                ax.barh(yy, df.mu_star, 0.5, xerr=df.mu_star_conf, label="mu*")
                ax.plot(df.sigma, yy, "k^", label="sigma")
                ax.set_xlabel("Morris elementary effects (outcome units)")
            ax.set_yticks(yy, list(df.index))
            ax.invert_yaxis()
            ax.legend(loc="lower right", fontsize=8)
            label = OUTCOMES.get(k, k)
            arm, ref = res.info.get("arm"), res.info.get("reference")
            if arm:
                label += f" [{arm}" + (f" - {ref}]" if ref else "]")
            ax.set_title(f"{label}\n{DISCLAIMER}", fontsize=9)
            fig.tight_layout()
            files += save_figure(fig, tmp, f"sensitivity_{k}")
        manifest = {"note": DISCLAIMER, "method": res.method, "parameters":
                    dict(zip(res.names, res.bounds, strict=True)), "sets": len(res.X),
                    "evaluation_s": round(res.seconds, 3), **res.info,
                    "scenario_file": getattr(scenario, "path", None),
                    "scenario_sha256": getattr(scenario, "sha256", None),
                    "seed": getattr(scenario, "seed", None),
                    "files": [*files, "manifest.json"]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return manifest["files"]


def format_indices(res: SensitivityResult) -> str:
    """The indices as text, one block per outcome."""
    out = []
    for k, df in res.indices.items():
        what = OUTCOMES.get(k, k)
        ref = res.info.get("reference")
        arm = res.info.get("arm")
        head = f"{k}: {what}" + (f" [{arm}" + (f" - {ref}]" if ref else "]") if arm else "")
        out += [head, df.round(3).to_string(), ""]
    return "\n".join(out)
