"""What every command prints for scripts and for people: versioned JSON, and consoles that fit where they print."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import click
from rich.console import Console

from webid_canary.settings import columns

SCHEMA_PREFIX: Final = "webid-canary"
# Piped output is never wrapped mid-value: a width no line of ours reaches (COLUMNS overrides it).
PIPED_WIDTH: Final = 4096


def schema(command: str, version: int = 1) -> str:
    """The schema a command's JSON names: webid-canary/<command>/v<N> (docs/json.md describes each)."""
    return f"{SCHEMA_PREFIX}/{command}/v{version}"


def print_json(command: str, document: Mapping[str, Any], version: int = 1) -> None:
    """Print one JSON document on stdout, its schema first."""
    click.echo(json.dumps({"schema": schema(command, version), **document}, indent=2, default=str))


def fitted_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal; when piped, as wide as COLUMNS says, or wide enough never to wrap."""
    width = columns()
    probe = Console(stderr=stderr)
    if probe.is_terminal or width is not None:
        return Console(stderr=stderr, width=width, highlight=False)
    return Console(stderr=stderr, width=PIPED_WIDTH, no_color=True, highlight=False)


def print_block(out: Console, renderable: Any) -> None:
    """Print a table; piped, without the padding that would follow each row's last cell."""
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()), file=out.file)


@contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner with what is being done, on stderr when it is a terminal, while a step that can take seconds
    runs (reading a table, listing every role of an account); nothing when piped."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(text):
        yield
