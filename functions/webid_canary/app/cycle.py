"""Where a cycle happens: select the targets, read what they share once, judge each, then the drift pass.

Reads only: roles of the account (ListRoles, a thousand a call), the OIDC providers, each issuer once. Judging is
the core's (core/check.py), drift is app/drift.py's. Every phase answers to the cycle's deadline: what did not
finish in time is reported as not checked this cycle, never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from webid_canary.app.drift import DriftRules, assess
from webid_canary.app.ports import AwsError, IamPort, InspectorPort, ProberPort, RoleRecord, TargetsPort, TokenPort
from webid_canary.core.check import LiveAnswer, Reads, failed, judge
from webid_canary.core.drift import ProviderBaseline, federated_principals, provider_url_of
from webid_canary.core.inspection import IssuerInspection
from webid_canary.core.lint import LintFinding, lint
from webid_canary.core.model import IdpFacts, ProviderRecord
from webid_canary.core.policy import parse_trust_policy
from webid_canary.core.rcp import ResourceControlPolicy
from webid_canary.core.report import CycleReport, ProviderResult, TargetResult
from webid_canary.core.state import Status
from webid_canary.core.targets import Target, TargetError

log = logging.getLogger("webid-canary.cycle")

NOT_IN_TIME: Final = "not checked this cycle: the cycle's deadline came first"

Progress = Callable[[str, int, int], None]


def issuer_of(provider_url: str) -> str:
    """The issuer URL of an IAM provider URL (IAM stores it without the scheme)."""
    return f"https://{provider_url}"


@dataclass
class AccountReads:
    """What one cycle read once and shares: roles, providers and issuers, and the reads that failed."""

    now: datetime
    roles: dict[str, RoleRecord] = field(default_factory=dict)
    # False while the account's role listing failed: account-level checks (unused, missing) are then skipped.
    listed_roles: bool = False
    providers_listed: bool = False
    provider_arns: tuple[str, ...] = ()
    providers: dict[str, ProviderRecord] = field(default_factory=dict)
    inspections: dict[str, IssuerInspection] = field(default_factory=dict)
    lint_by_role: dict[str, tuple[LintFinding, ...]] = field(default_factory=dict)
    # What could not be read, by what needed it: "roles", "providers", a role ARN, a provider URL, an issuer URL.
    failures: dict[str, str] = field(default_factory=dict)
    # Providers listed but not read (by URL): the drift pass reports them as not checked, never as deleted.
    provider_failures: dict[str, str] = field(default_factory=dict)
    # The AWS errors behind account-level failures ("roles", "providers"), for a shell that must name the cause.
    errors: dict[str, AwsError] = field(default_factory=dict)
    # Each issuer's facts for the engine, made once: every target of the issuer passes the same object, which
    # the engine keeps its provider checks by.
    _idp_facts: dict[str, tuple[IssuerInspection | None, IdpFacts]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The resource control policies on the account's path (organization mode, where Organizations answers).
    rcps: tuple[ResourceControlPolicy, ...] = ()

    def trusts(self) -> dict[str, tuple[str, ...]] | None:
        """Role ARN -> the OIDC provider ARNs its trust policy names; None when the roles were not listed."""
        if not self.listed_roles:
            return None
        return {arn: federated_principals(role.trust_policy_document) for arn, role in self.roles.items()}

    def failure_for(self, target: Target) -> str | None:
        """Why this target cannot be judged this cycle: a read it needs failed (others' failures do not count)."""
        url = target.issuer.removeprefix("https://")
        needed = (target.role_arn,) if target.issuer_is_builtin else (target.role_arn, "providers", url, target.issuer)
        for key in needed:
            if key in self.failures:
                return self.failures[key]
        return None

    def reads_for(self, target: Target) -> Reads:
        return Reads(
            role=self.roles.get(target.role_arn),
            provider=self.providers.get(target.issuer.removeprefix("https://")),
            idp=self._idp_of(target.issuer),
            lint=self.lint_by_role.get(target.role_arn, ()),
            rcps=self.rcps,
        )

    def _idp_of(self, issuer: str) -> IdpFacts:
        inspection = self.inspections.get(issuer)
        made = self._idp_facts.get(issuer)
        if made is None or made[0] is not inspection:
            made = (inspection, inspection.idp_facts() if inspection is not None else IdpFacts())
            self._idp_facts[issuer] = made
        return made[1]


def _remaining(deadline: datetime | None, clock: Callable[[], datetime]) -> float | None:
    return None if deadline is None else max(0.0, (deadline - clock()).total_seconds())


class LateError(Exception):
    """A read or a check still running at the deadline (not a timeout raised by the call itself)."""


def _wait[T](future: Future[T], timeout: float | None) -> T:
    try:
        return future.result(timeout=timeout)
    except TimeoutError:
        if future.done():
            raise  # the call's own timeout: a failure like any other
        raise LateError from None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Reader:
    """The shared reads of a cycle, each once, side by side, within the deadline."""

    def __init__(
        self,
        iam: IamPort,
        inspector: InspectorPort | None,
        *,
        concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rcps: tuple[ResourceControlPolicy, ...] = (),
    ) -> None:
        self.iam = iam
        self.inspector = inspector
        self.concurrency = concurrency
        self.clock = clock
        self.rcps = rcps

    def read(
        self,
        *,
        now: datetime,
        role_arns: Iterable[str] = (),
        issuers: Iterable[str] = (),
        deadline: datetime | None = None,
        only_provider: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> AccountReads:
        """Every role (listed), the providers (or only one URL's), and each issuer of targets and providers."""
        reads = AccountReads(now=now, rcps=self.rcps)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="read")
        try:
            self._read(pool, reads, sorted(set(role_arns)), set(issuers), deadline, only_provider, progress)
        finally:
            # Reads still running at the deadline are abandoned, not waited for: the report must go out.
            pool.shutdown(wait=deadline is None, cancel_futures=True)
        for arn, role in reads.roles.items():
            try:
                reads.lint_by_role[arn] = tuple(lint(parse_trust_policy(role.trust_policy_document)))
            except ValueError:
                reads.lint_by_role[arn] = ()
        return reads

    def _wait[T](self, future: Future[T], deadline: datetime | None) -> T:
        return _wait(future, _remaining(deadline, self.clock))

    def _read(
        self,
        pool: ThreadPoolExecutor,
        reads: AccountReads,
        role_arns: Sequence[str],
        issuers: set[str],
        deadline: datetime | None,
        only_provider: str | None,
        progress: Callable[[str], None] | None,
    ) -> None:
        listing = pool.submit(lambda: list(self.iam.list_roles()))
        arns_future = pool.submit(self.iam.list_provider_arns)
        try:
            provider_arns = self._wait(arns_future, deadline)
            reads.providers_listed = True
            reads.provider_arns = tuple(provider_arns)
        except LateError:
            reads.failures["providers"] = f"reading OIDC providers: {NOT_IN_TIME}"
            provider_arns = []
        except AwsError as exc:
            # An outage or a refusal, reported with the cycle: no traceback needed.
            log.warning("listing OIDC providers failed", extra={"error": _reason(exc)})
            reads.failures["providers"] = f"reading OIDC providers: {_reason(exc)}"
            reads.errors["providers"] = exc
            provider_arns = []
        except Exception as exc:
            log.exception("listing OIDC providers failed")
            reads.failures["providers"] = f"reading OIDC providers: {_reason(exc)}"
            provider_arns = []
        if only_provider is not None:
            provider_arns = [arn for arn in provider_arns if provider_url_of(arn) == only_provider]
        provider_futures = {arn: pool.submit(self.iam.get_provider, arn) for arn in provider_arns}
        # A provider's ARN ends in its URL: its issuer can be inspected while the provider itself is read.
        issuers |= {issuer_of(provider_url_of(arn)) for arn in provider_arns}
        inspections = (
            {issuer: pool.submit(self.inspector.inspect, issuer, deadline=deadline) for issuer in sorted(issuers)}
            if self.inspector is not None
            else {}
        )
        try:
            for role in self._wait(listing, deadline):
                reads.roles[role.arn] = role
            reads.listed_roles = True
        except LateError:
            reads.failures["roles"] = f"listing roles: {NOT_IN_TIME}"
        except Exception as exc:
            log.warning("listing roles failed; reading the targets' roles one by one", extra={"error": _reason(exc)})
            reads.failures["roles"] = f"listing roles: {_reason(exc)}"
        unlisted = [arn for arn in role_arns if arn not in reads.roles]
        if unlisted:
            self._read_roles(pool, reads, unlisted, deadline)
        for arn, future in provider_futures.items():
            url = provider_url_of(arn)
            try:
                record = self._wait(future, deadline)
            except LateError:
                reads.failures[url] = reads.provider_failures[url] = f"reading OIDC provider {arn}: {NOT_IN_TIME}"
                continue
            except Exception as exc:
                log.exception("reading OIDC provider failed", extra={"provider_arn": arn})
                reads.failures[url] = reads.provider_failures[url] = f"reading OIDC provider {arn}: {_reason(exc)}"
                continue
            if record is not None:
                reads.providers[record.url] = record
        for issuer, pending in inspections.items():
            try:
                reads.inspections[issuer] = self._wait(pending, deadline)
                if progress is not None:
                    progress(issuer)
            except LateError:
                reads.failures[issuer] = f"inspecting {issuer}: {NOT_IN_TIME}"
            except Exception as exc:
                log.exception("inspecting issuer failed", extra={"issuer": issuer})
                reads.failures[issuer] = f"inspecting {issuer}: {_reason(exc)}"

    def _read_roles(
        self, pool: ThreadPoolExecutor, reads: AccountReads, arns: Sequence[str], deadline: datetime | None
    ) -> None:
        """Roles the listing did not show (or could not): GetRole by name, kept only where the whole ARN matches.

        STS looks a role up by its whole ARN, path included; IAM's GetRole takes the name only, so a role found
        under another path is, for STS, a role that does not exist.
        """
        futures = {arn: pool.submit(self.iam.get_role, arn) for arn in arns}
        for arn, future in futures.items():
            try:
                role = self._wait(future, deadline)
            except LateError:
                reads.failures[arn] = f"reading role: {NOT_IN_TIME}"
                continue
            except Exception as exc:
                log.exception("reading role failed", extra={"role_arn": arn})
                reads.failures[arn] = f"reading role: {_reason(exc)}"
                continue
            if role is not None and role.arn == arn:
                reads.roles[arn] = role


class Cycle:
    """One cycle over the registered targets: reads, a judgement per target, the drift pass."""

    def __init__(
        self,
        targets: TargetsPort,
        reader: Reader,
        *,
        tokens: TokenPort | None = None,
        prober: ProberPort | None = None,
        drift: DriftRules | None = None,
        concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.targets = targets
        self.reader = reader
        self.tokens = tokens
        self.prober = prober
        self.drift = drift
        self.concurrency = concurrency
        self.clock = clock

    def run(
        self,
        now: datetime,
        deadline: datetime | None = None,
        only: Sequence[str] = (),
        baselines: Mapping[str, ProviderBaseline] | None = None,
        progress: Progress | None = None,
        known_targets: Iterable[str] | None = None,
    ) -> CycleReport:
        """Check every enabled target (or only `only`) and every provider of the account.

        With `known_targets` (the monitor's: those of earlier cycles), a Targets table that cannot be read leaves
        the known targets the scan did not reach reported as not checked, and the providers still checked;
        without, the table's error is raised (a person running a probe is told at once)."""
        started = self.clock()
        results: list[TargetResult] = []
        targets: list[Target] = []
        scanned: set[str] = set()
        try:
            for target_id, item in self.targets.scan():
                scanned.add(target_id)
                if only and target_id not in only:
                    continue
                if isinstance(item, TargetError):
                    results.append(TargetResult(target_id, Status.ERROR, error=f"configuration: {item}"))
                elif item.enabled or only:
                    targets.append(item)
        except AwsError as exc:
            if known_targets is None:
                raise
            log.error("Targets table unreadable; known targets are not checked this cycle", extra={"error": str(exc)})
            reason = f"not checked this cycle: the Targets table could not be read ({exc})"
            unread = sorted(set(known_targets) - scanned)
            results += [TargetResult(t, Status.ERROR, error=reason) for t in unread if not only or t in only]
            scanned |= set(unread)
        missing = sorted(set(only) - {t.target_id for t in targets} - {r.target_id for r in results})
        notes = tuple(f"{target_id}: not registered" for target_id in missing)

        reads = self.reader.read(
            now=now,
            role_arns=[t.role_arn for t in targets],
            issuers=[t.issuer for t in targets if not t.issuer_is_builtin],
            deadline=deadline,
        )
        results += self._judge_all(targets, reads, deadline, progress)
        providers = assess(reads, baselines or {}, now, self.drift) if self.drift is not None else ()
        for provider in providers:
            _log_provider(provider, now)
        return CycleReport(
            started=started,
            finished=self.clock(),
            targets=tuple(sorted(results, key=lambda r: r.target_id)),
            providers=providers,
            skipped=tuple(r.target_id for r in results if r.error == NOT_IN_TIME),
            notes=notes,
        )

    def _judge_all(
        self, targets: Sequence[Target], reads: AccountReads, deadline: datetime | None, progress: Progress | None
    ) -> list[TargetResult]:
        results: list[TargetResult] = []
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="target")
        try:
            futures: dict[str, tuple[Target, Future[TargetResult]]] = {}
            for target in targets:
                if deadline is not None and self.clock() >= deadline:
                    results.append(failed(target, NOT_IN_TIME))
                    continue
                futures[target.target_id] = (target, pool.submit(self._check_safely, target, reads))
            for done, (target, future) in enumerate(futures.values(), start=1):
                try:
                    results.append(_wait(future, _remaining(deadline, self.clock)))
                except LateError:
                    results.append(failed(target, NOT_IN_TIME))
                if progress is not None:
                    progress(results[-1].target_id, done, len(futures))
        finally:
            pool.shutdown(wait=deadline is None, cancel_futures=True)
        return results

    def _check_safely(self, target: Target, reads: AccountReads) -> TargetResult:
        try:
            result = self._check(target, reads)
        except Exception as exc:
            log.exception("checking target failed", extra={"target_id": target.target_id})
            return failed(target, _reason(exc))
        _log_result(result, target)
        return result

    def _check(self, target: Target, reads: AccountReads) -> TargetResult:
        failure = reads.failure_for(target)
        if failure:
            return failed(target, failure)
        facts = reads.reads_for(target)
        if target.token_source is None:
            return judge(target, facts, reads.now)
        if self.tokens is None or self.prober is None:
            return failed(target, "live probe needs a token source and STS, not configured")
        try:
            token = self.tokens.fetch(target.token_source)
        except Exception as exc:
            return failed(target, f"token source {target.token_source.type}: {exc}")
        answer = self.prober.probe(
            target.role_arn, token, session_name=target.session_name, duration_seconds=target.duration_seconds
        )
        live = LiveAnswer(token, answer.allowed, answer.error_code, answer.message, answer.caller_arn)
        return judge(target, facts, reads.now, live)


def _log_provider(provider: ProviderResult, now: datetime) -> None:
    """One line per provider (the dashboard's provider table reads it): status, cause, days of certificate left."""
    expiries = [h.not_after for h in provider.hosts if h.not_after is not None]
    fields = {
        "provider": provider.url,
        "status": provider.status.value,
        "root_cause": provider.root_cause,
        "cert_days_left": min((e - now).days for e in expiries) if expiries else None,
    }
    log.log(logging.INFO if provider.status is Status.OK else logging.WARNING, "provider checked", extra=fields)


def _log_result(result: TargetResult, target: Target) -> None:
    """One line per target: problems at WARNING, healthy targets at DEBUG. Claims only, never a token."""
    claims = target.claims.to_json()
    fields = {
        "target_id": result.target_id,
        "status": result.status.value,
        "root_cause": result.root_cause,
        "condition_key": result.verdict.condition_key if result.verdict is not None else None,
        "role_arn": result.role_arn,
        "iss": target.issuer,
        "sub": claims.get("sub"),
        "aud": claims.get("aud"),
        "live": target.is_live,
    }
    level = logging.DEBUG if result.status is Status.OK else logging.WARNING
    log.log(level, "target checked", extra=fields)
