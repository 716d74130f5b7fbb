"""A real OpenID Connect issuer on loopback, over TLS, for the tests and the demo.

It serves discovery and the JWKS, signs tokens (RS256), and can misbehave on demand the ways real issuers
do: a rotated intermediate, a cross-signed chain, keys on another host, a key without `kid`, a wrong
`issuer`, slow, dripping, broken, oversized or absurdly nested answers, redirects.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Literal, Self
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from webid_canary.local.lifecycle import Running
from webid_canary.local.pki import DEFAULT_HOSTS, Chain, Pki, thumbprint

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
JWKS_PATH: Final = "/.well-known/jwks.json"
TOKEN_PATH: Final = "/oauth2/token"

Endpoint = Literal["discovery", "jwks"]
Failure = Literal["not_json", "oversized", "deep_json", "redirect", "404", "500"]


class _Current:
    """Sentinel type: sign with the current key's id."""


CURRENT_KID: Final = _Current()


@dataclass(frozen=True, slots=True)
class Mode:
    """How the issuer misbehaves; the default is a well-behaved issuer."""

    discovery_issuer: str | None = None
    omit_kid: bool = False
    key_alg: str = "RS256"
    delay: float = 0.0  # seconds before every answer (discovery, JWKS and the token endpoint)
    drip: float = 0.0  # seconds between the bytes of every answer (status line, headers, body)
    broken: Endpoint | None = None
    failure: Failure | None = None
    redirect_to: str = "https://localhost:9/elsewhere"
    oversized_bytes: int = 1_100_000


@dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    key: rsa.RSAPrivateKey


def _new_key(kid: str) -> _SigningKey:
    return _SigningKey(kid=kid, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer doing the TLS handshake in the request thread, so one stuck client blocks nobody."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], issuer: LocalIssuer, role: Endpoint) -> None:
        self.issuer = issuer
        self.role: Endpoint = role
        self.context: ssl.SSLContext | None = None
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind and name the server by its address: HTTPServer asks DNS (getfqdn), which leaves the machine."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.context
        if context is None:
            return
        request.settimeout(10.0)
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up early are expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read results, not access logs."""

    def do_POST(self) -> None:
        """OAuth 2.0 client credentials (Basic or form): a token whose `sub` is the client id."""
        issuer = self.server.issuer
        if issuer.mode.delay:
            time.sleep(issuer.mode.delay)  # a stalled token endpoint
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        if self.path != issuer.path + TOKEN_PATH or form.get("grant_type") != "client_credentials":
            self._send(400, b'{"error":"invalid_request"}')
        elif client_id is None or issuer.clients.get(client_id) != secret:
            self._send(401, b'{"error":"invalid_client"}')
        else:
            token = issuer.mint({"sub": client_id, "aud": form.get("audience") or "sts.amazonaws.com"})
            self._send(200, json.dumps({"access_token": token, "token_type": "Bearer"}).encode())

    def do_GET(self) -> None:
        issuer = self.server.issuer
        mode = issuer.mode
        path = self.path.split("?", 1)[0]
        if mode.delay:
            time.sleep(mode.delay)
        endpoint: Endpoint | None = None
        if self.server.role == "discovery" and path == issuer.path + DISCOVERY_PATH:
            endpoint = "discovery"
        elif path == issuer.jwks_path and (self.server.role == "jwks" or not issuer.jwks_on_second_host):
            endpoint = "jwks"
        if endpoint is None:
            self._send(404, b'{"error":"not_found"}')
            return
        if mode.broken == endpoint and mode.failure is not None:
            self._fail(mode.failure, mode)
            return
        body = issuer.discovery() if endpoint == "discovery" else issuer.jwks()
        self._send(200, json.dumps(body).encode())

    def _fail(self, failure: Failure, mode: Mode) -> None:
        if failure == "not_json":
            self._send(200, b"<html><body>Sign in</body></html>", "text/html")
        elif failure == "deep_json":
            self._send(200, b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
        elif failure == "oversized":
            self._send(200, b'{"pad":"' + b"x" * mode.oversized_bytes + b'"}')
        elif failure == "redirect":
            self.send_response(302)
            self.send_header("Location", mode.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(int(failure), b'{"error":"failure"}')

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        if self.server.issuer.mode.drip:
            self._drip(status, body, content_type)
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _drip(self, status: int, body: bytes, content_type: str) -> None:
        """The whole answer one byte at a time, until it is sent or the client hangs up."""
        head = f"HTTP/1.0 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        with contextlib.suppress(OSError):
            for byte in head.encode() + body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(self.server.issuer.mode.drip)


class LocalIssuer(Running):
    """An OIDC issuer at https://127.0.0.1:PORT[/path], with its own certificate chain from `pki`."""

    def __init__(
        self,
        pki: Pki | None = None,
        *,
        path: str = "",
        jwks_on_second_host: bool = False,
        jwks_host: str = "127.0.0.2",
        host: str = "127.0.0.1",
        hosts: tuple[str, ...] = DEFAULT_HOSTS,
    ) -> None:
        self._own_pki = pki is None
        self.pki = pki if pki is not None else Pki()
        self.path = "/" + path.strip("/") if path.strip("/") else ""
        self.jwks_on_second_host = jwks_on_second_host
        self.host = host
        self.jwks_host = jwks_host if jwks_on_second_host else host
        self._hosts = hosts
        self.mode = Mode()
        self._lock = threading.Lock()
        self._chain: Chain = self.pki.new_chain(hosts, label="Issuer")
        self._jwks_chain: Chain | None = self.pki.new_chain(hosts, label="Keys") if jwks_on_second_host else None
        self._cross_signed = False
        self._keys: list[_SigningKey] = [_new_key("key-1")]
        self._key_counter = 1
        self.clients: dict[str, str] = {}  # client id -> secret, for the token endpoint
        self._servers: list[tuple[_Server, threading.Thread]] = []

    # ----- life cycle
    def start(self) -> Self:
        """Listen on OS-chosen free ports and serve in background threads."""
        if self._servers:
            return self
        main = _Server((self.host, 0), self, "discovery")
        self._servers.append((main, threading.Thread(target=main.serve_forever, args=(0.05,), daemon=True)))
        if self.jwks_on_second_host:
            keys = _Server((self.jwks_host, 0), self, "jwks")
            self._servers.append((keys, threading.Thread(target=keys.serve_forever, args=(0.05,), daemon=True)))
        self._reload()
        for _, thread in self._servers:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the ports (and the PKI files when this issuer made its own PKI)."""
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers = []
        if self._own_pki:
            self.pki.close()

    # ----- addresses and facts
    @property
    def port(self) -> int:
        return self._server("discovery").server_address[1]

    @property
    def jwks_port(self) -> int:
        return self._server("jwks").server_address[1] if self.jwks_on_second_host else self.port

    @property
    def url(self) -> str:
        """The issuer URL, as tokens carry it in `iss`."""
        return f"https://{self.host}:{self.port}{self.path}"

    @property
    def provider_url(self) -> str:
        """The URL as IAM stores it: no scheme."""
        return self.url.removeprefix("https://")

    @property
    def token_endpoint(self) -> str:
        """The OAuth 2.0 token endpoint (client credentials for the ids in `clients`)."""
        return self.url + TOKEN_PATH

    @property
    def jwks_path(self) -> str:
        return self.path + JWKS_PATH

    @property
    def jwks_uri(self) -> str:
        return f"https://{self.jwks_host}:{self.jwks_port}{self.jwks_path}"

    @property
    def ca_file(self) -> str:
        """PEM file of the roots this issuer's chains lead to."""
        return str(self.pki.ca_file)

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the last certificate the issuer host presents (what IAM wants in its list)."""
        return thumbprint(self._chain.presented(self._cross_signed)[-1])

    @property
    def jwks_thumbprint(self) -> str:
        """SHA-1 of the last certificate the `jwks_uri` host presents."""
        if self._jwks_chain is None:
            return self.thumbprint
        return thumbprint(self._jwks_chain.presented()[-1])

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self._keys)

    @property
    def current_kid(self) -> str:
        return self._keys[-1].kid

    def discovery(self) -> dict[str, object]:
        """The discovery document as served now."""
        return {
            "issuer": self.mode.discovery_issuer or self.url,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss"],
        }

    def jwks(self) -> dict[str, object]:
        """The key set as served now."""
        keys: list[dict[str, object]] = []
        for signing in self._keys:
            jwk: dict[str, object] = dict(RSAAlgorithm.to_jwk(signing.key.public_key(), as_dict=True))
            jwk.update({"use": "sig", "alg": self.mode.key_alg})
            if not self.mode.omit_kid:
                jwk["kid"] = signing.kid
            keys.append(jwk)
        return {"keys": keys}

    # ----- tokens
    def mint(
        self,
        claims: Mapping[str, object],
        *,
        expires_in: int = 300,
        kid: str | _Current | None = CURRENT_KID,
        sign_with_unknown_key: bool = False,
        now: int | None = None,
        headers: Mapping[str, object] | None = None,
    ) -> str:
        """A signed RS256 token; iss, iat, nbf and exp are filled in unless given."""
        issued = int(time.time()) if now is None else now
        payload: dict[str, object] = {
            "iss": self.url,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        header: dict[str, Any] = dict(headers or {})
        if isinstance(kid, _Current):
            header["kid"] = self.current_kid
        elif kid is not None:
            header["kid"] = kid
        key = _new_key("unknown").key if sign_with_unknown_key else self._keys[-1].key
        return jwt.encode(payload, key, algorithm="RS256", headers=header or None)

    # ----- changes
    def set_mode(self, **changes: Any) -> None:
        """Change how the issuer behaves from the next request on (fields of Mode)."""
        with self._lock:
            self.mode = dataclasses.replace(self.mode, **changes)

    def reset_mode(self) -> None:
        with self._lock:
            self.mode = Mode()

    def rotate_intermediate(self) -> None:
        """Serve a new intermediate (new key, new certificate) and a re-issued leaf."""
        with self._lock:
            self._chain = self.pki.rotate(self._chain, self._hosts)
            if self._jwks_chain is not None:
                self._jwks_chain = self.pki.rotate(self._jwks_chain, self._hosts)
        self._reload()

    def use_cross_signed_chain(self, enabled: bool = True) -> None:
        """Present the intermediate cross-signed by the alternative root instead of the usual one."""
        with self._lock:
            self._cross_signed = enabled
        self._reload()

    def rotate_signing_key(self, keep_old: bool = True) -> str:
        """Sign with a new key from now on; keep the old one in the JWKS unless told not to. Returns the new kid."""
        with self._lock:
            self._key_counter += 1
            fresh = _new_key(f"key-{self._key_counter}")
            self._keys = [*self._keys, fresh] if keep_old else [fresh]
        return fresh.kid

    # ----- internals
    def _server(self, role: Endpoint) -> _Server:
        for server, _ in self._servers:
            if server.role == role:
                return server
        raise RuntimeError("the issuer is not started")

    def _context(self, chain: Chain, cross_signed: bool) -> ssl.SSLContext:
        cert_path, key_path = self.pki.write(chain, cross_signed=cross_signed)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        Path(key_path).unlink(missing_ok=True)
        return context

    def _reload(self) -> None:
        for server, _ in self._servers:
            if server.role == "jwks" and self._jwks_chain is not None:
                server.context = self._context(self._jwks_chain, False)
            else:
                server.context = self._context(self._chain, self._cross_signed)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for "closed port" cases)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
