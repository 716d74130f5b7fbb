"""Root causes and hints of the explain contract (shared/DIAGNOSIS.md)."""

from __future__ import annotations

from . import Entry

ENTRIES: tuple[Entry, ...] = ()
