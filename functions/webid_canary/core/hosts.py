"""What a host in a URL the product fetches may be: an IP address or an RFC 1123 host name, nothing else.

One rule for validating targets (core.targets) and for fetching (adapters.net).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

__all__ = ["host_refusal"]

_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}\.?$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?"
)


def host_refusal(host: str) -> str | None:
    """Why `host` is not an IP address or an RFC 1123 host name (ASCII letters, digits, hyphens), or None.

    Underscores are valid in some DNS records but not in host names, and certificate checks and proxies treat
    them inconsistently; internationalised names are taken in their xn-- form only."""
    if not host.isascii():
        return f"host {host!r} is not ASCII: give an internationalised name in its xn-- (punycode) form"
    if any(c.isspace() or not c.isprintable() for c in host):
        return f"host {host!r} has spaces or control characters"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if "_" in host:
        return f"host {host!r} has an underscore; host names are letters, digits and hyphens (RFC 1123)"
    if _HOST_NAME.fullmatch(host.lower()) is None:
        return f"{host!r} is not a host name or IP address"
    return None
