"""Inspect an OIDC issuer the way STS meets it: discovery, JWKS, and the TLS chain each host presents.

Only public https URLs without query or fragment are fetched (the guard of adapters.net refuses private,
loopback, link-local and metadata addresses unless allowed, and connects to the address it checked), answers
are capped in size, every request has a total time budget and a whole inspection has one too, redirects never
leave the host, and every failure comes back as data naming the URL and what failed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import os
import ssl
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from webid_canary.adapters import net
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
DEFAULT_TIMEOUT: Final = 5.0
# An inspection makes two requests (discovery, JWKS); its budget is this many request budgets by default.
INSPECTION_BUDGET_REQUESTS: Final = 3
_USER_AGENT: Final = "webid-canary"
_NET_FAILURES: Final[Mapping[type[net.NetError], Failure]] = {
    net.TimedOutError: Failure.TIMEOUT,
    net.ConnectError: Failure.CONNECT,
    net.TlsError: Failure.TLS,
    net.TooLargeError: Failure.TOO_LARGE,
}


class IssuerUrlError(net.UrlError):
    """A URL that may not be fetched at all: the message names the URL and the reason, on one line."""


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


# ----- URLs, addresses and budgets


@dataclass(frozen=True, slots=True)
class _Target:
    url: net.Url
    addresses: tuple[str, ...]


# IAM: "The URL must begin with https:// ... path components are allowed but query parameters are not"
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html). STS fetches
# <issuer>/.well-known/openid-configuration and the jwks_uri it names, which must be publicly reachable
# (https://repost.aws/knowledge-center/iam-sts-invalididentitytoken).
def _split(url: str, *, allow_query: bool) -> net.Url:
    try:
        return net.split_url(url, allow_query=allow_query)
    except net.UrlError as exc:
        raise IssuerUrlError(url, exc.reason) from exc


def _target(parts: net.Url, *, allow_private: bool, deadline: net.Deadline) -> _Target:
    """The URL with its checked addresses; IssuerUrlError when the guard refuses one."""
    try:
        addresses = net.checked_addresses(parts.host, parts.port, allow_private=allow_private, deadline=deadline)
    except net.RefusedError as exc:
        hint = "" if exc.always else "; allow with --allow-private"
        raise IssuerUrlError(parts.url, f"refused: {exc.reason}{hint}") from exc
    return _Target(parts, addresses)


def _overall(timeout: float, budget: float | None, deadline: float | None) -> net.Deadline:
    """An inspection's deadline: its own budget, cut short by the caller's deadline (a time.monotonic() value)."""
    seconds = INSPECTION_BUDGET_REQUESTS * timeout if budget is None else budget
    own = net.Deadline.after(seconds, "the inspection's")
    return own.sooner(None if deadline is None else net.Deadline.at_monotonic(deadline))


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

    def connect(self, target: _Target, role: Role, deadline: net.Deadline) -> ssl.SSLSocket:
        url = target.url
        tls = net.open_tls(url.host, url.port, target.addresses, _client_context(), deadline)
        if url.netloc not in self.hosts:
            self.hosts[url.netloc] = self._facts(url.netloc, url.host, role, tls)
        return tls

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


def _get(session: _Session, target: _Target, role: Role, deadline: net.Deadline) -> net.Answer:
    tls = session.connect(target, role, deadline)
    try:
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        answer = net.exchange(tls, target.url, "GET", headers=headers, deadline=deadline, max_bytes=session.max_bytes)
    finally:
        tls.close()
    if not 300 <= answer.status < 400 and answer.status != 200:
        raise _FetchError(Failure.STATUS, f"HTTP {answer.status} {answer.reason}", answer.status)
    return answer


@dataclass(frozen=True, slots=True)
class FetchedJson:
    """A JSON object fetched over HTTPS, with how the fetch went and the TLS facts of its host."""

    fetch: Fetch
    host: HostFacts | None
    body: Mapping[str, Any] | None


def _fetch(
    session: _Session, url: str, role: Role, *, allow_query: bool, overall: net.Deadline, discovery: bool = False
) -> FetchedJson:
    """GET one JSON object, following redirects within the host, all within one request's budget.

    For an issuer's `discovery`, a refused URL raises IssuerUrlError and a failure before any connection still
    names the host."""
    deadline = overall.within(session.timeout, "a request's")
    started = deadline.remaining()
    current = url
    status: int | None = None
    target: _Target | None = None
    try:
        parts = _split(url, allow_query=allow_query)
        target = _target(parts, allow_private=session.allow_private, deadline=deadline)
        for _ in range(MAX_REDIRECTS + 1):
            answer = _get(session, target, role, deadline)
            status = answer.status
            if not 300 <= status < 400:
                break
            location = urljoin(current, answer.location or "")
            moved = urlsplit(location)
            if (moved.scheme, moved.hostname, moved.port or 443) != ("https", parts.host, parts.port):
                raise _FetchError(Failure.REDIRECT, f"redirect to another host refused: {location}", status)
            current = location
            target = _target(_split(current, allow_query=True), allow_private=session.allow_private, deadline=deadline)
        else:
            raise _FetchError(Failure.REDIRECT, f"more than {MAX_REDIRECTS} redirects", status)
        document = _document(answer.body, status)
    except IssuerUrlError as exc:
        if discovery:
            raise
        return FetchedJson(Fetch(url=url, failure=Failure.REFUSED, error=exc.reason), None, None)
    except (_FetchError, net.NetError) as exc:
        failure = exc.failure if isinstance(exc, _FetchError) else _NET_FAILURES.get(type(exc), Failure.CONNECT)
        code = exc.status if isinstance(exc, _FetchError) else status
        seconds = started - deadline.remaining()
        fetch = Fetch(url=url, status=code, seconds=seconds, failure=failure, error=str(exc))
        netloc = net.split_url(url, allow_query=True).netloc
        host = _host_or_error(session, netloc, role, str(exc)) if target or discovery else None
        return FetchedJson(fetch, host, None)
    fetch = Fetch(url=url, status=status, seconds=started - deadline.remaining())
    return FetchedJson(fetch, session.hosts.get(parts.netloc), document)


def _document(body: bytes, status: int) -> Mapping[str, Any]:
    """The JSON object of an answer; _FetchError when it is not JSON, too deeply nested, or not an object."""
    try:
        document = net.load_json(body)
    except net.JsonDepthError as exc:
        raise _FetchError(Failure.INVALID, f"answer is not a usable document: {exc}", status) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise _FetchError(Failure.NOT_JSON, f"answer is not JSON ({_preview(body)})", status) from exc
    if not isinstance(document, dict):
        raise _FetchError(Failure.NOT_JSON, "answer is JSON but not an object", status)
    return document


def _host_or_error(session: _Session, netloc: str, role: Role, error: str) -> HostFacts:
    return session.hosts.get(netloc) or HostFacts(host=netloc, role=role, error=error)


def _preview(body: bytes) -> str:
    text = body[:40].decode("utf-8", "replace").replace("\n", " ")
    return f"starts with {text!r}" if body else "empty"


def fetch_json(
    url: str,
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = 1_000_000,
    role: Role = Role.ISSUER,
    now: datetime | None = None,
    deadline: float | None = None,
) -> FetchedJson:
    """GET one JSON object over HTTPS under the inspection rules; a URL breaking them raises IssuerUrlError.

    The whole fetch (lookup, handshake, redirects, every read) ends within `timeout` seconds, or by `deadline`
    (a time.monotonic() value) when that comes first. A private or loopback address (without `allow_private`)
    comes back as a failed fetch (`refused`); an unusable `ca_file` raises CaFileError before any connection."""
    _split(url, allow_query=True)
    _check_ca(ca_file)
    session = _Session(
        ca_file=ca_file,
        timeout=timeout,
        allow_private=allow_private,
        max_bytes=max_bytes,
        now=now or datetime.now(UTC),
    )
    return _fetch(session, url, role, allow_query=True, overall=_overall(timeout, timeout, deadline))


def fetch_jwks(
    url: str,
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = 1_000_000,
    now: datetime | None = None,
    deadline: float | None = None,
) -> FetchedJson:
    """GET a JWKS (as fetch_json); an answer without a `keys` list counts as a failed fetch (failure `invalid`)."""
    fetched = fetch_json(
        url,
        allow_private=allow_private,
        ca_file=ca_file,
        timeout=timeout,
        max_bytes=max_bytes,
        role=Role.JWKS,
        now=now,
        deadline=deadline,
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
    timeout: float = DEFAULT_TIMEOUT,
    budget: float | None = None,
    max_bytes: int = 1_000_000,
    now: datetime,
    deadline: float | None = None,
) -> IssuerInspection:
    """Fetch discovery and JWKS and read both hosts' chains; raises IssuerUrlError only for a refused issuer URL.

    Each request (lookup, handshake, redirects, every read) ends within `timeout` seconds; the inspection as a
    whole within `budget` seconds (INSPECTION_BUDGET_REQUESTS x `timeout` by default) and by `deadline`, a
    time.monotonic() value, when given. `now` stamps the inspection and is the instant at which the presented
    chains are verified. An unusable `ca_file` raises CaFileError before any connection."""
    _split(url, allow_query=False)
    _check_ca(ca_file)
    overall = _overall(timeout, budget, deadline)
    session = _Session(ca_file=ca_file, timeout=timeout, allow_private=allow_private, max_bytes=max_bytes, now=now)
    discovery_url = url.rstrip("/") + DISCOVERY_SUFFIX
    try:
        discovery = _fetch(session, discovery_url, Role.ISSUER, allow_query=False, overall=overall, discovery=True)
    except IssuerUrlError as exc:
        raise IssuerUrlError(url, exc.reason) from exc
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
    jwks = _fetch(session, inspection.jwks_uri, Role.JWKS, allow_query=True, overall=overall)
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
    timeout: float = DEFAULT_TIMEOUT,
    budget: float | None = None,
    max_bytes: int = 1_000_000,
    now: datetime,
    deadline: float | None = None,
    concurrency: int = 16,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, IssuerInspection | IssuerUrlError]:
    """Inspect many issuers at once (each as inspect_issuer, with its own budget, all by `deadline`), each
    fetched once; a refused URL maps to its IssuerUrlError.

    An unusable `ca_file` raises CaFileError before any connection."""
    unique = list(dict.fromkeys(urls))
    _check_ca(ca_file)

    def one(url: str) -> IssuerInspection | IssuerUrlError:
        try:
            return inspect_issuer(
                url,
                allow_private=allow_private,
                ca_file=ca_file,
                timeout=timeout,
                budget=budget,
                max_bytes=max_bytes,
                now=now,
                deadline=deadline,
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
