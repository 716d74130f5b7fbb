"""Options shared by several commands, with the environment variable each one falls back to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import click

from webid_canary import names
from webid_canary.cli.errors import OneLineError
from webid_canary.core.state import Status

# The statuses a terminal lists by default: everything but ok.
PROBLEMS: Final = frozenset({Status.FAILING, Status.OPEN, Status.ERROR, Status.DRIFT})
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


def parse_statuses(value: str | None) -> frozenset[Status] | None:
    """--status failing,error as statuses; one line naming the option and the allowed values when one is unknown."""
    if value is None:
        return None
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    allowed = [s.value for s in Status]
    unknown = [v for v in wanted if v not in allowed]
    if unknown or not wanted:
        raise OneLineError(f"--status: {', '.join(unknown) or value!r} is not one of {', '.join(allowed)}")
    return frozenset(Status(v) for v in wanted)


FORMATS: Final = ("text", "json", "ocsf")


def format_option[F: Callable[..., Any]](command: F) -> F:
    """--format text|json|ocsf; --json stays the short way to say --format json."""
    return click.option(
        "--format",
        "output",
        type=click.Choice(FORMATS),
        default=None,
        help="text for people (the default), json (as --json), ocsf (OCSF Detection Findings, docs/ocsf.md).",
    )(command)


def output_format(as_json: bool, output: str | None) -> str:
    """The format asked for by --json and --format; one line when they disagree."""
    if as_json and output not in (None, "json"):
        raise OneLineError(f"usage: give --json or --format {output}, not both")
    return "json" if as_json else output or "text"
