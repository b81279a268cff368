"""painsim: simulation of pain-cycle models, for research and teaching (not medical advice).

The default model (:data:`PAIN_LOOP`) couples pain, muscle tension, inflammation,
central sensitization, arousal, a slow systemic state and session-locked analgesia.
A *local* intervention moves the state; a *systemic* one changes the drivers. Any
model defined with :class:`Model` runs on the same batched solver, :func:`integrate`.

Time is in days and pain on 0–10 throughout. Every output that shows results carries
:data:`painsim.outcomes.DISCLAIMER` (figures: :data:`painsim.plots.FOOTER`).

Data flow
---------
One way, from a study to its files::

    scenario -> cohort -> engine <-> protocols (events) -> solver -> outcomes -> summary -> results

* :mod:`~painsim.scenario` reads a TOML study into a ``Scenario``: a :class:`Cohort`,
  :class:`Arm` s (each a :class:`Protocol`: an :class:`Intervention` on a schedule),
  :class:`Outcomes` definitions and solver settings.
* :mod:`~painsim.cohort` draws each patient's parameters, initial state (after a
  run-in) and flares, from ``SeedSequence([seed, patient, stream])`` (a
  ``CohortSample``).
* :mod:`~painsim.engine` (:func:`simulate`) runs every arm on the same patients. At each
  epoch boundary the SimPy processes of the arm's schedule (or the batched planner, when
  nothing reads the state) decide the next sessions, reading current pain; between
  boundaries :mod:`~painsim.solver` (or :mod:`~painsim.compiled`) integrates all lanes,
  stopping each at its own event times, where the session's effects apply to that lane.
* :mod:`~painsim.outcomes` defines the outcomes and computes each patient's values from
  its trajectory and events; :mod:`~painsim.summary` assembles them into a
  :class:`SimulationResult` (patients, per-arm summary with intervals, relapse curves,
  events);
  :mod:`~painsim.results` writes a results folder atomically, with
  :mod:`~painsim.plots`' figures and a manifest.
* The analyses (``basins``, ``attribute``, ``sensitivity``, ``validate``, ``claims``,
  ``calibrate``, ``teach``, ``explore``) only call :func:`simulate` or
  :func:`integrate` and read the results; :mod:`~painsim.cli` is a thin layer over all
  of them.

Modules, in layers
------------------
A module imports only from modules of lower layers: at the top of the file always,
and inside functions too for the core (layers 1–9), which never knows about the
applications above it. ``tests/test_architecture.py`` reads this table and checks every
import of every module against it, so a new module must be placed here::

     1  errors        one error hierarchy; errors carry their facts as attributes
     2  fields        settings as data: type, range, unit, meaning; one check for API and files
     2  solver        batched Dormand–Prince 5(4), a step size and status per lane
     2  inputs        per-patient event tables and columns (CSV, Parquet, DataFrame)
     2  cluster       a Dask client for scale-out
     2  spool         daily pain kept in files on disk; memory given back; compact codes
     3  compiled      the optional Numba lane loop, the same semantics as solver
     4  model         models as data: states, parameters with units, vectorized rhs
     5  painloop      the built-in pain-loop model, its phenotypes and equilibria
     5  interventions what one session does: frozen lists of effects
     6  protocols     when sessions happen: schedules, arms, clinics
     6  effects       what a session or flare does to a lane; the solver's stop tables
     7  cohort        phenotypes, mixtures, flares, per-patient random streams
     7  outcomes      outcome definitions, per-patient values, intervals, DISCLAIMER
     8  summary       SimulationResult: per-arm summaries and paired differences
     8  events        one arm's visits: SimPy processes, batched planner, event log
     9  engine        simulate: the decide/integrate loop over epochs, workers, Dask
    10  scenario      TOML studies validated against one schema
    11  plots         PNG figures of a result
    12  results       results folders, written atomically; manifests; compare
    13  demo          a fixed two-patient demonstration
    13  basins        basin maps: who does a local kick tip into lasting relief
    13  attribute     Shapley attribution of an arm's effect to pathways
    13  sensitivity   global sensitivity of outcomes to assumptions (SALib)
    13  replay        one patient of a results folder, bit for bit, in words
    13  validate      the evidence suite: published figures the defaults must meet
    14  claims        claims as executable checks: the verdict matrix
    15  calibrate     fit parameters to a reported table
    15  teach         the HTML report on the contradictions between claims
    16  explore       the interactive HTML page to question the claims
    17  cli           the ``painsim`` command line

Where a change goes
-------------------
New schedule kind
    A class that answers *when* itself: ``visits(ctx)`` (its SimPy process over a
    ``protocols.VisitContext``), ``in_words()``, ``start_day``, ``planned_end_day`` and
    ``reads_state`` — in your own code, or in :mod:`~painsim.protocols` for a built-in
    one. The engine and :mod:`~painsim.events` do not change (``plan_fixed``, the batched
    planner, is only a faster path for ``Fixed`` and ``Given``). A built-in kind adds
    its TOML form to :mod:`~painsim.scenario` and is exported here. Tests:
    ``tests/test_schedules.py`` (a user's kinds through ``simulate``),
    ``tests/test_engine.py`` (planner equals the SimPy processes).
New intervention
    A factory in :mod:`~painsim.interventions` returning an :class:`Intervention` of
    :class:`Effect` s (a *local* one moves the state, a *systemic* one the drivers);
    registered with its keys, ranges and units in ``interventions.PARAMETERS`` (the
    factory checks its arguments against them, and scenario files, claims and
    calibration name it through ``scenario.TREATMENTS``); its plausible range in
    ``claims.TREATMENT_PLAUSIBLE``.
New model
    A :class:`Model` (:mod:`~painsim.model`) with named states, parameters (units,
    ranges) and a vectorized rhs, in your own code or a module like
    :mod:`~painsim.painloop`; a ``LaneForm`` (:mod:`~painsim.compiled`) to run it with
    ``backend="numba"``. The engine, cohorts and outcomes do not change.
New outcome
    Its setting in :class:`Outcomes` (units in the name), declared with
    ``fields.setting`` (meaning, range, unit, its name in a file): the ``[outcomes]`` key
    of scenario files, its check and its line in ``REFERENCE.md`` follow from it. Its
    per-patient value goes in ``outcomes.patient_outcomes`` (per-arm summary in
    ``summary.build_result``); for claims a ``Metric`` in ``claims.METRICS``, for
    sensitivity an entry of ``sensitivity.OUTCOMES``.
New setting of a schedule, protocol, clinic or cohort
    A field declared with ``fields.setting`` on the class: the object checks it
    (``fields.check_settings``) and the scenario file's key is the same :class:`Key`
    (``fields.keys_of``); only a rule tying two settings together is written by hand,
    in the class's ``__post_init__``.
New CLI command
    A function in :mod:`~painsim.cli` that parses options, calls one library function,
    turns :class:`PainsimError` into a one-screen message and echoes
    :data:`~painsim.outcomes.DISCLAIMER` when it shows results; the work itself lives in
    the library. Tests: ``click.testing.CliRunner`` in ``tests/test_cli.py``.
"""

# before the imports: painsim.results reads it while the package is importing
__version__ = "0.1.0"

import importlib
from typing import Any

from .cluster import dask_client
from .cohort import PHENOTYPE_PRESETS, Cohort, Flares, LogNormal, Phenotype, Uniform
from .engine import simulate
from .errors import PainsimError, ParameterError, ScenarioError, SolverError
from .inputs import EventTable, read_table
from .interventions import (
    Effect,
    Intervention,
    acupuncture,
    combine,
    dry_needling,
    exercise,
    no_treatment,
    sham,
    usual_care,
)
from .model import Model, ModelSolution, Parameter, ParameterSet, State
from .outcomes import Outcomes, kaplan_meier
from .painloop import PAIN_LOOP, PHENOTYPES, equilibria, local_kick, phenotype, systemic_kick
from .protocols import Arm, AsNeeded, Clinic, Fixed, Given, Protocol, Tapering
from .results import run_scenario, write_results
from .solver import Solution, integrate
from .summary import SimulationResult, load

__all__ = [
    "PAIN_LOOP",
    "PHENOTYPES",
    "PHENOTYPE_PRESETS",
    "Arm",
    "AsNeeded",
    "Clinic",
    "Cohort",
    "Effect",
    "EventTable",
    "Fixed",
    "Flares",
    "Given",
    "Intervention",
    "LogNormal",
    "Model",
    "ModelSolution",
    "Outcomes",
    "PainsimError",
    "Parameter",
    "ParameterError",
    "ParameterSet",
    "Phenotype",
    "Protocol",
    "ScenarioError",
    "SimulationResult",
    "Solution",
    "SolverError",
    "State",
    "Tapering",
    "Uniform",
    "__version__",
    "acupuncture",
    "attribute",
    "basin_map",
    "basins",
    "combine",
    "dask_client",
    "dry_needling",
    "equilibria",
    "exercise",
    "integrate",
    "kaplan_meier",
    "load",
    "local_kick",
    "no_treatment",
    "phenotype",
    "read_table",
    "run_scenario",
    "run_sensitivity",
    "sensitivity",
    "sham",
    "simulate",
    "systemic_kick",
    "usual_care",
    "write_results",
]


# the analyses of layer 13 import pandas (about 65 MB and 0.3 s): loaded on first use,
# so a simulation alone never pays for them (nor does a forked worker's share of them)
_LAZY = {"attribute": ("attribute", None), "basins": ("basins", None),
         "sensitivity": ("sensitivity", None), "basin_map": ("basins", "basin_map"),
         "run_sensitivity": ("sensitivity", "run_sensitivity")}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    m = importlib.import_module(f".{module}", __name__)
    value = m if attr is None else getattr(m, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
