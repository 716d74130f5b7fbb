"""Inspect an OIDC issuer the way STS meets it: discovery, JWKS, and the TLS chain each host presents.

Only public https URLs without query or fragment are fetched (private, loopback, link-local and metadata
addresses are refused unless allowed), answers are capped in size and time, redirects never leave the
host, and every failure comes back as data naming the URL and what failed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from webid_canary.core.inspection import (
    CertificateFacts,
    Failure,
    Fetch,
    HostFacts,
    IssuerInspection,
    KeyFacts,
    Role,
)

__all__ = [
    "CaFileError",
    "FetchedJson",
    "IssuerInspection",
    "IssuerUrlError",
    "check_ca_file",
    "check_issuer_url",
    "fetch_json",
    "fetch_jwks",
    "inspect_issuer",
    "inspect_issuers",
    "last_certificate_thumbprint",
]

DISCOVERY_SUFFIX: Final = "/.well-known/openid-configuration"
MAX_REDIRECTS: Final = 3
MAX_CA_FILE_BYTES: Final = 10_000_000
_CHUNK: Final = 65536
_USER_AGENT: Final = "webid-canary"
_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}\.?$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?"
)
# Instance metadata endpoints (AWS IMDS over IPv4 and IPv6): the refusal names them.
_METADATA: Final = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class IssuerUrlError(ValueError):
    """A URL that may not be fetched at all: the message names the URL and the reason, on one line."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class CaFileError(ValueError):
    """A CA file that cannot be used (unreadable, or no PEM certificates): names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _FetchError(Exception):
    def __init__(self, failure: Failure, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.status = status


def last_certificate_thumbprint(chain: Iterable[bytes]) -> str | None:
    """AWS's thumbprint: SHA-1 over the DER of the last certificate presented, 40 lowercase hex."""
    certificates = list(chain)
    if not certificates:
        return None
    return hashlib.sha1(certificates[-1], usedforsecurity=False).hexdigest()


# ----- URLs and addresses


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def netloc(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"

    @property
    def display_host(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


# IAM: "The URL must begin with https:// ... path components are allowed but query parameters are not"
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html). STS fetches
# <issuer>/.well-known/openid-configuration and the jwks_uri it names, which must be publicly reachable
# (https://repost.aws/knowledge-center/iam-sts-invalididentitytoken).
def _split(url: str, *, allow_query: bool) -> tuple[str, int, str]:
    if "://" not in url:
        raise IssuerUrlError(url, "not a URL; give https://host[:port][/path]")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise IssuerUrlError(url, "spaces or control characters in the URL")
    if not url.isascii():
        raise IssuerUrlError(
            url, "non-ASCII characters in the URL (give the host's xn-- form, percent-encode the path)"
        )
    try:
        parts = urlsplit(url)
        port = 443 if parts.port is None else parts.port
    except ValueError as exc:
        raise IssuerUrlError(url, f"not a valid URL ({exc})") from exc
    if parts.scheme != "https":
        raise IssuerUrlError(url, "only https:// URLs are fetched")
    if not parts.hostname:
        raise IssuerUrlError(url, "no host")
    if not _is_host(parts.hostname):
        raise IssuerUrlError(url, f"{parts.hostname!r} is not a host name or IP address")
    if port == 0:
        raise IssuerUrlError(url, "port 0 is not a port to connect to")
    if parts.username or parts.password:
        raise IssuerUrlError(url, "credentials in the URL are refused")
    if parts.fragment or (parts.query and not allow_query):
        raise IssuerUrlError(url, "an issuer URL takes no query or fragment")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path


def _is_host(host: str) -> bool:
    """An IP address or a DNS host name (letters, digits and hyphens in dot-separated labels; IDNs as xn--)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None
    return True


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "an instance metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or not address.is_global or address.is_multicast:
        return "a private or reserved address"
    return None


def _resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """IP addresses of a host; name resolution gets the same time limit as every other network call."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=timeout)
        except FutureTimeoutError as exc:
            raise _FetchError(Failure.TIMEOUT, f"resolving {host} timed out after {timeout:g} s") from exc
        except OSError as exc:
            raise _FetchError(Failure.CONNECT, f"cannot resolve {host}: {exc.strerror or exc}") from exc
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def _target(url: str, *, allow_private: bool, allow_query: bool, timeout: float) -> _Target:
    host, port, path = _split(url, allow_query=allow_query)
    addresses = _resolve(host, port, timeout)
    if not allow_private:
        for address in addresses:
            kind = _refusal(ipaddress.ip_address(address))
            if kind is not None:
                where = f"{host} is" if host == address else f"{host} resolves to"
                raise IssuerUrlError(url, f"refused: {where} {kind} ({address}); allow with --allow-private")
    return _Target(url=url, host=host, port=port, path=path, addresses=addresses)


def check_issuer_url(url: str) -> None:
    """Raise IssuerUrlError unless the URL is https://host[:port][/path]: no query, fragment or credentials."""
    _split(url, allow_query=False)


# ----- TLS


@functools.lru_cache(maxsize=1)
def _client_context() -> ssl.SSLContext:
    """One handshake per connection that accepts any chain: trust is judged afterwards, from what was presented."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_STORE_LOCK = threading.Lock()


def _read_roots(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM file; CaFileError when it cannot be read or holds none."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CA_FILE_BYTES + 1)
    except OSError as exc:
        raise CaFileError(path, f"cannot read it ({exc.strerror or exc})") from exc
    if len(data) > MAX_CA_FILE_BYTES:
        raise CaFileError(path, f"larger than {MAX_CA_FILE_BYTES} bytes; not a CA file")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CaFileError(path, "no PEM certificate in it (expected -----BEGIN CERTIFICATE----- blocks)")
    with _STORE_LOCK, warnings.catch_warnings():
        # Legacy roots make cryptography warn; they still count as roots.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CaFileError(path, f"a PEM certificate in it cannot be parsed ({exc})") from exc


def check_ca_file(path: str) -> None:
    """Raise CaFileError unless `path` is a readable PEM file of at least one certificate (a usable --ca-file)."""
    _read_roots(path)


@functools.lru_cache(maxsize=8)
def _store(ca_file: str | None) -> Store | None:
    """The roots of a CA file (CaFileError when unusable), or of the system trust store (OpenSSL's) when None."""
    if ca_file is not None:
        return Store(_read_roots(ca_file))
    roots: list[x509.Certificate] = []
    for name in _system_roots():
        # A system bundle directory may hold files that are not certificates; they are skipped.
        with contextlib.suppress(CaFileError):
            roots += _read_roots(name)
    return Store(roots) if roots else None


def _check_ca(ca_file: str | None) -> None:
    """Load (and keep) the CA file's roots now, so that an unusable file is refused before any connection."""
    if ca_file is not None:
        _store(ca_file)


def _system_roots() -> list[str]:
    """The system bundle OpenSSL reads (SSL_CERT_FILE honoured), else the PEM files of its directory."""
    paths = ssl.get_default_verify_paths()
    bundle = next((f for f in (paths.cafile, paths.openssl_cafile) if f and os.path.isfile(f)), None)
    if bundle is not None:
        return [bundle]
    directory = paths.capath or paths.openssl_capath
    if not directory or not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith((".pem", ".crt")))


def _verify(chain: list[x509.Certificate], host: str, store: Store | None, now: datetime) -> str | None:
    """None when the presented chain leads to a root of `store` for this host name, else why not."""
    if store is None:
        return "no trust store"
    if not chain:
        return "no certificate presented"
    try:
        subject: x509.verification.Subject = IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = DNSName(host)
    try:
        PolicyBuilder().store(store).time(now).build_server_verifier(subject).verify(chain[0], chain[1:])
    except VerificationError as exc:
        return str(exc)
    return None


@dataclass
class _Session:
    """Connections of one inspection: each host's presented chain is read and judged once."""

    ca_file: str | None
    timeout: float
    allow_private: bool
    max_bytes: int
    now: datetime
    hosts: dict[str, HostFacts] = field(default_factory=dict)

    def connect(self, target: _Target, role: Role, deadline: float) -> ssl.SSLSocket:
        try:
            tls = self._handshake(target, deadline)
        except TimeoutError as exc:
            raise _FetchError(Failure.TIMEOUT, f"TLS connection timed out after {self.timeout:g} s") from exc
        except ssl.SSLError as exc:
            raise _FetchError(Failure.TLS, f"TLS handshake failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise _FetchError(Failure.CONNECT, f"cannot connect: {exc.strerror or exc}") from exc
        key = target.display_host
        if key not in self.hosts:
            self.hosts[key] = self._facts(key, target.host, role, tls)
        return tls

    def _handshake(self, target: _Target, deadline: float) -> ssl.SSLSocket:
        errors: list[OSError] = []
        for address in target.addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                raw = socket.create_connection((address, target.port), timeout=min(remaining, self.timeout))
            except OSError as exc:
                errors.append(exc)
                continue
            try:
                return _client_context().wrap_socket(raw, server_hostname=target.host)
            except BaseException:
                raw.close()
                raise
        raise errors[-1] if errors else OSError(f"no address for {target.host}")

    def _facts(self, key: str, host: str, role: Role, tls: ssl.SSLSocket) -> HostFacts:
        ders = list(tls.get_unverified_chain() or ())
        certificates = [x509.load_der_x509_certificate(der) for der in ders]
        public = _verify(certificates, host, _store(None), self.now)
        private = (
            None
            if self.ca_file is None or public is None
            else _verify(certificates, host, _store(self.ca_file), self.now)
        )
        return HostFacts(
            host=key,
            role=role,
            chain=tuple(_certificate(der, cert) for der, cert in zip(ders, certificates, strict=True)),
            trusted_root_ca=public is None,
            verified_by_ca_file=None if self.ca_file is None or public is None else private is None,
            tls_version=tls.version(),
            error=None if public is None else f"not trusted by the system store: {public}",
        )


def _certificate(der: bytes, cert: x509.Certificate) -> CertificateFacts:
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
    )


# ----- HTTP


def _get(session: _Session, target: _Target, role: Role, deadline: float) -> tuple[int, bytes]:
    tls = session.connect(target, role, deadline)
    # A plain HTTPConnection over our own TLS socket: HTTPSConnection would load a trust store per request.
    connection = http.client.HTTPConnection(target.host, target.port, timeout=session.timeout)
    connection.sock = tls
    try:
        # Each read waits at most what is left of the deadline; a trickling server is cut off between reads.
        tls.settimeout(max(0.001, deadline - time.monotonic()))
        connection.request(
            "GET",
            target.path,
            headers={"Host": target.netloc, "Accept": "application/json", "User-Agent": _USER_AGENT},
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            return response.status, (response.getheader("Location") or "").encode()
        if response.status != 200:
            raise _FetchError(Failure.STATUS, f"HTTP {response.status} {response.reason}", response.status)
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > session.max_bytes:
            raise _FetchError(Failure.TOO_LARGE, f"answer of {length} bytes exceeds {session.max_bytes}", 200)
        body = bytearray()
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > session.max_bytes:
                raise _FetchError(Failure.TOO_LARGE, f"answer exceeds {session.max_bytes} bytes", 200)
        return response.status, bytes(body)
    except TimeoutError as exc:
        raise _FetchError(Failure.TIMEOUT, f"no complete answer within {session.timeout:g} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise _FetchError(Failure.CONNECT, f"HTTP exchange failed: {exc}") from exc
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class FetchedJson:
    """A JSON object fetched over HTTPS, with how the fetch went and the TLS facts of its host."""

    fetch: Fetch
    host: HostFacts | None
    body: Mapping[str, Any] | None


def _fetch(session: _Session, url: str, role: Role, *, allow_query: bool, target: _Target | None = None) -> FetchedJson:
    started = time.monotonic()
    deadline = started + session.timeout
    current = url
    try:
        if target is None:
            target = _target(url, allow_private=session.allow_private, allow_query=allow_query, timeout=session.timeout)
        for _ in range(MAX_REDIRECTS + 1):
            status, body = _get(session, target, role, deadline)
            if not 300 <= status < 400:
                break
            location = urljoin(current, body.decode("latin-1"))
            moved = urlsplit(location)
            if (moved.scheme, moved.hostname, moved.port or 443) != ("https", target.host, target.port):
                raise _FetchError(Failure.REDIRECT, f"redirect to another host refused: {location}", status)
            current = location
            target = _target(current, allow_private=session.allow_private, allow_query=True, timeout=session.timeout)
        else:
            raise _FetchError(Failure.REDIRECT, f"more than {MAX_REDIRECTS} redirects", status)
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _FetchError(Failure.NOT_JSON, f"answer is not JSON ({_preview(body)})", status) from exc
        if not isinstance(document, dict):
            raise _FetchError(Failure.NOT_JSON, "answer is JSON but not an object", status)
    except IssuerUrlError as exc:
        fetch = Fetch(url=url, failure=Failure.REFUSED, error=exc.reason)
        return FetchedJson(fetch, None, None)
    except _FetchError as exc:
        seconds = time.monotonic() - started
        fetch = Fetch(url=url, status=exc.status, seconds=seconds, failure=exc.failure, error=str(exc))
        return FetchedJson(fetch, _host_or_error(session, target, role, str(exc)), None)
    fetch = Fetch(url=url, status=status, seconds=time.monotonic() - started)
    return FetchedJson(fetch, session.hosts.get(target.display_host), document)


def _host_or_error(session: _Session, target: _Target | None, role: Role, error: str) -> HostFacts | None:
    if target is None:
        return None
    return session.hosts.get(target.display_host) or HostFacts(host=target.display_host, role=role, error=error)


def _preview(body: bytes) -> str:
    text = body[:40].decode("utf-8", "replace").replace("\n", " ")
    return f"starts with {text!r}" if body else "empty"


def fetch_json(
    url: str,
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    role: Role = Role.ISSUER,
    now: datetime | None = None,
) -> FetchedJson:
    """GET one JSON object over HTTPS under the inspection rules; a URL breaking them raises IssuerUrlError.

    A private or loopback address (without `allow_private`) comes back as a failed fetch (`refused`); an unusable
    `ca_file` raises CaFileError before any connection."""
    _split(url, allow_query=True)
    _check_ca(ca_file)
    session = _Session(
        ca_file=ca_file,
        timeout=timeout,
        allow_private=allow_private,
        max_bytes=max_bytes,
        now=now or datetime.now(UTC),
    )
    return _fetch(session, url, role, allow_query=True)


def fetch_jwks(
    url: str,
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    now: datetime | None = None,
) -> FetchedJson:
    """GET a JWKS; an answer without a `keys` list counts as a failed fetch (failure `invalid`)."""
    fetched = fetch_json(
        url,
        allow_private=allow_private,
        ca_file=ca_file,
        timeout=timeout,
        max_bytes=max_bytes,
        role=Role.JWKS,
        now=now,
    )
    if fetched.body is not None and not isinstance(fetched.body.get("keys"), list):
        fetch = replace(fetched.fetch, failure=Failure.INVALID, error='JWKS has no "keys" list')
        return FetchedJson(fetch, fetched.host, None)
    return fetched


def inspect_issuer(
    url: str,
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    now: datetime,
) -> IssuerInspection:
    """Fetch discovery and JWKS and read both hosts' chains; raises IssuerUrlError only for a refused issuer URL.

    `now` stamps the inspection and is the instant at which the presented chains are verified. An unusable
    `ca_file` raises CaFileError before any connection."""
    host, port, path = _split(url, allow_query=False)
    _check_ca(ca_file)
    discovery_url = url.rstrip("/") + DISCOVERY_SUFFIX
    session = _Session(ca_file=ca_file, timeout=timeout, allow_private=allow_private, max_bytes=max_bytes, now=now)
    try:
        issuer_target = _target(url, allow_private=allow_private, allow_query=False, timeout=timeout)
    except _FetchError as exc:
        failed = Fetch(url=discovery_url, failure=exc.failure, error=str(exc))
        display = _Target(url, host, port, path, ()).display_host
        return IssuerInspection(
            url=url, inspected_at=now, discovery=failed, hosts=(HostFacts(display, Role.ISSUER, error=str(exc)),)
        )
    target = replace(issuer_target, url=discovery_url, path=path.rstrip("/") + DISCOVERY_SUFFIX)
    discovery = _fetch(session, discovery_url, Role.ISSUER, allow_query=False, target=target)
    inspection = IssuerInspection(url=url, inspected_at=now, discovery=discovery.fetch)
    if discovery.body is None:
        return replace(inspection, hosts=_hosts(session, discovery.host))
    issuer, jwks_uri = discovery.body.get("issuer"), discovery.body.get("jwks_uri")
    inspection = replace(
        inspection,
        issuer=issuer if isinstance(issuer, str) else None,
        jwks_uri=jwks_uri if isinstance(jwks_uri, str) and jwks_uri else None,
    )
    if inspection.jwks_uri is None:
        return replace(inspection, hosts=_hosts(session, discovery.host))
    jwks = _fetch(session, inspection.jwks_uri, Role.JWKS, allow_query=True)
    fetch = jwks.fetch
    keys: tuple[KeyFacts, ...] = ()
    if jwks.body is not None:
        raw_keys = jwks.body.get("keys")
        if isinstance(raw_keys, list):
            keys = tuple(KeyFacts.parse(k) for k in raw_keys if isinstance(k, Mapping))
        else:
            fetch = replace(fetch, failure=Failure.INVALID, error='JWKS has no "keys" list')
    return replace(inspection, jwks=fetch, keys=keys, hosts=_hosts(session, discovery.host, jwks.host))


def _hosts(session: _Session, *extra: HostFacts | None) -> tuple[HostFacts, ...]:
    """Each host once, issuer host first; hosts that failed before TLS appear with their error."""
    found: dict[str, HostFacts] = {}
    for host in (*session.hosts.values(), *extra):
        if host is not None:
            found.setdefault(host.host, host)
    return tuple(sorted(found.values(), key=lambda h: h.role is not Role.ISSUER))


def inspect_issuers(
    urls: Iterable[str],
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    now: datetime,
    concurrency: int = 16,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, IssuerInspection | IssuerUrlError]:
    """Inspect many issuers at once, each fetched once; a refused URL maps to its IssuerUrlError.

    An unusable `ca_file` raises CaFileError before any connection."""
    unique = list(dict.fromkeys(urls))
    _check_ca(ca_file)

    def one(url: str) -> IssuerInspection | IssuerUrlError:
        try:
            return inspect_issuer(
                url, allow_private=allow_private, ca_file=ca_file, timeout=timeout, max_bytes=max_bytes, now=now
            )
        except IssuerUrlError as exc:
            return exc
        finally:
            if on_done is not None:
                on_done(url)

    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(unique)))) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))
