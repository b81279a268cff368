"""The pain-loop model's required behaviours, parameters, and user-defined models."""

import math

import numpy as np
import pytest

import painsim
from painsim.errors import ParameterError
from painsim.painloop import (
    PAIN_LOOP,
    equilibria,
    local_kick,
    phenotype,
    systemic_kick,
)

from .bounds import pain_bound, state_bound

HOUR = 1 / 24


def _jacobian_norm(y, params=None):
    """Infinity norm of the fast five states' Jacobian at ``y`` (central differences)."""
    P = (params or phenotype("chronic")).as_array(1)
    J = np.empty((5, 5))
    for j in range(5):
        e = np.zeros(y.size)
        e[j] = 1e-6 * max(1.0, abs(y[j]))
        J[:, j] = (PAIN_LOOP.lane_rhs(np.zeros(1), (y + e)[:, None], P)[:5, 0]
                   - PAIN_LOOP.lane_rhs(np.zeros(1), (y - e)[:, None], P)[:5, 0]) / (2 * e[j])
    return np.abs(J).sum(axis=1).max()


def _kicks(P, kick, **kw):
    def on_stop(t, y, lanes, k):
        return kick(y, P[:, lanes], **kw)
    return on_stop


def _high_state(params):
    return equilibria(params)[-1]["state"][:, None]


# --- behaviour 1 -------------------------------------------------------------------------
def test_acute_injury_resolves_on_its_own_within_three_months():
    p = phenotype("acute")
    assert len(equilibria(p)) == 1  # only the pain-free state exists
    sol = PAIN_LOOP.solve((0, 180), p, PAIN_LOOP.initial_state(1, D=2.0),
                          t_eval=[0, 7, 90, 180])
    pain = sol.pain[0]
    assert pain[0] > 5 and pain[1] > 5  # a real injury, painful for at least a week
    assert pain[2] < 1.0 and pain[3] < 1.0


# --- behaviour 2 -------------------------------------------------------------------------
def test_vulnerable_phenotype_is_bistable_with_a_saddle():
    eq = equilibria(phenotype("chronic"))
    assert [e["kind"] for e in eq] == ["stable", "saddle", "stable"]
    low, saddle, high = (e["pain"] for e in eq)
    assert low < 1.0 and high >= 4.0 and low < saddle < high
    for e in eq:  # each is a true steady state of the full right-hand side
        f = PAIN_LOOP.lane_rhs(np.zeros(1), e["state"][:, None], phenotype("chronic")
                               .as_array(1))[:5, 0]
        # root() stops when its step is below xtol 1e-14 relative to |x|: the residual
        # is at most the Jacobian's norm times that step
        assert np.abs(f).max() <= _jacobian_norm(e["state"]) * 1e-14 * max(
            1.0, np.abs(e["state"][:5]).max())
    # the saddle has exactly one unstable direction
    assert np.sum(eq[1]["eigenvalues"].real > 0) == 1


def test_steady_states_persist_when_simulated():
    p = phenotype("chronic")
    for e in (equilibria(p)[0], equilibria(p)[-1]):
        sol = PAIN_LOOP.solve((0, 365), p, e["state"][:, None], t_eval=[365], rtol=1e-9,
                              atol=1e-12)
        # at a stable state local errors are damped: at most n_steps tolerance units,
        # mapped to pain through its gradient
        y = e["state"][:, None]
        err = state_bound(sol.solution.n_steps[0] + 1, y, 1e-9, 1e-12)
        bound = pain_bound(PAIN_LOOP, y, p.as_array(1), err)[0]
        assert abs(sol.pain[0, -1] - e["pain"]) <= bound


# --- behaviour 3 -------------------------------------------------------------------------
def test_single_local_kick_relieves_within_hours_then_relapses_within_weeks():
    p = phenotype("chronic")
    y0 = _high_state(p)
    base = PAIN_LOOP.pain_of(y0, p)[0]
    t_eval = [0, 1 * HOUR, 6 * HOUR, 1, 21, 42]
    sol = PAIN_LOOP.solve((0, 42), p, y0, t_eval=t_eval, stops=[[0.0]],
                          on_stop=_kicks(p.as_array(1), local_kick))
    pain = sol.pain[0]
    assert pain[0] < base - 2  # analgesia pulse at the session
    assert pain[1] < base - 0.5 and pain[2] < base - 0.5  # relief within hours
    assert pain[4] > base - 0.1 and pain[5] > base - 0.05  # back to the high state
    assert sol.state("S")[0, -1] > 0.8  # sensitization never left


# --- behaviour 4 -------------------------------------------------------------------------
def test_systemic_effect_removes_high_state_and_hysteresis_keeps_pain_low():
    p = phenotype("chronic")
    # R enters through the Emax form F = R/(R50 + R) (issue 12), so the saddle-node
    # sits at a smaller R than with the old linear lift (R = 0.03 with the defaults);
    # the property tested is unchanged: a small R keeps both states, a large one
    # leaves only the low state
    kinds = [[e["kind"] for e in equilibria(p, R=R)] for R in (0.0, 0.01, 1.0)]
    assert kinds[0] == kinds[1] == ["stable", "saddle", "stable"]
    assert kinds[2] == ["stable"]  # past the saddle-node only the low state is left
    # a course of 8 weekly systemic sessions, then 3 years without treatment
    y0 = _high_state(p)
    stops = 7.0 * np.arange(8)[None, :]
    sol = PAIN_LOOP.solve((0, 3 * 365), p, y0, t_eval=[0, 56, 3 * 365], stops=stops,
                          on_stop=_kicks(p.as_array(1), systemic_kick, dose=0.15))
    R_end = sol.state("R")[0, -1]
    assert R_end < 0.05 * 8 * 0.15  # the systemic effect has decayed away ...
    assert sol.pain[0, -1] < 1.0  # ... and pain stays low: hysteresis
    # without the course the same patient stays in pain
    untreated = PAIN_LOOP.solve((0, 3 * 365), p, y0, t_eval=[3 * 365])
    assert untreated.pain[0, -1] > 4.0


# --- behaviour 5 -------------------------------------------------------------------------
def test_repeated_local_kicks_can_tip_a_borderline_patient_but_not_a_chronic_one():
    stops = 3.5 * np.arange(12)[None, :]  # twice weekly for 6 weeks
    end = {}
    # "deep": theta0 = 2.5, deep in the high basin. Until issue 12 this was the chronic
    # phenotype (theta0 = 3); with the evidence-fitted time constants (tau_T = 1 d,
    # tau_I = 0.5 d) and the pain threshold N0, six weeks of twice-weekly release tip
    # patients with theta0 >= 2.8, the chronic phenotype included, so the property
    # "deep in the high basin the same course relapses" is tested on a deeper patient.
    for name in ("borderline", "deep"):
        p = phenotype(name) if name != "deep" else phenotype("chronic", theta0=2.5)
        sol = PAIN_LOOP.solve((0, 180), p, _high_state(p), t_eval=[180], stops=stops,
                              on_stop=_kicks(p.as_array(1), local_kick))
        once = PAIN_LOOP.solve((0, 180), p, _high_state(p), t_eval=[180],
                               stops=stops[:, :1], on_stop=_kicks(p.as_array(1), local_kick))
        end[name] = (sol.pain[0, -1], once.pain[0, -1])
    assert end["borderline"][0] < 1.0  # repeated kicks: tipped into the low state
    assert end["borderline"][1] > 4.0  # a single kick is not enough
    assert end["deep"][0] > 4.0  # deep in the high basin the same course relapses


def test_zero_guarding_gain_is_allowed_and_removes_the_reflex():
    p = phenotype("chronic", g_T=0.0)
    y0 = _high_state(phenotype("chronic"))
    sol = PAIN_LOOP.solve((0, 30), p, y0, t_eval=[30])
    assert sol.state("T")[0, -1] < 0.06  # relaxes towards baseline tension T0


# --- parameters --------------------------------------------------------------------------
def test_out_of_range_parameter_names_name_value_and_range():
    with pytest.raises(ParameterError) as exc:
        PAIN_LOOP.params(tau_S=-3.0)
    msg = str(exc.value)
    assert "tau_S" in msg and "-3.0" in msg and "[1, 365] day" in msg
    assert exc.value.name == "tau_S" and exc.value.value == -3.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, "abc", [[1.0]]])
def test_non_finite_or_malformed_parameter_is_refused(bad):
    with pytest.raises(ParameterError, match="theta0"):
        PAIN_LOOP.params(theta0=bad)


def test_per_lane_array_out_of_range_reports_the_bad_value():
    with pytest.raises(ParameterError, match=r"12\.0"):
        PAIN_LOOP.params(theta0=np.array([3.0, 12.0]))


def test_unknown_parameter_suggests_a_close_match():
    with pytest.raises(ParameterError, match="did you mean 'tau_S'"):
        PAIN_LOOP.params(tau_s=21.0)


def test_parameter_sets_are_immutable_and_replace_validates():
    p = PAIN_LOOP.params()
    with pytest.raises(AttributeError):
        p.tau_S = 5.0
    assert p.replace(tau_S=30.0).tau_S == 30.0 and p.tau_S == 21.0
    with pytest.raises(ParameterError):
        p.replace(tau_S=0.0)
    arr = PAIN_LOOP.params(theta0=np.array([3.0, 4.0])).theta0
    with pytest.raises(ValueError):
        arr[0] = 9.0


def test_every_parameter_default_is_inside_its_plausible_range():
    for p in PAIN_LOOP.parameters:
        assert p.plausible[0] <= p.default <= p.plausible[1], p.name
        assert p.unit and p.description and p.basis, p.name


def test_unknown_phenotype_lists_known_ones():
    with pytest.raises(KeyError, match="acute"):
        phenotype("nonsense")


# --- user-defined models -----------------------------------------------------------------
def _user_model():
    def rhs(t, y, p):
        x, v = y  # pain drive and a slow vulnerability
        return np.stack([p.gain * v - x / p.tau, -v / p.tau_v])

    return painsim.Model(
        name="two-state",
        states=(painsim.State(name="x", unit="1", description="drive", initial=1.0),
                painsim.State(name="v", unit="1", description="vulnerability",
                              initial=1.0)),
        parameters=(
            painsim.Parameter(name="tau", default=2.0, unit="day", description="decay",
                              bounds=(0.01, 100), plausible=(1, 5)),
            painsim.Parameter(name="tau_v", default=10.0, unit="day", description="decay",
                              bounds=(0.01, 100), plausible=(5, 20)),
            painsim.Parameter(name="gain", default=0.5, unit="1/day", description="gain",
                              bounds=(0, 10), plausible=(0, 1)),
        ),
        rhs=rhs,
        pain=lambda y, p: 10 * y[0] / (1 + y[0]),
    )


def test_user_model_runs_on_the_same_solver_with_stops():
    m = _user_model()
    p = m.params(gain=np.array([0.0, 0.5]))
    sol = m.solve((0, 10), p, t_eval=[10], stops=[[5.0], [5.0]],
                  on_stop=lambda t, y, lanes, k: y * [[0.5], [1.0]], rtol=1e-10, atol=1e-12)
    # lane 0 (gain 0): x = exp(-t/2), halved at t = 5
    # decay: relative error at most n_steps tolerance units (rtol 1e-10)
    np.testing.assert_allclose(sol.state("x")[0, -1], 0.5 * np.exp(-5.0),
                               rtol=1e-10 * (sol.solution.n_steps[0] + 1))
    assert sol.pain.shape == (2, 1)
    assert "tau_v" in m.describe() and "two-state" in m.describe()
    with pytest.raises(ParameterError, match="tau_v"):
        m.params(tau_v=0.0)


def test_model_rejects_duplicate_names_and_wrong_y0():
    m = _user_model()
    with pytest.raises(ValueError, match="duplicate"):
        painsim.Model(name="bad", states=(m.states[0], m.states[0]), parameters=(),
                      rhs=m.rhs, pain=m.pain)
    with pytest.raises(ValueError, match="2 states"):
        m.solve((0, 1), y0=np.ones((3, 1)))
    with pytest.raises(KeyError, match="states: x, v"):
        m.index("T")


def test_describe_shows_every_parameter_with_unit_and_equations():
    text = PAIN_LOOP.describe()
    for p in PAIN_LOOP.parameters:
        assert p.name in text
    for word in ("dS/dt", "theta = theta0", "P = 10", "References", "day", "pain"):
        assert word in text


# --- the equations text is the model ---------------------------------------------------
def _equations_from_text(text):
    """The assignments of painloop.EQUATIONS (``dX/dt = ...``, ``name = ...``) and its Hill
    function, parsed from the text a user reads in ``painsim describe``: an expression
    ends where two spaces or a comment begin."""
    import re

    block = text[text.index("H(x; K, n)"):text.index("(the loop")]
    hill = re.search(r"H\(x; K, n\) = (.+?)\s{2,}", block).group(1)
    body = block[block.index("\n"):]
    found = re.findall(r"(?<![\w)])((?:d\w+/dt)|\w+)\s*=\s*(.+?)(?=,\s{2,}|\s{2,}|\n|$)", body)
    return hill, dict(found)


def test_the_equations_text_is_the_models_rhs_and_pain():
    # EQUATIONS is the one definition a reader sees; rhs and pain are checked against it
    # by evaluating the text (with ^ as a power) at random states and parameters
    import re

    from painsim.painloop import EQUATIONS, pain, rhs

    hill_text, eqs = _equations_from_text(EQUATIONS)
    states = PAIN_LOOP.state_names
    assert {f"d{s}/dt" for s in states} <= set(eqs), "every state has its equation"
    assert {"theta", "F", "E", "N", "u", "L", "P"} <= set(eqs)

    def py(expr):
        return expr.replace("^", "**").replace(";", ",").replace("max(", "np.maximum(")

    rng = np.random.default_rng(7)
    n = 500
    p = {q.name: rng.uniform(*q.plausible, n) for q in PAIN_LOOP.parameters}
    y = np.abs(rng.normal(0.0, 2.0, (len(states), n)))  # R and Q >= 0: the model's range
    y[states.index("S")] = rng.uniform(0, 1, n)
    env = {"np": np, **p, **dict(zip(states, y, strict=True))}
    env["H"] = eval(f"lambda x, K, n: {py(hill_text)}", env)
    defs = {k: v for k, v in eqs.items() if "/dt" not in k}
    while defs:  # the definitions, each once its inputs are known
        ready = {k: v for k, v in defs.items()
                 if all(w not in defs or w == k for w in re.findall(r"\w+", v))}
        assert ready, f"circular definitions: {sorted(defs)}"
        for k, v in ready.items():
            env[k] = eval(py(v), env)
            del defs[k]
    want = np.stack([np.broadcast_to(eval(py(eqs[f"d{s}/dt"]), env), (n,))
                     for s in states])
    params = PAIN_LOOP.params(**p)
    got = rhs(np.zeros(n), y, params)
    # the two evaluate the same real function in a different order (Hill as 1/(1 +
    # (K/x)^n), pain as L + (10 - L) Q/(1 + Q)): each value is a few tens of roundings
    # of numbers up to ~100, divided by a time constant, so they agree to 100 ulps of
    # (100 / tau) -- far below any difference in a term of the equations
    tau = np.min([p[k] for k in p if k.startswith("tau_")], axis=0)
    assert np.all(np.abs(got - want) <= 100 * np.finfo(float).eps * 100 / tau)
    np.testing.assert_allclose(pain(y, params), env["P"], rtol=0,
                               atol=100 * np.finfo(float).eps * 10)
