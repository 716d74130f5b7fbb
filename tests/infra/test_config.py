"""CDK context -> typed config: defaults, accepted spellings, and one clear line naming the bad key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import CanaryConfig, ConfigError, OrganizationConfig, Schedule, from_context, parse_schedule
from infra.orchestration import DEFAULT_MAP_CONCURRENCY

ROOT = Path(__file__).resolve().parents[2]


def test_cdk_json_defaults_give_a_five_minute_schedule_without_email_or_cognito() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert from_context(context) == CanaryConfig(
        schedule=Schedule("rate(5 minutes)", 300),
        alarm_email=None,
        reminder_hours=24,
        enable_cognito_probes=False,
        alarmed_targets=(),
    )


def test_command_line_context_arrives_as_strings_and_is_parsed() -> None:
    config = from_context(
        {
            "schedule": "rate(1 hour)",
            "alarm_email": " ops@example.com ",
            "reminder_hours": "12",
            "enable_cognito_probes": "True",
            "alarmed_targets": "a, b",
        }
    )
    assert config.schedule == Schedule("rate(1 hour)", 3600)
    assert config.alarm_email == "ops@example.com"
    assert config.reminder_hours == 12
    assert config.enable_cognito_probes is True
    assert config.alarmed_targets == ("a", "b")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(15 minutes)", 900), ("rate(2 hours)", 7200), ("rate(12 hours)", 43200)],
)
def test_rate_expressions_give_their_interval(expression: str, seconds: int) -> None:
    assert parse_schedule(expression).period_seconds == seconds


@pytest.mark.parametrize(
    ("context", "key", "reason"),
    [
        ({"schedule": "every 5 minutes"}, "schedule", "not a rate expression"),
        ({"schedule": "cron(0/5 * * * ? *)"}, "schedule", "not a rate expression"),
        ({"schedule": "rate(1 minutes)"}, "schedule", "rate(1 minute)"),
        ({"schedule": "rate(5 minute)"}, "schedule", "plural"),
        ({"schedule": "rate(0 minutes)"}, "schedule", "at least 1"),
        ({"schedule": "rate(1 day)"}, "schedule", "at most"),
        ({"alarm_email": "ops-at-example"}, "alarm_email", "not an e-mail address"),
        ({"reminder_hours": "0"}, "reminder_hours", "at least 1"),
        ({"reminder_hours": "soon"}, "reminder_hours", "whole number"),
        ({"reminder_hours": 1.5}, "reminder_hours", "whole number"),
        ({"enable_cognito_probes": "yes"}, "enable_cognito_probes", "true or false"),
        ({"alarmed_targets": ["ok", "has space"]}, "alarmed_targets", "not a target id"),
        ({"alarmed_targets": ["a", "a"]}, "alarmed_targets", "twice"),
        ({"notification_topics": ["arn:aws:sqs:us-east-1:123456789012:q"]}, "notification_topics", "not an SNS"),
        ({"notification_topics": 7}, "notification_topics", "expected a list"),
        ({"trail_regions": "us-east-1,Mars-1"}, "trail_regions", "'Mars-1' is not a Region code"),
        ({"trail_regions": ["us-east-1", 1]}, "trail_regions", "1 is not a Region code"),
        ({"trail_regions": {"us-east-1": True}}, "trail_regions", "expected a list"),
        ({"organization": "yes"}, "organization", "true or false"),
        ({"organization": "true"}, "org_units", "required with organization=true"),
        ({"organization": "true", "org_units": ""}, "org_units", "required"),
        ({"organization": "true", "org_units": "ou-ab12"}, "org_units", "not an OU id"),
        ({"organization": "true", "org_units": "ou-ab12-cdefgh34,123456789012"}, "org_units", "'123456789012'"),
        ({"organization": "true", "org_units": "r-ab12", "map_concurrency": "0"}, "map_concurrency", "from 1 to 1000"),
        ({"organization": "true", "org_units": "r-ab12", "map_concurrency": 1001}, "map_concurrency", "got 1001"),
        ({"organization": "true", "org_units": "r-ab12", "map_concurrency": "many"}, "map_concurrency", "whole"),
        ({"organization": "true", "org_units": "r-ab12", "map_concurrency": 2.5}, "map_concurrency", "whole"),
        ({"organization": "true", "org_units": "r-ab12", "account_metrics": "1234"}, "account_metrics", "12-digit"),
        ({"organization": "true", "org_units": "r-ab12", "organization_id": "org-1"}, "organization_id", "o-"),
        ({"organization": "true", "org_units": "r-ab12", "delegated_admin": "maybe"}, "delegated_admin", "true"),
    ],
)
def test_bad_context_names_the_key_and_the_reason(context: dict[str, object], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_context(context)
    assert caught.value.key == key
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"context '{key}': ")


def test_the_app_prints_one_line_and_exits_2_on_bad_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"schedule": "every 5 minutes"}))
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: context 'schedule': 'every 5 minutes' is not a rate expression such as "
        "'rate(5 minutes)' or 'rate(1 hour)'"
    ]
    assert "Traceback" not in result.stderr


def test_notification_topics_from_the_command_line_are_split_and_kept_once() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:team-payments"
    config = from_context({"notification_topics": f"{topic}, {topic}"})
    assert config.notification_topics == (topic,)


def test_trail_regions_from_the_command_line_or_cdk_json_are_kept_once_in_order() -> None:
    assert from_context({"trail_regions": "us-east-1, eu-west-1,us-east-1"}).trail_regions == ("us-east-1", "eu-west-1")
    assert from_context({"trail_regions": ["us-gov-west-1"]}).trail_regions == ("us-gov-west-1",)
    assert from_context({}).trail_regions == ()


def test_organization_mode_from_the_command_line() -> None:
    config = from_context(
        {
            "organization": "true",
            "org_units": "ou-ab12-cdefgh34, r-ab12, ou-ab12-cdefgh34",
            "map_concurrency": "1000",
            "account_metrics": "111122223333,444455556666",
            "organization_id": "o-abcdefghij",
        }
    )
    assert config.organization == OrganizationConfig(
        org_units=("ou-ab12-cdefgh34", "r-ab12"),
        map_concurrency=1000,
        account_metrics=("111122223333", "444455556666"),
        organization_id="o-abcdefghij",
    )


def test_organization_keys_are_ignored_without_organization_mode() -> None:
    """The one-account stack is built from the same config whatever organization keys cdk.json carries."""
    plain = from_context({})
    assert plain.organization is None
    assert from_context({"organization": "false", "org_units": "not-an-ou", "map_concurrency": "0"}) == plain
    assert from_context({"organization": True, "org_units": ["r-ab12"]}).organization == OrganizationConfig(
        org_units=("r-ab12",), map_concurrency=DEFAULT_MAP_CONCURRENCY
    )


def test_the_app_names_org_units_when_organization_mode_lacks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"organization": "true"}))
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: context 'org_units': required with organization=true: the OU or root ids to deploy the reader to"
    ]
