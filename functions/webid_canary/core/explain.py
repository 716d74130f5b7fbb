"""Predict STS's answer to AssumeRoleWithWebIdentity, check by check in the order of docs/contract.md.

The first failing check decides the answer; the later checks still run and are shown in the trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from types import MappingProxyType
from typing import NamedTuple

from .case import NO_EXTRAS, Case, arn_parts
from .claims import MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH, SUPPORTED_ALGORITHMS, Claims
from .conditions import Operator, evaluate, glob_match, parse_operator, requirement
from .context import (
    UNKNOWN,
    ProviderKeys,
    RequestContext,
    builtin_family,
    caller_fact_of,
    claim_values,
    provider_keys,
    thumbprints_ignored_since,
    trusted_roots_apply,
    utc_day,
)
from .model import InputError
from .policy import Condition, Statement, TrustPolicy, parse_trust_policy
from .remedy import Edit, JsonObject, apply, describe, frozen, plain_copy, statements_of
from .sts import (
    ACTION,
    DURATION_MAX,
    DURATION_MIN,
    MAX_POLICY_ARN,
    MAX_POLICY_ARNS,
    MAX_SESSION_POLICY,
    MAX_SOURCE_IDENTITY,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MIN_POLICY_ARN,
    MIN_SOURCE_IDENTITY,
    POLICY_VERSIONS,
    RESERVED_SOURCE_IDENTITY_PREFIX,
    SESSION_NAME_CHARACTERS,
    SESSION_POLICY_CHARACTERS,
)
from .verdict import Finding, Remedy, Verdict, make_verdict, unchecked_in

TAG_SESSION = "sts:TagSession"
SET_SOURCE_IDENTITY = "sts:SetSourceIdentity"
# Request constraints of https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
SESSION_NAME = SESSION_NAME_CHARACTERS
SOURCE_IDENTITY = SESSION_NAME_CHARACTERS
MIN_DURATION, MAX_DURATION = DURATION_MIN, DURATION_MAX
_ASSUME_ONLY = (ACTION,)
_LOWERED_ACTIONS = {action: action.lower() for action in (ACTION, TAG_SESSION, SET_SOURCE_IDENTITY)}
STRING_EQUALS_FAMILY = frozenset(
    {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}
)


class Unknowable(NamedTuple):
    """A condition whose key depends on facts the engine was not given, and what it needs for allow."""

    key: str
    needs: str


class Step(NamedTuple):
    """One check's result: a trace line, a finding when it failed, and what it could not decide."""

    line: str
    finding: Finding | None = None
    unknown: tuple[Unknowable, ...] = ()


# A run of steps as the verdict reads them: their trace lines, the first finding among them (None when all
# passed), and the keys they could not decide. A plain tuple: two are made for every request.
Part = tuple[tuple[str, ...], Finding | None, tuple[Unknowable, ...]]


def _part(steps: Sequence[StepFields]) -> Part:
    lines, findings, unknowns = zip(*steps, strict=True)  # each field of every step
    return lines, next(filter(None, findings), None), tuple(chain.from_iterable(unknowns))


# A step's fields as a plain tuple (what a Step is, without its names).
StepFields = tuple[str, Finding | None, tuple[Unknowable, ...]]


class ConditionResult(NamedTuple):
    """One condition of a statement that does not hold, with what the request carried for its key."""

    condition: Condition
    operator: Operator
    actual: tuple[str, ...] | None


# Trace lines that never vary, built once.
_KEYS_NOT_CHECKED = Step("keys: not checked (no facts about the JWKS)")
_THUMBPRINT_BUILTIN = Step("thumbprint: not used for built-in providers")
_THUMBPRINT_NOT_CHECKED = Step("thumbprint: not checked (no presented certificate)")
_THUMBPRINT_NOT_USED = Step("thumbprint: not used (AWS verifies the chain against trusted root CAs): ok")
_SIGNATURE_NOT_CHECKED = Step("signature: not checked")
_SIGNATURE_OK = Step("signature: verifies: ok")
_NO_DENY = Step("deny: no Deny statement applies: ok")
_NO_TAGS = Step("session tags: none")
_EXPIRY_NOT_LOGGED = Step("expiry: not checked (exp is not logged)")


@lru_cache(maxsize=4096)
def _iso(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


@lru_cache(maxsize=256)
def _timestamp(now: datetime) -> float:
    """Seconds since the epoch of an instant; a cycle evaluates every target at the same one."""
    return now.timestamp()


def _epoch(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _validation_message(violations: list[tuple[str, str, str]]) -> str:
    """AWS's ValidationError text for one or more parameter constraints."""
    count = len(violations)
    parts = "; ".join(
        f"Value '{value}' at '{name}' failed to satisfy constraint: {rule}" for name, value, rule in violations
    )
    return f"{count} validation error{'s' if count > 1 else ''} detected: {parts}"


@lru_cache(maxsize=4096)
def _parameter_steps(name: str | None, duration: int | None, role_max_session_duration: int) -> tuple[Step, Step]:
    """The checks of the request's parameters (its validation, first of all, and the duration against the role's
    maximum): the same for every target of a monitor, which sends the same parameters to every role."""
    return _request_step(name, duration, role_max_session_duration), _duration_step(duration, role_max_session_duration)


def _request_step(name: str | None, duration: int | None, role_max_session_duration: int) -> Step:
    """Parameter validation, before anything else: RoleSessionName and DurationSeconds constraints."""
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
    below = duration is not None and duration < MIN_DURATION
    evidence: dict[str, object] = {
        "session_name": name,
        "problem": " and ".join(problems),
        "duration": duration,
        "max_duration": min(role_max_session_duration, MAX_DURATION),
        "limit_text": f", outside STS's range of {MIN_DURATION} to {MAX_DURATION}",
        "min_duration": MIN_DURATION,
        "sts_message": _validation_message(violations),
    }
    if name_invalid:
        line = f"request: session name {name!r} {evidence['problem']}: fail"
        return Step(line, Finding("request_session_name_invalid", evidence))
    return Step(
        f"request: DurationSeconds {duration} outside 900..43200: fail",
        Finding("request_duration_below_min" if below else "request_duration_exceeds_max", evidence),
    )


@lru_cache(maxsize=1024)
def _session_policy_step(policy: str | None, arns: tuple[str, ...]) -> Step:
    """The request's session policies against STS's parameter constraints, then the inline policy's grammar."""
    violations: list[tuple[str, str, str]] = []
    if len(arns) > MAX_POLICY_ARNS:
        violations.append(("policyArns", f"{len(arns)} ARNs", "Member must have length less than or equal to 10"))
    for arn in arns:
        if not MIN_POLICY_ARN <= len(arn) <= MAX_POLICY_ARN:
            violations.append(("policyArns.member.arn", arn, "Member must have length between 20 and 2048"))
    if policy is not None:
        if not 1 <= len(policy) <= MAX_SESSION_POLICY:
            shown = f"{len(policy)} characters"
            violations.append(("policy", shown, "Member must have length less than or equal to 2048"))
        elif not SESSION_POLICY_CHARACTERS.fullmatch(policy):
            violations.append(
                (
                    "policy",
                    "(the policy)",
                    "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
                )
            )
    if violations:
        problem = "; ".join(f"{name} {rule.removeprefix('Member ')}" for name, _, rule in violations)
        evidence = {"problem": problem, "sts_message": _validation_message(violations)}
        return Step(f"session policies: {problem}: fail", Finding("session_policy_invalid", evidence))
    malformed = None if policy is None else _policy_grammar(policy)
    if malformed is not None:
        evidence = {"problem": malformed}
        return Step(f"session policy: {malformed}: fail", Finding("session_policy_malformed", evidence))
    return Step(f"session policies: inline {'given' if policy else 'none'}, {len(arns)} ARN(s): ok")


def _policy_grammar(text: str) -> str | None:
    """Why an inline session policy is not a policy document, or None (IAM's grammar, its outline only:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return "it is not JSON"
    if not isinstance(doc, dict):
        return "it is not a JSON object"
    if "Version" in doc and doc["Version"] not in POLICY_VERSIONS:
        return f"Version {doc['Version']!r} is not 2012-10-17 or 2008-10-17"
    statements = doc.get("Statement")
    listed = statements if isinstance(statements, list) else [statements]
    if statements is None or not listed:
        return "it has no Statement"
    for index, statement in enumerate(listed):
        if not isinstance(statement, dict):
            return f"Statement[{index}] is not an object"
        if statement.get("Effect") not in ("Allow", "Deny"):
            return f"Statement[{index}] has no Effect Allow or Deny"
        if ("Action" in statement) == ("NotAction" in statement):
            return f"Statement[{index}] needs exactly one of Action or NotAction"
        if "Principal" in statement or "NotPrincipal" in statement:
            return f"Statement[{index}] has a Principal, which a session policy cannot have"
    return None


@lru_cache(maxsize=1024)
def _source_identity_step(value: str) -> Step:
    """The source identity a token asks for, against STS's constraints."""
    rules: list[tuple[str, str]] = []
    if len(value) < MIN_SOURCE_IDENTITY:
        rules.append(("is shorter than 2 characters", "Member must have length greater than or equal to 2"))
    elif len(value) > MAX_SOURCE_IDENTITY:
        rules.append(("is longer than 64 characters", "Member must have length less than or equal to 64"))
    if not SOURCE_IDENTITY.fullmatch(value):
        rules.append(
            ("holds characters outside [\\w+=,.@-]", "Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        )
    if value.lower().startswith(RESERVED_SOURCE_IDENTITY_PREFIX):
        rules.append(("begins with the reserved prefix aws:", "Member must not begin with aws:"))
    if not rules:
        return Step(f"source identity: {value!r}: ok")
    problem = " and ".join(problem for problem, _ in rules)
    evidence = {
        "source_identity": value,
        "problem": problem,
        "sts_message": _validation_message([("sourceIdentity", value, rule) for _, rule in rules]),
    }
    return Step(f"source identity: {value!r} {problem}: fail", Finding("request_source_identity_invalid", evidence))


def _check_token(claims: Claims) -> StepFields:
    length = claims.token_length
    if length is not None and not MIN_TOKEN_LENGTH <= length <= MAX_TOKEN_LENGTH:
        bound = "greater than or equal to 4" if length < MIN_TOKEN_LENGTH else "less than or equal to 20000"
        evidence = {
            "length": length,
            "sts_message": _validation_message(
                [("webIdentityToken", f"({length} characters)", f"Member must have length {bound}")]
            ),
        }
        return Step(f"token: {length} characters, outside 4..20000: fail", Finding("token_too_long", evidence))
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
    # A plain tuple: one is made for every request.
    return f"token: iss={claims.iss} sub={claims.sub} aud={','.join(claims.aud)}: ok", None, ()


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
    if provider is not None and provider.url == host:
        match = _registered_provider(case.role_arn, provider.url, provider.arn)
        if match is not None:
            return match
    account = case.role_account or "?"
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


@lru_cache(maxsize=4096)
def _registered_provider(role_arn: str, url: str, arn: str | None) -> tuple[ProviderMatch, Step] | None:
    """The match for an IAM OIDC provider in the role's account (None when its ARN names another account)."""
    partition, role_account = arn_parts(role_arn)
    provider_account = arn.split(":")[4] if arn and arn.count(":") >= 5 else None
    if provider_account not in (None, role_account):
        return None
    principal = f"arn:{partition}:iam::{role_account or '?'}:oidc-provider/{url}"
    return ProviderMatch(url, False, principal), Step(f"provider: IAM OIDC provider {url}: ok")


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
        return _KEYS_NOT_CHECKED
    return _keys_ok_step(kid, bool(idp.jwks_kids))


@lru_cache(maxsize=1024)
def _keys_ok_step(kid: str | None, published: bool) -> Step:
    return Step("keys: JWKS reachable" + (f", kid {kid!r} published" if kid and published else "") + ": ok")


def _check_thumbprint(case: Case, match: ProviderMatch) -> Step:
    provider, idp = case.provider, case.idp
    if match.builtin or match.prefix is None or provider is None:
        return _THUMBPRINT_BUILTIN
    if idp.presented_thumbprints is None:
        return _THUMBPRINT_NOT_CHECKED
    row = thumbprints_ignored_since(provider.url)
    before = not trusted_roots_apply(provider.url, case.now)
    if idp.trusted_root_ca is False:
        why = "its chain does not reach a trusted root CA"
    elif before:
        why = "before AWS verified this issuer against trusted root CAs" + (f" ({row.since})" if row else "")
    elif idp.trusted_root_ca:
        return _THUMBPRINT_NOT_USED
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
    alg = case.claims.alg
    if alg is not None and alg not in SUPPORTED_ALGORITHMS:
        # Part of verifying the signature: held against the request only where the signature was checked.
        if case.idp.signature_valid is None:
            return Step(f"signature: not checked (alg {alg} is not one STS verifies)")
        evidence = {"alg": alg, "supported": ", ".join(sorted(SUPPORTED_ALGORITHMS))}
        return Step(
            f"signature: alg {alg} is not one STS verifies: fail", Finding("token_algorithm_unsupported", evidence)
        )
    if case.idp.signature_valid is False:
        return Step("signature: does not verify: fail", Finding("token_signature_invalid", {}))
    if case.idp.signature_valid is None:
        return _SIGNATURE_NOT_CHECKED
    return _SIGNATURE_OK


def _check_expiry(case: Case) -> Step:
    exp = case.claims.exp
    if exp is None and case.known_claims is not None and "exp" not in case.known_claims:
        return _EXPIRY_NOT_LOGGED
    if exp is None:
        return Step("expiry: skipped (no exp)")
    return _expiry_step(exp, case.now)


@lru_cache(maxsize=4096)
def _expiry_step(exp: float, at: datetime) -> Step:
    """The expiry check of a token; a monitor's synthetic tokens of one cycle share their exp and instant."""
    now = _timestamp(at)
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
    return _audience_step(case.claims.aud, case.claims.azp, provider.url, provider.client_ids)


@lru_cache(maxsize=4096)
def _audience_step(aud: tuple[str, ...], azp: str | None, url: str, client_ids: tuple[str, ...]) -> Step:
    """The audience check for a token's aud (or azp) and a provider's client IDs; many targets share them."""
    # With azp present STS takes azp as the token's audience (see data/context_keys.json, row oidc:aud).
    audiences = (azp,) if azp else aud
    claim = "azp" if azp else "aud"
    shown = ",".join(audiences) + (" (azp)" if azp else "")
    for audience in audiences:
        if audience in client_ids:
            return Step(f"audience: {shown} registered: ok")
    evidence = {
        "claim": claim,
        "audience": ", ".join(audiences),
        "provider_url": url,
        "client_ids": ", ".join(client_ids) or "no client IDs",
    }
    return Step(
        f"audience: {claim} {evidence['audience']} not in client IDs: fail",
        Finding("provider_audience_not_registered", evidence),
    )


def _action_matches(statement: Statement, action: str) -> bool:
    lowered = _LOWERED_ACTIONS.get(action) or action.lower()
    if statement.lowered_actions is not None:
        return any(glob_match(pattern, lowered) for pattern in statement.lowered_actions)
    return not any(glob_match(pattern, lowered) for pattern in statement.lowered_not_actions or ())


def _principal_matches(statement: Statement, principal: str) -> bool:
    if statement.principal is not None:
        return statement.principal.names("Federated", principal)
    return statement.not_principal is not None and not statement.not_principal.names("Federated", principal)


# A statement's conditions: those that do not hold (in written order), the ForAllValues ones that hold only
# because their key is absent, and those whose key depends on caller facts the engine was not given. A plain
# tuple: one is built for every statement of every request.
Evaluated = tuple[list[ConditionResult], Sequence[Condition], Sequence[tuple[Condition, Operator]]]


def _conditions(statement: Statement, context: RequestContext) -> Evaluated:
    failing: list[ConditionResult] = []
    vacuous: list[Condition] | None = None  # the two rare lists are made only when needed
    unknown: list[tuple[Condition, Operator]] | None = None
    index, claims = context.keys.index, context.claims
    whole_token = context.known_claims is None
    for condition, operator, lowered, test, negated in statement.parsed_conditions:
        # context.get_lowered(lowered), its commonest case (a provider key, every claim known) taken here.
        claim = index.get(lowered)
        actual = claim_values(claims, claim) if claim is not None and whole_token else context.get_lowered(lowered)
        if test is not None and type(actual) is tuple and len(actual) == 1:
            # One value, a string operator: what evaluate() decides, in one call.
            if (not test(actual[0])) if negated else test(actual[0]):
                continue
            failing.append(ConditionResult(condition, operator, actual))
        elif actual is UNKNOWN:
            unknown = [*(unknown or ()), (condition, operator)]
        elif not evaluate(operator, condition.values, actual):
            failing.append(ConditionResult(condition, operator, actual))
        elif actual is None and operator.set_operator == "ForAllValues":
            vacuous = [*(vacuous or ()), condition]
    return failing, vacuous or (), unknown or ()


def _wildcard_key(key: str) -> bool:
    return "*" in key or "?" in key


def _hints_for(result: ConditionResult, context: RequestContext, claims: Claims) -> Iterator[str]:
    condition, operator = result.condition, result.operator
    if operator.base in STRING_EQUALS_FAMILY and any("*" in v or "?" in v for v in condition.values):
        yield "wildcard_in_string_equals"
    if result.actual and not operator.negated and not operator.base.endswith("IgnoreCase"):
        # Only values no pattern matches as written can be why the condition failed; the hint is for those
        # that a pattern matches once letter case is ignored.
        def matches(pattern: str, value: str) -> bool:
            return glob_match(pattern, value) if operator.wildcards else pattern == value

        unmatched = [a for a in result.actual if not any(matches(p, a) for p in condition.values)]
        if any(matches(p.casefold(), a.casefold()) for a in unmatched for p in condition.values):
            yield "case_mismatch"
    if _wildcard_key(condition.key):
        yield "wildcard_in_condition_key"
    elif not context.names_this_provider(condition.key):
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


# The trust policy's steps (role, each required action, deny) and the hints they raised.
TrustOutcome = tuple[Part, tuple[str, ...]]


def _failing_text(values: tuple[str, ...] | None) -> str:
    """What the request carries: one value, or all of a multi-valued key's values (it carries them all)."""
    if not values:
        return "no value (the key is absent from the request)"
    return " and ".join(repr(v) for v in values)


def _evaluate_action(case: Case, context: RequestContext, action: str) -> tuple[Step, list[str]]:
    """One action against the Allow statements: principal, then action, then conditions; with its hints."""
    principal = context.federated_provider
    for_principal, for_action = _candidates(case.policy, principal, action)
    if not for_principal:
        named = sorted({n for s in case.policy.allows for n in s.federated_principals()}) or ["no federated principal"]
        evidence: dict[str, object] = {
            "principal": principal,
            "named": ", ".join(named),
            "role_arn": case.role_arn,
            "provider_prefix": context.prefix,
            "family": context.family,
        }
        return (
            Step(
                f"trust: no Allow statement names {principal}: fail",
                Finding("trust_principal_mismatch", evidence),
            ),
            [],
        )
    if not for_action:
        written = sorted({a for s in for_principal for a in (s.actions or ("NotAction ...",))})
        reason = f" (they allow {', '.join(written)})" if action == ACTION else ", which the token's claims require"
        evidence = {"principal": principal, "action": action, "reason": reason, "role_arn": case.role_arn}
        return (
            Step(f"trust: {action} not allowed for {principal}: fail", Finding("trust_action_mismatch", evidence)),
            [],
        )
    hints: list[str] = []
    evaluated = []
    undecided: list[tuple[Statement, Sequence[tuple[Condition, Operator]]]] = []
    for statement in for_action:
        failing, vacuous, unknown_conditions = _conditions(statement, context)
        if failing:
            evaluated.append((statement, failing))
        elif unknown_conditions:
            undecided.append((statement, unknown_conditions))
        else:
            if vacuous:
                hints += [hint for condition in vacuous for hint in _vacuous_hints(condition, context)]
            if case.extras is not NO_EXTRAS and (missing := _cognito_basic_missing(case, context, statement)):
                return _cognito_basic_step(case, statement, missing), hints
            return _allows_step(statement.label, action), hints
    if undecided:
        statement, unknown_conditions = undecided[0]
        unknown = tuple(Unknowable(c.key, requirement(op, c.values)) for c, op in unknown_conditions)
        keys = ", ".join(u.key for u in unknown)
        line = f"trust: {statement.label} allows {action} if {keys} meet its conditions: unknown"
        return Step(line, None, unknown), []
    # Explain with the statement that came closest: fewest false conditions, the first one on a tie.
    statement, failing = min(evaluated, key=lambda pair: len(pair[1]))
    first = failing[0]
    for result in failing:
        hints.extend(_hints_for(result, context, case.claims))
    key = first.condition.key
    source = context.claim_of(key)
    actual_from = source if source is not None and source != key.rsplit(":", 1)[-1].lower() else None
    actual_text = _failing_text(first.actual) + (f" (the token's {actual_from})" if actual_from else "")
    evidence = {
        "condition_key": key,
        "operator": first.condition.operator,
        "wants_text": requirement(first.operator, first.condition.values),
        "actual_text": actual_text,
        "role_arn": case.role_arn,
        "statement": statement.label,
        "statement_index": statement.index,
        "provider_prefix": context.prefix,
        "key_known": context.knows(key),
        "key_other_provider": not context.names_this_provider(key),
    }
    finding = Finding(
        "trust_condition_mismatch",
        evidence,
        condition_key=key,
        expected=first.condition.values,
        actual=first.actual or (),
        operator=first.condition.operator,
        actual_from=actual_from,
    )
    line = (
        f"trust: {statement.label} {first.condition.operator} {key}: needs the value to "
        f"{evidence['wants_text']}, request has {actual_text}: fail"
    )
    return Step(line, finding), hints


# How many (principal, action) pairs a policy remembers its candidate statements for; a role's policy meets a
# few providers and at most three actions, so the bound is only reached by odd input, and then it starts over.
_CANDIDATES_KEPT = 64


def _candidates(policy: TrustPolicy, principal: str, action: str) -> tuple[tuple[Statement, ...], ...]:
    """The Allow statements that name this principal, and those of them that allow this action: the same for
    every request against the policy with this provider, so worked out once per policy."""
    kept = policy.candidates
    found = kept.get((principal, action))
    if found is None:
        for_principal = tuple(s for s in policy.allows if _principal_matches(s, principal))
        found = (for_principal, tuple(s for s in for_principal if _action_matches(s, action)))
        if len(kept) >= _CANDIDATES_KEPT:
            kept.clear()
        kept[principal, action] = found
    return found


@lru_cache(maxsize=4096)
def _allows_step(label: str, action: str) -> Step:
    return Step(f"trust: {label} allows {action}: ok")


# "AWS STS also requires that cross-account basic authentication requests have two specific conditions:
# cognito-identity.amazonaws.com:aud and cognito-identity.amazonaws.com:amr"
# (https://docs.aws.amazon.com/cognito/latest/developerguide/identity-pools-security-best-practices.html; the
# AssumeRoleWithWebIdentity reference, RoleArn, says the same of aud).
COGNITO_BASIC_CROSS_ACCOUNT_KEYS = ("cognito-identity.amazonaws.com:aud", "cognito-identity.amazonaws.com:amr")


def _cognito_basic_missing(case: Case, context: RequestContext, statement: Statement) -> tuple[str, ...]:
    """For a Cognito token in the basic flow from another account's identity pool: the keys the allowing
    statement must test and does not."""
    flow = case.cognito
    if flow.flow != "basic" or context.family != "cognito" or flow.identity_pool_account in (None, case.role_account):
        return ()
    tested = {condition.key.lower() for condition in statement.conditions}
    return tuple(key for key in COGNITO_BASIC_CROSS_ACCOUNT_KEYS if key not in tested)


def _cognito_basic_step(case: Case, statement: Statement, missing: tuple[str, ...]) -> Step:
    claims = case.claims
    amr = "authenticated" if claims.amr and "authenticated" in claims.amr else "unauthenticated"
    evidence = {
        "statement": statement.label,
        "statement_index": statement.index,
        "missing": " and ".join(missing),
        "pool_account": case.cognito.identity_pool_account,
        "role_arn": case.role_arn,
        "pins": (
            ("StringEquals", COGNITO_BASIC_CROSS_ACCOUNT_KEYS[0], next(iter(claims.aud), "")),
            ("ForAnyValue:StringLike", COGNITO_BASIC_CROSS_ACCOUNT_KEYS[1], amr),
        ),
    }
    line = (
        f"trust: {statement.label} allows {ACTION}, but a cross-account basic flow needs it to test "
        f"{evidence['missing']}: fail"
    )
    return Step(line, Finding("trust_cognito_basic_cross_account", evidence))


def _vacuous_hints(condition: Condition, context: RequestContext) -> tuple[str, ...]:
    """A ForAllValues condition passing on an absent key; when STS never supplies the key, also say so (its
    remedy, drop or rewrite the condition, then replaces the one that requires the key)."""
    if context.knows(condition.key):
        return ("vacuous_for_all_values",)
    return ("vacuous_for_all_values", "for_all_values_key_never_supplied")


_DOES_NOT_APPLY: tuple[bool, Sequence[Unknowable]] = (False, ())


def _deny_applies(
    statement: Statement, context: RequestContext, actions: tuple[str, ...], where: str
) -> tuple[bool, Sequence[Unknowable]]:
    """Whether a Deny statement applies to this request, and if that depends on unknown keys, what each needs.
    The caller has checked that the statement is a Deny."""
    if not _principal_matches(statement, context.federated_provider):
        return _DOES_NOT_APPLY
    if not any(_action_matches(statement, action) for action in actions):
        return _DOES_NOT_APPLY
    failing, _, unknown_conditions = _conditions(statement, context)
    if failing:
        return _DOES_NOT_APPLY
    needs = [
        Unknowable(c.key, f"keep {where} from applying (it applies when the value would {requirement(op, c.values)})")
        for c, op in unknown_conditions
    ]
    return not needs, needs


def _check_deny(case: Case, context: RequestContext, actions: tuple[str, ...]) -> Step:
    denies = case.policy.denies
    if not denies:
        return _NO_DENY
    undecided: list[Unknowable] = []
    for statement in denies:
        applies, needs = _deny_applies(statement, context, actions, f"Deny {statement.label}")
        undecided += needs
        if not applies:
            continue
        evidence = {"statement": statement.label, "role_arn": case.role_arn, "statement_index": statement.index}
        return Step(f"deny: {statement.label} applies: fail", Finding("trust_explicit_deny", evidence))
    if undecided:
        keys = ", ".join(u.key for u in undecided)
        return Step(f"deny: a Deny statement applies unless {keys} say otherwise: unknown", None, tuple(undecided))
    return _NO_DENY


def _required_actions(claims: Claims) -> tuple[str, ...]:
    if claims.source_identity is None and (claims.session_tags is None or not claims.session_tags.tags):
        return _ASSUME_ONLY
    actions = [ACTION]
    if claims.session_tags is not None and claims.session_tags.tags:
        actions.append(TAG_SESSION)
    if claims.source_identity is not None:
        actions.append(SET_SOURCE_IDENTITY)
    return tuple(actions)


@lru_cache(maxsize=4096)
def _role_facts(role_arn: str) -> tuple[Step, Finding]:
    """The role's step when it exists, and the finding of an allowed request: the same for every request to the
    role (the evidence is only read)."""
    return Step(f"role: {role_arn}: ok"), Finding("none", {"role_arn": role_arn})


def _check_trust(case: Case, match: ProviderMatch, keys: ProviderKeys | None, role: Step) -> TrustOutcome:
    if not case.role_exists:
        evidence = {"role_arn": case.role_arn}
        return _part((Step(f"role: {case.role_arn} does not exist: fail", Finding("role_not_found", evidence)),)), ()
    if match.principal is None or keys is None:
        return _part((Step("trust: skipped (no provider for this token)"),)), ()
    claims = case.claims
    # RequestContext(...) without the named tuple's Python-level __new__: the same tuple, all fields given.
    context = _new_tuple(
        RequestContext,
        (keys, claims, case.now, match.principal, case.session_name, case.extras.caller, case.known_claims),
    )
    denies = case.policy.denies
    if claims.source_identity is None and claims.session_tags is None and case.extras.resource_control_policies == ():
        # What nearly every request is: one action and no RCPs; the role step always passes.
        step, hints = _evaluate_action(case, context, ACTION)
        deny = _check_deny(case, context, _ASSUME_ONLY) if denies else _NO_DENY
        line, failure, unknown = step
        deny_line, deny_failure, deny_unknown = deny
        return ((role[0], line, deny_line), failure or deny_failure, unknown + deny_unknown), (*hints,)
    actions = _required_actions(claims)
    steps: list[Step] = [role]
    all_hints: list[str] = []
    if case.extras.resource_control_policies:
        steps.append(_check_rcps(case, context, actions))
    for action in actions:
        step, hints = _evaluate_action(case, context, action)
        steps.append(step)
        all_hints += hints
    steps.append(_check_deny(case, context, actions) if denies else _NO_DENY)
    return _part(steps), tuple(all_hints)


def _check_rcps(case: Case, context: RequestContext, actions: tuple[str, ...]) -> Step:
    """The RCPs of the role's account: an explicit Deny that applies to this request and this role refuses it."""
    undecided: list[Unknowable] = []
    for policy in case.resource_control_policies:
        for item in policy.statements:
            statement = item.statement
            if statement.effect != "Deny":
                continue
            named = any(glob_match(pattern, case.role_arn) for pattern in item.resources)
            if named == item.not_resources:
                continue
            where = f"{statement.label} of {policy.name}"
            applies, needs = _deny_applies(statement, context, actions, f"the RCP Deny {where}")
            undecided += needs
            if not applies:
                continue
            evidence = {"policy": policy.name, "statement": statement.label, "role_arn": case.role_arn}
            return Step(f"rcp: Deny {where} applies: fail", Finding("rcp_deny", evidence))
    if undecided:
        keys = ", ".join(u.key for u in undecided)
        return Step(f"rcp: a Deny applies unless {keys} say otherwise: unknown", None, tuple(undecided))
    count = len(case.resource_control_policies)
    return Step(f"rcp: no Deny in {count} resource control polic{'y' if count == 1 else 'ies'} applies: ok")


def _duration_step(duration: int | None, role_max_session_duration: int) -> Step:
    """The duration check for these parameters."""
    if duration is None or duration <= role_max_session_duration or duration > MAX_DURATION:
        shown = duration if duration is not None else "default 3600"
        return Step(f"duration: {shown} within the role's maximum {role_max_session_duration}: ok")
    evidence = {
        "duration": duration,
        "max_duration": role_max_session_duration,
        "limit_text": f", more than the role's MaxSessionDuration of {role_max_session_duration}",
        "sts_message": "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    }
    return Step(
        f"duration: {duration} exceeds the role's maximum {role_max_session_duration}: fail",
        Finding("request_duration_exceeds_max", evidence),
    )


def _check_tags(claims: Claims) -> Step:
    tags = claims.session_tags
    if tags is None or not tags.tags:
        return _NO_TAGS
    problems = []
    if len(tags.tags) > MAX_TAGS:
        problems.append(f"{len(tags.tags)} tags (at most {MAX_TAGS})")
    problems += [f"key {k[:20]!r}... longer than {MAX_TAG_KEY}" for k, _ in tags.tags if len(k) > MAX_TAG_KEY]
    problems += [f"value of {k!r} longer than {MAX_TAG_VALUE}" for k, v in tags.tags if len(v) > MAX_TAG_VALUE]
    if problems:
        evidence = {"problem": "; ".join(problems)}
        return Step(f"session tags: {evidence['problem']}: fail", Finding("request_tags_too_large", evidence))
    return Step(f"session tags: {len(tags.tags)} within limits: ok")


# The decisive finding, the hints, the trace, and the checks not made (what `unchecked_in` finds in the trace)
# of one evaluation (a plain tuple: one per request).
Decision = tuple[Finding, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def explain(case: Case) -> Verdict:
    """The verdict STS would give for this case, with every check traced, and for a trust-policy denial the
    edited policy that lets the request in (checked by explaining the request again against it)."""
    finding, hints, trace, unchecked = _decide(case)
    if finding.code == "none" and case.logged_error == LOGGED_TRUST_REFUSAL:
        finding = _unexplained_refusal(case)
        trace = (*trace, f"logged: {LOGGED_TRUST_REFUSAL}, which what the log shows does not explain")
    remedy = _remedy(case, finding) if finding.code in TRUST_FIXES else None
    return make_verdict(finding, hints, trace, remedy, unchecked)


# The error STS logs for a refusal that reached the trust policy (most token-level failures are not logged).
LOGGED_TRUST_REFUSAL = "AccessDenied"


def _unexplained_refusal(case: Case) -> Finding:
    """A logged AccessDenied that the logged claims and the trust policy as it stands do not explain."""
    unlogged = "" if case.known_claims is None else ", ".join(sorted(case.known_claims))
    evidence = {
        "role_arn": case.role_arn,
        "known": f" (the log shows only {unlogged})" if unlogged else "",
    }
    return Finding("logged_refusal_unexplained", evidence)


def _decide(case: Case) -> Decision:
    """The steps in the order STS takes them; the verdict reads their lines and the first finding. Each part's
    lines and first finding are read once: the provider's with its cached checks, the trust policy's as it
    evaluates (a Finding is always true; a passing step has None)."""
    claims, extras = case.claims, case.extras
    request, duration = _parameter_steps(case.session_name, case.duration_seconds, case.role_max_session_duration)
    role, allowed = _role_facts(case.role_arn)
    token = _check_token(claims)
    if (extras is NO_EXTRAS or (extras.session_policy is None and not extras.policy_arns)) and (
        claims.source_identity is None
    ):
        head: Part = ((request[0], token[0]), request[1] or token[1], ())
    else:
        steps: list[StepFields] = [request]
        if extras.session_policy is not None or extras.policy_arns:
            steps.append(_session_policy_step(extras.session_policy, extras.policy_arns))
        steps.append(token)
        if claims.source_identity is not None:
            steps.append(_source_identity_step(claims.source_identity))
        head = _part(steps)
    match, provider, unchecked, keys = _provider_checks(case)
    (trust_lines, trust_failure, trust_unknown), hints = _check_trust(case, match, keys, role)
    duration_line, duration_failure, _ = duration
    tags = claims.session_tags
    tags_line, tags_failure, _ = _NO_TAGS if tags is None or not tags.tags else _check_tags(claims)
    head_lines, head_failure, _ = head
    provider_lines, provider_failure, _ = provider
    lines = (*head_lines, *provider_lines, *trust_lines, duration_line, tags_line)
    failure = head_failure or provider_failure or trust_failure or duration_failure or tags_failure
    # Only the trust policy's steps can be undecided (caller-side keys are condition keys).
    unknown = trust_unknown if failure is None else ()
    finding = failure or (_undecided(unknown) if unknown else allowed)
    if hints:
        hints = tuple(dict.fromkeys(hints)) if finding.code in ("none", "trust_condition_mismatch") else ()
    return finding, hints, lines, unchecked


_new_tuple = tuple.__new__  # a named tuple built without its Python-level __new__: the same tuple

# The provider's checks of one request: how the issuer resolves, the part of the trace from provider to audience
# (its lines and first finding), the checks among them not made (what `unchecked_in` finds in the trace: only
# these steps can say so, every other step's line starts with another name), and the provider's keys (None
# without a provider).
ProviderChecks = tuple[ProviderMatch, Part, tuple[str, ...], ProviderKeys | None]
# Kept per everything those checks read, which the targets of one provider share within a cycle (the same
# role, provider record, IdP facts, issuer, token header, exp, audience and instant): bounded, then started over.
# The record and the facts are keyed by identity (a cycle passes one of each per provider and issuer to every
# target; hashing them by value cost more than the rest of the lookup): each entry holds both objects, so no
# other object can take their ids while it is kept, and an equal copy only misses.
_PROVIDER_CHECKS: dict[tuple[object, ...], tuple[ProviderChecks, object, object]] = {}
_PROVIDER_CHECKS_KEPT = 4096


def _provider_checks(case: Case) -> ProviderChecks:
    claims, provider, idp = case.claims, case.provider, case.idp
    # Every field the checks below read (role_account and issuer_host derive from role_arn and iss).
    key = (
        case.role_arn,
        id(provider),
        id(idp),
        case.now,
        case.known_claims,
        claims.iss,
        claims.kid,
        claims.alg,
        claims.exp,
        claims.aud,
        claims.azp,
    )
    found = _PROVIDER_CHECKS.get(key)
    if found is None:
        found = (_work_out_provider_checks(case), provider, idp)
        if len(_PROVIDER_CHECKS) >= _PROVIDER_CHECKS_KEPT:
            _PROVIDER_CHECKS.clear()
        _PROVIDER_CHECKS[key] = found
    return found[0]


def _work_out_provider_checks(case: Case) -> ProviderChecks:
    match, provider_step = _resolve_provider(case)
    signature, expiry = _check_signature(case), _check_expiry(case)
    if match.prefix is None:
        steps: tuple[Step, ...] = (provider_step, signature, expiry)
        return match, _part(steps), unchecked_in((signature.line, expiry.line)), None
    keys, thumbprint = _check_keys(case, match), _check_thumbprint(case, match)
    steps = (provider_step, keys, thumbprint, signature, expiry, _check_audience(case, match))
    unchecked = unchecked_in((keys.line, thumbprint.line, signature.line, expiry.line))
    return match, _part(steps), unchecked, provider_keys(match.prefix, match.builtin, utc_day(case.now))


def _undecided(unknown: tuple[Unknowable, ...]) -> Finding:
    """The finding of a request whose answer depends on keys the engine was not given values for."""
    needs = "; ".join(f"{u.key} must {u.needs}" for u in unknown)
    facts = sorted({f"caller.{fact}" for u in unknown if (fact := caller_fact_of(u.key)) is not None})
    unseen = [u.key for u in unknown if caller_fact_of(u.key) is None]
    evidence = {
        "needs": needs,
        "keys": ", ".join(dict.fromkeys(u.key for u in unknown)),
        "source": (
            "whose value comes from token claims the record does not show (CloudTrail logs only aud and sub)"
            if unseen
            else "whose value the request gets from the caller, not the token"
        ),
        "give": (
            "Check the token's other claims (decode a token the workload presents and run explain on it)"
            if unseen
            else "Give the caller's facts"
        ),
        "facts": ", ".join(facts) or "the facts these keys come from",
    }
    return Finding("context_key_unknown", evidence, unknown_keys=tuple(dict.fromkeys(u.key for u in unknown)))


# Root causes fixed by editing the trust policy, and how many edits a remedy may take before giving up.
TRUST_FIXES = frozenset(
    {
        "trust_principal_mismatch",
        "trust_action_mismatch",
        "trust_condition_mismatch",
        "trust_explicit_deny",
        "trust_cognito_basic_cross_account",
    }
)
MAX_EDITS = 12
# Edits that repair a policy meant to let this workload in (a wrong principal, a missing action or condition);
# the others widen a condition or drop a Deny, which may be refusing the workload on purpose.
_REPAIRS = frozenset(
    {"set_principal", "add_action", "remove_not_action", "add_statement", "add_condition", "rename_key"}
)
# Operators for which adding the request's value to the policy's values makes the condition hold.
_MATCH_SELF = frozenset(
    {
        "StringEquals",
        "StringEqualsIgnoreCase",
        "StringLike",
        "NumericEquals",
        "DateEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "ArnEquals",
        "ArnLike",
    }
)


def _remedy(case: Case, finding: Finding) -> Remedy | None:
    """Edit the trust policy until STS would let this request past it; None when no edit of it can.

    Every edit only widens who the policy trusts, towards this request, so the role stays assumable; the
    result is re-explained after each edit, and the edits stop at the first answer the trust policy does not
    decide (allow, or a later check such as the session duration).
    """
    doc = plain_copy(case.policy.document)
    edits: list[str] = []
    deliberate = False
    tried: set[tuple[str, int, str, str]] = set()
    current = finding
    for _ in range(MAX_EDITS):
        edit = _edit_for(current, case, doc, tried)
        if edit is None:
            return None
        edits.append(describe(doc, edit))
        deliberate = deliberate or edit.kind not in _REPAIRS
        apply(doc, edit)
        try:
            case = replace(case, policy=parse_trust_policy(doc))
        except InputError:
            return None
        current = _decide(case)[0]
        if current.code not in TRUST_FIXES:
            return Remedy(MappingProxyType({"trust_policy": frozen(doc)}), tuple(edits), deliberate)
    return None


def _edit_for(finding: Finding, case: Case, doc: JsonObject, tried: set[tuple[str, int, str, str]]) -> Edit | None:
    evidence = finding.evidence
    if finding.code == "trust_explicit_deny":
        return Edit("remove_statement", statement=_int(evidence.get("statement_index")))
    if finding.code == "trust_condition_mismatch":
        return _condition_edit(finding, case, tried)
    if finding.code == "trust_action_mismatch":
        return _action_edit(case, str(evidence.get("principal")), str(evidence.get("action")))
    if finding.code == "trust_principal_mismatch":
        return _principal_edit(case, doc, evidence)
    if finding.code == "trust_cognito_basic_cross_account":
        index, pins = _int(evidence.get("statement_index")), evidence.get("pins")
        missing = str(evidence.get("missing"))
        for operator, key, value in pins if isinstance(pins, tuple) else ():
            if key in missing:
                return Edit("add_condition", index, operator, key, (value,))
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1


def _condition_edit(finding: Finding, case: Case, tried: set[tuple[str, int, str, str]]) -> Edit | None:
    evidence = finding.evidence
    index, key, operator_name = _int(evidence.get("statement_index")), finding.condition_key, finding.operator
    if key is None or operator_name is None or index < 0:
        return None
    statement = case.policy.statements[index]
    remove = Edit("remove_condition", index, operator_name, key)
    attempt = ("condition", index, operator_name, key)
    if attempt in tried:
        return remove  # the edit chosen last time did not make the condition hold
    tried.add(attempt)
    operator = parse_operator(operator_name)
    claim = key.rsplit(":", 1)[-1]
    same_block = {c.key.lower() for c in statement.conditions if c.operator == operator_name}
    if _wildcard_key(key) or evidence.get("key_other_provider"):
        prefix = key.rsplit(":", 1)[0] if _wildcard_key(key) else str(evidence.get("provider_prefix"))
        new_key = f"{prefix}:{claim}".replace("*", "").replace("?", "")
        if new_key.lower() in same_block or new_key.endswith(":"):
            return remove
        return Edit("rename_key", index, operator_name, key, new=new_key)
    actual = finding.actual
    if not actual or operator.base == "Null":
        return remove
    if operator.negated:
        matched = tuple(v for v in finding.expected if any(operator.matcher(v, a) for a in actual))
        if len(matched) == len(finding.expected):
            return remove
        return Edit("remove_values", index, operator_name, key, matched)
    if operator.base in ("StringEquals", "StringEqualsIgnoreCase") and any(
        ("*" in v or "?" in v) and glob_match(v, a) for v in finding.expected for a in actual
    ):
        like = operator_name.replace(operator.base, "StringLike")
        if key.lower() not in {c.key.lower() for c in statement.conditions if c.operator == like}:
            return Edit("change_operator", index, operator_name, key, new=like)
    if operator.base in _MATCH_SELF:
        unmatched = [a for a in actual if not any(operator.matcher(v, a) for v in finding.expected)]
        wanted = unmatched if operator.set_operator == "ForAllValues" else unmatched[:1]
        if wanted:
            return Edit("add_values", index, operator_name, key, tuple(wanted))
    return remove


def _action_edit(case: Case, principal: str, action: str) -> Edit | None:
    candidates = [s for s in case.policy.statements if s.effect == "Allow" and _principal_matches(s, principal)]
    candidates.sort(key=lambda s: not _action_matches(s, ACTION))
    for statement in candidates:
        if statement.actions is not None:
            return Edit("add_action", statement.index, new=action)
        lowered = action.lower()
        blocking = tuple(p for p in statement.not_actions or () if glob_match(p.lower(), lowered))
        if blocking:
            return Edit("remove_not_action", statement.index, values=blocking, new=action)
    return None


_OIDC_PROVIDER_ARN = re.compile(r"arn:[^:]+:iam::[^:]*:oidc-provider/(.+)")


def _same_provider(principal: str, prefix: str) -> bool:
    """Whether a Federated principal names the token's provider but for its account, path or trailing slash."""
    found = _OIDC_PROVIDER_ARN.fullmatch(principal)
    other = found[1] if found else principal
    return other.split("/", 1)[0].lower() == prefix.split("/", 1)[0].lower()


def _principal_edit(case: Case, doc: JsonObject, evidence: Mapping[str, object]) -> Edit | None:
    principal, prefix = str(evidence.get("principal")), str(evidence.get("provider_prefix"))
    # The statement meant for this token names one other principal of the same provider (another account,
    # cluster, or trailing slash); one that already allows the action first (a missing action is added by the
    # next edit). A statement for another provider is left alone: a new statement is added instead.
    candidates = [
        statement
        for statement in case.policy.statements
        if statement.effect == "Allow"
        and len(statement.federated_principals()) == 1
        and _same_provider(statement.federated_principals()[0], prefix)
        and isinstance(statements_of(doc)[statement.index].get("Principal"), dict)
    ]
    candidates.sort(key=lambda statement: not _action_matches(statement, ACTION))
    if candidates:
        statement = candidates[0]
        return Edit("set_principal", statement.index, key=statement.federated_principals()[0], new=principal)
    claims = case.claims
    pins: dict[str, str] = {}
    family = str(evidence.get("family"))
    aud_key = "app_id" if family in ("facebook", "amazon") else "aud"
    aud = claims.azp if claims.azp and family not in ("cognito", "facebook", "amazon") else next(iter(claims.aud), None)
    if aud is not None:
        pins[f"{prefix}:{aud_key}"] = aud
    if claims.sub is not None and family not in ("facebook", "amazon"):
        pins[f"{prefix}:sub"] = claims.sub
    added: dict[str, object] = {"Effect": "Allow", "Principal": {"Federated": principal}, "Action": ACTION}
    if pins:
        added["Condition"] = {"StringEquals": pins}
    return Edit("add_statement", added=added, new=f"{ACTION} for {principal}")
