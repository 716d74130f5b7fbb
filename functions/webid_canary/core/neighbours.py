"""Claim sets that a trust policy must NOT accept: the neighbours of a registered workload.

If a role's trust policy allows one of these, it is open to the wrong workload. The neighbours are built from
the registered `sub` by its documented format:
- GitHub Actions `repo:OWNER/REPO:<trigger>` (docs.github.com, "About security hardening with OpenID Connect",
  example subject claims): another repository of the owner, another owner, another branch, another environment.
- GitLab `project_path:GROUP/PROJECT:ref_type:branch:ref:REF` (docs.gitlab.com, "ID token authentication"):
  another project of the group, another group, another branch.
- Kubernetes service accounts `system:serviceaccount:NS:SA` (EKS IRSA): another service account of the
  namespace, another namespace.
- Cognito identity pools (IAM User Guide, "Role trust and permissions" for identity pools): the pool id in
  `aud` and the `amr` are the boundary; every identity of the pool is a legitimate subject. Neighbours are
  another pool and, for an authenticated identity, an unauthenticated one.
- Every other issuer: also any subject at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

PROBE = "webid-canary-probe"

_GITHUB = re.compile(r"^repo:(?P<owner>[^/:]+)/(?P<repo>[^:]+):(?P<trigger>.+)$")
_GITLAB = re.compile(r"^project_path:(?P<group>.+)/(?P<project>[^/:]+):(?P<rest>.+)$")
_K8S = re.compile(r"^system:serviceaccount:(?P<ns>[^:]+):(?P<sa>[^:]+)$")


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A claim set that must be refused, with what it stands for (e.g. `another repository of acme`)."""

    label: str
    claims: Mapping[str, object]
    # Outside the workload's boundary (another repository, namespace, owner): allowing it makes the role open.
    # Inside it (another branch or environment of the same repository): worth a warning, not an alarm.
    crosses_boundary: bool = True


COGNITO_ISSUER = "https://cognito-identity.amazonaws.com"


def neighbours(claims: Mapping[str, object]) -> tuple[Neighbour, ...]:
    """The generated must-deny claim sets for a registered claim set (empty when there is no `sub`)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return ()
    if claims.get("iss") == COGNITO_ISSUER:
        return _cognito(claims)
    specs = [*_subjects(sub), ("any subject at all", f"{PROBE}-unrelated-subject", {}, True)]
    return tuple(
        Neighbour(label, _with(claims, sub=new_sub, extra=extra), crosses) for label, new_sub, extra, crosses in specs
    )


def _cognito(claims: Mapping[str, object]) -> tuple[Neighbour, ...]:
    pool = claims.get("aud")
    region = pool.split(":", 1)[0] if isinstance(pool, str) and ":" in pool else "us-east-1"
    other_pool = dict(claims)
    other_pool["aud"] = f"{region}:00000000-0000-0000-0000-{PROBE[:12]}"
    found = [Neighbour("an identity of another identity pool", MappingProxyType(other_pool))]
    amr = claims.get("amr")
    if isinstance(amr, list | tuple) and "authenticated" in amr:
        guest = dict(claims)
        guest["amr"] = ["unauthenticated"]
        found.append(Neighbour("an unauthenticated (guest) identity", MappingProxyType(guest)))
    return tuple(found)


_Spec = tuple[str, str, Mapping[str, object], bool]


def _subjects(sub: str) -> list[_Spec]:
    if match := _GITHUB.match(sub):
        owner, repo, trigger = match["owner"], match["repo"], match["trigger"]
        found: list[_Spec] = [
            (
                f"another repository of {owner}",
                f"repo:{owner}/{PROBE}:{trigger}",
                {"repository": f"{owner}/{PROBE}"},
                True,
            ),
            (
                "a repository of another owner",
                f"repo:{PROBE}/{repo}:{trigger}",
                {"repository": f"{PROBE}/{repo}"},
                True,
            ),
        ]
        if trigger.startswith("ref:"):
            found.append(
                (
                    f"another branch of {owner}/{repo}",
                    f"repo:{owner}/{repo}:ref:refs/heads/{PROBE}",
                    {"ref": f"refs/heads/{PROBE}"},
                    False,
                )
            )
        if trigger.startswith("environment:"):
            found.append(
                (
                    f"another environment of {owner}/{repo}",
                    f"repo:{owner}/{repo}:environment:{PROBE}",
                    {"environment": PROBE},
                    False,
                )
            )
        return found
    if match := _GITLAB.match(sub):
        group, project, rest = match["group"], match["project"], match["rest"]
        found = [
            (f"another project of {group}", f"project_path:{group}/{PROBE}:{rest}", {}, True),
            ("a project of another group", f"project_path:{PROBE}/{project}:{rest}", {}, True),
        ]
        if ":ref_type:branch:ref:" in f":{rest}":
            found.append(
                (
                    f"another branch of {group}/{project}",
                    f"project_path:{group}/{project}:ref_type:branch:ref:{PROBE}",
                    {},
                    False,
                )
            )
        return found
    if match := _K8S.match(sub):
        ns, sa = match["ns"], match["sa"]
        return [
            (f"another service account in namespace {ns}", f"system:serviceaccount:{ns}:{PROBE}", {}, True),
            ("the same service account name in another namespace", f"system:serviceaccount:{PROBE}:{sa}", {}, True),
        ]
    return []


def _with(claims: Mapping[str, object], *, sub: str, extra: Mapping[str, object]) -> Mapping[str, object]:
    updated = dict(claims)
    updated["sub"] = sub
    for key, value in extra.items():
        if key in updated:
            updated[key] = value
    return MappingProxyType(updated)
