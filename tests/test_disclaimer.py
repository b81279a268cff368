"""One disclaimer: the "not medical advice" text has one home, and outputs carry it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from matplotlib.figure import Figure

import painsim
from painsim import outcomes, plots, results
from painsim.cli import main
from painsim.outcomes import DISCLAIMER

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(painsim.__file__).parent
SCENARIO = ROOT / "scenarios" / "acute_vs_chronic.toml"


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings (adjacent literals joined)."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_the_text_is_written_once_in_the_package():
    """Outside docstrings, "medical advice" appears in one string: outcomes.DISCLAIMER."""
    found = [f"{p.name}:{line}" for p in sorted(PACKAGE.glob("*.py"))
             for line, s in _strings(ast.parse(p.read_text()))
             if "medical advice" in " ".join(s.split())]
    home = next(n.lineno for n in ast.parse((PACKAGE / "outcomes.py").read_text()).body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "DISCLAIMER")
    assert found == [f"outcomes.py:{home}"]
    for p in PACKAGE.glob("explore_page.*"):
        assert "medical advice" not in p.read_text()  # the page takes it from Python


def test_every_name_for_it_is_the_one_constant():
    assert results.DISCLAIMER is outcomes.DISCLAIMER
    assert "not medical advice" in DISCLAIMER and DISCLAIMER in plots.FOOTER


def test_run_shows_it_in_the_terminal_tables_manifest_and_every_figure(tmp_path,
                                                                       monkeypatch):
    seen: list[list[str]] = []
    save = Figure.savefig

    def savefig(fig, *args, **kwargs):
        seen.append([t.get_text() for t in fig.texts])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["run", str(SCENARIO), "--out", str(out),
                                  "--patients", "4"])
    assert r.exit_code == 0, r.output
    assert r.output.count(DISCLAIMER) == 1
    assert set(pd.read_csv(out / "summary.csv").note) == {DISCLAIMER}
    assert json.loads((out / "manifest.json").read_text())["note"] == DISCLAIMER
    pngs = sorted(p.name for p in out.glob("*.png"))
    svgs = sorted(p.name for p in out.glob("*.svg"))  # each figure also as SVG
    assert len(seen) == len(pngs) + len(svgs) == 6 and len(pngs) == 3
    assert all(plots.FOOTER in texts for texts in seen)


def test_describe_and_demo_end_with_it():
    for args in (["describe", str(SCENARIO)], ["demo"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        assert r.output.rstrip().endswith(DISCLAIMER), args


def test_the_daily_pain_array_carries_it():
    arm = painsim.Arm(name="none")
    res = painsim.simulate([arm], painsim.Cohort(n=2, seed=1), 5.0)
    assert res.to_xarray().attrs["note"] == DISCLAIMER
