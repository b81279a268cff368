"""Calibration: uncertainty from the Jacobian, and a small end-to-end fit."""

from pathlib import Path

import numpy as np
import pytest

from painsim.calibrate import _uncertainty, calibrate, format_calibration
from painsim.errors import ParameterError, ScenarioError

CLAIMS = Path(__file__).resolve().parent.parent / "scenarios" / "claims"


def test_uncertainty_matches_linear_least_squares_and_flags_undetermined():
    rng = np.random.default_rng(1)
    J = rng.normal(size=(6, 2))
    se, corr = _uncertainty(J, 2.0)
    cov = np.linalg.inv(J.T @ J) * 2.0
    # two ways of solving the same normal equations: rounding of a few ulps, amplified by
    # the condition number of J^T J
    rtol = 16 * np.finfo(float).eps * np.linalg.cond(J.T @ J)
    np.testing.assert_allclose(se, np.sqrt(np.diag(cov)), rtol=rtol)
    np.testing.assert_allclose(corr[0, 1], cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]),
                               rtol=rtol)
    J0 = np.column_stack([J[:, 0], np.zeros(6)])  # the targets ignore parameter 2
    se0, _ = _uncertainty(J0, 2.0)
    assert np.isfinite(se0[0]) and np.isinf(se0[1])


def test_calibrate_a_claim_end_to_end(tmp_path):
    seen = []
    res = calibrate(CLAIMS / "003-1.toml", patients=12, max_evaluations=4, workers=1,
                    progress=lambda done, total: seen.append((done, total)))
    assert res.names == ("dry_needling.release", "acupuncture.dose", "model.tau_R")
    assert np.all(res.fitted >= res.bounds[0]) and np.all(res.fitted <= res.bounds[1])
    # --max-evaluations counts every simulation, the Jacobian's included: one at the
    # start and one per parameter pay for the first Jacobian; the budget then stops the
    # fit, and the count reported is the count run (issue 17: "60 simulations" for 40)
    assert len(res.targets) == 6
    assert res.evaluations == 4 == len(seen) and seen == [(k, 4) for k in (1, 2, 3, 4)]
    assert "stopped after 4 simulations" in res.message
    assert np.all(np.isfinite(res.std_error) | np.isinf(res.std_error))
    text = format_calibration(res)
    assert text.startswith("Calibration of claim 003-1: 4 simulations (at most 4)")
    assert "reduction_short_term(dry needling)" in text and "tolerances" in text
    assert "could be traced" in text
    f = tmp_path / "x.toml"
    f.write_text((CLAIMS / "004-3.toml").read_text())
    with pytest.raises(ScenarioError, match="no \\[calibration\\]"):
        calibrate(f)
    with pytest.raises(ParameterError, match=r"max_evaluations.*>= 4.*3 parameters"):
        calibrate(CLAIMS / "003-1.toml", patients=12, max_evaluations=3)
