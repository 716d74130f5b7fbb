"""What CloudWatch would do locally: turn EMF lines into datapoints and evaluate the template's alarms.

moto stores metrics but never evaluates alarms, and nothing turns EMF log lines into metrics outside AWS.
This module does both, from the alarm definitions of the synthesized CloudFormation template, so that the
demo and the tests see the alarms a deployed stack would raise.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}

Key = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Datapoint:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    value: float
    unit: str = "None"

    @property
    def key(self) -> Key:
        return (self.namespace, self.name, frozenset(self.dimensions.items()))


def parse_emf(lines: Iterable[str]) -> list[Datapoint]:
    """Datapoints from Embedded Metric Format lines (other lines are ignored)."""
    points: list[Datapoint] = []
    for raw_line in lines:
        line = raw_line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            namespace = directive.get("Namespace", "")
            for dimension_set in directive.get("Dimensions", []) or [[]]:
                dims = {name: str(blob[name]) for name in dimension_set if name in blob}
                for metric in directive.get("Metrics", []):
                    raw = blob.get(metric["Name"])
                    values = raw if isinstance(raw, list) else [raw]
                    for value in values:
                        if isinstance(value, int | float):
                            points.append(
                                Datapoint(namespace, metric["Name"], dims, float(value), metric.get("Unit", "None"))
                            )
    return points


@dataclass(frozen=True, slots=True)
class AlarmDefinition:
    logical_id: str
    name: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    statistic: str
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str

    @property
    def key(self) -> Key:
        return (self.namespace, self.metric, frozenset(self.dimensions.items()))


def alarms_from_template(template: Mapping[str, Any]) -> list[AlarmDefinition]:
    """Every single-metric CloudWatch alarm of a synthesized template."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource.get("Properties", {})
        if "MetricName" not in props:
            continue
        name = props.get("AlarmName")
        found.append(
            AlarmDefinition(
                logical_id=logical_id,
                name=name if isinstance(name, str) else logical_id,
                namespace=str(props.get("Namespace", "")),
                metric=str(props["MetricName"]),
                dimensions={d["Name"]: _literal(d["Value"]) for d in props.get("Dimensions", [])},
                statistic=str(props.get("Statistic", "Average")),
                threshold=float(props.get("Threshold", 0)),
                comparison=str(props.get("ComparisonOperator", "GreaterThanOrEqualToThreshold")),
                evaluation_periods=int(props.get("EvaluationPeriods", 1)),
                datapoints_to_alarm=int(props.get("DatapointsToAlarm", props.get("EvaluationPeriods", 1))),
                treat_missing=str(props.get("TreatMissingData", "missing")),
            )
        )
    return found


def _literal(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def statistic(values: list[float], name: str) -> float:
    if name == "Sum":
        return sum(values)
    if name == "Maximum":
        return max(values)
    if name == "Minimum":
        return min(values)
    if name == "SampleCount":
        return float(len(values))
    return sum(values) / len(values)


@dataclass
class AlarmBoard:
    """Evaluates alarms once per period (one monitor cycle here), as CloudWatch does for M out of N."""

    alarms: list[AlarmDefinition]
    history: dict[str, list[float | None]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)

    def evaluate(self, period: Iterable[Datapoint]) -> list[tuple[str, str, str]]:
        """Feed one period's datapoints; returns (alarm name, old state, new state) for alarms that changed."""
        by_key: dict[Key, list[float]] = {}
        for point in period:
            by_key.setdefault(point.key, []).append(point.value)
        changes = []
        for alarm in self.alarms:
            values = by_key.get(alarm.key)
            value = statistic(values, alarm.statistic) if values else None
            history = self.history.setdefault(alarm.name, [])
            history.append(value)
            new = self._state(alarm, history[-alarm.evaluation_periods :])
            old = self.states.get(alarm.name, "INSUFFICIENT_DATA")
            if new is not None and new != old:
                self.states[alarm.name] = new
                changes.append((alarm.name, old, new))
        return changes

    @staticmethod
    def _state(alarm: AlarmDefinition, window: list[float | None]) -> str | None:
        compare = COMPARISONS[alarm.comparison]
        breaching = 0
        present = 0
        for value in window:
            if value is None:
                if alarm.treat_missing == "breaching":
                    breaching += 1
                    present += 1
                elif alarm.treat_missing == "notBreaching":
                    present += 1
                continue
            present += 1
            breaching += compare(value, alarm.threshold)
        if breaching >= alarm.datapoints_to_alarm:
            return "ALARM"
        if present == 0:
            return None if alarm.treat_missing == "ignore" else "INSUFFICIENT_DATA"
        return "OK"
