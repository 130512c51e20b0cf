"""Roles that AWS services assume are bound to this account's use of the service."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import principal_texts, statements
from readiness.model import Stack

# Services that put these keys in the request when they assume a role (their guides document
# the trust-policy conditions). Glue, Lambda, Lake Formation and API Gateway do not document
# them for role assumption, and a condition on a missing key would stop the role from being
# assumed, so their roles are not checked here.
SOURCE_KEYS = {
    "firehose.amazonaws.com": ("sts:ExternalId",),
    "vpc-flow-logs.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    "sagemaker.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    "cloudtrail.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    "states.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
}


def check(stack: Stack) -> Iterator[Outcome]:
    for role in stack.of_type("AWS::IAM::Role"):
        problems = []
        checked = False
        for statement in statements(role.prop("AssumeRolePolicyDocument")):
            for service in principal_texts(statement):
                keys = SOURCE_KEYS.get(service)
                if keys is None or statement.get("Effect") != "Allow":
                    continue
                checked = True
                condition = str(statement.get("Condition") or {})
                if not any(key in condition for key in keys):
                    problems.append(f"trusts {service} without {' or '.join(keys)}")
        if checked:
            yield Outcome(role, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-IAM1",
    title="Service roles are bound to this account's use of the service (confused deputy)",
    explanation=(
        "A role that trusts a service principal alone can be assumed by that service on behalf of any customer "
        "who knows its ARN (the cross-service confused deputy): another account's delivery stream, flow log or "
        "training job could write with this role. The service puts the source account or resource (or, for "
        "Firehose, the account as external ID) in the request, and the trust policy should require it."
    ),
    fix=(
        "Add with_conditions(stacks.common.from_this_account(...)) to the ServicePrincipal, or for Firehose "
        "{'StringEquals': {'sts:ExternalId': account}}."
    ),
    check=check,
)
