"""Security Hub findings say what the problem is and how to fix it, in the words of that problem."""

from __future__ import annotations

from webid_canary.core.asff import findings_for
from webid_canary.core.catalogue import lookup

PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def test_an_open_trust_gets_the_catalogues_fix_not_the_allow_verdicts_nothing_to_change() -> None:
    """The open trust's verdict is an allow: its own remedy ("nothing to change") would tell ops to do nothing."""
    body = {
        "subject": "target",
        "target_id": "deploy-any-repo",
        "event": "open",
        "root_cause": "trust_open",
        "severity": "high",
        "at": "2026-03-01T12:00:00Z",
        "role_arn": "arn:aws:iam::123456789012:role/deploy",
        "verdict": {
            "outcome": "allow",
            "root_cause": "none",
            "remedy": "Nothing to change.",
            "explanation": "Allowed.",
        },
    }
    (finding,) = findings_for(body, product_arn=PRODUCT, since="2026-03-01T12:00:00Z")
    text = finding["Remediation"]["Recommendation"]["Text"]
    assert "Nothing to change" not in text
    assert text == lookup("trust_open").remedy[: len(text)]
    assert finding["Description"] != "Allowed."


def test_a_denial_keeps_its_verdicts_own_remedy_and_explanation() -> None:
    body = {
        "subject": "target",
        "target_id": "invoice-worker",
        "event": "failing",
        "root_cause": "trust_condition_mismatch",
        "severity": "critical",
        "at": "2026-03-01T12:00:00Z",
        "verdict": {
            "outcome": "deny",
            "root_cause": "trust_condition_mismatch",
            "remedy": "Set oidc.example.com:sub to the service account.",
            "explanation": "The sub condition does not match.",
        },
    }
    (finding,) = findings_for(body, product_arn=PRODUCT, since="2026-03-01T12:00:00Z")
    assert finding["Remediation"]["Recommendation"]["Text"] == "Set oidc.example.com:sub to the service account."
    assert finding["Description"] == "The sub condition does not match."
