"""The audit trail: who called which AWS API, from where and when, including lake reads."""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import role_policy
from stacks.buckets import access_log_bucket, kms_bucket
from stacks.common import allow_logs_service, log_group
from stacks.keys import customer_key

NONCURRENT_EXPIRE_AFTER_DAYS = 30
CLOUDTRAIL = "cloudtrail.amazonaws.com"


class AuditTrail(Construct):
    """A multi-region CloudTrail trail with log file validation and KMS encryption.

    Delivers to its own bucket (Block Public Access, TLS only, versioned, access-logged,
    only this trail may write, and S3 Object Lock so no delivered log can be changed or
    deleted before its retention ends) and to a KMS-encrypted CloudWatch log group with
    retention. Records management events plus S3 data events of `data_buckets`.

    Every grant to CloudTrail (bucket policy, key policy, the log delivery role's trust) is
    conditioned on this trail's ARN (`aws:SourceArn`, and the key on the
    `aws:cloudtrail:arn` encryption context), so another trail cannot use them. The trail
    therefore has a name (`trail_name`, from the stage): its ARN must be known before it exists.
    Exposes `trail`, `trail_arn`, `bucket`, `log_group`, `key`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        trail_name: str,
        data_buckets: list[s3.IBucket],
        log_retention_days: int,
        key_admins: tuple[str, ...],
        expire_after_days: int,
        object_lock_mode: Literal["governance", "compliance"],
        object_lock_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=trail_name)
        from_this_trail = {"StringEquals": {"aws:SourceArn": self.trail_arn}}
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
                principals=[iam.ServicePrincipal(CLOUDTRAIL)],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "aws:SourceArn": self.trail_arn,
                        "kms:EncryptionContext:aws:cloudtrail:arn": self.trail_arn,
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(CLOUDTRAIL)],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions=from_this_trail,
            )
        )
        access_logs = access_log_bucket(
            self,
            "AccessLogs",
            expire_after_days=expire_after_days,
            noncurrent_expire_after_days=NONCURRENT_EXPIRE_AFTER_DAYS,
            removal_policy=removal_policy,
        )
        lock_for = (
            s3.ObjectLockRetention.compliance if object_lock_mode == "compliance" else s3.ObjectLockRetention.governance
        )
        lock = lock_for(cdk.Duration.days(object_lock_days))
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
            object_lock=lock,
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailAclCheck",
                principals=[iam.ServicePrincipal(CLOUDTRAIL)],
                actions=["s3:GetBucketAcl"],
                resources=[self.bucket.bucket_arn],
                conditions=from_this_trail,
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailWrite",
                principals=[iam.ServicePrincipal(CLOUDTRAIL)],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
                conditions={
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": self.trail_arn}
                },
            )
        )

        self.log_group = log_group(
            self, "Logs", key=self.key, retention_days=log_retention_days, removal_policy=removal_policy
        )
        log_role = iam.Role(
            self,
            "LogsRole",
            assumed_by=iam.ServicePrincipal(CLOUDTRAIL).with_conditions(from_this_trail),
            description="CloudTrail delivery to CloudWatch Logs",
        )
        log_policy = role_policy(self, "LogsPolicy", log_role, description="CloudTrail delivery to its log group")
        log_policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            )
        )
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=trail_name,
            is_logging=True,
            s3_bucket_name=self.bucket.bucket_name,
            kms_key_id=self.key.key_arn,
            enable_log_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,
            cloud_watch_logs_log_group_arn=self.log_group.log_group_arn,
            cloud_watch_logs_role_arn=log_role.role_arn,
            event_selectors=[
                cloudtrail.CfnTrail.EventSelectorProperty(
                    include_management_events=True,
                    read_write_type="All",
                    data_resources=[
                        cloudtrail.CfnTrail.DataResourceProperty(
                            type="AWS::S3::Object", values=[f"{b.bucket_arn}/" for b in data_buckets]
                        )
                    ],
                )
            ],
        )
        # CloudTrail checks that it may write to the bucket and the log group when the trail is created.
        policy = self.bucket.policy
        assert policy is not None
        self.trail.add_dependency(policy.node.default_child)  # type: ignore[arg-type]
        self.trail.node.add_dependency(log_policy)
