"""The local alarm board: EMF lines become datapoints, and alarms change state as CloudWatch's would."""

from __future__ import annotations

import json

from webid_canary.local.alarms import AlarmBoard, alarms_from_template, parse_emf


def emf(**metrics: float) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "WebIdentityCanary",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics],
                    }
                ],
            },
            "service": "webid-canary",
            **metrics,
        }
    )


def alarm(metric: str, comparison: str, threshold: float, missing: str = "notBreaching", periods: int = 1) -> dict:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"{metric}-alarm",
            "Namespace": "WebIdentityCanary",
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": "webid-canary"}],
            "Statistic": "Maximum" if metric != "CycleCompleted" else "Sum",
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "EvaluationPeriods": periods,
            "TreatMissingData": missing,
        },
    }


TEMPLATE = {
    "Resources": {
        "Failing": alarm("TargetsFailing", "GreaterThanOrEqualToThreshold", 1),
        "Heartbeat": alarm("CycleCompleted", "LessThanThreshold", 1, missing="breaching"),
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
    }
}


def test_emf_lines_become_datapoints_and_other_lines_are_ignored() -> None:
    points = parse_emf(["START RequestId", emf(TargetsFailing=2, CycleCompleted=1), "not json {"])
    assert {(p.name, p.value, tuple(p.dimensions.items())) for p in points} == {
        ("TargetsFailing", 2.0, (("service", "webid-canary"),)),
        ("CycleCompleted", 1.0, (("service", "webid-canary"),)),
    }


def test_alarms_change_state_with_the_metrics() -> None:
    board = AlarmBoard(alarms_from_template(TEMPLATE))
    assert {a.name for a in board.alarms} == {"TargetsFailing-alarm", "CycleCompleted-alarm"}
    first = board.evaluate(parse_emf([emf(TargetsFailing=0, CycleCompleted=1)]))
    assert sorted(first) == [
        ("CycleCompleted-alarm", "INSUFFICIENT_DATA", "OK"),
        ("TargetsFailing-alarm", "INSUFFICIENT_DATA", "OK"),
    ]
    assert board.evaluate(parse_emf([emf(TargetsFailing=1, CycleCompleted=1)])) == [
        ("TargetsFailing-alarm", "OK", "ALARM")
    ]
    assert board.evaluate(parse_emf([emf(TargetsFailing=1, CycleCompleted=1)])) == []
    assert board.evaluate(parse_emf([emf(TargetsFailing=0, CycleCompleted=1)])) == [
        ("TargetsFailing-alarm", "ALARM", "OK")
    ]


def test_a_silent_monitor_breaches_the_heartbeat() -> None:
    board = AlarmBoard(alarms_from_template(TEMPLATE))
    board.evaluate(parse_emf([emf(TargetsFailing=0, CycleCompleted=1)]))
    changes = board.evaluate([])
    assert ("CycleCompleted-alarm", "OK", "ALARM") in changes
    assert board.states["TargetsFailing-alarm"] == "OK"
