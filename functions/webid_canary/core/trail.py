"""CloudTrail's AssumeRoleWithWebIdentity records, parsed once into typed requests, and explained from what they log.

What a record holds (https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html, "Example AWS
STS API events in CloudTrail log", and https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html,
"Values for AWS STS APIs with SAML and web identity federation"): the role in `requestParameters.roleArn` and in
`resources[].ARN`; `userIdentity` of type `WebIdentityUser` whose `principalId` is `<identityProvider>:<aud>:<sub>`
and whose `userName` is the sub; the caller's `sourceIPAddress` and `userAgent`; on successes
`additionalEventData.identityProviderConnectionVerificationMethod` (`IAMTrustStore` or `Thumbprint`). The token
itself, its signature, `exp`, `iat` and every other claim are not logged, so keys read from them are unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address

from .case import Case, arn_parts, build_case, parse_instant
from .model import CallerFacts, InputError, ProviderRecord, json_kind
from .sts import ROLE_MAX_SESSION_DEFAULT
from .verdict import Verdict

EVENT_NAME = "AssumeRoleWithWebIdentity"
EVENT_SOURCE = "sts.amazonaws.com"
WEB_IDENTITY_USER = "WebIdentityUser"
# What a record shows of the token: the issuer (from the provider), aud and sub.
LOGGED_CLAIMS = frozenset({"iss", "aud", "sub"})
# Refusals that reach the trust policy are logged as AccessDenied; most token-level failures are not logged.
TRUST_REFUSAL = "AccessDenied"


@dataclass(frozen=True, slots=True)
class TrailRequest:
    """One logged AssumeRoleWithWebIdentity call, as far as the record shows it."""

    event_id: str
    time: datetime
    role_arn: str
    provider: str  # the provider as logged: an IAM OIDC provider ARN or a built-in issuer host
    aud: str | None
    sub: str | None
    session_name: str | None = None
    duration_seconds: int | None = None
    source_identity: str | None = None
    caller: CallerFacts = field(default_factory=CallerFacts)
    source_ip_text: str | None = None  # sourceIPAddress as logged (an address, or a service's name)
    error_code: str | None = None
    error_message: str | None = None
    region: str | None = None
    verification: str | None = None  # IAMTrustStore or Thumbprint, on successes
    role_from: str = "requestParameters.roleArn"

    @property
    def refused(self) -> bool:
        return self.error_code is not None

    @property
    def provider_url(self) -> str:
        """The provider as IAM stores its URL (host/path, no scheme)."""
        marker = ":oidc-provider/"
        url = self.provider.split(marker, 1)[1] if marker in self.provider else self.provider
        return url.removeprefix("https://")

    @property
    def account(self) -> str | None:
        return arn_parts(self.role_arn)[1]

    def claims(self) -> dict[str, object]:
        """The token claims the record shows (iss from the provider, aud, sub); the others are unknown."""
        found: dict[str, object] = {"iss": f"https://{self.provider_url}"}
        if self.aud is not None:
            found["aud"] = self.aud
        if self.sub is not None:
            found["sub"] = self.sub
        if self.source_identity is not None:
            found["https://aws.amazon.com/source_identity"] = self.source_identity
        return found


@dataclass(frozen=True, slots=True)
class Skip:
    """A record that could not be used, and why (one line naming the field)."""

    reason: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class TrailBatch:
    """The requests read from one input, and the records skipped with their reasons."""

    requests: tuple[TrailRequest, ...]
    skipped: tuple[Skip, ...] = ()

    def skip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for skip in self.skipped:
            kind = skip.reason.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def _text(doc: Mapping[str, object], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}{key}", f"expected a string, found {json_kind(value)}")
    return value


def _object(doc: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(key, f"expected an object, found {json_kind(value)}")
    return value


def _role_arn(record: Mapping[str, object], params: Mapping[str, object]) -> tuple[str, str] | None:
    """The role ARN: requestParameters.roleArn, else resources[].ARN (some denials log roleArn as null), else the
    assumed-role ARN of a success (its path is lost)."""
    arn = _text(params, "roleArn", "requestParameters.")
    if arn:
        return arn, "requestParameters.roleArn"
    resources = record.get("resources")
    if isinstance(resources, list):
        for item in resources:
            if isinstance(item, Mapping) and isinstance(item.get("ARN"), str) and ":role/" in str(item["ARN"]):
                return str(item["ARN"]), "resources[].ARN"
    response = record.get("responseElements")
    if isinstance(response, Mapping):
        user = response.get("assumedRoleUser")
        assumed = user.get("arn") if isinstance(user, Mapping) else None
        if isinstance(assumed, str) and ":assumed-role/" in assumed:
            parts = assumed.split(":")
            name = parts[5].removeprefix("assumed-role/").split("/", 1)[0]
            return f"arn:{parts[1]}:iam::{parts[4]}:role/{name}", "responseElements.assumedRoleUser.arn"
    return None


def split_principal(principal_id: str, provider: str, sub: str | None) -> str | None:
    """The aud between the provider and the sub in `<provider>:<aud>:<sub>`, cut by their known lengths (aud may
    itself hold ':')."""
    head = f"{provider}:"
    if not principal_id.startswith(head):
        return None
    rest = principal_id[len(head) :]
    if sub is None:
        return rest.rsplit(":", 1)[0] if ":" in rest else None
    tail = f":{sub}"
    if not rest.endswith(tail) or len(rest) <= len(tail):
        return None
    return rest[: -len(tail)]


def _caller(record: Mapping[str, object]) -> tuple[CallerFacts, str | None]:
    source = _text(record, "sourceIPAddress", "")
    address: str | None = None
    if source is not None:
        try:
            address = str(ip_address(source))
        except ValueError:
            address = None  # a service's name (e.g. eks.amazonaws.com) when it called on the workload's behalf
    vpce = _text(record, "vpcEndpointId", "")
    return (
        CallerFacts(
            source_ip=address if vpce is None else None,
            source_vpce=vpce,
            user_agent=_text(record, "userAgent", ""),
            requested_region=_text(record, "awsRegion", ""),
        ),
        source,
    )


def parse_record(record: object) -> TrailRequest:
    """One CloudTrail record (as in a trail's file, LookupEvents' CloudTrailEvent, or an EventBridge event's
    detail); InputError names the field for anything that is not a usable AssumeRoleWithWebIdentity record."""
    if not isinstance(record, Mapping):
        raise InputError("record", f"expected an object, found {json_kind(record)}")
    detail = record.get("detail")
    if isinstance(detail, Mapping):  # an EventBridge event
        record = detail
    name = record.get("eventName")
    if name != EVENT_NAME:
        raise InputError("eventName", f"not an {EVENT_NAME} event ({name!r})")
    source = record.get("eventSource")
    if source is not None and source != EVENT_SOURCE:
        raise InputError("eventSource", f"expected {EVENT_SOURCE}, found {source!r}")
    event_id = _text(record, "eventID", "") or "?"
    if record.get("eventTime") is None:
        raise InputError("eventTime", "missing")
    time = parse_instant(record.get("eventTime"), "eventTime")
    params = _object(record, "requestParameters")
    role = _role_arn(record, params)
    if role is None:
        raise InputError("requestParameters.roleArn", "missing, and no role in resources[] either")
    identity = _object(record, "userIdentity")
    kind = identity.get("type")
    if kind is not None and kind != WEB_IDENTITY_USER:
        raise InputError("userIdentity.type", f"expected {WEB_IDENTITY_USER}, found {kind!r}")
    provider = _text(identity, "identityProvider", "userIdentity.")
    response = record.get("responseElements")
    response = response if isinstance(response, Mapping) else {}
    provider = provider or _text(response, "provider", "responseElements.")
    if provider is None:
        raise InputError("userIdentity.identityProvider", "missing: the record does not name the provider")
    sub = _text(identity, "userName", "userIdentity.") or _text(
        response, "subjectFromWebIdentityToken", "responseElements."
    )
    principal_id = _text(identity, "principalId", "userIdentity.")
    aud = split_principal(principal_id, provider, sub) if principal_id else None
    aud = aud or _text(response, "audience", "responseElements.")
    duration = params.get("durationSeconds")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
        raise InputError("requestParameters.durationSeconds", f"expected a number, found {json_kind(duration)}")
    extra = _object(record, "additionalEventData")
    caller, source_text = _caller(record)
    return TrailRequest(
        event_id=event_id,
        time=time,
        role_arn=role[0],
        provider=provider,
        aud=aud,
        sub=sub,
        session_name=_text(params, "roleSessionName", "requestParameters."),
        duration_seconds=duration,
        source_identity=_text(params, "sourceIdentity", "requestParameters."),
        caller=caller,
        source_ip_text=source_text,
        error_code=_text(record, "errorCode", ""),
        error_message=_text(record, "errorMessage", ""),
        region=_text(record, "awsRegion", ""),
        verification=_text(extra, "identityProviderConnectionVerificationMethod", "additionalEventData."),
        role_from=role[1],
    )


def _records(doc: object) -> Iterator[object]:
    """Every record in one of the shapes CloudTrail hands them out in."""
    if isinstance(doc, list):
        for item in doc:
            yield from _records(item)
        return
    if isinstance(doc, Mapping):
        if isinstance(doc.get("Records"), list):  # a trail's S3 file
            yield from doc["Records"]
            return
        if isinstance(doc.get("Events"), list):  # LookupEvents' response
            yield from _records(doc["Events"])
            return
        if isinstance(doc.get("CloudTrailEvent"), str):  # one LookupEvents event
            try:
                yield json.loads(str(doc["CloudTrailEvent"]))
            except json.JSONDecodeError:
                yield {"__unreadable__": "CloudTrailEvent: not JSON"}
            return
    yield doc


def read_records(doc: object) -> TrailBatch:
    """The requests in a parsed document; a record that cannot be used is skipped with its reason."""
    requests: list[TrailRequest] = []
    skipped: list[Skip] = []
    for record in _records(doc):
        if isinstance(record, Mapping) and "__unreadable__" in record:
            skipped.append(Skip(str(record["__unreadable__"])))
            continue
        try:
            requests.append(parse_record(record))
        except InputError as exc:
            event_id = record.get("eventID") if isinstance(record, Mapping) else None
            skipped.append(Skip(str(exc), event_id if isinstance(event_id, str) else None))
    return TrailBatch(tuple(requests), tuple(skipped))


def read_log(text: str) -> TrailBatch:
    """The requests in the text of a log (a record, a list, a trail's file, LookupEvents' output, or one record per
    line); a truncated file yields the records that are whole and one skip for the rest."""
    try:
        return read_records(json.loads(text))
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    found: list[object] = []
    index = text.find("[", text.find('"Records"')) + 1 if '"Records"' in text else 0
    length = len(text)
    while index < length:
        while index < length and text[index] in " \t\r\n,[":
            index += 1
        if index >= length or text[index] in "]}":
            break
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            batch = read_records(found)
            reason = f"input: truncated or not JSON at character {index} (after {len(found)} whole records)"
            return TrailBatch(batch.requests, (*batch.skipped, Skip(reason)))
        found.append(value)
    return read_records(found)


def case_of(
    request: TrailRequest,
    *,
    trust_policy: str | Mapping[str, object],
    provider: ProviderRecord | None,
    role_max_session_duration: int = ROLE_MAX_SESSION_DEFAULT,
    role_exists: bool = True,
) -> Case:
    """The case a record describes: the trust policy as it stands, the logged claims (every other claim unknown,
    exp and the signature not checked), the caller's address and user agent, at the event's time."""
    claims = request.claims()
    return build_case(
        role_arn=request.role_arn,
        trust_policy=trust_policy,
        provider=provider,
        claims=claims,
        now=request.time,
        session_name=request.session_name,
        duration_seconds=request.duration_seconds,
        role_max_session_duration=role_max_session_duration,
        role_exists=role_exists,
        caller=request.caller,
        known_claims=frozenset(claims),
        logged_error=request.error_code,
    )


@dataclass(frozen=True, slots=True)
class TrailFinding:
    """One verdict and the records it explains (a client retries: one refused job is many records)."""

    verdict: Verdict
    requests: tuple[TrailRequest, ...]

    @property
    def first(self) -> TrailRequest:
        return min(self.requests, key=lambda r: r.time)

    @property
    def last(self) -> TrailRequest:
        return max(self.requests, key=lambda r: r.time)

    @property
    def refused(self) -> bool:
        return any(r.refused for r in self.requests)

    def event(self) -> dict[str, object]:
        """The `event` object of `trail --json` (schema webid-canary/trail/v1)."""
        first, last = self.first, self.last
        return {
            "schema": TRAIL_SCHEMA,
            "event_ids": [r.event_id for r in sorted(self.requests, key=lambda r: r.time)],
            "first_time": _iso(first.time),
            "last_time": _iso(last.time),
            "count": len(self.requests),
            "role_arn": first.role_arn,
            "provider": first.provider,
            "aud": first.aud,
            "sub": first.sub,
            "error_code": last.error_code,
            "error_message": last.error_message,
            "source_ips": sorted({r.source_ip_text for r in self.requests if r.source_ip_text}),
            "user_agents": sorted({r.caller.user_agent for r in self.requests if r.caller.user_agent}),
            "regions": sorted({r.region for r in self.requests if r.region}),
        }

    def to_json(self) -> dict[str, object]:
        return {**self.verdict.to_json(), "event": self.event()}


TRAIL_SCHEMA = "webid-canary/trail/v1"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def group(explained: Iterable[tuple[TrailRequest, Verdict]]) -> tuple[TrailFinding, ...]:
    """One finding per distinct (role, provider, aud, sub, logged error, root cause), first seen first."""
    groups: dict[tuple[object, ...], list[tuple[TrailRequest, Verdict]]] = {}
    for request, verdict in explained:
        key = (
            request.role_arn,
            request.provider,
            request.aud,
            request.sub,
            request.error_code,
            verdict.root_cause,
            verdict.condition_key,
        )
        groups.setdefault(key, []).append((request, verdict))
    findings = [
        TrailFinding(max(pairs, key=lambda p: p[0].time)[1], tuple(r for r, _ in pairs)) for pairs in groups.values()
    ]
    return tuple(sorted(findings, key=lambda f: (not f.refused, f.first.time)))
