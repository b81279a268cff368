"""Virtual cohorts: phenotypes as editable parameter distributions, mixtures, and flares.

Reproducibility by construction: every random draw for patient ``i`` comes from a
generator seeded by ``SeedSequence([seed, i, stream])`` with a fixed id per stream
name (:data:`STREAMS`), never from a worker or a chunk. So the same seed gives the same
patients whatever the chunking, and arms share patients and flares (common random
numbers).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError, check_number, check_text, check_type, did_you_mean
from .fields import MAX_INTERVAL_DAYS, check_settings, setting
from .model import Model
from .painloop import PAIN_LOOP

__all__ = [
    "MAX_PATIENTS",
    "PHENOTYPE_PRESETS",
    "STREAMS",
    "Cohort",
    "CohortSample",
    "Flares",
    "LogNormal",
    "PatientStreams",
    "Phenotype",
    "Uniform",
    "patient_rng",
    "with_parameters",
]

#: Stream ids: one independent random stream per purpose and patient.
STREAMS = {"cohort": 1, "flares": 2, "visits": 3, "effects": 4, "dropout": 5,
           "susceptibility": 6}


def patient_rng(seed: int, patient: int, stream: str) -> np.random.Generator:
    """The generator of ``stream`` for ``patient`` under ``seed`` (see :data:`STREAMS`)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence([int(seed), int(patient), STREAMS[stream]])))


# SeedSequence's constants (NumPy's bit_generator.pyx, after M.E. O'Neill's seed_seq)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _M32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF
# PCG64's 128-bit LCG multiplier
_PCG_MULT, _M128 = (2549297995355413924 << 64) + 4865540595714422341, (1 << 128) - 1


def _seed_words(entropy: NDArray[np.uint64]) -> list[NDArray[np.uint64]]:
    """``SeedSequence(e).generate_state(4, uint64)`` for many 3-word entropies at once.

    ``entropy`` has shape (3, n), each value < 2**32. Same arithmetic as NumPy's
    SeedSequence (pool of 4 words, hash-mixing), done in uint64 arrays masked to 32 bits.
    """
    n = entropy.shape[1]
    m32, sh = np.uint64(_M32), np.uint64(16)
    h = np.uint64(_INIT_A)

    def hashmix(v: NDArray) -> NDArray:
        nonlocal h
        v = v ^ h
        h = (h * np.uint64(_MULT_A)) & m32
        v = (v * h) & m32
        return v ^ (v >> sh)

    def mix(x: NDArray, y: NDArray) -> NDArray:
        r = (np.uint64(_MIX_L) * x - np.uint64(_MIX_R) * y) & m32
        return r ^ (r >> sh)

    pool = [hashmix(entropy[i] if i < 3 else np.zeros(n, np.uint64)) for i in range(4)]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    hb, words = _INIT_B, []
    for i in range(8):
        v = pool[i % 4] ^ np.uint64(hb)
        hb = (hb * _MULT_B) & _M32
        v = (v * np.uint64(hb)) & m32
        words.append(v ^ (v >> sh))
    return [words[2 * j] | (words[2 * j + 1] << np.uint64(32)) for j in range(4)]


class PatientStreams:
    """One random stream of many patients, fast.

    ``streams[j]`` is a generator in the state ``patient_rng(seed, patients[j], stream)``
    starts in (the same numbers), computed for all patients at once and loaded into one
    shared generator — valid until the next ``streams[...]``. About 4x cheaper than
    building each generator (most of a large cohort's drawing time went to that).

    Parameters
    ----------
    seed : int
        The cohort's seed.
    patients : ndarray of int, shape (n,)
        Patient indices (0-based, as in results).
    stream : str
        A key of :data:`STREAMS` (``"cohort"``, ``"flares"``, ``"visits"``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> st = PatientStreams(7, np.array([0, 5]), "visits")
    >>> float(st[1].random()) == float(patient_rng(7, 5, "visits").random())
    True
    """

    def __init__(self, seed: int, patients: NDArray, stream: str) -> None:
        self.seed, self.patients, self.stream = int(seed), np.asarray(patients), stream
        self.fast = self.seed <= _M32 and (self.patients.size == 0
                                           or int(self.patients.max()) <= _M32)
        if self.fast:
            ent = np.stack([np.full(self.patients.size, self.seed, dtype=np.uint64),
                            self.patients.astype(np.uint64),
                            np.full(self.patients.size, STREAMS[stream], dtype=np.uint64)])
            self.words = [w.tolist() for w in _seed_words(ent)]
            self.bg = np.random.PCG64(0)
            self.gen = np.random.Generator(self.bg)

    def __getitem__(self, j: int) -> np.random.Generator:
        if not self.fast:
            return patient_rng(self.seed, int(self.patients[j]), self.stream)
        w = self.words
        init = (w[0][j] << 64) | w[1][j]
        inc = ((((w[2][j] << 64) | w[3][j]) << 1) | 1) & _M128
        state = (((inc + init) & _M128) * _PCG_MULT + inc) & _M128  # pcg64_set_seed
        self.bg.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                         "has_uint32": 0, "uinteger": 0}
        return self.gen


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform distribution on [low, high], in the parameter's unit."""

    low: float
    high: float

    def __post_init__(self) -> None:
        check_number("Uniform.low", self.low, -math.inf, math.inf)
        check_number("Uniform.high", self.high, -math.inf, math.inf)
        if self.high < self.low:
            raise ParameterError("Uniform.high", self.high, f"a number >= low ({self.low:g})",
                                 why="is below low")

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal distribution with the given median and coefficient of variation."""

    median: float
    cv: float

    def __post_init__(self) -> None:
        check_number("LogNormal.median", self.median, 0, 1e300)
        if self.median == 0:
            raise ParameterError("LogNormal.median", self.median, "a number > 0")
        check_number("LogNormal.cv", self.cv, 0, 1000)

    def draw(self, rng: np.random.Generator) -> float:
        sigma = math.sqrt(math.log1p(self.cv**2))
        return float(self.median * math.exp(sigma * rng.standard_normal()))


Dist = float | Uniform | LogNormal


def _check_dist(name: str, d: Any) -> None:
    """Raise :class:`ParameterError` unless ``d`` is a finite number, Uniform or LogNormal."""
    if not isinstance(d, Uniform | LogNormal):
        check_number(name, d, -math.inf, math.inf, " (or a Uniform or LogNormal)")


def _draw(d: Dist, rng: np.random.Generator) -> float:
    return float(d) if isinstance(d, int | float) else d.draw(rng)


class _DrawPlan:
    """A phenotype's per-patient draws (its parameters in name order, then the injury)
    with each run of uniform draws taken in one call: ``low + (high - low) * u`` with
    ``u = rng.random(k)`` gives the very numbers ``rng.uniform(low, high)`` would, one
    by one, at a fraction of the cost."""

    def __init__(self, ph: Phenotype) -> None:
        self.keys = sorted(ph.params)
        dists = [ph.params[k] for k in self.keys] + [ph.injury]
        self.size = len(dists)
        self.segments: list[tuple] = []
        i = 0
        while i < len(dists):
            if isinstance(dists[i], Uniform):
                j = i
                while j < len(dists) and isinstance(dists[j], Uniform):
                    j += 1
                low = np.array([d.low for d in dists[i:j]])
                span = np.array([d.high for d in dists[i:j]]) - low
                self.segments.append((i, j, low, span))
                i = j
            else:
                self.segments.append((i, dists[i]))
                i += 1

    def draw(self, rng: np.random.Generator) -> NDArray[np.float64]:
        out = np.empty(self.size)
        for seg in self.segments:
            if len(seg) == 4:
                i, j, low, span = seg
                out[i:j] = low + span * rng.random(j - i)
            else:
                out[seg[0]] = _draw(seg[1], rng)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Flares:
    """Flare-ups of one patient: renewal processes of strains and stress episodes.

    Inter-event times are Weibull with shape ``weibull_shape`` (1: Poisson; < 1: the
    hazard falls with time since the last flare, so flares cluster) and a scale giving
    the stated mean rate. Sizes are log-normal with median ``*_size`` and coefficient
    of variation ``size_cv`` (0: every flare the same size), so most flares are small
    and a few are large.

    Parameters
    ----------
    strain_per_day : float
        Mean strain rate, events per day (e.g. 1/60).
    strain_size : float
        Tissue drive D added by a strain (dimensionless).
    stress_per_day : float
        Mean rate of stress episodes, per day.
    stress_size : float
        Arousal A added by a stress episode.
    weibull_shape : float
        Shape of the inter-event distribution (0.2–5).
    size_cv : float
        Coefficient of variation of flare sizes (0–10; 0: fixed sizes).
    strain_target, stress_target : str
        States that strains and stress episodes raise (for user models).
    """

    strain_per_day: float = 0.0
    strain_size: float = 1.0
    stress_per_day: float = 0.0
    stress_size: float = 0.5
    weibull_shape: float = 1.0
    size_cv: float = 0.0
    strain_target: str = "D"
    stress_target: str = "A"

    def __post_init__(self) -> None:
        for name, lo, hi in (("strain_per_day", 0, 1), ("stress_per_day", 0, 1),
                             ("strain_size", 0, 10), ("stress_size", 0, 10),
                             ("weibull_shape", 0.2, 5), ("size_cv", 0, 10)):
            check_number(f"Flares.{name}", getattr(self, name), lo, hi)
        check_text("Flares.strain_target", self.strain_target, "a state name, e.g. 'D'")
        check_text("Flares.stress_target", self.stress_target, "a state name, e.g. 'A'")

    def draw(self, rng: np.random.Generator,
             horizon: float) -> list[tuple[float, str, str, float]]:
        """Flares in [0, horizon): time (days), kind, target state and size, by time."""
        out = []
        k = self.weibull_shape
        sigma = math.sqrt(math.log1p(self.size_cv**2))
        for kind, target, rate, size in (
                ("strain", self.strain_target, self.strain_per_day, self.strain_size),
                ("stress", self.stress_target, self.stress_per_day, self.stress_size)):
            if rate <= 0:
                continue
            scale = 1.0 / (rate * math.gamma(1.0 + 1.0 / k))
            t = 0.0
            while True:
                t += scale * rng.weibull(k)
                if t >= horizon:
                    break
                out.append((t, kind, target, size if sigma == 0 else
                            size * math.exp(sigma * rng.standard_normal())))
        return sorted(out)


@dataclass(frozen=True, kw_only=True)
class Phenotype:
    """A kind of patient: parameter distributions, starting condition and flares.

    Parameters
    ----------
    name : str
        Identifier.
    description : str
        In plain words.
    params : mapping of str to float, Uniform or LogNormal
        Parameter overrides of the model's defaults; draws are clipped to each
        parameter's allowed range.
    start : str
        Initial condition before the run-in: ``"pain_free"`` (the model's states'
        ``initial`` values) or a start the model declares in ``Model.starts`` (the
        pain-loop model's ``"sensitized"``: near full sensitization; a run-in without
        treatment then settles each patient on its own attractor).
    injury : float or Uniform
        Added at day 0 to the model's ``injury_state`` (the pain-loop model's tissue
        drive D; an acute strain).
    flares : Flares
        The patient's flare process.
    claims : tuple of str
        Claim ids whose population this stands for.
    """

    name: str
    description: str
    params: Mapping[str, Dist] = field(default_factory=dict)
    start: str = "pain_free"
    injury: Dist = 0.0
    flares: Flares = field(default_factory=Flares)
    claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_text("Phenotype.name", self.name, "a non-empty name")
        check_type(f"{self.name}.description", self.description, str, "a string")
        check_type(f"{self.name}.params", self.params, Mapping,
                   "a mapping of parameter name to a number, Uniform or LogNormal")
        for k, d in self.params.items():
            check_text(f"{self.name}.params", k, "parameter names")
            _check_dist(f"{self.name}.params[{k!r}]", d)
        check_text(f"{self.name}.start", self.start,
                   "pain_free, or a start the model declares (pain-loop: sensitized)")
        _check_dist(f"{self.name}.injury", self.injury)
        check_type(f"{self.name}.flares", self.flares, Flares, "a Flares")
        check_type(f"{self.name}.claims", self.claims, tuple, "a tuple of claim ids")


#: Editable presets (000-2, 003-3, 003-5). Change them with ``dataclasses.replace``.
#: Basis (issue 12): acute_strain's and recurrent's numbers are fitted to the evidence
#: suite (Costa 2012 acute, Henschke 2008 and da Silva 2019 targets), except the flare
#: size spread (size_cv) and the recurrent preset's theta0, tau_D and injury
#: (assumptions); persistent's are fitted to the Costa 2012 persistent targets, except
#: its flares (assumption); chronic_sensitized's and stress_driven's are assumptions
#: (chronic_sensitized: threshold inside the bistable range, theta0 < 3.35 with the
#: model defaults, and a small enrolment peak). benchmarks/results/fit.json records
#: the fit.
PHENOTYPE_PRESETS: dict[str, Phenotype] = {
    "acute_strain": Phenotype(
        name="acute_strain", description="a recent strain: an injury at day 0 whose drive "
        "heals at a rate that varies between patients, a threshold that is usually "
        "high (a few patients can chronify), a standing drive in some",
        claims=("003-5",),
        params={"theta0": Uniform(4.4, 8.64), "tau_D": LogNormal(6.0, 2.55),
                "d0": Uniform(0.0, 0.071)},
        injury=Uniform(0.62, 1.67),
        flares=Flares(strain_per_day=0.00217, strain_size=0.5, size_cv=1.5,
                      weibull_shape=0.7)),
    "recurrent": Phenotype(
        name="recurrent", description="recurrent episodes: threshold above the bistable "
        "range, frequent strains of varying size", claims=("000-2",),
        params={"theta0": Uniform(3.5, 5.5), "tau_D": LogNormal(10.0, 0.5)},
        injury=Uniform(0.5, 1.2),
        flares=Flares(strain_per_day=0.0116, strain_size=0.384, size_cv=1.5,
                      weibull_shape=0.579)),
    "persistent": Phenotype(
        name="persistent", description="persistent pain (weeks to a year): enrolled at a "
        "pain peak; some settled in the sensitized state, the others in a long episode "
        "whose drive heals slowly", claims=("000-2",),
        params={"theta0": Uniform(2.49, 5.44), "tau_D": LogNormal(6.19, 1.27)},
        start="sensitized", injury=Uniform(0.282, 0.916),
        flares=Flares(strain_per_day=1 / 180, strain_size=0.5, size_cv=1.5,
                      weibull_shape=0.7)),
    "chronic_sensitized": Phenotype(
        name="chronic_sensitized", description="chronic pain with central sensitization: "
        "low threshold, settled in the high-pain state, enrolled at a pain peak",
        claims=("000-2", "003-3"),
        params={"theta0": Uniform(2.2, 3.4), "tau_S": Uniform(21.0, 45.0)},
        start="sensitized", injury=Uniform(0.0, 0.3),
        flares=Flares(strain_per_day=1 / 90, strain_size=0.5, size_cv=1.5)),
    "stress_driven": Phenotype(
        name="stress_driven", description="stress-responsive pain: high baseline "
        "arousal, arousal-driven inflammation, frequent stress episodes",
        claims=("000-2", "003-3", "003-5"),
        params={"theta0": Uniform(3.0, 4.5), "a0": Uniform(0.3, 0.5),
                "c_A": Uniform(0.3, 0.45)},
        start="sensitized", flares=Flares(stress_per_day=1 / 30, stress_size=0.6)),
}

def with_parameters(phenotypes: Mapping[str, Phenotype],
                    params: Mapping[str, float]) -> dict[str, Phenotype]:
    """Phenotypes whose parameter draws are overridden by fixed ``params`` (for all)."""
    return {k: dataclasses.replace(ph, params={**ph.params, **params}) if params else ph
            for k, ph in phenotypes.items()}


#: Most patients in one cohort.
MAX_PATIENTS = 10**7


def _check_state_column(model: Model, k: str, v: Any, n: int) -> None:
    """A per-patient initial state: n finite numbers within the state's bounds."""
    s = model.states[model.state_index[k]]
    arr = np.asarray(v)
    if arr.shape != (n,) or arr.dtype.kind not in "iuf":
        raise ParameterError(f"Cohort.table[{k!r}]", v, f"one number per patient, shape "
                             f"({n},)", why=f"has shape {arr.shape} and dtype {arr.dtype}")
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr >= s.lower) & (arr <= s.upper)))
    if bad.size:
        raise ParameterError(f"Cohort.table row {int(bad[0])}, column {k!r}",
                             arr[bad[0]].item(), f"[{s.lower:g}, {s.upper:g}] {s.unit}")


@dataclass(frozen=True)
class CohortSample:
    """A drawn cohort: per-patient phenotypes, parameters, initial states and flares.

    Attributes
    ----------
    phenotype : ndarray of str, shape (n,)
    params : ndarray, shape (n_parameters, n)
        Packed parameters (model order).
    y0 : ndarray, shape (n_states, n)
        States at day 0 after the run-in, with the injury applied.
    flares : list of list of (float, str, str, float)
        Per patient: flare time (days), kind, target state, size.
    """

    phenotype: NDArray[np.str_]
    params: NDArray[np.float64]
    y0: NDArray[np.float64]
    flares: list[list[tuple[float, str, str, float]]]


@dataclass(frozen=True, kw_only=True)
class Cohort:
    """A virtual cohort: size, seed, phenotype mix, optional per-patient table.

    Parameters
    ----------
    n : int
        Number of patients (1 to :data:`MAX_PATIENTS`).
    seed : int
        Scenario seed (>= 0).
    mix : mapping of str to float
        Phenotype name → fraction; fractions must sum to 1.
    phenotypes : mapping of str to Phenotype
        Available phenotypes (default :data:`PHENOTYPE_PRESETS`).
    table : mapping of str to array, DataFrame, or CSV/Parquet path, optional
        Per-patient columns (length ``n`` each, row ``i`` = patient ``i``): a column named
        after a model parameter overrides that parameter's draws; one named after a model
        state sets that state at the start of the run-in (use ``run_in_days=0`` for the
        state at day 0), replacing the phenotype's start. A ``patient`` column, if
        present, must be ``0..n-1`` in order. Bad entries name their row and column.
    events : EventTable, DataFrame, mapping or CSV/Parquet path, optional
        Events per patient (``patient``, ``day``, ``kind``, ``size``) that happen in
        every arm at their exact times: ``flare``/``stress`` on the phenotype's flare
        targets, or a state's name for a custom change (:class:`painsim.EventTable`).
    random_flares : bool
        Draw each phenotype's random flares (default). ``False`` keeps only ``events``:
        a researcher's cohort with its own flare times.
    run_in_days : float
        Untreated run-in before day 0 that settles each patient (days, 0 to 3652.5:
        ten years).
    model : Model
        The model whose parameters are drawn.

    Examples
    --------
    >>> from painsim.cohort import Cohort
    >>> c = Cohort(n=4, seed=1, mix={"chronic_sensitized": 0.5, "acute_strain": 0.5})
    >>> sorted(set(c.sample(horizon_days=30).phenotype.tolist()))
    ['acute_strain', 'chronic_sensitized']
    """

    n: int = setting(MISSING, "Number of virtual patients.", 1, MAX_PATIENTS, type="int",
                     file="patients", written=200)
    seed: int = setting(0, "Scenario seed: every random draw derives from it.", 0,
                        2**63 - 1, type="int")
    mix: Mapping[str, float] = field(default_factory=lambda: {"chronic_sensitized": 1.0})
    phenotypes: Mapping[str, Phenotype] = field(default_factory=lambda: PHENOTYPE_PRESETS)
    table: Any = None
    run_in_days: float = setting(120.0, "Untreated run-in before day 0 that settles each "
                                 "patient.", 0, MAX_INTERVAL_DAYS, type="duration",
                                 file="run_in", written="120 days")
    model: Model = PAIN_LOOP
    events: Any = None
    random_flares: bool = setting(True, "Draw the phenotypes' random flares; false keeps "
                                  "only `events`.", type="bool")

    def __post_init__(self) -> None:
        check_settings(self)
        check_type("Cohort.model", self.model, Model, "a painsim Model")
        check_type("Cohort.phenotypes", self.phenotypes, Mapping,
                   "a mapping of name to Phenotype")
        for name, ph in self.phenotypes.items():
            check_type(f"Cohort.phenotypes[{name!r}]", ph, Phenotype, "a Phenotype")
        check_type("Cohort.mix", self.mix, Mapping, "a mapping of phenotype name to fraction")
        if not self.mix:
            raise ParameterError("Cohort.mix", {}, "at least one phenotype")
        for name, frac in self.mix.items():
            if not isinstance(name, str) or name not in self.phenotypes:
                raise ParameterError("Cohort.mix", name, "a key of phenotypes: "
                                     + ", ".join(self.phenotypes),
                                     why="is not a known phenotype"
                                     + (did_you_mean(name, tuple(self.phenotypes))
                                        if isinstance(name, str) else ""))
            check_number(f"Cohort.mix[{name!r}]", frac, 0, 1)
        total = sum(self.mix.values())
        if abs(total - 1.0) > 1e-9:
            raise ParameterError("Cohort.mix", dict(self.mix), "fractions summing to 1",
                                 why=f"sums to {total:g}")
        if self.table is not None and not isinstance(self.table, Mapping):
            from .inputs import read_table  # a DataFrame or a CSV/Parquet path

            object.__setattr__(self, "table", read_table(self.table, what="Cohort.table"))
        for ph in self.phenotypes.values():
            fl = ph.flares
            for target, rate in ((fl.strain_target, fl.strain_per_day),
                                 (fl.stress_target, fl.stress_per_day)):
                if rate > 0 and target not in self.model.state_index:
                    raise ParameterError(f"{ph.name}.flares", target,
                                         ", ".join(self.model.state_names),
                                         why="is not a state of the model"
                                         + did_you_mean(target, self.model.state_names))
            for k in ph.params:
                if k not in self.model.parameter_index:
                    raise ParameterError(f"{ph.name}.params", k,
                                         ", ".join(self.model.parameter_names),
                                         why="is not a model parameter"
                                         + did_you_mean(k, self.model.parameter_names))
        constants: dict[str, Any] = {}
        for name in self.mix:
            ph, m = self.phenotypes[name], self.model
            for k, d in ph.params.items():
                par = m.parameters[m.parameter_index[k]]
                if par.per_patient:
                    continue
                if not isinstance(d, int | float) or constants.setdefault(k, d) != d:
                    raise ParameterError(f"{ph.name}.params[{k!r}]", d, "one number, the "
                                         "same for every phenotype of the mix",
                                         why=f"{k} is a cohort-wide constant of model "
                                         f"{m.name!r} (Parameter.per_patient=False)")
            if ph.start != "pain_free" and ph.start not in m.starts:
                raise ParameterError(f"{ph.name}.start", ph.start,
                                     ", ".join(("pain_free", *m.starts)),
                                     why=f"is not a start model {m.name!r} declares "
                                     "(Model.starts)" + did_you_mean(ph.start, tuple(m.starts)))
            if m.injury_state is None and ph.injury != 0 and not (
                    isinstance(ph.injury, Uniform) and ph.injury.low == ph.injury.high == 0):
                raise ParameterError(f"{ph.name}.injury", ph.injury, "0",
                                     why=f"needs a state to add it to, and model {m.name!r} "
                                     "declares no injury_state")
        check_type("Cohort.random_flares", self.random_flares, bool, "True or False")
        if self.events is not None:
            from .inputs import EventTable

            ev = self.events if isinstance(self.events, EventTable) else \
                EventTable.read(self.events)
            ev.check(self.n, self.model.state_names)
            object.__setattr__(self, "events", ev)
        if self.table is not None and "patient" in self.table:
            ids = np.asarray(self.table["patient"])
            if ids.shape != (self.n,) or not np.array_equal(ids, np.arange(self.n)):
                raise ParameterError("Cohort.table['patient']", ids,
                                     f"the patients 0..{self.n - 1} in order, one row each")
            object.__setattr__(self, "table", {k: v for k, v in self.table.items()
                                               if k != "patient"})
        if self.table is not None:
            names = self.model.parameter_names + self.model.state_names
            for k, v in self.table.items():
                if not isinstance(k, str) or k not in names:
                    raise ParameterError("Cohort.table", k, ", ".join(names),
                                         why="is not a model parameter or state"
                                         + (did_you_mean(k, names)
                                            if isinstance(k, str) else ""))
                if k in self.model.state_index:
                    _check_state_column(self.model, k, v, self.n)
                    continue
                if not self.model.parameters[self.model.parameter_index[k]].per_patient:
                    raise ParameterError("Cohort.table", k, "per-patient parameters and "
                                         "states", why="is a cohort-wide constant of the "
                                         "model (Parameter.per_patient=False)")
                try:
                    arr = np.asarray(v)
                except (TypeError, ValueError):
                    arr = np.asarray(None)
                if arr.shape != (self.n,) or arr.dtype.kind not in "iuf":
                    raise ParameterError(f"Cohort.table[{k!r}]", v,
                                         f"one number per patient, shape ({self.n},)",
                                         why=f"has shape {arr.shape} and dtype {arr.dtype}")
                try:
                    self.model.parameters[self.model.parameter_index[k]].validate(arr)
                except ParameterError as exc:
                    raise ParameterError(f"Cohort.table[{k!r}]", exc.value, exc.allowed,
                                         why=exc.why) from None

    def sample(self, horizon_days: float, *, rtol: float = 1e-6, atol: float = 1e-8,
               first: int = 0, stop: int | None = None,
               backend: str = "numpy") -> CohortSample:
        """Draw the cohort and settle it with the run-in (one batched solver call).

        ``first`` and ``stop`` draw only patients ``first .. stop-1`` (default: all);
        every patient's draws come from its own streams, so a slice equals the same
        columns of the whole cohort. ``backend="numba"`` runs the run-in with the
        compiled loop (:mod:`painsim.compiled`).
        """
        model = self.model
        names = list(self.mix)
        cum = np.cumsum([self.mix[k] for k in names])
        stop = self.n if stop is None else stop
        if not 0 <= first < stop <= self.n:
            raise ParameterError("Cohort.sample(first, stop)", (first, stop),
                                 f"0 <= first < stop <= {self.n}")
        n = stop - first
        pheno = np.empty(n, dtype=object)
        values = {p.name: np.full(n, p.default) for p in model.parameters}
        injury = np.zeros(n)
        start = np.full(n, "pain_free", dtype=object)
        flares = []
        specs: list[Flares] = []  # each patient's flare process (targets of its events)
        own = PatientStreams(self.seed, np.arange(first, stop), "cohort")
        fl = PatientStreams(self.seed, np.arange(first, stop), "flares")
        plans = {k: _DrawPlan(ph) for k, ph in self.phenotypes.items() if k in self.mix}
        drawn: dict[str, tuple[list[int], list[NDArray]]] = {k: ([], []) for k in plans}
        for i in range(n):
            rng = own[i]
            ph = self.phenotypes[names[min(int(np.searchsorted(cum, rng.random(),
                                                                side="right")),
                                           len(names) - 1)]]
            pheno[i] = ph.name
            rows, vals = drawn[ph.name]
            rows.append(i)
            vals.append(plans[ph.name].draw(rng))
            start[i] = ph.start
            # each patient's flares come from its own stream: not drawing them when they
            # are not used changes no other draw
            flares.append(ph.flares.draw(fl[i], horizon_days) if self.random_flares else [])
            specs.append(ph.flares)
        for name, (rows, vals) in drawn.items():
            if rows:
                V = np.array(vals)
                for j, k in enumerate(plans[name].keys):
                    values[k][rows] = V[:, j]
                injury[rows] = V[:, -1]
        for p in model.parameters:
            np.clip(values[p.name], *p.bounds, out=values[p.name])
        if self.table is not None:
            for k, v in self.table.items():
                if k in model.parameter_index:
                    values[k] = np.asarray(v, dtype=float)[first:stop]
        if self.events is not None:
            for i, evs in self.events.by_patient(first, stop).items():
                fl_i = specs[i]
                for day, kind, size in evs:
                    target = (fl_i.strain_target if kind == "flare" else
                              fl_i.stress_target if kind == "stress" else kind)
                    flares[i].append((day, f"event: {kind}", target, size))
                flares[i].sort(key=lambda e: e[0])  # stable: table order within a time
        params = model.params(**values)  # validates the table's values
        P = params.as_array(n)
        y0 = model.initial_state(n)
        for name in set(start) - {"pain_free"}:
            rows = start == name
            for k, v in model.starts[name].items():
                y0[model.index(k), rows] = v
        if self.table is not None:
            for k, v in self.table.items():
                if k in model.state_index:
                    y0[model.index(k)] = np.asarray(v, dtype=float)[first:stop]
        if self.run_in_days > 0 and backend == "numba":
            from .compiled import integrate_pain

            y0 = integrate_pain(model, (0.0, self.run_in_days), y0, P,
                                t_eval=np.array([self.run_in_days]), rtol=rtol, atol=atol,
                                throw=True).y_final
        elif self.run_in_days > 0:
            sol = model.solve((0.0, self.run_in_days), params, y0, t_eval=[self.run_in_days],
                              rtol=rtol, atol=atol, throw=True)
            y0 = sol.solution.y_final
        if model.injury_state is not None:
            y0[model.index(model.injury_state)] += injury
        return CohortSample(phenotype=pheno.astype(self.phenotype_dtype), params=P, y0=y0,
                            flares=flares)

    @property
    def phenotype_dtype(self) -> np.dtype:
        """The type of :attr:`CohortSample.phenotype`: text as wide as the longest
        phenotype name in the mix, whichever patients a sample holds (so the samples of
        any chunks of the cohort join into the same array)."""
        return np.dtype(f"<U{max(1, *(len(self.phenotypes[k].name) for k in self.mix))}")
