"""With the root logger at DEBUG (Lambda's ApplicationLogLevel=DEBUG), a live probe logs no token, secret or
credential: the SDK's loggers stay quiet, and the redaction filter catches what gets through anyway."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from webid_canary import names, redaction
from webid_canary.adapters.sts import StsProber
from webid_canary.adapters.token_sources import TokenFetcher
from webid_canary.core.targets import ClientCredentialsSource
from webid_canary.local.aws import LocalAws
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder

CLIENT_ID = "batch-job"
CLIENT_SECRET = "s3cr3t:with/odd+chars"
SECRET_ID = "webid-canary/batch-job"
ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@pytest.fixture
def debug_root() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """The root logger at DEBUG with a handler that keeps everything written."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    levels = {name: logging.getLogger(name).level for name in ("", *redaction.QUIET_LOGGERS)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler, stream
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def live_probe(aws: LocalAws, seed: Seeder, issuer: LocalIssuer) -> str:
    """A client-credentials token fetched from the issuer, then AssumeRoleWithWebIdentity through the strict STS;
    returns the token."""
    issuer.clients[CLIENT_ID] = CLIENT_SECRET
    provider = seed.provider(issuer, client_ids=["sts.amazonaws.com"])
    role = seed.web_identity_role("batch-job", issuer, provider, sub=CLIENT_ID, aud="sts.amazonaws.com")
    seed.secret(SECRET_ID, CLIENT_SECRET)
    fetcher = TokenFetcher(aws, ca_file=issuer.ca_file, allow_private=True)
    source = ClientCredentialsSource(token_endpoint=issuer.token_endpoint, client_id=CLIENT_ID, secret_id=SECRET_ID)
    token = fetcher.fetch(source)
    answer = StsProber(aws.client).probe(role, token, session_name="webid-canary", duration_seconds=900)
    assert answer.allowed, answer
    assert answer.caller_arn is not None
    return token.value


def assert_nothing_secret(written: str, token: str) -> None:
    assert token not in written
    assert token.rsplit(".", 1)[1] not in written
    assert not JWT.search(written)
    assert CLIENT_SECRET not in written
    assert "s3cr3t" not in written
    assert not ACCESS_KEY.search(written)
    for key in ("SecretAccessKey", "SessionToken"):
        assert not re.search(rf"{key}\W+[A-Za-z0-9/+=]{{16,}}", written), key


def test_at_debug_the_sdk_logs_no_token_secret_or_credential(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer, debug_root: tuple[logging.Handler, io.StringIO]
) -> None:
    _, stream = debug_root
    redaction.install()

    token = live_probe(aws, seed, local_issuer)

    written = stream.getvalue()
    sdk = [line for line in written.splitlines() if line.startswith(("boto", "urllib3")) and " DEBUG " in line]
    assert sdk == []
    assert_nothing_secret(written, token)


def test_what_the_sdk_logs_anyway_is_redacted_by_the_filter(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer, debug_root: tuple[logging.Handler, io.StringIO]
) -> None:
    handler, stream = debug_root
    redaction.install(handler)
    # Someone turns the SDK's loggers back up: bodies and headers are logged, and must reach no one unredacted.
    for name in redaction.QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)

    token = live_probe(aws, seed, local_issuer)

    written = stream.getvalue()
    assert "AssumeRoleWithWebIdentity" in written, "the SDK logged nothing: the scan would prove nothing"
    assert "<redacted>" in written
    assert_nothing_secret(written, token)


def test_the_cli_puts_the_filter_on_its_handler() -> None:
    from webid_canary.cli.main import configure_logging

    product = logging.getLogger(names.SERVICE_NAME)
    saved = (list(product.handlers), product.level, product.propagate)
    try:
        configure_logging(debug=True)

        assert product.handlers
        assert all(any(isinstance(f, redaction.RedactionFilter) for f in h.filters) for h in product.handlers)
        assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)
    finally:
        product.handlers[:], product.level, product.propagate = saved
