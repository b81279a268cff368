"""Adverse events that cluster in patients (``Effect.clustering``): each patient's own
per-session probability is Beta with the effect's mean, so a course's count is
beta-binomial. Checked against closed forms written here, not against painsim's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import painsim as ps
from painsim.errors import ParameterError
from painsim.interventions import Effect


def beta_binomial_share(p: float, rho: float, n: int) -> float:
    """P(>= 1 event in n sessions): 1 - prod_{k<n} (b + k) / (a + b + k), the
    beta-binomial's zero term written as a product (a, b from mean p and correlation rho)."""
    a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho
    return 1.0 - math.prod((b + k) / (a + b + k) for k in range(n))


def test_patient_probability_is_the_beta_quantile_with_the_effects_mean():
    u = np.linspace(0.01, 0.99, 99)
    e = Effect(target="bruising", op="none", probability=0.2, clustering=0.3, event="b")
    a, b = 0.2 * 0.7 / 0.3, 0.8 * 0.7 / 0.3
    # two implementations of the same special function: equal to a few ulps of [0, 1]
    np.testing.assert_allclose(e.patient_probability(u), stats.beta(a, b).ppf(u),
                               rtol=0, atol=1e-12)
    assert stats.beta(a, b).mean() == pytest.approx(0.2, rel=1e-12)
    # not clustered, certain or impossible: every patient has the effect's own probability
    for p, rho in ((0.2, 0.0), (1.0, 0.5), (0.0, 0.5)):
        e = Effect(target="x", op="none", probability=p, clustering=rho)
        assert np.array_equal(e.patient_probability(u), np.full(u.size, p))
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="clustering"):
            Effect(target="x", op="none", probability=0.2, clustering=bad)


def _course(rho: float, n_patients: int, sessions: int, p: float) -> ps.SimulationResult:
    acu = ps.acupuncture(dose=0.0, p_bruising=p, ae_clustering=rho)
    arm = ps.Arm(name="acu", protocol=ps.Protocol(
        intervention=acu, schedule=ps.Fixed(start_day=1.0, every_days=2.0,
                                            sessions=sessions)))
    cohort = ps.Cohort(n=n_patients, seed=5, mix={"chronic_sensitized": 1.0})
    return ps.simulate([arm], cohort, horizon_days=2.0 * sessions + 2)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.915])
def test_a_course_of_clustered_events_is_beta_binomial(rho):
    n, p, sessions = 2000, 0.2, 10
    res = _course(rho, n, sessions, p)
    ev = res.events[(res.events.kind == "adverse event") & (res.events.detail == "bruising")]
    per_patient = np.bincount(ev.patient.to_numpy(dtype=int), minlength=n)
    assert (res.events.kind == "session").sum() == n * sessions
    # share of sessions: mean p; the count per patient has variance
    # n p (1 - p) (1 + (n - 1) rho) (beta-binomial), so the share's standard error over
    # patients is sqrt(p (1 - p) (1 + (n - 1) rho) / (n N)); 5 of them (two-sided
    # chance of a false failure ~ 6e-7)
    se = math.sqrt(p * (1 - p) * (1 + (sessions - 1) * rho) / (sessions * n))
    assert abs(per_patient.sum() / (n * sessions) - p) < 5 * se
    # share of patients with >= 1: the closed form above (1 - (1 - p)^n at rho = 0);
    # binomial over independent patients, 5 standard errors
    want = 1 - (1 - p) ** sessions if rho == 0 else beta_binomial_share(p, rho, sessions)
    got = np.count_nonzero(per_patient) / n
    assert abs(got - want) < 5 * math.sqrt(want * (1 - want) / n)


def test_clustering_moves_patients_not_sessions():
    # the same patients and draws with and without clustering: fewer patients have an
    # event, and they have more each (the design's point), at a similar share of sessions
    flat, clustered = _course(0.0, 400, 10, 0.2), _course(0.9, 400, 10, 0.2)

    def counts(res):
        ev = res.events[res.events.kind == "adverse event"]
        return np.bincount(ev.patient.to_numpy(dtype=int), minlength=400)

    c0, c1 = counts(flat), counts(clustered)
    assert np.count_nonzero(c1) < 0.5 * np.count_nonzero(c0)
    assert c1[c1 > 0].mean() > 2 * c0[c0 > 0].mean()


def test_the_default_acupuncture_reproduces_both_baumler_figures_in_closed_form():
    # the defaults' basis: mean 7.57% of treatments (published) and the correlation solved
    # for 9.31% of patients over 10 sessions; 0.915 is that root rounded to 3 digits, so
    # the share is within what a 5e-4 change of rho moves it (|d share / d rho| is about
    # 0.21 here, so < 0.25 * 5e-4)
    p, rho = ps.interventions.ACUPUNCTURE_P_ADVERSE, ps.interventions.ACUPUNCTURE_AE_CLUSTERING
    assert p == 0.0757
    assert abs(beta_binomial_share(p, rho, 10) - 0.0931) < 0.25 * 5e-4
    # and sessions independent could not: 54.5% of patients
    assert 1 - (1 - p) ** 10 == pytest.approx(0.5449, abs=1e-4)
