"""Global sensitivity (painsim.sensitivity): SALib's estimators on painsim's lanes.

Verified on the Ishigami function (known indices) through the same code path as a
study (:func:`painsim.sensitivity.analyse`), for convergence as N grows, and on a small
study: parameter sets as lanes give the same outcomes as separate scenario runs, and the
same seed gives the same indices for any number of workers.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from painsim.errors import PainsimError, ScenarioError
from painsim.scenario import load_scenario
from painsim.sensitivity import StudyEvaluator, analyse, ishigami, run_sensitivity

from .figures import assert_talk_figure

S1_EXACT = np.array([0.3139, 0.4424, 0.0])
ST_EXACT = np.array([0.5576, 0.4424, 0.2437])
PI = np.pi
ISHIGAMI = (["x1", "x2", "x3"], [(-PI, PI)] * 3)

STUDY = """
seed = 3
horizon = "60 days"
[cohort]
patients = {patients}
mix = {{ chronic_sensitized = 0.5, recurrent = 0.5 }}
run_in = "60 days"
[model]
parameters = {{ k_R = {k_R} }}
[[arms]]
name = "sham"
treatment = [{{ kind = "sham" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 3 }}
[[arms]]
name = "acupuncture"
treatment = [{{ kind = "acupuncture", dose = {dose}, p_bruising = 0.0 }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 3 }}
[outcomes]
short_term = "4 weeks"
bootstrap = 0
[sensitivity]
parameters = {{ model.k_R = [0.5, 2.0], acupuncture.dose = [0.02, 0.6] }}
outcomes = ["change_short_term", "relief"]
reference = "sham"
method = "morris"
n = 2
"""


def _study(tmp_path: Path, patients: int = 4, k_R: float = 1.0, dose: float = 0.05,
           name: str = "s.toml") -> Path:
    f = tmp_path / name
    f.write_text(STUDY.format(patients=patients, k_R=k_R, dose=dose))
    return f


def test_ishigami_sobol_indices_match_the_exact_values() -> None:
    res = analyse(*ISHIGAMI, ishigami, method="sobol", n=1024, seed=1)
    df = res.indices["ishigami"]
    assert np.abs(df.S1.to_numpy() - S1_EXACT).max() < 0.04
    assert np.abs(df.ST.to_numpy() - ST_EXACT).max() < 0.04
    assert len(res.X) == 1024 * 5  # n (k + 2) sets without second order
    # the bootstrap intervals are real intervals and cover the exact S1 of x2
    assert (df.S1_conf > 0).all() and abs(df.S1["x2"] - S1_EXACT[1]) < 2 * df.S1_conf["x2"]


def test_ishigami_second_order_finds_the_x1_x3_interaction() -> None:
    res = analyse(*ISHIGAMI, ishigami, method="sobol", n=1024, seed=3, second_order=True)
    s2 = res.second["ishigami"].set_index(["parameter_1", "parameter_2"]).S2
    assert len(res.X) == 1024 * 8  # n (2k + 2)
    # exact: S13 = ST1 - S1 = 0.2437, the others 0
    assert s2["x1", "x3"] == pytest.approx(0.2437, abs=0.06)
    assert abs(s2["x1", "x2"]) < 0.06 and abs(s2["x2", "x3"]) < 0.06


def test_ishigami_indices_converge_as_n_grows() -> None:
    err = []
    for n in (32, 256, 2048):
        df = analyse(*ISHIGAMI, ishigami, method="sobol", n=n, seed=5).indices["ishigami"]
        err.append(max(np.abs(df.S1 - S1_EXACT).max(), np.abs(df.ST - ST_EXACT).max()))
    assert err[2] < err[0] and err[2] < 0.03, err


def test_morris_ranks_a_linear_function_by_its_slopes() -> None:
    def f(X):
        return {"y": 3.0 * X[:, 0] + 0.5 * X[:, 1] + 0.0 * X[:, 2]}

    df = analyse(["a", "b", "c"], [(0, 1)] * 3, f, method="morris", n=20,
                 seed=2).indices["y"]
    assert df.mu_star["a"] == pytest.approx(3.0) and df.mu_star["b"] == pytest.approx(0.5)
    assert df.mu_star["c"] == 0.0 and df.sigma["a"] == pytest.approx(0.0, abs=1e-12)


def test_same_seed_same_design_and_indices() -> None:
    # the same design is evaluated once: NumPy 1.24's np.sin takes a SIMD or a scalar
    # path by the array's memory alignment, and the two differ in the last bit (seen: Y
    # 1 ulp apart in about 1 run of 6), which is NumPy's, not the seeding tested here
    seen: dict[bytes, dict] = {}

    def once(X):
        return seen.setdefault(X.tobytes(), ishigami(X))

    a = analyse(*ISHIGAMI, once, n=64, seed=9)
    b = analyse(*ISHIGAMI, once, n=64, seed=9)
    c = analyse(*ISHIGAMI, once, n=64, seed=10)
    assert np.array_equal(a.X, b.X) and a.indices["ishigami"].equals(b.indices["ishigami"])
    assert not np.array_equal(a.X, c.X)


def test_parameter_sets_as_lanes_equal_separate_scenario_runs(tmp_path: Path) -> None:
    """A model parameter (k_R, set for everyone) and an intervention parameter (dose,
    a per-lane pulse) varied in one run give the outcomes of the scenario files that
    set them, patient for patient."""
    from painsim.engine import simulate

    s = load_scenario(_study(tmp_path))
    X = np.array([[0.5, 0.6], [2.0, 0.02], [1.3, 0.3]])
    ev = StudyEvaluator(s, ["model.k_R", "acupuncture.dose"],
                        outcomes=("change_short_term", "relief"), reference="sham",
                        block_lanes=8)  # 2 sets per run: two runs
    got = ev(X)
    assert ev.runs == 2
    for row, (k_R, dose) in enumerate(X):
        t = load_scenario(_study(tmp_path, k_R=k_R, dose=dose, name=f"{row}.toml"))
        r = simulate(list(t.arms), t.cohort, t.horizon_days, outcomes=t.outcomes)
        p = r.patients.set_index(["arm", "patient"])
        want = (p.loc["acupuncture"].change_short_term.mean()
                - p.loc["sham"].change_short_term.mean())
        assert got["change_short_term"][row] == pytest.approx(want, abs=1e-9)
    # and the dose matters: the outcome is not constant across sets
    assert np.ptp(got["change_short_term"]) > 1e-3


def test_protocol_sessions_run_in_groups_and_match_scenario_runs(tmp_path: Path) -> None:
    from painsim.engine import simulate

    s = load_scenario(_study(tmp_path))
    X = np.array([[1.2, 0.6], [2.9, 0.6], [1.4, 0.02]])  # sessions 1, 3, 1
    ev = StudyEvaluator(s, ["protocol.sessions", "acupuncture.dose"],
                        outcomes=("change_short_term",), reference="sham")
    got = ev(X)["change_short_term"]
    assert ev.runs == 2  # one run per number of sessions
    for row, (sessions, dose) in enumerate(X):
        text = _study(tmp_path, dose=dose, name=f"p{row}.toml").read_text().replace(
            "sessions = 3", f"sessions = {round(sessions)}")
        f = tmp_path / f"q{row}.toml"
        f.write_text(text)
        t = load_scenario(f)
        r = simulate(list(t.arms), t.cohort, t.horizon_days, outcomes=t.outcomes)
        p = r.patients.set_index(["arm", "patient"])
        want = (p.loc["acupuncture"].change_short_term.mean()
                - p.loc["sham"].change_short_term.mean())
        assert got[row] == pytest.approx(want, abs=1e-9)
    assert abs(got[0] - got[1]) > 1e-3


def test_compiled_backend_gives_the_same_outcomes(tmp_path: Path) -> None:
    s = load_scenario(_study(tmp_path))
    X = np.array([[0.7, 0.5], [1.9, 0.05]])
    kw = dict(outcomes=("change_short_term",), reference="sham")
    a = StudyEvaluator(s, ["model.k_R", "acupuncture.dose"], **kw)(X)
    b = StudyEvaluator(s, ["model.k_R", "acupuncture.dose"], backend="numba", **kw)(X)
    assert np.allclose(a["change_short_term"], b["change_short_term"], atol=1e-7, rtol=0)


def test_same_seed_same_indices_for_any_number_of_workers(tmp_path: Path) -> None:
    s = load_scenario(_study(tmp_path))
    one = run_sensitivity(s, workers=1, block_lanes=12)
    two = run_sensitivity(s, workers=2, block_lanes=12)
    for k in one.indices:
        assert np.array_equal(one.Y[k], two.Y[k])
        assert one.indices[k].equals(two.indices[k])


def test_sensitivity_section_is_validated_one_line_per_problem(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(STUDY.format(patients=4, k_R=1.0, dose=0.05).replace(
        "model.k_R = [0.5, 2.0]", "model.k_RR = [0.5, 2.0], model.tau_R = [10, 1e9]").replace(
        "acupuncture.dose = [0.02, 0.6]", "acupuncture.dose = 3, magic.x = [0, 1]").replace(
        '"relief"]', '"relif"]').replace(
        'reference = "sham"', 'reference = "shm"'))
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    lines = str(e.value).splitlines()
    assert all(line.startswith(f"{f}: sensitivity.") for line in lines), lines
    fields = [line.split(": ")[1] for line in lines]
    assert "sensitivity.parameters.model.k_RR" in fields
    assert "sensitivity.parameters.model.tau_R" in fields  # 1e9 beyond the allowed range
    assert "sensitivity.parameters.acupuncture.dose" in fields  # not a range
    assert "sensitivity.parameters.magic.x" in fields
    assert "sensitivity.outcomes[1]" in fields and "sensitivity.reference" in fields
    assert any("did you mean 'relief'" in line for line in lines)


def test_sobol_needs_a_power_of_two(tmp_path: Path) -> None:
    with pytest.raises(PainsimError, match="power of 2"):
        analyse(*ISHIGAMI, ishigami, method="sobol", n=48)
    f = tmp_path / "n.toml"
    f.write_text(STUDY.format(patients=4, k_R=1.0, dose=0.05).replace(
        'method = "morris"\nn = 2', 'method = "sobol"\nn = 48'))
    with pytest.raises(ScenarioError, match=re.escape(f"{f}: sensitivity.n: 48 is not")):
        load_scenario(f)


def test_a_varied_probability_is_refused_with_the_field(tmp_path: Path) -> None:
    s = load_scenario(_study(tmp_path))
    sec = dict(s.data["sensitivity"], parameters={"acupuncture.p_bruising": (0.0, 0.2)})
    s = dataclasses.replace(s, data={**s.data, "sensitivity": sec})
    where = re.escape("sensitivity.parameters.acupuncture.p_bruising")
    with pytest.raises(PainsimError, match=where):
        run_sensitivity(s)


def test_cli_writes_tables_and_figures(tmp_path: Path) -> None:
    f = _study(tmp_path)
    out = tmp_path / "sens"
    r = subprocess.run([sys.executable, "-m", "painsim.cli", "sensitivity", str(f), "--out",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "mu_star" in r.stdout and "not medical advice" in r.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["design.csv", "indices.csv", "manifest.json",
                     "sensitivity_change_short_term.png", "sensitivity_change_short_term.svg",
                     "sensitivity_relief.png", "sensitivity_relief.svg"]
    for stem in ("sensitivity_change_short_term", "sensitivity_relief"):
        assert_talk_figure(out, stem)
    r2 = subprocess.run([sys.executable, "-m", "painsim.cli", "sensitivity", str(f),
                         "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r2.returncode != 0 and "already exists" in r2.stderr
    assert "Traceback" not in r2.stderr
