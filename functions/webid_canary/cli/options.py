"""Options shared by several commands, with the environment variable each one falls back to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import click

from webid_canary import names
from webid_canary.cli.errors import OneLineError

TABLE_HELP: Final = "The Targets table (the stack's TargetsTableName output)."


def targets_table_option[F: Callable[..., Any]](command: F) -> F:
    """--targets-table NAME, or WEBID_CANARY_TARGETS_TABLE; never marked required, since the variable works."""
    return click.option(
        "--targets-table",
        envvar=names.ENV_TARGETS_TABLE,
        metavar="NAME",
        show_envvar=True,
        help=TABLE_HELP,
    )(command)


def table_name(value: str | None) -> str:
    """The Targets table name from --targets-table or WEBID_CANARY_TARGETS_TABLE (click reads it per call)."""
    if value is None or not value.strip():
        raise OneLineError(f"--targets-table: not set (give --targets-table NAME or set {names.ENV_TARGETS_TABLE})")
    return value.strip()


def allow_private_option[F: Callable[..., Any]](command: F) -> F:
    """--allow-private, or WEBID_CANARY_ALLOW_PRIVATE_ISSUERS=true (the sandbox sets it)."""
    return click.option(
        "--allow-private",
        is_flag=True,
        envvar=names.ENV_ALLOW_PRIVATE_ISSUERS,
        show_envvar=True,
        help="Allow issuers on loopback, private and link-local addresses.",
    )(command)


def ca_file_option[F: Callable[..., Any]](command: F) -> F:
    """--ca-file PEM, or WEBID_CANARY_CA_FILE (the sandbox sets it)."""
    return click.option(
        "--ca-file",
        type=str,
        default=None,
        envvar=names.ENV_CA_FILE,
        show_envvar=True,
        metavar="PEM",
        help="PEM roots for private issuers (not public roots).",
    )(command)


def checked_ca_file(path: str | None) -> str | None:
    """The --ca-file path once it is known to hold PEM certificates; else one line naming the file and why."""
    from webid_canary.adapters.issuer import CaFileError, check_ca_file

    if path is None:
        return None
    try:
        check_ca_file(path)
    except CaFileError as exc:
        raise OneLineError(f"--ca-file: {exc}") from exc
    return path
