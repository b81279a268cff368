"""User models are as first-class as the built-in one: saved quantities, lane forms
checked against the vectorised equations, parameters addressed by name."""

import numpy as np
import pytest

import painsim as ps
from painsim.compiled import LaneForm
from painsim.errors import ParameterError

from .test_compiled import AGREE, needs_numba


def _relaxation(lane_sign=1.0):
    """x relaxes to a per-patient level L at rate k; pain = x. The lane form is written
    with parameters by name (``m.ids``); ``lane_sign`` = -1 plants a sign error."""
    states = (ps.State(name="x", unit="points", description="pain", initial=6.0),)
    parameters = (
        ps.Parameter(name="k", default=0.2, unit="1/day", description="rate",
                     bounds=(0.0, 10.0), plausible=(0.05, 1.0)),
        ps.Parameter(name="L", default=2.0, unit="points", description="level",
                     bounds=(0.0, 10.0), plausible=(0.0, 5.0)),
    )
    draft = ps.Model(name="relax", states=states, parameters=parameters,
                     rhs=lambda t, y, p: -p.k * (y[0] - p.L)[None],
                     pain=lambda y, p: y[0])
    ids = draft.ids  # named positions: the compiled code reads p[ids.k], not p[0]

    def lane_rhs(t, y, p, dy):
        dy[0] = -lane_sign * p[ids.k] * (y[0] - p[ids.L])

    def lane_pain(y, p):
        return y[0]

    return ps.Model(name="relax", states=states, parameters=parameters, rhs=draft.rhs,
                    pain=draft.pain, lane_form=LaneForm(rhs=lane_rhs, pain=lane_pain))


def test_solve_with_save_keeps_pain_and_the_chosen_quantities():
    m = ps.PAIN_LOOP
    full = m.solve((0, 10), m.params(), n_lanes=3, t_eval=[0, 5, 10])
    kept = m.solve((0, 10), m.params(), n_lanes=3, t_eval=[0, 5, 10],
                   save=lambda t, y, P: y[:2])
    assert kept.saved and kept.solution.y.shape == (2, 3, 3)
    np.testing.assert_array_equal(kept.pain, full.pain)  # same steps, same numbers
    np.testing.assert_array_equal(kept.solution.y, full.solution.y[:2])
    with pytest.raises(ValueError, match="not kept"):
        kept.state("D")
    with pytest.raises(ParameterError, match="save"):
        m.solve((0, 1), m.params(), save="pain")


def test_ids_name_parameter_positions():
    m = _relaxation()
    assert m.ids.k == 0 and m.ids.L == 1
    assert ps.PAIN_LOOP.ids.theta0 == ps.PAIN_LOOP.parameter_index["theta0"]


def test_check_accepts_a_matching_lane_form_and_names_a_wrong_one():
    _relaxation().check()
    ps.PAIN_LOOP.check()
    with pytest.raises(ValueError, match="dx/dt"):
        _relaxation(lane_sign=-1.0).check()
    plain = ps.Model(name="plain", states=ps.PAIN_LOOP.states,
                     parameters=ps.PAIN_LOOP.parameters, rhs=ps.PAIN_LOOP.rhs,
                     pain=ps.PAIN_LOOP.pain)
    with pytest.raises(ValueError, match="no lane_form"):
        plain.check()


def _cohort(model, n=4):
    ph = ps.Phenotype(name="relaxing", description="levels vary between patients",
                      params={"L": ps.Uniform(0.5, 4.0)})
    return ps.Cohort(n=n, seed=1, model=model, mix={"relaxing": 1.0},
                     phenotypes={"relaxing": ph}, run_in_days=0.0)


@needs_numba
def test_simulate_refuses_a_lane_form_that_disagrees_and_runs_one_that_agrees():
    arm = [ps.Arm(name="none")]
    with pytest.raises(ParameterError, match="fails its check"):
        ps.simulate(arm, _cohort(_relaxation(lane_sign=-1.0)), horizon_days=5,
                    backend="numba")
    m = _relaxation()
    a = ps.simulate(arm, _cohort(m), horizon_days=30)
    b = ps.simulate(arm, _cohort(m), horizon_days=30, backend="numba")
    # same method and steps: rounding only, held in tolerance units (tests/test_compiled.py)
    np.testing.assert_allclose(a.pain["none"], b.pain["none"], rtol=0, atol=AGREE)
