"""One AWS error hierarchy for every adapter: botocore's exceptions become the ports' errors here, once.

The kinds (app/ports.py): access (credentials may not make the call, or there are none), throttled (after the
SDK's own retries), unavailable (AWS not reached or failing on its side), missing (the table or topic asked for
does not exist); anything else is a plain AwsError with AWS's code. "Not found" of a looked-up entity is an
answer, not an error: the caller names those codes and gets None.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from webid_canary.app.ports import (
    AwsAccessError,
    AwsError,
    AwsMissingError,
    AwsThrottledError,
    AwsUnavailableError,
)

# AWS error code -> the kind of failure, across IAM, DynamoDB, SNS, Secrets Manager, Cognito and STS.
ERROR_KINDS: Final[Mapping[str, type[AwsError]]] = {
    "AccessDenied": AwsAccessError,
    "AccessDeniedException": AwsAccessError,
    "AuthorizationError": AwsAccessError,
    "UnauthorizedOperation": AwsAccessError,
    "UnrecognizedClientException": AwsAccessError,
    "InvalidClientTokenId": AwsAccessError,
    "ExpiredToken": AwsAccessError,
    "ExpiredTokenException": AwsAccessError,
    "MissingAuthenticationTokenException": AwsAccessError,
    "SignatureDoesNotMatch": AwsAccessError,
    "Throttling": AwsThrottledError,
    "ThrottlingException": AwsThrottledError,
    "Throttled": AwsThrottledError,
    "RequestLimitExceeded": AwsThrottledError,
    "TooManyRequestsException": AwsThrottledError,
    "ProvisionedThroughputExceededException": AwsThrottledError,
    "ServiceFailure": AwsUnavailableError,
    "ServiceUnavailable": AwsUnavailableError,
    "InternalFailure": AwsUnavailableError,
    "InternalError": AwsUnavailableError,
    "InternalServerError": AwsUnavailableError,
    "InternalServiceError": AwsUnavailableError,
    "InternalErrorException": AwsUnavailableError,
    "ExternalServiceException": AwsUnavailableError,
    "LimitExceededException": AwsThrottledError,
    "KMSDisabled": AwsUnavailableError,
    "KMSThrottling": AwsThrottledError,
    "ResourceNotFoundException": AwsMissingError,
    "NotFound": AwsMissingError,
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def translate(operation: str, exc: Exception) -> AwsError:
    """The port error for a botocore exception (raise it `from` the original)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        return ERROR_KINDS.get(code, AwsError)(operation, code, message)
    if isinstance(exc, NoCredentialsError):
        return AwsAccessError(operation, "NoCredentials", "no AWS credentials found")
    if isinstance(exc, NoRegionError):
        return AwsAccessError(operation, "NoRegion", "no AWS region set (AWS_REGION or AWS_DEFAULT_REGION)")
    return AwsUnavailableError(operation, type(exc).__name__, str(exc))


def call[T](operation: str, request: Callable[[], T], *, absent: Collection[str] = ()) -> T | None:
    """Make one AWS call; None when AWS answers with one of the `absent` codes, a port error otherwise."""
    try:
        return request()
    except ClientError as exc:
        if error_code(exc) in absent:
            return None
        raise translate(operation, exc) from exc
    except BotoCoreError as exc:
        raise translate(operation, exc) from exc
