"""Server access log target buckets use SSE-S3, or a key that trusts the logging service."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import key_allows
from readiness.model import Resource, Stack, as_list, dig

BUCKET = "AWS::S3::Bucket"
LOGGING_SERVICE = "logging.s3.amazonaws.com"


def _targets(stack: Stack) -> Iterator[tuple[Stack, Resource]]:
    for bucket in stack.of_type(BUCKET):
        value = dig(bucket.properties, "LoggingConfiguration", "DestinationBucketName")
        if value is None:
            continue
        found = stack.locate(value)
        if found:
            yield found


def _problem(stack: Stack, bucket: Resource) -> str | None:
    rules = as_list(dig(bucket.properties, "BucketEncryption", "ServerSideEncryptionConfiguration"))
    defaults = [dig(r, "ServerSideEncryptionByDefault") or {} for r in rules]
    algorithms = {d.get("SSEAlgorithm") for d in defaults}
    if not defaults or algorithms == {"AES256"}:
        return None
    if "aws:kms:dsse" in algorithms:
        return "uses DSSE-KMS, which server access log delivery does not support"
    keys = [stack.resolve(d.get("KMSMasterKeyID")) for d in defaults if d.get("SSEAlgorithm") == "aws:kms"]
    if not all(k is not None and k.type == "AWS::KMS::Key" for k in keys):
        return "uses SSE-KMS with a key whose policy is not in the assembly (or aws/s3)"
    for key in keys:
        if key is not None and not key_allows(key, "kms:GenerateDataKey", service=LOGGING_SERVICE):
            return f"uses SSE-KMS with {key.path}, whose policy does not allow {LOGGING_SERVICE} kms:GenerateDataKey"
    return None


def check(stack: Stack) -> Iterator[Outcome]:
    seen: set[str] = set()
    for target_stack, target in _targets(stack):
        if target_stack is stack and target.logical_id not in seen:
            seen.add(target.logical_id)
            yield Outcome(target, _problem(stack, target))
    others = [other for other in stack.assembly.stacks.values() if other is not stack] if stack.assembly else []
    referenced = {r.logical_id for other in others for t, r in _targets(other) if t is stack}
    for bucket in stack.of_type(BUCKET):
        if bucket.logical_id in referenced and bucket.logical_id not in seen:
            seen.add(bucket.logical_id)
            yield Outcome(bucket, _problem(stack, bucket))


RULE = Rule(
    id="RDY-S3L1",
    title="Server access log target buckets use SSE-S3 (or a key trusting the logging service)",
    explanation=(
        "S3 delivers server access logs as the logging.s3.amazonaws.com service. A target bucket encrypted "
        "with aws/s3, DSSE-KMS, or a customer key whose policy does not allow that service silently receives "
        "no logs: the deploy succeeds and the audit trail is empty."
    ),
    fix=(
        "Encrypt the log target bucket with SSE-S3 (s3.BucketEncryption.S3_MANAGED, acknowledging the KMS "
        "rules with that reason), or allow logging.s3.amazonaws.com kms:GenerateDataKey in its key policy."
    ),
    check=check,
)
