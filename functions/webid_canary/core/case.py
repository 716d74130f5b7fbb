"""One AssumeRoleWithWebIdentity request to predict, parsed once from a case document or from its parts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from ipaddress import ip_address
from typing import TYPE_CHECKING

from .claims import Claims, decode_token, parse_claims, token_header
from .frozen import builder
from .model import CallerFacts, CognitoFlow, IdpFacts, InputError, ProviderRecord, Token, json_kind
from .policy import TrustPolicy, parse_trust_policy, parse_trust_policy_text
from .rcp import ResourceControlPolicy, parse_rcps
from .sts import ROLE_MAX_SESSION_DEFAULT

DEFAULT_MAX_SESSION_DURATION = ROLE_MAX_SESSION_DEFAULT
NO_IDP_FACTS = IdpFacts()
NO_CALLER_FACTS = CallerFacts()
NO_COGNITO_FLOW = CognitoFlow()
COGNITO_FLOWS = ("basic", "enhanced")
_CALLER_STRINGS = ("source_vpc", "source_vpce", "user_agent", "requested_region")
_CALLER_ADDRESSES = ("source_ip", "vpc_source_ip")


@dataclass(frozen=True, slots=True)
class RequestExtras:
    """What only some requests carry: caller facts, session policies, the Cognito flow, RCPs. One field of Case,
    shared by every request that has none of them, so that a monitor builds no more than it uses."""

    caller: CallerFacts = NO_CALLER_FACTS
    # Session policies in the request: the inline Policy as sent (JSON text), and the PolicyArns.
    session_policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    cognito: CognitoFlow = NO_COGNITO_FLOW
    resource_control_policies: tuple[ResourceControlPolicy, ...] = ()


NO_EXTRAS = RequestExtras()


@dataclass(frozen=True, slots=True)
class Case:
    """Everything STS looks at for one request, already parsed."""

    role_arn: str
    policy: TrustPolicy
    provider: ProviderRecord | None
    claims: Claims
    now: datetime
    session_name: str | None = None
    duration_seconds: int | None = None
    role_max_session_duration: int = DEFAULT_MAX_SESSION_DURATION
    idp: IdpFacts = NO_IDP_FACTS
    role_exists: bool = True
    extras: RequestExtras = NO_EXTRAS

    @property
    def caller(self) -> CallerFacts:
        return self.extras.caller

    @property
    def session_policy(self) -> str | None:
        return self.extras.session_policy

    @property
    def policy_arns(self) -> tuple[str, ...]:
        return self.extras.policy_arns

    @property
    def cognito(self) -> CognitoFlow:
        return self.extras.cognito

    @property
    def resource_control_policies(self) -> tuple[ResourceControlPolicy, ...]:
        return self.extras.resource_control_policies

    # The claims known to be as the token had them (a CloudTrail record logs only iss, aud and sub): keys read
    # from any other claim are unknown, and checks of claims outside it are not made. None: the whole token.
    known_claims: frozenset[str] | None = None
    # The error STS was logged answering with (a CloudTrail record's errorCode), when the case comes from a log.
    logged_error: str | None = None

    @property
    def role_account(self) -> str | None:
        return arn_parts(self.role_arn)[1]

    @property
    def partition(self) -> str:
        return arn_parts(self.role_arn)[0]


if TYPE_CHECKING:
    _build_case = Case  # what the builder takes, checked as the class's own __init__
else:
    _build_case = builder(Case)


@lru_cache(maxsize=4096)
def arn_parts(arn: str) -> tuple[str, str | None]:
    """(partition, account) of an ARN."""
    parts = arn.split(":")
    if len(parts) < 6:
        return "aws", None
    return parts[1] or "aws", parts[4] or None


def parse_instant(value: object, field_name: str = "now") -> datetime:
    """An ISO-8601 instant (a naive one is taken as UTC), or seconds since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InputError(field_name, f"not a usable number of seconds since the epoch: {value!r}") from exc
    if not isinstance(value, str):
        raise InputError(field_name, "expected an ISO-8601 date and time such as 2026-01-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InputError(field_name, f"not an ISO-8601 date and time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strings(value: object, field_name: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InputError(field_name, "expected a list of strings")
    return tuple(value)


def _optional_bool(doc: Mapping[str, object], key: str, prefix: str) -> bool | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, bool):
        raise InputError(f"{prefix}.{key}", "expected true or false")
    return value


def _integer(value: object, field_name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field_name, "expected a whole number of seconds")
    return value


def parse_provider(doc: object, field_name: str = "oidc_provider") -> ProviderRecord | None:
    """An IAM OIDC provider record (`url` without scheme, client IDs, thumbprints), or None."""
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise InputError(field_name, "expected an object with url, client_ids and thumbprints, or null")
    # The contract's names, or those of `aws iam get-open-id-connect-provider` output pasted as is.
    url = _first(doc, "url", "Url")
    if not isinstance(url, str) or not url:
        raise InputError(f"{field_name}.url", "expected the provider URL as IAM stores it, e.g. host/path")
    arn = _first(doc, "arn", "Arn")
    if arn is not None and not isinstance(arn, str):
        raise InputError(f"{field_name}.arn", "expected a string")
    client_ids = _first(doc, "client_ids", "ClientIDList") or []
    thumbprints = _first(doc, "thumbprints", "ThumbprintList") or []
    return ProviderRecord(
        url=url.removeprefix("https://"),
        client_ids=_strings(client_ids, f"{field_name}.client_ids"),
        thumbprints=tuple(t.lower() for t in _strings(thumbprints, f"{field_name}.thumbprints")),
        arn=arn,
    )


def _first(doc: Mapping[str, object], *names: str) -> object:
    return next((doc[name] for name in names if doc.get(name) is not None), None)


def parse_idp(doc: object) -> IdpFacts:
    """Facts about the live identity provider; absent facts stay None (not checked)."""
    if doc is None:
        return IdpFacts()
    if not isinstance(doc, Mapping):
        raise InputError("idp_environment", "expected an object")
    presented = doc.get("presented_thumbprints")
    kids = doc.get("jwks_kids")
    return IdpFacts(
        presented_thumbprints=(
            None
            if presented is None
            else tuple(t.lower() for t in _strings(presented, "idp_environment.presented_thumbprints"))
        ),
        trusted_root_ca=_optional_bool(doc, "trusted_root_ca", "idp_environment"),
        jwks_reachable=_optional_bool(doc, "jwks_reachable", "idp_environment"),
        jwks_kids=None if kids is None else _strings(kids, "idp_environment.jwks_kids"),
        signature_valid=_optional_bool(doc, "signature_valid", "idp_environment"),
    )


def _address(value: object, field_name: str) -> str:
    """One IP address (IPv4 or IPv6), normalised; a range is refused: STS sees one caller address."""
    if not isinstance(value, str):
        raise InputError(field_name, f"expected an IP address as a string, found {json_kind(value)}")
    try:
        return str(ip_address(value.strip()))
    except ValueError as exc:
        raise InputError(field_name, f"not an IP address: {value!r} (give one address, not a range)") from exc


def parse_caller(doc: object, field_name: str = "caller") -> CallerFacts:
    """Facts about the caller of STS; a fact that is absent stays None (the keys it decides are unknown)."""
    if doc is None:
        return NO_CALLER_FACTS
    if not isinstance(doc, Mapping):
        raise InputError(field_name, 'expected an object such as {"source_ip": "203.0.113.10"}')
    found: dict[str, object] = {}
    for name in _CALLER_ADDRESSES:
        if doc.get(name) is not None:
            found[name] = _address(doc[name], f"{field_name}.{name}")
    for name in _CALLER_STRINGS:
        value = doc.get(name)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise InputError(f"{field_name}.{name}", f"expected a non-empty string, found {json_kind(value)}")
            found[name] = value
    found["secure_transport"] = _optional_bool(doc, "secure_transport", field_name)
    called_via = doc.get("called_via")
    if called_via is not None:
        found["called_via"] = _strings(called_via, f"{field_name}.called_via")
    return CallerFacts(**found)  # type: ignore[arg-type]


def parse_cognito(doc: object, field_name: str = "cognito") -> CognitoFlow:
    """`{"flow": "basic" | "enhanced", "identity_pool_account": "123456789012"}`, each part optional."""
    if doc is None:
        return NO_COGNITO_FLOW
    if not isinstance(doc, Mapping):
        raise InputError(field_name, 'expected an object such as {"flow": "basic"}')
    flow, account = doc.get("flow"), doc.get("identity_pool_account")
    if flow is not None and flow not in COGNITO_FLOWS:
        raise InputError(f"{field_name}.flow", f"expected basic or enhanced, found {flow!r}")
    if account is not None and (not isinstance(account, str) or not (account.isdigit() and len(account) == 12)):
        raise InputError(f"{field_name}.identity_pool_account", "expected a 12-digit AWS account ID as a string")
    return CognitoFlow(flow, account)


def parse_session_policy(value: object, field_name: str = "request.policy") -> str | None:
    """The inline session policy as the JSON text sent to STS (an object is sent compactly), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    raise InputError(field_name, f"expected a policy document (object or JSON text), found {json_kind(value)}")


def parse_policy_arns(value: object, field_name: str = "request.policy_arns") -> tuple[str, ...]:
    """PolicyArns as a list of ARNs, or of {"arn": ...} objects as the API takes them."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InputError(field_name, f"expected a list of policy ARNs, found {json_kind(value)}")
    arns: list[str] = []
    for item in value:
        arn = _first(item, "arn", "Arn") if isinstance(item, Mapping) else item
        if not isinstance(arn, str):
            raise InputError(field_name, 'expected each item to be an ARN string or {"arn": ARN}')
        arns.append(arn)
    return tuple(arns)


def _claims(claims: Mapping[str, object] | None, token: Token | None) -> Claims:
    if claims is not None:
        if not isinstance(claims, dict) and not isinstance(claims, Mapping):  # a dict, nearly always: no ABC check
            raise InputError("token_claims", "expected an object (the decoded JWT payload)")
        if token is None:
            return parse_claims(claims)
        kid, alg = token_header(token)
        return parse_claims(claims, kid=kid, alg=alg, token_length=len(token.value))
    if token is not None:
        return decode_token(token)
    raise InputError("token_claims", "missing: give token_claims (decoded payload) or token (a raw JWT)")


def check_role_arn(value: object) -> str:
    """The role ARN, or InputError naming what is wrong with it."""
    if value is None or value == "":
        raise InputError("role_arn", "missing: expected arn:aws:iam::<account>:role/<name>")
    if not isinstance(value, str):
        raise InputError("role_arn", f"expected a string, found {json_kind(value)}")
    return _checked_role_arn(value)


@lru_cache(maxsize=4096)
def _checked_role_arn(value: str) -> str:
    """The ARN if it names an IAM role (checked once per role: a monitor builds many cases for each)."""
    parts = value.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise InputError("role_arn", f"not an IAM role ARN: {value!r}")
    return value


def build_case(
    *,
    role_arn: str,
    trust_policy: str | Mapping[str, object],
    provider: ProviderRecord | None,
    claims: Mapping[str, object] | None = None,
    token: Token | None = None,
    now: datetime,
    session_name: str | None = None,
    duration_seconds: int | None = None,
    role_max_session_duration: int = DEFAULT_MAX_SESSION_DURATION,
    idp: IdpFacts = NO_IDP_FACTS,
    role_exists: bool = True,
    caller: CallerFacts = NO_CALLER_FACTS,
    session_policy: str | None = None,
    policy_arns: tuple[str, ...] = (),
    cognito: CognitoFlow = NO_COGNITO_FLOW,
    resource_control_policies: tuple[ResourceControlPolicy, ...] = (),
    known_claims: frozenset[str] | None = None,
    logged_error: str | None = None,
) -> Case:
    """A case from its parts; raises InputError(field, reason) for unusable input."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # A monitor's case: a dict of claims, the role ARN and the policy text as IAM returns them (checked and
    # parsed through the same caches as the general path below).
    parsed = parse_claims(claims) if token is None and type(claims) is dict else _claims(claims, token)
    if known_claims is not None:
        # A claim that was not logged is not missing: only the known ones are held to the token's rules.
        kept = tuple(p for p in parsed.problems if p.split(":", 1)[0] in known_claims)
        parsed = replace(parsed, problems=kept)
    return _build_case(  # every field, in order: a monitor builds one for every target
        _checked_role_arn(role_arn) if type(role_arn) is str and role_arn else check_role_arn(role_arn),
        parse_trust_policy_text(trust_policy) if type(trust_policy) is str else parse_trust_policy(trust_policy),
        provider,
        parsed,
        now,
        session_name,
        duration_seconds,
        role_max_session_duration,
        idp,
        role_exists,
        (
            NO_EXTRAS
            if caller is NO_CALLER_FACTS
            and session_policy is None
            and not policy_arns
            and cognito is NO_COGNITO_FLOW
            and not resource_control_policies
            else RequestExtras(caller, session_policy, policy_arns, cognito, resource_control_policies)
        ),
        known_claims,
        logged_error,
    )


def parse_logged(doc: object) -> tuple[frozenset[str] | None, str | None]:
    """`{"known_claims": [...], "error_code": "AccessDenied"}`: what a log showed of the request, or (None, None)."""
    if doc is None:
        return None, None
    if not isinstance(doc, Mapping):
        raise InputError("logged", 'expected an object such as {"known_claims": ["iss", "aud", "sub"]}')
    known = doc.get("known_claims")
    error = doc.get("error_code")
    if error is not None and not isinstance(error, str):
        raise InputError("logged.error_code", f"expected a string, found {json_kind(error)}")
    return (None if known is None else frozenset(_strings(known, "logged.known_claims"))), error


def parse_case(doc: Mapping[str, object], *, default_now: datetime | None = None) -> Case:
    """A case from a case document (docs/contract.md); unknown fields are ignored."""
    if not isinstance(doc, Mapping):
        raise InputError("case", "expected a JSON object")
    if "trust_policy" not in doc or doc["trust_policy"] is None:
        raise InputError("trust_policy", "missing")
    policy_doc = doc["trust_policy"]
    if not isinstance(policy_doc, str | Mapping):
        raise InputError("trust_policy", "expected an object or a JSON string")
    token_value = doc.get("token")
    if token_value is not None and not isinstance(token_value, str):
        raise InputError("token", "expected the raw JWT as a string")
    claims_doc = doc.get("token_claims")
    if claims_doc is not None and not isinstance(claims_doc, Mapping):
        raise InputError("token_claims", "expected an object (the decoded JWT payload)")
    request = doc.get("request") or {}
    if not isinstance(request, Mapping):
        raise InputError("request", "expected an object")
    session_name = _first(request, "role_session_name", "RoleSessionName")
    if session_name is not None and not isinstance(session_name, str):
        raise InputError("request.role_session_name", "expected a string")
    duration = _first(request, "duration_seconds", "DurationSeconds")
    if "now" in doc and doc["now"] is not None:
        now = parse_instant(doc["now"])
    elif default_now is not None:
        now = default_now
    else:
        raise InputError("now", "missing: the instant at which STS evaluates the request")
    known_claims, logged_error = parse_logged(doc.get("logged"))
    role_exists = doc.get("role_exists", True)
    if not isinstance(role_exists, bool):
        raise InputError("role_exists", "expected true or false")
    return build_case(
        role_arn=check_role_arn(doc.get("role_arn")),
        trust_policy=policy_doc,
        provider=parse_provider(doc.get("oidc_provider")),
        claims=claims_doc,
        token=Token(token_value) if token_value is not None else None,
        now=now,
        session_name=session_name,
        duration_seconds=None if duration is None else _integer(duration, "request.duration_seconds"),
        role_max_session_duration=_integer(
            doc.get("role_max_session_duration", DEFAULT_MAX_SESSION_DURATION), "role_max_session_duration"
        ),
        idp=parse_idp(doc.get("idp_environment")),
        role_exists=role_exists,
        caller=parse_caller(doc.get("caller")),
        session_policy=parse_session_policy(_first(request, "policy", "Policy")),
        policy_arns=parse_policy_arns(_first(request, "policy_arns", "PolicyArns")),
        cognito=parse_cognito(doc.get("cognito")),
        resource_control_policies=parse_rcps(doc.get("resource_control_policies")),
        known_claims=known_claims,
        logged_error=logged_error,
    )
