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
