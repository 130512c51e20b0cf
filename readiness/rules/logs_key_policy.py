"""KMS keys of encrypted log groups trust the regional CloudWatch Logs service."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import key_allows
from readiness.model import Resource, Stack, dig
from readiness.rules._glue import SECURITY_CONFIGURATION

ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")
CONTEXT_KEY = "kms:encryptioncontext:aws:logs:arn"


def _log_keys(stack: Stack) -> dict[str, Resource]:
    keys = {}
    values = [g.prop("KmsKeyId") for g in stack.of_type("AWS::Logs::LogGroup")]
    values += [
        dig(c.properties, "EncryptionConfiguration", "CloudWatchEncryption", "KmsKeyArn")
        for c in stack.of_type(SECURITY_CONFIGURATION)
    ]
    for value in values:
        key = stack.resolve(value)
        if key is not None and key.type == "AWS::KMS::Key":
            keys[key.logical_id] = key
    return keys


def _has_context_condition(statement: dict[str, object]) -> bool:
    conditions = statement.get("Condition")
    if not isinstance(conditions, dict):
        return False
    return any(
        isinstance(block, dict) and any(str(k).lower() == CONTEXT_KEY for k in block) for block in conditions.values()
    )


def check(stack: Stack) -> Iterator[Outcome]:
    region = stack.region or "*"
    services = [f"logs.{region}.amazonaws.com", "logs.${AWS::Region}.amazonaws.com"]
    for key in _log_keys(stack).values():
        problems = []
        for action in ACTIONS:
            grants = [s for service in services for s in key_allows(key, action, service=service)]
            if not grants:
                problems.append(f"{action} not allowed to {services[0]}")
            elif not any(_has_context_condition(s) for s in grants):
                problems.append(f"{action} for {services[0]} has no kms:EncryptionContext:aws:logs:arn condition")
        yield Outcome(key, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-LOG1",
    title="Keys of encrypted log groups trust logs.<region>.amazonaws.com",
    explanation=(
        "CloudWatch Logs uses a log group's KMS key as the regional service principal. Unless the key policy "
        "allows logs.<region>.amazonaws.com, creating the log group (or a Glue job/crawler writing to an "
        "encrypted one) fails with 'The specified KMS key does not exist or is not allowed'; the "
        "encryption-context condition keeps other accounts' log groups from using the key."
    ),
    fix=(
        "Add a key policy statement allowing logs.<region>.amazonaws.com kms:Encrypt*, Decrypt*, ReEncrypt*, "
        "GenerateDataKey*, Describe* with ArnLike kms:EncryptionContext:aws:logs:arn = "
        "arn:<partition>:logs:<region>:<account>:log-group:* (stacks.common.allow_logs_service)."
    ),
    check=check,
)
