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


def _fresh():
    """A result whose patients table is not built yet (the module's fixture has it)."""
    arms = [ps.Arm(name="none"),
            ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=ps.Fixed(sessions=3),
                                                   p_miss=0.3)),
            ps.Arm(name="ac", protocol=ps.Protocol(intervention=ps.acupuncture(),
                                                   schedule=ps.Fixed(sessions=4)))]
    return ps.simulate(arms, ps.Cohort(n=23, seed=5, mix={"recurrent": 0.5,
                                                          "chronic_sensitized": 0.5}),
                       horizon_days=40)


@pytest.mark.parametrize("rows", [1, 7, 23, 50])
def test_patient_blocks_and_columns_are_the_table(rows):
    """Blocks and column selections read from the compact columns are exactly the rows
    and dtypes of the whole table, before and after it is built, and after a load."""
    res = _fresh()
    blocks = list(res.patient_blocks(rows))
    assert max(len(b) for b in blocks) <= rows
    cols = ["arm", "phenotype", "relief", "sessions", "param_tau_D", "solver_status"]
    part = res.patient_table(cols)
    whole = res.patients  # built here, from the same columns
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole,
                                  check_exact=True)
    pd.testing.assert_frame_equal(part, whole[cols], check_exact=True)
    # once built, both are read from the table: the same rows
    pd.testing.assert_frame_equal(pd.concat(list(res.patient_blocks(rows)),
                                            ignore_index=True), whole, check_exact=True)
    pd.testing.assert_frame_equal(res.patient_table(cols), whole[cols], check_exact=True)


def test_patient_table_and_blocks_refuse_bad_arguments(tmp_path):
    res = _fresh()
    with pytest.raises(ps.ParameterError, match=r"param_nope.*is not a column.*param_tau_D"):
        res.patient_table(["arm", "param_nope"])
    with pytest.raises(ps.ParameterError, match="rows"):
        res.patient_blocks(0)
    back = ps.load(res.save(tmp_path / "r"))
    pd.testing.assert_frame_equal(back.patient_table(["arm", "relief"]),
                                  res.patients[["arm", "relief"]], check_exact=True)


def test_writing_a_results_folder_streams_the_patients_table(tmp_path):
    """write_results reads the patients table in blocks and column selections: the
    whole table (each patient's parameters repeated in every arm) is never built."""
    res = _fresh()
    files = ps.write_results(res, tmp_path / "out", plots=True)
    assert "patients.csv" in files and "summary_by_phenotype.csv" in files
    assert res.patient_columns._frame is None  # not built
    written = pd.read_csv(tmp_path / "out" / "patients.csv")
    assert written.shape == res.patients.shape
    assert list(written.columns) == list(res.patients.columns)


def test_event_log_is_compact_and_its_table_is_not():
    """The log keeps patients as int32 and kind codes as int8 (17 bytes an event, not
    24); the events table built from it has int64 patients as before."""
    from painsim.spool import code_dtype

    res = _fresh()
    for lg in res.event_log:
        assert lg["patient"].dtype == np.int32 and lg["kind"].dtype == np.int8
    assert res.events.patient.dtype == np.int64 and res.n_events == len(res.events)
    for n, dt in [(0, np.int8), (127, np.int8), (128, np.int16), (32_767, np.int16),
                  (32_768, np.int32)]:
        assert code_dtype(n) is dt
        assert np.iinfo(dt).max >= n - 1 and np.iinfo(dt).min <= -1  # codes and "none"


def test_patient_blocks_are_copies_and_survive_the_table_being_built():
    """A block written into changes nothing in the result; building the whole table
    while a block stream is open leaves the stream whole; two threads asking for the
    table at once get the same one."""
    import threading

    res = _fresh()
    it = res.patient_blocks(4)
    b = next(it)
    before = res.status["none"][0]
    b.iloc[0, b.columns.get_loc("solver_status")] = 99
    b.iloc[0, b.columns.get_loc("param_tau_D")] = -1.0
    assert res.status["none"][0] == before
    tables = []
    workers = [threading.Thread(target=lambda: tables.append(res.patients))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(tables) == 2 and tables[0] is tables[1]
    rest = pd.concat([next(res.patient_blocks(4)).iloc[:0], *it], ignore_index=True)
    whole = res.patients
    pd.testing.assert_frame_equal(rest, whole.iloc[4:].reset_index(drop=True),
                                  check_exact=True)
    assert whole.solver_status.iloc[0] == before and whole.param_tau_D.iloc[0] > 0
    with pytest.raises(ps.ParameterError, match="named twice"):
        res.patient_table(["relief", "relief"])
