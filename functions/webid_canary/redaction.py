"""One redaction for everything the product writes: tokens, client secrets, auth headers and AWS credentials.

`install(*handlers)` is called by each shell (the Lambda, the CLI): it keeps the AWS SDK's and urllib3's
loggers, which log request and response bodies and headers at DEBUG, at WARNING whatever the root level, and
puts `RedactionFilter` on the shell's handlers as a second line of defence. `scrub` blanks known secret values
out of text that leaves the process another way (error reasons that reach notifications and state).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import quote, quote_plus

__all__ = ["QUIET_LOGGERS", "REDACTED", "RedactionFilter", "install", "redact", "scrub"]

REDACTED: Final = "<redacted>"

# Loggers of libraries that log bodies, headers or signing material below WARNING.
QUIET_LOGGERS: Final = (
    "boto3",
    "botocore",
    "botocore.auth",
    "botocore.credentials",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.retryhandler",
    "s3transfer",
    "urllib3",
    "urllib3.connectionpool",
)

# Names whose values are secrets wherever they appear: forms, query strings, JSON, Python reprs, XML.
_SECRET_KEYS: Final = (
    "client_secret",
    "SecretAccessKey",
    "SessionToken",
    "SecretString",
    "SecretBinary",
    "WebIdentityToken",
    "access_token",
    "id_token",
    "refresh_token",
    "password",
)
_KEYS: Final = "|".join(_SECRET_KEYS)
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # A JWT (JWS compact form): its header is base64url JSON, so it starts with eyJ.
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # Authorization header values.
    (re.compile(r"\b(Basic|Bearer)(\s+|%20|\+)[A-Za-z0-9._~+/=%-]{6,}", re.IGNORECASE), rf"\1\2{REDACTED}"),
    # XML elements: STS and Secrets Manager answers.
    (re.compile(rf"(<({_KEYS}|AccessKeyId)>)[^<]*"), rf"\1{REDACTED}"),
    # Quoted values: JSON, Python reprs, JSON inside JSON (escaped once more in the SDK's dumps of bodies).
    (re.compile(rf"(\b(?:{_KEYS})\\*[\"']\s*[:=]\s*\\*[\"'])(?:[^\"'\\]|\\+[^\"'\\])*"), rf"\1{REDACTED}"),
    # The session token header the SDK signs and sends (canonical requests, header dicts, query strings).
    (re.compile(r"(\bx-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,&}]+", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(rf"(\b(?:{_KEYS})\\?[\"']\s*:\s*)(?![\s\"'\\])[^,}}\s]+"), rf"\1{REDACTED}"),
    # Forms and query strings, plain or URL-encoded once more.
    (re.compile(rf"(\b(?:{_KEYS})(?:=|%3D))[^&\s\"'<>]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # Access key ids: temporary (ASIA) and long-term (AKIA).
    (re.compile(r"\b(?:ASIA|AKIA)[A-Z0-9]{16}\b"), REDACTED),
)


def redact(text: str) -> str:
    """`text` with every token, secret, auth header and credential it shows replaced by <redacted>."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secret values in any form they travel in (raw, URL-encoded, JSON-escaped),
    then redacted."""
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), json.dumps(secret)[1:-1]}
        forms |= {form.lower() for form in forms if "%" in form}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, REDACTED)
    return redact(text)


# The attributes every LogRecord has; anything else came in through `extra` and is redacted too.
_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(inner) for inner in value)
    return value


class RedactionFilter(logging.Filter):
    """Redacts a record's message, its `extra` fields and its traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS:
                setattr(record, key, _redact_value(value))
        if record.exc_info is not None and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            clean_trace = redact(trace)
            if clean_trace != trace:
                record.msg = f"{record.msg}\n{clean_trace}"
                record.exc_info, record.exc_text = None, None
        return True


_FILTER: Final = RedactionFilter()


def install(*handlers: logging.Handler) -> None:
    """Keep the SDK's loggers at WARNING (never bodies or headers) and put the redaction filter on `handlers`.

    Safe to call more than once."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in handlers:
        if not any(isinstance(existing, RedactionFilter) for existing in handler.filters):
            handler.addFilter(_FILTER)
