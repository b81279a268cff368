"""Scenario files and the CLI: run, check, compare, describe, and every kind of bad input."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from painsim.cli import main
from painsim.scenario import load_scenario, parse_duration, reference_markdown

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))

GOOD = """
title = "tiny"
seed = 1
horizon = "30 days"
[cohort]
patients = 4
[[arms]]
name = "none"
[[arms]]
name = "dn"
treatment = [{ kind = "dry_needling" }]
schedule = { kind = "fixed", start = "1 day", every = "1 week", sessions = 3 }
[outcomes]
short_term = "3 weeks"
"""


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _no_traceback(res):
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_checks_and_runs(path, tmp_path):
    res = _run("check", path)
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    res = _run("run", path, "--out", out, "--patients", 6, "--quiet")
    assert res.exit_code == 0, res.output
    for f in ("summary.csv", "patients.csv", "events.csv", "trajectories.csv",
              "manifest.json", "pain_over_time.png", "relapse_curves.png",
              "arm_comparison.png"):
        assert (out / f).is_file(), f
    text = path.read_text()
    assert text.lstrip().startswith("#")  # shipped scenarios explain themselves


def test_run_writes_a_complete_results_folder(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    out = tmp_path / "res"
    res = _run("run", f, "--out", out)
    assert res.exit_code == 0, res.output
    assert "not medical advice" in res.output
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(summary.index) == ["none", "dn"]
    assert "diff_change_vs_ref_points" in summary.columns
    patients = pd.read_csv(out / "patients.csv")
    assert len(patients) == 8 and {"arm", "patient", "relief"} <= set(patients.columns)
    events = pd.read_csv(out / "events.csv")
    assert (events[events.arm == "dn"].kind == "session").sum() == 12
    traj = pd.read_csv(out / "trajectories.csv")
    assert len(traj) == 2 * 4 * 31
    m = json.loads((out / "manifest.json").read_text())
    assert m["scenario_text"] == GOOD and len(m["scenario_sha256"]) == 64
    assert m["seed"] == 1 and m["solver"]["rtol"] == 1e-6
    assert {"painsim", "numpy", "scipy", "simpy"} <= set(m["versions"])
    assert m["timings_s"]["total"] > 0
    png = (out / "pain_over_time.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    # no leftovers of the temporary folder
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # an existing folder needs --force, and stays untouched without it
    before = (out / "manifest.json").read_text()
    res = _run("run", f, "--out", out)
    assert res.exit_code != 0 and "--force" in res.output
    assert (out / "manifest.json").read_text() == before
    assert _run("run", f, "--out", out, "--force", "--seed", 2).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2


def test_same_scenario_and_seed_same_numbers(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    _run("run", f, "--out", tmp_path / "a", "--quiet")
    _run("run", f, "--out", tmp_path / "b", "--quiet")
    for name in ("summary.csv", "patients.csv", "events.csv", "trajectories.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_compare_shows_both_and_manifest_differences(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    _run("run", f, "--out", tmp_path / "a", "--quiet")
    _run("run", f, "--out", tmp_path / "b", "--quiet", "--seed", 5)
    res = _run("compare", tmp_path / "a", tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert "A: dn" in res.output and "B: dn" in res.output
    # the seed is the only cause that differs, and compare names it as A -> B
    assert "seed: 1 -> 5" in res.output
    assert "why they differ" in res.output
    res = _run("compare", tmp_path / "a", tmp_path / "nothing")
    assert res.exit_code != 0 and "not a painsim results folder" in res.output


def test_describe_scenario_in_words():
    res = _run("describe", ROOT / "scenarios" / "chronic_needling.toml")
    assert res.exit_code == 0, res.output
    assert "300 virtual patients" in res.output
    assert "6 visits every 1 week from day 1" in res.output
    assert "not medical advice" in res.output


def test_reference_is_generated_from_the_schema():
    assert (ROOT / "scenarios" / "REFERENCE.md").read_text().strip() == \
        reference_markdown().strip()
    assert "`every`" in reference_markdown() and "dropout_per_day" in reference_markdown()


def test_nonspecific_relief_and_dry_needling_bruising_are_scenario_keys(tmp_path):
    """A file sets a visit's non-specific relief and dry needling's bruising chance;
    absent, every arm gets the shared defaults of painsim.interventions."""
    from painsim.interventions import DRY_NEEDLING_P_BRUISING, NONSPECIFIC

    weekly = 'schedule = { kind = "fixed", start = "1 day", every = "1 week", sessions = 3 }\n'
    text = GOOD.replace('treatment = [{ kind = "dry_needling" }]', 'treatment = [{ kind = '
                        '"dry_needling", p_bruising = 1.0, nonspecific = 0.0 }]') + "".join(
        f'[[arms]]\nname = "{name}"\ntreatment = [{treat}]\n{weekly}' for name, treat in (
            ("sham", '{ kind = "sham", nonspecific = 0.25 }'),
            ("acupuncture", '{ kind = "acupuncture" }'),
            ("usual care", '{ kind = "usual_care" }'),
            ("dn default", '{ kind = "dry_needling" }')))
    f = tmp_path / "s.toml"
    f.write_text(text)
    arms = {a.name: {e.target: e for e in a.protocol.intervention.effects}
            for a in load_scenario(f).arms if a.protocol}
    assert arms["dn"]["C"].value == 0.0 and arms["dn"]["bruising"].probability == 1.0
    assert arms["sham"]["C"].value == 0.25
    assert arms["acupuncture"]["C"].value == NONSPECIFIC["needling"]
    assert arms["usual care"]["C"].value == NONSPECIFIC["visit"]
    assert arms["dn default"]["C"].value == NONSPECIFIC["needling"]
    assert arms["dn default"]["bruising"].probability == DRY_NEEDLING_P_BRUISING
    res = _run("run", f, "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 0, res.output
    ev = pd.read_csv(tmp_path / "out" / "events.csv")
    dn = ev[ev.arm == "dn"]
    n_sessions = int((dn.kind == "session").sum())
    assert n_sessions == 4 * 3  # 4 patients, 3 visits each within 30 days
    assert int((dn.detail == "bruising").sum()) == n_sessions  # p_bruising = 1
    res = _run("describe", f)
    assert res.exit_code == 0 and "nonspecific 0.25" in res.output, res.output
    for bad in ("nonspecific = -0.1", "nonspecific = 10.5", "p_bruising = 1.5"):
        f.write_text(text.replace("p_bruising = 1.0, nonspecific = 0.0", bad))
        res = _run("check", f)
        assert res.exit_code == 1 and "arms[1].treatment[0]." + bad.split()[0] in \
            res.output, res.output


def test_durations():
    assert parse_duration("2 weeks") == 14 and parse_duration("36 h") == 1.5
    for bad in ("2 weks", "fortnight", "-3 days", 14):
        with pytest.raises(ValueError):
            parse_duration(bad)


# --- bad input: every problem, one screen, no traceback, no output folder -------------
BROKEN = """
seed = -1
horizon = "6 monhts"
[cohort]
patients = 0
mix = { chronic_sensitised = 0.5, acute_strain = 0.6 }
[model]
parameters = { theta0 = 99.0, tau_s = 20 }
[[arms]]
name = "a"
treatment = [{ kind = "dry_needlng" }]
schedule = { kind = "fixed", every = 14 }
[[arms]]
name = "a"
treatment = [{ kind = "acupuncture", dose = -1.0 }]
schedule = { kind = "fixed", every = "1 week", sessions = 2.5 }
p_miss = nan
shedule = 3
[outcomes]
relief_fraction = 0.1
relapse_fraction = 0.2
"""


def test_check_lists_every_problem_with_paths_and_allowed_values(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text(BROKEN)
    res = _run("check", f)
    assert res.exit_code != 0
    _no_traceback(res)
    expected = [
        ("seed", "out of range"),
        ("horizon", "unknown unit 'monhts'"),
        ("cohort.patients", "out of range; allowed: int in [1, 10000000]"),
        ("cohort.mix.chronic_sensitised", "did you mean 'chronic_sensitized'"),
        ("cohort.mix", "sum to 1.1"),
        ("model.parameters.theta0", "allowed: float in [0.1, 10] pain"),
        ("model.parameters.tau_s", "did you mean 'tau_S'"),
        ("arms[0].treatment[0].kind", "did you mean 'dry_needling'"),
        ("arms[0].schedule.every", "has no unit"),
        ("arms[1].treatment[0].dose", "out of range"),
        ("arms[1].schedule.sessions", "not an integer"),
        ("arms[1].p_miss", "out of range"),
        ("arms[1].shedule", "did you mean 'schedule'"),
        ("arms", "used more than once"),
        ("outcomes.relapse_fraction", "below relief_fraction"),
    ]
    for path, words in expected:
        line = f"{f}: {path}: "
        hits = [ln for ln in res.output.splitlines() if ln.startswith(line)]
        assert hits, f"no line for {path}:\n{res.output}"
        assert any(words in h for h in hits), (path, words, hits)
    assert not (tmp_path / "out").exists()
    res = _run("run", f, "--out", tmp_path / "out")
    assert res.exit_code != 0 and not (tmp_path / "out").exists()
    _no_traceback(res)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('title = "x"\n[[arms]\nname = "a"\n', "invalid TOML"),
        ('title = "x"\n[[arms]]\nname = "a"\nhorizon = \n', "line 4"),
        ("", "empty"),
        ("   \n\n", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfe title", "not UTF-8"),
        ('title = "no arms"\n', "no arms"),
        ('arms = []\n', "no arms"),
        ('[[arms]]\nname = "a"\ntreatment = [{ kind = "sham" }]\n', "schedule"),
        ('[[arms]]\nname = "a"\n[solver]\nrtol = inf\n', "solver.rtol"),
        ('[[arms]]\nname = 3\n', "arms[0].name: 3 is not a string"),
        ('[[arms]]\nname = "a"\nschedule = { kind = "fixed", start = "1 year" }\n'
         'treatment = [{ kind = "sham" }]\nhorizon = "10 days"\n', "unknown key"),
        ('horizon = "10 days"\n[[arms]]\nname = "a"\ntreatment = [{ kind = "sham" }]\n'
         'schedule = { kind = "fixed", start = "1 year" }\n', "after the horizon"),
        ('horizon = "-5 days"\n[[arms]]\nname = "a"\n', "is negative"),
    ],
)
def test_broken_files_fail_cleanly(tmp_path, content, words):
    f = tmp_path / "bad.toml"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content)
    for cmd in (["check", f], ["run", f, "--out", tmp_path / "out"]):
        res = _run(*cmd)
        assert res.exit_code != 0, res.output
        _no_traceback(res)
        assert str(f) in res.output and words in res.output, res.output
        assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused_before_running(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    target = tmp_path / "taken"
    target.write_text("keep me")
    res = _run("run", f, "--out", target, "--force")
    assert res.exit_code != 0 and "is not a folder" in res.output
    _no_traceback(res)
    assert target.read_text() == "keep me"


def test_missing_huge_and_directory_files(tmp_path):
    res = _run("check", tmp_path / "nope.toml")
    assert res.exit_code != 0 and "not found" in res.output
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    res = _run("check", big)
    assert res.exit_code != 0 and "too large" in res.output
    _no_traceback(res)


def test_cohort_too_large_for_memory_says_how_much(tmp_path):
    f = tmp_path / "huge.toml"
    f.write_text('horizon = "10 years"\n[cohort]\npatients = 10000000\n'
                 '[[arms]]\nname = "a"\n[[arms]]\nname = "b"\n')
    res = _run("run", f, "--out", tmp_path / "out")
    assert res.exit_code != 0
    _no_traceback(res)
    assert re.search(r"needs about [0-9.]+ GiB", res.output), res.output
    assert not (tmp_path / "out").exists()


def test_load_scenario_api_matches_cli_overrides(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    s = load_scenario(f, patients=9, seed=4)
    assert s.patients == 9 and s.cohort.n == 9 and s.seed == 4 and s.cohort.seed == 4
    assert [a.name for a in s.arms] == ["none", "dn"]
    assert s.horizon_days == 30 and s.outcomes.short_term_day == 21
