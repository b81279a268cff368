"""User models are as first-class as the built-in one: saved quantities, lane forms
checked against the vectorised equations, parameters addressed by name."""

import dataclasses

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


# --- per-patient inputs: tables of parameters, initial states and events -------------------
def test_event_table_and_per_patient_table_drive_a_user_model_exactly(tmp_path):
    m = _relaxation()
    table = {"patient": [0, 1, 2], "k": [0.2, 0.1, 0.05], "L": [1.0, 2.0, 3.0],
             "x": [6.0, 0.5, 3.0]}  # parameters and initial states per patient
    events = tmp_path / "events.csv"
    events.write_text("patient,day,kind,size\n0,5.5,x,2.0\n2,10.25,x,-1.5\n0,20.0,x,1.0\n")
    ph = ps.Phenotype(name="own", description="the researcher's own patients")
    cohort = ps.Cohort(n=3, seed=1, model=m, mix={"own": 1.0}, phenotypes={"own": ph},
                       table=table, events=events, random_flares=False, run_in_days=0.0)
    res = ps.simulate([ps.Arm(name="none")], cohort, horizon_days=30, rtol=1e-10,
                      atol=1e-12)
    t = res.days
    want = np.empty((3, t.size))
    for i, (k, L, x0) in enumerate(zip(table["k"], table["L"], table["x"], strict=True)):
        want[i] = L + (x0 - L) * np.exp(-k * t)
    for i, day, size in ((0, 5.5, 2.0), (2, 10.25, -1.5), (0, 20.0, 1.0)):
        after = t >= day  # right-continuous: a jump decays from its exact time
        want[i, after] += size * np.exp(-table["k"][i] * (t[after] - day))
    # decay at k <= 0.2/day takes steps of ~rtol**(1/5)/k >= 0.05 day: under 10^3 steps in
    # 30 days, each at most one tolerance unit (the decay does not amplify errors)
    assert np.all(np.abs(res.pain["none"] - want) <= 1e3 * (1e-12 + 1e-10 * np.abs(want)))
    ev = res.events[res.events.kind.str.startswith("event")]
    assert ev.kind.tolist() == ["event: x"] * 3 and ev.day.tolist() == [5.5, 20.0, 10.25]


def test_given_sessions_happen_on_each_patients_own_days():
    arm = ps.Arm(name="own days", protocol=ps.Protocol(
        intervention=ps.dry_needling(), schedule=ps.Given.read(
            {"patient": [0, 2, 2, 2], "day": [3.0, 20.0, 7.5, 90.0]})))
    res = ps.simulate([ps.Arm(name="none"), arm], ps.Cohort(n=3, seed=4, random_flares=False),
                      horizon_days=60)
    s = res.events[(res.events.arm == "own days") & (res.events.kind == "session")]
    assert list(zip(s.patient, s.day, strict=True)) == [(0, 3.0), (2, 7.5), (2, 20.0)]
    # no random flares were drawn: only sessions and what follows from them are logged
    assert not res.events.kind.str.startswith("flare").any()
    assert res.patients.loc[res.patients.arm == "own days", "sessions"].tolist() == [1, 0, 2]


@pytest.mark.parametrize(("events", "where"), [
    ({"patient": [0, 7], "day": [1.0, 2.0], "kind": ["flare", "flare"], "size": [1, 1]},
     "row 1, column 'patient'"),
    ({"patient": [0], "day": [-1.0], "kind": ["flare"], "size": [1]}, "row 0, column 'day'"),
    ({"patient": [0], "day": [1.0], "kind": ["Q9"], "size": [1]}, "row 0, column 'kind'"),
    ({"patient": [0], "day": [1.0], "kind": ["flare"], "size": [np.nan]},
     "row 0, column 'size'"),
    ({"patient": [0], "day": [1.0], "kind": ["flare"]}, "events.size"),
    ({"patient": [0], "day": [1.0], "kind": ["flare"], "size": [1], "dose": [2]}, "columns"),
])
def test_a_bad_event_names_its_row_and_column(events, where):
    with pytest.raises(ParameterError, match=where.replace("(", r"\(").replace(")", r"\)")):
        ps.Cohort(n=2, events=events)


def test_a_bad_per_patient_entry_names_its_row_and_column():
    with pytest.raises(ParameterError, match=r"row 1, column 'S'"):
        ps.Cohort(n=2, table={"S": [0.5, 1.5]})  # S is on [0, 1]
    with pytest.raises(ParameterError, match="parameter or state"):
        ps.Cohort(n=2, table={"thet0": [4.0, 4.0]})
    with pytest.raises(ParameterError, match="row 0, column 'day'"):
        ps.Given.read({"patient": [0], "day": ["soon"]})


def test_a_csv_with_one_text_cell_names_that_cell(tmp_path):
    # one text cell makes the CSV reader keep the whole column as text: the message
    # must still name the cell that is not a number, not the first row
    path = tmp_path / "visits.csv"
    path.write_text("patient,day\n0,3\n1,4.5\n2,soon\n3,7\n")
    with pytest.raises(ParameterError, match=r"row 2, column 'day'.*'soon' is not a number"):
        ps.Given.read(path)
    path.write_text("patient,day\n0,3\n1,\n")
    with pytest.raises(ParameterError, match=r"row 1, column 'day'.*is empty or not finite"):
        ps.Given.read(path)


def test_a_bad_cell_of_a_scenario_table_names_the_file(tmp_path):
    # a scenario's sessions and events tables are files of their own: the message names
    # the file the bad cell is in, as well as the scenario and field
    from painsim.scenario import ScenarioError, load_scenario

    (tmp_path / "visits.csv").write_text("patient,day\n0,3\n1,soon\n")
    (tmp_path / "flares.csv").write_text("patient,day,kind,size\n0,later,flare,1\n")
    (tmp_path / "s.toml").write_text(
        'title = "t"\nseed = 1\n[cohort]\npatients = 2\nevents = "flares.csv"\n'
        '[[arms]]\nname = "a"\ntreatment = [{ kind = "dry_needling" }]\n'
        'schedule = { kind = "given", table = "visits.csv" }\n')
    with pytest.raises(ScenarioError, match=r"s.toml: arms\[0\].schedule: sessions "
                       r"\(visits.csv\) row 1, column 'day': 'soon' is not a number"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / "visits.csv").write_text("patient,day\n0,3\n1,4\n")
    with pytest.raises(ScenarioError, match=r"s.toml: cohort: events \(.*flares.csv\) "
                       r"row 0, column 'day': 'later' is not a number"):
        load_scenario(tmp_path / "s.toml")


def _as_tables(cohort, fixed, horizon, visit_hour):
    """The built-in study's drawn flares as an event table, and its fixed visit days as
    each patient's own days: the same study written the way a researcher brings it."""
    sample = cohort.sample(horizon)
    rows = [(i, t, "flare" if kind == "strain" else "stress", size)
            for i, fl in enumerate(sample.flares) for t, kind, _, size in fl]
    events = {"patient": [r[0] for r in rows], "day": [r[1] for r in rows],
              "kind": [r[2] for r in rows], "size": [r[3] for r in rows]}
    days = [fixed.start_day + k * fixed.every_days + visit_hour / 24
            for k in range(fixed.sessions)]
    given = ps.Given(days={i: tuple(days) for i in range(cohort.n)})
    return events, given


def test_the_event_table_path_gives_the_built_in_paths_numbers_exactly():
    fixed = ps.Fixed(start_day=7, every_days=7, sessions=4)
    cohort = ps.Cohort(n=12, seed=5, mix={"recurrent": 0.5, "chronic_sensitized": 0.5})
    built_in = ps.simulate([ps.Arm(name="dn", protocol=ps.Protocol(
        intervention=ps.dry_needling(), schedule=fixed))], cohort, horizon_days=120)
    events, given = _as_tables(cohort, fixed, 120, visit_hour=12.0)
    assert len(events["day"]) > 0
    own = dataclasses.replace(cohort, events=events, random_flares=False)
    tables = ps.simulate([ps.Arm(name="dn", protocol=ps.Protocol(
        intervention=ps.dry_needling(), schedule=given))], own, horizon_days=120)
    np.testing.assert_array_equal(built_in.pain["dn"], tables.pain["dn"])  # bit for bit
    assert built_in.patients.equals(tables.patients)


# --- what a cohort asks of a model is declared by the model, not assumed by name --------------
def test_named_starts_and_the_injury_state_are_declared_by_the_model():
    base = _relaxation()
    m = dataclasses.replace(base, starts={"high": {"x": 9.0}}, injury_state="x")
    ph = {"hi": ps.Phenotype(name="hi", description="starts high, then an injury",
                             start="high", injury=0.5),
          "lo": ps.Phenotype(name="lo", description="starts pain-free")}
    c = ps.Cohort(n=40, seed=3, model=m, mix={"hi": 0.5, "lo": 0.5}, phenotypes=ph,
                  run_in_days=0.0)
    s = c.sample(horizon_days=1.0)
    x0 = s.y0[0]
    hi = s.phenotype == "hi"
    assert 0 < hi.sum() < 40  # both phenotypes drawn, so both branches are checked
    # exact: the start value plus the injury (9.0 + 0.5 and 6.0 are binary-exact sums)
    np.testing.assert_array_equal(x0[hi], 9.5)
    np.testing.assert_array_equal(x0[~hi], 6.0)
    # a start or an injury the model does not declare is refused, not silently dropped
    with pytest.raises(ParameterError, match=r"sensitized.*Model\.starts"):
        ps.Cohort(n=2, model=base, mix={"s": 1.0}, run_in_days=0.0,
                  phenotypes={"s": ps.Phenotype(name="s", description="d",
                                                start="sensitized")})
    with pytest.raises(ParameterError, match="injury_state"):
        ps.Cohort(n=2, model=base, mix={"s": 1.0}, run_in_days=0.0,
                  phenotypes={"s": ps.Phenotype(name="s", description="d", injury=0.3)})
    with pytest.raises(ValueError, match="unknown state"):
        dataclasses.replace(base, starts={"high": {"y": 1.0}})
    with pytest.raises(ValueError, match="injury_state"):
        dataclasses.replace(base, injury_state="D")


def test_the_pain_loop_declares_its_sensitized_start_and_injury_state():
    m = ps.PAIN_LOOP
    assert m.injury_state == "D" and set(m.starts) == {"sensitized"}
    c = ps.Cohort(n=3, seed=1, mix={"chronic_sensitized": 1.0}, run_in_days=0.0)
    y0 = c.sample(horizon_days=1.0).y0
    for k, v in m.starts["sensitized"].items():
        np.testing.assert_array_equal(y0[m.index(k)], v)


def test_cohort_wide_constants_reach_the_model_as_floats_and_refuse_spread():
    seen = []

    def rhs(t, y, p):
        seen.append(type(p.n))
        hill = 1.0
        n = p.n if np.ndim(p.n) == 0 else p.n[0]  # a per-patient row holds equal values here
        for _ in range(int(n)):  # Python control flow on a constant
            hill = hill * y[0] / 10
        return (-p.k * y[0] * (1 - hill))[None]

    states = (ps.State(name="x", unit="points", description="pain", initial=6.0),)

    def model(per_patient):
        pars = (ps.Parameter(name="k", default=0.2, unit="1/day", description="rate",
                             bounds=(0.0, 10.0), plausible=(0.05, 1.0)),
                ps.Parameter(name="n", default=2.0, unit="1", description="Hill exponent",
                             bounds=(1.0, 8.0), plausible=(1.0, 4.0),
                             per_patient=per_patient))
        return ps.Model(name="hill", states=states, parameters=pars, rhs=rhs,
                        pain=lambda y, p: y[0])

    const, varying = model(False), model(True)
    ph = {"p": ps.Phenotype(name="p", description="rates vary",
                            params={"k": ps.Uniform(0.1, 0.5), "n": 3.0})}
    runs = {}
    for key, m in (("const", const), ("varying", varying)):
        c = ps.Cohort(n=5, seed=2, model=m, mix={"p": 1.0}, phenotypes=ph, run_in_days=0.0)
        seen.clear()
        runs[key] = ps.simulate([ps.Arm(name="none")], c, horizon_days=20).pain["none"]
        kinds = set(seen)
        assert kinds == ({float} if m is const else {np.ndarray}), kinds
    # the same arithmetic on a float as on an array of equal values: identical numbers
    np.testing.assert_array_equal(runs["const"], runs["varying"])
    with pytest.raises(ParameterError, match="cohort-wide constant"):
        ps.Cohort(n=2, model=const, mix={"p": 1.0}, run_in_days=0.0,
                  phenotypes={"p": ps.Phenotype(name="p", description="d",
                                                params={"n": ps.Uniform(2.0, 3.0)})})
    with pytest.raises(ParameterError, match="cohort-wide constant"):
        ps.Cohort(n=2, model=const, mix={"p": 1.0}, run_in_days=0.0, phenotypes=ph,
                  table={"n": [2.0, 3.0]})
    with pytest.raises(ParameterError, match="cohort-wide constant"):
        const.params(n=np.array([2.0, 3.0]))
    with pytest.raises(ParameterError, match="cohort-wide constant"):
        ps.Effect(target="n", op="scale", value=0.5).kind(const)
    assert const.params(n=np.array([3.0, 3.0])).n == 3.0  # equal values are one constant
