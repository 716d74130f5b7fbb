"""The one redaction: every way a token, secret or credential shows up in a log line comes out blanked."""

from __future__ import annotations

import logging

import pytest

from webid_canary import redaction
from webid_canary.redaction import REDACTED, RedactionFilter, redact, scrub

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWJ5dGVz"
SECRET = "s3cr3t:with/odd+chars"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEJr//////////wEaDH+session+token=="

LEAKS = [
    ("a JWT anywhere", f"token {JWT} rejected", JWT),
    ("a JWT in a form", f"Action=AssumeRoleWithWebIdentity&WebIdentityToken={JWT}&Version=2011-06-15", JWT),
    ("a Bearer header", "{'Authorization': 'Bearer 2YotnFZFEjr1zCsicMWpAA'}", "2YotnFZFEjr1zCsicMWpAA"),
    ("a Basic header", "Authorization: Basic Y2FuYXJ5OnMzY3IzdA==", "Y2FuYXJ5OnMzY3IzdA=="),
    ("a Basic header in bytes", "b'Basic Y2FuYXJ5OnMzY3IzdA=='", "Y2FuYXJ5OnMzY3IzdA=="),
    ("client_secret in a form", "grant_type=client_credentials&client_secret=s3cr3t%3Awith%2Fodd%2Bchars", "s3cr3t"),
    ("client_secret URL-encoded once more", "body=client_secret%3Ds3cr3t%253Awith", "s3cr3t"),
    ("client_secret in JSON", '{"client_id": "c", "client_secret": "s3cr3t:with/odd+chars"}', "s3cr3t"),
    ("client_secret in a repr", "{'client_secret': 's3cr3t:with/odd+chars'}", "s3cr3t"),
    ("a secret in JSON inside JSON", '{"SecretString": "{\\"client_secret\\": \\"s3cr3t\\"}"}', "s3cr3t"),
    ("SecretString in JSON", '{"Name": "webid-canary/x", "SecretString": "s3cr3t:with/odd+chars"}', "s3cr3t"),
    ("STS XML", f"<SecretAccessKey>{SECRET_KEY}</SecretAccessKey><SessionToken>{SESSION}</SessionToken>", SECRET_KEY),
    ("STS XML session token", f"<SessionToken>{SESSION}</SessionToken>", SESSION),
    ("STS XML temporary key id", "<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>", "ASIAIOSFODNN7EXAMPLE"),
    (
        "credentials in JSON",
        f'{{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{SECRET_KEY}"}}',
        SECRET_KEY,
    ),
    ("credentials in a repr", f"{{'SessionToken': '{SESSION}', 'Expiration': 1}}", SESSION),
    ("a temporary key id alone", "credentials ASIAIOSFODNN7EXAMPLE expire", "ASIAIOSFODNN7EXAMPLE"),
    (
        "a secret in the SDK's dump of a response body",
        'Response body:\nb\'{"SecretString": "{\\\\"client_secret\\\\": \\\\"s3cr3t:with/odd+chars\\\\"}"}\'',
        "s3cr3t",
    ),
    ("a session token in a canonical request", f"host:sts.amazonaws.com\nx-amz-security-token:{SESSION}\n", SESSION),
    ("a session token header in a repr", f"{{'X-Amz-Security-Token': b'{SESSION}', 'Host': 'x'}}", SESSION),
    ("a session token in a query string", f"?X-Amz-Security-Token={SESSION}&X-Amz-Date=1", SESSION),
]


@pytest.mark.parametrize(("case", "line", "secret"), LEAKS, ids=[case for case, _, _ in LEAKS])
def test_redact_blanks_every_form_a_secret_takes(case: str, line: str, secret: str) -> None:
    clean = redact(line)

    assert secret not in clean
    assert REDACTED in clean


@pytest.mark.parametrize(
    "line",
    [
        "target checked (target_id=invoice-worker, sub=system:serviceaccount:billing:invoice-worker)",
        "client_credentials (client canary at https://idp.example/oauth2/token): HTTP 401: invalid_client",
        "secret webid-canary/live-token: GetSecretValue: ResourceNotFoundException: not found",
        "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "the id_token returned is not a JWT (12 characters, not three base64url parts)",
    ],
)
def test_redact_leaves_what_the_logs_are_for(line: str) -> None:
    assert redact(line) == line


def test_scrub_blanks_a_secret_echoed_raw_or_url_encoded() -> None:
    echoed = "HTTP 401: invalid_client (bad secret s3cr3t%3Awith%2Fodd%2Bchars, raw s3cr3t:with/odd+chars)"

    clean = scrub(echoed, [SECRET])

    assert "s3cr3t" not in clean
    assert clean == f"HTTP 401: invalid_client (bad secret {REDACTED}, raw {REDACTED})"


def test_the_filter_redacts_message_arguments_extras_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record) + repr(record.__dict__.get("detail")))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("webid-canary.test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    redaction.install(handler)
    try:
        logger.warning("token %s", JWT, extra={"detail": {"form": f"client_secret={SECRET}"}})
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)

    written = "\n".join(records)
    assert len(records) == 2
    assert JWT not in written
    assert "s3cr3t" not in written
    assert "ValueError: bad token <redacted>" in written
    redaction.install(handler)
    assert [type(f) for f in handler.filters] == [RedactionFilter]


def test_install_keeps_the_sdk_loggers_quiet_whatever_the_root_level() -> None:
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)
    try:
        redaction.install()
        for name in (
            "botocore.endpoint",
            "botocore.parsers",
            "botocore.hooks",
            "botocore.auth",
            "urllib3.connectionpool",
        ):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.setLevel(before)
