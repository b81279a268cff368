"""Uncertainty where a scientist looks for it (issue 17, friction 2): Greenwood and
log-log bands checked by hand on a textbook example, intervals on every summary rate
and mean, and relapse plots with their band, censoring ticks and numbers at risk, at a
talk's resolution and as SVG."""

import math

import numpy as np
import pandas as pd
import pytest

import painsim as ps
from painsim.outcomes import (
    km_confidence_band,
    km_interval_at,
    mean_ci,
    proportion_ci,
    ratio_ci,
)
from painsim.plots import DPI, comparison_panels, plot_all

# Freireich et al. (1963), 6-MP arm: weeks in remission; 9 relapses, 12 censored
T_6MP = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
E_6MP = [1] * 9 + [0] * 12
# Klein & Moeschberger, Survival Analysis (2003), table 4.1A: S(t) and Greenwood SE
TEXTBOOK = [(6, 0.857, 0.0764), (7, 0.807, 0.0869), (10, 0.753, 0.0963),
            (13, 0.690, 0.1068), (16, 0.627, 0.1141), (22, 0.538, 0.1282),
            (23, 0.448, 0.1346)]


def test_greenwood_variance_matches_the_textbook_and_a_hand_computation():
    ts, S, se, lo, hi = km_confidence_band(T_6MP, E_6MP)
    assert ts.tolist() == [t for t, _, _ in TEXTBOOK]
    np.testing.assert_allclose(S, [s for _, s, _ in TEXTBOOK], atol=5e-4)
    np.testing.assert_allclose(se, [e for _, _, e in TEXTBOOK], atol=5e-5)
    # by hand: at week 6, 21 at risk and 3 relapses; at week 7, 17 at risk and 1 relapse
    s6, g6 = 18 / 21, 3 / (21 * 18)
    s7, g7 = s6 * 16 / 17, g6 + 1 / (17 * 16)
    assert se[0] == pytest.approx(s6 * math.sqrt(g6), rel=1e-12)
    assert se[1] == pytest.approx(s7 * math.sqrt(g7), rel=1e-12)
    # the log-log band: S^exp(±z sqrt(g)/|log S|); K&M table 4.3 gives 0.620-0.952 at 6
    z = 1.959963984540054
    w = math.exp(z * math.sqrt(g6) / abs(math.log(s6)))
    assert (lo[0], hi[0]) == pytest.approx((s6 ** w, s6 ** (1 / w)), rel=1e-12)
    assert (round(lo[0], 3), round(hi[0], 3)) == (0.620, 0.952)
    assert np.all((lo <= S) & (S <= hi) & (lo >= 0) & (hi <= 1))
    # wider at a higher level; a point before the first event and where S = 0
    lo99 = km_confidence_band(T_6MP, E_6MP, 0.99)[3]
    assert np.all(lo99 < lo)
    assert km_interval_at(T_6MP, E_6MP, 5.0) == (1.0, 1.0)
    _, S2, se2, lo2, hi2 = km_confidence_band([1.0, 2.0], [True, True])
    assert S2.tolist() == [0.5, 0.0] and (se2[-1], lo2[-1], hi2[-1]) == (0.0, 0.0, 0.0)
    assert 0 < lo2[0] < 0.5 < hi2[0] < 1


def test_interval_helpers_against_known_values():
    lo, hi = proportion_ci(28, 100)  # Wilson (Newcombe 1998 gives 0.2014-0.3749)
    assert (round(lo, 4), round(hi, 4)) == (0.2014, 0.3749)
    assert proportion_ci(0, 20)[0] == 0.0 and proportion_ci(20, 20)[1] == 1.0
    lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0])  # 2.5 -+ t(0.975, 3) * 1.2910 / 2
    assert (lo + hi) / 2 == pytest.approx(2.5) and hi - lo == pytest.approx(
        2 * 3.182446305284263 * math.sqrt(5 / 3) / 2)
    assert math.isnan(mean_ci([1.0])[0])
    # the textbook interval with scipy.stats' Student-t quantile as the reference,
    # across sizes and levels; rel 1e-13: the same quantile, so only the rounding of a
    # few products and sums (a few ulps) can differ
    from scipy import stats

    rng = np.random.default_rng(3)
    for n in (2, 3, 10, 500):
        for level in (0.8, 0.95, 0.99):
            v = rng.normal(5.0, 2.0, n)
            half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
            assert mean_ci(v, level) == pytest.approx((v.mean() - half, v.mean() + half),
                                                      rel=1e-13)
    lo, hi = ratio_ci([1, 0, 2, 1], [6, 6, 6, 6])
    assert lo < 4 / 24 < hi


@pytest.fixture(scope="module")
def result():
    course = ps.Fixed(start_day=1, every_days=7, sessions=6)
    arms = [ps.Arm(name="none"),
            ps.Arm(name="dry needling", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                             schedule=course))]
    return ps.simulate(arms, ps.Cohort(n=60, seed=3, mix={"chronic_sensitized": 0.5,
                                                          "recurrent": 0.5}), 150)


def test_every_summary_rate_and_mean_has_its_interval(result):
    s = result.summary
    for col in ("baseline_pain_0_10", "change_short_term_points", "responders_30pct",
                "responders_2pt", "satisfied", "relief", "relapse_within_90d_km",
                "durable_response", "sessions_per_patient", "soreness_per_session"):
        low, high = s[f"{col}_ci_low"], s[f"{col}_ci_high"]
        ok = low.notna()
        assert ok["dry needling"], col
        # an end may equal the estimate by another formula (mean +- t*0, Wilson at a share
        # of 0 or 1), rounded differently: allow 8 ulps of the value (of 1 if smaller)
        v = s[col][ok].to_numpy(dtype=float)
        ulps = 8 * np.spacing(np.maximum(np.abs(v), 1.0))
        assert np.all(low[ok] <= v + ulps) and np.all(v <= high[ok] + ulps)
        # each interval sits right after its column
        cols = list(s.columns)
        assert cols.index(f"{col}_ci_low") == cols.index(col) + 1, col
    p = result.patients[result.patients.arm == "dry needling"]
    # the shares' intervals are Wilson's, the relapse one is Greenwood's (log-log)
    k = int(p.responder_pct.sum())
    assert (s.at["dry needling", "responders_30pct_ci_low"],
            s.at["dry needling", "responders_30pct_ci_high"]) == pytest.approx(
        proportion_ci(k, len(p)))
    r = p[p.relief.astype(bool)]
    lo, hi = km_interval_at(r.days_relief_to_relapse_or_censor, r.relapse.astype(bool), 90)
    assert s.at["dry needling", "relapse_within_90d_km_ci_low"] == pytest.approx(1 - hi)
    assert s.at["dry needling", "relapse_within_90d_km_ci_high"] == pytest.approx(1 - lo)


def test_relapse_plot_has_band_censoring_at_risk_and_a_caption(result, tmp_path):
    import matplotlib.image as mpimg

    ev = result.events[result.events.kind == "session"]
    files = plot_all(result, tmp_path, {a: ev[ev.arm == a].day.to_numpy()
                                        for a in result.arms})
    for stem in ("pain_over_time", "relapse_curves", "arm_comparison"):
        assert f"{stem}.png" in files and f"{stem}.svg" in files
        png = mpimg.imread(tmp_path / f"{stem}.png")
        assert png.shape[1] >= 8 * DPI >= 1600  # a talk's resolution
        svg = (tmp_path / f"{stem}.svg").read_text()
        assert "not medical advice" in svg  # text kept as text
    svg = (tmp_path / "relapse_curves.svg").read_text()
    assert "Band: pointwise 95% confidence interval (Greenwood, log-log)" in svg
    assert "Ticks: censored without relapse" in svg and "Number at risk" in svg
    p = result.patients
    for arm in result.arms:  # everyone with relief is at risk at time 0
        n0 = int(p[(p.arm == arm)].relief.sum())
        assert f">{n0}</text>" in svg.replace("\n", "")
    assert "10th to 90th percentile" in (tmp_path / "pain_over_time.svg").read_text()
    svg = (tmp_path / "arm_comparison.svg").read_text()
    for pan in comparison_panels(result.summary):
        assert pan["title"] in svg and f"({pan['interval']})" in svg
    assert "percentile bootstrap of the paired difference" in svg
    assert isinstance(result.summary, pd.DataFrame)


def _step(times, values, q):
    """A Kaplan-Meier step function (1 before the first drop) at times ``q``."""
    k = np.searchsorted(times, q, side="right")
    return np.where(k > 0, values[np.maximum(k - 1, 0)], 1.0)


def test_relapse_plot_draws_a_large_cohort_at_its_resolution_only():
    from painsim.plots import RESOLUTION, _thin_points, _thin_steps

    rng = np.random.default_rng(5)
    t = rng.exponential(30.0, 20_000)
    e = rng.random(t.size) < 0.6
    ts, S, _, lo, hi = km_confidence_band(t, e)
    res = t.max() * RESOLUTION
    tt, SS, ll, hh = _thin_steps(ts, res, S, lo, hi)
    assert tt.size <= 1 / RESOLUTION + 1 < ts.size and ll.size == hh.size == tt.size
    # a drop moves earlier by less than one bin and never later: the thinned curve lies
    # between S(q + res) and S(q). The bins are floor(t / res), exact to an ulp of the
    # quotient, hence the 1e-9 of res on the bound
    q = np.sort(np.concatenate([rng.uniform(0.0, t.max(), 5000), ts, ts - res / 2]))
    thin = _step(tt, SS, q)
    assert np.all(_step(ts, S, q + res * (1 + 1e-9)) <= thin)
    assert np.all(thin <= _step(ts, S, q))
    # ticks: one per cell of the grid, and every tick's cell is still marked
    x = np.sort(t[~e])
    y = _step(ts, S, x)  # on the curve, as drawn
    kx, ky = _thin_points(x, y, res, RESOLUTION)
    cells = {(a, b) for a, b in zip(np.floor(x / res), np.floor(y / RESOLUTION),
                                    strict=True)}
    kept = list(zip(np.floor(kx / res), np.floor(ky / RESOLUTION), strict=True))
    assert len(kept) == len(set(kept)) == len(cells) < x.size and set(kept) == cells
    assert np.isin(kx, x).all() and np.isin(ky, y).all()


def test_arm_comparison_shows_the_main_outcomes_with_the_summarys_intervals(result):
    s = result.summary
    panels = {p["column"]: p for p in comparison_panels(s)}
    # the five main outcomes of issue 17 and the two paired differences
    assert set(panels) == {"change_short_term_points", "responders_30pct", "relief",
                           "relapse_within_90d_km", "durable_response",
                           "diff_change_vs_ref_points", "diff_responders_vs_ref"}
    for col, pan in panels.items():
        rows = s.iloc[1:] if col.startswith("diff_") else s  # no difference of ref - ref
        ci = {"diff_change_vs_ref_points": "diff_change",
              "diff_responders_vs_ref": "diff_responders"}.get(col, col)
        assert pan["arms"] == list(rows.index)
        # exactly the summary's numbers: the figure adds no estimate of its own
        np.testing.assert_array_equal(pan["value"], rows[col].to_numpy(dtype=float))
        np.testing.assert_array_equal(pan["low"], rows[f"{ci}_ci_low"].to_numpy(dtype=float))
        np.testing.assert_array_equal(pan["high"],
                                      rows[f"{ci}_ci_high"].to_numpy(dtype=float))
        if pan["interval"] == "paired bootstrap":
            continue  # a percentile interval need not contain the mean: nothing to assert
        # Student t, Wilson and Greenwood log-log intervals contain their estimate in
        # exact arithmetic; their formulas (sqrt, divisions) round by a few ulps of
        # values of magnitude <= 10 (pain points) or <= 1 (shares)
        ok = np.isfinite(pan["low"])
        slack = 16 * np.finfo(float).eps * np.maximum(1.0, np.abs(pan["value"][ok]))
        assert np.all(pan["low"][ok] <= pan["value"][ok] + slack)
        assert np.all(pan["value"][ok] <= pan["high"][ok] + slack)
