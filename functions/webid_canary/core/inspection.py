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

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CertificateFacts:
        return cls(
            subject=str(raw["subject"]),
            issuer=str(raw["issuer"]),
            not_after=datetime.fromisoformat(str(raw["not_after"])),
            thumbprint=str(raw["thumbprint"]),
        )


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

    def to_record(self) -> dict[str, Any]:
        """Every fact of the host (the drift contract's object plus the chain and how it verified)."""
        return {
            **self.to_json(),
            "verified_by_ca_file": self.verified_by_ca_file,
            "tls_version": self.tls_version,
            "error": self.error,
            "chain": [c.to_json() for c in self.chain],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HostFacts:
        """The host from `to_record` (the thumbprint and expiry follow from the chain)."""
        return cls(
            host=str(raw["host"]),
            role=Role(raw["role"]),
            chain=tuple(CertificateFacts.from_json(c) for c in raw.get("chain") or ()),
            trusted_root_ca=_optional_bool(raw.get("trusted_root_ca")),
            verified_by_ca_file=_optional_bool(raw.get("verified_by_ca_file")),
            tls_version=_optional_text(raw.get("tls_version")),
            error=_optional_text(raw.get("error")),
        )


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

    def to_json(self) -> dict[str, Any]:
        return {
            **self.evidence(),
            "failure": None if self.failure is None else self.failure.value,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fetch:
        status, seconds, failure = raw.get("status"), raw.get("seconds"), raw.get("failure")
        return cls(
            url=str(raw["url"]),
            status=None if status is None else int(status),
            seconds=None if seconds is None else float(seconds),
            failure=None if failure is None else Failure(failure),
            error=_optional_text(raw.get("error")),
        )


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

    def to_json(self) -> dict[str, Any]:
        return {"kid": self.kid, "kty": self.kty, "alg": self.alg, "use": self.use, "crv": self.crv}

    def to_summary(self) -> dict[str, Any]:
        """The key as the CLI's documented JSON shows it (no curve)."""
        return {"kid": self.kid, "kty": self.kty, "alg": self.alg, "use": self.use}


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

    def to_json(self, *, complete: bool = False) -> dict[str, Any]:
        """What was seen, as JSON: the CLI's documented shape, or with `complete` every fact (each key's curve
        too), which `from_json` gives back as the same inspection."""
        return {
            "url": self.url,
            "inspected_at": self.inspected_at.isoformat(),
            "discovery": self.discovery.to_json(),
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "jwks": None if self.jwks is None else self.jwks.to_json(),
            "keys": [k.to_json() if complete else k.to_summary() for k in self.keys],
            "hosts": [h.to_record() for h in self.hosts],
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IssuerInspection:
        """The inspection `to_json` wrote; raises ValueError (or KeyError) for a document it did not write."""
        jwks = raw.get("jwks")
        return cls(
            url=str(raw["url"]),
            inspected_at=datetime.fromisoformat(str(raw["inspected_at"])),
            discovery=Fetch.from_json(raw["discovery"]),
            issuer=_optional_text(raw.get("issuer")),
            jwks_uri=_optional_text(raw.get("jwks_uri")),
            jwks=None if jwks is None else Fetch.from_json(jwks),
            keys=tuple(KeyFacts.parse(k) for k in raw.get("keys") or ()),
            hosts=tuple(HostFacts.from_json(h) for h in raw.get("hosts") or ()),
        )


def failed_inspection(issuer_url: str, now: datetime, failure: Failure, reason: str) -> IssuerInspection:
    """An inspection that got nowhere: drift reports it as discovery_unreachable, explain as keys unreachable."""
    discovery = Fetch(url=issuer_url.rstrip("/") + "/.well-known/openid-configuration", failure=failure, error=reason)
    return IssuerInspection(url=issuer_url, inspected_at=now, discovery=discovery)


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_bool(value: object) -> bool | None:
    return None if value is None else bool(value)
