"""AWS's size limits on what the monitor stores and sends, and one way to fit a JSON value under them.

DynamoDB: "The maximum item size in DynamoDB is 400 KB, which includes both attribute name binary length (UTF-8
length) and attribute value lengths"; a partition key value is at most 2,048 bytes.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
SNS: "Messages can contain up to 262,144 bytes (256 KiB)" of text.
https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
"""

from __future__ import annotations

import json
import re
from typing import Final

DYNAMODB_ITEM_BYTES: Final = 400 * 1024
DYNAMODB_PARTITION_KEY_BYTES: Final = 2048
SNS_MESSAGE_BYTES: Final = 262_144

# What the monitor allows itself, leaving room for attribute names and encodings it does not count.
STATE_ITEM_BUDGET: Final = 350_000
NOTICE_BUDGET: Final = 200_000

TRIMMED: Final = "trimmed"
# Progressively smaller (longest string kept, longest list kept) until a value fits.
_STEPS: Final = ((4096, 200), (1024, 50), (256, 10), (64, 3))


def json_size(value: object) -> int:
    """Bytes of the value as compact JSON (UTF-8)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def _shrink(value: object, text: int, items: int) -> object:
    if isinstance(value, str):
        return value if len(value) <= text else value[:text] + f"... [{len(value) - text} more characters]"
    if isinstance(value, list | tuple):
        kept = [_shrink(v, text, items) for v in value[:items]]
        return [*kept, f"... [{len(value) - items} more]"] if len(value) > items else kept
    if isinstance(value, dict):
        shown = list(value.items())[: items * 4]
        return {str(k)[:text]: _shrink(v, text, items) for k, v in shown}
    return value


def fit(value: dict[str, object], budget: int) -> dict[str, object]:
    """The value as it is when it fits in `budget` bytes of JSON; else shortened (marked `trimmed`) until it does."""
    if json_size(value) <= budget:
        return value
    for text, items in _STEPS:
        shrunk = _shrink(value, text, items)
        assert isinstance(shrunk, dict)
        shrunk[TRIMMED] = True
        if json_size(shrunk) <= budget:
            return shrunk
    return {TRIMMED: True}


# JSON nesting the product reads at most: real discovery documents, key sets and policies nest a few levels;
# Python's parser recurses per level, so a hostile document is refused before it is parsed.
MAX_JSON_DEPTH: Final = 64
# A whole string (skipped), a bracket (counted), or a quote that opens no whole string (the end of the scan).
_JSON_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]|"', re.DOTALL)


class JsonDepthError(ValueError):
    """JSON nested deeper than the limit: refused before parsing, so the parser never recurses that far."""


def check_json_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonDepthError when `text` nests deeper than `max_depth` (one pass, no recursion)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        found = token.group()
        if found in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JsonDepthError(f"JSON nested deeper than {max_depth} levels")
        elif found in ("]", "}"):
            depth -= 1
        elif found == '"':
            return  # an unterminated string: not JSON, which the parser says


def fit_json_text(text: str, budget: int, *, keep: tuple[str, ...] = ()) -> str:
    """A JSON object kept as text (a notice's body) within `budget` bytes once embedded in more JSON, shortened
    as a value so that it stays valid JSON; the `keep` keys stay whole (what a reader deduplicates on)."""
    if json_size(text) <= budget:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return json.dumps({TRIMMED: True})
    # Embedded, its quotes are escaped: half the budget leaves room for that.
    shrunk = fit(value, budget // 2)
    for key in keep:
        if key in value:
            shrunk.setdefault(key, value[key])
    return json.dumps(shrunk, separators=(",", ":"), default=str)


def shorten(text: str, budget: int) -> str:
    """Plain text within about `budget` bytes, marked when shortened."""
    if json_size(text) <= budget:
        return text
    return text[: max(budget // 2, 64)] + "\n... (shortened)"
