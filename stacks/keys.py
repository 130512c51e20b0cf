"""Customer-managed keys whose policies keep administering a key apart from using it.

CDK's default key policy gives the account root `kms:*`, so any principal an IAM policy
allows can both administer and use every key. Keys built here instead trust:

- the key administrators (the CDK deployment role, which must keep managing the key,
  and the stage's `keys.admin_principals`) with management actions only: no decrypt;
- the principals of the account with cryptographic actions only, and only through the
  AWS service that owns the data (`kms:ViaService`) when the key is a data key, so an
  identity policy decides who uses it and nothing can decrypt data outside that service;
- the AWS services each stack adds with their own conditions (`add_to_resource_policy`).

Grants on a key may be created only for AWS resources (an encrypted volume, a Lambda
environment): no principal can hand out lasting use of a key through a grant of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.compliance import acknowledge_policy_finding

ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]
KEY_POLICY_REASON = (
    "In a key policy Resource '*' is this key alone; the statements without conditions admit only the "
    "CloudFormation deployment role, which must keep administering the key (KMS refuses a policy that locks "
    "out its creator)"
)
USE_ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
]


def principal_arn(scope: Construct, principal: str) -> str:
    """A configured principal (`arn:...` or `role/...` of the stage account) as an ARN pattern."""
    if principal.startswith("arn:"):
        return principal
    stack = cdk.Stack.of(scope)
    return f"arn:{stack.partition}:iam::{stack.account}:{principal}"


def service_endpoint(scope: Construct, service: str) -> str:
    """The `kms:ViaService` value of an AWS service in the stack's region (`s3.eu-west-1.amazonaws.com`)."""
    stack = cdk.Stack.of(scope)
    return f"{service}.{stack.region}.{stack.url_suffix}"


def deployment_role_arn(scope: Construct) -> str | None:
    """The CloudFormation execution role of the stack's synthesizer (None for a custom one)."""
    execution_role = getattr(cdk.Stack.of(scope).synthesizer, "cloud_formation_execution_role_arn", None)
    return cdk.Fn.sub(execution_role) if execution_role else None


def customer_key(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    admins: Sequence[str],
    removal_policy: cdk.RemovalPolicy,
    via_service: str | None = None,
    named_users: str = "",
) -> kms.Key:
    """A rotating CMK administered by `admins` (plus the deployment role) and used by identity
    policies of this account, only through the AWS service `via_service` (for example `s3`) when given.

    `named_users` says which principals the caller names in the key policy itself (added
    with `add_to_resource_policy`), for the policy analysis acknowledgement."""
    stack = cdk.Stack.of(scope)
    account = iam.AccountRootPrincipal()
    statements = []
    deployer = deployment_role_arn(scope)
    if deployer:
        statements.append(
            iam.PolicyStatement(
                sid="KeyAdministrationByDeploymentRole",
                principals=[iam.ArnPrincipal(deployer)],
                actions=ADMIN_ACTIONS,
                resources=["*"],
            )
        )
    if admins or not deployer:
        statements.append(
            iam.PolicyStatement(
                sid="KeyAdministration",
                principals=[account],
                actions=ADMIN_ACTIONS,
                resources=["*"],
                conditions={"ArnLike": {"aws:PrincipalArn": [principal_arn(scope, a) for a in admins]}}
                if admins
                else None,
            )
        )
    use_conditions: dict[str, dict[str, str]] = {"StringEquals": {"kms:CallerAccount": stack.account}}
    if via_service:
        use_conditions["StringEquals"]["kms:ViaService"] = service_endpoint(scope, via_service)
    statements.append(
        iam.PolicyStatement(
            sid="GrantsOnlyForAwsResources",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        )
    )
    statements.append(
        iam.PolicyStatement(
            sid="UseByAccountPrincipals" + (f"Via{via_service.capitalize()}" if via_service else ""),
            principals=[account],
            actions=USE_ACTIONS,
            resources=["*"],
            conditions=use_conditions,
        )
    )
    key = kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        policy=iam.PolicyDocument(statements=statements),
    )
    reason = KEY_POLICY_REASON + (f", and {named_users}" if named_users else "")
    for finding in ("ResourceExposure", "InfrastructureModification"):
        acknowledge_policy_finding(key, finding, reason)
    return key
