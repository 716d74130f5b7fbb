"""Trust policy lint rules."""

from __future__ import annotations

from . import Entry

ENTRIES: tuple[Entry, ...] = ()
