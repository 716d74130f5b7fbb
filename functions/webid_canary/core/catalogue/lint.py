"""Trust policy lint rules: risky shapes, each with its severity and remedy."""

from __future__ import annotations

from . import Entry, Kind, Severity

L = Kind.LINT

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "not_principal_in_trust_policy",
        L,
        "IAM refuses to save a trust policy with NotPrincipal",
        Severity.CRITICAL,
        "Replace NotPrincipal with Principal and express the exception as a condition (for example on "
        "aws:FederatedProvider or the provider's sub); IAM says: \"You cannot use the NotPrincipal element in an "
        'IAM identity-based policy or in an IAM role trust policy."',
        "An error at save time: CreateRole or UpdateAssumeRolePolicy fails with MalformedPolicyDocument.",
    ),
    Entry(
        "provider_url_has_port",
        L,
        "IAM refuses to save an OIDC provider URL with a port",
        Severity.CRITICAL,
        "Serve the issuer on the default HTTPS port and register https://HOST/PATH without a port, with tokens "
        'whose iss matches; IAM says: "The URL should not contain a port number."',
        "An error at save time: CreateOpenIDConnectProvider refuses the URL.",
    ),
    Entry(
        "sub_not_pinned",
        L,
        "No sub condition for an issuer shared by many tenants",
        Severity.CRITICAL,
        "Add a StringEquals (or a narrow StringLike) condition on <provider>:sub naming your repository, "
        "project or service account; without it any workload on that issuer can assume the role.",
        "Tokens of this issuer are minted for many owners; only sub tells them apart.",
    ),
    Entry(
        "sub_wildcard_too_broad",
        L,
        "A sub wildcard reaches beyond one repository or namespace",
        Severity.HIGH,
        "Write the owner and repository (or namespace) literally and keep wildcards to the trigger part, e.g. "
        "repo:OWNER/REPO:ref:refs/heads/* or system:serviceaccount:NAMESPACE:*.",
    ),
    Entry(
        "for_all_values_single_valued",
        L,
        "ForAllValues on a single-valued key",
        Severity.HIGH,
        "Use the plain operator (StringEquals, StringLike) for single-valued keys such as sub: ForAllValues is "
        "true when the key is absent.",
    ),
    Entry(
        "wildcard_in_string_equals",
        L,
        "A StringEquals value holds * or ?, which it compares literally",
        Severity.MEDIUM,
        "Use StringLike for values with wildcards, or remove the wildcard.",
    ),
    Entry(
        "duplicate_key_dropped",
        L,
        "A key is written twice in one JSON object; IAM keeps only the last",
        Severity.HIGH,
        "Merge the duplicate keys (for example both conditions under one StringEquals block); the earlier "
        "value is silently dropped.",
    ),
    Entry(
        "aud_not_pinned",
        L,
        "No aud condition",
        Severity.MEDIUM,
        "Add a StringEquals condition on <provider>:aud with the audience your tokens carry (for Cognito: the "
        "identity pool id; without it identities of any pool can assume the role).",
    ),
    Entry(
        "condition_key_other_provider",
        L,
        "A condition key names another provider than the statement's principal",
        Severity.HIGH,
        "Prefix condition keys with the provider URL exactly as registered; a key of another provider is never "
        "in the request, so a positive test always fails and a negated or IfExists test always passes.",
    ),
    Entry(
        "principal_wildcard",
        L,
        "The statement trusts every principal",
        Severity.CRITICAL,
        "Name the federated provider in Principal.Federated instead of *.",
    ),
)
