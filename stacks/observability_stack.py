"""Observability stack: where the pipeline's alarms reach a person."""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.access import import_bucket
from stacks.audit import AuditTrail
from stacks.common import dead_letter_queue, events_rules, from_this_account
from stacks.config import ObservabilityConfig
from stacks.keys import customer_key


class ObservabilityStack(cdk.Stack):
    """Owns the alarm topic (KMS-encrypted, TLS-only), its subscriptions, and the audit trail.

    Exposes `alarm_topic` (the other stacks attach their alarms' actions to it) and
    `audit` (the CloudTrail trail recording management events and the lake's data events).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ObservabilityConfig,
        trail_name: str,
        data_buckets: list[s3.IBucket],
        key_admins: tuple[str, ...],
        object_lock_mode: Literal["governance", "compliance"],
        removal_policy: cdk.RemovalPolicy,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.key = customer_key(
            self,
            "AlarmKey",
            description="Encrypts the alarm topic",
            admins=key_admins,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Alarms (CloudWatch), rule targets (EventBridge) and the topic's dead-letter queue (SNS)
        # encrypt with the key; each service may use it only for resources of this account.
        sources = {
            "cloudwatch.amazonaws.com": self.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name="*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            ),
            "events.amazonaws.com": events_rules(self),
            "sns.amazonaws.com": self.format_arn(service="sns", resource="*"),
        }
        for service, source_arn in sources.items():
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=["*"],
                    conditions=from_this_account(self, source_arn),
                )
            )
        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", display_name="ML pipeline alarms", master_key=self.key, enforce_ssl=True
        )
        # Other stacks reach the topic by ARN, so their alarms and rules add no unconditioned
        # statements: the topic admits alarms and rules of this account only.
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            self.alarm_topic.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[self.alarm_topic.topic_arn],
                    conditions=from_this_account(self, sources[service]),
                )
            )
        if config.alarm_emails:
            # Notifications SNS cannot deliver are kept, not lost.
            self.undelivered = dead_letter_queue(self, "UndeliveredAlarms", key=self.key)
        for email in config.alarm_emails:
            self.alarm_topic.add_subscription(
                subscriptions.EmailSubscription(email, dead_letter_queue=self.undelivered)
            )
        self.audit = AuditTrail(
            self,
            "Audit",
            trail_name=trail_name,
            data_buckets=[import_bucket(self, f"DataBucket{i}", b) for i, b in enumerate(data_buckets)],
            log_retention_days=config.trail_log_retention_days,
            key_admins=key_admins,
            object_lock_mode=object_lock_mode,
            object_lock_days=config.trail_object_lock_days,
            expire_after_days=config.trail_expire_after_days,
            removal_policy=removal_policy,
        )
