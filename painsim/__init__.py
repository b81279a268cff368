"""painsim: simulation of pain-cycle models, for research and teaching (not medical advice).

The default model (:data:`PAIN_LOOP`) couples pain, muscle tension, inflammation,
central sensitization, arousal, a slow systemic state and session-locked analgesia.
A *local* intervention moves the state; a *systemic* one changes the drivers. Any
model defined with :class:`Model` runs on the same batched solver, :func:`integrate`.

Time is in days and pain on 0–10 throughout.
"""

from .errors import PainsimError, ParameterError, ScenarioError, SolverError
from .model import Model, ModelSolution, Parameter, ParameterSet, State
from .painloop import PAIN_LOOP, PHENOTYPES, equilibria, local_kick, phenotype, systemic_kick
from .solver import Solution, integrate

__version__ = "0.1.0"

__all__ = [
    "PAIN_LOOP",
    "PHENOTYPES",
    "Model",
    "ModelSolution",
    "PainsimError",
    "Parameter",
    "ParameterError",
    "ParameterSet",
    "ScenarioError",
    "Solution",
    "SolverError",
    "State",
    "__version__",
    "equilibria",
    "integrate",
    "local_kick",
    "phenotype",
    "systemic_kick",
]
