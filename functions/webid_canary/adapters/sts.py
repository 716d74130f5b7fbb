"""Live probes: a real AssumeRoleWithWebIdentity with a harmless session, confirmed, then thrown away."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from webid_canary import names
from webid_canary.app.ports import StsAnswer
from webid_canary.core.model import Token
from webid_canary.core.sts import transient

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

ClientFactory = Callable[..., Any]


class StsProber:
    """Calls AssumeRoleWithWebIdentity unsigned (no AWS credentials needed), then GetCallerIdentity."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._factory = client_factory
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def probe(self, role_arn: str, token: Token, *, session_name: str, duration_seconds: int) -> StsAnswer:
        unsigned: STSClient = self._factory("sts", config=Config(signature_version=UNSIGNED))
        for attempt in range(1, self._attempts + 1):
            try:
                answer = unsigned.assume_role_with_web_identity(
                    RoleArn=role_arn,
                    RoleSessionName=session_name,
                    WebIdentityToken=token.value,
                    DurationSeconds=min(duration_seconds, names.PROBE_SESSION_SECONDS),
                    Policy=names.PROBE_SESSION_POLICY,
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
                if transient(code) and attempt < self._attempts:
                    self._sleep(self._backoff * 2 ** (attempt - 1) * (1 + random.random()))
                    continue
                return StsAnswer(False, code, message, attempts=attempt)
            except BotoCoreError as exc:
                if attempt < self._attempts:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                    continue
                return StsAnswer(False, "EndpointUnreachable", type(exc).__name__, attempts=attempt)
            return self._confirm(answer, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _confirm(self, answer: Mapping[str, Any], attempt: int) -> StsAnswer:
        credentials = answer["Credentials"]
        assumed = str(answer.get("AssumedRoleUser", {}).get("Arn", ""))
        signed: STSClient = self._factory(
            "sts",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        del credentials, answer
        try:
            caller = str(signed.get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as exc:
            return StsAnswer(True, None, f"GetCallerIdentity failed: {type(exc).__name__}", assumed, None, attempt)
        return StsAnswer(True, None, None, assumed, caller, attempt)
