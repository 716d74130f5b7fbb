"""Judging one target: the request STS would see, the live-versus-predicted rule, the must-deny probes, a status.

Pure: the target, what the cycle read for it (role, provider, issuer facts, lint) and `now` come in; one
TargetResult comes out. The cycle does the reading and the fetching; nothing here waits on the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from webid_canary.core.case import NO_CALLER_FACTS, NO_IDP_FACTS, build_case
from webid_canary.core.catalogue import Severity
from webid_canary.core.explain import explain
from webid_canary.core.lint import LintFinding
from webid_canary.core.model import IdpFacts, ProviderRecord, RoleRecord, Token
from webid_canary.core.neighbours import neighbours
from webid_canary.core.rcp import ResourceControlPolicy
from webid_canary.core.report import LiveResult, NegativeProbe, TargetResult, worst
from webid_canary.core.state import Status
from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT, transient
from webid_canary.core.targets import DEFAULT_AUDIENCE, Target
from webid_canary.core.verdict import Verdict

# A role that does not exist trusts nobody: the engine sees an empty trust policy and says role_not_found.
EMPTY_TRUST_POLICY: Final = '{"Version":"2012-10-17","Statement":[]}'
# The lifetime of the token a workload would present, for targets predicted from their registered claims.
SYNTHETIC_TOKEN_LIFETIME: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class LiveAnswer:
    """What STS answered to a live probe with a real token (credentials are never part of it)."""

    token: Token
    allowed: bool
    error_code: str | None = None
    message: str | None = None
    caller_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Reads:
    """What the cycle read for one target: everything a judgement needs besides the target and `now`."""

    role: RoleRecord | None = None  # None: no role with exactly this ARN (path included) exists
    provider: ProviderRecord | None = None
    idp: IdpFacts = NO_IDP_FACTS
    lint: tuple[LintFinding, ...] = ()
    # The RCPs on the role's account's path in the organization (read where Organizations answers), else none.
    rcps: tuple[ResourceControlPolicy, ...] = ()


def synthetic_claims(target: Target, now: datetime, claims: Mapping[str, object] | None = None) -> dict[str, object]:
    """The claims a workload's token would carry: the registered ones (or `claims`), issuer and a fresh lifetime."""
    issued = int(now.timestamp())
    synthetic: dict[str, object] = {
        "iss": target.issuer,
        "aud": DEFAULT_AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(SYNTHETIC_TOKEN_LIFETIME.total_seconds()),
    }
    synthetic.update(target.claims.to_json() if claims is None else claims)
    return synthetic


def predict(
    target: Target,
    reads: Reads,
    now: datetime,
    *,
    claims: Mapping[str, object] | None = None,
    token: Token | None = None,
) -> Verdict:
    """The engine's verdict for the target's role and provider with these claims (or this raw token)."""
    case = build_case(
        role_arn=target.role_arn,
        trust_policy=reads.role.trust_policy_document if reads.role else EMPTY_TRUST_POLICY,
        provider=reads.provider,
        claims=claims,
        token=token,
        now=now,
        session_name=target.session_name,
        duration_seconds=target.duration_seconds,
        role_max_session_duration=reads.role.max_session_duration if reads.role else ROLE_MAX_SESSION_DEFAULT,
        idp=reads.idp,
        role_exists=reads.role is not None,
        caller=target.caller or NO_CALLER_FACTS,
        resource_control_policies=reads.rcps,
    )
    return explain(case)


def agrees(verdict: Verdict, answer: LiveAnswer) -> bool:
    """The prediction agrees with STS when both allow, or both refuse with the same error code; a prediction that
    could not decide (indeterminate) leaves the answer to STS."""
    if verdict.indeterminate:
        return True
    return verdict.allowed == answer.allowed and (answer.allowed or verdict.error_code == answer.error_code)


def judge(target: Target, reads: Reads, now: datetime, live: LiveAnswer | None = None) -> TargetResult:
    """The target's result: its verdict, the live answer, the must-deny probes, lint, and the status they make."""
    if live is not None and not live.allowed and transient(live.error_code):
        reason = f"STS answered {live.error_code} after retries: it could not tell now ({live.message or 'no message'})"
        return failed(target, reason)
    base_claims = synthetic_claims(target, now)
    verdict = (
        predict(target, reads, now, token=live.token)
        if live is not None
        else predict(target, reads, now, claims=base_claims)
    )
    if verdict.indeterminate and live is None:
        keys = ", ".join(verdict.unknown_keys)
        return failed(
            target,
            f"cannot be checked: the answer depends on {keys}, which the monitor was not given; "
            "register the workload's facts in the target's `caller` (e.g. its source_ip)",
        )
    live_result = (
        None
        if live is None
        else LiveResult(live.allowed, live.error_code, live.message, live.caller_arn, agrees(verdict, live))
    )
    negatives = [
        NegativeProbe(
            label="registered must_deny",
            sub=str(deny.get("sub", "")),
            allowed=predict(target, reads, now, claims=deny).allowed,
            registered=True,
        )
        for deny in (synthetic_claims(target, now, claims.to_json()) for claims in target.deny_claims())
    ]
    negatives += [
        NegativeProbe(
            label=n.label,
            sub=str(n.claims.get("sub", "")),
            allowed=predict(target, reads, now, claims=n.claims).allowed,
            registered=False,
            crosses_boundary=n.crosses_boundary,
        )
        for n in neighbours(base_claims)
    ]
    allowed = live.allowed if live is not None else verdict.allowed
    statuses = [Status.OK if allowed else Status.FAILING]
    opened = any(n.allowed and (n.registered or n.crosses_boundary) for n in negatives)
    if opened or any(f.severity is Severity.CRITICAL for f in reads.lint):
        statuses.append(Status.OPEN)
    return result(
        target,
        worst(statuses),
        verdict=verdict,
        live=live_result,
        negatives=tuple(negatives),
        lint=reads.lint,
    )


def failed(target: Target, reason: str) -> TargetResult:
    """A target that could not be checked this cycle, and why (`check_error`)."""
    return result(target, Status.ERROR, error=reason)


def result(
    target: Target,
    status: Status,
    *,
    verdict: Verdict | None = None,
    live: LiveResult | None = None,
    negatives: tuple[NegativeProbe, ...] = (),
    lint: tuple[LintFinding, ...] = (),
    error: str | None = None,
) -> TargetResult:
    """A TargetResult carrying the target's registration details."""
    return TargetResult(
        target_id=target.target_id,
        status=status,
        role_arn=target.role_arn,
        issuer=target.issuer,
        severity=target.severity,
        owner=target.owner,
        alarm=target.alarm,
        topic_arn=target.topic_arn,
        verdict=verdict,
        live=live,
        negatives=negatives,
        lint=lint,
        error=error,
    )
