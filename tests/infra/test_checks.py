"""cdk-nag AwsSolutions and cfn-lint on the synthesized stack: clean, and every acknowledgement explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.conftest import DEFAULT_CONTEXT, Synthesis, synthesize

pytestmark = pytest.mark.slow

# Each one is reviewed: a new wildcard or rule finding must fail here until someone says why it is fine.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:oidc-provider/*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
    "secret:webid-canary/*]",
    "AwsSolutions-L1",
}
COGNITO_ACKNOWLEDGEMENT = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cognito-identity:<AWS::Region>:<AWS::AccountId>:identitypool/*]"
)


def nag_report(synth: Synthesis) -> dict[str, object]:
    (report,) = [r for r in synth.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return report


# Organization mode: the monitor function's set (on the shard role, which checks the stack's own account) and
# the orchestration's: the plan objects' prefix, the reader roles of every account, the state machine's children.
ORG_ACKNOWLEDGEMENTS = EXPECTED_ACKNOWLEDGEMENTS | {
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/webid-canary-reader]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
    "WebIdCanary-Cycle/*]",
    "AwsSolutions-S1",
}


@pytest.mark.parametrize("which", ["default_synth", "full_synth", "org_synth"])
def test_cdk_nag_aws_solutions_reports_no_unacknowledged_finding(which: str, request: pytest.FixtureRequest) -> None:
    report = nag_report(request.getfixturevalue(which))
    assert report["conclusion"] == "success"
    assert report.get("violations", []) == []


def test_each_acknowledgement_is_expected_and_carries_a_reason(default_synth: Synthesis, full_synth: Synthesis) -> None:
    for synth, expected in (
        (default_synth, EXPECTED_ACKNOWLEDGEMENTS),
        (full_synth, EXPECTED_ACKNOWLEDGEMENTS | {COGNITO_ACKNOWLEDGEMENT}),
    ):
        suppressed = nag_report(synth)["suppressedViolations"]
        assert isinstance(suppressed, list)
        assert {s["ruleName"] for s in suppressed} == expected
        for finding in suppressed:
            assert len(finding["reason"].split()) >= 8, finding["ruleName"]


def test_organization_acknowledgements_are_expected_and_carry_a_reason(org_synth: Synthesis) -> None:
    suppressed = nag_report(org_synth)["suppressedViolations"]
    assert isinstance(suppressed, list)
    bucket_objects = {s["ruleName"] for s in suppressed if s["ruleName"].endswith(".Arn>/cycles/*]")}
    assert len(bucket_objects) == 1
    assert {s["ruleName"] for s in suppressed} - bucket_objects == ORG_ACKNOWLEDGEMENTS
    for finding in suppressed:
        assert len(finding["reason"].split()) >= 8, finding["ruleName"]


def test_cdk_nag_fails_synthesis_on_an_unacknowledged_wildcard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a wildcard action added to the role stops synthesis with an AwsSolutions-IAM5 error."""
    from aws_cdk import aws_iam as iam

    from infra import permissions

    original = permissions.Permissions.__init__

    def widened(self: permissions.Permissions, scope, construct_id, props) -> None:  # type: ignore[no-untyped-def]
        original(self, scope, construct_id, props)
        props.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))

    monkeypatch.setattr(permissions.Permissions, "__init__", widened)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(DEFAULT_CONTEXT, tmp_path)
    assert "AwsSolutions-IAM5[Action::s3:*]" in (tmp_path / "validation-report.json").read_text()


@pytest.mark.parametrize("which", ["default_synth", "full_synth", "org_synth"])
def test_cfn_lint_finds_nothing_in_the_template(which: str, request: pytest.FixtureRequest) -> None:
    from cfnlint.api import lint_file

    synth: Synthesis = request.getfixturevalue(which)
    matches = lint_file(synth.template_path)
    assert [str(m) for m in matches] == []
    if synth.reader_template is not None:
        reader = synth.template_path.with_name("WebIdCanaryReader.template.json")
        assert [str(m) for m in lint_file(reader)] == []


def test_cfn_lint_is_not_blind(tmp_path: Path, default_synth: Synthesis) -> None:
    """The linter reports a broken template, so an empty result above means something."""
    from cfnlint.api import lint_file

    broken = tmp_path / "broken.json"
    broken.write_text(default_synth.template_path.read_text().replace('"python3.13"', '"python2.9"'))
    assert lint_file(broken)
