"""The one way out to the network: the URL and address guard, total time budgets, TLS to the checked address,
one HTTP exchange, and JSON read with a depth limit.

Every host is resolved once; the addresses are judged, and the connection goes to an address that was judged
(no second lookup, so no DNS rebinding), while SNI and certificate checks keep the host name. Time is a
`Deadline` on `time.monotonic()`: every step (lookup, connect, handshake, each read) waits at most what is left
of it, so a server that drips one byte a second is cut off when the budget ends, not after a per-read timeout.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from webid_canary.core.hosts import host_refusal
from webid_canary.core.limits import MAX_JSON_DEPTH, JsonDepthError, check_json_depth

__all__ = [
    "MAX_JSON_DEPTH",
    "METADATA_ADDRESSES",
    "Answer",
    "ConnectError",
    "Deadline",
    "JsonDepthError",
    "NetError",
    "RefusedError",
    "TimedOutError",
    "TlsError",
    "TooLargeError",
    "Url",
    "UrlError",
    "address_refusal",
    "checked_addresses",
    "exchange",
    "host_refusal",
    "load_json",
    "monotonic_deadline",
    "open_tls",
    "printable",
    "split_url",
]

type IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance and container credential endpoints: EC2 IMDS (IPv4, IPv6), ECS task metadata, EKS Pod Identity.
# Never fetched, whatever allows private addresses.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "fd00:ec2::23")
)
# NAT64: the well-known prefix (RFC 6052) and the local-use range (RFC 8215), IPv4 in the last 32 bits.
_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Discovery documents and key sets are a few levels deep; anything deeper is not one.
_CHUNK: Final = 65536


class NetError(Exception):
    """A network step failed; the message says which step, with which host, and why, on one line."""


class RefusedError(NetError):
    """A host or address the guard refuses; `always` when no setting allows it (metadata endpoints)."""

    def __init__(self, reason: str, *, always: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.always = always


class TimedOutError(NetError):
    """A step did not finish within its budget; the message names the budget."""


class ConnectError(NetError):
    """No connection, or the HTTP exchange broke off."""


class TlsError(NetError):
    """The TLS handshake failed; `unverified` when only the certificate check failed."""

    def __init__(self, message: str, *, unverified: bool = False) -> None:
        super().__init__(message)
        self.unverified = unverified


class TooLargeError(NetError):
    """The answer is larger than the caller accepts."""


class UrlError(ValueError):
    """A URL that may not be fetched at all: the message names the URL and the reason, on one line."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{printable(url)}: {reason}")
        self.url = url
        self.reason = reason


def printable(text: str) -> str:
    """`text` with line breaks and other control characters escaped, so that it stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ----- deadlines


@dataclass(frozen=True, slots=True)
class Deadline:
    """An instant on `time.monotonic()` and the budget it ends, as errors name it (`5 s (a request's budget)`)."""

    at: float
    budget: str

    @classmethod
    def after(cls, seconds: float, whose: str) -> Deadline:
        """`seconds` from now; `whose` names the budget in errors, e.g. "a request's"."""
        return cls(time.monotonic() + seconds, f"{seconds:g} s ({whose} budget)")

    @classmethod
    def at_monotonic(cls, at: float) -> Deadline:
        """A caller's deadline, a `time.monotonic()` value."""
        left = max(0.0, at - time.monotonic())
        return cls(at, f"{left:.3g} s (what was left before the caller's deadline)")

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def left(self, step: str) -> float:
        """Seconds left for `step`; TimedOutError naming the budget when none are."""
        remaining = self.remaining()
        if remaining <= 0:
            raise TimedOutError(f"{step} timed out after {self.budget}")
        return remaining

    def sooner(self, other: Deadline | None) -> Deadline:
        """Whichever of the two ends first (this one when `other` is None)."""
        return self if other is None or self.at <= other.at else other

    def within(self, seconds: float, whose: str) -> Deadline:
        """A step's own budget of `seconds`, cut short by this deadline."""
        return Deadline.after(seconds, whose).sooner(self)


def monotonic_deadline(deadline: datetime) -> float:
    """A wall-clock deadline (an aware datetime, as the cycle keeps it) as the time.monotonic() value the
    network functions take."""
    return time.monotonic() + (deadline - datetime.now(UTC)).total_seconds()


# ----- URLs, hosts and addresses


@dataclass(frozen=True, slots=True)
class Url:
    """An https URL split once: host (lower case, no brackets), port and path with its query."""

    url: str
    host: str
    port: int
    path: str

    @property
    def netloc(self) -> str:
        """Host and port as the Host header carries them."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def split_url(url: str, *, allow_query: bool) -> Url:
    """An https://host[:port][/path] URL, split; UrlError naming the reason when it is anything else."""
    if "://" not in url:
        raise UrlError(url, "not a URL; give https://host[:port][/path]")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UrlError(url, "spaces or control characters in the URL")
    if not url.isascii():
        raise UrlError(url, "non-ASCII characters in the URL (give the host's xn-- form, percent-encode the path)")
    try:
        parts = urlsplit(url)
        port = 443 if parts.port is None else parts.port
    except ValueError as exc:
        raise UrlError(url, f"not a valid URL ({exc})") from exc
    if parts.scheme != "https":
        raise UrlError(url, "only https:// URLs are fetched")
    if not parts.hostname:
        raise UrlError(url, "no host")
    if (reason := host_refusal(parts.hostname)) is not None:
        raise UrlError(url, reason)
    if port == 0:
        raise UrlError(url, "port 0 is not a port to connect to")
    if parts.username or parts.password or "@" in parts.netloc:
        raise UrlError(url, "credentials in the URL are refused")
    if parts.fragment or (parts.query and not allow_query):
        raise UrlError(url, "an issuer URL takes no query or fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Url(url=url, host=parts.hostname, port=port, path=path)


def _embedded_ipv4(address: IpAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and the form it is carried in."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if any(address in prefix for prefix in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address)), "IPv4-compatible"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address.teredo is not None:
        return address.teredo[1], "Teredo"
    return None


def _kind(address: IpAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved (not public) address"
    return None


def address_refusal(address: IpAddress, *, allow_private: bool = False) -> str | None:
    """Why the guard refuses to connect to `address` (one phrase), or None.

    Instance metadata addresses are refused always; loopback, link-local, private, unspecified, multicast and
    reserved ones unless `allow_private`. IPv6 forms carrying an IPv4 address (mapped, compatible, NAT64
    64:ff9b::/96 and 64:ff9b:1::/48, 6to4, Teredo) are judged by the IPv4 address they carry."""
    embedded = _embedded_ipv4(address)
    inner, form = embedded if embedded is not None else (None, "")
    if address in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
        return "an instance metadata address" + (f" in {form} form" if inner is not None else "")
    if allow_private:
        return None
    if inner is not None:
        kind = _kind(inner)
        if kind is not None:
            return f"{kind} in {form} form"
        if form == "IPv4-mapped" or address in _NAT64[0]:
            return None
    return _kind(address)


def _resolve(host: str, port: int, deadline: Deadline) -> tuple[str, ...]:
    """The addresses of `host`, looked up once within the deadline (a lookup cannot be interrupted, so it is
    left to finish in a daemon thread when the time is up)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    found: list[str] = []
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.extend(dict.fromkeys(str(info[4][0]) for info in infos))
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(deadline.left(f"resolving {host}"))
    if thread.is_alive():
        raise TimedOutError(f"resolving {host} timed out after {deadline.budget}")
    if failed:
        raise ConnectError(f"cannot resolve {host}: {failed[0].strerror or failed[0]}")
    if not found:
        raise ConnectError(f"cannot resolve {host}: no address")
    return tuple(found)


def checked_addresses(host: str, port: int, *, allow_private: bool, deadline: Deadline) -> tuple[str, ...]:
    """Resolve `host` once and judge every address; connect only to what this returns.

    RefusedError (one line: the host, what it is or resolves to, and the address) when any address is refused;
    TimedOutError or ConnectError when the lookup fails."""
    addresses = _resolve(host, port, deadline)
    for address in addresses:
        reason = address_refusal(ipaddress.ip_address(address), allow_private=allow_private)
        if reason is not None:
            where = f"{host} is" if host == address else f"{host} resolves to"
            raise RefusedError(f"{where} {reason} ({address})", always=reason.startswith("an instance metadata"))
    return addresses


# ----- TLS and HTTP


def open_tls(
    host: str, port: int, addresses: tuple[str, ...], context: ssl.SSLContext, deadline: Deadline
) -> ssl.SSLSocket:
    """A TLS connection to one of `addresses` (already checked), with SNI and certificate checks for `host`.

    Connecting and the whole handshake end by the deadline (CPython bounds a handshake by the socket timeout
    as a whole, not per read)."""
    errors: list[OSError] = []
    for address in addresses:
        try:
            raw = socket.create_connection((address, port), timeout=deadline.left(f"connecting to {host}"))
        except TimeoutError as exc:
            raise TimedOutError(f"connecting to {host} timed out after {deadline.budget}") from exc
        except OSError as exc:
            errors.append(exc)
            continue
        try:
            raw.settimeout(deadline.left(f"TLS handshake with {host}"))
            return context.wrap_socket(raw, server_hostname=host)
        except TimeoutError as exc:
            raw.close()
            raise TimedOutError(f"TLS handshake with {host} timed out after {deadline.budget}") from exc
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise TlsError(f"TLS certificate of {host} not trusted ({exc.verify_message})", unverified=True) from exc
        except ssl.SSLError as exc:
            raw.close()
            raise TlsError(f"TLS handshake failed with {host}: {exc.reason or exc}") from exc
        except OSError as exc:
            raw.close()
            raise ConnectError(f"cannot connect to {host}: {exc.strerror or exc}") from exc
        except BaseException:
            raw.close()
            raise
    if errors:
        raise ConnectError(f"cannot connect to {host}: {errors[-1].strerror or errors[-1]}") from errors[-1]
    raise ConnectError(f"cannot connect to {host}: no address")


class _TimedReader(io.RawIOBase):
    """Socket reads that each wait at most what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline, step: str) -> None:
        super().__init__()
        self._sock, self._deadline, self._step = sock, deadline, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(self._deadline.left(self._step))
        return self._sock.recv_into(buffer)


class _TimedSocket:
    """The part of a socket http.client uses, each call bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline, step: str) -> None:
        self._sock, self._deadline, self._step = sock, deadline, step

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.left(self._step))
        self._sock.sendall(data)

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_TimedReader(self._sock, self._deadline, self._step))

    def close(self) -> None:
        """The caller closes the real socket."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, reason phrase, Location (for redirects) and the body (empty for redirects)."""

    status: int
    reason: str
    location: str | None
    body: bytes


def exchange(
    tls: ssl.SSLSocket,
    url: Url,
    method: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None = None,
    deadline: Deadline,
    max_bytes: int,
) -> Answer:
    """One request on `tls` and its whole answer, by the deadline: sending, status line, headers and every
    read of the body (a server that drips its answer is cut off when the budget ends).

    TimedOutError, ConnectError or TooLargeError (more than `max_bytes` of body) name the host and the budget."""
    step = f"no complete answer from {url.host}:"
    connection = http.client.HTTPConnection(url.host, url.port)
    connection.sock = _TimedSocket(tls, deadline, step)
    try:
        connection.request(method, url.path, body=body, headers={"Host": url.netloc, **headers})
        response = connection.getresponse()
        location = response.getheader("Location")
        if 300 <= response.status < 400:
            return Answer(response.status, response.reason, location, b"")
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise TooLargeError(f"answer of {length} bytes exceeds {max_bytes}")
        data = bytearray()
        while chunk := response.read(_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise TooLargeError(f"answer exceeds {max_bytes} bytes")
        return Answer(response.status, response.reason, location, bytes(data))
    except TimeoutError as exc:
        raise TimedOutError(f"no complete answer from {url.host}: timed out after {deadline.budget}") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise ConnectError(f"HTTP exchange with {url.host} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.sock = None


# ----- JSON


def load_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Parse JSON, refusing (JsonDepthError) documents nested deeper than `max_depth` before the parser sees
    them; ValueError (or UnicodeDecodeError) when it is not JSON at all."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    check_json_depth(text, max_depth)
    return json.loads(text)
