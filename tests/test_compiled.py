"""The optional compiled (Numba) path agrees with the NumPy reference to within rounding,
and the NumPy path works without Numba."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import painsim as ps
from painsim.compiled import WIDTH, LaneForm, integrate_pain
from painsim.errors import ParameterError
from painsim.painloop import PAIN_LOOP, PARAMETERS, lane_pain, lane_rhs, local_kick

# Agreement between the backends. Both run the same method and take the same steps
# (asserted: equal n_steps and n_rejected), so they differ only by rounding: compiled
# exp/log/pow and the order of a few additions differ by a few ulps per operation. Bound:
# ROUND_ULPS ulps of the pain scale (10 points) per step, added over a lane's steps without
# amplification (the model relaxes towards its attractors between stops).
ROUND_ULPS = 16


def round_bound(n_steps):
    """Largest rounding disagreement in pain points after ``n_steps`` steps.

    Per step: the arithmetic (ROUND_ULPS ulps of 10 points), plus the rounding of the step
    size (h comes from err**(-1/5), err a difference of two solutions of the size of the
    tolerance: relative ROUND_ULPS eps / rtol in err, a fifth of that in h) times the local
    error it moves (at most rtol x 10 points): ROUND_ULPS eps 10 / 5, whatever rtol is.
    """
    per_step = ROUND_ULPS * (np.spacing(10.0) + np.finfo(float).eps * 10.0 / 5)
    return per_step * (np.asarray(n_steps) + 1)


# Where step counts are not exposed (simulate), agreement is asked in tolerance units:
# 1e-3 of the solver's local tolerance on the pain scale (rtol 1e-6 x 10 points). Rounding
# accumulated over even 10^4 steps (round_bound(10**4) = 2.8e-10) is 36 times smaller; a
# difference in semantics (an effect applied at another time or size) is far larger.
AGREE = 1e-3 * 1e-6 * 10.0  # pain points
# Times located from crossings move by the pain disagreement over the pain slope; the
# outcome definitions do not resolve tangencies slower than 0.01 points/day (a day's drift),
# so at such crossings day columns agree within AGREE / 0.01 days.
AGREE_DAYS = AGREE / 0.01


def _plausible(n, seed):
    rng = np.random.default_rng(seed)
    P = PAIN_LOOP.params(**{p.name: rng.uniform(*p.plausible, n)
                            for p in PARAMETERS}).as_array(n)
    y = np.stack([rng.uniform(0, 2, n), rng.uniform(0, 2, n), rng.uniform(0, 1, n),
                  rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 0.5, n),
                  rng.uniform(0, 2, n), rng.uniform(0, 0.1, n), rng.uniform(0, 1, n),
                  rng.uniform(0, 1, n)])
    return P, y


def test_lane_form_parameter_rows_follow_the_model_order():
    from painsim import painloop
    for i, p in enumerate(PARAMETERS):
        assert getattr(painloop, "_" + p.name.upper()) == i


@given(st.integers(0, 2**32 - 1))
def test_lane_form_equals_the_vectorized_model_in_plain_python(seed):
    # no Numba needed: the lane functions are ordinary Python
    P, y = _plausible(8, seed)
    y[:3, 0] = 0.0  # pain exactly 0: the Hill terms' log(0) branch
    f = PAIN_LOOP.lane_rhs(np.zeros(8), y, P)
    pn = PAIN_LOOP.pain_of(y, P)
    for i in range(8):
        dy = np.empty(y.shape[0])
        lane_rhs(0.0, y[:, i].copy(), P[:, i].copy(), dy)
        np.testing.assert_array_equal(dy, f[:, i])
        assert lane_pain(y[:, i], P[:, i]) == pn[i]


try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False
# only the tests that run compiled code need Numba; the rest run without it
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="needs painsim[fast] (numba)")


def _events(n, seed):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 120, (n, 5)), axis=1)
    times[:, 1] = times[:, 0]  # two stops at one time
    times[: n // 2, 4] = np.inf  # padded rows
    return times


def _problem(n, seed):
    """``n`` plausible patients with stops (:func:`_events`) and two crossing levels
    (70% and 90% of each one's pain at day 0)."""
    P, y0 = _plausible(n, seed)
    levels = np.stack([PAIN_LOOP.pain_of(y0, P) * 0.7, PAIN_LOOP.pain_of(y0, P) * 0.9])
    return P, y0, _events(n, seed + 1), levels


def _on_stop(P):
    def on_stop(t, y, lanes, k):
        out = local_kick(y, P[:, lanes], release=0.6)
        P[PAIN_LOOP.parameter_index["theta0"], lanes[k == 2]] *= 1.2  # a change of drivers
        out[0, k == 3] += 1.0  # a flare
        return out
    return on_stop


@needs_numba
def test_compiled_integration_agrees_with_numpy_to_rounding_with_stops_and_crossings():
    n = 60
    P, y0, stops, levels = _problem(n, 3)
    t_eval = np.arange(0.0, 151.0)
    P_np, P_nb = P.copy(), P.copy()
    a = ps.integrate(lambda t, y, P_, L: PAIN_LOOP.lane_rhs(t, y, P_), (0.0, 150.0), y0,
                     args=(P_np, levels), t_eval=t_eval, stops=stops, on_stop=_on_stop(P_np),
                     crossings=lambda t, y, P_, L: PAIN_LOOP.pain_of(y, P_)[None] - L,
                     save=lambda t, y, P_, L: PAIN_LOOP.pain_of(y, P_)[None])
    b = integrate_pain(PAIN_LOOP, (0.0, 150.0), y0, P_nb, levels=levels, t_eval=t_eval,
                       stops=stops, on_stop=_on_stop(P_nb))
    assert a.success and b.success
    np.testing.assert_array_equal(a.n_steps, b.n_steps)
    np.testing.assert_array_equal(a.n_rejected, b.n_rejected)
    bound = round_bound(a.n_steps + a.n_rejected)  # per lane, pain points
    assert np.all(np.abs(a.y[0] - b.y[0]) <= bound[:, None])
    assert np.all(np.abs(a.y_final - b.y_final) <= bound)  # states are O(1-10) too
    np.testing.assert_array_equal(P_np, P_nb)  # the same drivers changed
    np.testing.assert_array_equal(a.n_stops, b.n_stops)
    assert a.crossings["t"].size == b.crossings["t"].size > n
    for k in ("lane", "which", "direction"):
        np.testing.assert_array_equal(a.crossings[k], b.crossings[k])
    # Each backend brackets the sign change of its own g to 4 ulps of t (integrate's
    # documented rule); the two g differ by at most the pain bound, which moves the root
    # by bound / |g'|. The slope g' is taken from the NumPy path's dense output.
    ta, tb, lane = a.crossings["t"], b.crossings["t"], a.crossings["lane"]
    jump = (stops[lane] == ta[:, None]).any(axis=1)  # from a stop: at its time exactly
    np.testing.assert_array_equal(ta[jump], tb[jump])
    delta = 1e-4  # days; a central difference, exact up to O(delta**2) curvature terms
    probe = np.unique(np.concatenate([ta[~jump] - delta, ta[~jump] + delta]))
    c = ps.integrate(lambda t, y, P_: PAIN_LOOP.lane_rhs(t, y, P_), (0.0, 150.0), y0,
                     args=(P.copy(),), t_eval=probe, stops=stops, on_stop=_on_stop(P.copy()),
                     save=lambda t, y, P_: PAIN_LOOP.pain_of(y, P_)[None])
    i_lo = np.searchsorted(probe, ta[~jump] - delta)
    i_hi = np.searchsorted(probe, ta[~jump] + delta)
    ln = lane[~jump]
    slope = np.abs(c.y[0, ln, i_hi] - c.y[0, ln, i_lo]) / (2 * delta)
    allowed = bound[ln] / slope + 8 * np.spacing(np.abs(ta[~jump]))
    assert np.all(np.abs(ta[~jump] - tb[~jump]) <= allowed)


@needs_numba
def test_compiled_failures_are_per_lane_like_numpy():
    P, y0 = _plausible(3, 5)
    kw = dict(t_eval=np.arange(0.0, 31.0), max_steps=12, rtol=1e-9)
    a = ps.integrate(lambda t, y, P_: PAIN_LOOP.lane_rhs(t, y, P_), (0.0, 30.0), y0,
                     args=(P,), save=lambda t, y, P_: PAIN_LOOP.pain_of(y, P_)[None], **kw)
    b = integrate_pain(PAIN_LOOP, (0.0, 30.0), y0, P, **kw)
    np.testing.assert_array_equal(a.status, b.status)
    assert np.all(b.status == -1)
    # t_final sums the same steps, whose sizes come from h * 0.9 * err**(-1/5): err is a
    # difference of two solutions, of the size of the tolerance (rtol 1e-9), so rounding
    # of a few ulps in its terms is up to ROUND_ULPS * eps / rtol relative in err and a
    # fifth of that in h, compounded over the steps
    rel = kw["max_steps"] * ROUND_ULPS * np.finfo(float).eps / kw["rtol"] / 5
    np.testing.assert_allclose(a.t_final, b.t_final, rtol=rel, atol=0)
    np.testing.assert_array_equal(np.isnan(a.y), np.isnan(b.y))


def _oscillator():
    """A user model in lane form: pain 5 + 4 sin(w t) written as a rotating 2-state
    system, crossing a level many times (more than the loop's crossing buffer)."""

    def rhs(t, y, p):
        return np.stack([-p.w * y[1], p.w * y[0]])

    def pain(y, p):
        return 5.0 + 4.0 * y[1]

    def lane_rhs_(t, y, p, dy):
        dy[0] = -p[0] * y[1]
        dy[1] = p[0] * y[0]

    def lane_pain_(y, p):
        return 5.0 + 4.0 * y[1]

    return ps.Model(
        name="oscillator",
        states=(ps.State(name="c", unit="1", description="cosine", initial=1.0, lower=-1),
                ps.State(name="s", unit="1", description="sine", initial=0.0, lower=-1)),
        parameters=(ps.Parameter(name="w", default=1.0, unit="1/day", description="rate",
                                 bounds=(0.01, 10), plausible=(0.1, 2)),),
        rhs=rhs, pain=pain, lane_form=LaneForm(rhs=lane_rhs_, pain=lane_pain_))


@needs_numba
def test_user_model_in_lane_form_and_many_crossings_per_lane():
    m = _oscillator()
    w = np.array([0.5, 1.0, 2.0])
    P = m.params(w=w).as_array(3)
    y0 = m.initial_state(3)
    levels = np.full((1, 3), 7.0)  # sin = 1/2: two crossings per period
    b = integrate_pain(m, (0.0, 60.0), y0, P, levels=levels, t_eval=np.arange(61.0),
                       rtol=1e-10, atol=1e-12)
    a = ps.integrate(lambda t, y, P_, L: m.lane_rhs(t, y, P_), (0.0, 60.0), y0,
                     args=(P, levels), t_eval=np.arange(61.0), rtol=1e-10, atol=1e-12,
                     crossings=lambda t, y, P_, L: m.pain_of(y, P_)[None] - L,
                     save=lambda t, y, P_, L: m.pain_of(y, P_)[None])
    # a rotation neither damps nor amplifies errors, so the global error is at most the sum
    # of the local errors, each below one tolerance unit (rtol |y| + atol, |y| <= 1); pain
    # is 5 + 4 y[1]
    err = 4 * (1e-10 + 1e-12) * (b.n_steps + b.n_rejected)  # pain points, per lane
    exact = 5 + 4 * np.sin(np.outer(w, np.arange(61.0)))
    assert np.all(np.abs(b.y[0] - exact) <= err[:, None])
    assert np.all(np.abs(a.y[0] - b.y[0]) <= round_bound(a.n_steps + a.n_rejected)[:, None])
    # analytic crossing times: sin(w t) = 1/2
    for lane in range(3):
        got = b.crossings["t"][b.crossings["lane"] == lane]
        k = np.arange(40)
        want = np.sort(np.concatenate([(np.pi / 6 + 2 * np.pi * k) / w[lane],
                                       (5 * np.pi / 6 + 2 * np.pi * k) / w[lane]]))
        want = want[want < 60.0]
        assert got.size == want.size > 8  # more than the buffer of 8 per lane
        # the pain error moves a crossing by err / |dP/dt|, with |dP/dt| = 4 w cos(pi/6)
        # at sin = 1/2; plus the bracket of 4 ulps of t
        allowed = err[lane] / (4 * w[lane] * np.cos(np.pi / 6)) + 4 * np.spacing(60.0)
        assert np.all(np.abs(got - want) <= allowed)


def _study():
    weekly = ps.Fixed(start_day=3, every_days=7, sessions=4)
    arms = [ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=weekly)),
            ps.Arm(name="acu", protocol=ps.Protocol(intervention=ps.acupuncture(),
                                                    schedule=weekly, p_miss=0.2)),
            ps.Arm(name="as needed", protocol=ps.Protocol(
                intervention=ps.dry_needling(), schedule=ps.AsNeeded(threshold=4.0)))]
    cohort = ps.Cohort(n=24, seed=3, mix={"chronic_sensitized": 0.5, "recurrent": 0.5})
    return arms, cohort


@needs_numba
def test_simulate_with_numba_backend_agrees_with_numpy():
    arms, cohort = _study()
    a = ps.simulate(arms, cohort, horizon_days=90)
    b = ps.simulate(arms, cohort, horizon_days=90, backend="numba", workers=2)
    assert b.timings["compile_s"] >= 0.0
    for arm in a.arms:
        assert np.max(np.abs(a.pain[arm] - b.pain[arm])) <= AGREE
    num = a.patients.select_dtypes("number").columns
    pain = ["baseline_pain", "pain_short_term", "change_short_term"]  # points
    days = [c for c in num if "day" in c]  # located crossings or event days
    exact = [c for c in num if c not in days and c not in pain]  # counts, ids, status
    assert days and pain and exact
    np.testing.assert_array_equal(a.patients[exact], b.patients[exact])
    np.testing.assert_allclose(a.patients[pain].to_numpy(float),
                               b.patients[pain].to_numpy(float), rtol=0, atol=AGREE)
    np.testing.assert_allclose(a.patients[days].to_numpy(float),
                               b.patients[days].to_numpy(float), rtol=0, atol=AGREE_DAYS)
    assert a.events[["arm", "patient", "kind"]].equals(b.events[["arm", "patient", "kind"]])


def test_backend_is_checked():
    arms, cohort = _study()
    with pytest.raises(ParameterError, match="numpy, numba"):
        ps.simulate(arms, cohort, horizon_days=30, backend="fortran")
    plain = ps.Model(name="plain", states=PAIN_LOOP.states, parameters=PAIN_LOOP.parameters,
                     rhs=PAIN_LOOP.rhs, pain=PAIN_LOOP.pain, starts=PAIN_LOOP.starts,
                     injury_state=PAIN_LOOP.injury_state)
    with pytest.raises(ParameterError, match="no lane_form"):
        ps.simulate(arms, ps.Cohort(n=2, model=plain), horizon_days=30, backend="numba")


def test_numpy_path_works_without_numba_and_numba_backend_says_how_to_get_it():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import painsim as ps\n"
        "arm = ps.Arm(name='dn', protocol=ps.Protocol(intervention=ps.dry_needling(),"
        " schedule=ps.Fixed(sessions=2)))\n"
        "res = ps.simulate([arm], ps.Cohort(n=3, seed=1), horizon_days=20)\n"
        "assert res.pain['dn'].shape == (3, 21)\n"
        "try:\n"
        "    ps.simulate([arm], ps.Cohort(n=3, seed=1), horizon_days=20, backend='numba')\n"
        "except ps.ParameterError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert 'pip install "painsim[fast]"' in out.stdout


def _same_solution(a, b):
    for k in ("y", "t_final", "y_final", "status", "n_steps", "n_rejected", "n_stops"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert a.nfev == b.nfev and list(a.message) == list(b.message)
    for k in a.crossings:
        np.testing.assert_array_equal(a.crossings[k], b.crossings[k])


@needs_numba
def test_threads_and_widths_give_the_same_numbers_bit_for_bit():
    # lanes split into blocks (more lanes than one block: blocks of 512) advanced by
    # several threads, each block's lanes advanced side by side in slots of ``width``
    # (a lane leaving on a stop, a failure or a full crossing buffer is replaced by the
    # next): a lane's operations do not depend on its neighbours, so every number is
    # the same as one lane at a time
    n = 1300
    P, y0, stops, levels = _problem(n, 11)
    kw = dict(levels=levels, t_eval=np.arange(0.0, 151.0), stops=stops)
    P1 = P.copy()
    work = integrate_pain(PAIN_LOOP, (0.0, 150.0), y0, P1, on_stop=_on_stop(P1), **kw)
    kw["max_steps"] = int(np.median(work.n_steps + work.n_rejected))  # about half fail
    P1 = P.copy()
    one = integrate_pain(PAIN_LOOP, (0.0, 150.0), y0, P1, on_stop=_on_stop(P1), width=1,
                         **kw)
    assert one.crossings["t"].size > n and (one.status == -1).any()  # failures too
    for threads, width in ((1, 7), (2, 1), (2, WIDTH), (3, 100)):
        Pk = P.copy()
        _same_solution(one, integrate_pain(PAIN_LOOP, (0.0, 150.0), y0, Pk,
                                           on_stop=_on_stop(Pk), threads=threads,
                                           width=width, **kw))
        np.testing.assert_array_equal(P1, Pk)  # the same drivers changed
    # a user model with more crossings per lane than the loop's buffer (re-entries)
    m = _oscillator()
    Pm = m.params(w=np.linspace(0.5, 2.0, 700)).as_array(700)
    kw = dict(levels=np.full((1, 700), 7.0), t_eval=np.arange(61.0))
    ref = integrate_pain(m, (0.0, 60.0), m.initial_state(700), Pm, width=1, **kw)
    for threads, width in ((1, WIDTH), (2, 3)):
        _same_solution(ref, integrate_pain(m, (0.0, 60.0), m.initial_state(700), Pm,
                                           threads=threads, width=width, **kw))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            integrate_pain(PAIN_LOOP, (0.0, 1.0), y0[:, :2], P[:, :2].copy(), threads=bad)
    for bad in (0, -3, 2.0, True, 10**6):
        with pytest.raises(ValueError, match=r"width must be an integer in \[1, 4096\]"):
            integrate_pain(PAIN_LOOP, (0.0, 1.0), y0[:, :2], P[:, :2].copy(), width=bad)


@needs_numba
def test_simulate_with_threads_is_bit_identical_and_numpy_refuses_threads(monkeypatch):
    import painsim.compiled

    monkeypatch.setattr(painsim.compiled, "_BLOCK", 5)  # 24 patients: several blocks
    arms, cohort = _study()
    a = ps.simulate(arms, cohort, horizon_days=90, backend="numba")
    b = ps.simulate(arms, cohort, horizon_days=90, backend="numba", threads=2, workers=2)
    for arm in a.arms:
        np.testing.assert_array_equal(a.pain[arm], b.pain[arm])
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.events, b.events)
    with pytest.raises(ParameterError, match="threads"):
        ps.simulate(arms, cohort, horizon_days=90, threads=2)


# --- the compiled loop kept on disk (Numba's cache) ---------------------------------------
_CACHED_RUN = """
import hashlib, json
import numpy as np
import painsim as ps
from painsim.compiled import integrate_pain, kernel
from painsim.painloop import PAIN_LOOP
rng = np.random.default_rng(3)
n = 16
P = PAIN_LOOP.params().as_array(n)
y0 = PAIN_LOOP.initial_state(n) + rng.uniform(0, 1, (len(PAIN_LOOP.states), n))
sol = integrate_pain(PAIN_LOOP, (0.0, 60.0), y0, P, t_eval=np.arange(61.0),
                     stops=np.full((n, 1), 20.0), on_stop=lambda t, y, lanes, k: y * 0.9,
                     levels=np.full((1, n), 3.0))
k = kernel(PAIN_LOOP.lane_form)
print(json.dumps({"hits": sum(k.stats.cache_hits.values()),
                  "misses": sum(k.stats.cache_misses.values()),
                  "pain": hashlib.sha256(sol.y.tobytes()).hexdigest(),
                  "crossings": hashlib.sha256(sol.crossings["t"].tobytes()).hexdigest()}))
"""


@needs_numba
def test_the_compiled_loop_is_loaded_from_disk_by_a_later_process(tmp_path):
    import json

    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run():
        out = subprocess.run([sys.executable, "-c", _CACHED_RUN], capture_output=True,
                             text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert (first["hits"], first["misses"]) == (0, 1)  # compiled, and kept on disk
    assert (second["hits"], second["misses"]) == (1, 0)  # loaded, not compiled
    # the same machine code: the same numbers, bit for bit
    assert (second["pain"], second["crossings"]) == (first["pain"], first["crossings"])
    assert any(p.suffix == ".nbc" for p in tmp_path.rglob("*"))


def _lane_form_reading(namespace: dict) -> LaneForm:
    """A lane form whose rhs reads the global ``RATE`` of ``namespace``."""
    src = ("def rhs(t, y, p, dy):\n    dy[0] = -RATE * p[0] * y[0]\n"
           "def pain(y, p):\n    return y[0]\n")
    exec(src, namespace)
    return LaneForm(rhs=namespace["rhs"], pain=namespace["pain"])


def test_the_cache_key_changes_with_everything_the_lane_functions_read():
    from painsim.compiled import cache_key

    base = cache_key(_lane_form_reading({"RATE": 1.0}))
    assert base is not None and len(base) == 64
    assert cache_key(_lane_form_reading({"RATE": 1.0})) == base  # same code, same values
    assert cache_key(_lane_form_reading({"RATE": 2.0})) != base  # a constant changed
    assert cache_key(_lane_form_reading({"RATE": np.array(1.0)})) != base
    ns = {"RATE": 1.0}
    exec("def rhs(t, y, p, dy):\n    dy[0] = -RATE * p[0] * y[0] * 1.0\n"
         "def pain(y, p):\n    return y[0]\n", ns)
    assert cache_key(LaneForm(rhs=ns["rhs"], pain=ns["pain"])) != base  # the code changed

    def helper(x):
        return 2.0 * x

    def rhs(t, y, p, dy):  # reads a function through its closure: keyed by its code
        dy[0] = -helper(y[0])

    def pain(y, p):
        return y[0]

    keyed = cache_key(LaneForm(rhs=rhs, pain=pain))
    assert keyed is not None and keyed != base
    # an object whose compiled form cannot be keyed: no key, the loop is not cached
    assert cache_key(_lane_form_reading({"RATE": object()})) is None
    assert cache_key(PAIN_LOOP.lane_form) is not None  # the built-in model is cached


# --- stop effects applied inside the compiled loop (StopEffects) ---------------------

def _kick(y, p, dose):
    """A lane-form pulse of the oscillator: plain arithmetic, so the NumPy mirror below
    rounds exactly as the compiled loop."""
    y[0] = y[0] * (1.0 - 0.25 * dose)
    y[1] = y[1] + 0.1 * dose * p[0]


def _kicked_oscillator():
    m = _oscillator()

    def kick(y, P, dose):  # the vectorized pulse (Model.pulses)
        y = np.array(y, dtype=float)
        y[0] = y[0] * (1.0 - 0.25 * dose)
        y[1] = y[1] + 0.1 * dose * P[0]
        return y

    return ps.Model(name="kicked oscillator", states=m.states, parameters=m.parameters,
                    rhs=m.rhs, pain=m.pain, pulses={"kick": kick},
                    lane_form=LaneForm(rhs=m.lane_form.rhs, pain=m.lane_form.pain,
                                       pulses={"kick": _kick}))


def _random_program(rng, n, width, t1):
    """Stops (at t0, at t1, two at one time, padding) and a random StopEffects of every
    operation: state add and scale, the parameter w scaled past both of its bounds
    (0.01, 10), the pulse."""
    from painsim.compiled import StopEffects

    times = np.sort(rng.uniform(0.0, t1, (n, width)), axis=1)
    times[rng.random(n) < 0.2, 0] = 0.0
    times[:, 2] = times[:, 1]
    times[rng.random(n) < 0.2, -2:] = t1
    times[rng.random(n) < 0.3, -1] = np.inf
    times = np.sort(times, axis=1)
    count = rng.integers(0, 4, (n, width))
    start = (np.cumsum(count.ravel()) - count.ravel()).reshape(n, width)
    m = int(count.sum())
    code = rng.integers(0, 5, m)
    index = np.where(code <= 1, rng.integers(0, 2, m), 0)
    value = np.where(code == 0, rng.uniform(-0.8, 0.8, m),
                     np.where(code == 3, rng.choice([1e-3, 0.7, 1.3, 40.0], m),
                              rng.uniform(0.0, 2.0, m)))
    lo, hi = np.where(code >= 2, 0.01, -np.inf), np.where(code >= 2, 10.0, np.inf)
    return times, StopEffects(start=start, count=count, code=code, index=index,
                              value=value, lo=lo, hi=hi)


def _mirror(e, P):
    """``on_stop`` doing in Python what the compiled loop does with ``e``: the same
    operations in the same order, on float64 scalars (so the same roundings)."""
    def on_stop(t, y, lanes, k):
        out = np.array(y, dtype=float)
        for col, (i, kk) in enumerate(zip(lanes, k, strict=True)):
            yl, pl = out[:, col].copy(), P[:, i]
            for o in range(e.start[i, kk], e.start[i, kk] + e.count[i, kk]):
                c, j, v = e.code[o], e.index[o], e.value[o]
                if c == 0:
                    yl[j] = yl[j] + v
                elif c == 1:
                    yl[j] = yl[j] * v
                elif c == 4:
                    _kick(yl, pl, v)
                else:
                    x = pl[j] + v if c == 2 else pl[j] * v
                    pl[j] = min(max(x, e.lo[o]), e.hi[o])
            out[:, col] = yl
        return out
    return on_stop


@needs_numba
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2]), st.sampled_from([1, 5, WIDTH]))
def test_stop_effects_in_the_loop_equal_on_stop_bit_for_bit(seed, threads, width):
    # The loop applies the program where it lands on a stop, logs the jump's crossings
    # and restarts, in Driver.settle's order; a lane is handed to Python only when its
    # crossing buffer is full (also while it sits on a stop). The same operations in the
    # same order round alike, so every number must be equal.
    m = _kicked_oscillator()
    rng = np.random.default_rng(seed)
    n, t1 = 600, 40.0  # more lanes than one block of the threads (512)
    P = m.params(w=rng.uniform(0.3, 2.0, n)).as_array(n)
    times, e = _random_program(rng, n, 6, t1)
    kw = dict(levels=np.stack([np.full(n, 7.0), np.full(n, 3.5)]), stops=times,
              t_eval=np.arange(0.0, t1 + 1), rtol=1e-8, atol=1e-10, threads=threads)
    y0 = m.initial_state(n)
    P_py, P_in = P.copy(), P.copy()
    a = integrate_pain(m, (0.0, t1), y0, P_py, on_stop=_mirror(e, P_py), **kw)
    # the lanes advanced side by side (``width`` of them) in the effects run
    b = integrate_pain(m, (0.0, t1), y0, P_in, effects=e, width=width, **kw)
    _same_solution(a, b)
    np.testing.assert_array_equal(P_py, P_in)  # the same drivers changed
    assert a.n_stops.sum() == np.isfinite(times).sum()
    # many crossings per lane (the buffer of 8 fills and is handed over many times)
    assert np.bincount(b.crossings["lane"], minlength=n).mean() > 16


@needs_numba
def test_simulate_applies_sessions_in_the_loop_as_in_python(monkeypatch):
    # the engine builds a StopEffects program for the built-in model (dry needling's
    # analgesia pulse, acupuncture's changes of drivers, flares); forcing the Python
    # on_stop instead must give the same study. They may differ only where the pulse's
    # exp2 is rounded (compiled or NumPy), so pain agrees within AGREE (see the top)
    # and every count, status and day is the same.
    from painsim import engine

    arms, cohort = _study()
    built = []
    real = engine.stop_program

    def counting(*args):
        prog = real(*args)
        built.append(prog is not None)
        return prog

    monkeypatch.setattr(engine, "stop_program", counting)
    inline = ps.simulate(arms, cohort, horizon_days=90, backend="numba")
    assert built and all(built)
    monkeypatch.setattr(engine, "stop_program", lambda *args: None)
    python = ps.simulate(arms, cohort, horizon_days=90, backend="numba")
    for arm in inline.arms:
        assert np.max(np.abs(inline.pain[arm] - python.pain[arm])) <= AGREE
    pain = ["baseline_pain", "pain_short_term", "change_short_term"]
    num = [c for c in inline.patients.select_dtypes("number").columns if c not in pain]
    np.testing.assert_allclose(inline.patients[num].to_numpy(float),
                               python.patients[num].to_numpy(float), rtol=0,
                               atol=AGREE_DAYS, equal_nan=True)
    pd.testing.assert_frame_equal(inline.summary, python.summary, check_exact=False,
                                  atol=AGREE_DAYS)


def test_a_pulse_without_a_lane_form_is_applied_in_python():
    from painsim.effects import FlareTable, SessionBook, stop_program, stop_table

    m = _kicked_oscillator()
    bare = ps.Model(name="bare", states=m.states, parameters=m.parameters, rhs=m.rhs,
                    pain=m.pain, pulses=m.pulses,
                    lane_form=LaneForm(rhs=m.lane_form.rhs, pain=m.lane_form.pain))
    iv = ps.Intervention(name="kick", lever="local", effects=(
        ps.Effect(target="kick", op="pulse", value=1.0),
        ps.Effect(target="w", op="scale", value=2.0)))
    book = SessionBook(interventions=(iv,))
    book.add(ps.effects.Sessions(lanes=np.array([0, 1]), t=np.array([1.0, 2.0]), which=0,
                                 happens=np.array([[True, True], [False, True]]),
                                 k=np.array([0, 0])))
    flares = FlareTable.of(m, [[(0.5, "flare", "c", 0.3)], []], [0, 1], 10.0)
    table = stop_table(np.array([0.5, 1.0, 2.0]), np.array([0, 0, 1]), np.array([1, 0, 0]),
                       np.array([0, 0, 1]), 2)
    assert stop_program(bare, flares, book, table) is None  # no lane form of "kick"
    prog = stop_program(m, flares, book, table)
    # lane 0: the flare (c += 0.3), then both effects; lane 1: the scale of w only
    np.testing.assert_array_equal(prog.count, [[1, 2], [1, 0]])
    np.testing.assert_array_equal(prog.code[prog.start[0, 1]:][:2], [4, 3])
    assert prog.code[prog.start[0, 0]] == 0 and prog.value[prog.start[0, 0]] == 0.3
    assert prog.code[prog.start[1, 0]] == 3 and prog.hi[prog.start[1, 0]] == 10


@needs_numba
def test_stop_effects_are_checked():
    from painsim.compiled import StopEffects

    m = _kicked_oscillator()
    y0, P = m.initial_state(2), m.params().as_array(2)
    stops = np.array([[1.0], [2.0]])

    def prog(**kw):
        base = dict(start=np.zeros((2, 1), int), count=np.ones((2, 1), int),
                    code=np.array([0]), index=np.array([0]), value=np.array([1.0]),
                    lo=np.array([-np.inf]), hi=np.array([np.inf]))
        return StopEffects(**{**base, **kw})

    run = lambda e, **kw: integrate_pain(m, (0.0, 5.0), y0, P.copy(), effects=e,  # noqa: E731
                                         **{"stops": stops, **kw})
    run(prog())  # fits
    cases = [(dict(), dict(on_stop=lambda t, y, lanes, k: y), "not both"),
             (dict(), dict(stops=None), "needs stops"),
             (dict(start=np.zeros((1, 1), int)), {}, "shape of stops"),
             (dict(value=np.array([1.0, 2.0])), {}, r"shape \(1,\)"),
             (dict(start=np.ones((2, 1), int)), {}, "select operations"),
             (dict(code=np.array([5])), {}, "code must be"),
             (dict(index=np.array([2])), {}, "state, parameter or lane-form pulse"),
             (dict(code=np.array([4]), index=np.array([1])), {}, "lane-form pulse"),
             (dict(start=np.zeros((2, 1))), {}, "integer array")]
    for fields, kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            run(prog(**fields), **kw)


@needs_numba
def test_a_lane_pulse_gets_a_copy_of_the_parameters():
    # as Model.pulses, which get P[:, lanes] (a copy): a pulse writing to p changes no
    # driver
    from painsim.compiled import PULSE, StopEffects

    m = _kicked_oscillator()

    def kick_and_write(y, p, dose):
        y[0] = y[0] * (1.0 - 0.25 * dose)
        p[0] = 3.0

    lf = LaneForm(rhs=m.lane_form.rhs, pain=m.lane_form.pain,
                  pulses={"kick": kick_and_write})
    m2 = ps.Model(name="kick writes p", states=m.states, parameters=m.parameters,
                  rhs=m.rhs, pain=m.pain, pulses=m.pulses, lane_form=lf)
    P = m2.params(w=np.array([1.0, 0.5])).as_array(2)
    e = StopEffects(start=np.array([[0], [1]]), count=np.ones((2, 1), int),
                    code=np.array([PULSE, PULSE]), index=np.zeros(2, int),
                    value=np.ones(2), lo=np.full(2, -np.inf), hi=np.full(2, np.inf))
    sol = integrate_pain(m2, (0.0, 10.0), m2.initial_state(2), P, effects=e,
                         stops=np.array([[2.0], [3.0]]))
    np.testing.assert_array_equal(P[0], [1.0, 0.5])
    assert sol.n_stops.tolist() == [1, 1]


def test_lane_form_pulses_are_kept_as_pairs_and_keyed():
    from painsim.compiled import cache_key

    m = _kicked_oscillator()
    lf = m.lane_form
    assert lf.pulses == (("kick", _kick),) and lf.pulse_index("kick") == 0
    assert lf.pulse_index("other") is None
    hash(lf)  # the compiled loop is cached per lane form
    with pytest.raises(ValueError, match="twice"):
        LaneForm(rhs=lf.rhs, pain=lf.pain, pulses=[("a", _kick), ("a", _kick)])
    assert LaneForm(rhs=lf.rhs, pain=lf.pain, pulses=None).pulses == ()
    for bad in ({"a": 3.0}, {1: _kick}, 5, ["a"]):
        with pytest.raises(ValueError, match=r"LaneForm\.pulses must"):
            LaneForm(rhs=lf.rhs, pain=lf.pain, pulses=bad)
    assert cache_key(lf) != cache_key(LaneForm(rhs=lf.rhs, pain=lf.pain))

    # a function the rhs calls, given as a pulse too, is keyed by its own code there
    def kick_a(y, p, dose):
        y[0] = y[0] + dose

    def kick_b(y, p, dose):
        y[0] = y[0] + 2.0 * dose

    def rhs(t, y, p, dy):
        dy[0] = -y[0]
        kick_a(dy, p, 0.0)
        kick_b(dy, p, 0.0)

    key_a = cache_key(LaneForm(rhs=rhs, pain=lf.pain, pulses={"kick": kick_a}))
    key_b = cache_key(LaneForm(rhs=rhs, pain=lf.pain, pulses={"kick": kick_b}))
    assert key_a is not None and key_a != key_b


def test_lane_analgesia_equals_the_vectorized_pulse():
    from painsim.painloop import analgesia, lane_analgesia

    P, y = _plausible(6, 4)
    dose = np.linspace(0.0, 2.0, 6)
    want = analgesia(y, P, dose)
    for i in range(6):
        yl = y[:, i].copy()
        lane_analgesia(yl, P[:, i], dose[i])
        np.testing.assert_array_equal(yl, want[:, i])
    assert PAIN_LOOP.lane_form.pulse_index("analgesia") == 0


_TWO_LOOPS = """
import hashlib, json, sys
import numpy as np
import painsim as ps
from painsim.compiled import integrate_pain
from tests.test_compiled import _kicked_oscillator, _study

out = {}
if "other" in sys.argv:  # another model's loop, compiled or loaded first
    m = _kicked_oscillator()
    P = m.params(w=np.linspace(0.5, 2.0, 50)).as_array(50)
    integrate_pain(m, (0.0, 60.0), m.initial_state(50), P, levels=np.full((1, 50), 7.0))
if "pain" in sys.argv:
    arms, cohort = _study()
    r = ps.simulate(arms, cohort, horizon_days=90, backend="numba")
    out["pain"] = hashlib.sha256(r.pain["dn"].tobytes()).hexdigest()
print(json.dumps(out))
"""


@needs_numba
def test_loops_of_two_models_loaded_from_disk_do_not_mix(tmp_path):
    # Loops compiled in two processes and loaded from the cache into a third: each must
    # run its own functions (Numba names symbols by a per-process counter, which may
    # coincide; painsim tags every function of a loop with its cache key).
    import json
    from pathlib import Path

    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]

    def run(*what):
        out = subprocess.run([sys.executable, "-c", _TWO_LOOPS, *what], capture_output=True,
                             text=True, env=env, timeout=300, cwd=root)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    run("other")
    alone = run("pain")
    assert run("other", "pain") == alone  # both loaded: the same numbers, bit for bit
    assert len(list(tmp_path.rglob("*.nbi"))) == 2  # one cache index per loop


def test_model_check_compares_lane_pulses_with_the_models_pulses():
    m = _kicked_oscillator()
    m.check()  # the two forms of the kick agree

    def wrong(y, p, dose):
        y[0] = y[0] * (1.0 - 0.25 * dose)
        y[1] = y[1] + 0.2 * dose * p[0]  # 0.1 in the model's pulse

    def form(**pulses):
        return ps.Model(name="k", states=m.states, parameters=m.parameters, rhs=m.rhs,
                        pain=m.pain, pulses=m.pulses,
                        lane_form=LaneForm(rhs=m.lane_form.rhs, pain=m.lane_form.pain,
                                           pulses=pulses))

    with pytest.raises(ValueError, match=r"lane_form.pulses\['kick'\] disagrees .* for s "):
        form(kick=wrong).check()
    with pytest.raises(ValueError, match="'kik', which is not one of the model's pulses"):
        form(kik=_kick).check()
