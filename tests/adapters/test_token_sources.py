"""TokenFetcher against moto (Secrets Manager, Cognito) and a small HTTPS token endpoint on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from webid_canary.adapters.token_sources import (
    CognitoTokenError,
    NotAJwtError,
    SecretNotAllowedError,
    SecretUnavailableError,
    TokenEndpointError,
    TokenFetcher,
    TokenSourceError,
)
from webid_canary.core.model import Token
from webid_canary.core.targets import ClientCredentialsSource, CognitoDeveloperIdentitySource, SecretSource
from webid_canary.local.npm_provider import NpmOpenIdProvider
from webid_canary.local.pki import Pki

REGION = "eu-west-1"
CLIENT_ID = "canary-client"
CLIENT_SECRET = "s3cr3t:with/odd+chars"
SIGNING_KEY = "test-signing-key-for-the-local-endpoint-only"


def make_jwt(**claims: Any) -> str:
    return jwt.encode({"sub": "canary", "aud": "sts.amazonaws.com", **claims}, SIGNING_KEY, algorithm="HS256")


@dataclass
class Endpoint:
    """What the local token endpoint answers and what it was sent."""

    url: str
    ca_file: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answer: dict[str, Any] | None = None
    raw: bytes | None = None
    delay: float = 0.0
    drip: float = 0.0
    echo_encoded: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        endpoint.requests.append({"path": self.path, "form": form, "authorization": self.headers.get("Authorization")})
        if endpoint.delay:
            time.sleep(endpoint.delay)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            pair = base64.b64decode(auth[6:]).decode()
            client_id, secret = (unquote(p) for p in pair.split(":", 1))
        if endpoint.raw is not None:
            payload, status = endpoint.raw, endpoint.status
        elif (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            shown = quote(secret or "", safe="") if endpoint.echo_encoded else secret
            payload = json.dumps(
                {"error": "invalid_client", "error_description": f"client authentication failed for {shown}"}
            ).encode()
            status = 401
        else:
            answer = endpoint.answer or {"access_token": make_jwt(scope=form.get("scope")), "token_type": "Bearer"}
            payload, status = json.dumps(answer).encode(), endpoint.status
        if endpoint.drip:
            head = f"HTTP/1.0 {status} OK\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            with contextlib.suppress(OSError):
                for byte in head + payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(endpoint.drip)
            return
        self.send_response(status)
        for key, value in endpoint.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: Endpoint


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    authority = Pki()
    yield authority
    authority.close()


@pytest.fixture
def endpoint(pki: Pki) -> Iterator[Endpoint]:
    cert, key = pki.write(pki.new_chain(("127.0.0.1", "localhost")))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.endpoint = Endpoint(
        url=f"https://127.0.0.1:{server.server_address[1]}/oauth2/token", ca_file=str(pki.ca_file)
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        aws = boto3.session.Session(region_name=REGION)
        aws.client("secretsmanager").create_secret(Name="webid-canary/acme-client", SecretString=CLIENT_SECRET)
        yield aws


def fetcher(session: Any, endpoint: Endpoint, **options: Any) -> TokenFetcher:
    options = {"ca_file": endpoint.ca_file, "allow_private": True, **options}
    return TokenFetcher(session, **options)


def client_source(endpoint: Endpoint, **changes: Any) -> ClientCredentialsSource:
    fields: dict[str, Any] = {
        "token_endpoint": endpoint.url,
        "client_id": CLIENT_ID,
        "secret_id": "webid-canary/acme-client",
    }
    return ClientCredentialsSource(**(fields | changes))


def assert_no_secret(error: BaseException) -> None:
    assert CLIENT_SECRET not in str(error)
    assert CLIENT_SECRET not in repr(error)


# --- client credentials ------------------------------------------------------------------------------------


def test_client_credentials_posts_basic_auth_and_returns_the_access_token(session: Any, endpoint: Endpoint) -> None:
    source = client_source(endpoint, scope="api://canary/.default", audience="sts.amazonaws.com", resource="urn:x")

    token = fetcher(session, endpoint).fetch(source)

    assert isinstance(token, Token)
    assert jwt.decode(token.value, SIGNING_KEY, algorithms=["HS256"], audience="sts.amazonaws.com")["scope"] == (
        "api://canary/.default"
    )
    assert token.value not in repr(token)
    (request,) = endpoint.requests
    assert request["path"] == "/oauth2/token"
    assert request["form"] == {
        "grant_type": "client_credentials",
        "scope": "api://canary/.default",
        "audience": "sts.amazonaws.com",
        "resource": "urn:x",
    }
    assert request["authorization"].startswith("Basic ")


def test_client_secret_post_sends_the_credentials_in_the_body(session: Any, endpoint: Endpoint) -> None:
    fetcher(session, endpoint).fetch(client_source(endpoint, auth_method="client_secret_post"))

    (request,) = endpoint.requests
    assert request["authorization"] is None
    assert request["form"]["client_id"] == CLIENT_ID
    assert request["form"]["client_secret"] == CLIENT_SECRET


def test_client_secret_may_be_kept_as_json(session: Any, endpoint: Endpoint) -> None:
    session.client("secretsmanager").create_secret(
        Name="webid-canary/json-client", SecretString=json.dumps({"client_secret": CLIENT_SECRET})
    )

    token = fetcher(session, endpoint).fetch(client_source(endpoint, secret_id="webid-canary/json-client"))

    assert token.value.count(".") == 2


def test_id_token_field_is_taken_when_asked_for(session: Any, endpoint: Endpoint) -> None:
    endpoint.answer = {"access_token": "opaque-value", "id_token": make_jwt(kind="id")}

    token = fetcher(session, endpoint).fetch(client_source(endpoint, token_field="id_token"))

    assert jwt.decode(token.value, SIGNING_KEY, algorithms=["HS256"], audience="sts.amazonaws.com")["kind"] == "id"


def test_opaque_access_token_is_refused_with_the_reason(session: Any, endpoint: Endpoint) -> None:
    endpoint.answer = {"access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "Bearer"}

    with pytest.raises(NotAJwtError, match="not a JWT") as caught:
        fetcher(session, endpoint).fetch(client_source(endpoint))

    assert "2YotnFZFEjr1zCsicMWpAA" not in str(caught.value)
    assert "opaque access token" in str(caught.value)


def test_a_token_whose_header_is_absurdly_nested_is_not_a_jwt(session: Any, endpoint: Endpoint) -> None:
    header = base64.urlsafe_b64encode(b"[" * 20_000 + b"]" * 20_000).rstrip(b"=").decode()
    endpoint.answer = {"access_token": f"{header}.eyJzdWIiOiJ4In0.c2ln", "token_type": "Bearer"}

    with pytest.raises(NotAJwtError, match=r"is not a JWT \(its header is not JSON\)"):
        fetcher(session, endpoint).fetch(client_source(endpoint))


def test_wrong_secret_is_reported_by_the_oauth_error_without_the_secret(session: Any, endpoint: Endpoint) -> None:
    session.client("secretsmanager").put_secret_value(
        SecretId="webid-canary/acme-client", SecretString="not-the-right-one"
    )

    with pytest.raises(TokenEndpointError) as caught:
        fetcher(session, endpoint).fetch(client_source(endpoint))

    assert "HTTP 401: invalid_client" in str(caught.value)
    assert "not-the-right-one" not in str(caught.value)
    assert "<redacted>" in str(caught.value)
    assert CLIENT_ID in caught.value.source
    assert not caught.value.retryable


def test_untrusted_certificate_is_refused_without_a_ca_file(session: Any, endpoint: Endpoint) -> None:
    with pytest.raises(TokenEndpointError, match="not trusted") as caught:
        fetcher(session, endpoint, ca_file=None).fetch(client_source(endpoint))

    assert endpoint.requests == []
    assert not caught.value.retryable


def test_loopback_endpoint_is_refused_unless_private_issuers_are_allowed(session: Any, endpoint: Endpoint) -> None:
    with pytest.raises(TokenEndpointError, match="loopback address") as caught:
        fetcher(session, endpoint, allow_private=False).fetch(client_source(endpoint))

    assert endpoint.requests == []
    assert_no_secret(caught.value)


def test_plain_http_endpoint_is_refused_before_any_request(session: Any, endpoint: Endpoint) -> None:
    source = client_source(endpoint, token_endpoint=endpoint.url.replace("https://", "http://"))

    with pytest.raises(TokenEndpointError, match="not an https:// URL"):
        fetcher(session, endpoint).fetch(source)

    assert endpoint.requests == []


def test_server_errors_and_throttling_are_retryable(session: Any, endpoint: Endpoint) -> None:
    for status in (503, 429):
        endpoint.status = status

        with pytest.raises(TokenEndpointError, match=f"HTTP {status}") as caught:
            fetcher(session, endpoint).fetch(client_source(endpoint))

        assert caught.value.retryable


def test_redirects_are_not_followed(session: Any, endpoint: Endpoint) -> None:
    endpoint.status = 302
    endpoint.headers = {"Location": "https://127.0.0.1:9/elsewhere"}

    with pytest.raises(TokenEndpointError, match="HTTP 302: redirects are not followed"):
        fetcher(session, endpoint).fetch(client_source(endpoint))

    assert len(endpoint.requests) == 1


def test_oversized_answer_is_refused(session: Any, endpoint: Endpoint) -> None:
    endpoint.raw = b"{" + b" " * 5000 + b"}"

    with pytest.raises(TokenEndpointError, match="larger than 1024 bytes"):
        fetcher(session, endpoint, max_bytes=1024).fetch(client_source(endpoint))


def test_answer_without_the_token_field_names_what_was_there(session: Any, endpoint: Endpoint) -> None:
    endpoint.answer = {"id_token": make_jwt()}

    with pytest.raises(TokenEndpointError, match=r"no access_token \(token fields present: id_token\)"):
        fetcher(session, endpoint).fetch(client_source(endpoint))


@pytest.mark.parametrize(
    ("slowness", "budget"),
    [
        ({"delay": 3.0}, 1.0),
        # One byte every 50 ms: no single read waits long, so only the fetch's total budget ends it.
        ({"drip": 0.05}, 1.0),
    ],
    ids=["silent", "dripping"],
)
def test_a_slow_endpoint_is_cut_off_at_the_fetch_budget_as_a_retryable_error(
    session: Any, endpoint: Endpoint, slowness: dict[str, float], budget: float
) -> None:
    for name, value in slowness.items():
        setattr(endpoint, name, value)

    with pytest.raises(TokenEndpointError) as caught:
        fetcher(session, endpoint, timeout=budget).fetch(client_source(endpoint))

    # Which step was cut off (most likely the answer) depends on the machine; the budget named does not.
    assert caught.value.reason.endswith(f" timed out after {budget:g} s (the token fetch's budget)")
    assert caught.value.retryable


def test_a_callers_deadline_cuts_a_token_fetch_short(session: Any, endpoint: Endpoint) -> None:
    endpoint.drip = 0.05

    with pytest.raises(TokenEndpointError, match=r"what was left before the caller's deadline"):
        fetcher(session, endpoint, timeout=30).fetch(client_source(endpoint), deadline=time.monotonic() + 0.5)


def test_a_secret_echoed_url_encoded_is_redacted_too(session: Any, endpoint: Endpoint) -> None:
    session.client("secretsmanager").put_secret_value(
        SecretId="webid-canary/acme-client", SecretString="not/the right+one:"
    )
    endpoint.echo_encoded = True

    with pytest.raises(TokenEndpointError) as caught:
        fetcher(session, endpoint).fetch(client_source(endpoint))

    assert quote("not/the right+one:", safe="") not in str(caught.value)
    assert "not/the" not in str(caught.value)
    assert "client authentication failed for <redacted>" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "https://169.254.169.254/latest/api/token",
            "169.254.169.254 is an instance metadata address (169.254.169.254)",
        ),
        ("https://169.254.170.2/v2/credentials", "169.254.170.2 is an instance metadata address (169.254.170.2)"),
        ("https://[::ffff:169.254.169.254]/", "is an instance metadata address in IPv4-mapped form"),
        ("https://[64:ff9b::a9fe:a9fe]/", "is an instance metadata address in NAT64 form"),
    ],
)
def test_metadata_endpoints_are_refused_even_when_private_issuers_are_allowed(
    session: Any, endpoint: Endpoint, url: str, reason: str
) -> None:
    with pytest.raises(TokenEndpointError) as caught:
        fetcher(session, endpoint, allow_private=True).fetch(client_source(endpoint, token_endpoint=url))

    assert reason in caught.value.reason
    assert "unless" not in caught.value.reason


def test_missing_client_secret_names_the_secret(session: Any, endpoint: Endpoint) -> None:
    with pytest.raises(SecretUnavailableError, match=r"webid-canary/absent.*ResourceNotFoundException: not found"):
        fetcher(session, endpoint).fetch(client_source(endpoint, secret_id="webid-canary/absent"))

    assert endpoint.requests == []


# --- secrets -----------------------------------------------------------------------------------------------


def test_secret_source_returns_a_stored_token_plain_or_in_json(session: Any) -> None:
    stored = make_jwt(sub="repo:acme/app:ref:refs/heads/main")
    secrets = session.client("secretsmanager")
    secrets.create_secret(Name="webid-canary/plain-token", SecretString=stored)
    secrets.create_secret(Name="webid-canary/json-token", SecretString=json.dumps({"token": stored}))
    tokens = TokenFetcher(session)

    assert tokens.fetch(SecretSource("webid-canary/plain-token")).value == stored
    assert tokens.fetch(SecretSource("webid-canary/json-token")).value == stored


def test_secret_source_accepts_a_secret_arn_under_the_prefix(session: Any) -> None:
    stored = make_jwt()
    arn = session.client("secretsmanager").create_secret(Name="webid-canary/by-arn", SecretString=stored)["ARN"]

    assert TokenFetcher(session).fetch(SecretSource(arn)).value == stored


def test_secret_outside_the_prefix_is_refused_without_reading_it(session: Any) -> None:
    secrets = session.client("secretsmanager")
    secrets.create_secret(Name="prod/database", SecretString=make_jwt())
    calls: list[str] = []
    tokens = TokenFetcher(session)
    tokens._client("secretsmanager", None).meta.events.register(
        "before-call.secretsmanager.*", lambda **_: calls.append("call")
    )

    with pytest.raises(SecretNotAllowedError, match="outside 'webid-canary/'"):
        tokens.fetch(SecretSource("prod/database"))

    assert calls == []


def test_secret_holding_something_else_than_a_jwt_is_refused_without_showing_it(session: Any) -> None:
    session.client("secretsmanager").create_secret(Name="webid-canary/password", SecretString="hunter2-password")

    with pytest.raises(NotAJwtError) as caught:
        TokenFetcher(session).fetch(SecretSource("webid-canary/password"))

    assert "hunter2" not in str(caught.value)
    assert "webid-canary/password" in str(caught.value)


def test_json_secret_without_a_token_key_says_which_keys_are_read(session: Any) -> None:
    session.client("secretsmanager").create_secret(Name="webid-canary/wrong-json", SecretString='{"value": "x"}')

    with pytest.raises(SecretUnavailableError, match="token, id_token, access_token, jwt"):
        TokenFetcher(session).fetch(SecretSource("webid-canary/wrong-json"))


def test_missing_secret_is_a_clear_error(session: Any) -> None:
    with pytest.raises(SecretUnavailableError) as caught:
        TokenFetcher(session).fetch(SecretSource("webid-canary/not-there"))

    assert caught.value.source == "secret (webid-canary/not-there)"
    assert "ResourceNotFoundException" in caught.value.reason
    assert isinstance(caught.value, TokenSourceError)


def test_secrets_manager_throttling_is_retryable(session: Any) -> None:
    tokens = TokenFetcher(session)
    client = tokens._client("secretsmanager", None)
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code="ThrottlingException")

        with pytest.raises(SecretUnavailableError, match="throttled") as caught:
            tokens.fetch(SecretSource("webid-canary/any"))

    assert caught.value.retryable


# --- Cognito -----------------------------------------------------------------------------------------------


def test_cognito_developer_identity_asks_the_pool_in_its_region(session: Any) -> None:
    cognito = session.client("cognito-identity", region_name="us-east-2")
    pool = cognito.create_identity_pool(
        IdentityPoolName="canary", AllowUnauthenticatedIdentities=False, DeveloperProviderName="login.acme"
    )["IdentityPoolId"]
    source = CognitoDeveloperIdentitySource(
        identity_pool_id=pool, developer_provider_name="login.acme", login_id="canary-user", region="us-east-2"
    )
    tokens = TokenFetcher(session)
    sent: list[dict[str, Any]] = []
    tokens._client("cognito-identity", "us-east-2").meta.events.register(
        "provide-client-params.cognito-identity.GetOpenIdTokenForDeveloperIdentity",
        lambda params, **_: sent.append(dict(params)),
    )

    token = tokens.fetch(source)

    assert token.value
    assert sent == [
        {"IdentityPoolId": pool, "Logins": {"login.acme": "canary-user"}, "TokenDuration": 900},
    ]
    assert tokens._client("cognito-identity", "us-east-2").meta.region_name == "us-east-2"


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("ResourceNotFoundException", False), ("NotAuthorizedException", False), ("TooManyRequestsException", True)],
)
def test_cognito_errors_name_the_pool_and_the_code(session: Any, code: str, retryable: bool) -> None:
    source = CognitoDeveloperIdentitySource(
        identity_pool_id="eu-west-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93",
        developer_provider_name="login.acme",
        login_id="canary-user",
        region=REGION,
    )
    tokens = TokenFetcher(session)
    with Stubber(tokens._client("cognito-identity", REGION)) as stub:
        stub.add_client_error("get_open_id_token_for_developer_identity", service_error_code=code)

        with pytest.raises(CognitoTokenError) as caught:
            tokens.fetch(source)

    assert "eu-west-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93" in str(caught.value)
    assert code in str(caught.value)
    assert caught.value.retryable is retryable


@pytest.mark.slow
@pytest.mark.node
def test_client_credentials_against_the_npm_openid_provider(session: Any, npm_provider: NpmOpenIdProvider) -> None:
    session.client("secretsmanager").create_secret(
        Name="webid-canary/npm-client", SecretString=json.dumps({"client_secret": npm_provider.client_secret})
    )
    source = ClientCredentialsSource(
        token_endpoint=npm_provider.token_endpoint,
        client_id=npm_provider.client_id,
        secret_id="webid-canary/npm-client",
        resource=npm_provider.resource,
    )

    token = TokenFetcher(session, ca_file=npm_provider.ca_file, allow_private=True).fetch(source)

    claims = jwt.decode(token.value, options={"verify_signature": False})
    assert claims["iss"] == npm_provider.url
    assert claims["aud"] == npm_provider.audience
    assert claims["client_id"] == npm_provider.client_id
