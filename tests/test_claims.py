"""Claims as executable checks: loading, evaluation and the contradiction logic."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from painsim.claims import (
    AssumptionSet,
    Claim,
    Observable,
    evaluate_claims,
    format_verdicts,
    load_assumptions,
    load_claims,
)
from painsim.cli import main
from painsim.errors import ScenarioError

CLAIMS = Path(__file__).resolve().parent.parent / "scenarios" / "claims"
REQUIRED = ["000-2", "000-3", "000-5", "000-8", "000-9", "001-1", "001-3", "001-4",
            "002-1", "002-4", "002-5", "003-1", "003-2", "003-3", "003-4", "003-5",
            "003-6", "004-1", "004-3"]


def test_every_required_claim_is_shipped_and_valid():
    files = sorted(f for f in CLAIMS.glob("*.toml") if f.name != "assumptions.toml")
    claims = {c.id: c for c in load_claims(files)}
    assert set(REQUIRED) <= set(claims)
    for cid, c in claims.items():
        assert Path(c.path).stem == cid
        assert c.quote and (c.observables or c.not_expressible)
    assert "2022 meta-analysis" in Path(claims["003-1"].path).read_text()
    assert "could be traced" in Path(claims["003-1"].path).read_text()
    assert len(load_assumptions(CLAIMS / "assumptions.toml")) >= 4


def test_bad_claim_files_name_the_field(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('id = "x"\nsource = "s"\nquote = "q"\n[[observable]]\nmetric = "relif"\n'
                 'arm = "acupuncture"\nband = [0, 1]\n')
    with pytest.raises(ScenarioError, match="did you mean 'relief'"):
        load_claims([f])
    f.write_text('id = "x"\nsource = "s"\nquote = "q"\n[[observable]]\nmetric = "relief"\n'
                 'arm = "acupunture"\nband = [0, 1]\n')
    with pytest.raises(ScenarioError, match="did you mean 'acupuncture'"):
        load_claims([f])
    f.write_text('id = "x"\nsource = "s"\nquote = "q"\n')
    with pytest.raises(ScenarioError, match="not_expressible"):
        load_claims([f])


def test_contradictions_are_pairs_that_never_hold_together():
    claims = [Claim(id=c, source="s", quote=c, observables=(
        Observable(metric="relief", arm="acupuncture", band=(0, 1)),)) for c in "ABC"]
    sets = [AssumptionSet(name=n, description=n) for n in ("s1", "s2")]
    table = pd.DataFrame([
        {"claim": c, "set": s, "observable": 0, "what": "", "value": 0.5, "ci_low": 0.4,
         "ci_high": 0.6, "holds": h, "defined": True}
        for c, s, h in [("A", "s1", True), ("A", "s2", False), ("B", "s1", False),
                        ("B", "s2", True), ("C", "s1", False), ("C", "s2", False)]])
    text = format_verdicts(claims, sets, table)
    assert "hold under no assumption set tried: C" in text
    contra = text.split("never together:")[1].split("Pairs that can")[0]
    assert "A vs B" in contra


def test_evaluate_on_a_small_paired_cohort():
    files = [CLAIMS / "003-4.toml", CLAIMS / "003-3.toml"]
    claims = load_claims(files)
    sets = [AssumptionSet(name="default", description="d",
                          mix={"stress_driven": 1.0}),
            AssumptionSet(name="rare", description="r", mix={"stress_driven": 1.0},
                          treatments={"dry_needling": {"p_soreness": 0.0}})]
    table = evaluate_claims(claims, sets, patients=16, horizon_days=60, n_boot=20)
    assert len(table) == 2 * (2 + 1)
    sore = table[(table.claim == "003-4") & (table.observable == 0)].set_index("set")
    assert sore.loc["rare", "value"] == 0.0  # p_soreness 0: nobody gets sore
    assert sore.loc["default", "value"] > 0.5  # 30% per session over six sessions
    assert table.holds.dtype == bool


def test_cli_claims_prints_the_matrix(tmp_path):
    a = tmp_path / "assumptions.toml"
    a.write_text('[[set]]\nname = "only"\ndescription = "one set"\n'
                 'mix = { chronic_sensitized = 1.0 }\n')
    res = CliRunner().invoke(main, ["claims", str(CLAIMS / "004-3.toml"), "--assumptions",
                                    str(a), "--patients", "10", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "004-3" in res.output and "only" in res.output
    assert "not medical advice" in res.output
