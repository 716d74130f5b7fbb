"""Static checks of a trust policy for shapes that let the wrong workload in, or silently drop a condition."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .catalogue import SEVERITY_ORDER, Kind, Severity, entry
from .conditions import parse_operator
from .context import builtin_family, family_of
from .policy import Condition, Statement, TrustPolicy

ACTION = "sts:assumerolewithwebidentity"
# Issuers shared by many tenants: without a `sub` (or equivalent) condition anyone on them gets in.
MULTI_TENANT_FAMILIES = frozenset({"github", "gitlab", "google", "eks"})
PINNING_CLAIMS = {
    "github": frozenset({"sub", "repository", "repository_id", "job_workflow_ref"}),
}
MULTI_VALUED_CLAIMS = frozenset({"amr", "aud"})
MULTI_VALUED_GLOBAL = frozenset({"aws:tagkeys", "sts:transitivetagkeys"})
_ARN_PROVIDER = re.compile(r"arn:[^:]+:iam::[^:]*:oidc-provider/(.+)")
_GITHUB_SUB = re.compile(r"repo:([^/:]+)/([^:]+)(:.*)?", re.DOTALL)
_EKS_SUB = re.compile(r"system:serviceaccount:([^:]+):(.+)", re.DOTALL)
_GITLAB_SUB = re.compile(r"project_path:([^:]+)(:.*)?", re.DOTALL)
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One risky shape: a lint code, its severity here, and the evidence."""

    code: str
    severity: Severity
    evidence: Mapping[str, object] = field(default=_EMPTY)

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "severity": self.severity.value, "evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class PlacedFinding:
    """A finding and where its policy was read: a file (None when read from IAM), a resource, a line."""

    finding: LintFinding
    artifact: str | None
    address: str | None
    line: int | None = None


def worst_first(findings: Iterable[PlacedFinding]) -> tuple[PlacedFinding, ...]:
    """Findings by severity, worst first; then by file, line and code, so that output is stable."""
    return tuple(
        sorted(
            findings,
            key=lambda p: (
                -SEVERITY_ORDER[p.finding.severity],
                p.artifact or "",
                p.address or "",
                p.line or 0,
                p.finding.code,
            ),
        )
    )


def _provider_of(principal: str) -> tuple[str, str, bool]:
    """(prefix used in condition keys, family, built-in) for a Federated principal."""
    found = _ARN_PROVIDER.fullmatch(principal)
    if found:
        return found[1], family_of(found[1]), False
    family = builtin_family(principal)
    return principal, family or "oidc", family is not None


def _wild(text: str) -> bool:
    return "*" in text or "?" in text


def _sub_too_broad(family: str, value: str) -> str | None:
    """Why a `sub` pattern reaches beyond one repository or namespace, or None."""
    if not _wild(value):
        return None
    if value.strip("*?") == "":
        return "matches any subject"
    if family == "github":
        found = _GITHUB_SUB.fullmatch(value)
        if found is None or _wild(found[1]) or _wild(found[2]):
            return "the wildcard reaches beyond one repository"
    elif family == "eks":
        found = _EKS_SUB.fullmatch(value)
        if found is None or _wild(found[1]):
            return "the wildcard reaches beyond one namespace"
    elif family == "gitlab":
        found = _GITLAB_SUB.fullmatch(value)
        if found is None or _wild(found[1]):
            return "the wildcard reaches beyond one project"
    return None


def _claim(key: str) -> str:
    return key.rsplit(":", 1)[-1].lower()


def _positive(condition: Condition) -> bool:
    operator = parse_operator(condition.operator)
    return (
        not operator.negated
        and not operator.if_exists
        and operator.base != "Null"
        and operator.set_operator != "ForAllValues"
    )


def _matches_anything(condition: Condition) -> bool:
    operator = parse_operator(condition.operator)
    return operator.wildcards and any(value.strip("*") == "" for value in condition.values)


def _statement_findings(
    statement: Statement, principal: str, prefix: str, family: str, builtin: bool
) -> Iterator[LintFinding]:
    where = {"statement": statement.label, "principal": principal}
    own = [c for c in statement.conditions if c.key.lower().startswith(prefix.lower() + ":")]
    pinned_claims = {_claim(c.key) for c in own if _positive(c)}
    # An aud test that any value passes (StringLike "*") pins nothing.
    if all(_matches_anything(c) for c in own if _positive(c) and _claim(c.key) == "aud"):
        pinned_claims.discard("aud")
    if family == "cognito" and "aud" not in pinned_claims:
        yield LintFinding("aud_not_pinned", Severity.CRITICAL, {**where, "key": f"{prefix}:aud"})
    elif (
        family not in ("cognito", "facebook", "amazon")
        and "aud" not in pinned_claims
        and not (family == "google" and "oaud" in pinned_claims)
    ):
        yield LintFinding(
            "aud_not_pinned", entry(Kind.LINT, "aud_not_pinned").severity, {**where, "key": f"{prefix}:aud"}
        )
    if family in MULTI_TENANT_FAMILIES and not pinned_claims & PINNING_CLAIMS.get(family, frozenset({"sub"})):
        severity = Severity.CRITICAL if family != "eks" else Severity.HIGH
        yield LintFinding("sub_not_pinned", severity, {**where, "key": f"{prefix}:sub"})
    for condition in statement.conditions:
        operator = parse_operator(condition.operator)
        key = condition.key
        if _claim(key) == "sub" and operator.base in ("StringLike",) and not operator.negated:
            for value in condition.values:
                reason = _sub_too_broad(family, value)
                if reason:
                    yield LintFinding(
                        "sub_wildcard_too_broad", Severity.HIGH, {**where, "key": key, "value": value, "reason": reason}
                    )
        if operator.base.startswith("String") and "Like" not in operator.base:
            wild = [v for v in condition.values if _wild(v)]
            if wild:
                yield LintFinding(
                    "wildcard_in_string_equals",
                    Severity.MEDIUM,
                    {**where, "operator": condition.operator, "key": key, "values": wild},
                )
        if operator.set_operator == "ForAllValues":
            lowered = key.lower()
            multi = lowered in MULTI_VALUED_GLOBAL or (
                ":" in lowered and not lowered.startswith(("aws:", "sts:")) and _claim(key) in MULTI_VALUED_CLAIMS
            )
            if not multi:
                yield LintFinding(
                    "for_all_values_single_valued", Severity.HIGH, {**where, "operator": condition.operator, "key": key}
                )
        lowered = key.lower()
        if not lowered.startswith(("aws:", "sts:")) and ":" in key and not lowered.startswith(prefix.lower() + ":"):
            yield LintFinding(
                "condition_key_other_provider", Severity.HIGH, {**where, "key": key, "provider_prefix": prefix}
            )


def _allows_web_identity(statement: Statement) -> bool:
    from .conditions import glob_match

    if statement.actions is not None:
        return any(glob_match(a.lower(), ACTION) for a in statement.actions)
    return not any(glob_match(a.lower(), ACTION) for a in statement.not_actions or ())


# What IAM refuses to save, in AWS's words where AWS documents them.
NOT_PRINCIPAL_WORDING = (
    "You cannot use the NotPrincipal element in an IAM identity-based policy or in an IAM role trust policy."
)
NOT_PRINCIPAL_SOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
PORT_WORDING = "The URL should not contain a port number."
PORT_SOURCE = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html"


def _save_time_errors(policy: TrustPolicy, provider_url: str | None) -> Iterator[LintFinding]:
    """Configurations IAM refuses to save: NotPrincipal in a trust policy, a provider URL with a port."""
    for statement in policy.statements:
        if statement.not_principal is not None:
            evidence = {"statement": statement.label, "aws_says": NOT_PRINCIPAL_WORDING, "source": NOT_PRINCIPAL_SOURCE}
            yield LintFinding("not_principal_in_trust_policy", Severity.CRITICAL, evidence)
    if provider_url is not None:
        host = provider_url.removeprefix("https://").split("/", 1)[0]
        if ":" in host.rsplit("]", 1)[-1]:
            evidence = {"provider_url": provider_url, "aws_says": PORT_WORDING, "source": PORT_SOURCE}
            yield LintFinding("provider_url_has_port", Severity.CRITICAL, evidence)


def lint(policy: TrustPolicy, *, provider_url: str | None = None) -> tuple[LintFinding, ...]:
    """Risky shapes in a trust policy, for every federated principal (or only `provider_url`'s), and what IAM
    would refuse to save at all."""
    findings: list[LintFinding] = list(_save_time_errors(policy, provider_url))
    for duplicate in policy.duplicates:
        findings.append(
            LintFinding(
                "duplicate_key_dropped",
                Severity.HIGH,
                {"path": duplicate.path, "key": duplicate.key, "dropped": duplicate.dropped},
            )
        )
    wanted = None if provider_url is None else provider_url.removeprefix("https://")
    for statement in policy.statements:
        if statement.effect != "Allow" or not _allows_web_identity(statement):
            continue
        if statement.principal is not None and statement.principal.everyone:
            findings.append(LintFinding("principal_wildcard", Severity.CRITICAL, {"statement": statement.label}))
            continue
        for principal in statement.federated_principals():
            if principal == "*":
                findings.append(LintFinding("principal_wildcard", Severity.CRITICAL, {"statement": statement.label}))
                continue
            prefix, family, builtin = _provider_of(principal)
            if wanted is not None and prefix != wanted:
                continue
            findings.extend(_statement_findings(statement, principal, prefix, family, builtin))
    return tuple(findings)
