"""Hypothesis strategies shared by the property tests."""

import numpy as np
from hypothesis import strategies as st

from painsim.painloop import PAIN_LOOP


@st.composite
def plausible_params(draw, n_lanes: int = 1):
    """A ParameterSet with every value drawn from its documented plausible range."""
    values = {}
    for p in PAIN_LOOP.parameters:
        lo, hi = p.plausible
        vals = [draw(st.floats(lo, hi, allow_nan=False)) for _ in range(n_lanes)]
        values[p.name] = np.array(vals) if n_lanes > 1 else vals[0]
    return PAIN_LOOP.params(**values)


@st.composite
def initial_states(draw, n_lanes: int = 1):
    """Initial states within each state's range (pain-loop model)."""
    y = PAIN_LOOP.initial_state(n_lanes)
    f = st.floats(0.0, 3.0, allow_nan=False)
    for name in ("D", "I", "T", "A", "R"):
        y[PAIN_LOOP.index(name)] = [draw(f) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("S")] = [draw(st.floats(0.0, 1.0)) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("E_amp")] = [draw(st.floats(0.0, 2.0)) for _ in range(n_lanes)]
    y[PAIN_LOOP.index("E_age")] = [draw(st.floats(0.0, 1.0)) for _ in range(n_lanes)]
    return y


session_times = st.lists(st.floats(0.0, 60.0, allow_nan=False), min_size=0, max_size=6).map(
    sorted)
