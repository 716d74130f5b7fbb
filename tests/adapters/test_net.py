"""The one network guard: which addresses and hosts are refused and why, one lookup per host, and JSON depth."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from webid_canary.adapters import net
from webid_canary.adapters.issuer import fetch_json, inspect_issuer
from webid_canary.adapters.token_sources import TokenFetcher
from webid_canary.core.inspection import Failure
from webid_canary.core.targets import ClientCredentialsSource
from webid_canary.local.issuer import LocalIssuer

# address -> (reason without allow_private, reason with allow_private); None means connected to.
ADDRESSES: list[tuple[str, str | None, str | None]] = [
    ("8.8.8.8", None, None),
    ("2606:4700:4700::1111", None, None),
    ("::ffff:8.8.8.8", None, None),
    ("64:ff9b::808:808", None, None),
    ("169.254.169.254", "an instance metadata address", "an instance metadata address"),
    ("fd00:ec2::254", "an instance metadata address", "an instance metadata address"),
    ("169.254.170.2", "an instance metadata address", "an instance metadata address"),
    ("169.254.170.23", "an instance metadata address", "an instance metadata address"),
    (
        "::ffff:169.254.169.254",
        "an instance metadata address in IPv4-mapped form",
        "an instance metadata address in IPv4-mapped form",
    ),
    ("64:ff9b::a9fe:a9fe", "an instance metadata address in NAT64 form", "an instance metadata address in NAT64 form"),
    (
        "64:ff9b:1::a9fe:a9fe",
        "an instance metadata address in NAT64 form",
        "an instance metadata address in NAT64 form",
    ),
    ("64:ff9b:1::808:808", "a private address", None),
    ("2002:a9fe:a9fe::1", "an instance metadata address in 6to4 form", "an instance metadata address in 6to4 form"),
    (
        "64:ff9b::169.254.170.2",
        "an instance metadata address in NAT64 form",
        "an instance metadata address in NAT64 form",
    ),
    (
        "::169.254.169.254",
        "an instance metadata address in IPv4-compatible form",
        "an instance metadata address in IPv4-compatible form",
    ),
    ("127.0.0.1", "a loopback address", None),
    ("127.8.9.10", "a loopback address", None),
    ("::1", "a loopback address", None),
    ("::ffff:127.0.0.1", "a loopback address in IPv4-mapped form", None),
    ("64:ff9b::7f00:1", "a loopback address in NAT64 form", None),
    ("::127.0.0.1", "a loopback address in IPv4-compatible form", None),
    ("0.0.0.0", "an unspecified address", None),
    ("::", "an unspecified address", None),
    ("169.254.10.1", "a link-local address", None),
    ("fe80::1", "a link-local address", None),
    ("10.1.2.3", "a private address", None),
    ("172.16.0.1", "a private address", None),
    ("192.168.1.1", "a private address", None),
    ("fd12:3456::1", "a private address", None),
    ("::ffff:10.0.0.1", "a private address in IPv4-mapped form", None),
    ("64:ff9b::a00:1", "a private address in NAT64 form", None),
    ("2002:a00:1::1", "a private address in 6to4 form", None),
    ("224.0.0.1", "a multicast address", None),
    ("ff02::1", "a multicast address", None),
    ("240.0.0.1", "a private address", None),
    ("100.64.0.1", "a reserved (not public) address", None),
    ("192.0.2.1", "a private address", None),
]


@pytest.mark.parametrize(("address", "refused", "refused_with_private"), ADDRESSES, ids=[a for a, _, _ in ADDRESSES])
def test_address_refusals(address: str, refused: str | None, refused_with_private: str | None) -> None:
    ip = ipaddress.ip_address(address)

    assert net.address_refusal(ip) == refused
    assert net.address_refusal(ip, allow_private=True) == refused_with_private


HOSTS: list[tuple[str, str | None]] = [
    ("token.actions.githubusercontent.com", None),
    ("xn--bcher-kva.example", None),
    ("IdP.Example.", None),
    ("127.0.0.1", None),
    ("::1", None),
    (
        "bücher.example",
        "host 'bücher.example' is not ASCII: give an internationalised name in its xn-- (punycode) form",
    ),
    ("idp\nexample", "host 'idp\\nexample' has spaces or control characters"),
    (
        "bad_host.example",
        "host 'bad_host.example' has an underscore; host names are letters, digits and hyphens (RFC 1123)",
    ),
    ("-idp.example", "'-idp.example' is not a host name or IP address"),
    ("idp..example", "'idp..example' is not a host name or IP address"),
    ("a" * 64 + ".example", f"'{'a' * 64}.example' is not a host name or IP address"),
]


@pytest.mark.parametrize(("host", "refused"), HOSTS, ids=[h for h, _ in HOSTS])
def test_host_refusals(host: str, refused: str | None) -> None:
    assert net.host_refusal(host) == refused
    if refused is not None:
        assert "\n" not in refused


def test_a_host_resolving_to_a_refused_address_is_refused_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"idp.example": ["93.184.216.34", "10.0.0.7"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns(answers, []))

    with pytest.raises(net.RefusedError) as caught:
        net.checked_addresses("idp.example", 443, allow_private=False, deadline=net.Deadline.after(5, "a test's"))

    assert caught.value.reason == "idp.example resolves to a private address (10.0.0.7)"
    assert not caught.value.always


def fake_dns(answers: dict[str, list[str]], asked: list[str]) -> Callable[..., list[Any]]:
    """getaddrinfo answering names from `answers`, recording every name asked; a second answer for a name
    rebinds it to the metadata address. Address literals are answered as themselves, as the real one does."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            asked.append(host)
        else:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]
        addresses = answers[host] if asked.count(host) == 1 else ["169.254.169.254"]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


def test_the_connection_goes_to_the_address_that_was_checked(
    local_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second lookup would answer the metadata address (DNS rebinding); there must be none.
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"localhost": ["127.0.0.1"]}, asked))
    url = f"https://localhost:{local_issuer.port}/.well-known/openid-configuration"

    fetched = fetch_json(url, allow_private=True, ca_file=local_issuer.ca_file)

    assert fetched.fetch.ok, fetched.fetch.error
    assert asked == ["localhost"]
    assert fetched.host is not None and fetched.host.verified_by_ca_file is True


def test_a_token_endpoint_is_connected_to_at_the_address_that_was_checked(
    local_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    asked: list[str] = []
    with mock_aws():
        aws = boto3.session.Session(region_name="eu-west-1")
        aws.client("secretsmanager").create_secret(Name="webid-canary/client", SecretString="s3cr3t")
        monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"localhost": ["127.0.0.1"]}, asked))
        local_issuer.clients["c"] = "s3cr3t"
        source = ClientCredentialsSource(
            token_endpoint=f"https://localhost:{local_issuer.port}/oauth2/token",
            client_id="c",
            secret_id="webid-canary/client",
        )

        token = TokenFetcher(aws, ca_file=local_issuer.ca_file, allow_private=True).fetch(source)

    assert token.value.count(".") == 2
    assert asked == ["localhost"]


def test_a_wall_clock_deadline_bounds_an_inspection(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(drip=0.05)
    deadline = net.monotonic_deadline(datetime.now(UTC) + timedelta(seconds=0.4))

    seen = inspect_issuer(
        local_issuer.url,
        allow_private=True,
        ca_file=local_issuer.ca_file,
        timeout=30,
        now=datetime.now(UTC),
        deadline=deadline,
    )

    assert seen.discovery.failure is Failure.TIMEOUT
    assert "before the caller's deadline" in str(seen.discovery.error)


@pytest.mark.parametrize(
    ("document", "depth_ok"),
    [
        ('{"keys": [{"kid": "a"}]}', True),
        ("[" * 64 + "]" * 64, True),
        ("[" * 65 + "]" * 65, False),
        ('{"a": "' + "[" * 500 + '"}', True),
        ('{"a": "\\"' + "{" * 500 + '"}', True),
    ],
    ids=["a key set", "64 levels", "65 levels", "brackets inside a string", "brackets after an escaped quote"],
)
def test_json_depth_is_counted_outside_strings(document: str, depth_ok: bool) -> None:
    if depth_ok:
        assert net.load_json(document) is not None
    else:
        with pytest.raises(net.JsonDepthError, match="JSON nested deeper than 64 levels"):
            net.load_json(document)


def test_json_that_is_not_json_stays_a_value_error() -> None:
    with pytest.raises(ValueError) as caught:
        net.load_json('{"a": "unterminated ' + "[" * 100)
    assert not isinstance(caught.value, net.JsonDepthError)


class DrippingRelay:
    """A TCP relay on 127.0.0.1 in front of `port` that passes the server's bytes on one at a time, slowly:
    the TLS handshake itself drips."""

    def __init__(self, port: int, pause: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._target, self._pause = port, pause
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._pipe, args=(client, server, 0.0), daemon=True).start()
            self._pipe(server, client, self._pause)

    def _pipe(self, source: socket.socket, sink: socket.socket, pause: float) -> None:
        with contextlib.suppress(OSError), source, sink:
            while data := source.recv(65536):
                for index in range(len(data)) if pause else [None]:
                    sink.sendall(data if index is None else data[index : index + 1])
                    time.sleep(pause)

    def close(self) -> None:
        self.listener.close()


def test_a_dripping_tls_handshake_is_cut_off_at_the_request_budget(local_issuer: LocalIssuer) -> None:
    relay = DrippingRelay(local_issuer.port, pause=0.02)
    try:
        seen = inspect_issuer(f"https://127.0.0.1:{relay.port}", allow_private=True, timeout=0.4, now=datetime.now(UTC))
    finally:
        relay.close()

    assert seen.discovery.failure is Failure.TIMEOUT
    assert seen.discovery.error == "TLS handshake with 127.0.0.1 timed out after 0.4 s (a request's budget)"


def test_the_certificate_is_checked_for_the_host_name_not_the_address_connected_to(
    local_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The issuer's certificate names localhost and 127.0.0.1, not idp.example, which resolves to 127.0.0.1 here.
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"idp.example": ["127.0.0.1"]}, []))

    fetched = fetch_json(
        f"https://idp.example:{local_issuer.port}/.well-known/openid-configuration",
        allow_private=True,
        ca_file=local_issuer.ca_file,
    )

    assert fetched.fetch.ok
    assert fetched.host is not None and fetched.host.verified_by_ca_file is False
