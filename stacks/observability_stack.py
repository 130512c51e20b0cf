"""Observability stack: where the pipeline's alarms reach a person."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.config import ObservabilityConfig

UNDELIVERED_QUEUE_REASON = (
    "This queue is itself the dead-letter queue of the alarm topic's subscriptions (SNS redrive policy); "
    "a dead-letter queue of a dead-letter queue would only move the same messages again"
)


class ObservabilityStack(cdk.Stack):
    """Owns the alarm topic (KMS-encrypted, TLS-only) and its e-mail subscriptions.

    Exposes `alarm_topic`; the other stacks attach their alarms' actions to it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: ObservabilityConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.key = kms.Key(
            self,
            "AlarmKey",
            description="Encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets the service use it.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("sns.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", display_name="ML pipeline alarms", master_key=self.key, enforce_ssl=True
        )
        if config.alarm_emails:
            # Notifications SNS cannot deliver are kept, not lost.
            self.undelivered = sqs.Queue(
                self,
                "UndeliveredAlarms",
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=self.key,
                enforce_ssl=True,
                retention_period=cdk.Duration.days(14),
            )
            self.undelivered.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[self.undelivered.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": self.alarm_topic.topic_arn}},
                )
            )
            for rule_id in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
                acknowledge(self.undelivered, rule_id, UNDELIVERED_QUEUE_REASON)
        for email in config.alarm_emails:
            self.alarm_topic.add_subscription(
                subscriptions.EmailSubscription(email, dead_letter_queue=self.undelivered)
            )
