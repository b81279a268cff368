"""Error messages that lead somewhere (issue 17, friction 5): a misspelt section gets a
did-you-mean among the sections; ``painsim check`` checks each file as what it is."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from painsim.cli import main
from painsim.errors import ScenarioError
from painsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "scenarios" / "claims"


@pytest.mark.parametrize("header, hint", [
    ("[cohrt]", "did you mean [cohort]?"),
    ("[outcome]", "did you mean [outcomes]?"),
    ("[[armz]]", "did you mean [[arms]]?"),
    ("[nothing_like_it]", "sections: [model], [cohort], [[arms]]"),
])
def test_a_misspelt_section_is_named_as_a_section_with_a_did_you_mean(tmp_path, header,
                                                                       hint):
    f = tmp_path / "s.toml"
    f.write_text(f'horizon = "10 days"\n[[arms]]\nname = "a"\n{header}\npatients = 5\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    (line,) = str(e.value).splitlines()
    name = header.strip("[]")
    assert line.startswith(f"{f}: {name}: unknown section [{name}]") and hint in line
    # a misspelt top-level key is still a key, with the keys it could be
    f.write_text('horizn = "10 days"\n[[arms]]\nname = "a"\n')
    with pytest.raises(ScenarioError, match="horizn: unknown key \\(did you mean "
                       "'horizon'\\?\\); allowed: title"):
        load_scenario(f)


def test_check_validates_claim_assumption_and_evidence_files_as_such(tmp_path):
    files = [CLAIMS / "003-1.toml", CLAIMS / "002-4.toml", CLAIMS / "assumptions.toml",
             ROOT / "scenarios" / "evidence" / "gerac2007_responders.toml",
             ROOT / "scenarios" / "tapering_acupuncture.toml"]
    res = CliRunner().invoke(main, ["check", *map(str, files)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == len(files)  # one line per file, nothing irrelevant
    assert lines[0] == (f"{files[0]}: ok (claim 003-1: 6 observable(s); [calibration] of 3 "
                        "parameter(s) (dry_needling.release, acupuncture.dose, model.tau_R) "
                        "on 120 patients over 180 days)")
    assert "claim 002-4, not expressible" in lines[1]
    assert "5 assumption set(s): default" in lines[2]
    assert "evidence gerac2007: 3 target(s)" in lines[3]
    assert "2 arms, 200 patients" in lines[4]
    # a broken claim file is reported as a claim file: the field, not scenario keys
    bad = tmp_path / "bad.toml"
    bad.write_text((CLAIMS / "004-3.toml").read_text().replace("metric =", "metrc ="))
    res = CliRunner().invoke(main, ["check", str(bad)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "observable[0]" in res.output and "allowed: title" not in res.output
    assert "1 of 1 file(s) have problems" in res.output


# each edit breaks one field of 003-1.toml's [calibration]; the message must name it
@pytest.mark.parametrize("old, new, field, says", [
    ("patients = 120", "patiens = 120", "calibration.patiens",
     "did you mean 'patients'?"),
    ("patients = 120", 'patients = "120"', "calibration.patients", "not an integer"),
    ("patients = 120", "patients = 100000000", "calibration.patients",
     "an integer in [1, 10000000]"),
    ("horizon_days = 180", "horizon_days = -1", "calibration.horizon_days", "in [1,"),
    ("hi = 1.0", 'hi = "1"', "calibration.parameter[0].hi", "is not a number"),
    ("start = 0.7", "start = 1.5", "calibration.parameter[0].start", "in [0.3, 1]"),
    ("lo = 0.3", "lo = 1.0", "calibration.parameter[0]", "must be below hi"),
    ("lo = 0.3", "low = 0.3", "calibration.parameter[0].low", "did you mean 'lo'?"),
    ('name = "dry_needling.release"', 'name = "dry_needling.relase"',
     "calibration.parameter[0].name", "model.<parameter> or <treatment>.<parameter>"),
    ("acute_strain = 0.5", "acute_strian = 0.5", "calibration.mix.acute_strian",
     "did you mean 'acute_strain'?"),
    ("acute_strain = 0.5, recurrent = 0.5", "acute_strain = 0, recurrent = 0",
     "calibration.mix", "add up to 0"),
])
def test_check_and_calibrate_refuse_a_broken_calibration_naming_the_field(
        tmp_path, monkeypatch, old, new, field, says):
    from painsim import calibrate as cal

    text = (CLAIMS / "003-1.toml").read_text()
    assert old in text
    f = tmp_path / "c.toml"
    f.write_text(text.replace(old, new, 1))
    res = CliRunner().invoke(main, ["check", str(f)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith(str(f))]
    assert f"{f}: {field}:" in line and says in line, line

    def no_simulation(*a, **k):
        raise AssertionError("simulated before the table was checked")

    monkeypatch.setattr(cal, "simulate", no_simulation)
    res = CliRunner().invoke(main, ["calibrate", str(f), "--patients", "8"])
    assert res.exit_code == 1 and f"{field}:" in res.output and says in res.output
    assert "Traceback" not in res.output


def test_check_describes_a_claim_files_calibration():
    res = CliRunner().invoke(main, ["check", str(CLAIMS / "003-1.toml")])
    assert res.exit_code == 0, res.output
    assert ("[calibration] of 3 parameter(s) (dry_needling.release, acupuncture.dose, "
            "model.tau_R) on 120 patients over 180 days") in res.output
