"""Root causes the monitor reports beyond the explain engine's and drift's: a target that could not be
checked, a trust policy open to the wrong workload, and STS's own answer to a live probe the engine did not name.
"""

from __future__ import annotations

from webid_canary.core.sts import ERROR_CODES, transient

from . import Entry, Kind, Severity

M = Kind.MONITOR


def _sts(code: str) -> Entry:
    if transient(code):
        return Entry(
            f"sts_{code}",
            M,
            f"STS answered the live probe {code}: it could not tell now",
            Severity.MEDIUM,
            "Nothing to change if it passes; if it lasts, check that the issuer answers STS within 5 seconds "
            "and that the account is not throttled.",
        )
    return Entry(
        f"sts_{code}",
        M,
        f"STS refused the live probe with {code}",
        Severity.HIGH,
        f"Run `webid-canary explain` with the workload's token to see which check gives {code}; the prediction "
        "did not name a cause, so compare the token's claims, the provider and the trust policy by hand.",
    )


ENTRIES: tuple[Entry, ...] = (
    Entry(
        "check_error",
        M,
        "The target could not be checked this cycle",
        Severity.HIGH,
        "Read the error: a read of IAM, the issuer or the token source failed, or the cycle ran out of time. "
        "The target's real state is unknown until a cycle checks it again.",
    ),
    Entry(
        "trust_open",
        M,
        "The trust policy accepts a workload that must be refused",
        Severity.CRITICAL,
        "Pin the sub condition (StringEquals, or a StringLike whose wildcard stays inside one repository or "
        "namespace) so that only the registered workload is accepted.",
    ),
    *(_sts(code) for code in ERROR_CODES),
    Entry(
        "sts_unexpected",
        M,
        "STS refused the live probe with an error code it does not document for this call",
        Severity.HIGH,
        "Read the live answer's error code and message in the result; run `webid-canary explain` with the "
        "workload's token to compare the prediction.",
    ),
)
