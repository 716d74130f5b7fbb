"""The embedded local AWS: moto in-process or moto's server app on 127.0.0.1, with the strict STS in front.

moto runs its backends in this process in both modes, so one hook serves both: while a `StrictStsInstallation`
is active, moto's AssumeRoleWithWebIdentity handler is replaced by one that asks the strict STS first and
answers with AWS's error responses, and moto's Cognito identity tokens become real signed JWTs the strict STS
can verify. Leaving the installation restores stock moto (the self-tests prove the difference).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socketserver
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self
from xml.sax.saxutils import escape

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from moto import mock_aws
from moto.cognitoidentity.models import cognitoidentity_backends
from moto.cognitoidentity.responses import CognitoIdentityResponse
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer

from webid_canary.adapters.iam import policy_text, role_name
from webid_canary.app.ports import RoleRecord
from webid_canary.core.model import ProviderRecord, Token
from webid_canary.local.lifecycle import Running
from webid_canary.local.strict_sts import (
    COGNITO_ISSUER,
    CachedKeySource,
    HttpsKeySource,
    IssuerKeys,
    KeySource,
    StrictSts,
    StsRejectedError,
    WebIdentityRequest,
)

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT: Final = "123456789012"
# Fake credentials for the emulator; moto accepts any.
FAKE_CREDENTIALS: Final[Mapping[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
QUIET_LOGGERS: Final = ("werkzeug", "moto", "botocore.credentials")
STS_XMLNS: Final = "https://sts.amazonaws.com/doc/2011-06-15/"
# Cognito identity signs its OpenID tokens with RS512 (Cognito Developer Guide, "Developer-authenticated
# identities": tokens are verified against https://cognito-identity.amazonaws.com/.well-known/jwks_uri).
COGNITO_ALG: Final = "RS512"
COGNITO_TOKEN_SECONDS: Final = 900


class StsErrorResponse(HTTPException):
    """An STS error as AWS sends it: query-protocol XML, the error code, and the HTTP status."""

    def __init__(self, error: StsRejectedError) -> None:
        body = (
            f'<ErrorResponse xmlns="{STS_XMLNS}"><Error><Type>Sender</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        super().__init__(description=body)
        self.code = error.status
        self.error_code = error.code

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", self.error_code)]


class MotoDirectory:
    """Roles and OIDC providers read straight from moto's IAM backends (STS is part of AWS; it sees IAM)."""

    def find_provider(self, account_id: str, partition: str, url: str) -> ProviderRecord | None:
        backend = iam_backends[account_id][partition]
        arn = f"arn:{partition}:iam::{account_id}:oidc-provider/{url}"
        found = backend.open_id_providers.get(arn)
        if found is None:
            return None
        return ProviderRecord(
            url=found.url,
            client_ids=tuple(found.client_id_list),
            thumbprints=tuple(t.lower() for t in found.thumbprint_list),
            arn=found.arn,
        )

    def get_role(self, role_arn: str) -> RoleRecord | None:
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam":
            return None
        partition, account_id = parts[1], parts[4]
        if account_id not in iam_backends:
            return None
        backend = iam_backends[account_id][partition]
        wanted = role_name(role_arn)
        role = next((r for r in backend.get_roles() if r.name == wanted and r.arn == role_arn), None)
        if role is None:
            return None
        return RoleRecord(
            arn=role.arn,
            name=role.name,
            trust_policy_document=policy_text(role.assume_role_policy_document),
            max_session_duration=int(role.max_session_duration or 3600),
        )


class LocalCognitoIdentity:
    """The built-in issuer https://cognito-identity.amazonaws.com as the local environment runs it.

    Stock moto returns a random "region:uuid" string as the OpenID token, which is no JWT. While the strict STS
    is installed, GetOpenIdToken and GetOpenIdTokenForDeveloperIdentity return RS512 JWTs shaped like
    Cognito's (iss, sub = identity id, aud = identity pool id, amr), signed by a key held here. The strict STS
    verifies signature, `exp` and that `aud` is an identity pool moto knows. Not verified, because AWS's own
    issuer cannot be reached from here: the TLS chain and JWKS of the real cognito-identity.amazonaws.com.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._private: rsa.RSAPrivateKey | None = None
        self.kid = f"local-cognito-{uuid.uuid4().hex[:8]}"

    @property
    def _key(self) -> rsa.RSAPrivateKey:
        """The signing key, made on first use (most tests never touch Cognito)."""
        with self._lock:
            if self._private is None:
                self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._private

    def keys(self) -> IssuerKeys:
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return IssuerKeys.from_jwks({"keys": [{**public, "kid": self.kid, "alg": COGNITO_ALG, "use": "sig"}]})

    def pool_exists(self, identity_pool_id: str) -> bool:
        region = identity_pool_id.split(":", 1)[0]
        for account_id in list(cognitoidentity_backends):
            for partition_region in list(cognitoidentity_backends[account_id]):
                if partition_region != region:
                    continue
                if identity_pool_id in cognitoidentity_backends[account_id][region].identity_pools:
                    return True
        return False

    def mint(self, *, identity_pool_id: str, identity_id: str, logins: Mapping[str, str], duration: int) -> str:
        """A Cognito-shaped OpenID token (claims per the Cognito Developer Guide, "Role trust and permissions")."""
        issued = int(time.time())
        amr: list[str] = ["authenticated"] if logins else ["unauthenticated"]
        for provider, user in logins.items():
            amr += [provider, f"{provider}:{identity_pool_id}:{user}"]
        payload = {
            "iss": COGNITO_ISSUER,
            "sub": identity_id,
            "aud": identity_pool_id,
            "amr": amr,
            "iat": issued,
            "exp": issued + duration,
        }
        return jwt.encode(payload, self._key, algorithm=COGNITO_ALG, headers={"kid": self.kid})


@dataclass
class StrictStsInstallation:
    """The strict STS, installed into moto while this object is active (a context manager)."""

    sts: StrictSts
    cache: CachedKeySource | None = None
    cognito: LocalCognitoIdentity | None = None
    # The CloudTrail records of the calls STS logs (AccessDenied from the trust policy, and successes), in order.
    trail_records: list[Mapping[str, object]] = field(default_factory=list)

    def __enter__(self) -> Self:
        _install(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _uninstall(self)

    def clear_jwks_cache(self, issuer: str | None = None) -> None:
        """Forget fetched keys (all, or one issuer's), so the next request fetches the JWKS again."""
        if self.cache is not None:
            self.cache.clear(issuer)


_lock = threading.RLock()
_active: list[StrictStsInstallation] = []
_originals: dict[str, Callable[..., Any]] = {}


def strict_sts_installed() -> bool:
    """Whether moto currently answers AssumeRoleWithWebIdentity through the strict STS."""
    with _lock:
        return bool(_active)


def _current() -> StrictStsInstallation | None:
    with _lock:
        return _active[-1] if _active else None


def _install(installation: StrictStsInstallation) -> None:
    with _lock:
        if not _active:
            _originals["sts"] = TokenResponse.assume_role_with_web_identity
            _originals["cognito_dev"] = CognitoIdentityResponse.get_open_id_token_for_developer_identity
            _originals["cognito"] = CognitoIdentityResponse.get_open_id_token
            TokenResponse.assume_role_with_web_identity = _strict_assume_role_with_web_identity  # type: ignore[method-assign]
            CognitoIdentityResponse.get_open_id_token_for_developer_identity = _cognito_dev_token  # type: ignore[method-assign]
            CognitoIdentityResponse.get_open_id_token = _cognito_token  # type: ignore[method-assign]
        _active.append(installation)


def _uninstall(installation: StrictStsInstallation) -> None:
    with _lock:
        if installation in _active:
            _active.remove(installation)
        if not _active and _originals:
            TokenResponse.assume_role_with_web_identity = _originals.pop("sts")  # type: ignore[method-assign]
            CognitoIdentityResponse.get_open_id_token_for_developer_identity = _originals.pop("cognito_dev")  # type: ignore[method-assign]
            CognitoIdentityResponse.get_open_id_token = _originals.pop("cognito")  # type: ignore[method-assign]


def _int_param(response: TokenResponse, name: str) -> int | None:
    value = response._get_param(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise StsErrorResponse(
            StsRejectedError(
                "ValidationError",
                f"1 validation error detected: Value '{value}' at '{name[0].lower() + name[1:]}' "
                "failed to satisfy constraint: Member must be a number",
            )
        ) from exc


def _strict_assume_role_with_web_identity(self: TokenResponse) -> ActionResult:
    installation = _current()
    if installation is None:  # uninstalled while a request was in flight
        return _originals["sts"](self)  # type: ignore[no-any-return]
    token = self._get_param("WebIdentityToken")
    request = WebIdentityRequest(
        role_arn=self._get_param("RoleArn"),
        role_session_name=self._get_param("RoleSessionName"),
        token=None if token is None else Token(str(token)),
        duration_seconds=_int_param(self, "DurationSeconds"),
        policy=self._get_param("Policy"),
        user_agent=self.headers.get("User-Agent") if self.headers else None,
    )
    try:
        accepted = installation.sts.assume(request)
    except StsRejectedError as exc:
        raise StsErrorResponse(exc) from exc
    role = self.backend.assume_role_with_web_identity(
        region_name=self.region,
        role_session_name=accepted.session_name,
        role_arn=accepted.role_arn,
        policy=accepted.policy,
        duration=accepted.duration_seconds,
        external_id=None,
    )
    result = {
        "Credentials": role,
        "SubjectFromWebIdentityToken": accepted.subject,
        "AssumedRoleUser": {"AssumedRoleId": role.user_id, "Arn": role.arn},
        "PackedPolicySize": 6 if accepted.policy else None,
        "Provider": accepted.provider,
        "Audience": accepted.audience,
    }
    return ActionResult({k: v for k, v in result.items() if v is not None})


def _cognito_mint(self: CognitoIdentityResponse, *, developer: bool) -> str:
    installation = _current()
    issuer = None if installation is None else installation.cognito
    if issuer is None:
        original = _originals["cognito_dev" if developer else "cognito"]
        return str(original(self))
    identity_id = self._get_param("IdentityId") or f"{self.region}:{uuid.uuid4()}"
    pool_id = self._get_param("IdentityPoolId") or ""
    if not developer:
        pool_id = _pool_of_identity(identity_id) or pool_id
    logins = self._get_param("Logins") or {}
    duration = int(self._get_param("TokenDuration") or COGNITO_TOKEN_SECONDS)
    token = issuer.mint(
        identity_pool_id=str(pool_id), identity_id=str(identity_id), logins=dict(logins), duration=duration
    )
    return json.dumps({"IdentityId": identity_id, "Token": token})


def _pool_of_identity(identity_id: str) -> str | None:
    for account_id in list(cognitoidentity_backends):
        for region in list(cognitoidentity_backends[account_id]):
            backend = cognitoidentity_backends[account_id][region]
            for pool_id, known in backend.pools_identities.items():
                if any(i.get("IdentityId") == identity_id for i in known.get("Identities", [])):
                    return str(pool_id)
    return None


def _cognito_dev_token(self: CognitoIdentityResponse) -> str:
    return _cognito_mint(self, developer=True)


def _cognito_token(self: CognitoIdentityResponse) -> str:
    return _cognito_mint(self, developer=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def strict_sts_service(
    keys: KeySource,
    *,
    clock: Callable[[], datetime] = _utcnow,
    cache_seconds: float | None = None,
) -> StrictStsInstallation:
    """A strict STS over moto's IAM, fetching keys through `keys` (cached per issuer), ready to install."""
    cache = CachedKeySource(keys) if cache_seconds is None else CachedKeySource(keys, ttl_seconds=cache_seconds)
    cognito = LocalCognitoIdentity()
    sts = StrictSts(directory=MotoDirectory(), keys=cache, clock=clock, cognito=cognito)
    installation = StrictStsInstallation(sts=sts, cache=cache, cognito=cognito)
    sts.trail = installation.trail_records.append
    return installation


def local_strict_sts(ca_file: str, *, ca_file_is_public: bool = False) -> StrictStsInstallation:
    """The strict STS the local environment uses: loopback issuers allowed, the local PKI's roots trusted."""
    return strict_sts_service(HttpsKeySource(ca_file=ca_file, allow_private=True, ca_file_is_public=ca_file_is_public))


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Silence the emulator's per-request logging for the duration."""
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class LocalAws(Running):
    """moto in-process (`mock_aws`) with the strict STS installed; boto3 clients made here reach it."""

    def __init__(
        self,
        installation: StrictStsInstallation | None,
        *,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.installation = installation
        self.region = region
        self._stack: contextlib.ExitStack | None = None

    def start(self) -> Self:
        stack = contextlib.ExitStack()
        stack.enter_context(quiet_logs())
        mock = mock_aws()
        mock.start()
        stack.callback(mock.stop)
        if self.installation is not None:
            stack.enter_context(self.installation)
        self._stack = stack
        return self

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for this environment (fake credentials, the environment's region)."""
        return _client(service, region=self.region, endpoint_url=None, **kwargs)

    def clear_jwks_cache(self, issuer: str | None = None) -> None:
        """Make the strict STS fetch issuers' keys again (after a key rotation)."""
        if self.installation is not None:
            self.installation.clear_jwks_cache(issuer)


class _LoopbackWsgiServer(ThreadedWSGIServer):
    """werkzeug's threaded server named by its address: HTTPServer.server_bind would ask DNS (getfqdn) for a name."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class LocalMotoServer(Running):
    """moto's server app on 127.0.0.1 (port chosen by the OS, threaded) with the strict STS installed."""

    def __init__(
        self,
        installation: StrictStsInstallation | None,
        *,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
    ) -> None:
        self.installation = installation
        self.region = region
        self._host = host
        self._server: _LoopbackWsgiServer | None = None
        self._thread: threading.Thread | None = None
        self._stack: contextlib.ExitStack | None = None

    def start(self) -> Self:
        stack = contextlib.ExitStack()
        stack.enter_context(quiet_logs())
        try:
            # The app and handler moto's ThreadedMotoServer uses, in a server that makes no name lookup.
            server = _LoopbackWsgiServer(
                self._host, 0, DomainDispatcherApplication(create_backend_app), MotoRequestHandler
            )
        except SystemExit as exc:  # werkzeug prints why it cannot listen, then exits
            stack.close()
            raise RuntimeError(f"moto server cannot listen on {self._host}") from exc
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        stack.callback(self._shutdown)
        if self.installation is not None:
            stack.enter_context(self.installation)
        self._stack = stack
        return self

    def _shutdown(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the moto server is not started")
        return f"http://{self._server.host}:{self._server.port}"

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client talking HTTP to this server."""
        return _client(service, region=self.region, endpoint_url=self.endpoint_url, **kwargs)

    def environment(self) -> dict[str, str]:
        """Environment variables that point any AWS SDK or CLI process at this server (fake credentials)."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": self.region}

    def clear_jwks_cache(self, issuer: str | None = None) -> None:
        """Make the strict STS fetch issuers' keys again (after a key rotation)."""
        if self.installation is not None:
            self.installation.clear_jwks_cache(issuer)

    def reset(self) -> None:
        """Drop every resource the server holds (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (http://127.0.0.1, built above)
            pass


def _client(service: str, *, region: str, endpoint_url: str | None, **kwargs: Any) -> Any:
    kwargs.setdefault("aws_access_key_id", FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"])
    kwargs.setdefault("aws_secret_access_key", FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    kwargs.setdefault("aws_session_token", FAKE_CREDENTIALS["AWS_SESSION_TOKEN"])
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, **kwargs)  # type: ignore[call-overload]


def sts_client(environment: LocalAws | LocalMotoServer) -> STSClient:
    """An STS client for the environment (typed, for the probes and the self-tests)."""
    client: STSClient = environment.client("sts")
    return client
