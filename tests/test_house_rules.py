"""House rules that hold for the whole project, checked over its files."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCKS = frozenset({"time", "monotonic", "perf_counter", "process_time", "thread_time"})
MEASURED = frozenset({"seconds", "elapsed", "duration", "took"})
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _measures_time(node: ast.expr) -> bool:
    """A measured duration or a clock reading: `x.seconds`, `elapsed`, `time.perf_counter()`, ..."""
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute) and part.attr in MEASURED:
            return True
        if isinstance(part, ast.Name) and part.id in MEASURED:
            return True
        if isinstance(part, ast.Call) and isinstance(part.func, ast.Attribute) and part.func.attr in CLOCKS:
            return True
    return False


def timing_assertions(source: str) -> Iterator[int]:
    """Line numbers of asserts that order a measured duration against something (a wall-time assertion)."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            sides = [compare.left, *compare.comparators]
            if any(isinstance(op, ORDERING) for op in compare.ops) and any(_measures_time(s) for s in sides):
                yield node.lineno
                break


def test_the_timing_check_sees_wall_time_assertions() -> None:
    flagged = """
assert seen.seconds >= 0.4
assert time.perf_counter() - started < 2
assert elapsed <= limit
assert fetch.seconds is not None
assert target.duration_seconds == 3600
"""
    assert list(timing_assertions(flagged)) == [2, 3, 4]


def test_no_test_asserts_on_wall_time() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line in timing_assertions(path.read_text(encoding="utf-8"))
    ]
    assert found == []
