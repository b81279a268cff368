"""Results as data: a saved result loads back exactly; daily pain as a labelled array;
the parameters each patient was drawn with are in the patients table."""

import numpy as np
import pandas as pd
import pytest

import painsim as ps
from painsim.errors import PainsimError


@pytest.fixture(scope="module")
def result():
    arms = [ps.Arm(name="none"),
            ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=ps.Fixed(sessions=3),
                                                   p_miss=0.3))]
    return ps.simulate(arms, ps.Cohort(n=16, seed=2, mix={"recurrent": 0.5,
                                                          "chronic_sensitized": 0.5}),
                       horizon_days=60)


def test_save_and_load_round_trip_exactly(result, tmp_path):
    f = result.save(tmp_path / "run")
    assert f.name == "run.npz" and not list(tmp_path.glob(".run.npz.*"))  # no temp left
    back = ps.load(f)
    assert back.arms == result.arms
    pd.testing.assert_frame_equal(back.patients, result.patients, check_exact=True)
    pd.testing.assert_frame_equal(back.summary, result.summary, check_exact=True)
    pd.testing.assert_frame_equal(back.events, result.events, check_exact=True)
    for a in result.arms:
        np.testing.assert_array_equal(back.pain[a], result.pain[a])
        np.testing.assert_array_equal(back.status[a], result.status[a])
        for x, y in zip(back.relapse_curves[a], result.relapse_curves[a], strict=True):
            np.testing.assert_array_equal(x, y)
    assert back.settings == result.settings and back.settings["backend"] == "numpy"
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PainsimError, match="not a saved painsim result"):
        ps.load(tmp_path / "junk.npz")


def test_to_xarray_labels_daily_pain(result):
    xr = pytest.importorskip("xarray")
    da = result.to_xarray()
    assert isinstance(da, xr.DataArray) and da.dims == ("arm", "patient", "day")
    assert da.sizes == {"arm": 2, "patient": 16, "day": 61}
    np.testing.assert_array_equal(da.sel(arm="dn").values, result.pain["dn"])
    first = result.patients[result.patients.arm == "none"]
    assert list(da.phenotype.values) == list(first.phenotype)
    assert da.attrs["units"] == "pain, 0-10 scale"


def test_patients_table_has_the_drawn_parameters(result):
    p = result.patients
    cols = [c for c in p.columns if c.startswith("param_")]
    assert cols == [f"param_{n}" for n in ps.PAIN_LOOP.parameter_names]
    # the same patient has the same parameters in every arm (common random numbers) and
    # they are the cohort's own draws
    a, b = p[p.arm == "none"], p[p.arm == "dn"]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
    sample = ps.Cohort(n=16, seed=2, mix={"recurrent": 0.5, "chronic_sensitized": 0.5}
                       ).sample(60)
    np.testing.assert_array_equal(a[cols].to_numpy().T, sample.params)
