"""The teaching report renders, has a section per contradiction, and its images decode."""

import base64
import html
import io
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from painsim.claims import UNTRACED_META_ANALYSIS, load_assumptions
from painsim.cli import main
from painsim.results import DISCLAIMER
from painsim.teach import CONTRADICTIONS

CLAIMS = Path(__file__).resolve().parent.parent / "scenarios" / "claims"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """``painsim teach`` run once on 8 patients, on a terminal, with the results of the
    basins, attribution and sensitivity analyses behind it kept (spies on the real
    functions): (CLI result, drawn progress, report text, those results)."""
    from painsim import attribute, basins, cli, sensitivity

    out = tmp_path_factory.mktemp("teach")
    seen = {"out": out}

    def spy(module, name):
        real = getattr(module, name)

        def wrapped(*args, **kw):
            seen[name] = real(*args, **kw)
            return seen[name]
        mp.setattr(module, name, wrapped)

    tty = io.StringIO()
    tty.isatty = lambda: True  # a terminal: the progress bar is drawn
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_terminal", lambda: tty)
        spy(basins, "basin_map")
        spy(attribute, "attribute")
        spy(sensitivity, "run_sensitivity")
        res = CliRunner().invoke(main, ["teach", "--out", str(out), "--claims-dir",
                                        str(CLAIMS), "--patients", "8", "--workers", "1",
                                        "-v"])
    assert res.exit_code == 0, res.output
    return res, tty.getvalue(), (out / "report.html").read_text(), seen


def test_teach_writes_a_self_contained_report(report):
    import matplotlib.image as mpimg

    from painsim.teach import MAP_SHARES

    res, drawn, text, seen = report
    # progress per simulated cohort (each assumption set, then each claim-map column,
    # then the basins, attribution and sensitivity sections)
    n = len(load_assumptions(CLAIMS / "assumptions.toml")) + len(MAP_SHARES) + 3
    assert f"building the report ({n} cohorts)" in drawn
    assert f"{n}/{n}" in drawn
    assert "one cohort of 8 patients per assumption set" in res.stderr
    assert text.count('<section class="contradiction">') == len(CONTRADICTIONS) == 3
    for c in CONTRADICTIONS:
        assert c["title"] in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 4
    for b64 in images:
        arr = mpimg.imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert arr.ndim == 3 and arr.shape[0] > 100 and arr.shape[1] > 100
    assert "not medical advice" in text and DISCLAIMER in text
    # 003-1's numbers come with the warning that their source could not be traced
    block = text.split("(003-1, seed 003)")[1].split("</table>")[0]
    assert UNTRACED_META_ANALYSIS in block
    # three-way verdicts, each claim's window, each set's mechanism
    verdicts = re.findall(r'<td class="(holds|fails|undecided|ok|no)">', text)
    assert verdicts and set(verdicts) <= {"holds", "fails", "undecided"}
    assert text.count("Window: ") == sum(len(c["a"]) + len(c["b"]) for c in CONTRADICTIONS)
    for s in load_assumptions(CLAIMS / "assumptions.toml"):
        assert f"Mechanism: {html.escape(s.mechanism[:60])}" in text
    assert "http://" not in text and "https://" not in text  # opens offline
    assert not list(seen["out"].glob(".*.tmp"))


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_basins_section_reads_the_runs_numbers(report):
    _, _, text, seen = report
    bm = seen["basin_map"]
    part = _plain(text.split("<h2>Who tips? Basins and kicks</h2>")[1].split("<h2>")[0])
    p = bm.patients
    assert bm.info["patients"] == 8 == len(p)  # the small cohort, at most --patients
    tipped_once = int((np.isfinite(p.min_release) & (p.min_release > 0)).sum())
    course = int((np.isfinite(p.min_sessions) & (p.min_sessions > 0)).sum())
    assert "Of 8 model patients" in part
    assert f"{int((p.n_stable >= 2).sum())} have two stable states" in part
    assert f"One session can do it for {tipped_once} of 8" in part
    assert f"leaves {course} low for good within 6 sessions" in part
    d = bm.driver
    zero = d[d.min_release == 0]
    if len(zero):
        assert f"none at all from R = {zero.R.min():g} on" in part
    assert 'alt="share tipped against sessions"' in text


def test_attribution_section_reads_the_runs_numbers(report):
    _, _, text, seen = report
    sm = seen["attribute"].summary
    part = _plain(text.split("<h2>Why did they get better? Pathways</h2>")[1]
                  .split("<h2>")[0])
    for arm in ("dry needling", "acupuncture"):
        for day in (42, 180):
            g = sm[(sm.arm == f"{arm} vs sham") & (sm.day == day)].set_index("pathway")
            tot = g.loc["total", "mean"]
            assert (f"{arm}, day {day}: pain was on average {abs(tot):.2f} points "
                    f"{'lower' if tot < 0 else 'higher'} than with sham") in part
            top = g.drop(index="total")["mean"].abs().idxmax()
            v = g.loc[top, "mean"]
            if abs(v) >= 0.005:
                assert f"{abs(v):.2f} {'less' if v < 0 else 'more'} from {top}" in part
            # the parts shown add up to the total (exact Shapley values)
            assert g.drop(index="total")["mean"].sum() == pytest.approx(tot, abs=1e-9)


def test_sensitivity_section_reads_the_runs_numbers(report):
    from painsim.teach import _PLAIN

    _, _, text, seen = report
    res = seen["run_sensitivity"]
    part = _plain(text.split("<h2>How sure? What the verdict hangs on</h2>")[1]
                  .split("<h2>")[0])
    df = res.indices["change_short_term"].sort_values("mu_star", ascending=False)
    assert f"The assumption it hangs on most is {_PLAIN[df.index[0]]}." in part
    for rank, (name, row) in enumerate(df.iterrows(), start=1):
        assert f"{rank}{_PLAIN[name]}" in part and f"{row.mu_star:.3f}" in part
    y = res.Y["change_short_term"]
    assert f"in {len(y)} model studies of 8 patients" in part
    assert f"from {np.nanmin(y):+.2f} to {np.nanmax(y):+.2f} points" in part


def _two_arms(n: int = 40, seed: int = 5):
    import painsim as ps
    from painsim.teach import _arms

    return ps.simulate(_arms(), ps.Cohort(n=n, seed=seed, mix={"recurrent": 0.5,
                                                              "chronic_sensitized": 0.5}),
                       200.0, outcomes=ps.Outcomes(short_term_day=42)).patients


def test_claim_map_cell_is_the_claims_relapse_difference_with_a_paired_interval():
    import pandas as pd

    from painsim.claims import relapse_fraction
    from painsim.teach import relapse_difference

    p = _two_arms()
    for w in (30.0, 90.0):
        v, lo, hi = relapse_difference(p, w, rng=np.random.default_rng(1))
        # the same number the claims' relapse observable reads
        assert v == (relapse_fraction(p[p.arm == "dry needling"], w)
                     - relapse_fraction(p[p.arm == "acupuncture"], w))
        assert lo <= hi
        # a fixed seed gives the same interval
        assert (v, lo, hi) == relapse_difference(p, w, rng=np.random.default_rng(1))
    # paired: with both arms the same patients' same outcomes, every resample's
    # difference is exactly 0, so the interval is [0, 0] (unpaired it would not be)
    dn = p[p.arm == "dry needling"]
    same = pd.concat([dn, dn.assign(arm="acupuncture")])
    assert relapse_difference(same, 60.0, rng=np.random.default_rng(2)) == (0.0, 0.0, 0.0)


def test_claim_map_cells_name_a_therapy_only_when_the_interval_excludes_zero():
    from painsim.teach import _map_cell

    assert _map_cell(0.10, 0.02, 0.18).startswith("acupuncture\n+0.10")
    assert _map_cell(-0.10, -0.18, -0.02).startswith("dry needling\n-0.10")
    assert _map_cell(0.06, -0.01, 0.12).startswith("neither\n+0.06\n[-0.01, +0.12]")
    assert _map_cell(float("nan"), float("nan"), float("nan")).startswith("n/a")
