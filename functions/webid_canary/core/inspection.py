"""What one inspection of an OIDC issuer saw: discovery, keys, and the TLS chain each host presented.

Plain facts, produced by the HTTPS adapter and read by the pure drift checks and the explain engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from webid_canary.core.model import IdpFacts


class Role(StrEnum):
    ISSUER = "issuer"
    JWKS = "jwks"


class Failure(StrEnum):
    """Why a fetch failed: one word for machines; the error text says the rest for people."""

    REFUSED = "refused"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    STATUS = "status"
    REDIRECT = "redirect"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """One presented certificate: names, expiry and its SHA-1 thumbprint as AWS computes it."""

    subject: str
    issuer: str
    not_after: datetime
    thumbprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "thumbprint": self.thumbprint,
        }


@dataclass(frozen=True, slots=True)
class HostFacts:
    """The TLS facts of one host (`host[:port]`): the chain as presented, leaf first, and who trusts it."""

    host: str
    role: Role
    chain: tuple[CertificateFacts, ...] = ()
    # Verifies to a root of the system trust store: the question AWS asks of its own trusted CAs.
    trusted_root_ca: bool | None = None
    # Verifies only through the CA file given for private issuers; never counts as a public root.
    verified_by_ca_file: bool | None = None
    tls_version: str | None = None
    error: str | None = None

    @property
    def thumbprint(self) -> str | None:
        """AWS's thumbprint for this host: SHA-1 of the last certificate presented."""
        return self.chain[-1].thumbprint if self.chain else None

    @property
    def not_after(self) -> datetime | None:
        """When the first presented certificate to expire expires."""
        return min((cert.not_after for cert in self.chain), default=None)

    def to_json(self) -> dict[str, Any]:
        """The drift contract's host object."""
        not_after = self.not_after
        return {
            "host": self.host,
            "role": self.role.value,
            "thumbprint": self.thumbprint,
            "trusted_root_ca": self.trusted_root_ca,
            "not_after": not_after.isoformat() if not_after else None,
        }


@dataclass(frozen=True, slots=True)
class Fetch:
    """One HTTPS GET: status, time taken, and on failure what failed."""

    url: str
    status: int | None = None
    seconds: float | None = None
    failure: Failure | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def evidence(self) -> dict[str, Any]:
        return {"url": self.url, "failure": self.failure, "error": self.error, "status": self.status}


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """One JWKS entry, as published."""

    kid: str | None
    kty: str | None
    alg: str | None = None
    use: str | None = None
    crv: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> KeyFacts:
        def text(name: str) -> str | None:
            value = raw.get(name)
            return value if isinstance(value, str) and value else None

        return cls(kid=text("kid"), kty=text("kty"), alg=text("alg"), use=text("use"), crv=text("crv"))


@dataclass(frozen=True, slots=True)
class IssuerInspection:
    """Everything one inspection of an issuer URL saw, failures included as data."""

    url: str
    inspected_at: datetime
    discovery: Fetch
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks: Fetch | None = None
    keys: tuple[KeyFacts, ...] = ()
    hosts: tuple[HostFacts, ...] = ()

    @property
    def seconds(self) -> float:
        """Time spent fetching discovery and JWKS, as STS would."""
        return sum(f.seconds or 0.0 for f in (self.discovery, self.jwks) if f is not None)

    @property
    def jwks_ok(self) -> bool:
        return self.jwks is not None and self.jwks.ok

    @property
    def kids(self) -> tuple[str, ...] | None:
        """Key ids of the live JWKS, None when it was not read."""
        if not self.jwks_ok:
            return None
        return tuple(key.kid for key in self.keys if key.kid is not None)

    def host(self, role: Role) -> HostFacts | None:
        return next((h for h in self.hosts if h.role is role), None)

    @property
    def key_host(self) -> HostFacts | None:
        """The host that serves the keys (the issuer host when the JWKS lives there too)."""
        return self.host(Role.JWKS) or self.host(Role.ISSUER)

    def idp_facts(self, *, ca_file_is_public: bool = False) -> IdpFacts:
        """Live facts for the explain engine; `ca_file_is_public` lets a local environment play AWS's trust store."""
        thumbprints = tuple(dict.fromkeys(h.thumbprint for h in self.hosts if h.thumbprint))
        key_host = self.key_host
        trusted: bool | None = None
        if key_host is not None and key_host.trusted_root_ca is not None:
            trusted = key_host.trusted_root_ca or (ca_file_is_public and bool(key_host.verified_by_ca_file))
        return IdpFacts(
            presented_thumbprints=thumbprints or None,
            trusted_root_ca=trusted,
            jwks_reachable=self.jwks_ok,
            jwks_kids=self.kids,
        )

    def to_json(self) -> dict[str, Any]:
        def fetch(f: Fetch | None) -> dict[str, Any] | None:
            return None if f is None else {**f.evidence(), "seconds": f.seconds}

        return {
            "url": self.url,
            "inspected_at": self.inspected_at.isoformat(),
            "discovery": fetch(self.discovery),
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "jwks": fetch(self.jwks),
            "keys": [{"kid": k.kid, "kty": k.kty, "alg": k.alg, "use": k.use} for k in self.keys],
            "hosts": [
                {
                    **h.to_json(),
                    "verified_by_ca_file": h.verified_by_ca_file,
                    "tls_version": h.tls_version,
                    "error": h.error,
                    "chain": [c.to_json() for c in h.chain],
                }
                for h in self.hosts
            ],
            "seconds": round(self.seconds, 3),
        }


def failed_inspection(issuer_url: str, now: datetime, failure: Failure, reason: str) -> IssuerInspection:
    """An inspection that got nowhere: drift reports it as discovery_unreachable, explain as keys unreachable."""
    discovery = Fetch(url=issuer_url.rstrip("/") + "/.well-known/openid-configuration", failure=failure, error=reason)
    return IssuerInspection(url=issuer_url, inspected_at=now, discovery=discovery)
