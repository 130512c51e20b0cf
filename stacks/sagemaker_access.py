"""What every SageMaker execution role of this project needs, whatever its job.

The endpoint's model and the training jobs both run the built-in XGBoost container in the
isolated subnets with an encrypted ML storage volume. Their roles therefore pull the same
image, write their own CloudWatch log groups, manage the network interfaces SageMaker
creates in the VPC and let SageMaker attach the volume key; :func:`allow_sagemaker_job`
grants exactly that and records why the unscopable parts stay `*`. Their trust admits
SageMaker only for this account's resources (:func:`sagemaker_role`).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.access import finding_id, in_vpc
from stacks.common import from_this_account
from stacks.compliance import acknowledge, acknowledge_policy_finding, skip_checkov

VPC_ENI_REASON = (
    "SageMaker jobs in a VPC: ec2:Describe* calls, cloudwatch:PutMetricData and ecr:GetAuthorizationToken "
    "support no resource-level permissions; the ENI create/delete actions are limited to this VPC by an ec2:Vpc "
    "condition because SageMaker creates the interfaces with generated IDs at run time"
)
VPC_ENI_PERMISSION_REASON = (
    "SageMaker jobs in a VPC need ec2:CreateNetworkInterfacePermission and DeleteNetworkInterfacePermission "
    "on the network interfaces SageMaker creates with generated IDs at run time; the statement is limited "
    "to interfaces in this VPC by an ec2:Vpc condition and the role is assumable only by SageMaker"
)
VOLUME_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]


def sagemaker_role(scope: Construct, construct_id: str, *, description: str) -> iam.Role:
    """A role SageMaker assumes only for resources of this account (confused deputy prevention)."""
    stack = cdk.Stack.of(scope)
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
            from_this_account(scope, stack.format_arn(service="sagemaker", resource="*"))
        ),
        description=description,
    )


def image_repository_arn(stack: cdk.Stack, image_uri: str) -> str:
    """The ECR repository ARN of `<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`."""
    registry, path = image_uri.split("/", 1)
    return stack.format_arn(
        service="ecr", account=registry.split(".")[0], resource="repository", resource_name=path.split(":")[0]
    )


def allow_sagemaker_job(
    policy: iam.ManagedPolicy,
    role: iam.IRole,
    *,
    image_uri: str,
    vpc_arn: str,
    log_groups: str,
    log_reason: str,
    volume_key: kms.Key,
) -> None:
    """Pull `image_uri`, write the log groups under `log_groups`, manage ENIs in one VPC, use `volume_key`.

    The key policy of `volume_key` lets `role` use it too: SageMaker attaches the
    encrypted volume with grants made for the role, and fails after a long wait when
    the key policy does not allow it.
    """
    stack = cdk.Stack.of(policy)
    logs_arn = stack.format_arn(
        service="logs", resource="log-group", resource_name=log_groups, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    policy.add_statements(
        iam.PolicyStatement(
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[image_repository_arn(stack, image_uri)],
        ),
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[logs_arn],
        ),
        iam.PolicyStatement(
            actions=[
                "ecr:GetAuthorizationToken",
                "cloudwatch:PutMetricData",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            resources=["*"],
        ),
        in_vpc(
            vpc_arn,
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
        ),
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[volume_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    )
    volume_key.add_to_resource_policy(
        iam.PolicyStatement(principals=[role], actions=VOLUME_KEY_ACTIONS, resources=["*"])
    )
    acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", VPC_ENI_REASON)
    skip_checkov(policy, "CKV_AWS_111", VPC_ENI_REASON)
    skip_checkov(policy, "CKV_AWS_109", VPC_ENI_PERMISSION_REASON)
    acknowledge_policy_finding(
        policy,
        "CredentialsExposure",
        "SageMaker pulls the container with an ECR authorization token of this role; "
        "ecr:GetAuthorizationToken has no resource-level permissions, and the token reads only the one "
        "repository the role's ecr:BatchGetImage statement names",
    )
    acknowledge(policy, f"AwsSolutions-IAM5[Resource::{finding_id(policy, logs_arn)}]", log_reason)
