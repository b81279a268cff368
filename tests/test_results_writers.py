"""Results as data (issue 17, friction 3): ``painsim claims --out`` writes the verdict
matrix as CSV and JSON, atomically; ``write_results(result, out)`` needs no scenario and
writes its tables as CSV or, with ``pyarrow``, Parquet (``painsim[parquet]``)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import painsim as ps
from painsim.claims import VERDICTS
from painsim.cli import main
from painsim.errors import PainsimError
from painsim.results import read_results, write_results

CLAIMS = Path(__file__).resolve().parent.parent / "scenarios" / "claims"


def test_claims_out_writes_the_verdict_matrix_as_csv_and_json(tmp_path):
    a = tmp_path / "assumptions.toml"
    a.write_text("".join(f'[[set]]\nname = "{n}"\ndescription = "d"\nmechanism = "m"\n'
                         'mix = { chronic_sensitized = 1.0 }\n' for n in ("one", "two")))
    out = tmp_path / "verdicts"
    files = [str(CLAIMS / f) for f in ("004-3.toml", "002-4.toml", "003-1.toml")]
    res = CliRunner().invoke(main, ["claims", *files, "--assumptions", str(a), "--patients",
                                    "8", "--workers", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}/: verdict_matrix.csv, verdicts.csv, verdicts.json" in res.output
    m = pd.read_csv(out / "verdict_matrix.csv", index_col="claim")
    assert list(m.index) == ["004-3", "002-4", "003-1"] and list(m.columns) == ["one", "two"]
    assert set(m.loc["002-4"]) == {"not expressible"}
    assert set(m.loc[["004-3", "003-1"]].to_numpy().ravel()) <= set(VERDICTS)
    long = pd.read_csv(out / "verdicts.csv")
    assert len(long) == 2 * (1 + 6)  # sets x observables
    doc = json.loads((out / "verdicts.json").read_text())
    assert "not medical advice" in doc["note"] and doc["settings"]["patients"] == 8
    by = {c["id"]: c for c in doc["claims"]}
    assert by["004-3"]["verdicts"] == m.loc["004-3"].to_dict()
    assert len(by["003-1"]["observables"]) == 12 and by["002-4"]["not_expressible"]
    obs = by["004-3"]["observables"][0]
    assert {"set", "what", "value", "ci_low", "ci_high", "verdict"} <= set(obs)
    # the matrix text printed is the one kept
    assert (out / "verdicts.txt").read_text().startswith("Verdicts: claim x assumption")
    # an existing folder is refused before anything runs, and left as it was
    before = (out / "verdicts.json").read_text()
    res = CliRunner().invoke(main, ["claims", *files, "--assumptions", str(a), "--out",
                                    str(out)])
    assert res.exit_code == 1 and "--force" in res.output and "Traceback" not in res.output
    assert (out / "verdicts.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_write_results_needs_no_scenario_file(tmp_path):
    course = ps.Fixed(start_day=1, every_days=7, sessions=3)
    arms = [ps.Arm(name="none"),
            ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=course))]
    res = ps.simulate(arms, ps.Cohort(n=5, seed=9), 40)
    files = write_results(res, tmp_path / "r")
    assert files[:3] == ["summary.csv", "patients.csv", "events.csv"]
    assert {"trajectories.csv", "relapse_curves.png", "relapse_curves.svg"} <= set(files)
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert (m["seed"], m["patients"], m["arms"], m["horizon_days"]) == (9, 5, ["none", "dn"],
                                                                       40.0)
    assert m["scenario_file"] is None and "scenario_text" not in m
    assert m["solver"]["rtol"] == res.settings["rtol"]
    s = pd.read_csv(tmp_path / "r" / "summary.csv", index_col="arm")
    assert list(s.index) == ["none", "dn"] and "relief_ci_low" in s.columns
    # a saved and loaded result writes the same tables
    res.save(tmp_path / "res.npz")
    write_results(ps.load(tmp_path / "res.npz"), tmp_path / "again", plots=False,
                  trajectories=False)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "summary.csv"),
                                  pd.read_csv(tmp_path / "r" / "summary.csv"))
    with pytest.raises(PainsimError, match=r"--force|exists"):
        write_results(res, tmp_path / "r")
    with pytest.raises(PainsimError, match="not a SimulationResult"):
        write_results("scenario.toml", tmp_path / "x")  # the old argument order
    # compare reads it; replay says why it cannot replay it
    res_cmp = CliRunner().invoke(main, ["compare", str(tmp_path / "r"),
                                        str(tmp_path / "again")])
    assert res_cmp.exit_code == 0, res_cmp.output
    rep = CliRunner().invoke(main, ["replay", str(tmp_path / "r"), "--arm", "dn",
                                    "--patient", "0"])
    assert rep.exit_code == 1 and "written from a scenario file" in rep.output


# ------------------------------------------------------------------ Parquet tables
try:
    import pyarrow
    HAVE_PYARROW = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_PYARROW = False

needs_pyarrow = pytest.mark.skipif(not HAVE_PYARROW,
                                   reason='needs painsim[parquet] (pyarrow)')


def _tiny(mixed: bool = False) -> ps.SimulationResult:
    """Two arms, four patients, 20 days (with seed 1, two phenotypes when ``mixed``)."""
    course = ps.Fixed(start_day=1, every_days=7, sessions=2)
    arms = [ps.Arm(name="none"),
            ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=course))]
    mix = ({"chronic_sensitized": 0.5, "acute_strain": 0.5} if mixed
           else {"chronic_sensitized": 1.0})
    return ps.simulate(arms, ps.Cohort(n=4, seed=1, mix=mix), 20)


def test_write_results_is_exported_at_the_top_level():
    assert "write_results" in ps.__all__ and ps.write_results is write_results


@needs_pyarrow
def test_parquet_tables_read_back_exactly(tmp_path):
    res = _tiny(mixed=True)
    assert res.patients.phenotype.nunique() == 2  # so summary_by_phenotype is written
    out = tmp_path / "r"
    files = ps.write_results(res, out, plots=False, table_format="parquet")
    assert files == ["summary.parquet", "patients.parquet", "events.parquet",
                     "summary_by_phenotype.parquet", "trajectories.parquet",
                     "manifest.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(files)  # no CSV beside them
    m = json.loads((out / "manifest.json").read_text())
    assert m["table_format"] == "parquet" and m["files"] == files
    assert m["versions"]["pyarrow"] == pyarrow.__version__
    # lossless: every float64 as simulated (CSV keeps six significant digits)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "patients.parquet"), res.patients)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "events.parquet"), res.events)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "trajectories.parquet"),
                                  res.trajectories())
    summary = pd.read_parquet(out / "summary.parquet")
    assert summary.index.name == "arm" and set(summary.note) == {ps.outcomes.DISCLAIMER}
    pd.testing.assert_frame_equal(summary.drop(columns="note"), res.summary)
    by = pd.read_parquet(out / "summary_by_phenotype.parquet")
    assert list(by.index.names) == ["arm", "phenotype"] and "patients" in by.columns
    # the same columns as the CSV folder
    ps.write_results(res, tmp_path / "c", plots=False)
    for name in ("summary", "patients", "events", "summary_by_phenotype", "trajectories"):
        csv = pd.read_csv(tmp_path / "c" / f"{name}.csv")
        pq = pd.read_parquet(out / f"{name}.parquet").reset_index(
            drop=name not in ("summary", "summary_by_phenotype"))
        assert list(pq.columns) == list(csv.columns), name
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["table_format"] == "csv"


@needs_pyarrow
def test_read_results_and_compare_read_a_parquet_folder(tmp_path):
    res = _tiny()
    ps.write_results(res, tmp_path / "pq", plots=False, trajectories=False,
                     table_format="parquet")
    ps.write_results(res, tmp_path / "csv", plots=False, trajectories=False)
    manifest, summary = read_results(tmp_path / "pq")
    assert manifest["table_format"] == "parquet" and list(summary.index) == ["none", "dn"]
    pd.testing.assert_frame_equal(summary.drop(columns="note"), res.summary)
    _, from_csv = read_results(tmp_path / "csv")
    assert list(from_csv.columns) == list(summary.columns)
    cmp = CliRunner().invoke(main, ["compare", str(tmp_path / "pq"), str(tmp_path / "csv")])
    assert cmp.exit_code == 0, cmp.output


def test_an_unknown_table_format_is_refused_with_the_allowed_ones(tmp_path):
    res = _tiny()
    for bad in ("xlsx", "CSV", 1, ["csv"]):
        with pytest.raises(PainsimError, match=r"table_format = .* allowed: 'csv' or "
                                               r"'parquet'"):
            ps.write_results(res, tmp_path / "r", plots=False, table_format=bad)
    assert not list(tmp_path.iterdir())  # nothing written, no temporary folder


def test_parquet_without_pyarrow_says_how_to_install_it_and_writes_nothing(
        tmp_path, monkeypatch):
    res = _tiny()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(PainsimError, match=r'needs pyarrow.*pip install "painsim\[parquet\]"'):
        ps.write_results(res, tmp_path / "r", plots=False, table_format="parquet")
    assert not list(tmp_path.iterdir())  # no folder, no temporary folder
    # CSV needs no pyarrow
    assert ps.write_results(res, tmp_path / "r", plots=False)[0] == "summary.csv"


@needs_pyarrow
def test_read_results_of_parquet_without_pyarrow_says_how_to_install_it(
        tmp_path, monkeypatch):
    ps.write_results(_tiny(), tmp_path / "r", plots=False, trajectories=False,
                     table_format="parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(PainsimError, match=r'pip install "painsim\[parquet\]"'):
        read_results(tmp_path / "r")


def test_a_scenario_outputs_format_chooses_the_table_format(tmp_path):
    """``write_results`` honours ``[outputs] format`` when the scenario carries one (and
    an explicit ``table_format`` wins)."""
    res = _tiny()
    scenario = SimpleNamespace(outputs={"trajectories": False, "plots": False,
                                        "format": "bogus"}, path="s.toml", sha256="0",
                               text="", inputs={}, title="t", seed=3, patients=4,
                               horizon_days=20.0, epoch_days=1.0, rtol=1e-6, atol=1e-8)
    with pytest.raises(PainsimError, match="'bogus'"):
        ps.write_results(res, tmp_path / "r", scenario=scenario)
    files = ps.write_results(res, tmp_path / "r", scenario=scenario, table_format="csv")
    assert files == ["summary.csv", "patients.csv", "events.csv", "manifest.json"]
    del scenario.outputs["format"]  # a scenario without the key: CSV
    assert ps.write_results(res, tmp_path / "s", scenario=scenario)[0] == "summary.csv"


_PARQUET_SCENARIO = """\
title = "tiny"
horizon = "20 days"
[cohort]
patients = 4
[[arms]]
name = "none"
[outputs]
plots = false
format = "parquet"
"""


@needs_pyarrow
def test_run_writes_parquet_from_outputs_format_and_format_overrides_it(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(_PARQUET_SCENARIO)
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "a"), "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a" / "patients.parquet").is_file()
    assert not (tmp_path / "a" / "patients.csv").exists()
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "b"), "-q",
                                    "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "patients.csv").is_file()


def test_run_without_pyarrow_fails_before_simulating(tmp_path, monkeypatch):
    import painsim.engine

    def no_simulation(*a, **k):
        raise AssertionError("simulated before the table format was checked")

    monkeypatch.setattr(painsim.engine, "simulate", no_simulation)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    f = tmp_path / "s.toml"
    f.write_text(_PARQUET_SCENARIO)
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert 'pip install "painsim[parquet]"' in res.output
    assert not list(tmp_path.glob("*a*"))  # nothing written, no temporary folder
    f.write_text(_PARQUET_SCENARIO.replace('"parquet"', '"xlsx"'))
    res = CliRunner().invoke(main, ["run", str(f), "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and "outputs.format" in res.output and "'csv'" in res.output


def test_run_scenario_is_painsim_run_as_one_call(tmp_path):
    # what `painsim run` does, as a library call: the same numbers as simulate on the
    # loaded scenario, a complete folder, and every check before the simulation
    import numpy as np

    from painsim.errors import ParameterError, ScenarioError
    from painsim.results import ScenarioRun
    from painsim.scenario import load_scenario

    f = Path(__file__).resolve().parents[1] / "scenarios" / "chronic_needling.toml"
    res, files = ps.run_scenario(f, tmp_path / "r", patients=6)
    s = load_scenario(f, patients=6)
    ref = ps.simulate(list(s.arms), s.cohort, s.horizon_days, outcomes=s.outcomes,
                      epoch_days=s.epoch_days, rtol=s.rtol, atol=s.atol)
    for arm in ref.arms:
        np.testing.assert_array_equal(res.pain[arm], ref.pain[arm])
    assert files[-1] == "manifest.json"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(files)
    with pytest.raises(PainsimError, match="exists"):
        ScenarioRun.prepare(f, tmp_path / "r")  # no force: refused before simulating
    with pytest.raises(ParameterError, match="threads"):
        ScenarioRun.prepare(f, tmp_path / "q", threads=2)  # numpy backend
    with pytest.raises(ScenarioError, match=r"missing\.toml"):
        ps.run_scenario(tmp_path / "missing.toml", tmp_path / "x")
    assert not (tmp_path / "q").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("table_format", ["csv", "parquet"])
def test_streamed_trajectories_are_the_table_written_at_once(tmp_path, table_format):
    # blocks of 3 patients cut the 4 patients of each arm unevenly: rows must still be
    # every arm's patients in order, with one header, as one to_csv/to_parquet writes
    from painsim.results import _stream_table

    if table_format == "parquet":
        pytest.importorskip("pyarrow")
    res = _tiny()
    blocks = list(res.trajectory_blocks(patients=3))
    assert len(blocks) == 4 and [len(b) for b in blocks] == [3 * 21, 21, 3 * 21, 21]
    whole = res.trajectories()
    name = _stream_table(iter(blocks), tmp_path, "t", table_format)
    if table_format == "csv":
        assert (tmp_path / name).read_text() == whole.to_csv(index=False,
                                                              float_format="%.6g")
    else:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / name), whole)
    with pytest.raises(ps.ParameterError, match="patients"):
        next(res.trajectory_blocks(patients=0))
    # a block owns its numbers (the frame is built without copying them again): writing
    # into it cannot reach the result's daily pain
    assert not any(np.shares_memory(b["pain_0_10"].to_numpy(), p)
                   for b in blocks for p in res.pain.values())


def test_releasing_freed_memory_between_steps_is_harmless():
    from painsim.results import _release_freed_memory

    assert _release_freed_memory() is None  # glibc's malloc_trim, or nothing elsewhere


def test_event_blocks_and_days_are_the_event_table_read_in_pieces(tmp_path):
    # written block by block (CSV: one header) the events file is the table's to_csv;
    # the plots' session days come from the compact log without building the table
    from painsim.results import _stream_table

    res = _tiny(mixed=True)
    blocks = list(res.event_blocks(rows=5))
    assert len(blocks) > 2 and all(0 < len(b) <= 5 for b in blocks)
    whole = res.events
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole)
    name = _stream_table(iter(blocks), tmp_path, "e", "csv")
    assert (tmp_path / name).read_text() == whole.to_csv(index=False, float_format="%.6g")
    for arm in res.arms:
        for kind in ("session", "flare", "no such kind"):
            want = whole[(whole.arm == arm) & (whole.kind == kind)].day.to_numpy()
            assert res.event_days(arm, kind).tolist() == want.tolist()
    assert res.event_days("dn", "session").size == 2 * 4  # 2 sessions x 4 patients
    with pytest.raises(ps.ParameterError, match="arm"):
        res.event_days("nope", "session")
