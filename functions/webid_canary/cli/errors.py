"""How every command ends: the exit statuses, and the one place AWS failures become words and a status.

Every command refuses with one `error:` line on stderr, never a traceback. The same cause gives the same words
and the same exit status in every command; `webid-canary --help` and the README print `EXIT_STATUSES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from webid_canary import names
from webid_canary.app.ports import (
    AwsAccessError,
    AwsError,
    AwsMissingError,
    AwsThrottledError,
    AwsUnavailableError,
)

EXIT_OK: Final = 0
EXIT_PROBLEM: Final = 1
EXIT_INPUT: Final = 2
EXIT_INDETERMINATE: Final = 3

EXIT_STATUSES: Final = (
    (EXIT_OK, "fine: nothing wrong found"),
    (EXIT_PROBLEM, "a problem found (a deny, a failing target, a drift, a finding above info)"),
    (EXIT_INPUT, "unusable input, or AWS not reachable (credentials and region included)"),
    (EXIT_INDETERMINATE, "indeterminate: the answer depends on something that cannot be seen"),
)

CREDENTIALS_HINT: Final = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile"
REGION_HINT: Final = "set AWS_REGION or AWS_DEFAULT_REGION, give the profile a region, or pass --region"
# The stack output that holds the Targets table's name (infra/stack.py).
TARGETS_TABLE_OUTPUT: Final = "TargetsTableName"


def exit_status_text() -> str:
    """The exit statuses as lines for --help."""
    return "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_STATUSES)


class OneLineError(click.ClickException):
    """Unusable input (or AWS that cannot be used): one line on stderr, exit status 2."""

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


def aws_words(exc: AwsError) -> str:
    """What a person should read for an AWS failure: the cause first, then what to do."""
    if exc.code == "NoCredentials":
        return f"aws: no AWS credentials found ({CREDENTIALS_HINT})"
    if exc.code == "NoRegion":
        return f"aws: no AWS region set ({REGION_HINT})"
    table = getattr(exc, "table_name", None)
    if isinstance(exc, AwsMissingError) and table is not None:
        region = getattr(exc, "region", None)
        where = f" in {region}" if region else ""
        return (
            f"aws: table {table!r} not found{where} (set --targets-table or {names.ENV_TARGETS_TABLE} "
            f"to the stack's {TARGETS_TABLE_OUTPUT} output)"
        )
    if isinstance(exc, AwsAccessError):
        return f"aws: access denied: {exc} (check the credentials in use and their permissions)"
    if isinstance(exc, AwsThrottledError):
        return f"aws: throttled: {exc} (try again, or lower --concurrency)"
    if isinstance(exc, AwsUnavailableError):
        return f"aws: not reachable: {exc}"
    if isinstance(exc, AwsMissingError):
        return f"aws: not found: {exc}"
    return f"aws: {exc}"


class AwsFailureError(OneLineError):
    """AWS could not be used: exit status 2, in every command."""


def aws_failure(exc: AwsError) -> AwsFailureError:
    """The one-line refusal for an AWS failure (raise it `from` the AWS error)."""
    return AwsFailureError(aws_words(exc))


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn the app layer's AWS errors into the one-line refusal, exit status 2."""
    try:
        yield
    except AwsError as exc:
        raise aws_failure(exc) from exc


def botocore_failure(exc: Exception) -> AwsFailureError:
    """A botocore exception raised outside an adapter (creating a client), in the same words."""
    from webid_canary.adapters.aws import translate

    return aws_failure(translate("client", exc))
