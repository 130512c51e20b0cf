"""The audit trail: who called which AWS API, from where and when, including lake reads."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import role_policy
from stacks.buckets import access_log_bucket, kms_bucket
from stacks.common import allow_logs_service, retention
from stacks.keys import customer_key

NONCURRENT_EXPIRE_AFTER_DAYS = 30


class AuditTrail(Construct):
    """A multi-region CloudTrail trail with log file validation and KMS encryption.

    Delivers to its own locked-down bucket (Block Public Access, TLS only, versioned,
    access-logged, only CloudTrail may write) and to a KMS-encrypted CloudWatch log
    group with retention. Records management events plus S3 data events of
    `data_buckets`. Exposes `trail`, `bucket`, `log_group`, `key`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_buckets: list[s3.IBucket],
        log_retention_days: int,
        key_admins: tuple[str, ...],
        expire_after_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = customer_key(
            self,
            "Key",
            description="Encrypts the CloudTrail trail and its log group",
            admins=key_admins,
            removal_policy=removal_policy,
        )
        allow_logs_service(self.key)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        access_logs = access_log_bucket(
            self,
            "AccessLogs",
            expire_after_days=expire_after_days,
            noncurrent_expire_after_days=NONCURRENT_EXPIRE_AFTER_DAYS,
            removal_policy=removal_policy,
        )
        self.bucket = kms_bucket(
            self,
            "Bucket",
            key=self.key,
            access_logs=access_logs,
            log_prefix="trail/",
            lifecycle_rule=s3.LifecycleRule(
                expiration=cdk.Duration.days(expire_after_days),
                noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_EXPIRE_AFTER_DAYS),
            ),
            removal_policy=removal_policy,
        )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=self.key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        log_role = iam.Role(
            self,
            "LogsRole",
            assumed_by=iam.ServicePrincipal("cloudtrail.amazonaws.com"),
            description="CloudTrail delivery to CloudWatch Logs",
        )
        log_policy = role_policy(self, "LogsPolicy", log_role, description="CloudTrail delivery to its log group")
        log_policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            )
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=self.key,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            send_to_cloud_watch_logs=False,
        )
        cfn_trail = self.trail.node.default_child
        assert isinstance(cfn_trail, cloudtrail.CfnTrail)
        cfn_trail.cloud_watch_logs_log_group_arn = self.log_group.log_group_arn
        cfn_trail.cloud_watch_logs_role_arn = log_role.role_arn
        cfn_trail.node.add_dependency(log_policy)
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=b) for b in data_buckets], read_write_type=cloudtrail.ReadWriteType.ALL
        )
