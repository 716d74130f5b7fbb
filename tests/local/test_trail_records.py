"""The local STS writes the CloudTrail record AWS would write, and `trail`'s use case explains it as STS decided."""

from __future__ import annotations

from tests.local.test_strict_sts import AUD, SUB, Federation
from webid_canary.adapters.iam import IamReader
from webid_canary.app.refusals import IamFacts, explain_batch
from webid_canary.core.trail import read_records
from webid_canary.local.aws import LocalAws, StrictStsInstallation
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder


def test_a_refused_workload_is_logged_and_explained_from_the_log(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer, strict_sts: StrictStsInstallation
) -> None:
    federation = Federation(aws, seed, local_issuer)
    wrong = "system:serviceaccount:payments:debug-shell"

    federation.refused(federation.issuer.mint({"sub": wrong, "aud": AUD}))
    federation.assume(federation.good_token())
    federation.refused(federation.issuer.mint({"sub": SUB, "aud": AUD, "exp": 1}))  # expired: not logged

    records = list(strict_sts.trail_records)
    assert [r.get("errorCode") for r in records] == ["AccessDenied", None]
    assert all("eyJ" not in str(r) for r in records)  # never the token
    report = explain_batch(read_records(records), IamFacts(IamReader(aws.client("iam"))))
    (refusal,) = report.refusals
    assert refusal.verdict.root_cause == "trust_condition_mismatch"
    assert refusal.verdict.condition_key is not None and refusal.verdict.condition_key.endswith(":sub")
    assert refusal.verdict.actual == (wrong,)
    assert [f.verdict.outcome for f in report.findings if not f.refused] == ["allow"]
