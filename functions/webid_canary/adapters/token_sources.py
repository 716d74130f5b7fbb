"""Fetch a real token for a live probe: OAuth client credentials, Cognito developer identities, or a stored token.

Secrets are read only under names.SECRET_PREFIX. No error message carries a secret or a token: reasons name the
source, the secret id, the HTTP status or AWS error code, never a value. Token endpoints are reached through
adapters.net: the same address guard as issuers, and one total time budget per fetch.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary import names
from webid_canary.adapters import net
from webid_canary.adapters.aws import translate
from webid_canary.app.ports import AwsThrottledError, AwsUnavailableError
from webid_canary.core.model import Token
from webid_canary.core.targets import (
    ClientCredentialsSource,
    CognitoDeveloperIdentitySource,
    SecretSource,
    TokenSource,
    secret_name,
)
from webid_canary.redaction import scrub

DEFAULT_TIMEOUT: Final = 5.0
MAX_RESPONSE_BYTES: Final = 64 * 1024
COGNITO_TOKEN_SECONDS: Final = 900
# JSON keys under which a stored secret may keep its value, tried in order.
CLIENT_SECRET_KEYS: Final = ("client_secret", "secret")
TOKEN_KEYS: Final = ("token", "id_token", "access_token", "jwt")

_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_REGION = re.compile(r"arn:aws(?:-[a-z]+)*:secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d+):")


class TokenSourceError(RuntimeError):
    """No token could be had from a source; names the source and the reason, never a secret."""

    def __init__(self, source: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.retryable = retryable


class SecretNotAllowedError(TokenSourceError):
    """The secret lies outside the product's prefix: the monitor may not read it."""


class SecretUnavailableError(TokenSourceError):
    """Secrets Manager did not hand out the secret (absent, denied, undecryptable, throttled)."""


class TokenEndpointError(TokenSourceError):
    """The OAuth token endpoint could not be used or refused the client."""


class CognitoTokenError(TokenSourceError):
    """Cognito did not issue a token for the developer identity."""


class NotAJwtError(TokenSourceError):
    """What came back is not a JWT, so STS could not accept it either."""


# AWS error code -> what it means for a token source, in words; whether a retry may help comes from the one
# AWS error hierarchy (adapters/aws.py): throttled or unavailable.
REASONS: Final[Mapping[str, str]] = {
    "ResourceNotFoundException": "not found",
    "AccessDeniedException": "access denied to the monitor's role",
    "NotAuthorizedException": "not authorized",
    "DecryptionFailure": "cannot be decrypted with its KMS key",
    "InvalidRequestException": "not usable (marked for deletion?)",
    "InvalidParameterException": "invalid parameter",
    "DeveloperUserAlreadyRegisteredException": "login id already linked to another identity",
    "ResourceConflictException": "conflicts with an existing identity",
    "ExternalServiceException": "an external identity provider failed",
    "ThrottlingException": "throttled",
    "TooManyRequestsException": "throttled",
    "LimitExceededException": "limit exceeded",
    "InternalServiceError": "AWS failed on its side",
    "InternalErrorException": "AWS failed on its side",
    "NoCredentials": "no AWS credentials",
}


def _aws_call(error: type[TokenSourceError], source: str, operation: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        failure = translate(operation, exc)
        retryable = isinstance(failure, AwsThrottledError | AwsUnavailableError)
        reason = REASONS.get(failure.code, "failed" if isinstance(exc, ClientError) else failure.message)
        raise error(source, f"{operation}: {failure.code}: {reason}", retryable=retryable) from exc


def _check_jwt(value: str, source: str, what: str) -> str:
    text = value.strip()
    if _JWT.fullmatch(text):
        header = text.split(".", 1)[0]
        try:
            decoded = net.load_json(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (binascii.Error, ValueError) as exc:
            raise NotAJwtError(source, f"{what} is not a JWT (its header is not JSON)") from exc
        if isinstance(decoded, dict) and isinstance(decoded.get("alg"), str):
            return text
    raise NotAJwtError(source, f"{what} is not a JWT ({len(text)} characters, not three base64url parts)")


class TokenFetcher:
    """Fetch a token for a target's TokenSource; boto3 clients are made from `session` on first use."""

    def __init__(
        self,
        session: Any,
        *,
        ca_file: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private: bool = False,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._session = session
        self._ca_file = ca_file
        self._timeout = timeout
        self._allow_private = allow_private
        self._max_bytes = max_bytes
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def fetch(self, source: TokenSource, *, deadline: float | None = None) -> Token:
        """A fresh token from the source; raises a TokenSourceError subclass saying why not.

        A client-credentials fetch (secret read, lookup, handshake, request and every read of the answer) ends
        within the fetcher's `timeout`, or by `deadline` (a time.monotonic() value) when that comes first."""
        match source:
            case ClientCredentialsSource():
                budget = net.Deadline.after(self._timeout, "the token fetch's")
                return self._client_credentials(source, budget.sooner(_caller(deadline)))
            case CognitoDeveloperIdentitySource():
                return self._cognito(source)
            case SecretSource():
                return self._stored(source)
        raise TypeError(f"unknown token source {source!r}")  # pragma: no cover - exhaustive above

    # --- secrets -------------------------------------------------------------------------------------------

    def read_secret(self, secret_id: str, source: str) -> str:
        """The secret's text; refused outside names.SECRET_PREFIX before any call is made."""
        name = secret_name(secret_id)
        if not name.startswith(names.SECRET_PREFIX) or name == names.SECRET_PREFIX:
            raise SecretNotAllowedError(
                source, f"secret {secret_id!r} is outside {names.SECRET_PREFIX!r}; the monitor reads only those"
            )
        region = match.group(1) if (match := _SECRET_REGION.match(secret_id)) else None
        client = self._client("secretsmanager", region)
        answer = _aws_call(
            SecretUnavailableError,
            source,
            f"secret {secret_id}: GetSecretValue",
            lambda: client.get_secret_value(SecretId=secret_id),
        )
        if "SecretString" in answer:
            return str(answer["SecretString"])
        try:
            return bytes(answer.get("SecretBinary", b"")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SecretUnavailableError(source, f"secret {secret_id}: binary value is not UTF-8 text") from exc

    def _secret_field(self, secret_id: str, source: str, keys: tuple[str, ...]) -> str:
        text = self.read_secret(secret_id, source).strip()
        if text.startswith("{"):
            try:
                document = net.load_json(text)
            except ValueError as exc:
                raise SecretUnavailableError(source, f"secret {secret_id}: looks like JSON but does not parse") from exc
            value = next((document[k] for k in keys if isinstance(document, dict) and k in document), None)
            if not isinstance(value, str) or not value:
                raise SecretUnavailableError(
                    source, f"secret {secret_id}: a JSON secret needs a string under one of {', '.join(keys)}"
                )
            return value
        if not text:
            raise SecretUnavailableError(source, f"secret {secret_id}: empty")
        return text

    # --- the three kinds -----------------------------------------------------------------------------------

    def _stored(self, source: SecretSource) -> Token:
        where = source.describe()
        value = self._secret_field(source.secret_id, where, TOKEN_KEYS)
        return Token(_check_jwt(value, where, f"the value of secret {source.secret_id}"))

    def _cognito(self, source: CognitoDeveloperIdentitySource) -> Token:
        where = source.describe()
        client = self._client("cognito-identity", source.region)
        answer = _aws_call(
            CognitoTokenError,
            where,
            "GetOpenIdTokenForDeveloperIdentity",
            lambda: client.get_open_id_token_for_developer_identity(
                IdentityPoolId=source.identity_pool_id,
                Logins={source.developer_provider_name: source.login_id},
                TokenDuration=COGNITO_TOKEN_SECONDS,
            ),
        )
        token = answer.get("Token")
        if not isinstance(token, str) or not token:
            raise CognitoTokenError(where, "GetOpenIdTokenForDeveloperIdentity returned no token")
        return Token(token)

    def _client_credentials(self, source: ClientCredentialsSource, deadline: net.Deadline) -> Token:
        where = source.describe()
        secret = self._secret_field(source.secret_id, where, CLIENT_SECRET_KEYS)
        form = {"grant_type": "client_credentials"}
        form |= {k: v for k, v in (("scope", source.scope), ("audience", source.audience)) if v}
        form |= {"resource": source.resource} if source.resource else {}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if source.auth_method == "client_secret_post":
            form |= {"client_id": source.client_id, "client_secret": secret}
        else:
            pair = f"{quote(source.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        status, body = self._post(source.token_endpoint, urlencode(form).encode(), headers, where, deadline)
        try:
            document = net.load_json(body)
        except ValueError:
            document = None
        if status != 200:
            raise TokenEndpointError(
                where, _http_reason(status, document, secret), retryable=status == 429 or status >= 500
            )
        if not isinstance(document, dict):
            raise TokenEndpointError(where, "HTTP 200 but the answer is not a JSON object")
        value = document.get(source.token_field)
        if not isinstance(value, str) or not value:
            present = sorted(k for k in document if k.endswith("token"))
            raise TokenEndpointError(
                where, f"the answer has no {source.token_field} (token fields present: {', '.join(present) or 'none'})"
            )
        what = f"the {source.token_field} returned"
        if source.token_field == "access_token":  # noqa: S105 - a field name
            what += " (an opaque access token: ask the issuer for JWT access tokens, e.g. with a resource)"
        return Token(_check_jwt(value, where, what))

    # --- plumbing ------------------------------------------------------------------------------------------

    def _client(self, service: str, region: str | None) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                options = {} if region is None else {"region_name": region}
                self._clients[key] = self._session.client(service, **options)
            return self._clients[key]

    def _context(self, where: str) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                context = ssl.create_default_context()
                if self._ca_file:
                    try:
                        context.load_verify_locations(cafile=self._ca_file)
                    except (OSError, ssl.SSLError) as exc:
                        raise TokenEndpointError(where, f"CA file {self._ca_file} cannot be used: {exc}") from exc
                self._ssl = context
            return self._ssl

    def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], where: str, deadline: net.Deadline
    ) -> tuple[int, bytes]:
        if not url.startswith("https://"):
            raise TokenEndpointError(where, f"token endpoint {net.printable(url)} is not an https:// URL; refused")
        try:
            parts = net.split_url(url, allow_query=True)
            addresses = net.checked_addresses(
                parts.host, parts.port, allow_private=self._allow_private, deadline=deadline
            )
            tls = net.open_tls(parts.host, parts.port, addresses, self._context(where), deadline)
        except net.UrlError as exc:
            raise TokenEndpointError(where, f"token endpoint {exc}; refused") from exc
        except net.RefusedError as exc:
            hint = "" if exc.always else "; refused unless private issuers are allowed"
            raise TokenEndpointError(where, f"{exc.reason}{hint}") from exc
        except net.TlsError as exc:
            hint = "; a private CA needs the CA file" if exc.unverified else ""
            raise TokenEndpointError(where, f"{exc}{hint}", retryable=not exc.unverified) from exc
        except net.NetError as exc:
            raise TokenEndpointError(where, str(exc), retryable=True) from exc
        try:
            answer = net.exchange(
                tls, parts, "POST", headers=headers, body=body, deadline=deadline, max_bytes=self._max_bytes
            )
        except net.TooLargeError as exc:
            raise TokenEndpointError(where, f"answer larger than {self._max_bytes} bytes; refused") from exc
        except net.NetError as exc:
            raise TokenEndpointError(where, str(exc), retryable=True) from exc
        finally:
            tls.close()
        if 300 <= answer.status < 400:
            raise TokenEndpointError(
                where, f"HTTP {answer.status}: redirects are not followed (a token endpoint answers)"
            )
        return answer.status, answer.body


def _caller(deadline: float | None) -> net.Deadline | None:
    return None if deadline is None else net.Deadline.at_monotonic(deadline)


def _http_reason(status: int, document: object, secret: str) -> str:
    """`HTTP 401: invalid_client (description)`, with the secret blanked out in every form an endpoint may echo
    it (raw, URL-encoded, JSON-escaped) and anything else that looks like a credential."""
    reason = f"HTTP {status}"
    if isinstance(document, dict):
        code, description = document.get("error"), document.get("error_description")
        if isinstance(code, str):
            reason += f": {code[:80]}"
        if isinstance(description, str) and description:
            reason += f" ({description[:200]})"
    return scrub(reason, [secret])
