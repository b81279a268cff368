"""painsim: simulation of pain-cycle models, for research and teaching (not medical advice).

The default model (:data:`PAIN_LOOP`) couples pain, muscle tension, inflammation,
central sensitization, arousal, a slow systemic state and session-locked analgesia.
A *local* intervention moves the state; a *systemic* one changes the drivers. Any
model defined with :class:`Model` runs on the same batched solver, :func:`integrate`.

Time is in days and pain on 0–10 throughout.
"""

from . import attribute, basins, sensitivity
from .basins import basin_map
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
from .outcomes import Outcomes, SimulationResult, kaplan_meier, load
from .painloop import PAIN_LOOP, PHENOTYPES, equilibria, local_kick, phenotype, systemic_kick
from .protocols import Arm, AsNeeded, Clinic, Fixed, Given, Protocol, Tapering
from .sensitivity import run_sensitivity
from .solver import Solution, integrate

__version__ = "0.1.0"

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
    "run_sensitivity",
    "sensitivity",
    "sham",
    "simulate",
    "systemic_kick",
    "usual_care",
]
