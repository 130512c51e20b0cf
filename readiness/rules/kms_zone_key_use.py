"""Roles that use a KMS-encrypted bucket can use its key; roles that only write it cannot decrypt."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.access import Ref, bucket_key, resource_at, roles
from readiness.core import Outcome, Rule
from readiness.iam import key_allows
from readiness.model import Stack


def _can(stack: Stack, granted: dict[str, bool], key: Ref, role_id: str, *actions: str) -> bool:
    """The role's policies, or the key's own policy (same stack), allow one of `actions`."""
    if any(action in granted for action in actions):
        return True
    found = resource_at(stack, key)
    return found is not None and found[0] is stack and any(key_allows(found[1], a, principal=role_id) for a in actions)


def check(stack: Stack) -> Iterator[Outcome]:
    for role, access in roles(stack):
        problems = []
        for bucket_ref, actions in sorted(access.objects.items(), key=lambda item: item[0].path):
            found = resource_at(stack, bucket_ref)
            key = bucket_key(*found) if found else None
            if key is None:
                continue
            granted = access.keys.get(key, {})
            reads, writes = "s3:GetObject" in actions, "s3:PutObject" in actions
            if reads and not _can(stack, granted, key, role.logical_id, "kms:Decrypt"):
                problems.append(f"reads {bucket_ref.path} but may not kms:Decrypt with {key.path}")
            if writes and not _can(stack, granted, key, role.logical_id, "kms:GenerateDataKey", "kms:GenerateDataKey*"):
                problems.append(f"writes {bucket_ref.path} but may not kms:GenerateDataKey with {key.path}")
            if writes and not reads and granted.get("kms:Decrypt") is False:
                problems.append(f"only writes {bucket_ref.path} yet may kms:Decrypt with {key.path} outside S3")
        if access.objects:
            yield Outcome(role, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-KMS1",
    title="Roles using a KMS-encrypted bucket can use its key; writers cannot decrypt outside S3",
    explanation=(
        "Reading an SSE-KMS object needs kms:Decrypt and writing one kms:GenerateDataKey on the bucket's key: "
        "without them Glue, Firehose or SageMaker fail with AccessDenied at run time, long after the deploy. "
        "A role that only adds objects (Firehose, data capture) needs no decrypt; if it keeps kms:Decrypt for "
        "multipart uploads, only a kms:ViaService condition stops it from decrypting the zone's data elsewhere."
    ),
    fix=(
        "Grant the zone with stacks.access.allow_zone(policy, zone, access=...), which adds the key actions the "
        "access needs, through S3 only."
    ),
    check=check,
)
