"""The one service every shell uses: run a cycle, probe targets, and report what changed.

It owns orchestration only: reads each distinct role, provider and issuer once per cycle, runs the pure core
on every target, and hands results to the reporting ports. All I/O goes through the ports given to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from webid_canary.core.case import build_case
from webid_canary.core.explain import explain
from webid_canary.core.lint import lint
from webid_canary.core.model import IdpFacts, ProviderRecord, Token
from webid_canary.core.neighbours import neighbours
from webid_canary.core.policy import parse_trust_policy
from webid_canary.core.report import CycleReport, LiveResult, NegativeProbe, ProviderResult, TargetResult, worst
from webid_canary.core.state import Status
from webid_canary.core.targets import BUILTIN_ISSUERS, DEFAULT_AUDIENCE, Target, TargetError, TokenSource

log = logging.getLogger("webid-canary.service")

SYNTHETIC_TOKEN_LIFETIME = timedelta(minutes=5)
PROVIDERS_KEY = "iam:ListOpenIDConnectProviders"


class RoleLike(Protocol):
    @property
    def arn(self) -> str: ...
    @property
    def trust_policy_document(self) -> str: ...
    @property
    def max_session_duration(self) -> int: ...


class TargetsPort(Protocol):
    def scan(self) -> Iterable[tuple[str, Target | TargetError]]: ...


class IamPort(Protocol):
    def get_role(self, name_or_arn: str) -> RoleLike | None: ...
    def list_provider_arns(self) -> list[str]: ...
    def get_provider(self, arn: str) -> ProviderRecord | None: ...


class InspectionLike(Protocol):
    def idp_facts(self) -> IdpFacts: ...


class InspectorPort(Protocol):
    def inspect(self, issuer_url: str) -> InspectionLike: ...


class TokenPort(Protocol):
    def fetch(self, source: TokenSource) -> Token: ...


class StsAnswerLike(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def caller_arn(self) -> str | None: ...


class ProberPort(Protocol):
    def probe(self, role_arn: str, token: Token, *, session_name: str, duration_seconds: int) -> StsAnswerLike: ...


class DriftCheck(Protocol):
    def __call__(
        self,
        record: ProviderRecord,
        inspection: InspectionLike | None,
        baseline: Mapping[str, Any] | None,
        now: datetime,
    ) -> ProviderResult: ...


@dataclass
class Ports:
    targets: TargetsPort
    iam: IamPort
    inspector: InspectorPort | None = None
    tokens: TokenPort | None = None
    prober: ProberPort | None = None
    drift: DriftCheck | None = None


@dataclass
class CycleContext:
    """What a cycle read once and shares across targets."""

    now: datetime
    roles: dict[str, RoleLike | None] = field(default_factory=dict)
    providers: dict[str, ProviderRecord] = field(default_factory=dict)
    inspections: dict[str, InspectionLike | None] = field(default_factory=dict)
    lint_by_role: dict[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    # Shared reads that failed: the targets that need them end in `error`, the others go on.
    read_errors: dict[str, str] = field(default_factory=dict)


class Service:
    def __init__(
        self,
        ports: Ports,
        *,
        concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ports = ports
        self.concurrency = concurrency
        self.clock = clock

    def run_cycle(
        self,
        now: datetime,
        deadline: datetime | None = None,
        only: Sequence[str] = (),
        baselines: Mapping[str, Mapping[str, Any]] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> CycleReport:
        """Check every enabled target (or only `only`) and every provider of the account."""
        started = self.clock()
        results: list[TargetResult] = []
        targets: list[Target] = []
        for target_id, item in self.ports.targets.scan():
            if only and target_id not in only:
                continue
            if isinstance(item, TargetError):
                results.append(TargetResult(target_id, Status.ERROR, error=f"configuration: {item}"))
            elif item.enabled or only:
                targets.append(item)
        missing = sorted(set(only) - {t.target_id for t in targets} - {r.target_id for r in results})
        notes = tuple(f"{target_id}: not registered" for target_id in missing)

        context = self._read_shared(targets, now)
        skipped: list[str] = []
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="target") as pool:
            futures = {}
            for target in targets:
                if deadline is not None and self.clock() >= deadline:
                    skipped.append(target.target_id)
                    continue
                futures[target.target_id] = pool.submit(self._check_target_safely, target, context)
            for done, future in enumerate(futures.values(), start=1):
                results.append(future.result())
                if progress is not None:
                    progress(results[-1].target_id, done, len(futures))

        providers = self._check_providers(context, baselines or {})
        return CycleReport(
            started=started,
            finished=self.clock(),
            targets=tuple(sorted(results, key=lambda r: r.target_id)),
            providers=tuple(providers),
            skipped=tuple(skipped),
            notes=notes,
        )

    # -- shared reads, once per cycle -------------------------------------------------------------------------

    def _read_shared(self, targets: Sequence[Target], now: datetime) -> CycleContext:
        """Each distinct role, every provider, and each issuer (of targets and providers) once."""
        context = CycleContext(now=now)
        role_arns = sorted({t.role_arn for t in targets})
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="read") as pool:
            arns_future = pool.submit(self.ports.iam.list_provider_arns)
            role_futures = {arn: pool.submit(self.ports.iam.get_role, arn) for arn in role_arns}
            try:
                provider_arns = arns_future.result()
            except Exception as exc:
                log.exception("listing OIDC providers failed")
                context.read_errors[PROVIDERS_KEY] = f"reading OIDC providers: {type(exc).__name__}: {exc}"
                provider_arns = []
            provider_futures = {arn: pool.submit(self.ports.iam.get_provider, arn) for arn in provider_arns}
            # A provider's ARN ends in its URL: its issuer can be inspected while the provider itself is read.
            issuers = {t.issuer for t in targets} | {f"https://{_url_of(arn)}" for arn in provider_arns}
            inspector = self.ports.inspector
            inspection_futures = (
                {
                    issuer: pool.submit(inspector.inspect, issuer)
                    for issuer in sorted(issuers)
                    if issuer not in BUILTIN_ISSUERS
                }
                if inspector
                else {}
            )
            for arn, provider_future in provider_futures.items():
                try:
                    record = provider_future.result()
                except Exception as exc:
                    log.exception("reading OIDC provider failed", extra={"provider_arn": arn})
                    context.read_errors[PROVIDERS_KEY] = f"reading OIDC provider {arn}: {type(exc).__name__}: {exc}"
                    continue
                if record is not None:
                    context.providers[record.url] = record
            for arn, future in role_futures.items():
                try:
                    context.roles[arn] = future.result()
                except Exception as exc:
                    log.exception("reading role failed", extra={"role_arn": arn})
                    context.read_errors[arn] = f"reading role: {type(exc).__name__}: {exc}"
            for issuer, pending in inspection_futures.items():
                try:
                    context.inspections[issuer] = pending.result()
                except Exception as exc:
                    log.exception("inspecting issuer failed", extra={"issuer": issuer})
                    context.inspections[issuer] = None
                    context.read_errors[issuer] = f"inspecting {issuer}: {type(exc).__name__}: {exc}"
        for arn, role in context.roles.items():
            if role is not None:
                try:
                    found = lint(parse_trust_policy(role.trust_policy_document))
                    context.lint_by_role[arn] = tuple(
                        {"code": f.code, "severity": str(f.severity), "evidence": dict(f.evidence)} for f in found
                    )
                except ValueError:
                    context.lint_by_role[arn] = ()
        return context

    # -- one target ---------------------------------------------------------------------------------------------

    def _check_target_safely(self, target: Target, context: CycleContext) -> TargetResult:
        try:
            result = self._check_target(target, context)
        except Exception as exc:
            log.exception("checking target failed", extra={"target_id": target.target_id})
            return _base(target, Status.ERROR, error=f"{type(exc).__name__}: {exc}")
        _log_result(result, target)
        return result

    def _check_target(self, target: Target, context: CycleContext) -> TargetResult:
        now = context.now
        failed = (
            context.read_errors.get(target.role_arn)
            or context.read_errors.get(PROVIDERS_KEY)
            or context.read_errors.get(target.issuer)
        )
        if failed:
            return _base(target, Status.ERROR, error=failed)
        role = context.roles.get(target.role_arn)
        url = _host_path(target.issuer)
        provider = context.providers.get(url)
        inspection = context.inspections.get(target.issuer)
        idp = inspection.idp_facts() if inspection is not None else IdpFacts()

        def predict(claims: Mapping[str, object] | None, token: Token | None = None) -> Mapping[str, Any]:
            case = build_case(
                role_arn=target.role_arn,
                trust_policy=role.trust_policy_document if role else '{"Version":"2012-10-17","Statement":[]}',
                provider=provider,
                claims=claims,
                token=token,
                now=now,
                session_name=target.session_name,
                duration_seconds=target.duration_seconds,
                role_max_session_duration=role.max_session_duration if role else 3600,
                idp=idp,
                role_exists=role is not None,
            )
            return explain(case).to_json()

        live: LiveResult | None = None
        if target.token_source is not None:
            if self.ports.tokens is None or self.ports.prober is None:
                return _base(target, Status.ERROR, error="live probe needs a token source and STS, not configured")
            try:
                token = self.ports.tokens.fetch(target.token_source)
            except Exception as exc:
                return _base(target, Status.ERROR, error=f"token source {target.token_source.type}: {exc}")
            verdict = predict(None, token)
            answer = self.ports.prober.probe(
                target.role_arn, token, session_name=target.session_name, duration_seconds=target.duration_seconds
            )
            agrees = (verdict["outcome"] == "allow") == answer.allowed and (
                answer.allowed or verdict.get("error_code") == answer.error_code
            )
            live = LiveResult(answer.allowed, answer.error_code, answer.message, answer.caller_arn, agrees)
        else:
            verdict = predict(synthetic_claims(target, now))

        base_claims = synthetic_claims(target, now)
        negatives = [
            NegativeProbe(
                label="registered must_deny",
                sub=str({**base_claims, **entry.to_json()}.get("sub", "")),
                allowed=predict({**base_claims, **entry.to_json()})["outcome"] == "allow",
                registered=True,
            )
            for entry in target.must_deny
        ]
        negatives += [
            NegativeProbe(
                label=n.label,
                sub=str(n.claims.get("sub", "")),
                allowed=predict(n.claims)["outcome"] == "allow",
                registered=False,
                crosses_boundary=n.crosses_boundary,
            )
            for n in neighbours(base_claims)
        ]
        lint_findings = context.lint_by_role.get(target.role_arn, ())

        allowed = live.allowed if live is not None else verdict["outcome"] == "allow"
        statuses = [Status.OK if allowed else Status.FAILING]
        if live is not None and not live.agrees:
            statuses.append(Status.FAILING if not allowed else Status.OK)
        opened = any(n.allowed and (n.registered or n.crosses_boundary) for n in negatives)
        if opened or any(f.get("severity") == "critical" for f in lint_findings):
            statuses.append(Status.OPEN)
        return _base(
            target,
            worst(statuses),
            verdict=verdict,
            live=live,
            negatives=tuple(negatives),
            lint=lint_findings,
        )

    # -- providers ---------------------------------------------------------------------------------------------

    def _check_providers(
        self, context: CycleContext, baselines: Mapping[str, Mapping[str, Any]]
    ) -> list[ProviderResult]:
        if self.ports.drift is None:
            return []
        results = []
        for url, record in sorted(context.providers.items()):
            inspection = context.inspections.get(f"https://{url}")
            try:
                results.append(self.ports.drift(record, inspection, baselines.get(url), context.now))
            except Exception as exc:
                log.exception("drift check failed", extra={"provider": url})
                results.append(
                    ProviderResult(
                        url,
                        record.arn,
                        Status.ERROR,
                        findings=({"code": "check_error", "severity": "high", "evidence": {"error": str(exc)}},),
                    )
                )
        return results


def _log_result(result: TargetResult, target: Target) -> None:
    """One line per target: problems at WARNING, healthy targets at DEBUG. Claims only, never a token."""
    verdict = result.verdict or {}
    claims = target.claims.to_json()
    fields = {
        "target_id": result.target_id,
        "status": result.status.value,
        "root_cause": result.root_cause,
        "condition_key": verdict.get("condition_key"),
        "role_arn": result.role_arn,
        "iss": target.issuer,
        "sub": claims.get("sub"),
        "aud": claims.get("aud"),
        "live": target.token_source is not None,
    }
    level = logging.DEBUG if result.status is Status.OK else logging.WARNING
    log.log(level, "target checked", extra=fields)


def synthetic_claims(target: Target, now: datetime) -> dict[str, object]:
    """The claims a workload's token would carry: the registered ones, plus issuer and a fresh lifetime."""
    issued = int(now.timestamp())
    claims: dict[str, object] = {
        "iss": target.issuer,
        "aud": DEFAULT_AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(SYNTHETIC_TOKEN_LIFETIME.total_seconds()),
    }
    claims.update(target.claims.to_json())
    return claims


def _url_of(provider_arn: str) -> str:
    return provider_arn.split(":oidc-provider/", 1)[-1]


def _host_path(issuer: str) -> str:
    return issuer.removeprefix("https://")


def _base(target: Target, status: Status, **extra: Any) -> TargetResult:
    return TargetResult(
        target_id=target.target_id,
        status=status,
        role_arn=target.role_arn,
        issuer=target.issuer,
        severity=target.severity,
        owner=target.owner,
        alarm=target.alarm,
        topic_arn=target.topic_arn,
        **extra,
    )
