"""KMS-encrypted locations are registered with a role that can use the key."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, as_list, dig
from readiness.rules._lakeformation import LOCATION


def _kms_encrypted(bucket_encryption: object) -> bool:
    rules = as_list(dig(bucket_encryption, "ServerSideEncryptionConfiguration"))
    return any(dig(r, "ServerSideEncryptionByDefault", "SSEAlgorithm") in ("aws:kms", "aws:kms:dsse") for r in rules)


def check(stack: Stack) -> Iterator[Outcome]:
    for location in stack.of_type(LOCATION):
        bucket = stack.resolve(location.prop("ResourceArn"))
        if bucket is None or bucket.type != "AWS::S3::Bucket" or not _kms_encrypted(bucket.prop("BucketEncryption")):
            continue
        uses_slr = location.prop("UseServiceLinkedRole") is not False or not location.prop("RoleArn")
        yield Outcome(
            location, f"registers KMS-encrypted {bucket.path} with the service-linked role" if uses_slr else None
        )


RULE = Rule(
    id="RDY-LF6",
    title="KMS-encrypted data locations are registered with a custom role",
    explanation=(
        "The Lake Formation service-linked role cannot be granted use of a customer-managed KMS key, so a "
        "location registered with it deploys but every read through Lake Formation fails with KMS access denied."
    ),
    fix=(
        "Register the location with use_service_linked_role=False and role_arn of a role trusted by "
        "lakeformation.amazonaws.com that may use the bucket and its key."
    ),
    check=check,
)
