"""What STS documents about AssumeRoleWithWebIdentity's request and answers, in one place.

Source: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
("Request Parameters" for the limits, "Errors" for the codes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

ACTION: Final = "sts:AssumeRoleWithWebIdentity"

# RoleSessionName: "Length Constraints: Minimum length of 2. Maximum length of 64. Pattern: [\w+=,.@-]*"
SESSION_NAME_MIN: Final = 2
SESSION_NAME_MAX: Final = 64
SESSION_NAME_CHARACTERS: Final = re.compile(r"[\w+=,.@-]*", re.ASCII)

# DurationSeconds: "Minimum value of 900. Maximum value of 43200."; without it, one hour.
DURATION_MIN: Final = 900
DURATION_MAX: Final = 43200
DURATION_DEFAULT: Final = 3600

# SourceIdentity: 2 to 64 characters of [\w+=,.@-] (the session name's characters), not starting with the
# reserved `aws:` (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html
# and https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html, parameter SourceIdentity).
MIN_SOURCE_IDENTITY: Final = 2
MAX_SOURCE_IDENTITY: Final = 64
RESERVED_SOURCE_IDENTITY_PREFIX: Final = "aws:"

# Session policies: at most 10 PolicyArns of 20 to 2048 characters; an inline Policy of 1 to 2048 characters from
# tab, line feed, carriage return and U+0020 to U+00FF.
MAX_POLICY_ARNS: Final = 10
MIN_POLICY_ARN: Final = 20
MAX_POLICY_ARN: Final = 2048
MAX_SESSION_POLICY: Final = 2048
SESSION_POLICY_CHARACTERS: Final = re.compile(r"[\u0009\u000A\u000D\u0020-\u00FF]+")
POLICY_VERSIONS: Final = ("2012-10-17", "2008-10-17")

# Session tags from the token: at most 50, keys up to 128 characters, values up to 256
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html, "Session tagging limits").
MAX_TAGS: Final = 50
MAX_TAG_KEY: Final = 128
MAX_TAG_VALUE: Final = 256

# IAM's MaxSessionDuration when a role does not set one:
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html ("MaxSessionDuration")
ROLE_MAX_SESSION_DEFAULT: Final = 3600

# Error codes of AssumeRoleWithWebIdentity, and whether they say something about the request (an answer) or
# only that STS could not tell now (IdP unreachable, throttled, failing on its side): those are retried, and
# when they last they mean "cannot be checked", never "broken".
ERROR_CODES: Final[Mapping[str, bool]] = {
    "AccessDenied": False,
    "ExpiredTokenException": False,
    "IDPRejectedClaim": False,
    "InvalidIdentityToken": False,
    "MalformedPolicyDocument": False,
    "PackedPolicyTooLarge": False,
    "RegionDisabledException": False,
    "ValidationError": False,
    "IDPCommunicationError": True,
    "Throttling": True,
    "ThrottlingException": True,
    "RequestLimitExceeded": True,
    "ServiceUnavailable": True,
    "InternalFailure": True,
    # Not STS's: the prober's own code when STS could not be reached at all.
    "EndpointUnreachable": True,
}


def transient(error_code: str | None) -> bool:
    """True for an answer that says only that STS could not tell now (retry; if it lasts, cannot be checked)."""
    return error_code is not None and ERROR_CODES.get(error_code, False)


def session_name_ok(name: str) -> bool:
    """Whether STS accepts this RoleSessionName."""
    return SESSION_NAME_MIN <= len(name) <= SESSION_NAME_MAX and SESSION_NAME_CHARACTERS.fullmatch(name) is not None
