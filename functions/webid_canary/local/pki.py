"""A throw-away three-level PKI (root, intermediate, leaf) for the local HTTPS issuers.

Every run makes its own keys: no certificate here was written by hand, so thumbprints are computed, not
remembered. Intermediates can be rotated and cross-signed by a second root, the two events behind real
thumbprint outages.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "127.0.0.2")


def thumbprint(cert: x509.Certificate) -> str:
    """AWS's thumbprint of a certificate: SHA-1 over its DER encoding, 40 lowercase hex."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True, slots=True)
class Chain:
    """What one TLS server presents: a leaf, its intermediate, and optionally the intermediate's cross-signed twin."""

    leaf: Credential
    intermediate: Credential
    cross: x509.Certificate | None = None
    label: str = "Issuer"

    def presented(self, cross_signed: bool = False) -> tuple[x509.Certificate, ...]:
        """The certificates sent in the handshake, leaf first; the last one is what AWS fingerprints."""
        if cross_signed:
            if self.cross is None:
                raise ValueError("this chain has no cross-signed intermediate")
            return (self.leaf.cert, self.cross)
        return (self.leaf.cert, self.intermediate.cert)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "webid-canary local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


class Pki:
    """Roots, intermediates and leaves written as PEM files under one temporary directory."""

    def __init__(self, directory: Path | None = None, *, now: datetime | None = None) -> None:
        if directory is None:
            self._tmp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(prefix="webid-canary-pki-")
            directory = Path(self._tmp.name)
        else:
            self._tmp = None
            directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.now = now or datetime.now(UTC)
        self._serials = itertools.count(1)
        self._files = itertools.count(1)
        self.root = self._ca("webid-canary Local Root CA", issuer=None, days=3650)
        self.alt_root = self._ca("webid-canary Local Alternative Root CA", issuer=None, days=3650)
        self.ca_file = directory / "roots.pem"
        self.ca_file.write_bytes(self.root.cert_pem() + self.alt_root.cert_pem())
        self.root_file = directory / "root.pem"
        self.root_file.write_bytes(self.root.cert_pem())

    def close(self) -> None:
        """Remove the files (only when this object created the directory)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def new_chain(self, hosts: Sequence[str] = DEFAULT_HOSTS, *, label: str = "Issuer", days: int = 365) -> Chain:
        """A fresh intermediate under the root, its cross-signed twin, and a leaf for these hosts."""
        generation = next(self._serials)
        intermediate = self._ca(f"webid-canary {label} Intermediate CA {generation}", issuer=self.root, days=1825)
        leaf = self._leaf(hosts, intermediate, days=days)
        return Chain(leaf=leaf, intermediate=intermediate, cross=self.cross_sign(intermediate), label=label)

    def rotate(self, chain: Chain, hosts: Sequence[str] = DEFAULT_HOSTS, *, days: int = 365) -> Chain:
        """The same hosts served through a new intermediate (new key, new certificate) and a re-issued leaf."""
        return self.new_chain(hosts, label=chain.label, days=days)

    def cross_sign(self, intermediate: Credential) -> x509.Certificate:
        """The intermediate's twin: same subject and key, issued by the alternative root."""
        return self._ca_cert(
            intermediate.cert.subject,
            intermediate.key.public_key(),
            issuer=self.alt_root,
            days=1825,
        )

    def write(self, chain: Chain, *, cross_signed: bool = False) -> tuple[Path, Path]:
        """PEM files for ssl.SSLContext.load_cert_chain: (certificates leaf first, private key)."""
        number = next(self._files)
        cert_path = self.directory / f"chain-{number}.pem"
        key_path = self.directory / f"key-{number}.pem"
        certs = chain.presented(cross_signed)
        cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        key_path.write_bytes(chain.leaf.key_pem())
        key_path.chmod(0o600)
        return cert_path, key_path

    def _validity(self, builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
        return builder.not_valid_before(self.now - timedelta(days=1)).not_valid_after(self.now + timedelta(days=days))

    def _ca(self, common_name: str, *, issuer: Credential | None, days: int) -> Credential:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._ca_cert(_name(common_name), key.public_key(), issuer=issuer, days=days, own_key=key)
        return Credential(cert=cert, key=key)

    def _ca_cert(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        issuer: Credential | None,
        days: int,
        own_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> x509.Certificate:
        signer = issuer.key if issuer is not None else own_key
        if signer is None:
            raise ValueError("a self-signed certificate needs its own key")
        builder = self._validity(x509.CertificateBuilder(), days)
        builder = (
            builder.subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer is not None else subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        authority = issuer.key.public_key() if issuer is not None else public_key
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def _leaf(self, hosts: Sequence[str], issuer: Credential, *, days: int) -> Credential:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._validity(x509.CertificateBuilder(), days)
        cert = (
            builder.subject_name(_name(hosts[0]))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
            .sign(issuer.key, hashes.SHA256())
        )
        return Credential(cert=cert, key=key)
