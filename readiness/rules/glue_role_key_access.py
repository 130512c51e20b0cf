"""Glue crawler and job roles may use the keys of their security configuration."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import key_allows, role_allows
from readiness.model import Resource, Stack, as_list, dig
from readiness.rules._glue import jobs_and_crawlers

ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def _keys(stack: Stack, configuration: Resource) -> list[Resource]:
    encryption = configuration.prop("EncryptionConfiguration") or {}
    values = [
        dig(encryption, "CloudWatchEncryption", "KmsKeyArn"),
        dig(encryption, "JobBookmarksEncryption", "KmsKeyArn"),
        *[dig(s, "KmsKeyArn") for s in as_list(encryption.get("S3Encryptions"))],
    ]
    keys = {k.logical_id: k for k in (stack.resolve(v) for v in values) if k is not None and k.type == "AWS::KMS::Key"}
    return list(keys.values())


def check(stack: Stack) -> Iterator[Outcome]:
    for resource, configuration, role in jobs_and_crawlers(stack):
        if configuration is None or role is None:
            continue
        keys = _keys(stack, configuration)
        if not keys:
            continue
        missing = [
            f"{action} on {key.path}"
            for key in keys
            for action in ACTIONS
            if not role_allows(stack, role, action) and not key_allows(key, action, principal=role.logical_id)
        ]
        yield Outcome(resource, f"role {role.path} may not use {missing}" if missing else None)


RULE = Rule(
    id="RDY-GL3",
    title="Glue crawler and job roles may use their security configuration's keys",
    explanation=(
        "A Glue job or crawler encrypts logs, bookmarks and output with its security configuration's KMS keys "
        "as its own role; without kms:Decrypt and kms:GenerateDataKey the run fails at start or on first write."
    ),
    fix="Grant the role kms:Decrypt and kms:GenerateDataKey on each key (stacks.access.allow_key(..., encrypt=True)).",
    check=check,
)
