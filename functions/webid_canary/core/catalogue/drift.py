"""Provider drift findings (the drift contract)."""

from __future__ import annotations

from . import Entry

ENTRIES: tuple[Entry, ...] = ()
