"""Invariants of the pain-loop model and the solver, checked with Hypothesis."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import painsim
from painsim.cohort import STREAMS, PatientStreams, patient_rng
from painsim.painloop import PAIN_LOOP, equilibria, local_kick, systemic_kick

from .bounds import pain_bound, state_bound
from .strategies import initial_states, plausible_params, session_times

N_LANES = 3


def _stops(times):
    row = np.full(6, np.inf)
    row[: len(times)] = times
    return np.tile(row, (N_LANES, 1))


def _session(P, local):
    def on_stop(t, y, lanes, k):
        kick = local_kick if local else systemic_kick
        return kick(y, P[:, lanes])
    return on_stop


@given(plausible_params(N_LANES), initial_states(N_LANES), session_times, st.booleans())
def test_pain_bounded_and_states_in_range(params, y0, times, local):
    P = params.as_array(N_LANES)
    sol = PAIN_LOOP.solve((0, 60), params, y0, t_eval=np.linspace(0, 60, 61),
                          stops=_stops(times), on_stop=_session(P, local))
    assert sol.solution.success
    assert np.all(sol.pain >= 0) and np.all(sol.pain <= 10)
    # the exact flow keeps each state in its range; the numerical one leaves it by at most
    # its global error, n_steps tolerance units at the bound (solve's rtol 1e-6, atol 1e-8)
    n = sol.solution.n_steps[:, None] + 1
    for s in PAIN_LOOP.states:
        x = sol.state(s.name)
        assert np.all(x >= s.lower - state_bound(n, s.lower, 1e-6, 1e-8)), s.name
        if np.isfinite(s.upper):
            assert np.all(x <= s.upper + state_bound(n, s.upper, 1e-6, 1e-8)), s.name


@given(plausible_params(N_LANES), initial_states(N_LANES), session_times)
def test_zero_size_kick_changes_nothing(params, y0, times):
    P = params.as_array(N_LANES)
    t_eval = np.linspace(0, 60, 31)

    def nothing(t, y, lanes, k):
        return local_kick(y, P[:, lanes], release=0.0, soreness=0.0, analgesia_dose=0.0)

    kicked = PAIN_LOOP.solve((0, 60), params, y0, t_eval=t_eval, stops=_stops(times),
                             on_stop=nothing, rtol=1e-10, atol=1e-12)
    plain = PAIN_LOOP.solve((0, 60), params, y0, t_eval=t_eval, rtol=1e-10, atol=1e-12)
    # the stops change the step sequence only: the two differ by at most the sum of their
    # global errors (n_steps tolerance units each), mapped to pain through its gradient
    n = kicked.solution.n_steps + plain.solution.n_steps + 2
    y = plain.solution.y  # (n_states, lanes, times) -> one column per lane and time
    m = y.shape[2]
    err = state_bound(np.repeat(n, m), y.reshape(y.shape[0], -1), 1e-10, 1e-12)
    bound = pain_bound(PAIN_LOOP, y.reshape(y.shape[0], -1), np.repeat(P, m, axis=1), err)
    assert np.all(np.abs(kicked.pain - plain.pain) <= bound.reshape(-1, m))


# NumPy 1.x's elementwise functions on strided inputs are not bit-reproducible from
# call to call (seen with NumPy 1.24: np.sin of the same strided columns 1 ulp apart in
# about 1 run of 6, at painsim's commits of before and after 2026-12-04; Hypothesis
# reported this test Flaky there), so the same inputs cannot promise the same bits;
# with NumPy 2 (the newest versions CI installs) the test holds in every run
@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0",
                    reason="NumPy 1.x elementwise functions are not bit-reproducible "
                    "call to call on strided inputs")
@given(plausible_params(N_LANES), initial_states(N_LANES), session_times)
def test_same_inputs_give_bit_identical_outputs(params, y0, times):
    P = params.as_array(N_LANES)
    a = PAIN_LOOP.solve((0, 60), params, y0, t_eval=np.arange(61.0), stops=_stops(times),
                        on_stop=_session(P, True))
    b = PAIN_LOOP.solve((0, 60), params, y0.copy(), t_eval=np.arange(61.0),
                        stops=_stops(times), on_stop=_session(P, True))
    assert np.array_equal(a.solution.y, b.solution.y, equal_nan=True)
    assert np.array_equal(a.pain, b.pain)


@given(st.floats(5.0, 7.0))
def test_pain_free_state_without_drivers_stays_put(theta0):
    p = PAIN_LOOP.params(theta0=theta0)
    low = equilibria(p)[0]
    sol = PAIN_LOOP.solve((0, 365), p, low["state"][:, None], t_eval=[0, 365], rtol=1e-9,
                          atol=1e-12)
    y = low["state"][:, None]
    err = state_bound(sol.solution.n_steps[0] + 1, y, 1e-9, 1e-12)  # damped: n_steps units
    assert abs(sol.pain[0, -1] - low["pain"]) <= pain_bound(PAIN_LOOP, y, p.as_array(1),
                                                            err)[0]


@given(st.lists(st.floats(0.01, 5.0), min_size=1, max_size=8),
       st.floats(0.1, 10.0))
def test_linear_decay_matches_exact_solution(rates, t_end):
    k = np.array(rates)
    sol = painsim.integrate(lambda t, y, k: -k * y, (0.0, t_end), np.ones((1, k.size)),
                            args=(k,), t_eval=[t_end], rtol=1e-9, atol=1e-13)
    exact = np.exp(-k * t_end)
    # decay: at most n_steps tolerance units
    assert np.all(np.abs(sol.y[0, :, 0] - exact) <= state_bound(sol.n_steps, exact, 1e-9,
                                                                1e-13))


@given(seed=st.integers(0, 2**40), patients=st.lists(st.integers(0, 2**33), min_size=1,
                                                      max_size=5),
       stream=st.sampled_from(sorted(STREAMS)))
def test_fast_streams_give_the_same_numbers_as_each_patients_own_generator(seed, patients,
                                                                           stream):
    fast = PatientStreams(seed, np.array(patients), stream)
    for j, p in enumerate(patients):
        np.testing.assert_array_equal(fast[j].random(6),
                                      patient_rng(seed, p, stream).random(6))


def test_cohort_draws_follow_the_per_patient_definition():
    # the batched draws (shared stream object, uniform runs in one call) must give the
    # numbers of the definition: each patient's own generator, one draw per parameter
    # in name order, then the injury
    from painsim.cohort import _draw

    mixed = painsim.Phenotype(
        name="mixed", description="uniform runs broken by a log-normal and a constant",
        params={"a0": painsim.Uniform(0.1, 0.3), "c_T": painsim.Uniform(0.2, 0.8),
                "g_S": 3.5, "k_E": painsim.LogNormal(1.0, 0.3),
                "m": painsim.Uniform(3.0, 6.0), "w_D": painsim.Uniform(0.5, 1.5)},
        injury=painsim.LogNormal(1.0, 0.5), flares=painsim.Flares(strain_per_day=0.05))
    phenotypes = {**painsim.PHENOTYPE_PRESETS, "mixed": mixed}
    mix = {"chronic_sensitized": 0.2, "recurrent": 0.2, "stress_driven": 0.2,
           "acute_strain": 0.2, "mixed": 0.2}
    cohort = painsim.Cohort(n=40, seed=11, mix=mix, phenotypes=phenotypes, run_in_days=0)
    s = cohort.sample(60.0, first=5, stop=40)
    names = list(mix)
    cum = np.cumsum([mix[k] for k in names])
    for col, i in enumerate(range(5, 40)):
        rng = patient_rng(11, i, "cohort")
        ph = cohort.phenotypes[names[min(int(np.searchsorted(cum, rng.random(),
                                                             side="right")), 4)]]
        assert s.phenotype[col] == ph.name
        for k in sorted(ph.params):
            want = np.clip(_draw(ph.params[k], rng), *PAIN_LOOP.parameters[
                PAIN_LOOP.parameter_index[k]].bounds)
            assert s.params[PAIN_LOOP.parameter_index[k], col] == want
        injury = _draw(ph.injury, rng)
        y0 = PAIN_LOOP.initial_state(1)[:, 0]
        if ph.start == "sensitized":
            continue  # the initial state is the preset's, not drawn
        assert s.y0[PAIN_LOOP.index("D"), col] == y0[PAIN_LOOP.index("D")] + injury
        assert s.flares[col] == ph.flares.draw(patient_rng(11, i, "flares"), 60.0)
    assert "mixed" in set(s.phenotype)
