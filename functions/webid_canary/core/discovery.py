"""Propose targets from trust policies: one per (role, trusted web identity provider), claims from its conditions.

Claims come from the conditions of the first Allow statement that names the provider and allows
sts:AssumeRoleWithWebIdentity: exact values from the StringEquals family (first value), a representative instance
of a StringLike pattern (`*` -> `main`, `?` -> `x`), and family defaults where the policy says nothing. A target
with any such guess is marked `claims_are_representative`. A `sub` pattern that yields no subject the platform
sends (GitHub's `repo:acme/*`) is not proposed: the role is reported with a request for a concrete value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from webid_canary.core.catalogue import Severity
from webid_canary.core.conditions import glob_match, parse_operator
from webid_canary.core.context import builtin_family, facts, family_of
from webid_canary.core.model import InputError, RoleRecord
from webid_canary.core.policy import Condition, Statement, parse_trust_policy
from webid_canary.core.targets import (
    DEFAULT_AUDIENCE,
    DEFAULT_SEVERITY,
    Claims,
    ClaimValue,
    Target,
    TargetError,
    parse_target,
    target_to_item,
)

ACTION: Final = "sts:AssumeRoleWithWebIdentity"
OIDC_PROVIDER_ARN: Final = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:oidc-provider/(.+)")
STAR_FILL: Final = "main"
QUESTION_FILL: Final = "x"
# Families whose tokens are not JWTs that a probe could stand in for: their roles are reported, not proposed.
NOT_JWT_FAMILIES: Final = frozenset({"amazon", "facebook"})

# Plausible values for a claim the policy does not constrain, per provider family (documented formats).
DEFAULT_SUBJECTS: Final[Mapping[str, str]] = {
    "github": "repo:example/example:ref:refs/heads/main",
    "gitlab": "project_path:example/example:ref_type:branch:ref:main",
    "eks": "system:serviceaccount:default:default",
    "cognito": "us-east-1:00000000-0000-0000-0000-000000000000",
    "google": "100000000000000000000",
}
DEFAULT_AUDIENCES: Final[Mapping[str, str]] = {
    "cognito": "us-east-1:00000000-0000-0000-0000-000000000000",
    "google": "example.apps.googleusercontent.com",
}
FALLBACK_SUBJECT: Final = "webid-canary-representative-subject"
# The shape of the subjects each platform sends (documented formats). A value made from a StringLike pattern that
# falls outside it is a subject the platform never sends: such a target is not proposed, a concrete value is asked.
SUBJECT_FORMATS: Final[Mapping[str, re.Pattern[str]]] = {
    "github": re.compile(r"repo:[^/:]+/[^/:]+:.+"),
    "gitlab": re.compile(r"project_path:[^:]+:ref_type:(?:branch|tag):ref:.+"),
    "eks": re.compile(r"system:serviceaccount:[^:]+:[^:]+"),
}
SHORT_NAMES: Final[Mapping[str, str]] = {
    "github": "github",
    "gitlab": "gitlab",
    "cognito": "cognito",
    "google": "google",
    "circleci": "circleci",
}
# Claims that are lists in real tokens: a condition on them yields a one-element list.
LIST_CLAIMS: Final = frozenset({"amr"})


@dataclass(frozen=True, slots=True)
class Proposal:
    """A target proposed for one (role, provider) pair, with where its claims came from."""

    target: Target
    provider: str
    statement: str
    representative: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "target": target_to_item(self.target),
            "provider": self.provider,
            "statement": self.statement,
            "representative_claims": list(self.representative),
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A role (and provider) that trusts web identities but for which no target could be proposed, and why."""

    role_arn: str
    provider: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"role_arn": self.role_arn, "provider": self.provider, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Discovery:
    """Everything one pass over the roles found."""

    proposals: tuple[Proposal, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    roles_read: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "roles_read": self.roles_read,
            "proposals": [p.to_json() for p in self.proposals],
            "skipped": [s.to_json() for s in self.skipped],
        }


@dataclass(frozen=True, slots=True)
class _Provider:
    principal: str
    prefix: str
    family: str
    builtin: bool

    @property
    def issuer(self) -> str:
        return f"https://{self.prefix}"

    @property
    def short_name(self) -> str:
        if self.family == "eks":
            return "eks-" + self.prefix.rsplit("/", 1)[-1][:8].lower()
        return SHORT_NAMES.get(self.family) or _slug(self.prefix.split("/", 1)[0].split(".", 1)[0]) or "oidc"


class _NoConcreteValueError(Exception):
    """A claim's pattern yields no value the platform sends: the proposal needs a person's concrete value."""

    def __init__(self, claim: str, pattern: str, family: str) -> None:
        super().__init__(
            f"{claim}: the trust policy allows the pattern {pattern!r}, which no single {family} {claim} stands for; "
            f"register a target with a {claim} a workload really sends (register --claim {claim}=VALUE)"
        )


@dataclass(slots=True)
class _ClaimDraft:
    values: dict[str, ClaimValue] = field(default_factory=dict)
    exact: set[str] = field(default_factory=set)
    guessed: dict[str, str] = field(default_factory=dict)
    # Claims whose only pattern yields no value the platform sends: claim -> the pattern.
    unsendable: dict[str, str] = field(default_factory=dict)

    def offer(self, claim: str, value: ClaimValue, *, exact: bool, why: str = "") -> None:
        if claim in self.exact or (claim in self.values and not exact):
            return
        self.values[claim] = value
        if exact:
            self.exact.add(claim)
            self.guessed.pop(claim, None)
        else:
            self.guessed[claim] = why


def discover_targets(
    roles: Iterable[RoleRecord],
    *,
    severity: Severity = DEFAULT_SEVERITY,
    owner: str | None = None,
    taken_ids: Iterable[str] = (),
) -> Discovery:
    """Proposals for every role that trusts a web identity provider; ids avoid `taken_ids` and each other."""
    proposals: list[Proposal] = []
    skipped: list[Skipped] = []
    used = set(taken_ids)
    count = 0
    for role in roles:
        count += 1
        found, problems = _role_proposals(role, severity=severity, owner=owner, used=used)
        proposals.extend(found)
        skipped.extend(problems)
    return Discovery(tuple(proposals), tuple(skipped), count)


def _role_proposals(
    role: RoleRecord, *, severity: Severity, owner: str | None, used: set[str]
) -> tuple[list[Proposal], list[Skipped]]:
    try:
        policy = parse_trust_policy(role.trust_policy_document)
    except InputError as exc:
        if "Federated" in str(role.trust_policy_document):
            return [], [Skipped(role.arn, None, f"trust policy unreadable: {exc.reason}")]
        return [], []
    providers = [p for p in (_provider(name) for name in policy.federated_principals()) if p is not None]
    proposals: list[Proposal] = []
    skipped: list[Skipped] = []
    for provider in providers:
        if provider.family in NOT_JWT_FAMILIES:
            skipped.append(Skipped(role.arn, provider.principal, "tokens of this provider are not JWTs"))
            continue
        statement = next((s for s in policy.statements if _allows(s, provider.principal)), None)
        if statement is None:
            reason = f"no Allow statement lets {provider.principal} call {ACTION}"
            skipped.append(Skipped(role.arn, provider.principal, reason))
            continue
        base_id = _target_id(role.name, provider.short_name if len(providers) > 1 else None)
        target_id = _unique(base_id, used)
        try:
            proposal = _propose(role, provider, statement, target_id, severity=severity, owner=owner)
        except TargetError as exc:
            skipped.append(Skipped(role.arn, provider.principal, f"proposal does not validate: {exc}"))
            continue
        except _NoConcreteValueError as exc:
            skipped.append(Skipped(role.arn, provider.principal, str(exc)))
            continue
        used.add(target_id)
        proposals.append(proposal)
    return proposals, skipped


def _provider(principal: str) -> _Provider | None:
    if match := OIDC_PROVIDER_ARN.fullmatch(principal):
        prefix = match.group(1)
        return _Provider(principal, prefix, family_of(prefix), builtin=False)
    family = builtin_family(principal)
    if family is not None:
        return _Provider(principal, principal, family, builtin=True)
    return None


def _allows(statement: Statement, principal: str) -> bool:
    if statement.effect != "Allow" or principal not in statement.federated_principals():
        return False
    action = ACTION.lower()
    if statement.actions is not None:
        return any(glob_match(pattern.lower(), action) for pattern in statement.actions)
    return not any(glob_match(pattern.lower(), action) for pattern in statement.not_actions or ())


def _claim_name(provider: _Provider, key_suffix: str) -> str:
    """The token claim a condition key reads (`accounts.google.com:oaud` -> `aud`); else the key's own name."""
    wanted = key_suffix.lower()
    for row in facts().keys:
        applies = provider.family in row.families or ("oidc" in row.families and not provider.builtin)
        if applies and row.key.lower() == wanted:
            return row.claim.split("|")[-1]
    return key_suffix


def representative(pattern: str, *, family: str = "", claim: str = "") -> str:
    """A value that a StringLike pattern matches, shaped like real values where the format is known."""
    if family == "github" and claim == "sub" and (match := re.fullmatch(r"(repo:[^:*?]+/[^:*?]+):\*", pattern)):
        return f"{match.group(1)}:ref:refs/heads/main"
    return "".join(STAR_FILL if ch == "*" else QUESTION_FILL if ch == "?" else ch for ch in pattern)


def _claims(provider: _Provider, conditions: Iterable[Condition]) -> _ClaimDraft:
    draft = _ClaimDraft()
    prefix = provider.prefix.lower() + ":"
    for condition in conditions:
        if not condition.key.lower().startswith(prefix) or not condition.values:
            continue
        operator = parse_operator(condition.operator)
        if operator.negated or operator.family != "String":
            continue
        claim = _claim_name(provider, condition.key[len(prefix) :])
        first = condition.values[0]
        if operator.base == "StringLike" and ("*" in first or "?" in first):
            text = representative(first, family=provider.family, claim=claim)
            shape = SUBJECT_FORMATS.get(provider.family) if claim == "sub" else None
            if shape is not None and not shape.fullmatch(text):
                draft.unsendable.setdefault(claim, first)
                continue
            exact = False
        else:
            text, exact = first, True
        value: ClaimValue = (text,) if operator.set_operator or claim in LIST_CLAIMS else text
        draft.offer(claim, value, exact=exact, why=f"{condition.operator} {first!r}")
    for claim, pattern in draft.unsendable.items():
        if claim not in draft.exact:
            raise _NoConcreteValueError(claim, pattern, provider.family)
    if "aud" not in draft.values:
        audience = DEFAULT_AUDIENCES.get(provider.family, DEFAULT_AUDIENCE)
        draft.offer("aud", audience, exact=False, why="no aud condition: default audience")
    if "sub" not in draft.values:
        subject = DEFAULT_SUBJECTS.get(provider.family, FALLBACK_SUBJECT)
        draft.offer("sub", subject, exact=False, why="no sub condition: any subject is trusted")
    return draft


def _propose(
    role: RoleRecord,
    provider: _Provider,
    statement: Statement,
    target_id: str,
    *,
    severity: Severity,
    owner: str | None,
) -> Proposal:
    draft = _claims(provider, statement.conditions)
    ordered: dict[str, ClaimValue] = {k: draft.values[k] for k in ("sub", "aud") if k in draft.values}
    ordered |= {k: v for k, v in draft.values.items() if k not in ordered}
    notes = f"discovered from {statement.label} of role {role.name}"
    if draft.guessed:
        notes += "; representative: " + "; ".join(f"{k} ({why})" for k, why in draft.guessed.items())
    item: dict[str, object] = {
        "target_id": target_id,
        "role_arn": role.arn,
        "issuer": provider.issuer,
        "claims": Claims(ordered).to_json(),
        "severity": str(severity),
        "claims_are_representative": bool(draft.guessed),
        "notes": notes[:2048],
    }
    if owner is not None:
        item["owner"] = owner
    return Proposal(parse_target(item), provider.principal, statement.label, tuple(draft.guessed))


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9._-]", "-", text.lower())).strip("-.")


def _target_id(role_name: str, provider: str | None) -> str:
    suffix = f"-{_slug(provider)}" if provider else ""
    base = _slug(role_name)[: 64 - len(suffix)].rstrip("-.") or "role"
    target_id = base + suffix
    return target_id if len(target_id) >= 3 else f"{target_id}-role"


def _unique(target_id: str, used: set[str]) -> str:
    if target_id not in used:
        return target_id
    for number in range(2, 10_000):
        tail = f"-{number}"
        candidate = target_id[: 64 - len(tail)] + tail
        if candidate not in used:
            return candidate
    raise ValueError(f"no free target id near {target_id!r}")  # pragma: no cover - ten thousand clashes
