"""A strict AssumeRoleWithWebIdentity for the local environment: it verifies what STS verifies, answers as STS does.

moto's own AssumeRoleWithWebIdentity hands out credentials for any input. This module does the real work
instead: it validates the request parameters, parses the JWT, finds the IAM OIDC provider whose URL equals
`iss`, fetches discovery and JWKS over HTTPS, compares the presented certificate with the provider's
thumbprints, verifies the signature (PyJWT), `exp`, `nbf` and `aud`, and has the explain engine evaluate the
role's trust policy. Failures come out as AWS's error codes, HTTP statuses and message texts.

It knows nothing of moto: roles and providers come through the `Directory` port, keys through `KeySource`
(aws.py wires both to moto's backends and to the HTTPS issuer adapter).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

import jwt
from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

from webid_canary.adapters.issuer import DISCOVERY_SUFFIX, IssuerUrlError, fetch_json, fetch_jwks
from webid_canary.app.ports import RoleRecord
from webid_canary.core.case import build_case
from webid_canary.core.explain import explain
from webid_canary.core.inspection import Failure, Fetch
from webid_canary.core.model import IdpFacts, InputError, ProviderRecord, Token

# AWS's HTTP status for each error code of AssumeRoleWithWebIdentity. Source: the STS API reference
# (AssumeRoleWithWebIdentity, "Errors") and botocore's sts service model (`httpStatusCode` of each error
# shape); AccessDenied is a common error, answered with 403 (STS API reference, "Common Errors").
STATUS: Final[Mapping[str, int]] = {
    "AccessDenied": 403,
    "ExpiredTokenException": 400,
    "IDPCommunicationError": 400,
    "IDPRejectedClaim": 403,
    "InvalidIdentityToken": 400,
    "MalformedPolicyDocument": 400,
    "PackedPolicyTooLarge": 400,
    "RegionDisabledException": 403,
    "ValidationError": 400,
}

# Message texts as STS sends them, each with the public evidence it follows.
MSG_NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithWebIdentity"  # IAM User Guide, troubleshooting
# STS API reference, AssumeRoleWithWebIdentity, Errors: InvalidIdentityToken.
MSG_INVALID_IDENTITY: Final = (
    "The web identity token that was passed could not be validated by AWS. Get a new identity token from the "
    "identity provider and then retry the request."
)
# Not a JWT at all. No public source quotes it verbatim; it is the explain engine's text, so the two agree.
MSG_NOT_JWT: Final = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
# aws/aws-sdk-ruby#2698 ("Missing a required claim: aud").
MSG_MISSING_CLAIM: Final = "Missing a required claim: {claim}"
# aws-actions/configure-aws-credentials#721, mozilla-iam/mozilla-aws-cli#127 (the full issuer URL is quoted).
MSG_NO_PROVIDER: Final = "No OpenIDConnect provider found in your account for {iss}"
# aws-actions/configure-aws-credentials#357 and #762.
MSG_THUMBPRINT: Final = "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
# awslabs/amazon-eks-irsa-cfn#18, aws-actions/configure-aws-credentials#775.
MSG_AUDIENCE: Final = "Incorrect token audience"
# The JWKS has no key for the token. Not in the API reference and no public source found here; the explain
# engine's catalogue holds the same text, so prediction and emulation agree.
MSG_NO_KEY: Final = (
    "Couldn't retrieve verification key from your identity provider,  please reference "
    "AssumeRoleWithWebIdentity documentation for requirements"
)
# aws/aws-sdk-java-v2#5709 (2024; older answers lack the space before the second number).
MSG_EXPIRED: Final = "Token expired: current date/time {now} must be before the expiration date/time {exp}"
# STS API reference, AssumeRoleWithWebIdentity, Errors: IDPCommunicationError.
MSG_IDP_UNREACHABLE: Final = (
    "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the "
    "incoming identity token could not be reached. This is often a transient error caused by network conditions. "
    "Retry the request a limited number of times and wait between attempts."
)
# STS's answer for an ARN it cannot parse (physera/onelogin-aws-cli#12, AssumeRoleWithSAML).
MSG_BAD_ARN: Final = "Request ARN is invalid"
# IAM User Guide, "Modify a role maximum session duration"; STS API reference, DurationSeconds.
MSG_DURATION: Final = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
# STS API reference, Errors: MalformedPolicyDocument.
MSG_POLICY_MALFORMED: Final = "The request was rejected because the policy document was malformed."

# Parameter constraints from botocore's sts service model (AssumeRoleWithWebIdentityRequest shapes).
SESSION_NAME_PATTERN: Final = re.compile(r"[\w+=,.@-]*")
SESSION_NAME_LENGTH: Final = (2, 64)
ROLE_ARN_LENGTH: Final = (20, 2048)
TOKEN_LENGTH: Final = (4, 20000)
POLICY_LENGTH: Final = (1, 2048)
DURATION_RANGE: Final = (900, 43200)
DEFAULT_DURATION: Final = 3600

# JWS algorithms STS accepts for OIDC tokens (IAM User Guide, "Create an OpenID Connect identity provider").
ALGORITHMS: Final = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")

COGNITO_ISSUER: Final = "https://cognito-identity.amazonaws.com"
COGNITO_PROVIDER: Final = "cognito-identity.amazonaws.com"

# How long keys fetched from an issuer are reused. STS's own cache time is not published: five minutes is an
# assumption, and tests that rotate keys clear the cache explicitly.
JWKS_CACHE_SECONDS: Final = 300.0


class StsRejectedError(Exception):
    """STS refused the request: an AWS error code, its HTTP status and the message text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = STATUS.get(code, 400)


class IdpUnreachableError(Exception):
    """The issuer could not be reached at all (refused address, connection, timeout, TLS handshake)."""


class IdpKeysError(Exception):
    """The issuer answered, but not with a usable key set (HTTP status, not JSON, no jwks_uri, too large)."""


Jwk = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """What STS learned from an issuer over HTTPS: its public keys (JWKs by `kid`) and the certificates shown."""

    keys: Mapping[str, Jwk]
    # Keys without `kid`, usable only when the token names none.
    unnamed: tuple[Jwk, ...] = ()
    # SHA-1 of the last certificate presented by the host serving the JWKS (what IAM's thumbprints pin).
    presented_thumbprints: tuple[str, ...] = ()
    # Whether that chain verified to a root AWS trusts publicly; then thumbprints are not consulted.
    trusted_root_ca: bool = False

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self.keys)

    @classmethod
    def from_jwks(
        cls, jwks: Mapping[str, object], *, presented_thumbprints: tuple[str, ...] = (), trusted_root_ca: bool = False
    ) -> IssuerKeys:
        """Keys from a JWKS document (`{"keys": [...]}`); entries that are not objects are skipped."""
        raw = jwks.get("keys")
        entries = [k for k in raw if isinstance(k, Mapping)] if isinstance(raw, list) else []
        named = {str(k["kid"]): k for k in entries if isinstance(k.get("kid"), str)}
        unnamed = tuple(k for k in entries if not isinstance(k.get("kid"), str))
        return cls(
            keys=named, unnamed=unnamed, presented_thumbprints=presented_thumbprints, trusted_root_ca=trusted_root_ca
        )


class KeySource(Protocol):
    """Fetches an issuer's keys over HTTPS."""

    def fetch(self, issuer: str) -> IssuerKeys: ...


class Directory(Protocol):
    """The IAM side STS consults: OIDC providers and roles of an account."""

    def find_provider(self, account_id: str, partition: str, url: str) -> ProviderRecord | None: ...

    def get_role(self, role_arn: str) -> RoleRecord | None: ...


@dataclass(frozen=True, slots=True)
class WebIdentityRequest:
    """The parameters of one AssumeRoleWithWebIdentity call, as the caller sent them."""

    role_arn: str | None
    role_session_name: str | None
    token: Token | None
    duration_seconds: int | None = None
    policy: str | None = None
    # The caller, as CloudTrail logs it (sourceIPAddress, userAgent).
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What STS establishes when it accepts a request; aws.py adds moto's credentials to it."""

    role_arn: str
    session_name: str
    duration_seconds: int
    subject: str
    audience: str
    provider: str
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class _Logged:
    """The CloudTrail record AWS writes for one AssumeRoleWithWebIdentity call, in the shape of AWS's example
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html): aud and sub only, never the
    token; the role in requestParameters and resources; a read-only management event."""

    request: WebIdentityRequest
    claims: _Claims
    provider: str
    now: datetime
    region: str
    partition: str

    def _base(self) -> dict[str, object]:
        request, account = self.request, (self.request.role_arn or "").split(":")[4:5]
        aud = self.claims.aud[0] if self.claims.aud else ""
        parameters: dict[str, object] = {"roleArn": request.role_arn, "roleSessionName": request.role_session_name}
        if request.duration_seconds is not None:
            parameters["durationSeconds"] = request.duration_seconds
        return {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "WebIdentityUser",
                "principalId": f"{self.provider}:{aud}:{self.claims.sub}",
                "userName": self.claims.sub,
                "identityProvider": self.provider,
            },
            "eventTime": self.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRoleWithWebIdentity",
            "awsRegion": self.region,
            "sourceIPAddress": request.source_ip or "127.0.0.1",
            "userAgent": request.user_agent or "unknown",
            "requestParameters": parameters,
            "eventID": str(uuid.uuid4()),
            "requestID": str(uuid.uuid4()),
            "readOnly": True,
            "resources": [
                {"accountId": account[0] if account else "", "type": "AWS::IAM::Role", "ARN": request.role_arn}
            ],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account[0] if account else "",
            "eventCategory": "Management",
        }

    def refused(self, code: str, message: str) -> dict[str, object]:
        return {**self._base(), "errorCode": code, "errorMessage": message, "responseElements": None}

    def accepted(self, accepted: Acceptance) -> dict[str, object]:
        return {
            **self._base(),
            "responseElements": {
                "subjectFromWebIdentityToken": accepted.subject,
                "provider": accepted.provider,
                "audience": accepted.audience,
            },
            "additionalEventData": {"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
        }


@dataclass(frozen=True, slots=True)
class _Claims:
    iss: str
    sub: str
    aud: tuple[str, ...]
    exp: float
    nbf: float | None
    raw: Mapping[str, object]


def _account_and_partition(role_arn: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"arn:(aws[\w-]*):iam::(\d{12}):role/.+", role_arn)
    return None if match is None else (match.group(2), match.group(1))


def _validation_error(problems: Sequence[str]) -> StsRejectedError:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return StsRejectedError("ValidationError", f"{count} validation {noun} detected: " + "; ".join(problems))


def _length_problem(name: str, value: str, bounds: tuple[int, int], *, show: bool = True) -> str | None:
    low, high = bounds
    prefix = f"Value '{value if show else '***'}' at '{name}' failed to satisfy constraint: Member must have length"
    if len(value) < low:
        return f"{prefix} greater than or equal to {low}"
    if len(value) > high:
        return f"{prefix} less than or equal to {high}"
    return None


def validate_parameters(request: WebIdentityRequest) -> None:
    """The API-level constraints STS checks before anything else, with its ValidationError wording."""
    problems: list[str] = []
    for parameter, value in (
        ("roleArn", request.role_arn),
        ("roleSessionName", request.role_session_name),
        ("webIdentityToken", None if request.token is None else request.token.value),
    ):
        if value is None:
            problems.append(f"Value null at '{parameter}' failed to satisfy constraint: Member must not be null")
    if request.role_arn is not None and (problem := _length_problem("roleArn", request.role_arn, ROLE_ARN_LENGTH)):
        problems.append(problem)
    name = request.role_session_name
    if name is not None:
        if problem := _length_problem("roleSessionName", name, SESSION_NAME_LENGTH):
            problems.append(problem)
        if not SESSION_NAME_PATTERN.fullmatch(name):
            problems.append(
                f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: "
                r"Member must satisfy regular expression pattern: [\w+=,.@-]*"
            )
    if request.token is not None and (
        problem := _length_problem("webIdentityToken", request.token.value, TOKEN_LENGTH, show=False)
    ):
        problems.append(problem)
    if request.policy is not None and (problem := _length_problem("policy", request.policy, POLICY_LENGTH, show=False)):
        problems.append(problem)
    duration = request.duration_seconds
    if duration is not None:
        low, high = DURATION_RANGE
        if duration < low:
            problems.append(
                f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        elif duration > high:
            problems.append(
                f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )
    if problems:
        raise _validation_error(problems)


def parse_claims(token: Token) -> tuple[_Claims, Mapping[str, object]]:
    """The token's payload and header, decoded without verification; InvalidIdentityToken when it is no JWT."""
    value = token.value
    if value.count(".") != 2:
        raise StsRejectedError("InvalidIdentityToken", MSG_NOT_JWT)
    try:
        header = jwt.get_unverified_header(value)
        payload = jwt.decode(value, options={"verify_signature": False})
    except PyJWTError as exc:
        raise StsRejectedError("InvalidIdentityToken", MSG_NOT_JWT) from exc
    for claim in ("iss", "sub", "aud", "exp"):
        if claim not in payload:
            raise StsRejectedError("InvalidIdentityToken", MSG_MISSING_CLAIM.format(claim=claim))
    iss, sub, aud, exp = payload["iss"], payload["sub"], payload["aud"], payload["exp"]
    audiences = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else None
    nbf = payload.get("nbf")
    if (
        not isinstance(iss, str)
        or not isinstance(sub, str)
        or audiences is None
        or not all(isinstance(a, str) for a in audiences)
        or isinstance(exp, bool)
        or not isinstance(exp, int | float)
        or (nbf is not None and (isinstance(nbf, bool) or not isinstance(nbf, int | float)))
    ):
        raise StsRejectedError("InvalidIdentityToken", MSG_INVALID_IDENTITY)
    claims = _Claims(
        iss=iss,
        sub=sub,
        aud=audiences,
        exp=float(exp),
        nbf=None if nbf is None else float(nbf),
        raw=payload,
    )
    return claims, header


def verify_signature(token: Token, header: Mapping[str, object], keys: IssuerKeys) -> None:
    """The signature must verify with the JWKS key the token names; only RS and ES algorithms count."""
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise StsRejectedError("InvalidIdentityToken", MSG_INVALID_IDENTITY)
    kid = header.get("kid")
    if isinstance(kid, str):
        candidates = [keys.keys[kid]] if kid in keys.keys else []
    elif kid is None:
        candidates = list(keys.unnamed) or list(keys.keys.values())
    else:
        candidates = []
    if not candidates:
        raise StsRejectedError("InvalidIdentityToken", MSG_NO_KEY)
    for candidate in candidates:
        published = candidate.get("alg")
        if published is not None and published != alg:
            continue
        try:
            key = jwt.PyJWK(dict(candidate), algorithm=str(alg))
            jwt.decode(
                token.value,
                key,
                algorithms=[str(alg)],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except (PyJWTError, PyJWKError, InvalidKeyError, ValueError, TypeError):
            continue
        return
    raise StsRejectedError("InvalidIdentityToken", MSG_INVALID_IDENTITY)


class CachedKeySource:
    """Keeps each issuer's keys for a while, as STS does; `clear()` forgets them (key rotation tests)."""

    def __init__(
        self,
        inner: KeySource,
        *,
        ttl_seconds: float = JWKS_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, IssuerKeys]] = {}

    def fetch(self, issuer: str) -> IssuerKeys:
        with self._lock:
            cached = self._cache.get(issuer)
        if cached is not None and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        keys = self._inner.fetch(issuer)
        with self._lock:
            self._cache[issuer] = (self._monotonic(), keys)
        return keys

    def clear(self, issuer: str | None = None) -> None:
        with self._lock:
            if issuer is None:
                self._cache.clear()
            else:
                self._cache.pop(issuer, None)


# How a failed fetch is answered: the issuer could not be reached at all (IDPCommunicationError, STS API
# reference), or it answered without usable keys (InvalidIdentityToken, as for a key STS cannot find).
UNREACHABLE: Final = frozenset({Failure.REFUSED, Failure.CONNECT, Failure.TIMEOUT, Failure.TLS})
# STS's patience with an issuer: about five seconds for discovery and JWKS (IAM User Guide, OIDC providers).
FETCH_TIMEOUT: Final = 5.0


class HttpsKeySource:
    """Discovery, then the JWKS, over real HTTPS through the issuer adapter, noting the chain the key host presents.

    `allow_private` lets loopback issuers be fetched (the local environment only); `ca_file` is the local PKI's
    roots. Those roots are not public roots, so AWS would verify such an issuer by thumbprint; with
    `ca_file_is_public` the local environment plays a public CA instead (thumbprints then do not matter).
    """

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        allow_private: bool = False,
        ca_file_is_public: bool = False,
        timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self.ca_file = ca_file
        self.allow_private = allow_private
        self.ca_file_is_public = ca_file_is_public
        self.timeout = timeout

    def fetch(self, issuer: str) -> IssuerKeys:
        try:
            discovery = fetch_json(
                issuer.rstrip("/") + DISCOVERY_SUFFIX,
                allow_private=self.allow_private,
                ca_file=self.ca_file,
                timeout=self.timeout,
            )
        except IssuerUrlError as exc:
            raise IdpUnreachableError(str(exc)) from exc
        _raise_for(discovery.fetch)
        jwks_uri = discovery.body.get("jwks_uri") if discovery.body is not None else None
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IdpKeysError(f"{discovery.fetch.url}: no jwks_uri")
        try:
            jwks = fetch_jwks(jwks_uri, allow_private=self.allow_private, ca_file=self.ca_file, timeout=self.timeout)
        except IssuerUrlError as exc:
            raise IdpUnreachableError(str(exc)) from exc
        _raise_for(jwks.fetch)
        host = jwks.host
        thumbprints = (host.thumbprint,) if host is not None and host.thumbprint else ()
        trusted = host is not None and (
            bool(host.trusted_root_ca) or (self.ca_file_is_public and bool(host.verified_by_ca_file))
        )
        return IssuerKeys.from_jwks(jwks.body or {}, presented_thumbprints=thumbprints, trusted_root_ca=trusted)


def _raise_for(fetch: Fetch) -> None:
    if fetch.failure is None:
        return
    if fetch.failure in UNREACHABLE:
        raise IdpUnreachableError(f"{fetch.url}: {fetch.error}")
    raise IdpKeysError(f"{fetch.url}: {fetch.error}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class StrictSts:
    """AssumeRoleWithWebIdentity as STS performs it, against a Directory of roles and providers."""

    directory: Directory
    keys: KeySource
    clock: Callable[[], datetime] = _utcnow
    cognito: CognitoVerifier | None = None
    # Where the CloudTrail record of each logged call goes (AWS logs a refusal only once it reached the trust
    # policy: AccessDenied; a token-level failure is not logged). None: not recorded.
    trail: Callable[[Mapping[str, object]], None] | None = None
    region: str = "us-east-1"

    def assume(self, request: WebIdentityRequest) -> Acceptance:
        """Accept the request (returning what STS establishes) or raise StsRejectedError as STS would answer."""
        validate_parameters(request)
        assert request.role_arn is not None
        assert request.role_session_name is not None
        assert request.token is not None
        located = _account_and_partition(request.role_arn)
        if located is None:
            raise StsRejectedError("ValidationError", MSG_BAD_ARN)
        now = self.clock()
        claims, header = parse_claims(request.token)
        if claims.iss in (COGNITO_ISSUER, COGNITO_PROVIDER):
            provider, idp, provider_name = self._cognito(request.token, header, claims, now)
        else:
            provider, idp = self._oidc(request.token, header, claims, located, now)
            provider_name = provider.arn or claims.iss
        logged = _Logged(request, claims, provider_name, now, self.region, located[0])
        role = self.directory.get_role(request.role_arn)
        if role is None:
            # STS answers a missing role exactly as a trust failure (docs/contract.md, role_not_found).
            self._log(logged.refused("AccessDenied", MSG_NOT_AUTHORIZED))
            raise StsRejectedError("AccessDenied", MSG_NOT_AUTHORIZED)
        try:
            case = build_case(
                role_arn=request.role_arn,
                trust_policy=role.trust_policy_document,
                provider=provider,
                claims=dict(claims.raw),
                now=now,
                session_name=request.role_session_name,
                duration_seconds=request.duration_seconds,
                role_max_session_duration=role.max_session_duration,
                idp=idp,
            )
        except InputError as exc:
            # IAM never stores a trust policy it cannot parse; a case that cannot be built is refused outright.
            raise StsRejectedError("AccessDenied", MSG_NOT_AUTHORIZED) from exc
        verdict = explain(case)
        if not verdict.allowed:
            code, message = verdict.error_code or "AccessDenied", verdict.message or MSG_NOT_AUTHORIZED
            if code == "AccessDenied":
                self._log(logged.refused(code, message))
            raise StsRejectedError(code, message)
        duration = request.duration_seconds or DEFAULT_DURATION
        if duration > role.max_session_duration:
            raise StsRejectedError("ValidationError", MSG_DURATION)
        if request.policy is not None:
            _check_session_policy(request.policy)
        registered = provider.client_ids if provider is not None else claims.aud
        audience = next((a for a in claims.aud if a in registered), claims.aud[0])
        accepted = Acceptance(
            role_arn=role.arn,
            session_name=request.role_session_name,
            duration_seconds=duration,
            subject=claims.sub,
            audience=audience,
            provider=provider_name,
            policy=request.policy,
        )
        self._log(logged.accepted(accepted))
        return accepted

    def _log(self, record: Mapping[str, object]) -> None:
        if self.trail is not None:
            self.trail(record)

    def _oidc(
        self,
        token: Token,
        header: Mapping[str, object],
        claims: _Claims,
        located: tuple[str, str],
        now: datetime,
    ) -> tuple[ProviderRecord, IdpFacts]:
        account_id, partition = located
        if not claims.iss.startswith("https://"):
            raise StsRejectedError("InvalidIdentityToken", MSG_NO_PROVIDER.format(iss=claims.iss))
        provider = self.directory.find_provider(account_id, partition, claims.iss.removeprefix("https://"))
        if provider is None:
            raise StsRejectedError("InvalidIdentityToken", MSG_NO_PROVIDER.format(iss=claims.iss))
        try:
            keys = self.keys.fetch(claims.iss)
        except IdpUnreachableError as exc:
            raise StsRejectedError("IDPCommunicationError", MSG_IDP_UNREACHABLE) from exc
        except IdpKeysError as exc:
            raise StsRejectedError("InvalidIdentityToken", MSG_NO_KEY) from exc
        kid = header.get("kid")
        if isinstance(kid, str) and kid not in keys.keys:
            raise StsRejectedError("InvalidIdentityToken", MSG_NO_KEY)
        if not keys.trusted_root_ca:
            pinned = {t.lower() for t in provider.thumbprints}
            if not pinned.intersection(t.lower() for t in keys.presented_thumbprints):
                raise StsRejectedError("InvalidIdentityToken", MSG_THUMBPRINT)
        verify_signature(token, header, keys)
        _check_validity(claims, now)
        if not set(claims.aud).intersection(provider.client_ids):
            raise StsRejectedError("InvalidIdentityToken", MSG_AUDIENCE)
        facts = IdpFacts(
            presented_thumbprints=keys.presented_thumbprints,
            trusted_root_ca=keys.trusted_root_ca,
            jwks_reachable=True,
            jwks_kids=keys.kids,
            signature_valid=True,
        )
        return provider, facts

    def _cognito(
        self, token: Token, header: Mapping[str, object], claims: _Claims, now: datetime
    ) -> tuple[None, IdpFacts, str]:
        if self.cognito is None:
            raise StsRejectedError("InvalidIdentityToken", MSG_INVALID_IDENTITY)
        keys = self.cognito.keys()
        verify_signature(token, header, keys)
        _check_validity(claims, now)
        if not all(self.cognito.pool_exists(aud) for aud in claims.aud):
            raise StsRejectedError("InvalidIdentityToken", MSG_AUDIENCE)
        facts = IdpFacts(jwks_reachable=True, jwks_kids=keys.kids, signature_valid=True)
        return None, facts, COGNITO_PROVIDER


class CognitoVerifier(Protocol):
    """The built-in Cognito identity issuer as the local environment runs it."""

    def keys(self) -> IssuerKeys: ...

    def pool_exists(self, identity_pool_id: str) -> bool: ...


def _check_validity(claims: _Claims, now: datetime) -> None:
    instant = now.timestamp()
    if claims.exp <= instant:
        raise StsRejectedError("ExpiredTokenException", MSG_EXPIRED.format(now=int(instant), exp=int(claims.exp)))
    # STS does not document `nbf`; a token not yet valid is refused as an invalid token, as OIDC Core requires.
    if claims.nbf is not None and claims.nbf > instant:
        raise StsRejectedError("InvalidIdentityToken", MSG_INVALID_IDENTITY)


def _check_session_policy(policy: str) -> None:
    try:
        document = json.loads(policy)
    except ValueError as exc:
        raise StsRejectedError("MalformedPolicyDocument", MSG_POLICY_MALFORMED) from exc
    if not isinstance(document, dict) or "Statement" not in document:
        raise StsRejectedError("MalformedPolicyDocument", MSG_POLICY_MALFORMED)
