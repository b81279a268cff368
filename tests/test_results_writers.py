"""Results as data (issue 17, friction 3): ``painsim claims --out`` writes the verdict
matrix as CSV and JSON, atomically; ``write_results(result, out)`` needs no scenario."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import painsim as ps
from painsim.claims import VERDICTS
from painsim.cli import main
from painsim.errors import PainsimError
from painsim.results import write_results

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
