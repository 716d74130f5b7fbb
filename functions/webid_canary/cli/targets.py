"""Ops commands for the Targets table: register, list, show, remove, enable, disable, discover.

Every item is validated by core.targets before anything is written; writes are conditional, so a registration
never overwrites another target unless `--replace` says so.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from webid_canary.cli.errors import (
    EXIT_INPUT,
    EXIT_PROBLEM,
    OneLineCommand,
    OneLineError,
    aws_errors,
    botocore_failure,
)
from webid_canary.cli.options import table_name, targets_table_option
from webid_canary.cli.output import fitted_console, print_block, print_json, working
from webid_canary.core.catalogue import Severity
from webid_canary.core.model import RoleRecord
from webid_canary.core.targets import (
    DEFAULT_SEVERITY,
    TARGET_SEVERITIES,
    Target,
    TargetError,
    parse_target,
    target_to_item,
    validate_target,
)

if TYPE_CHECKING:
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.discovery import Discovery

SEVERITY_CHOICES = [str(s) for s in TARGET_SEVERITIES]


def _fail(message: str) -> NoReturn:
    raise OneLineError(message)


# --- settings and AWS ----------------------------------------------------------------------------------------


def _client(service: str, **kwargs: Any) -> Any:
    """A boto3 client from the standard credential chain (AWS_ENDPOINT_URL honoured by boto3), or with the
    credentials given (an assumed role's)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client(service, **kwargs)  # type: ignore[call-overload]
    except BotoCoreError as exc:
        raise botocore_failure(exc) from exc


def _open_table(name: str | None) -> TargetsTable:
    from webid_canary.adapters.targets_table import TargetsTable

    return TargetsTable(_client("dynamodb"), table_name(name))


def _console() -> Console:
    return fitted_console()


# --- reading items -------------------------------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} written twice in one object")
        result[key] = value
    return result


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader without anchors and aliases: a few hundred bytes of nested aliases expand to gigabytes."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.YAMLError(
                f"YAML anchors and aliases (&name, *name) are refused (line {event.start_mark.line + 1});"
                " write each value out"
            )
        return super().compose_node(parent, index)


def load_items(path: str) -> list[object]:
    """The items of a JSON or YAML file (`-` for stdin): one object or a list of them."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"file: cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        if path.endswith(".json") or text.lstrip().startswith(("{", "[")):
            document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        else:
            document = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a safe loader, aliases refused
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail(f"file: {path} is neither JSON nor YAML: {reason}")
    if isinstance(document, list):
        if not document:
            _fail(f"file: {path} holds an empty list")
        return document
    if document is None:
        _fail(f"file: {path} is empty")
    return [document]


def _label(item: object, index: int) -> str:
    target_id = item.get("target_id") if isinstance(item, Mapping) else None
    return target_id if isinstance(target_id, str) and target_id else f"#{index + 1}"


def _one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped: one problem, one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def validate_items(items: Sequence[object]) -> tuple[list[Target], list[str]]:
    """Targets when every item is valid; else the error lines, `<target_id or #N>: <field>: <reason>`."""
    targets: list[Target] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        label = _label(item, index)
        errors = validate_target(item)
        problems.extend(_one_line(f"{label}: {error.field}: {error.reason}") for error in errors)
        if errors:
            continue
        target = parse_target(item)  # type: ignore[arg-type]
        if target.target_id in seen:
            problems.append(
                f"{label}: target_id: given twice in this input (items #{seen[target.target_id] + 1} and #{index + 1})"
            )
            continue
        seen[target.target_id] = index
        targets.append(target)
    return targets, problems


def _claims_from_flags(pairs: Sequence[str]) -> dict[str, object]:
    claims: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"claim: {pair!r} is not KEY=VALUE")
        if key in claims:
            previous = claims[key]
            claims[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            claims[key] = value
    return claims


def _item_from_flags(options: Mapping[str, Any]) -> dict[str, object]:
    item: dict[str, object] = {}
    simple = {
        "target_id": "target_id",
        "role_arn": "role_arn",
        "issuer": "issuer",
        "severity": "severity",
        "owner": "owner",
        "alarm": "alarm",
        "session_name": "session_name",
        "duration": "duration_seconds",
        "topic_arn": "topic_arn",
        "enabled": "enabled",
    }
    for option, field in simple.items():
        if options.get(option) is not None:
            item[field] = options[option]
    if options.get("claim"):
        item["claims"] = _claims_from_flags(options["claim"])
    if options.get("must_deny_sub"):
        item["must_deny"] = [{"sub": sub} for sub in options["must_deny_sub"]]
    if options.get("token_source"):
        try:
            item["token_source"] = json.loads(options["token_source"])
        except ValueError as exc:
            _fail(f"token-source: not JSON ({exc})")
    return item


# --- register ------------------------------------------------------------------------------------------------


@click.command(cls=OneLineCommand)
@click.option("--file", "-f", "path", metavar="FILE", help="JSON or YAML: one item or a list (`-` for stdin).")
@click.option("--target-id", help="3-64 of a-z 0-9 . _ -")
@click.option("--role-arn", help="arn:aws:iam::<account>:role/<name>")
@click.option("--issuer", help="https:// URL exactly as the token's iss")
@click.option(
    "--claim", multiple=True, metavar="KEY=VALUE", help="An expected claim (repeat; a repeated key is a list)."
)
@click.option("--must-deny-sub", multiple=True, metavar="SUB", help="A sub the trust policy must refuse (repeat).")
@click.option("--token-source", metavar="JSON", help='e.g. {"type": "secret", "secret_id": "webid-canary/x"}')
@click.option("--severity", type=click.Choice(SEVERITY_CHOICES))
@click.option("--owner")
@click.option("--alarm/--no-alarm", default=None, help="A per-target alarm (a billed metric dimension).")
@click.option("--enabled/--disabled", default=None)
@click.option("--session-name")
@click.option("--duration", type=int, metavar="SECONDS", help="900-43200")
@click.option("--topic-arn", help="Notify this SNS topic instead of the stack's.")
@click.option("--replace", is_flag=True, help="Update targets that are already registered.")
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@targets_table_option
def register(path: str | None, replace: bool, dry_run: bool, targets_table: str | None, **flags: Any) -> None:
    """Register targets from a file or from flags; every item is validated before anything is written."""
    given = {k: v for k, v in flags.items() if v not in (None, ())}
    if path is not None and given:
        _fail("usage: give --file or the item's flags, not both")
    if path is None and not given:
        _fail("usage: give --file FILE or at least --target-id, --role-arn, --issuer and --claim")
    items = load_items(path) if path is not None else [_item_from_flags(flags)]
    targets, problems = validate_items(items)
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        refused = len(items) - len(targets)
        click.echo(
            f"nothing registered: 0 written, {len(targets)} skipped, {refused} refused"
            f" ({len(problems)} problem(s) in {len(items)} item(s))",
            err=True,
        )
        sys.exit(EXIT_INPUT)
    if dry_run:
        click.echo(f"valid: {len(targets)} target(s); nothing written (--dry-run)")
        return
    from webid_canary.adapters.targets_table import TargetExistsError
    from webid_canary.app.ports import AwsError

    table = _open_table(targets_table)
    written: list[Target] = []
    with aws_errors():
        before = table.existing(t.target_id for t in targets) if replace else set()
        try:
            table.put_all(targets, replace=replace, on_written=written.extend)
        except TargetExistsError as exc:
            for target_id in exc.target_ids:
                click.echo(f"error: {target_id}: target_id: already registered; use --replace to update it", err=True)
            _echo_written(written, before)
            skipped = len(targets) - len(written) - len(exc.target_ids)
            click.echo(
                f"{'nothing registered: ' if not written else ''}{len(written)} written, {skipped} skipped,"
                f" {len(exc.target_ids)} refused",
                err=True,
            )
            sys.exit(EXIT_INPUT)
        except AwsError:
            if written:
                _echo_written(written, before)
                click.echo(f"{len(written)} written, {len(targets) - len(written)} not written:", err=True)
            raise
    _echo_written(written, before)
    click.echo(f"{len(written)} written, 0 skipped, 0 refused")


def _echo_written(targets: Sequence[Target], before: set[str]) -> None:
    for target in targets:
        click.echo(f"{'updated' if target.target_id in before else 'registered'} {target.target_id}")


# --- list and show ---------------------------------------------------------------------------------------------


def _mode(target: Target) -> str:
    return "predicted" if target.token_source is None else f"live ({target.token_source.type})"


def _sub(target: Target) -> str:
    sub = target.claims.get("sub")
    return "" if sub is None else str(sub) + (" ~" if target.claims_are_representative else "")


@click.command(cls=OneLineCommand)
@click.option("--json", "as_json", is_flag=True, help="Print items as JSON.")
@targets_table_option
def list_targets(as_json: bool, targets_table: str | None) -> None:
    """List every registered target; an item that does not validate is shown with its field and reason."""
    table = _open_table(targets_table)
    with aws_errors(), working(f"reading {table.table_name}"):
        rows = sorted(table.scan(), key=lambda row: row[0])
    if as_json:
        print_json(
            "list",
            {
                "targets": [target_to_item(t) for _, t in rows if isinstance(t, Target)],
                "invalid": [
                    {"target_id": i, "field": t.field, "reason": t.reason}
                    for i, t in rows
                    if isinstance(t, TargetError)
                ],
            },
        )
        return
    console = _console()
    view = Table(title=f"{len(rows)} target(s) in {table.table_name}")
    for column in ("target", "state", "severity", "role", "issuer", "sub", "mode", "owner"):
        view.add_column(column, overflow="fold")
    for target_id, entry in rows:
        if isinstance(entry, TargetError):
            view.add_row(
                escape(target_id), "[red]invalid[/]", "", escape(f"{entry.field}: {entry.reason}"), "", "", "", ""
            )
            continue
        state = "[green]enabled[/]" if entry.enabled else "[dim]disabled[/]"
        view.add_row(
            escape(target_id),
            state + (" alarm" if entry.alarm else ""),
            str(entry.severity),
            escape(entry.role_arn),
            escape(entry.issuer),
            escape(_sub(entry)),
            _mode(entry),
            escape(entry.owner or ""),
        )
    print_block(console, view)
    invalid = sum(1 for _, entry in rows if isinstance(entry, TargetError))
    if invalid:
        click.echo(f"{invalid} item(s) do not validate: the monitor reports them as configuration errors", err=True)


@click.command(cls=OneLineCommand)
@click.argument("target_id")
@click.option("--json", "as_json", is_flag=True, help="Print the item as JSON.")
@targets_table_option
def show(target_id: str, as_json: bool, targets_table: str | None) -> None:
    """Show one target; an invalid stored item is printed as stored, with its problems (exit 1)."""
    table = _open_table(targets_table)
    with aws_errors():
        item = table.get_item(target_id)
    if item is None:
        _fail(f"{target_id}: target_id: not registered in {table.table_name}")
    errors = validate_target(item)
    document = target_to_item(parse_target(item)) if not errors else _plain(item)
    if as_json:
        print_json("show", document)
    else:
        console = _console()
        for key, value in document.items():
            shown = value if isinstance(value, str) else json.dumps(value)
            console.print(f"[bold]{key}[/]: {escape(shown)}")
    for error in errors:
        click.echo(f"error: {target_id}: {error.field}: {error.reason}", err=True)
    if errors:
        sys.exit(EXIT_PROBLEM)


def _plain(value: Any) -> Any:
    """A raw DynamoDB item as JSON-printable data (Decimal -> int or float, sets -> sorted lists)."""
    from decimal import Decimal

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --- remove, enable, disable -----------------------------------------------------------------------------------


def _change(targets_table: str | None, target_id: str, action: str) -> None:
    from webid_canary.adapters.targets_table import TargetNotFoundError

    table = _open_table(targets_table)
    with aws_errors():
        try:
            if action == "removed":
                table.delete(target_id)
            else:
                table.set_enabled(target_id, action == "enabled")
        except TargetNotFoundError:
            _fail(f"{target_id}: target_id: not registered in {table.table_name}")
    click.echo(f"{action} {target_id}")


@click.command(cls=OneLineCommand)
@click.argument("target_id")
@targets_table_option
def remove(target_id: str, targets_table: str | None) -> None:
    """Remove a target from the table."""
    _change(targets_table, target_id, "removed")


@click.command(cls=OneLineCommand)
@click.argument("target_id")
@targets_table_option
def enable(target_id: str, targets_table: str | None) -> None:
    """Check a target again from the next cycle on."""
    _change(targets_table, target_id, "enabled")


@click.command(cls=OneLineCommand)
@click.argument("target_id")
@targets_table_option
def disable(target_id: str, targets_table: str | None) -> None:
    """Stop checking a target, keeping its registration."""
    _change(targets_table, target_id, "disabled")


# --- discover --------------------------------------------------------------------------------------------------


# A person's credentials cannot assume the monitor's reader role (it trusts the shard function's role only);
# the role Organizations creates in every account it creates is the usual way in from the management account:
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access-cross-account-role.html
DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"
# IAM's request rate is per account and cannot be raised; discovery keeps well under it.
DISCOVER_IAM_RATE = 10.0


@dataclass
class AccountRead:
    """One account's part of an organization-wide discovery."""

    account_id: str
    roles: list[RoleRecord] = dataclasses.field(default_factory=list)
    error: str | None = None


def _organization_roles(role_name: str, only: Sequence[str]) -> list[AccountRead]:
    """Every ACTIVE account's roles (or only those asked), each read through `role_name` in that account; an
    account that cannot be read is kept with its error, never stops the others."""
    from webid_canary.adapters.organizations import OrganizationReader, ReaderRoles
    from webid_canary.app.ports import AwsError

    with aws_errors(), working("listing the organization's accounts (ListAccounts)"):
        try:
            accounts = OrganizationReader(_client("organizations")).list_active_accounts()
        except AwsError as exc:
            _fail(
                f"--organization: {exc}; run it with credentials of the management account or of a delegated "
                "administrator"
            )
        own = str(_client("sts").get_caller_identity()["Account"])
    if only:
        unknown = sorted(set(only) - set(accounts))
        if unknown:
            _fail(f"--account: {', '.join(unknown)}: not an active account of the organization")
        accounts = [a for a in accounts if a in set(only)]
    readers = ReaderRoles(
        _client, role_name=role_name, cycle_id="discover", own_account=own, rate_per_second=DISCOVER_IAM_RATE
    )
    found: list[AccountRead] = []
    for number, account in enumerate(accounts, start=1):
        read = AccountRead(account)
        how = "its own credentials" if account == own else f"role {role_name}"
        with working(f"account {number}/{len(accounts)} {account}: listing roles with {how}"):
            try:
                read.roles = list(readers.iam_for(account).list_roles())
            except AwsError as exc:
                read.error = str(exc)
        found.append(read)
    return found


@click.command(cls=OneLineCommand)
@click.option("--register", "do_register", is_flag=True, help="Register the new proposals in the Targets table.")
@click.option("--json", "as_json", is_flag=True, help="Print proposals as JSON.")
@click.option("--severity", type=click.Choice(SEVERITY_CHOICES), default=str(DEFAULT_SEVERITY), show_default=True)
@click.option("--owner", help="Owner recorded on every proposal.")
@click.option(
    "--organization",
    is_flag=True,
    help="Every active account of the organization (from the management account or a delegated administrator).",
)
@click.option(
    "--role-name",
    default=DEFAULT_MEMBER_ROLE,
    show_default=True,
    help="With --organization: the role assumed in each member account to list its roles.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    help="With --organization: only this account (repeat for more).",
)
@targets_table_option
def discover(
    do_register: bool,
    as_json: bool,
    severity: str,
    owner: str | None,
    organization: bool,
    role_name: str,
    accounts: tuple[str, ...],
    targets_table: str | None,
) -> None:
    """Find every role that trusts a web identity provider and propose a target for each (role, provider).

    With --organization, in every account of the organization: the accounts are listed with Organizations, each
    member account is read through --role-name (your own account with your credentials), and the summary says,
    per account, how many roles were read and proposed, or why the account could not be read.

    Exit status: 0, or 1 when an account of the organization could not be read (the others are proposed).
    """
    from webid_canary.adapters.iam import IamReader
    from webid_canary.core.discovery import discover_targets

    if owner is not None and not owner.strip():
        _fail("owner: must not be empty")
    if not organization and (accounts or role_name != DEFAULT_MEMBER_ROLE):
        _fail("--account/--role-name: only with --organization")
    if not role_name.strip():
        _fail("--role-name: must not be empty")
    table = _open_table(targets_table) if do_register or targets_table else None
    registered: dict[str, Target | TargetError] = {}
    with aws_errors():
        if table is not None:
            with working(f"reading {table.table_name}"):
                registered = dict(table.scan())
    per_account: list[AccountRead] | None = None
    if organization:
        per_account = _organization_roles(role_name.strip(), accounts)
        roles = [role for read in per_account for role in read.roles]
    else:
        with aws_errors(), working("listing the account's roles (ListRoles, 1,000 a call)"):
            roles = list(IamReader(_client("iam")).list_roles())
    covered = {(t.role_arn, t.issuer): target_id for target_id, t in registered.items() if isinstance(t, Target)}
    found = discover_targets(roles, severity=Severity(severity), owner=owner, taken_ids=registered)
    status: dict[str, str] = {}
    new: list[Target] = []
    for proposal in found.proposals:
        key = (proposal.target.role_arn, proposal.target.issuer)
        if key in covered:
            status[proposal.target.target_id] = f"covered by {covered[key]}"
        else:
            status[proposal.target.target_id] = "new"
            new.append(proposal.target)
    if do_register and new and table is not None:
        from webid_canary.adapters.targets_table import TargetExistsError

        with aws_errors():
            try:
                table.put_all(new)
            except TargetExistsError as exc:
                _fail(f"{', '.join(exc.target_ids)}: target_id: registered meanwhile; run discover again")
        for target in new:
            status[target.target_id] = "registered"
    summary = _account_summary(per_account, found) if per_account is not None else None
    if as_json:
        document = {
            **found.to_json(),
            "proposals": [{**p.to_json(), "status": status[p.target.target_id]} for p in found.proposals],
        }
        if summary is not None:
            document["accounts"] = summary
        print_json("discover", document)
    else:
        _print_discovery(found, status, do_register)
        if summary is not None:
            _print_accounts(summary)
    if summary is not None and any(row["error"] for row in summary):
        sys.exit(EXIT_PROBLEM)


def _account_summary(per_account: Sequence[AccountRead], found: Discovery) -> list[dict[str, Any]]:
    """Per account: roles read, proposals made, roles skipped, and the error that kept it unread."""
    proposals: dict[str, int] = {}
    for proposal in found.proposals:
        account = proposal.target.role_arn.split(":")[4]
        proposals[account] = proposals.get(account, 0) + 1
    skipped: dict[str, int] = {}
    for item in found.skipped:
        account = item.role_arn.split(":")[4]
        skipped[account] = skipped.get(account, 0) + 1
    return [
        {
            "account_id": read.account_id,
            "roles_read": len(read.roles),
            "proposals": proposals.get(read.account_id, 0),
            "skipped": skipped.get(read.account_id, 0),
            "error": read.error,
        }
        for read in per_account
    ]


def _print_accounts(summary: Sequence[Mapping[str, Any]]) -> None:
    console = _console()
    view = Table(title=f"{len(summary)} account(s)")
    for column in ("account", "roles read", "proposals", "skipped", "error"):
        view.add_column(column, overflow="fold")
    for row in summary:
        view.add_row(
            row["account_id"],
            str(row["roles_read"]),
            str(row["proposals"]),
            str(row["skipped"]),
            escape(row["error"] or ""),
        )
    print_block(console, view)
    unread = [row["account_id"] for row in summary if row["error"]]
    if unread:
        click.echo(f"error: {len(unread)} account(s) could not be read: {', '.join(unread)}", err=True)


def _print_discovery(found: Discovery, status: Mapping[str, str], registered: bool) -> None:
    console = _console()
    view = Table(title=f"{len(found.proposals)} proposal(s) from {found.roles_read} role(s)")
    for column in ("target", "role", "issuer", "sub", "aud", "status"):
        view.add_column(column, overflow="fold")
    for proposal in found.proposals:
        target = proposal.target
        view.add_row(
            escape(target.target_id),
            escape(target.role_name),
            escape(target.issuer),
            escape(_sub(target)),
            escape(str(target.claims.get("aud", ""))),
            status[target.target_id],
        )
    print_block(console, view)
    if any(p.representative for p in found.proposals):
        console.print("~ claims partly representative (from StringLike patterns or defaults); check before relying")
    for skipped in found.skipped:
        console.print(f"skipped {escape(skipped.role_arn)}: {escape(skipped.reason)}")
    new = sum(1 for s in status.values() if s == "new")
    if new and not registered:
        console.print(f"{new} new proposal(s); run again with --register to register them")
