"""How every command refuses: one `error:` line on stderr, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_INPUT = 2


class OneLineError(click.ClickException):
    """Unusable input (or an account that cannot be read): one line on stderr, exit status 2."""

    exit_code = EXIT_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class OneLineCommand(click.Command):
    """Usage errors (a bad option value, a missing argument) as one line naming the option."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise OneLineError(f"usage: {exc.format_message()}") from exc


def fail(field: str, reason: str) -> NoReturn:
    """Refuse the input: `error: FIELD: REASON`, exit status 2."""
    raise OneLineError(f"{field}: {reason}")


def read_input(path: str, field: str) -> str:
    """A text file the user named, or a one-line refusal naming the field."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(field, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
