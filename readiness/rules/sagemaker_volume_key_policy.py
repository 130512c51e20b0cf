"""The ML storage volume key lets the model's execution role use it."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import key_allows
from readiness.model import Stack, getattr_of
from readiness.rules._sagemaker import ENDPOINT_CONFIG, variants

REQUIRED = ("kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey")


def check(stack: Stack) -> Iterator[Outcome]:
    for config in stack.of_type(ENDPOINT_CONFIG):
        key = stack.resolve(config.prop("KmsKeyId"))
        if key is None or key.type != "AWS::KMS::Key":
            continue
        problems = []
        for variant in variants(config):
            attribute = getattr_of(variant.get("ModelName"))
            model = stack.get(attribute[0]) if attribute else None
            role = stack.resolve(model.prop("ExecutionRoleArn")) if model else None
            if role is None:
                continue
            missing = [a for a in REQUIRED if not key_allows(key, a, principal=role.logical_id)]
            if missing:
                problems.append(f"key policy of {key.path} does not allow {role.path} {missing}")
        yield Outcome(config, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-SM6",
    title="The endpoint volume key policy allows the execution role",
    explanation=(
        "SageMaker attaches the encrypted ML storage volume with grants made for the model's execution role; "
        "if the key policy does not let that role use the key (CreateGrant, Decrypt, GenerateDataKey), "
        "endpoint creation fails after a long wait with 'KMS key ... is not accessible'."
    ),
    fix=(
        "key.add_to_resource_policy(PolicyStatement(principals=[role], actions=[kms:CreateGrant, kms:Decrypt, "
        "kms:GenerateDataKey, kms:DescribeKey], resources=['*']))."
    ),
    check=check,
)
