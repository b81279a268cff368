"""The README's examples run and show what the code really prints."""

import contextlib
import io
import re
from pathlib import Path

from painsim.demo import format_demo, run_demo

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_has_exactly_two_commands():
    quick = README.read_text().split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", quick, flags=re.S).group(1)
    assert len([ln for ln in block.splitlines() if ln.strip()]) == 2


def test_python_examples_run_and_print_the_documented_output():
    blocks = _blocks("python")
    assert len(blocks) >= 2
    texts = [t.strip() for t in _blocks("text")]
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            # run as a script is run: a Dask example starts workers under a __main__ guard
            exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
        assert out.getvalue().strip() in texts, out.getvalue()


def test_demo_table_in_readme_is_current():
    table = next(t for t in _blocks("text") if "patient  arm" in t)
    demo = [ln.rstrip() for ln in format_demo(run_demo()).splitlines()]
    for line in table.strip().splitlines():
        assert line.rstrip() in demo, line


def test_readme_says_not_medical_advice():
    assert "not medical\nadvice" in README.read_text() or "not medical advice" in \
        README.read_text()
