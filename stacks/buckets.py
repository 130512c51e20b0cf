"""Buckets several stacks need in the same shape."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_guard, skip_checkov

ACCESS_LOG_TARGET_LOGGING_REASON = (
    "This is a server access log target bucket; logging it into itself would loop, and it is "
    "written only by the S3 log delivery service and readable only by account administrators"
)
ACCESS_LOG_TARGET_SSE_S3_REASON = (
    "Server access log target: S3 log delivery supports only SSE-S3 on the destination bucket, "
    "so it cannot use the CMK; Block Public Access, TLS-only policy and versioning still apply"
)
OBJECT_LOCK_REASON = (
    "Object Lock would keep every object version undeletable: the zones hold personal data that must be "
    "erasable on request and age out by lifecycle; versioning, noncurrent-version expiry, TLS-only and "
    "outside-account denies protect them, and the audit trail bucket is the one with Object Lock"
)
ACCESS_LOG_OBJECT_LOCK_REASON = (
    "Server access log target: its objects expire by lifecycle after the configured days, which Object Lock "
    "would prevent; the audit trail (CloudTrail) is the tamper-proof record and has Object Lock"
)
ACCESS_LOG_NOTIFICATIONS_REASON = (
    "Server access log target: S3 log delivery writes a log object per batch of requests, and no consumer "
    "acts on them; the data buckets send their object events to EventBridge"
)
REPLICATION_REASON = (
    "Cross-region replication is out of scope for a single-region reference deployment; versioning, "
    "noncurrent-version retention and termination protection outside sandbox protect the data"
)


def acknowledge_no_replication(bucket: s3.Bucket) -> None:
    for rule_id in (
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "PCI.DSS.321-S3BucketReplicationEnabled",
        "HIPAA.Security-S3BucketReplicationEnabled",
    ):
        acknowledge(bucket, rule_id, REPLICATION_REASON)


def deny_outside_account(bucket: s3.Bucket) -> None:
    """Deny every request from principals of other accounts; AWS services that deliver to the
    bucket (CloudTrail, S3 log delivery) act as service principals and stay allowed."""
    stack = cdk.Stack.of(bucket)
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyPrincipalsOutsideAccount",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:*"],
            resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            conditions={
                "StringNotEquals": {"aws:PrincipalAccount": stack.account},
                "Bool": {"aws:PrincipalIsAWSService": "false"},
            },
        )
    )


def deny_other_encryption(bucket: s3.Bucket, key: kms.IKey) -> None:
    """Deny uploads that ask for another algorithm or another key than the bucket's.

    Uploads without encryption headers stay allowed: default encryption encrypts them with
    the bucket's key, and writers such as Glue, Firehose and SageMaker data capture may rely
    on it. A header is checked only when it is present (`Null: false`), because a negated
    condition on a missing key would match and deny those uploads too. The key may be
    named by ARN or key ID.
    """
    objects = bucket.arn_for_objects("*")
    algorithm = "s3:x-amz-server-side-encryption"
    key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    for sid, header, allowed in (
        ("DenyOtherEncryption", algorithm, ["aws:kms"]),
        ("DenyOtherKeys", key_id, [key.key_arn, key.key_id]),
    ):
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"Null": {header: "false"}, "StringNotEquals": {header: allowed}},
            )
        )


def kms_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    log_prefix: str,
    lifecycle_rule: s3.LifecycleRule,
    removal_policy: cdk.RemovalPolicy,
    object_lock: s3.ObjectLockRetention | None = None,
) -> s3.Bucket:
    """A data bucket: SSE-KMS with a bucket key, Block Public Access, TLS only,
    versioned, owner-enforced, server access logs under ``log_prefix``, emptied on
    delete when the stage destroys its data; its policy denies principals of other
    accounts and uploads encrypted any other way than with ``key``. With ``object_lock``
    every object version is locked for its default retention, and the bucket is retained
    on delete: S3 refuses to delete locked versions, so emptying it would fail."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
        lifecycle_rules=[lifecycle_rule],
        object_lock_enabled=object_lock is not None or None,
        object_lock_default_retention=object_lock,
        removal_policy=cdk.RemovalPolicy.RETAIN if object_lock else removal_policy,
        auto_delete_objects=removal_policy == cdk.RemovalPolicy.DESTROY and object_lock is None,
    )
    # Object events (created, deleted, restored) go to EventBridge, where rules may act on them;
    # set on the resource itself, so no notification custom resource is needed.
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
    )
    deny_outside_account(bucket)
    deny_other_encryption(bucket, key)
    if object_lock is None:
        acknowledge_guard(bucket, "s3_bucket_object_lock_enabled_check", OBJECT_LOCK_REASON)
    acknowledge_no_replication(bucket)
    return bucket


def access_log_bucket(
    scope: Construct,
    construct_id: str,
    *,
    expire_after_days: int,
    noncurrent_expire_after_days: int,
    removal_policy: cdk.RemovalPolicy,
) -> s3.Bucket:
    """An S3 server access log target: SSE-S3 (the only encryption log delivery can
    write), Block Public Access, TLS only, versioned, expiring."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-access-logs",
                expiration=cdk.Duration.days(expire_after_days),
                noncurrent_version_expiration=cdk.Duration.days(noncurrent_expire_after_days),
            )
        ],
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == cdk.RemovalPolicy.DESTROY,
    )
    skip_checkov(bucket, "CKV_AWS_18", ACCESS_LOG_TARGET_LOGGING_REASON)
    for rule, reason in (
        ("s3_bucket_logging_enabled_check", ACCESS_LOG_TARGET_LOGGING_REASON),
        ("s3_bucket_default_encryption_kms_check", ACCESS_LOG_TARGET_SSE_S3_REASON),
        ("s3_event_notifications_enabled_check", ACCESS_LOG_NOTIFICATIONS_REASON),
        ("s3_bucket_object_lock_enabled_check", ACCESS_LOG_OBJECT_LOCK_REASON),
    ):
        acknowledge_guard(bucket, rule, reason)
    for rule_id in (
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "PCI.DSS.321-S3DefaultEncryptionKMS",
    ):
        acknowledge(bucket, rule_id, ACCESS_LOG_TARGET_SSE_S3_REASON)
    deny_outside_account(bucket)
    acknowledge_no_replication(bucket)
    return bucket
