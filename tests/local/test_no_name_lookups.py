"""The local servers start and answer without asking DNS for a name: a reverse lookup of 127.0.0.2 leaves the machine."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request
from collections.abc import Iterator

import pytest

from webid_canary.local.aws import LocalMotoServer
from webid_canary.local.issuer import DISCOVERY_PATH, LocalIssuer
from webid_canary.local.pki import Pki


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every reverse name lookup fails (and is recorded) while the test runs."""
    asked: list[str] = []

    def refuse(name: object = "", *_: object) -> str:
        asked.append(str(name))
        raise OSError(f"name lookup of {name!r} attempted")

    for function in ("getfqdn", "gethostbyaddr", "getnameinfo"):
        monkeypatch.setattr(socket, function, refuse)
    yield asked


def get_json(url: str, ca_file: str) -> dict[str, object]:
    context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(url, context=context, timeout=5) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def test_the_issuer_serves_both_hosts_without_a_name_lookup(lookups: list[str], local_pki: Pki) -> None:
    with LocalIssuer(local_pki, jwks_on_second_host=True) as issuer:
        jwks_uri = issuer.jwks_uri
        discovery = get_json(issuer.url + DISCOVERY_PATH, issuer.ca_file)
        keys = get_json(jwks_uri, issuer.ca_file)

    assert jwks_uri.startswith("https://127.0.0.2:")
    assert discovery["jwks_uri"] == jwks_uri
    assert [key["kid"] for key in keys["keys"]] == ["key-1"]  # type: ignore[index, union-attr]
    assert lookups == []


def test_the_moto_server_serves_without_a_name_lookup(lookups: list[str]) -> None:
    with LocalMotoServer(None) as server:
        endpoint = server.endpoint_url
        identity = server.client("sts").get_caller_identity()

    assert endpoint.startswith("http://127.0.0.1:")
    assert identity["Account"] == "123456789012"
    assert lookups == []
