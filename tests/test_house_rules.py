"""House rules that hold for the whole project, checked over its files."""

from __future__ import annotations

import ast
import hashlib
import re
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


# The project speaks only of itself; the words it avoids are kept as SHA-256 digests, so that this file avoids them
# too. Words compare in lower case, singular or plural; acronyms compare as written.
AVOIDED_WORDS = frozenset(
    {
        "e81d3b0e9d82feaaf5f6e55bdff24731d7eee08632ffa63801e6397290c5d20a",
        "a39a7ffad4a3013f29da97b84f264337f234c1cf9b3c40c7c30c677a8a18609a",
    }
)
AVOIDED_ACRONYMS = frozenset({"11fb682be0a0233d5fb899721ecfc1827d20f0d2ff2e093310efa61efca8af1c"})
TEXT_SUFFIXES = frozenset({".py", ".md", ".mjs", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".sh"})
SCANNED = ("functions", "infra", "tests", "tools", "bench", "docs", "README.md", "Makefile", "pyproject.toml")


def _digest(word: str) -> str:
    return hashlib.sha256(word.encode()).hexdigest()


def avoided_words(text: str) -> Iterator[tuple[int, str]]:
    """(line number, word) for each avoided word in the text."""
    for number, line in enumerate(text.splitlines(), start=1):
        for word in re.findall(r"[A-Za-z]+", line):
            lower = word.lower()
            if _digest(word) in AVOIDED_ACRONYMS or {_digest(lower), _digest(lower.removesuffix("s"))} & AVOIDED_WORDS:
                yield number, word


def project_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix in TEXT_SUFFIXES and "__pycache__" not in found.parts:
                    yield found


def test_the_wording_check_sees_the_avoided_words() -> None:
    sample = "".join(chr(c) for c in (72, 101, 108, 112, 101, 114, 115))  # spelled out, not written here
    assert list(avoided_words(f"clean line\nthe {sample} of the module\nmaintain a user-agent")) == [(2, sample)]


def test_the_project_speaks_only_of_itself() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {word}"
        for path in project_files()
        for line, word in avoided_words(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []
