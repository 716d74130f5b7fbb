"""The refusals use case over an in-memory IAM: roles and providers read once, failures kept per record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from webid_canary.app.ports import AwsAccessError, ProviderRecord, RoleRecord
from webid_canary.app.refusals import IamFacts, explain_batch
from webid_canary.core.trail import read_records

DATA = Path(__file__).parents[1] / "unit" / "data" / "trail"
ROLE = "arn:aws:iam::111122223333:role/payments-reader"
PROVIDER = (
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
)


class _Iam:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def list_roles(self) -> Iterator[RoleRecord]:
        return iter(())

    def get_role(self, name_or_arn: str) -> RoleRecord | None:
        self.calls.append(name_or_arn)
        if self.fail:
            raise AwsAccessError("GetRole", "AccessDenied", "not allowed")
        if name_or_arn != ROLE:
            return None
        return RoleRecord(ROLE, "payments-reader", (DATA / "eks-trust.json").read_text())

    def list_provider_arns(self) -> list[str]:
        return [PROVIDER]

    def get_provider(self, arn: str) -> ProviderRecord | None:
        self.calls.append(arn)
        doc = json.loads((DATA / "eks-provider.json").read_text())
        return ProviderRecord(doc["url"], tuple(doc["client_ids"]), tuple(doc["thumbprints"]), arn)


def _records(count: int) -> list[dict[str, object]]:
    record = json.loads((DATA / "eks-refused.json").read_text())
    return [{**record, "eventID": f"e{i}", "eventTime": f"2026-11-29T08:1{i}:00Z"} for i in range(count)]


def test_retries_are_one_refusal_and_iam_is_read_once_per_role_and_provider() -> None:
    iam = _Iam()

    report = explain_batch(read_records(_records(3)), IamFacts(iam))

    (finding,) = report.refusals
    assert finding.verdict.root_cause == "trust_condition_mismatch"
    event = finding.event()
    assert (event["count"], event["first_time"], event["last_time"]) == (
        3,
        "2026-11-29T08:10:00Z",
        "2026-11-29T08:12:00Z",
    )
    assert iam.calls == [ROLE, PROVIDER]


def test_a_role_that_no_longer_exists_is_said_so() -> None:
    records = _records(1)
    records[0]["requestParameters"] = {"roleArn": "arn:aws:iam::111122223333:role/gone"}

    (finding,) = explain_batch(read_records(records), IamFacts(_Iam())).findings

    assert finding.verdict.root_cause == "role_not_found"


def test_iam_that_cannot_be_read_skips_the_record_with_the_reason() -> None:
    report = explain_batch(read_records(_records(1)), IamFacts(_Iam(fail=True)))

    assert report.findings == ()
    assert [s.reason for s in report.skipped] == ["aws: GetRole: AccessDenied: not allowed"]
