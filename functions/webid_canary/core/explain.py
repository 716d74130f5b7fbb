"""Predict STS's answer to AssumeRoleWithWebIdentity, check by check in the order of shared/DIAGNOSIS.md.

The first failing check decides the answer; the later checks still run and are shown in the trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from .case import Case
from .claims import Claims
from .conditions import evaluate, glob_match, parse_operator
from .context import RequestContext, build_context, builtin_family, thumbprints_ignored_since, trusted_roots_apply
from .policy import Condition, Statement
from .verdict import Finding, Verdict, make_verdict

ACTION = "sts:AssumeRoleWithWebIdentity"
TAG_SESSION = "sts:TagSession"
SET_SOURCE_IDENTITY = "sts:SetSourceIdentity"
SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
MIN_DURATION, MAX_DURATION = 900, 43200
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256
STRING_EQUALS_FAMILY = frozenset(
    {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}
)


class Step(NamedTuple):
    """One check's result: a trace line, and a finding when it failed."""

    line: str
    finding: Finding | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """What the trust policy is evaluated against: principal, provider prefix, and the request context."""

    principal: str
    context: RequestContext


class ConditionResult(NamedTuple):
    """One condition of a statement, evaluated: did it hold, and what did the request carry for its key."""

    condition: Condition
    passed: bool
    actual: tuple[str, ...] | None


@lru_cache(maxsize=4096)
def _iso(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


def _epoch(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _validation_message(violations: list[tuple[str, str, str]]) -> str:
    """AWS's ValidationError text for one or more parameter constraints."""
    count = len(violations)
    parts = "; ".join(
        f"Value '{value}' at '{name}' failed to satisfy constraint: {rule}" for name, value, rule in violations
    )
    return f"{count} validation error{'s' if count > 1 else ''} detected: {parts}"


def _check_request(case: Case) -> Step:
    """Parameter validation, before anything else: RoleSessionName and DurationSeconds constraints."""
    name, duration = case.session_name, case.duration_seconds
    problems: list[str] = []
    violations: list[tuple[str, str, str]] = []
    if name is not None:
        if len(name) < 2:
            problems.append("is shorter than 2 characters")
            violations.append(("roleSessionName", name, "Member must have length greater than or equal to 2"))
        elif len(name) > 64:
            problems.append("is longer than 64 characters")
            violations.append(("roleSessionName", name, "Member must have length less than or equal to 64"))
        if not SESSION_NAME.fullmatch(name):
            problems.append("holds characters outside [\\w+=,.@-]")
            violations.append(("roleSessionName", name, "Member must satisfy regular expression pattern: [\\w+=,.@-]*"))
    name_invalid = bool(violations)
    if duration is not None and not MIN_DURATION <= duration <= MAX_DURATION:
        bound = "greater than or equal to 900" if duration < MIN_DURATION else "less than or equal to 43200"
        violations.append(("durationSeconds", str(duration), f"Member must have value {bound}"))
    if not violations:
        shown = "not given" if name is None else repr(name)
        return Step(f"request: session name {shown}, duration {duration or 'default'}: ok")
    evidence: dict[str, object] = {
        "session_name": name,
        "problem": " and ".join(problems),
        "duration": duration,
        "max_duration": min(case.role_max_session_duration, MAX_DURATION),
        "limit_text": f", outside STS's range of {MIN_DURATION} to {MAX_DURATION}",
        "sts_message": _validation_message(violations),
    }
    if name_invalid:
        line = f"request: session name {name!r} {evidence['problem']}: fail"
        return Step(line, Finding("request_session_name_invalid", evidence))
    return Step(
        f"request: DurationSeconds {duration} outside 900..43200: fail",
        Finding("request_duration_exceeds_max", evidence),
    )


def _check_token(claims: Claims) -> Step:
    if claims.problems:
        problem = "; ".join(claims.problems)
        not_jwt = any(p.startswith("token:") for p in claims.problems)
        sts_message = (
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
            if not_jwt
            else f"The web identity token that was passed could not be validated by AWS: {problem}"
        )
        evidence = {"problem": problem, "sts_message": sts_message}
        return Step(f"token: {problem}: fail", Finding("token_malformed", evidence))
    return Step(f"token: iss={claims.iss} sub={claims.sub} aud={','.join(claims.aud)}: ok")


@dataclass(frozen=True, slots=True)
class ProviderMatch:
    """How the token's issuer resolves: an IAM OIDC provider, a built-in principal, or nothing."""

    prefix: str | None
    builtin: bool
    principal: str | None


def _resolve_provider(case: Case) -> tuple[ProviderMatch, Step]:
    claims = case.claims
    issuer = claims.iss
    if issuer is None:
        return ProviderMatch(None, False, None), Step("provider: skipped (no issuer)")
    host = claims.issuer_host or ""
    provider = case.provider
    account = case.role_account or "?"
    provider_account = (
        provider.arn.split(":")[4] if provider and provider.arn and provider.arn.count(":") >= 5 else None
    )
    in_account = provider is not None and (provider_account in (None, case.role_account))
    if provider is not None and in_account and provider.url == host:
        principal = f"arn:{case.partition}:iam::{account}:oidc-provider/{provider.url}"
        return ProviderMatch(provider.url, False, principal), Step(f"provider: IAM OIDC provider {provider.url}: ok")
    if builtin_family(host) is not None:
        return ProviderMatch(host, True, host), Step(f"provider: built-in federated principal {host}: ok")
    registered = provider.url if provider is not None else None
    evidence = {
        "issuer": issuer,
        "account": account,
        "registered_note": f" (registered: {registered})" if registered else "",
        "registered_hint": f" ({registered})" if registered else "",
    }
    line = f"provider: none registered for {issuer}" + (f" (registered: {registered})" if registered else "") + ": fail"
    return ProviderMatch(None, False, None), Step(line, Finding("provider_not_found", evidence))


def _check_keys(case: Case, match: ProviderMatch) -> Step:
    idp, kid = case.idp, case.claims.kid
    issuer = case.claims.iss or "?"
    if idp.jwks_reachable is False:
        evidence = {
            "issuer": issuer,
            "kid": kid or "?",
            "problem": "the discovery document or JWKS could not be fetched",
        }
        return Step("keys: discovery/JWKS unreachable: fail", Finding("provider_keys_unreachable", evidence))
    if idp.jwks_kids is not None and kid is not None and kid not in idp.jwks_kids:
        evidence = {"issuer": issuer, "kid": kid, "problem": f"the JWKS has no key with kid {kid!r}"}
        return Step(f"keys: kid {kid!r} not in JWKS: fail", Finding("provider_keys_unreachable", evidence))
    if idp.jwks_reachable is None and idp.jwks_kids is None:
        return Step("keys: not checked (no facts about the JWKS)")
    return Step("keys: JWKS reachable" + (f", kid {kid!r} published" if kid and idp.jwks_kids else "") + ": ok")


def _check_thumbprint(case: Case, match: ProviderMatch) -> Step:
    provider, idp = case.provider, case.idp
    if match.builtin or match.prefix is None or provider is None:
        return Step("thumbprint: not used for built-in providers")
    if idp.presented_thumbprints is None:
        return Step("thumbprint: not checked (no presented certificate)")
    row = thumbprints_ignored_since(provider.url)
    before = not trusted_roots_apply(provider.url, case.now)
    if idp.trusted_root_ca is False:
        why = "its chain does not reach a trusted root CA"
    elif before:
        why = "before AWS verified this issuer against trusted root CAs" + (f" ({row.since})" if row else "")
    elif idp.trusted_root_ca:
        return Step("thumbprint: not used (AWS verifies the chain against trusted root CAs): ok")
    else:
        return Step("thumbprint: not checked (unknown whether the chain reaches a trusted root CA)")
    if set(provider.thumbprints) & set(idp.presented_thumbprints):
        return Step(f"thumbprint: used ({why}), configured thumbprint presented: ok")
    evidence = {
        "provider_url": provider.url,
        "why": why,
        "presented": ", ".join(idp.presented_thumbprints) or "none",
        "configured": ", ".join(provider.thumbprints) or "none",
    }
    return Step(
        f"thumbprint: used ({why}), none configured is presented: fail",
        Finding("provider_thumbprint_mismatch", evidence),
    )


def _check_signature(case: Case) -> Step:
    if case.idp.signature_valid is False:
        return Step("signature: does not verify: fail", Finding("token_signature_invalid", {}))
    if case.idp.signature_valid is None:
        return Step("signature: not checked")
    return Step("signature: verifies: ok")


def _check_expiry(case: Case) -> Step:
    exp = case.claims.exp
    if exp is None:
        return Step("expiry: skipped (no exp)")
    now = case.now.timestamp()
    if exp <= now:
        evidence = {
            "exp_iso": _iso(exp),
            "now_iso": _iso(now),
            "exp_epoch": _epoch(exp),
            "now_epoch": _epoch(float(int(now))),
        }
        return Step(f"expiry: exp {_iso(exp)} is not after {_iso(now)}: fail", Finding("token_expired", evidence))
    return Step(f"expiry: exp {_iso(exp)} is after {_iso(now)}: ok")


def _check_audience(case: Case, match: ProviderMatch) -> Step:
    provider = case.provider
    if match.builtin or match.prefix is None or provider is None:
        return Step("audience: no client ID list for built-in providers")
    if not case.claims.aud:
        return Step("audience: skipped (no aud)")
    # With azp present STS takes azp as the token's audience (see data/context_keys.json, row oidc:aud).
    audiences = (case.claims.azp,) if case.claims.azp else case.claims.aud
    shown = ",".join(audiences) + (" (azp)" if case.claims.azp else "")
    if any(aud in provider.client_ids for aud in audiences):
        return Step(f"audience: {shown} registered: ok")
    evidence = {
        "audience": ", ".join(audiences),
        "provider_url": provider.url,
        "client_ids": ", ".join(provider.client_ids) or "no client IDs",
    }
    return Step(
        f"audience: {evidence['audience']} not in client IDs: fail",
        Finding("provider_audience_not_registered", evidence),
    )


def _action_matches(statement: Statement, action: str) -> bool:
    lowered = action.lower()
    if statement.actions is not None:
        return any(glob_match(pattern.lower(), lowered) for pattern in statement.actions)
    return not any(glob_match(pattern.lower(), lowered) for pattern in statement.not_actions or ())


def _principal_matches(statement: Statement, principal: str) -> bool:
    if statement.principal is not None:
        return statement.principal.names("Federated", principal)
    return statement.not_principal is not None and not statement.not_principal.names("Federated", principal)


def _conditions(statement: Statement, context: RequestContext) -> list[ConditionResult]:
    results = []
    for condition in statement.conditions:
        actual = context.get(condition.key)
        passed = evaluate(parse_operator(condition.operator), condition.values, actual)
        results.append(ConditionResult(condition, passed, actual))
    return results


def _hints_for(result: ConditionResult, request: Request, claims: Claims) -> Iterator[str]:
    condition, context = result.condition, request.context
    operator = parse_operator(condition.operator)
    if operator.base in STRING_EQUALS_FAMILY and any("*" in v or "?" in v for v in condition.values):
        yield "wildcard_in_string_equals"
    if result.actual and not operator.negated:
        folded = [v.casefold() for v in result.actual]
        if any(
            glob_match(p.casefold(), a) if operator.wildcards else p.casefold() == a
            for p in condition.values
            for a in folded
        ):
            yield "case_mismatch"
    if not context.names_this_provider(condition.key):
        yield "condition_key_names_other_provider"
    elif not context.knows(condition.key):
        yield "condition_key_not_in_request"
    lowered = condition.key.lower()
    if (
        context.family == "github"
        and lowered.endswith(":sub")
        and result.actual
        and any(_github_sub_differs(p, a) for p in condition.values for a in result.actual)
    ):
        yield "github_sub_format"
    if lowered.endswith(":aud") and claims.azp and claims.azp not in claims.aud and claims.azp not in condition.values:
        yield "google_aud_is_azp"


_GITHUB_SUB = re.compile(r"repo:([^/:]+)/([^:]+):(.*)", re.DOTALL)


def _strip_id(part: str) -> tuple[str, bool]:
    name, at, _ = part.partition("@")
    return name, bool(at)


def _github_sub_differs(expected: str, actual: str) -> bool:
    """Same repository, but a different trigger part or immutable-id form."""
    e, a = _GITHUB_SUB.fullmatch(expected), _GITHUB_SUB.fullmatch(actual)
    if e is None or a is None:
        return False
    (e_owner, e_ids1), (e_repo, e_ids2) = _strip_id(e[1]), _strip_id(e[2])
    (a_owner, a_ids1), (a_repo, a_ids2) = _strip_id(a[1]), _strip_id(a[2])
    same_repo = glob_match(f"{e_owner}/{e_repo}", f"{a_owner}/{a_repo}")
    if not same_repo:
        return False
    id_form_differs = (e_ids1 or e_ids2) != (a_ids1 or a_ids2) and "*" not in e[1] + e[2]
    return id_form_differs or not glob_match(e[3], a[3])


def _vacuous(results: list[ConditionResult]) -> bool:
    return any(
        r.passed and r.actual is None and parse_operator(r.condition.operator).set_operator == "ForAllValues"
        for r in results
    )


@dataclass(frozen=True, slots=True)
class TrustOutcome:
    """The trust policy's steps (role, each required action, deny) and the hints they raised."""

    steps: tuple[Step, ...]
    hints: tuple[str, ...]


def _failing_text(values: tuple[str, ...] | None) -> str:
    if not values:
        return "no value (the key is absent from the request)"
    return " or ".join(repr(v) for v in values)


def _evaluate_action(case: Case, request: Request, action: str) -> tuple[Step, list[str]]:
    """One action against the Allow statements: principal, then action, then conditions; with its hints."""
    statements = case.policy.statements
    allows = [s for s in statements if s.effect == "Allow"]
    for_principal = [s for s in allows if _principal_matches(s, request.principal)]
    if not for_principal:
        named = sorted({n for s in allows for n in s.federated_principals()}) or ["no federated principal"]
        evidence = {"principal": request.principal, "named": ", ".join(named), "role_arn": case.role_arn}
        return (
            Step(
                f"trust: no Allow statement names {request.principal}: fail",
                Finding("trust_principal_mismatch", evidence),
            ),
            [],
        )
    for_action = [s for s in for_principal if _action_matches(s, action)]
    if not for_action:
        written = sorted({a for s in for_principal for a in (s.actions or ("NotAction ...",))})
        reason = f" (they allow {', '.join(written)})" if action == ACTION else ", which the token's claims require"
        evidence = {"principal": request.principal, "action": action, "reason": reason}
        return (
            Step(
                f"trust: {action} not allowed for {request.principal}: fail", Finding("trust_action_mismatch", evidence)
            ),
            [],
        )
    hints: list[str] = []
    evaluated = []
    for statement in for_action:
        results = _conditions(statement, request.context)
        failing = [r for r in results if not r.passed]
        if not failing:
            if _vacuous(results):
                hints.append("vacuous_for_all_values")
            return Step(f"trust: {statement.label} allows {action}: ok"), hints
        evaluated.append((statement, failing))
    # Explain with the statement that came closest: fewest false conditions, the first one on a tie.
    statement, failing = min(evaluated, key=lambda pair: len(pair[1]))
    first = failing[0]
    for result in failing:
        hints.extend(_hints_for(result, request, case.claims))
    evidence = {
        "condition_key": first.condition.key,
        "operator": first.condition.operator,
        "expected_text": " or ".join(repr(v) for v in first.condition.values),
        "actual_text": _failing_text(first.actual),
        "role_arn": case.role_arn,
    }
    finding = Finding(
        "trust_condition_mismatch",
        evidence,
        condition_key=first.condition.key,
        expected=first.condition.values,
        actual=first.actual or (),
    )
    line = (
        f"trust: {statement.label} {first.condition.operator} {first.condition.key}: wants "
        f"{evidence['expected_text']}, request has {evidence['actual_text']}: fail"
    )
    return Step(line, finding), hints


def _check_deny(case: Case, request: Request, actions: tuple[str, ...]) -> Step:
    for statement in case.policy.statements:
        if statement.effect != "Deny" or not _principal_matches(statement, request.principal):
            continue
        if not any(_action_matches(statement, action) for action in actions):
            continue
        if all(r.passed for r in _conditions(statement, request.context)):
            evidence = {"statement": statement.label, "role_arn": case.role_arn}
            return Step(f"deny: {statement.label} applies: fail", Finding("trust_explicit_deny", evidence))
    return Step("deny: no Deny statement applies: ok")


def _required_actions(claims: Claims) -> tuple[str, ...]:
    actions = [ACTION]
    if claims.session_tags is not None and claims.session_tags.tags:
        actions.append(TAG_SESSION)
    if claims.source_identity is not None:
        actions.append(SET_SOURCE_IDENTITY)
    return tuple(actions)


def _check_trust(case: Case, match: ProviderMatch) -> TrustOutcome:
    if not case.role_exists:
        evidence = {"role_arn": case.role_arn}
        return TrustOutcome(
            (Step(f"role: {case.role_arn} does not exist: fail", Finding("role_not_found", evidence)),), ()
        )
    if match.principal is None or match.prefix is None:
        return TrustOutcome((Step("trust: skipped (no provider for this token)"),), ())
    context = build_context(
        prefix=match.prefix,
        claims=case.claims,
        now=case.now,
        builtin=match.builtin,
        federated_provider=match.principal,
        session_name=case.session_name,
    )
    request = Request(match.principal, context)
    steps: list[Step] = [Step(f"role: {case.role_arn}: ok")]
    hints: list[str] = []
    actions = _required_actions(case.claims)
    for action in actions:
        step, action_hints = _evaluate_action(case, request, action)
        steps.append(step)
        hints.extend(action_hints)
    steps.append(_check_deny(case, request, actions))
    return TrustOutcome(tuple(steps), tuple(hints))


def _check_duration(case: Case) -> Step:
    duration = case.duration_seconds
    if duration is None or duration <= case.role_max_session_duration or duration > MAX_DURATION:
        shown = duration if duration is not None else "default 3600"
        return Step(f"duration: {shown} within the role's maximum {case.role_max_session_duration}: ok")
    evidence = {
        "duration": duration,
        "max_duration": case.role_max_session_duration,
        "limit_text": f", more than the role's MaxSessionDuration of {case.role_max_session_duration}",
        "sts_message": "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    }
    return Step(
        f"duration: {duration} exceeds the role's maximum {case.role_max_session_duration}: fail",
        Finding("request_duration_exceeds_max", evidence),
    )


def _check_tags(claims: Claims) -> Step:
    tags = claims.session_tags
    if tags is None or not tags.tags:
        return Step("session tags: none")
    problems = []
    if len(tags.tags) > MAX_TAGS:
        problems.append(f"{len(tags.tags)} tags (at most {MAX_TAGS})")
    problems += [f"key {k[:20]!r}... longer than {MAX_TAG_KEY}" for k, _ in tags.tags if len(k) > MAX_TAG_KEY]
    problems += [f"value of {k!r} longer than {MAX_TAG_VALUE}" for k, v in tags.tags if len(v) > MAX_TAG_VALUE]
    if problems:
        evidence = {"problem": "; ".join(problems)}
        return Step(f"session tags: {evidence['problem']}: fail", Finding("request_tags_too_large", evidence))
    return Step(f"session tags: {len(tags.tags)} within limits: ok")


def explain(case: Case) -> Verdict:
    """The verdict STS would give for this case, with every check traced."""
    steps: list[Step] = [_check_request(case), _check_token(case.claims)]
    match, provider_step = _resolve_provider(case)
    steps.append(provider_step)
    if match.prefix is not None:
        steps += [_check_keys(case, match), _check_thumbprint(case, match)]
    steps += [_check_signature(case), _check_expiry(case)]
    if match.prefix is not None:
        steps.append(_check_audience(case, match))
    trust = _check_trust(case, match)
    steps += trust.steps
    steps += [_check_duration(case), _check_tags(case.claims)]
    failure = next((step.finding for step in steps if step.finding is not None), None)
    finding = failure or Finding("none", {"role_arn": case.role_arn})
    hints = trust.hints if finding.code in ("none", "trust_condition_mismatch") else ()
    return make_verdict(finding, tuple(dict.fromkeys(hints)), tuple(step.line for step in steps))
