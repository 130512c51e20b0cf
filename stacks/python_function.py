"""A Python Lambda function with this project's secure defaults, and its asset bundling.

Every function here runs the same way: arm64, the current Python runtime, code copied
from `lambda/<name>/` together with the `contracts` package (local bundling, no Docker),
JSON logs to a KMS-encrypted log group with retention, X-Ray tracing, reserved
concurrency, KMS-encrypted environment, isolated VPC subnets, and a role whose only
permissions are one customer-managed policy that the caller extends.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.access import in_vpc, role_policy
from stacks.bundling import ROOT, with_contract
from stacks.common import log_group
from stacks.compliance import acknowledge, acknowledge_guard, skip_cfn_lint, skip_checkov
from stacks.config import FunctionConfig

LAMBDA_DIR = ROOT / "lambda"
RUNTIME = lambda_.Runtime.PYTHON_3_14

ENI_REASON = (
    "Lambda in a VPC: ec2:Describe* calls support no resource-level permissions, and the interfaces the Lambda "
    "service creates get generated IDs, so their create/delete actions are limited to this VPC by an ec2:Vpc "
    "condition instead (AWS Lambda VPC documentation)"
)
ROLE_DEPENDS_REASON = (
    "aws-cdk-lib's Function adds DependsOn on its execution role next to the GetAtt of the role ARN; the "
    "function also depends on its policy on purpose, so the generated duplicate ordering stays"
)
IMPORTED_VPC_REASON = (
    "The function runs in the VPC's isolated subnets with its own security group; its VpcConfig names "
    "subnets the Network stack exports, and the Control Tower Guard rule cannot resolve Fn::ImportValue"
)
XRAY_REASON = (
    "xray:PutTraceSegments and PutTelemetryRecords support no resource-level permissions (X-Ray IAM reference)"
)


def bundled_code(function_name: str, extra_files: dict[str, Path] | None = None) -> lambda_.Code:
    """Asset code for `lambda/<function_name>/` plus `extra_files`, hashed on the bundled output."""
    source = LAMBDA_DIR / function_name
    return lambda_.Code.from_asset(str(source), bundling=with_contract({"": source, **(extra_files or {})}))


class PythonFunction(Construct):
    """One Lambda function with the defaults above. Exposes `function`, `role`, `policy`.

    `dead_letter_queue` (encrypted with `key`) keeps asynchronous events that failed every
    attempt; `s3_prefix_list_id` opens the security group to the S3 gateway endpoint.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: str,
        handler: str,
        description: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        sizing: FunctionConfig,
        environment: dict[str, str] | None = None,
        extra_files: dict[str, Path] | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        s3_prefix_list_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc_arn = cdk.Stack.of(self).format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)
        self.log_group = log_group(self, "Logs", key=key, retention_days=sizing.log_retention_days)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.policy = role_policy(self, "Policy", self.role, description=f"Permissions of: {description}")
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{description} (HTTPS to VPC endpoints only)",
        )
        self.security_group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "VPC endpoints")
        if s3_prefix_list_id is not None:
            # A function that reads or writes S3 reaches it through the gateway endpoint, whose
            # traffic goes to S3's addresses (the region's prefix list), not to the VPC CIDR.
            self.security_group.add_egress_rule(
                ec2.Peer.prefix_list(s3_prefix_list_id), ec2.Port.tcp(443), "S3 through the gateway endpoint"
            )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=bundled_code(source, extra_files),
            handler=handler,
            memory_size=sizing.memory_mib,
            timeout=cdk.Duration.seconds(sizing.timeout_seconds),
            reserved_concurrent_executions=sizing.reserved_concurrency,
            environment=environment,
            environment_encryption=key,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=self.log_group,
            role=self.role.without_policy_updates(),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            dead_letter_queue=dead_letter_queue,
        )
        self.function.node.add_dependency(self.policy)
        skip_cfn_lint(self.function, "W3005", ROLE_DEPENDS_REASON)
        acknowledge_guard(self.function, "lambda_inside_vpc_check", IMPORTED_VPC_REASON)
        self._base_permissions(key)
        if dead_letter_queue is not None:
            # Lambda sends an asynchronous event that failed every attempt with the function's role.
            self.policy.add_statements(
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn]),
                iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn]),
            )

    def invoked_synchronously(self, reason: str) -> None:
        """Acknowledge the dead-letter-queue rules: a Lambda DLQ only receives failed
        asynchronous invocations. `reason` says who calls the function and where failures go."""
        for rule_id in ("HIPAA.Security-LambdaDLQ", "NIST.800.53.R5-LambdaDLQ", "Serverless-LambdaDLQ"):
            acknowledge(self.function, rule_id, reason)
        skip_checkov(self.function, "CKV_AWS_116", reason)

    def _base_permissions(self, key: kms.IKey) -> None:
        """What every function needs: its logs, its traces, its VPC ENIs, its environment key."""
        self.policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            ),
            iam.PolicyStatement(actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]),
            iam.PolicyStatement(actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], resources=["*"]),
            in_vpc(
                self.vpc_arn,
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ),
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
        )
        acknowledge(self.policy, "AwsSolutions-IAM5[Resource::*]", f"{ENI_REASON}; {XRAY_REASON}")
        skip_checkov(self.policy, "CKV_AWS_111", f"{ENI_REASON}; {XRAY_REASON}")
