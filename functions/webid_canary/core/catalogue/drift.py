"""Provider drift findings (the drift contract in docs/contract.md).

The severity here is the contract's nominal one; a check may lower it (a thumbprint AWS does not use is
only informational) or raise it (a certificate expiring within 7 days). Each finding carries the one that applies.
"""

from __future__ import annotations

from . import Entry, Kind, Severity


def _drift(code: str, title: str, severity: Severity, remedy: str) -> Entry:
    return Entry(code=code, kind=Kind.DRIFT, title=title, severity=severity, remedy=remedy)


ENTRIES: tuple[Entry, ...] = (
    _drift(
        "thumbprint_mismatch",
        "The last certificate the host presents has no thumbprint in the provider's list",
        Severity.CRITICAL,
        "Add the presented thumbprint to the IAM OIDC provider (update-open-id-connect-provider-thumbprint, "
        "up to 5 entries) before removing the old one; when AWS verifies this host through a trusted root "
        "CA the list is not used and this is informational.",
    ),
    _drift(
        "thumbprint_host_uncovered",
        "The issuer host and the jwks_uri host present different chains and the list covers only one",
        Severity.HIGH,
        "Add the thumbprint of the uncovered host's last certificate to the provider's thumbprint list.",
    ),
    _drift(
        "thumbprint_changed",
        "A host presents a different last certificate than at the baseline (intermediate rotated or "
        "another chain served)",
        Severity.INFO,
        "Check that the new thumbprint is in the provider's list if AWS verifies this host by thumbprint.",
    ),
    _drift(
        "issuer_mismatch",
        "The discovery document's issuer is not https:// followed by the provider URL",
        Severity.CRITICAL,
        "Register the IAM OIDC provider under exactly the issuer the discovery document and tokens carry "
        "(a trailing slash counts), or fix the issuer's configuration.",
    ),
    _drift(
        "discovery_unreachable",
        "The discovery document could not be fetched",
        Severity.CRITICAL,
        "Make https://<provider>/.well-known/openid-configuration publicly reachable over HTTPS with a "
        "JSON answer; STS fetches it for every AssumeRoleWithWebIdentity.",
    ),
    _drift(
        "jwks_unreachable",
        "The JWKS named by jwks_uri could not be fetched",
        Severity.CRITICAL,
        "Make the jwks_uri publicly reachable over HTTPS with a JSON key set; without it STS answers "
        "InvalidIdentityToken (could not retrieve verification key).",
    ),
    _drift(
        "jwks_slow",
        "Discovery and JWKS together took too long for comfort within STS's patience (about 5 seconds)",
        Severity.MEDIUM,
        "Serve discovery and JWKS from a fast, cached location (a CDN or S3); STS gives the identity "
        "provider about 5 seconds.",
    ),
    _drift(
        "jwks_kid_missing",
        "A key in the JWKS has no kid",
        Severity.HIGH,
        "Publish every signing key with a kid and put the same kid in the token header.",
    ),
    _drift(
        "jwks_alg_unsupported",
        "A signing key uses an algorithm outside RS256/384/512 and ES256/384/512",
        Severity.HIGH,
        "Sign tokens with RS256, RS384, RS512, ES256, ES384 or ES512 and publish those keys.",
    ),
    _drift(
        "jwks_keys_changed",
        "The JWKS key ids differ from the baseline (key rotation)",
        Severity.INFO,
        "Nothing to do when the rotation was planned; tokens signed with a removed key stop working.",
    ),
    _drift(
        "certificate_expiring",
        "A presented certificate expires soon",
        Severity.MEDIUM,
        "Renew the certificate; if AWS verifies this host by thumbprint and the intermediate changes, "
        "add the new thumbprint to the provider first.",
    ),
    _drift(
        "client_ids_changed",
        "The provider's client IDs (audiences) differ from the baseline",
        Severity.MEDIUM,
        "Confirm the change was intended; tokens whose aud was removed now fail with InvalidIdentityToken.",
    ),
    _drift(
        "provider_deleted",
        "A provider recorded in the baseline no longer exists",
        Severity.CRITICAL,
        "Recreate the IAM OIDC provider with the same URL, client IDs and thumbprints, or retire the "
        "roles that trust it.",
    ),
    _drift(
        "provider_missing",
        "A trust policy names an OIDC provider that does not exist in the account",
        Severity.CRITICAL,
        "Create the IAM OIDC provider the trust policy names (same account, exact URL), or correct the "
        "Principal.Federated ARN.",
    ),
    _drift(
        "provider_unused",
        "No role trusts this provider",
        Severity.INFO,
        "Delete the provider if nothing will use it: an unused trust anchor is attack surface.",
    ),
)
