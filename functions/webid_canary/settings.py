"""Settings of the monitor, read once from the environment and checked; errors name the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from webid_canary import names


class SettingsError(ValueError):
    """A missing or malformed setting: names the environment variable and the reason."""


@dataclass(frozen=True, slots=True)
class Settings:
    targets_table: str
    state_table: str
    topic_arn: str | None
    reminder_hours: float = 24.0
    concurrency: int = 16
    allow_private_issuers: bool = False
    ca_file: str | None = None
    cert_expiry_days: int = 30
    flap_minutes: float = 10.0
    # The EventBridge bus every notice also goes to; None: none.
    event_bus: str | None = None
    # Security Hub's product ARN for the account's own findings; None: findings are not imported.
    security_hub_product_arn: str | None = None
    # Organization mode (the step handlers): the plan bucket (None: not in organization mode), the reader role,
    # the shard sizes, the accounts that get their own metrics, IAM calls a second per account, the lease.
    plan_bucket: str | None = None
    reader_role_name: str = names.READER_ROLE_NAME
    shard_max_targets: int = names.SHARD_MAX_TARGETS
    shard_max_accounts: int = names.SHARD_MAX_ACCOUNTS
    account_metrics: frozenset[str] = frozenset()
    iam_rate_per_second: float = 12.0
    lease_seconds: int = 900


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (the process environment by default)."""
    source = os.environ if env is None else env
    return Settings(
        targets_table=_required(source, names.ENV_TARGETS_TABLE),
        state_table=_required(source, names.ENV_STATE_TABLE),
        topic_arn=source.get(names.ENV_TOPIC_ARN) or None,
        reminder_hours=_number(source, names.ENV_REMINDER_HOURS, 24.0, minimum=0.25),
        concurrency=int(_number(source, names.ENV_CONCURRENCY, 16, minimum=1, maximum=256)),
        allow_private_issuers=_flag(source, names.ENV_ALLOW_PRIVATE_ISSUERS),
        ca_file=source.get(names.ENV_CA_FILE) or None,
        cert_expiry_days=int(_number(source, names.ENV_CERT_EXPIRY_DAYS, 30, minimum=1, maximum=365)),
        flap_minutes=_number(source, names.ENV_FLAP_MINUTES, 10.0, minimum=0, maximum=24 * 60),
        event_bus=source.get(names.ENV_EVENT_BUS, "").strip() or None,
        security_hub_product_arn=source.get(names.ENV_SECURITY_HUB_PRODUCT_ARN, "").strip() or None,
        plan_bucket=source.get(names.ENV_PLAN_BUCKET, "").strip() or None,
        reader_role_name=_role_name(source, names.ENV_READER_ROLE_NAME),
        shard_max_targets=int(
            _number(source, names.ENV_SHARD_MAX_TARGETS, names.SHARD_MAX_TARGETS, minimum=1, maximum=100_000)
        ),
        shard_max_accounts=int(
            _number(source, names.ENV_SHARD_MAX_ACCOUNTS, names.SHARD_MAX_ACCOUNTS, minimum=1, maximum=1000)
        ),
        account_metrics=_accounts(source, names.ENV_ACCOUNT_METRICS),
        iam_rate_per_second=_number(source, names.ENV_IAM_RATE, 12.0, minimum=0.1, maximum=1000),
        lease_seconds=int(_number(source, names.ENV_LEASE_SECONDS, 900, minimum=60, maximum=24 * 3600)),
    )


# IAM role names: 1-64 characters of letters, digits and +=,.@_- :
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
ACCOUNT_ID = re.compile(r"\d{12}")


def _role_name(env: Mapping[str, str], key: str) -> str:
    raw = env.get(key, "").strip()
    if not raw:
        return names.READER_ROLE_NAME
    if not ROLE_NAME.fullmatch(raw):
        raise SettingsError(f"{key}: {raw!r} is not an IAM role name (1-64 of letters, digits and +=,.@_-)")
    return raw


def _accounts(env: Mapping[str, str], key: str) -> frozenset[str]:
    """A comma-separated list of 12-digit account ids."""
    found = [part.strip() for part in env.get(key, "").split(",") if part.strip()]
    for account in found:
        if not ACCOUNT_ID.fullmatch(account):
            raise SettingsError(f"{key}: {account!r} is not a 12-digit account id")
    return frozenset(found)


def _required(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise SettingsError(f"{key}: not set")
    return value


def _number(env: Mapping[str, str], key: str, default: float, *, minimum: float, maximum: float = 1e9) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{key}: {raw!r} is not a number") from exc
    if not minimum <= value <= maximum:
        raise SettingsError(f"{key}: {raw} is outside {minimum:g}..{maximum:g}")
    return value


def _flag(env: Mapping[str, str], key: str) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{key}: {raw!r} is not true or false")


def use_aws(*, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> None:
    """Make the CLI's --region, --profile and --endpoint-url what boto3 reads, for every client of this process.

    boto3 reads the region from AWS_DEFAULT_REGION only; the AWS CLI and the other SDKs also read AWS_REGION, so
    the CLI honours it too."""
    region = region or os.environ.get("AWS_REGION", "").strip() or None
    for key, value in (("AWS_REGION", region), ("AWS_PROFILE", profile), ("AWS_ENDPOINT_URL", endpoint_url)):
        if value:
            os.environ[key] = value
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region


def sandbox_environment(values: Mapping[str, str], left_out: tuple[str, ...]) -> dict[str, str]:
    """This process's environment with `values` set and `left_out` removed, for a command run in the sandbox."""
    environment = {k: v for k, v in os.environ.items() if k not in left_out}
    environment.update(values)
    return environment


def columns() -> int | None:
    """The width a person asked for with COLUMNS, if any (it overrides the terminal's and the piped default)."""
    raw = os.environ.get("COLUMNS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None
