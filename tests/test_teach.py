"""The teaching report renders, has a section per contradiction, and its images decode."""

import base64
import html
import io
import re
from pathlib import Path

from click.testing import CliRunner

from painsim.claims import UNTRACED_META_ANALYSIS, load_assumptions
from painsim.cli import main
from painsim.results import DISCLAIMER
from painsim.teach import CONTRADICTIONS

CLAIMS = Path(__file__).resolve().parent.parent / "scenarios" / "claims"


def test_teach_writes_a_self_contained_report(tmp_path, monkeypatch):
    import matplotlib.image as mpimg

    from painsim import cli
    from painsim.teach import MAP_SHARES

    tty = io.StringIO()
    tty.isatty = lambda: True  # a terminal: the progress bar is drawn
    monkeypatch.setattr(cli, "_terminal", lambda: tty)
    res = CliRunner().invoke(main, ["teach", "--out", str(tmp_path), "--claims-dir",
                                    str(CLAIMS), "--patients", "8", "--workers", "1", "-v"])
    assert res.exit_code == 0, res.output
    # progress per simulated cohort (each assumption set, then each claim-map column)
    n = len(load_assumptions(CLAIMS / "assumptions.toml")) + len(MAP_SHARES)
    assert f"building the report ({n} cohorts)" in tty.getvalue()
    assert f"{n}/{n}" in tty.getvalue()
    assert "one cohort of 8 patients per assumption set" in res.stderr
    text = (tmp_path / "report.html").read_text()
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
    assert not list(tmp_path.glob(".*.tmp"))
