"""The probe adapter: retries what may pass on a retry, answers everything else as a value, keeps no credentials."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.stub import Stubber

from webid_canary import names
from webid_canary.adapters.sts import StsProber
from webid_canary.core.model import Token

ROLE = "arn:aws:iam::123456789012:role/deploy"
TOKEN = Token("header.payload.signature")
CREDENTIALS = {
    "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
    "SecretAccessKey": "secret-example",
    "SessionToken": "session-example",
    "Expiration": "2026-01-01T00:15:00Z",
}
REQUEST = {
    "RoleArn": ROLE,
    "RoleSessionName": "webid-canary",
    "WebIdentityToken": TOKEN.value,
    "DurationSeconds": 900,
    "Policy": names.PROBE_SESSION_POLICY,
}


class Clients:
    """Stubbed STS clients: the unsigned one for the probe, the signed one for GetCallerIdentity."""

    def __init__(self) -> None:
        self.made: list[dict[str, Any]] = []
        self.stubs: list[Stubber] = []
        self.unsigned = self._client()
        self.signed = self._client()

    def _client(self) -> Any:
        client = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(client)
        stub.activate()
        self.stubs.append(stub)
        return client

    def __call__(self, service: str, **kwargs: Any) -> Any:
        self.made.append(kwargs)
        return self.signed if "aws_access_key_id" in kwargs else self.unsigned

    def error(self, code: str, status: int = 400) -> None:
        self.stubs[0].add_client_error(
            "assume_role_with_web_identity", service_error_code=code, service_message=code, http_status_code=status
        )

    def success(self) -> None:
        self.stubs[0].add_response(
            "assume_role_with_web_identity",
            {"Credentials": CREDENTIALS, "AssumedRoleUser": {"Arn": f"{ROLE}/webid-canary", "AssumedRoleId": "AROA:x"}},
            REQUEST,
        )
        self.stubs[1].add_response(
            "get_caller_identity",
            {"Arn": "arn:aws:sts::123456789012:assumed-role/deploy/webid-canary", "UserId": "x", "Account": "1"},
        )


def prober(clients: Clients, sleeps: list[float]) -> StsProber:
    return StsProber(clients, attempts=3, backoff_seconds=0.5, sleep=sleeps.append)


def test_a_harmless_session_is_asked_for_and_confirmed() -> None:
    clients, sleeps = Clients(), []
    clients.success()
    answer = prober(clients, sleeps).probe(ROLE, TOKEN, session_name="webid-canary", duration_seconds=3600)
    assert answer.allowed
    assert answer.caller_arn == "arn:aws:sts::123456789012:assumed-role/deploy/webid-canary"
    assert sleeps == []
    assert clients.made[0]["config"].signature_version is UNSIGNED
    assert "secret-example" not in repr(answer)
    for stub in clients.stubs:
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["Throttling", "IDPCommunicationError"])
def test_passing_faults_are_retried_with_growing_backoff(code: str) -> None:
    clients, sleeps = Clients(), []
    clients.error(code)
    clients.error(code)
    clients.success()
    answer = prober(clients, sleeps).probe(ROLE, TOKEN, session_name="webid-canary", duration_seconds=900)
    assert answer.allowed
    assert answer.attempts == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 < sleeps[1] <= 2.0


def test_retries_are_bounded_and_the_last_answer_is_reported() -> None:
    clients, sleeps = Clients(), []
    for _ in range(3):
        clients.error("IDPCommunicationError")
    answer = prober(clients, sleeps).probe(ROLE, TOKEN, session_name="webid-canary", duration_seconds=900)
    assert (answer.allowed, answer.error_code, answer.attempts) == (False, "IDPCommunicationError", 3)


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("InvalidIdentityToken", 400), ("ExpiredTokenException", 400)]
)
def test_refusals_are_answers_not_retried(code: str, status: int) -> None:
    clients, sleeps = Clients(), []
    clients.error(code, status)
    answer = prober(clients, sleeps).probe(ROLE, TOKEN, session_name="webid-canary", duration_seconds=900)
    assert (answer.allowed, answer.error_code, answer.attempts) == (False, code, 1)
    assert sleeps == []
