"""Glue security configurations encrypt CloudWatch logs, job bookmarks and S3 output."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, as_list, dig
from readiness.rules._glue import SECURITY_CONFIGURATION


def check(stack: Stack) -> Iterator[Outcome]:
    for configuration in stack.of_type(SECURITY_CONFIGURATION):
        encryption = configuration.prop("EncryptionConfiguration") or {}
        problems = []
        if dig(encryption, "CloudWatchEncryption", "CloudWatchEncryptionMode") != "SSE-KMS":
            problems.append("CloudWatch logs are not encrypted (CloudWatchEncryptionMode SSE-KMS)")
        if dig(encryption, "JobBookmarksEncryption", "JobBookmarksEncryptionMode") != "CSE-KMS":
            problems.append("job bookmarks are not encrypted (JobBookmarksEncryptionMode CSE-KMS)")
        modes = [dig(s, "S3EncryptionMode") for s in as_list(encryption.get("S3Encryptions"))]
        if not modes or any(m not in ("SSE-KMS", "SSE-S3") for m in modes):
            problems.append(f"S3 output is not encrypted (S3EncryptionMode {modes or 'unset'})")
        for section, mode_key in (
            ("CloudWatchEncryption", "CloudWatchEncryptionMode"),
            ("JobBookmarksEncryption", "JobBookmarksEncryptionMode"),
        ):
            if dig(encryption, section, mode_key) in ("SSE-KMS", "CSE-KMS") and not dig(
                encryption, section, "KmsKeyArn"
            ):
                problems.append(f"{section} has no KmsKeyArn")
        yield Outcome(configuration, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-GL1",
    title="Glue security configurations encrypt logs, bookmarks and S3",
    explanation=(
        "A security configuration that leaves CloudWatch logs or job bookmarks unencrypted deploys, but the "
        "job writes data samples and bookmark state in clear text; KMS modes without a key ARN are rejected."
    ),
    fix=(
        "Set CloudWatchEncryption SSE-KMS, JobBookmarksEncryption CSE-KMS and S3Encryptions SSE-KMS, each with "
        "the key ARN (and a key policy that trusts the regional logs service)."
    ),
    check=check,
)
