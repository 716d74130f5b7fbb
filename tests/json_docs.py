"""The documented JSON outputs (docs/json.md), read back for tests: one example per command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"


def documented() -> dict[str, dict[str, Any]]:
    """Command -> its documented example, from each `## command` section's first json block."""
    examples: dict[str, dict[str, Any]] = {}
    for section in re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        command = section.split("\n", 1)[0].strip()
        block = re.search(r"```json\n(.*?)\n```", section, flags=re.DOTALL)
        assert block is not None, f"docs/json.md: section {command} has no json example"
        examples[command] = json.loads(block.group(1))
    return examples


def shape_differences(example: Any, actual: Any, where: str = "$", depth: int = 0) -> list[str]:
    """Where the real output's keys differ from the example's: the document's, and its lists' entries', two deep."""
    if depth > 2 or not isinstance(example, dict) or not isinstance(actual, dict):
        return []
    problems = []
    if set(example) != set(actual):
        missing, extra = sorted(set(example) - set(actual)), sorted(set(actual) - set(example))
        problems.append(f"{where}: keys differ (documented only: {missing}, output only: {extra})")
    for key in set(example) & set(actual):
        documented_value, value = example[key], actual[key]
        if isinstance(documented_value, list) and documented_value and isinstance(value, list):
            for index, item in enumerate(value):
                problems += shape_differences(documented_value[0], item, f"{where}.{key}[{index}]", depth + 1)
        elif isinstance(documented_value, dict) and key in {"summary", "discovery", "jwks"}:
            problems += shape_differences(documented_value, value, f"{where}.{key}", depth + 1)
    return problems
