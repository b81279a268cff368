"""The ``painsim`` command line: a thin layer over the library."""

from __future__ import annotations

import click

from . import __version__

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="painsim")
def main() -> None:
    """painsim: pain-cycle models for research and teaching (not medical advice)."""


@main.command()
def describe() -> None:
    """Print the default model: equations, states, parameters and references."""
    from .painloop import PAIN_LOOP

    click.echo(PAIN_LOOP.describe())


@main.command()
def demo() -> None:
    """Pain of an acute and a chronic model patient under three arms (days 0-180)."""
    from .demo import format_demo, run_demo

    click.echo(format_demo(run_demo()))


if __name__ == "__main__":  # pragma: no cover
    main()
