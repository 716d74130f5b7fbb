"""Root causes and hints of the explain contract (docs/contract.md).

Explanations and remedies are templates filled from a check's evidence (`{name}`); the STS error code and
message for each root cause are AWS's own, from the AssumeRoleWithWebIdentity API reference
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html) and the errors
people report from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import Entry, Kind, Severity

R = Kind.ROOT_CAUSE
H = Kind.HINT

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "none",
        R,
        "The role would be assumed",
        Severity.INFO,
        "Nothing to change.",
        "STS would accept this token and issue credentials for {role_arn}.",
    ),
    Entry(
        "request_session_name_invalid",
        R,
        "The role session name is not valid",
        Severity.HIGH,
        "Use a RoleSessionName of 2 to 64 characters from letters, digits and + = , . @ _ - "
        "(for example replace '/' with '-').",
        "STS rejects the request before reading the token: the session name {session_name!r} {problem}.",
    ),
    Entry(
        "token_malformed",
        R,
        "The token is not a usable JWT",
        Severity.CRITICAL,
        "Send the OpenID Connect ID token (a JWT with iss, aud, sub and exp), not an access token or a "
        "truncated value; fix the token field: {problem}.",
        "STS cannot read the token: {problem}.",
    ),
    Entry(
        "token_too_long",
        R,
        "The token is longer than STS accepts",
        Severity.HIGH,
        "Send a WebIdentityToken of at most 20000 characters: ask the identity provider for fewer or shorter "
        "claims (groups, custom claims, session tags).",
        "The token is {length} characters long; STS takes 4 to 20000.",
    ),
    Entry(
        "token_algorithm_unsupported",
        R,
        "The token is signed with an algorithm STS does not verify",
        Severity.CRITICAL,
        "Make the identity provider sign ID tokens with one of {supported} (its JWKS must publish that key).",
        "The token's header says alg {alg}; STS verifies only {supported}.",
    ),
    Entry(
        "provider_not_found",
        R,
        "No IAM OIDC provider for the token's issuer",
        Severity.CRITICAL,
        "Create an IAM OIDC provider in account {account} whose URL is exactly {issuer} (the token's iss, "
        "including any trailing slash), or make the issuer send the URL already registered{registered_hint}.",
        "The token's issuer is {issuer}, and account {account} has no IAM OIDC provider with exactly that URL"
        "{registered_note}.",
    ),
    Entry(
        "provider_keys_unreachable",
        R,
        "STS cannot get the provider's signing keys",
        Severity.CRITICAL,
        "Make the discovery document and jwks_uri of {issuer} reachable from the internet over HTTPS, fast, "
        "and make sure the JWKS publishes the key id the token is signed with ({kid}).",
        "STS must fetch the issuer's discovery document and JWKS to verify the token: {problem}.",
    ),
    Entry(
        "provider_thumbprint_mismatch",
        R,
        "The provider's certificate does not match a configured thumbprint",
        Severity.CRITICAL,
        "Add the thumbprint of the certificate the JWKS host now presents ({presented}) to the IAM OIDC "
        "provider {provider_url} (aws iam update-open-id-connect-provider-thumbprint), or serve the JWKS with "
        "a certificate from a public root CA so that AWS no longer needs the thumbprint.",
        "AWS verifies {provider_url} by thumbprint ({why}); the certificate presented ({presented}) matches "
        "none of the configured thumbprints ({configured}).",
    ),
    Entry(
        "token_signature_invalid",
        R,
        "The token's signature does not verify",
        Severity.CRITICAL,
        "Sign tokens with a key the issuer publishes in its JWKS (check kid and alg), and do not alter the "
        "token in transit.",
        "The token's signature does not verify against the keys the issuer publishes.",
    ),
    Entry(
        "token_expired",
        R,
        "The token has expired",
        Severity.HIGH,
        "Fetch a fresh token right before calling STS (exp {exp_iso} is not after {now_iso}); for long jobs, "
        "refresh the token instead of reusing it.",
        "The token expired at {exp_iso}, and STS evaluated it at {now_iso}.",
    ),
    Entry(
        "provider_audience_not_registered",
        R,
        "The token's audience is not a client ID of the provider",
        Severity.CRITICAL,
        "Add {audience} to the client IDs (audiences) of the IAM OIDC provider {provider_url}, or request "
        "the token with an {claim} value already registered ({client_ids}).",
        "STS compares the token's {claim} with the client IDs: the token's {claim} is {audience}, and the IAM OIDC "
        "provider {provider_url} registers only {client_ids}.",
    ),
    Entry(
        "role_not_found",
        R,
        "The role does not exist",
        Severity.CRITICAL,
        "Check the role ARN {role_arn} (account, path, name) or create the role; STS answers a missing role "
        "like a trust failure.",
        "The role {role_arn} does not exist, and STS answers that as AccessDenied.",
    ),
    Entry(
        "trust_principal_mismatch",
        R,
        "No statement trusts this token's provider",
        Severity.CRITICAL,
        "In the trust policy of {role_arn}, set Principal.Federated to {principal} exactly (account, region, "
        "cluster id, host and trailing slash as registered).",
        "The trust policy names {named} as federated principal, but this token comes from {principal}.",
    ),
    Entry(
        "trust_action_mismatch",
        R,
        "The trust policy does not allow the action",
        Severity.CRITICAL,
        "In the statement that trusts {principal}, allow {action} in Action (the caller itself needs no IAM "
        "permission: AssumeRoleWithWebIdentity is an unsigned call).",
        "The statements that trust {principal} do not allow {action}{reason}.",
    ),
    Entry(
        "trust_condition_mismatch",
        R,
        "A trust policy condition is false",
        Severity.HIGH,
        "If this workload should be trusted, change the {operator} condition on {condition_key} in the trust "
        "policy of {role_arn} (the value must {wants_text}; the request has {actual_text}); otherwise the denial "
        "is the policy doing its job.",
        "The condition {operator} on {condition_key} needs the value to {wants_text}, and the request carries "
        "{actual_text}.",
    ),
    Entry(
        "trust_cognito_basic_cross_account",
        R,
        "A cross-account basic-flow role does not test the identity pool's aud and amr",
        Severity.CRITICAL,
        "In the trust policy of {role_arn}, make {statement} test {missing} (the identity pool ID and "
        "authenticated or unauthenticated), or use the enhanced flow with a role in the pool's account.",
        "In the basic (classic) flow from an identity pool in account {pool_account}, STS requires the role's "
        "trust policy to test cognito-identity.amazonaws.com:aud and :amr; {statement} does not test {missing}.",
    ),
    Entry(
        "rcp_deny",
        R,
        "A resource control policy denies the request",
        Severity.HIGH,
        "Change the Deny {statement} of the resource control policy {policy} (AWS Organizations) so that it "
        "does not match this request to {role_arn}, or exempt the role; the trust policy cannot override it.",
        "The resource control policy {policy} has a Deny ({statement}) that matches this request to {role_arn}, "
        "and an explicit Deny in an RCP beats every Allow.",
    ),
    Entry(
        "logged_refusal_unexplained",
        R,
        "STS refused the request, and what was logged does not say why",
        Severity.HIGH,
        "Decode a token the workload presents and run explain on it (every claim, exp and the signature are "
        "checked then); check the resource control policies of the role's account, whether the trust policy "
        "was changed since, and that the workload asks for {role_arn} with its path.",
        "CloudTrail logged AccessDenied for {role_arn}, yet the claims it logged{known} satisfy the trust policy "
        "as it stands. What is left: a condition on a claim the log does not show (amr, azp, a custom claim), a "
        "resource control policy, a trust policy changed since, or a role ARN without its path.",
    ),
    Entry(
        "trust_explicit_deny",
        R,
        "A Deny statement applies",
        Severity.HIGH,
        "Change or remove the Deny statement {statement} in the trust policy of {role_arn}, or stop sending the "
        "claims it matches; an explicit Deny beats every Allow.",
        "The Deny statement {statement} matches this request, and an explicit Deny beats every Allow.",
    ),
    Entry(
        "request_duration_exceeds_max",
        R,
        "The requested session duration is not allowed",
        Severity.MEDIUM,
        "Ask for at most {max_duration} seconds (DurationSeconds), or raise the role's MaxSessionDuration "
        "(up to 43200).",
        "The request asks for {duration} seconds{limit_text}.",
    ),
    Entry(
        "request_duration_below_min",
        R,
        "The requested session duration is below STS's minimum",
        Severity.MEDIUM,
        "Ask for at least {min_duration} seconds (DurationSeconds), or leave it out for the default of 3600.",
        "The request asks for {duration} seconds, less than the {min_duration} seconds STS accepts.",
    ),
    Entry(
        "request_source_identity_invalid",
        R,
        "The token's source identity is not one STS accepts",
        Severity.HIGH,
        "Make the identity provider send a source identity (claim https://aws.amazon.com/source_identity) of 2 to "
        "64 characters from letters, digits and + = , . @ _ - that does not begin with aws:.",
        "The token's source identity {source_identity!r} {problem}.",
    ),
    Entry(
        "session_policy_invalid",
        R,
        "The request's session policies break STS's limits",
        Severity.MEDIUM,
        "Send at most 10 PolicyArns (each 20 to 2048 characters) and an inline Policy of at most 2048 characters "
        "(tab, line feed, carriage return and U+0020 to U+00FF only).",
        "STS refuses the request's session policies: {problem}.",
    ),
    Entry(
        "session_policy_malformed",
        R,
        "The inline session policy is not a policy document",
        Severity.MEDIUM,
        "Send a Policy that is a JSON policy document: Version 2012-10-17, a Statement with Effect and Action or "
        "NotAction, and no Principal.",
        "The request's inline session policy is malformed: {problem}.",
    ),
    Entry(
        "request_tags_too_large",
        R,
        "The token's session tags exceed STS's limits",
        Severity.HIGH,
        "Send at most 50 session tags, keys up to 128 and values up to 256 characters, in the token's "
        "https://aws.amazon.com/tags claim.",
        "The token's session tags break STS's limits: {problem}.",
    ),
    Entry(
        "context_key_unknown",
        R,
        "The answer depends on facts about the caller that were not given",
        Severity.MEDIUM,
        "{give} ({facts}; on the command line --source-ip, --source-vpc, --source-vpce, "
        "--vpc-source-ip, --user-agent, --secure-transport, --requested-region) to decide.",
        "STS's answer depends on {keys}, {source}; for allow, {needs}.",
    ),
    Entry(
        "wildcard_in_string_equals",
        H,
        "A StringEquals value holds * or ?, which it compares literally",
        Severity.MEDIUM,
        "Use StringLike for values with wildcards.",
    ),
    Entry(
        "case_mismatch",
        H,
        "The values differ only in letter case",
        Severity.LOW,
        "Condition values compare case-sensitively: write the value exactly as the token carries it.",
    ),
    Entry(
        "condition_key_names_other_provider",
        H,
        "The condition key's prefix is not this token's provider",
        Severity.MEDIUM,
        "Prefix the key with the provider URL exactly as registered (no https://, same trailing slash, "
        "same cluster id), e.g. {provider_prefix}:sub.",
    ),
    Entry(
        "condition_key_not_in_request",
        H,
        "STS does not put this key in the request for this provider",
        Severity.MEDIUM,
        "Test a claim STS puts in the request context for this provider (for OIDC: aud, sub, azp, amr), or "
        "encode what you need in sub.",
    ),
    Entry(
        "github_sub_format",
        H,
        "The GitHub sub differs in its trigger part or in the immutable owner@id/repo@id form",
        Severity.MEDIUM,
        "Match the sub GitHub really sends: environment jobs send repo:OWNER/REPO:environment:NAME, pull "
        "requests repo:OWNER/REPO:pull_request, others repo:OWNER/REPO:ref:REF; repositories with immutable "
        "subject claims send repo:OWNER@ID/REPO@ID:...",
    ),
    Entry(
        "google_aud_is_azp",
        H,
        "With azp in the token, the provider's aud key is compared with azp, not with the token's aud",
        Severity.MEDIUM,
        "Put the azp value under {provider_prefix}:aud and the token's aud under {provider_prefix}:oaud.",
    ),
    Entry(
        "vacuous_for_all_values",
        H,
        "A ForAllValues condition passes only because its key is absent",
        Severity.HIGH,
        'Add a Null condition requiring the key ({{"Null": {{"KEY": "false"}}}}) or use ForAnyValue / a '
        "single-valued operator.",
    ),
    Entry(
        "for_all_values_key_never_supplied",
        H,
        "A ForAllValues condition tests a key STS never supplies for this provider, so it always passes",
        Severity.HIGH,
        "Remove the condition, or rewrite it on a key STS supplies for this provider (for OIDC: aud, sub, azp, "
        "amr); requiring this key with Null would make the role impossible to assume.",
    ),
    Entry(
        "wildcard_in_condition_key",
        H,
        "The condition key's name holds * or ?, which IAM does not expand in key names",
        Severity.MEDIUM,
        "Write the key name in full (e.g. {provider_prefix}:sub) and put wildcards in the values, under StringLike.",
    ),
)

# root cause -> (STS error code, message template)
STS_ANSWERS: Mapping[str, tuple[str | None, str]] = MappingProxyType(
    {
        "none": (None, ""),
        "request_session_name_invalid": ("ValidationError", "{sts_message}"),
        "token_malformed": ("InvalidIdentityToken", "{sts_message}"),
        "provider_not_found": (
            "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for {issuer}",
        ),
        "provider_keys_unreachable": (
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider,  please reference "
            "AssumeRoleWithWebIdentity documentation for requirements",
        ),
        "provider_thumbprint_mismatch": (
            "InvalidIdentityToken",
            "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
        ),
        "token_signature_invalid": (
            "InvalidIdentityToken",
            "The web identity token that was passed could not be validated by AWS. Get a new identity token "
            "from the identity provider and then retry the request.",
        ),
        "token_expired": (
            "ExpiredTokenException",
            "Token expired: current date/time {now_epoch} must be before the expiration date/time {exp_epoch}",
        ),
        "provider_audience_not_registered": ("InvalidIdentityToken", "Incorrect token audience"),
        "role_not_found": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "trust_principal_mismatch": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "trust_action_mismatch": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "trust_condition_mismatch": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "trust_explicit_deny": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "rcp_deny": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "logged_refusal_unexplained": ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "trust_cognito_basic_cross_account": (
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ),
        "request_duration_exceeds_max": ("ValidationError", "{sts_message}"),
        "context_key_unknown": (None, ""),
        "token_too_long": ("ValidationError", "{sts_message}"),
        "token_algorithm_unsupported": (
            "InvalidIdentityToken",
            "The web identity token that was passed could not be validated by AWS. Get a new identity token "
            "from the identity provider and then retry the request.",
        ),
        "session_policy_invalid": ("ValidationError", "{sts_message}"),
        "session_policy_malformed": (
            "MalformedPolicyDocument",
            "The request was rejected because the policy document was malformed. {problem}",
        ),
        "request_duration_below_min": ("ValidationError", "{sts_message}"),
        "request_source_identity_invalid": ("ValidationError", "{sts_message}"),
        "request_tags_too_large": (
            "PackedPolicyTooLarge",
            "The request was rejected because the total packed size of the session policies and session tags "
            "combined was too large. {problem}",
        ),
    }
)
