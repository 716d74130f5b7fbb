"""The deploy rehearsal: cdk bootstrap and cdk deploy into a moto server on loopback, then completed and checked."""

from __future__ import annotations

import pytest

from webid_canary.local.aws import LocalMotoServer
from webid_canary.local.rehearsal import STACK_NAME, RehearsalReport, rehearse

pytestmark = [pytest.mark.slow, pytest.mark.node]


@pytest.fixture(scope="module")
def rehearsal() -> tuple[RehearsalReport, dict[str, object]]:
    with LocalMotoServer(None) as server:
        report = rehearse({"alarm_email": "ops@example.com", "alarmed_targets": "payments-api-prod"}, server=server)
        assert report.outputs, report.steps
        subscriptions = server.client("sns").list_subscriptions_by_topic(TopicArn=report.outputs["TopicArn"])
        alarms = server.client("cloudwatch").describe_alarms(AlarmNamePrefix=STACK_NAME)["MetricAlarms"]
        stack = server.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        seen = {"subscriptions": subscriptions["Subscriptions"], "alarms": alarms, "status": stack["StackStatus"]}
    return report, seen


def test_bootstrap_and_deploy_succeed_against_the_emulator(
    rehearsal: tuple[RehearsalReport, dict[str, object]],
) -> None:
    report, seen = rehearsal
    assert [(name, ok) for name, ok, _ in report.steps][:2] == [("cdk bootstrap", True), ("cdk deploy", True)], (
        report.steps
    )
    assert seen["status"] == "CREATE_COMPLETE"
    assert report.ok, report.as_dict()


def test_every_resource_of_the_template_exists_afterwards(rehearsal: tuple[RehearsalReport, dict[str, object]]) -> None:
    report, _ = rehearsal
    assert {r.created_by for r in report.resources} <= {"cloudformation", "rehearsal"}
    by_type = {r.resource_type: r.created_by for r in report.resources}
    assert by_type["AWS::Lambda::Function"] == "cloudformation"
    assert by_type["AWS::DynamoDB::Table"] == "cloudformation"
    assert by_type["AWS::CloudWatch::Alarm"] == "rehearsal"


def test_alarms_are_created_as_the_template_defines_them(rehearsal: tuple[RehearsalReport, dict[str, object]]) -> None:
    report, seen = rehearsal
    alarms = {a["AlarmName"]: a for a in seen["alarms"]}  # type: ignore[attr-defined]
    assert set(alarms) == {
        "WebIdCanary-TargetsFailing",
        "WebIdCanary-ProviderDrift",
        "WebIdCanary-TrustOpen",
        "WebIdCanary-TargetsInError",
        "WebIdCanary-HeartbeatMissing",
        "WebIdCanary-FunctionErrors",
        "WebIdCanary-CycleNearDeadline",
        "WebIdCanary-RealRefusals",
        "WebIdCanary-TargetFailing-payments-api-prod",
    }
    heartbeat = alarms["WebIdCanary-HeartbeatMissing"]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["AlarmActions"] == [report.outputs["TopicArn"]]


def test_email_subscription_is_made_but_never_confirmed(rehearsal: tuple[RehearsalReport, dict[str, object]]) -> None:
    _, seen = rehearsal
    (subscription,) = seen["subscriptions"]  # type: ignore[misc]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_what_the_emulator_cannot_hold_is_reported_not_hidden(
    rehearsal: tuple[RehearsalReport, dict[str, object]],
) -> None:
    report, _ = rehearsal
    for correction in report.corrections:
        assert correction.corrected or correction.note, correction
    assert "PointInTimeRecovery" in {c.setting for c in report.corrections if c.corrected}
