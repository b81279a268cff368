"""Basin maps (painsim.basins) on a hand-built bistable model with a known boundary.

dT/dt = k (-(T-3)^3 + 4 (T-3) - a - R), dR/dt = -R / tau_R, pain = T: for a + R below
16 / (3 sqrt 3) there are two stable states and a saddle (the roots of the cubic); one
session releasing a fraction f of T tips the high state into the low basin iff
(1 - f) T_high < T_saddle, so the minimal release is 1 - T_saddle / T_high, and past the
saddle-node (a + R > 16 / (3 sqrt 3)) none is needed.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import painsim as ps
from painsim.basins import basin_map, kick_vs_driver, minimal_release

from .figures import assert_talk_figure

FOLD = 16 / (3 * math.sqrt(3))


def _rhs(t, y, p):
    T, R = y
    u = T - 3.0
    return np.stack([p.k * (-(u**3) + 4 * u - p.a - R), -R / p.tau_R])


P_ = ps.Parameter
TOY = ps.Model(
    name="cubic", rhs=_rhs, pain=lambda y, p: np.clip(y[0], 0.0, 10.0),
    states=(ps.State(name="T", unit="pain", description="tension = pain", initial=5.0),
            ps.State(name="R", unit="1", description="slow driver")),
    parameters=(P_(name="a", default=0.0, unit="1", description="offset", bounds=(-3, 3),
                   plausible=(-1, 1)),
                P_(name="k", default=0.5, unit="1/day", description="rate",
                   bounds=(0.01, 10), plausible=(0.1, 1)),
                P_(name="tau_R", default=100.0, unit="day", description="driver decay",
                   bounds=(1, 1e4), plausible=(10, 1000))))


def _roots(c: float) -> np.ndarray:
    """T at the steady states for a + R = c, ascending."""
    r = np.roots([-1.0, 0.0, 4.0, -c])
    return np.sort(r[np.abs(r.imag) < 1e-9].real) + 3.0


def toy_equilibria(params, R=0.0):
    out = []
    for T in _roots(params.a + R):
        slope = -3 * (T - 3) ** 2 + 4
        out.append({"pain": float(T), "kind": "stable" if slope < 0 else "saddle"})
    return out


def exact_release(c: float) -> float:
    r = _roots(c)
    return 0.0 if r.size < 3 else 1.0 - r[1] / r[2]


def kick(f: float) -> ps.Intervention:
    return ps.Intervention(name="kick", lever="local",
                           effects=(ps.Effect(target="T", op="scale", value=1.0 - f),))


def _cohort(n: int = 8) -> ps.Cohort:
    ph = ps.Phenotype(name="toy", description="cubic", params={"a": ps.Uniform(-0.5, 1.0)})
    return ps.Cohort(n=n, seed=4, mix={"toy": 1.0}, phenotypes={"toy": ph}, model=TOY,
                     run_in_days=30.0)


def test_minimal_release_is_the_analytic_boundary() -> None:
    s = _cohort().sample(100.0)
    a = s.params[0]
    level = np.array([_roots(x)[1] for x in a])
    got = minimal_release(TOY, s.y0, s.params, level, lever=kick, horizon=120,
                          settle_days=20)
    want = np.array([exact_release(x) for x in a])
    assert np.all(want > 0.2)  # really bistable: a kick is needed
    assert np.abs(got - want).max() < 2e-3, (got, want)


def test_no_release_suffices_above_the_range_gives_inf() -> None:
    s = _cohort(4).sample(100.0)
    level = np.array([_roots(x)[1] for x in s.params[0]])
    got = minimal_release(TOY, s.y0, s.params, level, lever=kick, max_release=0.2,
                          horizon=120, settle_days=20)
    assert np.all(np.isinf(got))


def test_basin_map_table_sessions_and_driver_curve() -> None:
    bm = basin_map(_cohort(), lever=kick, course=kick(0.45), every_days=7, max_sessions=3,
                   horizon=120, settle_days=20, equilibria=toy_equilibria,
                   driver="R", driver_values=[0.0, 1.0, 2.0, 2.9, 3.2, 4.0])
    p = bm.patients
    a = _cohort().sample(100.0).params[0]
    want = np.array([exact_release(x) for x in a])
    assert (p.n_stable == 2).all() and np.allclose(p.saddle_pain, [_roots(x)[1] for x in a])
    assert np.abs(p.min_release - want).max() < 2e-3
    # a course of 0.45-kicks: one session where 0.45 suffices, never where it does not
    # (the high state pulls the patient back within days, long before the next session)
    clear = np.abs(want - 0.45) > 0.01
    assert clear.sum() >= 4
    assert np.all(p.min_sessions[clear & (want < 0.45)] == 1)
    assert np.all(np.isinf(p.min_sessions[clear & (want > 0.45)]))
    assert bm.tipped.loc[0, "all"] == 0.0
    # the minimal kick against the held driver R: the analytic curve, 0 past the fold
    d = bm.driver
    a0 = a[0]
    for R, m in zip(d.R, d.min_release, strict=True):
        assert m == pytest.approx(exact_release(a0 + R), abs=2e-3), (R, m)
    assert (d.min_release[d.R + a0 > FOLD] == 0).all()
    assert d.min_release.is_monotonic_decreasing


def test_driver_curve_direct_call() -> None:
    y = np.array([5.0, 0.0])
    P = np.array([0.0, 0.5, 100.0])
    d = kick_vs_driver(TOY, y, P, [0.0, 3.5], lever=kick, equilibria=toy_equilibria,
                       horizon=120, settle_days=20)
    assert d.min_release[0] == pytest.approx(0.4, abs=2e-3) and d.min_release[1] == 0.0
    assert d.n_stable.tolist() == [2, 1]


def test_cli_basins_on_a_shipped_scenario(tmp_path: Path) -> None:
    out = tmp_path / "b"
    r = subprocess.run([sys.executable, "-m", "painsim.cli", "basins",
                        "scenarios/chronic_needling.toml", "--out", str(out), "--patients",
                        "6", "--max-sessions", "2", "--horizon", "120"],
                       capture_output=True, text=True, timeout=600,
                       cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stderr
    assert "not medical advice" in r.stdout
    assert {"patients.csv", "tipped.csv", "driver.csv", "phase_plane.png", "cohort.png",
            "manifest.json"} <= {p.name for p in out.iterdir()}
    for stem in ("phase_plane", "cohort"):
        assert_talk_figure(out, stem)
    bad = subprocess.run([sys.executable, "-m", "painsim.cli", "basins",
                          "scenarios/chronic_needling.toml", "--out", str(tmp_path / "x"),
                          "--arm", "cupping"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[1])
    assert bad.returncode != 0 and "cupping" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_basin_map_is_the_same_for_any_number_of_workers() -> None:
    kw = dict(lever=kick, course=kick(0.45), every_days=7, max_sessions=2, horizon=60,
              settle_days=10, equilibria=toy_equilibria, driver=None)
    one = basin_map(_cohort(6), workers=1, **kw)
    two = basin_map(_cohort(6), workers=2, **kw)
    assert one.patients.equals(two.patients) and one.tipped.equals(two.tipped)


def test_batched_equilibria_are_painsims_exactly() -> None:
    """The basin map's vectorised bracketing (all patients' grids in one call) finds the
    same steady states, bit for bit, as painsim.equilibria patient by patient (one lane
    at a time: elementwise arithmetic must not depend on the other lanes)."""
    from painsim.basins import _default_equilibria, _landscapes
    from painsim.painloop import equilibria_of_lanes

    cohort = ps.Cohort(n=12, seed=5, mix={"chronic_sensitized": 0.5, "recurrent": 0.25,
                                          "acute_strain": 0.25})
    P = cohort.sample(30.0).params
    eq = _default_equilibria(cohort.model)
    for R in (0.0, 0.05, 0.3):
        batch = equilibria_of_lanes(P, R=R, n_grid=100)
        for i, got in enumerate(batch):
            want = eq(cohort.model.params(**dict(zip(cohort.model.parameter_names,
                                                     P[:, i].tolist(), strict=True))), R=R)
            assert [e["kind"] for e in got] == [e["kind"] for e in want]
            assert [e["pain"] for e in got] == [e["pain"] for e in want]
            for a, b in zip(got, want, strict=True):
                assert np.array_equal(a["state"], b["state"])
                assert np.array_equal(a["eigenvalues"], b["eigenvalues"])
    assert any(len(x) == 3 for x in equilibria_of_lanes(P, n_grid=100))  # bistable patients in it
    import pandas as pd

    one = pd.DataFrame(_landscapes(eq, cohort.model, P, 1, batch=False))
    assert pd.DataFrame(_landscapes(eq, cohort.model, P, 1, batch=True)).equals(one)
    assert pd.DataFrame(_landscapes(eq, cohort.model, P, 2, batch=True)).equals(one)
