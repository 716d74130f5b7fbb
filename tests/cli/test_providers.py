"""`webid-canary thumbprint` and `webid-canary drift` as a person or a pipeline runs them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import boto3
import pytest
from click.testing import CliRunner, Result

from webid_canary.cli.main import cli
from webid_canary.local.aws import LocalMotoServer
from webid_canary.local.issuer import LocalIssuer, free_port

IssuerFactory = Callable[..., LocalIssuer]
ROLE_ARN_PREFIX = "arn:aws:iam::123456789012:role/"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def policy(*provider_arns: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity"}
                for arn in provider_arns
            ],
        }
    )


@pytest.fixture
def account(moto: None) -> object:
    """moto in-process: boto3's standard chain inside the command reaches it."""
    return boto3.client("iam")


def register(iam: object, issuer: LocalIssuer, *thumbprints: str, trusted: bool = True) -> str:
    arn: str = iam.create_open_id_connect_provider(  # type: ignore[attr-defined]
        Url=issuer.url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=list(thumbprints or [issuer.thumbprint])
    )["OpenIDConnectProviderArn"]
    if trusted:
        iam.create_role(RoleName=f"role-{issuer.port}", AssumeRolePolicyDocument=policy(arn))  # type: ignore[attr-defined]
    return arn


# ----- thumbprint


def test_thumbprint_prints_the_issuer_hosts_last_certificate(local_issuer: LocalIssuer) -> None:
    result = run("thumbprint", local_issuer.url + "/", "--allow-private", "--ca-file", local_issuer.ca_file)
    assert result.exit_code == 0, result.output
    assert f"thumbprint  {local_issuer.thumbprint}" in result.output
    assert "CA file only (not a public root)" in result.output
    assert "checks this thumbprint against the provider's list" in result.output


def test_thumbprint_json_gives_every_host_and_whether_aws_uses_it(issuer_factory: IssuerFactory) -> None:
    issuer = issuer_factory(jwks_on_second_host=True)
    result = run("thumbprint", issuer.url, "--json", "--allow-private", "--ca-file", issuer.ca_file)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    hosts = {h["role"]: h for h in document["hosts"]}
    assert hosts["issuer"]["thumbprint"] == issuer.thumbprint
    assert hosts["jwks"]["thumbprint"] == issuer.jwks_thumbprint
    assert hosts["jwks"]["aws_uses_thumbprint"] is True
    assert hosts["issuer"]["verified_by_ca_file"] is True
    assert [c["thumbprint"] for c in hosts["issuer"]["chain"]][-1] == issuer.thumbprint


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1/"], "error: URL: http://127.0.0.1:1/: only https:// URLs are fetched"),
        (
            ["https://127.0.0.1:1/"],
            "error: URL: https://127.0.0.1:1/: refused: 127.0.0.1 is a loopback address",
        ),
        (["https://127.0.0.1:1/?a=b", "--allow-private"], "no query or fragment"),
        (
            ["https://127.0.0.1:1/", "--allow-private", "--ca-file", "/nonexistent.pem"],
            "error: --ca-file: /nonexistent.pem: cannot read it (No such file or directory)",
        ),
        (["https://127.0.0.1:1/", "--timeout", "0"], "error: usage:"),
    ],
)
def test_thumbprint_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run("thumbprint", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup or connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"network call with {args!r}")

    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        ("not a certificate\n", "no PEM certificate in it (expected -----BEGIN CERTIFICATE----- blocks)"),
        ("-----BEGIN CERTIFICATE-----\nabcd\n-----END CERTIFICATE-----\n", "a PEM certificate in it cannot be parsed"),
        (None, "cannot read it (Is a directory)"),
    ],
    ids=["not PEM", "broken certificate", "a directory"],
)
@pytest.mark.parametrize(
    "command",
    [["thumbprint", "https://127.0.0.1:1/", "--allow-private"], ["drift", "--issuer", "https://idp.example"]],
    ids=["thumbprint", "drift"],
)
def test_an_unusable_ca_file_is_refused_before_any_network_call(
    command: list[str], contents: str | None, reason: str, tmp_path: Path
) -> None:
    path = tmp_path
    if contents is not None:
        path = tmp_path / "notpem"
        path.write_text(contents)

    result = run(*command, "--ca-file", str(path))

    assert result.exit_code == 2
    assert result.output.startswith(f"error: --ca-file: {path}: {reason}")
    assert len(result.output.strip().splitlines()) == 1


NOT_ISSUER_URLS = [
    ("notaurl", "not a URL; give https://host[:port][/path]"),
    ("token.actions.githubusercontent.com", "not a URL; give https://host[:port][/path]"),
    ("127.0.0.1:8443", "not a URL; give https://host[:port][/path]"),
    ("ftp://idp.example/", "only https:// URLs are fetched"),
    ("https://", "no host"),
    ("https://exa mple.com/", "spaces or control characters"),
    ("https://idp.example/a b", "spaces or control characters"),
    ("https://bad_host/", "host 'bad_host' has an underscore"),
    ("https://bücher.example/", "non-ASCII characters in the URL (give the host's xn-- form"),
    ("https://idp.example:0/", "port 0"),
    ("https://idp.example:99999/", "not a valid URL"),
]


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(("url", "reason"), NOT_ISSUER_URLS, ids=[url for url, _ in NOT_ISSUER_URLS])
@pytest.mark.parametrize(
    ("command", "argument"), [(["thumbprint"], "URL"), (["drift", "--issuer"], "--issuer")], ids=["thumbprint", "drift"]
)
def test_what_is_not_an_issuer_url_is_refused_without_network(
    command: list[str], argument: str, url: str, reason: str
) -> None:
    result = run(*command, url, "--allow-private")

    assert result.exit_code == 2
    assert result.output.startswith(f"error: {argument}: {url}: {reason}")
    assert len(result.output.strip().splitlines()) == 1


def test_thumbprint_of_a_closed_port_says_what_failed() -> None:
    result = run("thumbprint", f"https://127.0.0.1:{free_port()}", "--allow-private")
    assert result.exit_code == 1
    assert "no certificate: cannot connect" in result.output
    assert "Traceback" not in result.output


def test_thumbprint_against_an_issuer_that_drips_its_answer_ends_at_its_budget(local_issuer: LocalIssuer) -> None:
    # One byte every 50 ms: each read gets a byte well within any per-read timeout, so only a total budget ends it.
    local_issuer.set_mode(drip=0.05)

    result = run(
        "thumbprint", local_issuer.url, "--allow-private", "--ca-file", local_issuer.ca_file, "--timeout", "0.5"
    )

    assert result.exit_code == 1
    (discovery,) = [line for line in result.output.splitlines() if line.startswith("discovery:")]
    assert discovery.startswith(f"discovery: {local_issuer.url}/.well-known/openid-configuration: ")
    assert discovery.endswith(" timed out after 0.5 s (a request's budget)")
    assert "Traceback" not in result.output


def test_thumbprint_of_absurdly_nested_json_is_an_invalid_document_not_a_traceback(local_issuer: LocalIssuer) -> None:
    local_issuer.set_mode(broken="discovery", failure="deep_json")

    result = run("thumbprint", local_issuer.url, "--allow-private", "--ca-file", local_issuer.ca_file)

    assert result.exit_code == 1
    assert "answer is not a usable document: JSON nested deeper than 64 levels" in result.output
    assert "Traceback" not in result.output


# ----- drift


def test_drift_json_reports_the_contracts_codes(account: object, issuer_factory: IssuerFactory) -> None:
    rotated = issuer_factory(path="rotated")
    split = issuer_factory(path="split", jwks_on_second_host=True)
    no_kid = issuer_factory(path="no-kid")
    renamed = issuer_factory(path="renamed")
    for issuer in (rotated, split, no_kid, renamed):
        register(account, issuer)
    rotated.rotate_intermediate()
    no_kid.set_mode(omit_kid=True)
    renamed.set_mode(discovery_issuer=renamed.url + "/v2")
    account.create_role(  # type: ignore[attr-defined]
        RoleName="orphan", AssumeRolePolicyDocument=policy("arn:aws:iam::123456789012:oidc-provider/gone.example")
    )

    result = run("drift", "--all", "--json", "--allow-private", "--ca-file", rotated.ca_file)
    assert result.exit_code == 1, result.output
    reports = {p["url"]: p for p in json.loads(result.output)["providers"]}
    found = {url: {(f["code"], f["severity"]) for f in p["findings"]} for url, p in reports.items()}
    assert found == {
        rotated.provider_url: {("thumbprint_mismatch", "critical")},
        split.provider_url: {("thumbprint_host_uncovered", "high")},
        no_kid.provider_url: {("jwks_kid_missing", "high")},
        renamed.provider_url: {("issuer_mismatch", "critical")},
        "gone.example": {("provider_missing", "critical")},
    }
    split_hosts = reports[split.provider_url]["hosts"]
    assert [h["role"] for h in split_hosts] == ["issuer", "jwks"]
    assert set(split_hosts[0]) == {"host", "role", "thumbprint", "trusted_root_ca", "not_after"}
    assert reports[rotated.provider_url]["arn"].endswith(":oidc-provider/" + rotated.provider_url)


def test_drift_as_ocsf_gives_one_finding_per_drifting_provider_and_the_same_exit_status(
    account: object, issuer_factory: IssuerFactory
) -> None:
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    rotated = issuer_factory(path="rotated")
    healthy = issuer_factory(path="healthy")
    arn = register(account, rotated)
    register(account, healthy)
    rotated.rotate_intermediate()

    result = run("drift", "--all", "--format", "ocsf", "--allow-private", "--ca-file", rotated.ca_file)

    assert result.exit_code == 1, result.output
    (finding,) = [DetectionFinding.model_validate(f) for f in json.loads(result.output)]
    assert finding.finding_info.uid == f"webid-canary/provider/{rotated.provider_url}/thumbprint_mismatch"
    assert (finding.status, finding.severity, finding.status_code) == ("New", "Critical", "drift")
    assert rotated.thumbprint in finding.finding_info.desc
    assert finding.remediation.desc.startswith("Add the presented thumbprint")
    assert [(r.type, r.uid) for r in finding.resources] == [("AwsIamOidcProvider", arn)]
    healthy_only = run(
        "drift", "--issuer", healthy.url, "--format", "ocsf", "--allow-private", "--ca-file", healthy.ca_file
    )
    assert (healthy_only.exit_code, json.loads(healthy_only.output)) == (0, [])


def test_drift_of_one_healthy_issuer_exits_0_and_unused_is_only_info(
    account: object, local_issuer: LocalIssuer
) -> None:
    register(account, local_issuer, trusted=False)
    result = run("drift", "--issuer", local_issuer.url, "--json", "--allow-private", "--ca-file", local_issuer.ca_file)
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)["providers"]
    assert [(f["code"], f["severity"]) for f in report["findings"]] == [("provider_unused", "info")]


def test_drift_with_a_baseline_sees_rotation_and_deletion(
    account: object, local_issuer: LocalIssuer, tmp_path: Path
) -> None:
    arn = register(account, local_issuer)
    baseline = tmp_path / "baseline.json"
    args = ["drift", "--json", "--allow-private", "--ca-file", local_issuer.ca_file, "--baseline", str(baseline)]
    first = run(*args)
    assert first.exit_code == 0, first.output
    stored = json.loads(baseline.read_text())["providers"][local_issuer.provider_url]
    assert stored["thumbprints"] == {f"127.0.0.1:{local_issuer.port}": local_issuer.thumbprint}
    assert stored["key_ids"] == ["key-1"]

    local_issuer.rotate_intermediate()
    local_issuer.rotate_signing_key(keep_old=False)
    second = run(*args)
    codes = {f["code"] for f in json.loads(second.output)["providers"][0]["findings"]}
    assert codes == {"thumbprint_changed", "thumbprint_mismatch", "jwks_keys_changed"}
    assert second.exit_code == 1

    account.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)  # type: ignore[attr-defined]
    third = run(*args)
    reports = json.loads(third.output)["providers"]
    assert {(p["url"], f["code"]) for p in reports for f in p["findings"]} >= {
        (local_issuer.provider_url, "provider_deleted"),
        (local_issuer.provider_url, "provider_missing"),
    }
    assert third.exit_code == 1


def test_drift_text_names_the_finding_and_the_fix(account: object, local_issuer: LocalIssuer) -> None:
    register(account, local_issuer, "0" * 40)
    result = run("drift", "--allow-private", "--ca-file", local_issuer.ca_file)
    assert result.exit_code == 1
    assert "critical thumbprint_mismatch" in result.output
    assert "fix: Add the presented thumbprint" in result.output
    assert local_issuer.thumbprint in result.output


def test_drift_prints_the_command_that_adds_the_presented_thumbprint(
    account: object, local_issuer: LocalIssuer
) -> None:
    arn = register(account, local_issuer, "0" * 40)
    result = run("drift", "--allow-private", "--ca-file", local_issuer.ca_file)
    assert (
        "run: aws iam update-open-id-connect-provider-thumbprint "
        f"--open-id-connect-provider-arn {arn} --thumbprint-list {'0' * 40} {local_issuer.thumbprint}"
    ) in result.output


def test_drift_on_a_terminal_lists_problems_only_unless_asked(account: object, local_issuer: LocalIssuer) -> None:
    register(account, local_issuer)
    healthy = run("drift", "--allow-private", "--ca-file", local_issuer.ca_file, "--status", "drift")
    every = run("drift", "--allow-private", "--ca-file", local_issuer.ca_file, "--show-all")
    assert "1 provider(s) not shown" in healthy.output
    assert local_issuer.thumbprint not in healthy.output
    assert local_issuer.thumbprint in every.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issuer", "http://idp.example"], "error: --issuer: http://idp.example: only https:// URLs are fetched"),
        (["--issuer", "https://idp.example", "--all"], "error: usage: give --issuer URL or --all, not both"),
        (["--expiry-days", "0"], "error: usage:"),
        (["--ca-file", "/nonexistent.pem"], "error: --ca-file: /nonexistent.pem: cannot read it"),
    ],
)
def test_drift_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run("drift", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_drift_refuses_a_private_issuer_without_the_flag(account: object, local_issuer: LocalIssuer) -> None:
    register(account, local_issuer)
    result = run("drift", "--issuer", local_issuer.url)
    assert result.exit_code == 2
    assert "loopback address (127.0.0.1); allow with --allow-private" in result.output
    # In --all mode the refusal is a finding for that provider, not the end of the run.
    every = run("drift", "--json")
    (report,) = json.loads(every.output)["providers"]
    (finding,) = report["findings"]
    assert finding["code"] == "discovery_unreachable"
    assert finding["evidence"]["failure"] == "refused"


def test_a_broken_baseline_file_is_one_line(account: object, tmp_path: Path) -> None:
    broken = tmp_path / "baseline.json"
    broken.write_text('{"providers": {"x": {"url": "x"}}}')
    result = run("drift", "--baseline", str(broken))
    assert result.exit_code == 2
    assert "error: --baseline:" in result.output
    assert "baseline.recorded_at: missing" in result.output


# ----- the real command against a moto server, as a pipeline would run it


@pytest.mark.slow
def test_drift_command_against_a_moto_server(issuer_factory: IssuerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalMotoServer(None) as server:
        endpoint = server.endpoint_url
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        iam = boto3.client("iam")
        issuer = issuer_factory(path="tenant")
        register(iam, issuer)
        issuer.rotate_intermediate()
        command = Path(sys.executable).parent / "webid-canary"
        done = subprocess.run(
            [str(command), "drift", "--issuer", issuer.url, "--json", "--allow-private", "--ca-file", issuer.ca_file],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    (report,) = json.loads(done.stdout)["providers"]
    assert [f["code"] for f in report["findings"]] == ["thumbprint_mismatch"]
    assert report["findings"][0]["evidence"]["presented"] == issuer.thumbprint


# ----- acceptance: certificates nobody here wrote


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_thumbprint_of_a_server_whose_chain_openssl_made(tmp_path: Path) -> None:
    ext = tmp_path / "ext.cnf"
    ext.write_text(
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "[leaf]\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key",
             "-out", "root.pem", "-subj", "/CN=openssl root", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=tmp_path)  # fmt: skip
    for name, issuer, section in (("int", "root", "ca"), ("leaf", "int", "leaf")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN=openssl {name}", cwd=tmp_path)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "20", "-extfile", str(ext),
                 "-extensions", section, cwd=tmp_path)  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "leaf.pem", "-key", "leaf.key",
         "-cert_chain", "int.pem", "-www", "-quiet"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        expected = ""
        while time.monotonic() < deadline and not expected:
            shown = subprocess.run(
                ["openssl", "s_client", "-showcerts", "-connect", f"127.0.0.1:{port}"],
                input=b"", capture_output=True, timeout=10, check=False,
            ).stdout.decode()  # fmt: skip
            if "BEGIN CERTIFICATE" in shown:
                last = shown.rsplit("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----")[0]
                import base64
                import hashlib

                expected = hashlib.sha1(base64.b64decode("".join(last.split()))).hexdigest()
            else:
                time.sleep(0.1)
        assert expected, "openssl s_server did not start"
        result = run(
            "thumbprint", f"https://127.0.0.1:{port}/", "--allow-private", "--ca-file", str(tmp_path / "root.pem")
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert f"thumbprint  {expected}" in result.output
    assert "CN=openssl int" in result.output
    # s_server answers with an HTML status page, not a discovery document: said, not a traceback.
    assert "answer is not JSON" in result.output
    assert result.exit_code == 1
