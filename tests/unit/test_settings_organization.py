"""Organization mode's settings: defaults, and one line naming the variable for a bad value."""

from __future__ import annotations

import pytest

from webid_canary import names
from webid_canary.settings import SettingsError, load_settings

BASE = {names.ENV_TARGETS_TABLE: "targets", names.ENV_STATE_TABLE: "state"}


def test_the_defaults_are_the_shared_names() -> None:
    settings = load_settings(BASE)

    assert settings.plan_bucket is None
    assert settings.reader_role_name == names.READER_ROLE_NAME
    assert (settings.shard_max_targets, settings.shard_max_accounts) == (
        names.SHARD_MAX_TARGETS,
        names.SHARD_MAX_ACCOUNTS,
    )
    assert settings.account_metrics == frozenset()


def test_organization_settings_are_read() -> None:
    settings = load_settings(
        BASE
        | {
            names.ENV_PLAN_BUCKET: "plan-bucket",
            names.ENV_READER_ROLE_NAME: "org-reader",
            names.ENV_SHARD_MAX_TARGETS: "500",
            names.ENV_SHARD_MAX_ACCOUNTS: "4",
            names.ENV_ACCOUNT_METRICS: "111111111111, 222222222222",
            names.ENV_IAM_RATE: "8",
            names.ENV_LEASE_SECONDS: "600",
        }
    )

    assert settings.plan_bucket == "plan-bucket"
    assert settings.reader_role_name == "org-reader"
    assert (settings.shard_max_targets, settings.shard_max_accounts) == (500, 4)
    assert settings.account_metrics == {"111111111111", "222222222222"}
    assert (settings.iam_rate_per_second, settings.lease_seconds) == (8.0, 600)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            names.ENV_ACCOUNT_METRICS,
            "111111111111,prod",
            "WEBID_CANARY_ACCOUNT_METRICS: 'prod' is not a 12-digit account id",
        ),
        (
            names.ENV_READER_ROLE_NAME,
            "reader role",
            "WEBID_CANARY_READER_ROLE_NAME: 'reader role' is not an IAM role name",
        ),
        (names.ENV_SHARD_MAX_ACCOUNTS, "0", "WEBID_CANARY_SHARD_MAX_ACCOUNTS: 0 is outside 1..1000"),
        (names.ENV_IAM_RATE, "fast", "WEBID_CANARY_IAM_RATE: 'fast' is not a number"),
        (names.ENV_LEASE_SECONDS, "5", "WEBID_CANARY_LEASE_SECONDS: 5 is outside 60..86400"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(BASE | {key: value})

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
