"""Mechanism attribution (painsim.attribute): exact Shapley values over pathways.

The parts add up to the total by construction, the total is the arm difference of an
ordinary paired run (the full coalition is the unablated arm), and a pathway with no
effect gets exactly zero.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import painsim as ps
from painsim.attribute import attribute, narrative, shapley

from .figures import assert_talk_figure

WEEKLY = ps.Fixed(start_day=1, every_days=7, sessions=3)


def _arms(soreness: float = 0.1) -> list[ps.Arm]:
    return [ps.Arm(name="sham", protocol=ps.Protocol(intervention=ps.sham(), schedule=WEEKLY)),
            ps.Arm(name="dry needling", protocol=ps.Protocol(
                intervention=ps.dry_needling(soreness=soreness, p_soreness=0.5),
                schedule=WEEKLY)),
            ps.Arm(name="acupuncture", protocol=ps.Protocol(
                intervention=ps.acupuncture(dose=0.2), schedule=WEEKLY))]


def _cohort(n: int = 6) -> ps.Cohort:
    return ps.Cohort(n=n, seed=5, mix={"chronic_sensitized": 0.5, "recurrent": 0.5},
                     run_in_days=60)


@pytest.fixture(scope="module")
def att():
    return attribute(_arms(soreness=0.0), _cohort(), 60.0, reference="sham",
                     days=[21, 60], bootstrap=50, backend="numba")


def test_shapley_of_known_games() -> None:
    # additive game: each player gets its own value; pure interaction: split equally
    v = {frozenset(): 0.0, frozenset("a"): 1.0, frozenset("b"): 3.0, frozenset("ab"): 4.0}
    assert {k: float(x) for k, x in shapley(v, ["a", "b"]).items()} == {"a": 1.0, "b": 3.0}
    w = {frozenset(): 0.0, frozenset("a"): 0.0, frozenset("b"): 0.0, frozenset("ab"): 2.0}
    assert {k: float(x) for k, x in shapley(w, ["a", "b"]).items()} == {"a": 1.0, "b": 1.0}


def test_parts_add_up_to_the_total(att) -> None:
    p = att.patients
    tot = p[p.pathway == "total"].set_index(["arm", "patient", "day"]).contribution
    parts = p[p.pathway != "total"].groupby(["arm", "patient", "day"]).contribution.sum()
    assert np.allclose(parts.loc[tot.index], tot, atol=1e-12, rtol=0)
    assert (tot.abs() > 0.05).any()  # real effects, not a sum of zeros


def test_total_is_the_paired_arm_difference_of_a_plain_run(att) -> None:
    res = ps.simulate(_arms(soreness=0.0), _cohort(), 60.0, backend="numba")
    p = att.patients
    for arm in ("dry needling", "acupuncture"):
        got = p[(p.arm == f"{arm} vs sham") & (p.pathway == "total") & (p.day == 21)]
        want = res.pain[arm][:, 21] - res.pain["sham"][:, 21]
        assert np.allclose(got.contribution.to_numpy(), want, atol=1e-12, rtol=0)


def test_a_pathway_with_zero_effect_gets_exactly_zero(att) -> None:
    p = att.patients
    # soreness = 0 in this dry needling; sham's systemic dose is 0
    sore = p[(p.arm == "dry needling") & (p.pathway == "soreness")].contribution
    assert len(sore) == 12 and (sore == 0.0).all()
    sys_ = p[(p.arm == "sham") & (p.pathway == "systemic")].contribution
    assert (sys_ == 0.0).all()
    # and the systemic pathway of acupuncture is not zero: the test can tell
    acu = p[(p.arm == "acupuncture") & (p.pathway == "systemic") & (p.day == 60)]
    assert acu.contribution.abs().max() > 0.1


def test_soreness_with_an_effect_gets_a_nonzero_share() -> None:
    a = attribute(_arms(soreness=2.0)[:2], _cohort(4), 30.0, arm="dry needling",
                  days=[3], bootstrap=0, backend="numba")
    sore = a.patients[(a.patients.pathway == "soreness")].contribution
    assert (sore != 0).any()


def test_unknown_arm_and_narrative(att) -> None:
    with pytest.raises(ps.PainsimError, match="not an arm"):
        attribute(_arms(), _cohort(2), 30.0, arm="cupping")
    text = narrative(att, "acupuncture vs sham", 0)
    assert "by day 21 pain was" in text and "than with sham" in text
    assert "systemic" in text and "not medical advice" in text


def test_cli_explain(tmp_path: Path) -> None:
    out = tmp_path / "e"
    r = subprocess.run([sys.executable, "-m", "painsim.cli", "explain",
                        "scenarios/chronic_needling.toml", "--out", str(out), "--patients",
                        "4", "--arm", "acupuncture", "--patient", "1", "--backend", "numba"],
                       capture_output=True, text=True, timeout=600,
                       cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stderr
    assert "Patient 1" in r.stdout and "not medical advice" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "contributions.png", "contributions.svg", "manifest.json", "patients.csv",
        "summary.csv"]
    assert_talk_figure(out, "contributions")
    bad = subprocess.run([sys.executable, "-m", "painsim.cli", "explain",
                          "scenarios/chronic_needling.toml", "--out", str(tmp_path / "x"),
                          "--arm", "cupping"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[1])
    assert bad.returncode != 0 and "cupping" in bad.stderr and "Traceback" not in bad.stderr


def _linear_model() -> ps.Model:
    """Pain 5 + a + b + z, each relaxing to 0: a session's kicks add up without
    interaction, so each pathway's Shapley value is its own kick, decayed."""
    def rhs(t, y, p):
        a, b, z = y
        return np.stack([-a / p.tau_a, -b / p.tau_b, -z])

    P_ = ps.Parameter
    return ps.Model(
        name="linear", rhs=rhs, pain=lambda y, p: np.clip(5.0 + y[0] + y[1] + y[2], 0, 10),
        states=tuple(ps.State(name=k, unit="pain", description=k) for k in "abz"),
        parameters=(P_(name="tau_a", default=2.0, unit="day", description="a decay",
                       bounds=(0.1, 100), plausible=(1, 3)),
                    P_(name="tau_b", default=5.0, unit="day", description="b decay",
                       bounds=(0.1, 100), plausible=(1, 10))))


def test_hand_built_linear_model_gets_its_analytic_shares() -> None:
    model = _linear_model()
    kick = ps.Intervention(name="kick", lever="local", effects=(
        ps.Effect(target="a", op="add", value=1.0), ps.Effect(target="b", op="add", value=2.0),
        ps.Effect(target="z", op="add", value=0.0)))
    arms = [ps.Arm(name="none"), ps.Arm(name="kick", protocol=ps.Protocol(
        intervention=kick, schedule=ps.Fixed(start_day=1, every_days=7, sessions=1)))]
    ph = ps.Phenotype(name="p", description="linear", params={"tau_a": ps.Uniform(1, 3)})
    cohort = ps.Cohort(n=3, seed=2, mix={"p": 1.0}, phenotypes={"p": ph}, model=model,
                       run_in_days=0)
    att = attribute(arms, cohort, 10.0, arm="kick", reference="none", days=[3], bootstrap=0)
    p = att.patients[att.patients.arm == "kick"].pivot(index="patient", columns="pathway",
                                                       values="contribution")
    tau_a = cohort.sample(10.0).params[0]
    assert np.allclose(p["a"], np.exp(-1.5 / tau_a), atol=1e-5)  # session at day 1.5
    assert np.allclose(p["b"], 2.0 * np.exp(-1.5 / 5.0), atol=1e-5)
    assert (p["z"] == 0.0).all()
    assert np.allclose(p["total"], p["a"] + p["b"] + p["z"], atol=1e-12)
    vs = att.patients[(att.patients.arm == "kick vs none") & (att.patients.pathway == "total")]
    assert np.allclose(vs.contribution, p["total"], atol=1e-12)  # the untreated reference
