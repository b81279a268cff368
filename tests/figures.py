"""What every figure painsim writes must be (issue 17): a PNG at a talk's resolution and
an SVG beside it with its text kept as text."""

from pathlib import Path

from painsim.plots import DPI


def assert_talk_figure(folder: Path, stem: str) -> None:
    """``folder/stem.png`` at least 1600 px wide (8 in at :data:`painsim.plots.DPI` or
    more) and ``folder/stem.svg`` whose text is text (the disclaimer is searchable)."""
    import matplotlib.image as mpimg

    png = mpimg.imread(folder / f"{stem}.png")
    assert png.shape[1] >= 8 * DPI >= 1600, (stem, png.shape)
    svg = (folder / f"{stem}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "not medical advice" in svg, stem
