"""The organization steps over in-memory ports: shards, the lease, the plan's documents, the report step."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.doubles import KeyedState
from webid_canary.app.organization import (
    ACCOUNTS_CACHE_KEY,
    LEASE_KEY,
    IssuerStep,
    Lease,
    PlanLimits,
    PlannedInspector,
    Planner,
    ReportStep,
    inspection_key,
    plan_shards,
    shard_key,
)
from webid_canary.app.ports import AwsAccessError, FleetCounts, Message, StateStoreError
from webid_canary.app.reporting import Reporter
from webid_canary.core.inspection import (
    CertificateFacts,
    Failure,
    Fetch,
    HostFacts,
    IssuerInspection,
    KeyFacts,
    Role,
    failed_inspection,
)
from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord, Subject, state_key
from webid_canary.core.targets import Target, TargetError, parse_target

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://token.actions.githubusercontent.com"
EKS = "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"


class MemoryStore:
    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}

    def get_json(self, key: str) -> Any | None:
        return self.documents.get(key)

    def put_json(self, key: str, document: Any) -> None:
        self.documents[key] = document


class Targets:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def scan(self) -> Iterable[tuple[str, Target | TargetError]]:
        for item in self.items:
            try:
                yield str(item["target_id"]), parse_target(item)
            except TargetError as exc:
                yield str(item.get("target_id")), exc


class Organization:
    def __init__(self, accounts: list[str], *, refuses: bool = False) -> None:
        self.accounts = accounts
        self.refuses = refuses
        self.listed = 0

    def list_active_accounts(self) -> list[str]:
        self.listed += 1
        if self.refuses:
            raise AwsAccessError("ListAccounts", "AccessDeniedException", "not the management account")
        return self.accounts

    def resource_control_policies(
        self, account_ids: Iterable[str], *, deadline: datetime | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        if self.refuses:
            raise AwsAccessError("ListParents", "AccessDeniedException", "not the management account")
        deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
        return {a: [{"Policy": {"PolicySummary": {"Name": "deny"}, "Content": deny}}] for a in account_ids}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, topic_arn: str, message: Message) -> str:
        self.messages.append(message)
        return f"m-{len(self.messages)}"


class Metrics:
    def __init__(self) -> None:
        self.fleet: list[FleetCounts] = []

    def publish_fleet(self, counts: FleetCounts) -> None:
        self.fleet.append(counts)

    def publish_alarmed_targets(self, report: CycleReport) -> None:
        pass


def item(target_id: str, account: str, issuer: str = ISSUER) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "role_arn": f"arn:aws:iam::{account}:role/deploy",
        "issuer": issuer,
        "claims": {"sub": "repo:acme/app:ref:refs/heads/main", "aud": "sts.amazonaws.com"},
    }


def planner(items: list[dict[str, Any]], **kwargs: Any) -> tuple[Planner, MemoryStore, KeyedState]:
    store, state = MemoryStore(), KeyedState()
    limits = kwargs.pop("limits", PlanLimits(max_targets=3, max_accounts=2))
    return Planner(Targets(items), store, Lease(state), bucket="plan", limits=limits, **kwargs), store, state


# ----- shards


@pytest.mark.parametrize(
    ("counts", "max_targets", "max_accounts"),
    [
        ({"111111111111": 5, "222222222222": 1, "333333333333": 1, "444444444444": 0}, 2, 2),
        ({f"{n:012d}": n % 4 for n in range(1, 40)}, 5, 3),
        ({f"{n:012d}": 2000 for n in range(1, 6)}, 2000, 10),
        ({"111111111111": 0}, 1, 1),
    ],
)
def test_shards_respect_the_limits_and_hold_each_account_exactly_once(
    counts: dict[str, int], max_targets: int, max_accounts: int
) -> None:
    shards = plan_shards(counts, max_targets=max_targets, max_accounts=max_accounts)

    placed = [account for shard in shards for account in shard]
    assert sorted(placed) == sorted(counts)
    for shard in shards:
        assert 1 <= len(shard) <= max_accounts
        load = sum(counts[a] for a in shard)
        # Only an account larger than the limit by itself may exceed it, and then it is alone.
        assert load <= max_targets or len(shard) == 1, shard


def test_an_account_larger_than_a_shard_is_kept_whole_in_a_shard_of_its_own() -> None:
    shards = plan_shards({"111111111111": 1, "222222222222": 9, "333333333333": 1}, max_targets=3, max_accounts=10)

    assert shards == [["111111111111"], ["222222222222"], ["333333333333"]]


# ----- the lease


def test_a_lease_is_held_until_released_or_expired() -> None:
    lease = Lease(KeyedState(), ttl=timedelta(minutes=10))

    assert lease.acquire("cycle-1", NOW)
    assert not lease.acquire("cycle-2", NOW + timedelta(minutes=9))
    assert lease.acquire("cycle-2", NOW + timedelta(minutes=10, seconds=1))  # expired: taken over
    assert not lease.release("cycle-1", NOW + timedelta(minutes=11))  # no longer cycle-1's to give back
    assert lease.release("cycle-2", NOW + timedelta(minutes=11))
    assert lease.acquire("cycle-3", NOW + timedelta(minutes=11))


def test_two_cycles_racing_for_a_free_lease_cannot_both_win() -> None:
    state = KeyedState()
    first, second = Lease(state), Lease(state)
    before = first._current()  # both read "free"
    assert first._write(before, "cycle-1", NOW + timedelta(minutes=5), NOW)
    assert not second._write(before, "cycle-2", NOW + timedelta(minutes=5), NOW)


# ----- the plan


def test_the_plan_writes_issuers_shards_and_each_shards_items() -> None:
    items = [item(f"aaa-{n}", "111111111111") for n in range(2)]
    items += [item("bbb-0", "222222222222", EKS), item("ccc-0", "333333333333")]
    items += [{"target_id": "broken", "role_arn": "not-an-arn", "issuer": ISSUER}]
    step, store, _ = planner(items)

    summary = step.plan("cycle-1", "2026-03-01T12:00:00Z", now=NOW)

    assert summary["skipped"] is False
    assert (summary["accounts"], summary["shards"], summary["issuers"], summary["targets"]) == (3, 2, 2, 5)
    assert store.documents[summary["issuers_key"]] == sorted([ISSUER, EKS])
    shards = store.documents[summary["shards_key"]]
    # At most 3 targets or 2 accounts a shard.
    assert shards == [
        {
            "shard": "0000",
            "accounts": ["111111111111", "222222222222"],
            "key": shard_key("cycle-1", "0000"),
            "targets": 3,
        },
        {"shard": "0001", "accounts": ["333333333333"], "key": shard_key("cycle-1", "0001"), "targets": 1},
    ]
    first = store.documents[shard_key("cycle-1", "0000")]
    assert [parse_target(i).target_id for i in first["targets"]] == ["aaa-0", "aaa-1", "bbb-0"]
    assert [i["target_id"] for i in first["invalid"]] == ["broken"]
    assert first["invalid"][0]["error"].startswith("configuration: role_arn")


def test_the_plan_adds_the_organizations_accounts_and_their_rcps_and_caches_the_listing() -> None:
    organization = Organization(["111111111111", "999999999999"])
    step, store, state = planner([item("aaa-0", "111111111111")], organization=organization)

    summary = step.plan("cycle-1", "t", now=NOW)

    assert summary["accounts"] == 2
    shard = store.documents[shard_key("cycle-1", "0000")]
    assert shard["accounts"] == ["111111111111", "999999999999"]
    assert set(shard["resource_control_policies"]) == {"111111111111", "999999999999"}
    # Within the hour, the next cycle uses the cached listing.
    Lease(state).release("cycle-1", NOW)
    step.plan("cycle-2", "t", now=NOW + timedelta(minutes=30))
    assert organization.listed == 1
    assert state.items[ACCOUNTS_CACHE_KEY].last_result["accounts"] == ["111111111111", "999999999999"]
    # After the hour, it is listed again.
    Lease(state).release("cycle-2", NOW + timedelta(minutes=30))
    step.plan("cycle-3", "t", now=NOW + timedelta(minutes=61))
    assert organization.listed == 2


def test_without_organizations_the_plan_covers_the_targets_accounts_and_no_rcps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="webid-canary")
    step, store, _ = planner([item("aaa-0", "111111111111")], organization=Organization([], refuses=True))

    summary = step.plan("cycle-1", "t", now=NOW)

    assert summary["accounts"] == 1
    assert store.documents[shard_key("cycle-1", "0000")]["resource_control_policies"] == {}
    assert [r.message for r in caplog.records].count(
        "Organizations does not answer; planning the targets' accounts only"
    ) == 1


def test_a_plan_finding_the_lease_held_writes_nothing() -> None:
    step, store, state = planner([item("aaa-0", "111111111111")])
    assert Lease(state).acquire("other", NOW)

    summary = step.plan("cycle-1", "t", now=NOW)

    assert summary["skipped"] is True
    assert store.documents == {}


# ----- issuers


class Inspector:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def inspect(self, issuer_url: str, *, deadline: datetime | None = None) -> IssuerInspection:
        self.calls.append(issuer_url)
        return failed_inspection(issuer_url, NOW, Failure.CONNECT, "connection refused")


def test_an_issuer_is_stored_once_and_served_to_every_account_of_a_shard() -> None:
    store, live = MemoryStore(), Inspector()
    answer = IssuerStep(live, store).run("cycle-1", EKS)
    assert answer == {"issuer": EKS, "ok": False, "error": "connection refused"}

    served = PlannedInspector(store, "cycle-1", live)
    first = served.inspect(EKS)
    second = served.inspect(EKS)

    assert first == second == failed_inspection(EKS, NOW, Failure.CONNECT, "connection refused")
    assert live.calls == [EKS]  # the issuer step's, none by the shard
    served.inspect(ISSUER)  # not in the plan: inspected by the shard, once
    served.inspect(ISSUER)
    assert live.calls == [EKS, ISSUER]
    assert inspection_key("cycle-1", EKS) in store.documents


def test_an_inspection_survives_its_json_round_trip() -> None:
    inspection = IssuerInspection(
        url=EKS,
        inspected_at=NOW,
        discovery=Fetch(url=EKS + "/.well-known/openid-configuration", status=200, seconds=0.2),
        issuer=EKS,
        jwks_uri=EKS + "/keys",
        jwks=Fetch(url=EKS + "/keys", status=503, seconds=0.1, failure=Failure.STATUS, error="HTTP 503"),
        keys=(KeyFacts(kid="k1", kty="EC", alg="ES256", use="sig", crv="P-256"), KeyFacts(kid=None, kty="RSA")),
        hosts=(
            HostFacts(
                host="oidc.eks.eu-west-1.amazonaws.com",
                role=Role.ISSUER,
                chain=(
                    CertificateFacts("CN=leaf", "CN=ca", NOW + timedelta(days=30), "aa" * 20),
                    CertificateFacts("CN=ca", "CN=root", NOW + timedelta(days=900), "bb" * 20),
                ),
                trusted_root_ca=True,
                verified_by_ca_file=None,
                tls_version="TLSv1.3",
            ),
            HostFacts(host="keys.example:8443", role=Role.JWKS, error="connection reset"),
        ),
    )

    assert IssuerInspection.from_json(inspection.to_json(complete=True)) == inspection


# ----- report


def reporter(state: KeyedState, inbox: Inbox) -> Reporter:
    return Reporter(
        state, inbox, default_topic="arn:aws:sns:us-east-1:123456789012:t", reminder_after=timedelta(hours=6)
    )


def test_the_report_of_a_cycle_whose_map_failed_reports_every_planned_target_and_sends_no_heartbeat() -> None:
    step, store, state = planner([item("aaa-0", "111111111111"), item("bbb-0", "222222222222")])
    planned = step.plan("cycle-1", NOW.isoformat(), now=NOW)
    inbox, metrics = Inbox(), Metrics()
    report = ReportStep(store, state, reporter(state, inbox), Lease(state), metrics=metrics)
    execution = {
        "planned": {"result": planned},
        "failure": {"Error": "States.ItemReaderFailed", "Cause": "the shard list could not be read"},
    }

    summary = report.run("cycle-1", NOW, execution, now=NOW + timedelta(seconds=30))

    assert summary["heartbeat"] is False
    assert summary["shards_failed"] == 1
    record = state.items[state_key(Subject.TARGET, "aaa-0")]
    assert record.status.value == "error"
    assert record.last_result["error"] == (
        "not checked this cycle: shard 0000 failed: States.ItemReaderFailed: the shard list could not be read"
    )
    assert {m.attributes["target_id"] for m in inbox.messages} == {"aaa-0", "bbb-0"}
    (counts,) = metrics.fleet
    assert (counts.in_error, counts.shards_failed, counts.completed) == (2, 1, False)
    assert Lease.holder_of(state.items[LEASE_KEY], NOW) is None


def test_the_report_counts_answered_shards_and_reports_a_crashed_ones_targets() -> None:
    step, store, state = planner(
        [item("aaa-0", "111111111111"), item("bbb-0", "222222222222")], limits=PlanLimits(1, 1)
    )
    planned = step.plan("cycle-1", NOW.isoformat(), now=NOW)
    metrics = Metrics()
    report = ReportStep(
        store,
        state,
        reporter(state, Inbox()),
        Lease(state),
        metrics=metrics,
        account_metrics=frozenset({"111111111111"}),
    )
    answered = {
        "shard": "0000",
        "ok": True,
        "by_status": {"failing": 1},
        "by_account": {"111111111111": {"failing": 1}},
        "drifting": 1,
    }
    crashed = {"shard": "0001", "ok": False, "accounts": ["222222222222"], "targets": 1, "error": "Lambda.Unknown"}

    summary = report.run("cycle-1", NOW, {"planned": {"result": planned}, "shards": [answered, crashed]}, now=NOW)

    assert (summary["shards"], summary["shards_failed"], summary["heartbeat"]) == (2, 1, False)
    (counts,) = metrics.fleet
    assert (counts.targets, counts.failing, counts.in_error, counts.drifting) == (2, 1, 1, 1)
    assert counts.by_account == {"111111111111": {"failing": 1}}
    assert (
        state.items[state_key(Subject.TARGET, "bbb-0")]
        .last_result["error"]
        .endswith("shard 0001 failed: Lambda.Unknown")
    )


def test_the_heartbeat_goes_out_when_every_shard_answered() -> None:
    step, store, state = planner([item("aaa-0", "111111111111")])
    planned = step.plan("cycle-1", NOW.isoformat(), now=NOW)
    metrics = Metrics()
    report = ReportStep(store, state, reporter(state, Inbox()), Lease(state), metrics=metrics)
    answered = {"shard": "0000", "ok": True, "by_status": {"ok": 1}, "by_account": {"111111111111": {"ok": 1}}}

    summary = report.run("cycle-1", NOW, {"planned": {"result": planned}, "shards": [answered]}, now=NOW)

    assert summary["heartbeat"] is True
    assert metrics.fleet[0].completed and metrics.fleet[0].by_account == {}


class UnreadableState(KeyedState):
    def load(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        raise StateStoreError("BatchGetItem state", "ProvisionedThroughputExceededException", "throttled")


def test_a_report_without_the_state_table_still_publishes_the_cycles_metrics() -> None:
    step, store, _ = planner([item("aaa-0", "111111111111")])
    planned = step.plan("cycle-1", NOW.isoformat(), now=NOW)
    state, metrics = UnreadableState(), Metrics()
    report = ReportStep(store, state, reporter(state, Inbox()), Lease(state), metrics=metrics)
    crashed = {"shard": "0000", "ok": False, "targets": 1, "error": "Lambda.Unknown"}

    summary = report.run("cycle-1", NOW, {"planned": {"result": planned}, "shards": [crashed]}, now=NOW)

    assert summary["lease_released"] is False  # it expires by itself
    assert metrics.fleet[0].in_error == 1 and metrics.fleet[0].shards_failed == 1
