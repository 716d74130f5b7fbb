"""CDK context -> typed config: defaults, accepted spellings, and one clear line naming the bad key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import CanaryConfig, ConfigError, Schedule, from_context, parse_schedule

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
