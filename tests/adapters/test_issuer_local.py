"""The local issuer is a real OIDC issuer: real TLS, real discovery and keys, tokens that verify."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import urllib.request
from pathlib import Path

import jwt
import pytest

from tests.openssl import openssl_last_certificate_sha1
from webid_canary.local.issuer import DISCOVERY_PATH, LocalIssuer


def get_json(url: str, ca_file: str) -> dict[str, object]:
    context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(url, context=context, timeout=5) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def presented_chain(host: str, port: int) -> list[bytes]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        return list(tls.get_unverified_chain())


def test_serves_discovery_and_keys_over_tls_verified_by_its_root(local_issuer: LocalIssuer) -> None:
    discovery = get_json(local_issuer.url + DISCOVERY_PATH, local_issuer.ca_file)
    assert discovery["issuer"] == local_issuer.url
    keys = get_json(str(discovery["jwks_uri"]), local_issuer.ca_file)
    assert [k["kid"] for k in keys["keys"]] == ["key-1"]  # type: ignore[union-attr,index]


def test_presents_leaf_then_intermediate(local_issuer: LocalIssuer) -> None:
    chain = presented_chain("127.0.0.1", local_issuer.port)
    assert len(chain) == 2
    assert hashlib.sha1(chain[-1]).hexdigest() == local_issuer.thumbprint


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_thumbprint_is_openssls_last_certificate(local_issuer: LocalIssuer) -> None:
    assert openssl_last_certificate_sha1("127.0.0.1", local_issuer.port) == local_issuer.thumbprint


def test_rotation_and_cross_signing_change_what_is_presented(local_issuer: LocalIssuer) -> None:
    first = local_issuer.thumbprint
    local_issuer.rotate_intermediate()
    rotated = local_issuer.thumbprint
    local_issuer.use_cross_signed_chain(True)
    cross = local_issuer.thumbprint
    assert len({first, rotated, cross}) == 3
    assert hashlib.sha1(presented_chain("127.0.0.1", local_issuer.port)[-1]).hexdigest() == cross
    # Both chains lead to a root of the CA file.
    assert get_json(local_issuer.url + DISCOVERY_PATH, local_issuer.ca_file)["issuer"] == local_issuer.url


def test_keys_on_a_second_host_with_their_own_chain(issuer_factory) -> None:  # type: ignore[no-untyped-def]
    issuer = issuer_factory(jwks_on_second_host=True, path="tenant-1")
    assert issuer.url.endswith("/tenant-1")
    assert issuer.jwks_uri.startswith("https://127.0.0.2:")
    assert issuer.thumbprint != issuer.jwks_thumbprint
    assert hashlib.sha1(presented_chain("127.0.0.2", issuer.jwks_port)[-1]).hexdigest() == issuer.jwks_thumbprint
    assert get_json(issuer.jwks_uri, issuer.ca_file)["keys"]


def test_minted_tokens_verify_against_the_served_keys(local_issuer: LocalIssuer) -> None:
    token = local_issuer.mint({"sub": "system:serviceaccount:a:b", "aud": "sts.amazonaws.com"})
    keys = jwt.PyJWKSet.from_dict(get_json(local_issuer.url + "/.well-known/jwks.json", local_issuer.ca_file))
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="sts.amazonaws.com")
    assert claims["iss"] == local_issuer.url
    assert claims["exp"] - claims["iat"] == 300

    forged = local_issuer.mint({"sub": "x", "aud": "sts.amazonaws.com"}, sign_with_unknown_key=True)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.key, algorithms=["RS256"], audience="sts.amazonaws.com")
    assert "kid" not in jwt.get_unverified_header(local_issuer.mint({"sub": "x"}, kid=None))


def test_signing_key_rotation_keeps_or_drops_the_old_key(local_issuer: LocalIssuer) -> None:
    new = local_issuer.rotate_signing_key()
    assert local_issuer.kids == ("key-1", new)
    assert jwt.get_unverified_header(local_issuer.mint({"sub": "x"}))["kid"] == new
    newest = local_issuer.rotate_signing_key(keep_old=False)
    assert local_issuer.kids == (newest,)


def test_modes_break_the_issuer_on_demand(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(discovery_issuer="https://elsewhere.example", omit_kid=True, key_alg="HS256")
    assert get_json(local_issuer.url + DISCOVERY_PATH, local_issuer.ca_file)["issuer"] == "https://elsewhere.example"
    key = get_json(local_issuer.url + "/.well-known/jwks.json", local_issuer.ca_file)["keys"][0]  # type: ignore[index]
    assert "kid" not in key and key["alg"] == "HS256"
    local_issuer.set_mode(broken="discovery", failure="500")
    with pytest.raises(urllib.request.HTTPError) as failure:
        get_json(local_issuer.url + DISCOVERY_PATH, local_issuer.ca_file)
    assert failure.value.code == 500
    local_issuer.reset_mode()
    assert get_json(local_issuer.url + DISCOVERY_PATH, local_issuer.ca_file)["issuer"] == local_issuer.url


def test_an_issuer_without_a_given_pki_makes_and_removes_its_own() -> None:
    with LocalIssuer() as issuer:
        ca_file = issuer.ca_file
        assert get_json(issuer.url + DISCOVERY_PATH, ca_file)["issuer"] == issuer.url
    assert not Path(ca_file).exists()
