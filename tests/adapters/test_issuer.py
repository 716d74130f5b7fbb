"""Issuer inspection against real TLS on 127.0.0.1: thumbprints, chains, failures as data, and drift."""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import boto3
import pytest
from moto import mock_aws

from tests.openssl import openssl_last_certificate_sha1
from webid_canary.adapters.iam import IamReader
from webid_canary.adapters.issuer import (
    CaFileError,
    IssuerUrlError,
    check_ca_file,
    check_issuer_url,
    fetch_jwks,
    inspect_issuer,
    inspect_issuers,
    last_certificate_thumbprint,
)
from webid_canary.core.catalogue import Severity
from webid_canary.core.drift import baseline_from, check_drift
from webid_canary.core.inspection import Failure, IssuerInspection, Role
from webid_canary.core.model import ProviderRecord
from webid_canary.local.issuer import LocalIssuer, free_port

IssuerFactory = Callable[..., LocalIssuer]
NOW = datetime.now(UTC)


def inspect(issuer: LocalIssuer, **kwargs: object) -> IssuerInspection:
    options: dict[str, object] = {"allow_private": True, "ca_file": issuer.ca_file, "now": NOW, **kwargs}
    return inspect_issuer(issuer.url, **options)  # type: ignore[arg-type]


def record(issuer: LocalIssuer, *thumbprints: str) -> ProviderRecord:
    return ProviderRecord(
        url=issuer.provider_url,
        client_ids=("sts.amazonaws.com",),
        thumbprints=thumbprints or (issuer.thumbprint,),
        arn=f"arn:aws:iam::123456789012:oidc-provider/{issuer.provider_url}",
    )


def codes(issuer: LocalIssuer, seen: IssuerInspection, **kwargs: object) -> dict[str, Severity]:
    findings = check_drift(record(issuer), seen, None, now=NOW, **kwargs)  # type: ignore[arg-type]
    return {f.code: f.severity for f in findings}


# ----- thumbprints and chains


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_thumbprint_is_the_sha1_of_the_last_certificate_openssl_shows(local_issuer: LocalIssuer) -> None:
    seen = inspect(local_issuer)
    issuer_host = seen.host(Role.ISSUER)
    assert issuer_host is not None
    assert issuer_host.thumbprint == openssl_last_certificate_sha1("127.0.0.1", local_issuer.port)
    # The last certificate is the intermediate, not the leaf that tools in the wild fingerprint.
    assert len(issuer_host.chain) == 2
    assert issuer_host.chain[0].subject == "CN=localhost,O=webid-canary local"
    assert issuer_host.chain[-1].subject.startswith("CN=webid-canary Issuer Intermediate CA")


def test_a_well_behaved_issuer_has_no_drift(local_issuer: LocalIssuer) -> None:
    seen = inspect(local_issuer)
    assert seen.discovery.ok and seen.jwks_ok
    assert seen.issuer == local_issuer.url
    assert seen.kids == ("key-1",)
    assert [k.alg for k in seen.keys] == ["RS256"]
    assert seen.discovery.status == 200 and seen.discovery.seconds is not None
    assert codes(local_issuer, seen) == {}


def test_private_roots_are_kept_apart_from_public_ones(local_issuer: LocalIssuer) -> None:
    with_ca_file = inspect(local_issuer).hosts[0]
    assert with_ca_file.trusted_root_ca is False
    assert with_ca_file.verified_by_ca_file is True
    without = inspect(local_issuer, ca_file=None)
    host = without.hosts[0]
    assert host.trusted_root_ca is False
    assert host.verified_by_ca_file is None
    assert host.error is not None and "not trusted by the system store" in host.error
    # Read anyway, as STS does when it falls back to thumbprints; the drift check is what guards it.
    assert without.jwks_ok
    assert host.thumbprint == local_issuer.thumbprint


def unusable_ca_files(directory: Path) -> dict[str, tuple[str, str]]:
    """Name -> (path, what the refusal says) for CA files that cannot be used."""
    text = directory / "notpem"
    text.write_text("not a certificate\n")
    key_only = directory / "key.pem"
    key_only.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    broken = directory / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nabcd\n-----END CERTIFICATE-----\n")
    return {
        "missing": (str(directory / "missing.pem"), "cannot read it (No such file or directory)"),
        "directory": (str(directory), "cannot read it (Is a directory)"),
        "not PEM": (str(text), "no PEM certificate in it"),
        "a key, no certificate": (str(key_only), "no PEM certificate in it"),
        "broken certificate": (str(broken), "a PEM certificate in it cannot be parsed"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not PEM", "a key, no certificate", "broken certificate"])
def test_an_unusable_ca_file_is_refused_naming_the_file_and_the_reason(case: str, tmp_path: Path) -> None:
    path, reason = unusable_ca_files(tmp_path)[case]

    with pytest.raises(CaFileError) as caught:
        check_ca_file(path)

    assert (caught.value.path, str(caught.value)) == (path, f"{path}: {caught.value.reason}")
    assert caught.value.reason.startswith(reason)
    assert "\n" not in str(caught.value)


def test_inspection_with_an_unusable_ca_file_is_refused_before_connecting(
    local_issuer: LocalIssuer, tmp_path: Path
) -> None:
    notpem = tmp_path / "notpem"
    notpem.write_text("not a certificate\n")
    check_ca_file(local_issuer.ca_file)

    for inspect_with_it in (
        lambda: inspect(local_issuer, ca_file=str(notpem)),
        lambda: inspect_issuers([local_issuer.url], allow_private=True, ca_file=str(notpem), now=NOW),
        lambda: fetch_jwks(local_issuer.jwks_uri, allow_private=True, ca_file=str(notpem)),
    ):
        with pytest.raises(CaFileError, match="no PEM certificate"):
            inspect_with_it()


def test_intermediate_rotation_is_drift_between_two_runs(local_issuer: LocalIssuer) -> None:
    provider = record(local_issuer)
    first = inspect(local_issuer)
    baseline = baseline_from(provider, first, None, now=NOW)
    assert check_drift(provider, first, baseline, now=NOW) == ()

    local_issuer.rotate_intermediate()
    second = inspect(local_issuer)
    findings = {f.code: f for f in check_drift(provider, second, baseline, now=NOW)}
    assert set(findings) == {"thumbprint_mismatch", "thumbprint_changed"}
    # A private chain: AWS checks the thumbprint list, so this breaks STS.
    assert findings["thumbprint_mismatch"].severity is Severity.CRITICAL
    assert findings["thumbprint_changed"].evidence["after"] == local_issuer.thumbprint


def test_cross_signed_chain_yields_its_own_thumbprint(local_issuer: LocalIssuer) -> None:
    usual = inspect(local_issuer).hosts[0]
    local_issuer.use_cross_signed_chain(True)
    cross = inspect(local_issuer).hosts[0]
    assert cross.thumbprint == local_issuer.thumbprint != usual.thumbprint
    # Same intermediate (subject and key), another issuer: the alternative root.
    assert cross.chain[-1].subject == usual.chain[-1].subject
    assert cross.chain[-1].issuer != usual.chain[-1].issuer
    assert cross.verified_by_ca_file is True
    provider = record(local_issuer, str(usual.thumbprint))
    findings = check_drift(provider, inspect(local_issuer), None, now=NOW)
    assert [(f.code, f.severity) for f in findings] == [("thumbprint_mismatch", Severity.CRITICAL)]


def test_keys_on_a_second_host_the_list_does_not_cover(issuer_factory: IssuerFactory) -> None:
    issuer = issuer_factory(jwks_on_second_host=True, path="tenant")
    seen = inspect(issuer)
    hosts = {h.role: h for h in seen.hosts}
    assert hosts[Role.ISSUER].host == f"127.0.0.1:{issuer.port}"
    assert hosts[Role.JWKS].host == f"127.0.0.2:{issuer.jwks_port}"
    assert hosts[Role.JWKS].thumbprint == issuer.jwks_thumbprint
    findings = check_drift(record(issuer), seen, None, now=NOW)
    assert [(f.code, f.severity) for f in findings] == [("thumbprint_host_uncovered", Severity.HIGH)]
    assert findings[0].evidence["host"] == hosts[Role.JWKS].host
    covered = record(issuer, issuer.thumbprint, issuer.jwks_thumbprint)
    assert check_drift(covered, seen, None, now=NOW) == ()


# ----- the issuer misbehaving


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ({"omit_kid": True}, {"jwks_kid_missing": Severity.HIGH}),
        ({"key_alg": "PS256"}, {"jwks_alg_unsupported": Severity.HIGH}),
        ({"discovery_issuer": "https://127.0.0.1/renamed"}, {"issuer_mismatch": Severity.CRITICAL}),
    ],
)
def test_key_set_and_discovery_defects(
    local_issuer: LocalIssuer, mode: dict[str, object], expected: dict[str, Severity]
) -> None:
    local_issuer.set_mode(**mode)
    assert codes(local_issuer, inspect(local_issuer)) == expected


@pytest.mark.parametrize(
    ("endpoint", "failure", "code", "what", "message"),
    [
        ("discovery", "not_json", "discovery_unreachable", Failure.NOT_JSON, "answer is not JSON"),
        ("discovery", "oversized", "discovery_unreachable", Failure.TOO_LARGE, "exceeds 1000000"),
        ("discovery", "redirect", "discovery_unreachable", Failure.REDIRECT, "redirect to another host refused"),
        ("discovery", "404", "discovery_unreachable", Failure.STATUS, "HTTP 404"),
        ("jwks", "500", "jwks_unreachable", Failure.STATUS, "HTTP 500"),
        ("jwks", "not_json", "jwks_unreachable", Failure.NOT_JSON, "answer is not JSON"),
        ("jwks", "oversized", "jwks_unreachable", Failure.TOO_LARGE, "exceeds 1000000"),
    ],
)
def test_failures_become_findings_naming_the_url_and_what_failed(
    local_issuer: LocalIssuer, endpoint: str, failure: str, code: str, what: Failure, message: str
) -> None:
    local_issuer.set_mode(broken=endpoint, failure=failure)
    (finding,) = check_drift(record(local_issuer), inspect(local_issuer), None, now=NOW)
    assert finding.code == code
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["failure"] == what
    assert message in finding.evidence["error"]
    assert finding.evidence["url"].startswith(local_issuer.url)


def test_redirects_within_the_host_are_followed(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(
        broken="discovery", failure="redirect", redirect_to=local_issuer.url + "/.well-known/jwks.json"
    )
    seen = inspect(local_issuer)
    # The redirect lands on the JWKS, a JSON object without issuer: followed, then judged.
    assert seen.discovery.ok
    assert "issuer_mismatch" in codes(local_issuer, seen)


def test_slow_issuer_is_reported_against_a_threshold(local_issuer: LocalIssuer) -> None:
    # Discovery and JWKS each answer after 0.2 s: together they cannot beat a 0.3 s threshold.
    local_issuer.set_mode(delay=0.2)
    seen = inspect(local_issuer)

    (finding,) = check_drift(record(local_issuer), seen, None, now=NOW, slow_seconds=0.3)

    assert seen.discovery.ok and seen.jwks_ok
    assert (finding.code, finding.severity) == ("jwks_slow", Severity.MEDIUM)
    assert finding.evidence["threshold_seconds"] == 0.3


def test_an_issuer_slower_than_the_timeout_is_unreachable(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(delay=1.0)
    seen = inspect(local_issuer, timeout=0.3)
    assert seen.discovery.failure is Failure.TIMEOUT
    assert "0.3 s" in str(seen.discovery.error)
    assert codes(local_issuer, seen) == {"discovery_unreachable": Severity.CRITICAL}


def test_an_issuer_that_drips_its_answer_is_cut_off_at_the_request_budget(local_issuer: LocalIssuer) -> None:
    # One byte every 50 ms: no single read ever waits long, so only a total budget per request ends it.
    local_issuer.set_mode(drip=0.05)

    seen = inspect(local_issuer, timeout=0.4)

    assert seen.discovery.failure is Failure.TIMEOUT
    assert str(seen.discovery.error).endswith(" timed out after 0.4 s (a request's budget)")
    assert codes(local_issuer, seen) == {"discovery_unreachable": Severity.CRITICAL}


def test_the_inspection_budget_bounds_all_its_requests_together(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(drip=0.05)

    seen = inspect(local_issuer, timeout=30, budget=0.4)

    assert seen.discovery.failure is Failure.TIMEOUT
    assert "timed out after 0.4 s (the inspection's budget)" in str(seen.discovery.error)


def test_a_callers_deadline_cuts_an_inspection_short(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(drip=0.05)

    seen = inspect(local_issuer, timeout=30, deadline=time.monotonic() + 0.4)

    assert seen.discovery.failure is Failure.TIMEOUT
    assert "(what was left before the caller's deadline)" in str(seen.discovery.error)


def test_a_deadline_already_past_fetches_nothing(local_issuer: LocalIssuer) -> None:
    seen = inspect(local_issuer, deadline=time.monotonic() - 1)

    assert seen.discovery.failure is Failure.TIMEOUT
    assert seen.hosts[0].chain == ()


@pytest.mark.parametrize("endpoint", ["discovery", "jwks"])
def test_absurdly_nested_json_is_an_invalid_document(local_issuer: LocalIssuer, endpoint: str) -> None:
    local_issuer.set_mode(broken=endpoint, failure="deep_json")

    seen = inspect(local_issuer)

    fetch = seen.discovery if endpoint == "discovery" else seen.jwks
    assert fetch is not None
    assert fetch.failure is Failure.INVALID
    assert fetch.error == "answer is not a usable document: JSON nested deeper than 64 levels"


def test_closed_port_is_unreachable_with_evidence() -> None:
    url = f"https://127.0.0.1:{free_port()}"
    seen = inspect_issuer(url, allow_private=True, now=NOW)
    assert seen.discovery.failure is Failure.CONNECT
    assert "refused" in str(seen.discovery.error).lower()
    provider = ProviderRecord(url=url.removeprefix("https://"), thumbprints=("0" * 40,))
    (finding,) = check_drift(provider, seen, None, now=NOW)
    assert finding.code == "discovery_unreachable"
    assert finding.evidence["url"] == url + "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8443/", "only https:// URLs are fetched"),
        ("https://127.0.0.1:8443/?tenant=1", "no query or fragment"),
        ("https://127.0.0.1:8443/#x", "no query or fragment"),
        ("https://user:pw@127.0.0.1:8443/", "credentials in the URL"),
        ("https://127.0.0.1:8443/", "refused: 127.0.0.1 is a loopback address (127.0.0.1)"),
        ("https://localhost:8443/", "refused: localhost resolves to a loopback address"),
        ("https://10.1.2.3/", "refused: 10.1.2.3 is a private address (10.1.2.3); allow with --allow-private"),
        ("https://169.254.169.254/", "instance metadata address"),
        ("https://[fd00:ec2::254]/", "instance metadata address"),
        ("https://[::ffff:127.0.0.1]/", "loopback address"),
    ],
)
def test_refused_urls_give_one_line_naming_the_url(url: str, reason: str) -> None:
    with pytest.raises(IssuerUrlError) as refused:
        inspect_issuer(url, now=NOW)
    message = str(refused.value)
    assert message.startswith(url)
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notaurl", "not a URL; give https://host[:port][/path]"),
        ("idp.example/path", "not a URL; give https://host[:port][/path]"),
        ("https://exa mple.com/", "spaces or control characters"),
        ("https://idp.example/\n", "spaces or control characters"),
        ("https://bücher.example/", "non-ASCII characters"),
        ("https://idp.example/schlüssel", "non-ASCII characters"),
        ("https://bad_host/", "host 'bad_host' has an underscore; host names are letters, digits and hyphens"),
        ("https://-idp.example/", "'-idp.example' is not a host name"),
        ("https://idp.example:0/", "port 0"),
    ],
)
def test_what_is_not_an_https_host_port_path_url_is_refused_without_a_lookup(
    url: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"network call with {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    with pytest.raises(IssuerUrlError) as refused:
        inspect_issuer(url, allow_private=True, now=NOW)

    assert str(refused.value).startswith(f"{url.replace(chr(10), '\\n')}: {reason}")
    assert "\n" not in str(refused.value)


def test_host_names_ip_addresses_and_ports_that_are_fine_pass() -> None:
    for url in (
        "https://token.actions.githubusercontent.com",
        "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "https://xn--bcher-kva.example:8443/tenant/v2.0",
        "https://IdP.Example./",
        "https://127.0.0.1:8443",
        "https://[::1]:8443/",
    ):
        check_issuer_url(url)


def test_fetching_keys_from_a_metadata_address_is_refused_before_connecting() -> None:
    refused = fetch_jwks("https://169.254.169.254/keys", timeout=1)
    assert refused.fetch.failure is Failure.REFUSED
    assert "instance metadata address" in str(refused.fetch.error)
    assert refused.host is None


def test_fetch_jwks_returns_the_key_set_and_the_key_hosts_chain(issuer_factory: IssuerFactory) -> None:
    issuer = issuer_factory(jwks_on_second_host=True)
    fetched = fetch_jwks(issuer.jwks_uri, allow_private=True, ca_file=issuer.ca_file)
    assert fetched.fetch.ok
    assert fetched.body is not None and fetched.body["keys"][0]["kid"] == "key-1"
    assert fetched.host is not None and fetched.host.thumbprint == issuer.jwks_thumbprint
    not_keys = fetch_jwks(issuer.url + "/.well-known/openid-configuration", allow_private=True, ca_file=issuer.ca_file)
    assert not_keys.fetch.failure is Failure.INVALID


def test_last_certificate_thumbprint() -> None:
    assert last_certificate_thumbprint([]) is None
    assert last_certificate_thumbprint([b"leaf", b"intermediate"]) == hashlib.sha1(b"intermediate").hexdigest()


def test_many_issuers_at_once_each_fetched_once(issuer_factory: IssuerFactory) -> None:
    issuers = [issuer_factory(path=f"t{n}") for n in range(4)]
    done: list[str] = []
    results = inspect_issuers(
        [i.url for i in issuers] + [issuers[0].url, "http://plain.example"],
        allow_private=True,
        ca_file=issuers[0].ca_file,
        now=NOW,
        on_done=done.append,
    )
    assert len(results) == 5
    assert sorted(done) == sorted(results)
    for issuer in issuers:
        seen = results[issuer.url]
        assert isinstance(seen, IssuerInspection) and seen.issuer == issuer.url
    assert isinstance(results["http://plain.example"], IssuerUrlError)


def test_certificate_expiry_comes_from_the_presented_chain(local_issuer: LocalIssuer) -> None:
    seen = inspect(local_issuer)
    leaf_expiry = seen.hosts[0].chain[0].not_after
    assert seen.hosts[0].not_after == leaf_expiry
    later = leaf_expiry - timedelta(days=3)
    findings = check_drift(record(local_issuer), seen, None, now=later)
    assert [(f.code, f.severity) for f in findings] == [("certificate_expiring", Severity.HIGH)]


# ----- IAM provider records from moto


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[IamReader]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield IamReader(boto3.client("iam"))


def test_drift_of_moto_provider_records_against_live_issuers(iam: IamReader, issuer_factory: IssuerFactory) -> None:
    rotated = issuer_factory(path="rotated")
    split = issuer_factory(path="split", jwks_on_second_host=True)
    client = boto3.client("iam")
    for issuer in (rotated, split):
        client.create_open_id_connect_provider(
            Url=issuer.url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=[issuer.thumbprint]
        )
    rotated.rotate_intermediate()
    found: dict[str, set[str]] = {}
    for provider in iam.list_providers():
        issuer = rotated if provider.url == rotated.provider_url else split
        seen = inspect(issuer)
        found[provider.url] = {f.code for f in check_drift(provider, seen, None, now=NOW) if f.serious}
    assert found == {
        rotated.provider_url: {"thumbprint_mismatch"},
        split.provider_url: {"thumbprint_host_uncovered"},
    }


# ----- a chain that reaches a root of the system store


@pytest.fixture
def system_store_with_local_roots(monkeypatch: pytest.MonkeyPatch, local_issuer: LocalIssuer) -> Iterator[None]:
    """Make the session's roots the system trust store (SSL_CERT_FILE), as if they were public roots."""
    from webid_canary.adapters import issuer as adapter

    monkeypatch.setenv("SSL_CERT_FILE", local_issuer.ca_file)
    adapter._store.cache_clear()
    yield
    monkeypatch.undo()
    adapter._store.cache_clear()


@pytest.mark.usefixtures("system_store_with_local_roots")
def test_a_chain_to_a_trusted_root_makes_a_mismatch_informational(local_issuer: LocalIssuer) -> None:
    provider = record(local_issuer)
    local_issuer.rotate_intermediate()
    seen = inspect(local_issuer, ca_file=None)
    assert seen.hosts[0].trusted_root_ca is True
    assert seen.hosts[0].error is None
    assert seen.idp_facts().trusted_root_ca is True
    findings = check_drift(provider, seen, None, now=NOW)
    assert [(f.code, f.severity) for f in findings] == [("thumbprint_mismatch", Severity.INFO)]
    assert findings[0].evidence["aws_uses_thumbprints"] is False


def test_a_certificate_for_another_name_is_not_verified(issuer_factory: IssuerFactory) -> None:
    issuer = issuer_factory(hosts=("localhost",))
    host = inspect(issuer).hosts[0]
    assert host.verified_by_ca_file is False
    assert host.trusted_root_ca is False
    # Still fingerprinted: STS in thumbprint mode compares the thumbprint, whatever the name.
    assert host.thumbprint == issuer.thumbprint


def test_a_server_that_never_answers_the_handshake_times_out() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        seen = inspect_issuer(f"https://127.0.0.1:{port}", allow_private=True, timeout=0.3, now=NOW)
    assert seen.discovery.failure is Failure.TIMEOUT
    assert "timed out" in str(seen.discovery.error)


def test_a_plain_http_server_is_a_tls_failure() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """No access log in test output."""

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        seen = inspect_issuer(f"https://127.0.0.1:{server.server_address[1]}", allow_private=True, timeout=2, now=NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert seen.discovery.failure is Failure.TLS
    assert "TLS handshake failed" in str(seen.discovery.error)
