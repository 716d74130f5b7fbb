"""Security Hub: findings imported with BatchImportFindings, in batches it accepts."""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary.adapters.aws import translate
from webid_canary.app.ports import PublishError

# BatchImportFindings: "The maximum number of findings that can be provided in a single request is 100" and a
# request is at most 6 MB: https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html
MAX_FINDINGS: Final = 100


def product_arn(partition: str, region: str, account: str) -> str:
    """The product ARN under which an account imports its own findings ("default" product)."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


class SecurityHubImporter:
    def __init__(self, client: Any, product_arn: str) -> None:
        self._client = client
        self._product_arn = product_arn

    @property
    def product_arn(self) -> str:
        return self._product_arn

    def import_findings(self, findings: list[dict[str, Any]]) -> None:
        for start in range(0, len(findings), MAX_FINDINGS):
            batch = findings[start : start + MAX_FINDINGS]
            try:
                answer = self._client.batch_import_findings(Findings=batch)
            except (ClientError, BotoCoreError) as exc:
                raise translate("BatchImportFindings", exc).as_kind(PublishError) from exc
            if answer.get("FailedCount"):
                failed = answer.get("FailedFindings", [])
                codes = sorted({str(f.get("ErrorCode")) for f in failed}) or ["Failed"]
                raise PublishError("BatchImportFindings", ", ".join(codes), f"{len(failed)} finding(s) refused")
