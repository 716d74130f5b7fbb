"""The cycle with in-memory ports: each role, provider and issuer read once; every way a target can end."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from webid_canary.app.cycle import NOT_IN_TIME, Cycle, Reader
from webid_canary.app.drift import DriftRules
from webid_canary.app.ports import AwsThrottledError
from webid_canary.core.inspection import CertificateFacts, Fetch, HostFacts, IssuerInspection, KeyFacts
from webid_canary.core.inspection import Role as HostRole
from webid_canary.core.model import ProviderRecord, Token
from webid_canary.core.state import Status
from webid_canary.core.targets import Target, TargetError, parse_target

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
EKS = "oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
GITHUB = "token.actions.githubusercontent.com"


def trust(provider: str, operator: str, conditions: dict[str, str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {operator: {f"{provider}:{k}": v for k, v in conditions.items()}},
                }
            ],
        }
    )


@dataclass(frozen=True)
class Role:
    arn: str
    trust_policy_document: str
    max_session_duration: int = 3600

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


class FakeIam:
    def __init__(self, roles: Iterable[Role], providers: Iterable[ProviderRecord]) -> None:
        self.roles = {r.arn: r for r in roles}
        self.providers = list(providers)
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def list_roles(self) -> Iterable[Role]:
        with self.lock:
            self.calls["list_roles"] += 1
        return list(self.roles.values())

    def get_role(self, name_or_arn: str) -> Role | None:
        """By name, as IAM's GetRole: the path of the ARN asked for plays no part."""
        with self.lock:
            self.calls[f"get_role {name_or_arn}"] += 1
        name = name_or_arn.rsplit("/", 1)[-1]
        return next((r for r in self.roles.values() if r.name == name), None)

    def list_provider_arns(self) -> list[str]:
        with self.lock:
            self.calls["list_provider_arns"] += 1
        return [f"arn:aws:iam::{ACCOUNT}:oidc-provider/{p.url}" for p in self.providers]

    def get_provider(self, arn: str) -> ProviderRecord | None:
        with self.lock:
            self.calls[f"get_provider {arn}"] += 1
        return next((p for p in self.providers if arn.endswith(f"/{p.url}")), None)


def healthy_inspection(issuer_url: str) -> IssuerInspection:
    """What a healthy issuer under a public root shows: discovery, one key, the issuer host's chain."""
    host = issuer_url.removeprefix("https://").split("/", 1)[0]
    cert = CertificateFacts(
        "CN=" + host, "CN=Public Root", NOW + timedelta(days=400), "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
    )
    return IssuerInspection(
        url=issuer_url,
        inspected_at=NOW,
        discovery=Fetch(issuer_url + "/.well-known/openid-configuration", status=200, seconds=0.01),
        issuer=issuer_url,
        jwks_uri=issuer_url + "/keys",
        jwks=Fetch(issuer_url + "/keys", status=200, seconds=0.01),
        keys=(KeyFacts("k1", "RSA", "RS256", "sig"),),
        hosts=(HostFacts(host, HostRole.ISSUER, chain=(cert,), trusted_root_ca=True),),
    )


class FakeInspector:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def inspect(self, issuer_url: str, *, deadline: object = None) -> IssuerInspection:
        with self.lock:
            self.calls[issuer_url] += 1
        return healthy_inspection(issuer_url)


class Table:
    def __init__(self, items: list[dict[str, object]]) -> None:
        self.items = items

    def scan(self) -> Iterable[tuple[str, Target | TargetError]]:
        for item in self.items:
            try:
                yield str(item.get("target_id")), parse_target(item)
            except TargetError as exc:
                yield str(item.get("target_id")), exc


def eks_target(target_id: str, role: str, sa: str = "invoice-worker", **extra: object) -> dict[str, object]:
    return {
        "target_id": target_id,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
        "issuer": f"https://{EKS}",
        "claims": {"sub": f"system:serviceaccount:billing:{sa}", "aud": "sts.amazonaws.com"},
        **extra,
    }


ROLES = [
    Role(
        f"arn:aws:iam::{ACCOUNT}:role/invoice-worker",
        trust(EKS, "StringEquals", {"sub": "system:serviceaccount:billing:invoice-worker", "aud": "sts.amazonaws.com"}),
    ),
    Role(
        f"arn:aws:iam::{ACCOUNT}:role/billing-any",
        trust(EKS, "StringLike", {"sub": "system:serviceaccount:billing:*", "aud": "sts.amazonaws.com"}),
    ),
    Role(
        f"arn:aws:iam::{ACCOUNT}:role/deploy",
        trust(GITHUB, "StringLike", {"sub": "repo:acme/*", "aud": "sts.amazonaws.com"}),
    ),
]
PROVIDERS = [
    ProviderRecord(EKS, ("sts.amazonaws.com",), ("9e99a48a9960b14926bb7f3b02e22da2b0ab7280",)),
    ProviderRecord(GITHUB, ("sts.amazonaws.com",), ("6938fd4d98bab03faadb97b34396831e3780aea1",)),
]


def cycle(
    items: list[dict[str, object]],
    iam: FakeIam | None = None,
    inspector: object | None = None,
    **kwargs: object,
) -> Cycle:
    reader = Reader(iam or FakeIam(ROLES, PROVIDERS), inspector or FakeInspector(), concurrency=4)  # type: ignore[arg-type]
    return Cycle(Table(items), reader, concurrency=4, **kwargs)  # type: ignore[arg-type]


def run(items: list[dict[str, object]], **kwargs: object) -> tuple[dict[str, object], FakeIam, FakeInspector]:
    iam, inspector = FakeIam(ROLES, PROVIDERS), FakeInspector()
    report = cycle(items, iam, inspector).run(NOW, **kwargs)  # type: ignore[arg-type]
    return {t.target_id: t for t in report.targets}, iam, inspector


def test_healthy_failing_open_and_broken_targets_in_one_cycle() -> None:
    results, _, _ = run(
        [
            eks_target("invoice-worker", "invoice-worker"),
            eks_target("wrong-sa", "invoice-worker", sa="other"),
            eks_target("billing-any", "billing-any"),
            eks_target("no-such-role", "ghost"),
            {"target_id": "Bad ID", "role_arn": "nope"},
            {
                "target_id": "deploy",
                "role_arn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
                "issuer": f"https://{GITHUB}",
                "claims": {"sub": "repo:acme/payments:ref:refs/heads/main", "aud": "sts.amazonaws.com"},
            },
        ]
    )
    assert results["invoice-worker"].status is Status.OK
    assert results["wrong-sa"].status is Status.FAILING
    assert results["wrong-sa"].root_cause == "trust_condition_mismatch"
    assert results["wrong-sa"].verdict is not None
    assert results["wrong-sa"].verdict.condition_key == f"{EKS}:sub"
    assert results["billing-any"].status is Status.OPEN
    assert {n.label for n in results["billing-any"].open_to} == {"another service account in namespace billing"}
    assert results["no-such-role"].root_cause == "role_not_found"
    assert results["Bad ID"].status is Status.ERROR
    assert "target_id" in (results["Bad ID"].error or "")
    assert results["deploy"].status is Status.OPEN
    assert "another repository of acme" in {n.label for n in results["deploy"].open_to}


def test_registered_must_deny_that_is_allowed_opens_the_target() -> None:
    item = eks_target(
        "invoice-worker", "invoice-worker", must_deny=[{"sub": "system:serviceaccount:billing:invoice-worker"}]
    )
    results, _, _ = run([item])
    assert results["invoice-worker"].status is Status.OPEN
    assert [n.registered for n in results["invoice-worker"].open_to] == [True]


def test_roles_are_listed_and_each_provider_and_issuer_read_once_per_cycle() -> None:
    items = [eks_target(f"worker-{i:03d}", "invoice-worker") for i in range(60)]
    items += [eks_target(f"any-{i:03d}", "billing-any") for i in range(40)]
    results, iam, inspector = run(items)
    assert len(results) == 100
    assert iam.calls == Counter(
        {
            "list_roles": 1,
            "list_provider_arns": 1,
            f"get_provider arn:aws:iam::{ACCOUNT}:oidc-provider/{EKS}": 1,
            f"get_provider arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}": 1,
        }
    )
    assert inspector.calls == Counter({f"https://{EKS}": 1, f"https://{GITHUB}": 1})


def test_a_role_under_another_path_is_not_found_as_sts_would_say() -> None:
    item = eks_target("pathed", "invoice-worker") | {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/team/invoice-worker"}
    results, iam, _ = run([item])
    assert (results["pathed"].status, results["pathed"].root_cause) == (Status.FAILING, "role_not_found")
    assert iam.calls[f"get_role arn:aws:iam::{ACCOUNT}:role/team/invoice-worker"] == 1


class NoListing(FakeIam):
    def list_roles(self) -> Iterable[Role]:
        raise RuntimeError("ListRoles: Throttling")


def test_without_the_role_listing_each_targets_role_is_read_by_itself() -> None:
    iam = NoListing(ROLES, PROVIDERS)
    report = cycle([eks_target("invoice-worker", "invoice-worker")], iam).run(NOW)
    (result,) = report.targets
    assert result.status is Status.OK
    assert iam.calls[f"get_role arn:aws:iam::{ACCOUNT}:role/invoice-worker"] == 1


def test_disabled_targets_are_left_out_unless_asked_for() -> None:
    items = [eks_target("invoice-worker", "invoice-worker", enabled=False), eks_target("other", "invoice-worker")]
    results, _, _ = run(items)
    assert set(results) == {"other"}
    results, _, _ = run(items, only=["invoice-worker"])
    assert set(results) == {"invoice-worker"}


def test_past_the_deadline_no_new_target_starts_and_the_report_says_so() -> None:
    ticks = iter([NOW + timedelta(seconds=s) for s in range(100)])
    items = [eks_target(f"t-{i}", "invoice-worker") for i in range(5)]
    reader = Reader(FakeIam(ROLES, PROVIDERS), FakeInspector(), concurrency=2, clock=lambda: NOW)  # type: ignore[arg-type]
    report = Cycle(Table(items), reader, concurrency=2, clock=lambda: next(ticks)).run(
        NOW, deadline=NOW + timedelta(seconds=3)
    )
    checked = [t for t in report.targets if t.error != NOT_IN_TIME]
    assert len(report.targets) == 5
    assert 0 < len(checked) < 5
    assert set(report.skipped) == {t.target_id for t in report.targets} - {t.target_id for t in checked}
    assert all(t.status is Status.ERROR and t.root_cause == "check_error" for t in report.targets if t not in checked)


class StallingInspector(FakeInspector):
    """An issuer that never answers until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def inspect(self, issuer_url: str, *, deadline: object = None) -> IssuerInspection:
        self.release.wait(timeout=30)
        return super().inspect(issuer_url)


def test_a_read_that_outlasts_the_deadline_leaves_its_targets_not_checked_and_the_cycle_ends() -> None:
    from datetime import UTC, datetime

    inspector = StallingInspector()
    try:
        deadline = datetime.now(UTC) + timedelta(milliseconds=300)
        report = cycle([eks_target("worker", "invoice-worker")], inspector=inspector).run(NOW, deadline=deadline)
    finally:
        inspector.release.set()
    (result,) = report.targets
    assert result.status is Status.ERROR
    assert "deadline" in (result.error or "")


def test_an_issuer_cut_off_by_the_deadline_is_not_checked_not_drifting() -> None:
    from datetime import UTC, datetime

    inspector = StallingInspector()
    try:
        deadline = datetime.now(UTC) + timedelta(milliseconds=300)
        report = cycle(
            [eks_target("worker", "invoice-worker")], inspector=inspector, drift=DriftRules(expiry_days=30)
        ).run(NOW, deadline=deadline)
    finally:
        inspector.release.set()
    providers = {p.url: p for p in report.providers}
    assert providers[EKS].status is Status.ERROR
    assert [f.code for f in providers[EKS].findings] == ["check_error"]
    assert "deadline" in json.dumps(providers[EKS].findings[0].evidence)


class ExplodingInspector(FakeInspector):
    def inspect(self, issuer_url: str, *, deadline: object = None) -> IssuerInspection:
        raise TimeoutError("issuer did not answer")


class BrokenIam(FakeIam):
    def get_role(self, name_or_arn: str) -> Role | None:
        if name_or_arn.endswith("/billing-any"):
            raise RuntimeError("throttled for good")
        return super().get_role(name_or_arn)


def test_one_targets_outage_does_not_stop_the_others() -> None:
    iam = NoListing(ROLES, PROVIDERS)
    iam.__class__ = type("BrokenNoListing", (NoListing, BrokenIam), {})
    items = [eks_target("invoice-worker", "invoice-worker"), eks_target("billing-any", "billing-any")]
    report = {t.target_id: t for t in cycle(items, iam).run(NOW).targets}
    assert report["invoice-worker"].status is Status.OK
    assert report["billing-any"].status is Status.ERROR
    assert "throttled for good" in (report["billing-any"].error or "")


def test_an_issuer_that_could_not_be_inspected_leaves_its_targets_in_error_not_ok() -> None:
    items = [eks_target("invoice-worker", "invoice-worker")]
    (result,) = cycle(items, inspector=ExplodingInspector()).run(NOW).targets
    assert result.status is Status.ERROR
    assert "issuer did not answer" in (result.error or "")


def test_a_refused_issuer_is_a_drift_finding_and_its_targets_fail() -> None:
    from webid_canary.adapters.inspector import IssuerInspector

    loopback = "127.0.0.1:9/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
    provider = ProviderRecord(loopback, ("sts.amazonaws.com",), ("9e99a48a9960b14926bb7f3b02e22da2b0ab7280",))
    role = Role(
        f"arn:aws:iam::{ACCOUNT}:role/invoice-worker",
        trust(loopback, "StringEquals", {"sub": "system:serviceaccount:billing:invoice-worker"}),
    )
    item = eks_target("invoice-worker", "invoice-worker") | {"issuer": f"https://{loopback}"}
    iam = FakeIam([role], [provider])
    iam.providers[0] = ProviderRecord(
        provider.url, provider.client_ids, provider.thumbprints, iam.list_provider_arns()[0]
    )
    report = cycle([item], iam, IssuerInspector(allow_private=False, clock=lambda: NOW), drift=DriftRules()).run(NOW)
    (target,) = report.targets
    assert (target.status, target.root_cause) == (Status.FAILING, "provider_keys_unreachable")
    (drift,) = report.providers
    assert drift.status is Status.DRIFT
    assert [f.code for f in drift.serious] == ["discovery_unreachable"]
    assert "loopback" in str(drift.serious[0].evidence)


class NoProviders(FakeIam):
    def list_provider_arns(self) -> list[str]:
        raise ConnectionError("IAM unreachable")


def test_without_the_provider_list_targets_are_errors_not_false_failures() -> None:
    (result,) = cycle([eks_target("worker", "invoice-worker")], NoProviders(ROLES, PROVIDERS)).run(NOW).targets
    assert result.status is Status.ERROR
    assert "IAM unreachable" in (result.error or "")


class OneProviderThrottled(FakeIam):
    def get_provider(self, arn: str) -> ProviderRecord | None:
        if arn.endswith(GITHUB):
            raise RuntimeError("GetOpenIDConnectProvider: Throttling")
        return super().get_provider(arn)


def test_a_failed_read_of_one_provider_puts_only_its_targets_in_error() -> None:
    items = [
        eks_target("worker", "invoice-worker"),
        {
            "target_id": "deploy",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
            "issuer": f"https://{GITHUB}",
            "claims": {"sub": "repo:acme/payments:ref:refs/heads/main", "aud": "sts.amazonaws.com"},
        },
    ]
    iam = OneProviderThrottled(ROLES, PROVIDERS)
    report = cycle(items, iam, drift=DriftRules()).run(NOW)
    results = {t.target_id: t for t in report.targets}
    assert results["worker"].status is Status.OK
    assert results["deploy"].status is Status.ERROR
    assert "Throttling" in (results["deploy"].error or "")
    providers = {p.url: p for p in report.providers}
    assert providers[GITHUB].status is Status.ERROR
    assert [f.code for f in providers[GITHUB].findings] == ["check_error"]


@dataclass(frozen=True)
class Answer:
    allowed: bool
    error_code: str | None = None
    message: str | None = None
    caller_arn: str | None = None


class Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, source: object) -> Token:
        return Token(self.token)


class Prober:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, int]] = []

    def probe(self, role_arn: str, token: Token, *, session_name: str, duration_seconds: int) -> Answer:
        self.calls.append((role_arn, session_name, duration_seconds))
        return self.answer


def jwt_for(claims: dict[str, object]) -> str:
    import jwt

    return jwt.encode(claims, "k" * 32, algorithm="HS256")


LIVE = eks_target(
    "live",
    "invoice-worker",
    token_source={"type": "secret", "secret_id": "webid-canary/live-token"},
)


@pytest.mark.parametrize(
    ("answer", "status", "agrees"),
    [
        (
            Answer(True, caller_arn="arn:aws:sts::123456789012:assumed-role/invoice-worker/webid-canary"),
            Status.OK,
            True,
        ),
        (
            Answer(False, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
            Status.FAILING,
            False,
        ),
    ],
)
def test_live_probe_is_reconciled_with_the_prediction(answer: Answer, status: Status, agrees: bool) -> None:
    token = jwt_for(
        {
            "iss": f"https://{EKS}",
            "aud": "sts.amazonaws.com",
            "sub": "system:serviceaccount:billing:invoice-worker",
            "iat": int(NOW.timestamp()),
            "exp": int(NOW.timestamp()) + 600,
        }
    )
    prober = Prober(answer)
    result = cycle([LIVE], tokens=Tokens(token), prober=prober).run(NOW).targets[0]
    assert result.status is status
    assert result.live is not None
    assert result.live.agrees is agrees
    assert prober.calls == [(f"arn:aws:iam::{ACCOUNT}:role/invoice-worker", "webid-canary", 900)]
    assert token not in json.dumps(result.to_json())


@pytest.mark.parametrize("code", ["IDPCommunicationError", "Throttling", "ServiceUnavailable"])
def test_a_live_answer_that_says_sts_could_not_tell_is_an_error_not_a_page(code: str) -> None:
    token = jwt_for({"iss": f"https://{EKS}", "aud": "sts.amazonaws.com", "sub": "x", "exp": 2**31})
    result = cycle([LIVE], tokens=Tokens(token), prober=Prober(Answer(False, code, "try later"))).run(NOW).targets[0]
    assert (result.status, result.root_cause) == (Status.ERROR, "check_error")
    assert code in (result.error or "")


def ip_pinned_role() -> Role:
    document = json.loads(
        trust(EKS, "StringEquals", {"sub": "system:serviceaccount:billing:invoice-worker", "aud": "sts.amazonaws.com"})
    )
    document["Statement"][0]["Condition"]["IpAddress"] = {"aws:SourceIp": "203.0.113.0/24"}
    return Role(f"arn:aws:iam::{ACCOUNT}:role/ip-pinned", json.dumps(document))


@pytest.mark.parametrize(
    ("caller", "status", "says"),
    [
        (None, Status.ERROR, "aws:SourceIp"),
        ({"source_ip": "203.0.113.7"}, Status.OK, None),
        ({"source_ip": "198.51.100.7"}, Status.FAILING, None),
    ],
)
def test_a_trust_policy_on_the_callers_ip_needs_the_workloads_caller_facts(
    caller: dict[str, str] | None, status: Status, says: str | None
) -> None:
    item = eks_target("pinned", "ip-pinned") | ({"caller": caller} if caller else {})
    iam = FakeIam([*ROLES, ip_pinned_role()], PROVIDERS)
    (result,) = cycle([item], iam).run(NOW).targets
    assert result.status is status
    if says:
        assert says in (result.error or "") and "caller" in (result.error or "")
    if status is Status.FAILING:
        assert result.verdict is not None and result.verdict.condition_key == "aws:SourceIp"


def test_each_provider_gets_one_log_line_with_its_certificate_days_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="webid-canary.cycle")
    iam = FakeIam(
        ROLES,
        [
            ProviderRecord(p.url, p.client_ids, p.thumbprints, f"arn:aws:iam::{ACCOUNT}:oidc-provider/{p.url}")
            for p in PROVIDERS
        ],
    )
    cycle([eks_target("worker", "invoice-worker")], iam, drift=DriftRules()).run(NOW)
    lines = {r.__dict__["provider"]: r.__dict__ for r in caplog.records if r.getMessage() == "provider checked"}
    assert set(lines) == {EKS, GITHUB}
    assert lines[EKS]["cert_days_left"] == 400


class ThrottledTable(Table):
    """Yields its first item, then the next page is throttled."""

    def scan(self) -> Iterable[tuple[str, Target | TargetError]]:
        yield str(self.items[0]["target_id"]), parse_target(self.items[0])
        raise AwsThrottledError("Scan webid-canary-targets", "ThrottlingException")


def test_an_unreadable_targets_table_leaves_the_known_targets_not_checked_and_the_providers_checked() -> None:
    reader = Reader(FakeIam(ROLES, PROVIDERS), FakeInspector(), concurrency=4)  # type: ignore[arg-type]
    items = [eks_target("worker", "invoice-worker"), eks_target("other", "invoice-worker")]
    drift = DriftRules(expiry_days=30)
    report = Cycle(ThrottledTable(items), reader, drift=drift, concurrency=4).run(  # type: ignore[arg-type]
        NOW, known_targets=["worker", "other", "gone-before"]
    )
    results = {t.target_id: t for t in report.targets}
    assert results["worker"].status is Status.OK
    assert {results["other"].status, results["gone-before"].status} == {Status.ERROR}
    assert "Targets table could not be read" in (results["other"].error or "")
    assert "ThrottlingException" in (results["other"].error or "")
    assert {p.url for p in report.providers} == {EKS, GITHUB}
