"""Small building blocks several stacks share."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_guard
from stacks.config import LOG_RETENTION_DAYS, MIN_AUDIT_LOG_DAYS

_RETENTION_NAMES = (
    "ONE_DAY",
    "THREE_DAYS",
    "FIVE_DAYS",
    "ONE_WEEK",
    "TWO_WEEKS",
    "ONE_MONTH",
    "TWO_MONTHS",
    "THREE_MONTHS",
    "FOUR_MONTHS",
    "FIVE_MONTHS",
    "SIX_MONTHS",
    "ONE_YEAR",
    "THIRTEEN_MONTHS",
    "EIGHTEEN_MONTHS",
    "TWO_YEARS",
    "THREE_YEARS",
    "FIVE_YEARS",
    "SIX_YEARS",
    "SEVEN_YEARS",
    "EIGHT_YEARS",
    "NINE_YEARS",
    "TEN_YEARS",
)
RETENTION: dict[int, logs.RetentionDays] = {
    days: getattr(logs.RetentionDays, name) for days, name in zip(LOG_RETENTION_DAYS, _RETENTION_NAMES, strict=True)
}


SHORT_RETENTION_REASON = (
    "A stage its config lets tear down keeps logs as long as it sets ({days} days) to stay cheap; every "
    "other stage must keep at least {minimum} days, which the stage config enforces at synth"
)


def log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention_days: int,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with `key`, kept `retention_days` (at least a year outside sandbox
    stages: the config refuses less, and a shorter sandbox retention is acknowledged here)."""
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        encryption_key=key,
        retention=RETENTION[retention_days],
        removal_policy=removal_policy,
    )
    if retention_days < MIN_AUDIT_LOG_DAYS:
        reason = SHORT_RETENTION_REASON.format(days=retention_days, minimum=MIN_AUDIT_LOG_DAYS)
        acknowledge_guard(group, "cloudwatch_log_group_retention_period_check", reason)
    return group


def allow_logs_service(key: kms.Key) -> None:
    """Let CloudWatch Logs in this region use `key` for this account's log groups only.

    Log groups encrypted with a CMK fail to create unless the key policy trusts the
    regional logs service principal; the encryption-context condition scopes that trust
    to log groups of this account and region.
    """
    stack = cdk.Stack.of(key)
    log_groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            resources=["*"],
            conditions={
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups},
            },
        )
    )


def from_this_account(scope: Construct, source_arn: str) -> dict[str, dict[str, str]]:
    """Conditions that admit an AWS service principal only when it acts for a resource of this
    account matching `source_arn` (cross-service confused deputy prevention)."""
    return {
        "StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account},
        "ArnLike": {"aws:SourceArn": source_arn},
    }


def events_rules(scope: Construct) -> str:
    """Every EventBridge rule of this account and region (the source of rule targets)."""
    return cdk.Stack.of(scope).format_arn(service="events", resource="rule", resource_name="*")


def allow_event_rules(key: kms.Key) -> None:
    """Let this account's EventBridge rules use `key` (a rule target's encrypted queue or topic)."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions=from_this_account(key, events_rules(key)),
        )
    )


DEAD_LETTER_QUEUE_REASON = (
    "This queue is itself a dead-letter queue (undeliverable notifications are kept here for 14 days); "
    "a dead-letter queue of a dead-letter queue would only move the same messages again"
)


def dead_letter_queue(scope: Construct, construct_id: str, *, key: kms.IKey, of_function: bool = False) -> sqs.Queue:
    """A KMS-encrypted, TLS-only queue that keeps what a service could not deliver.

    The service that uses it (an SNS subscription, an EventBridge target) adds the queue
    policy that lets it send; the key policy must let that service use `key`. A queue that
    is also a Lambda function's dead-letter queue (`of_function`) is recognised as one by
    AwsSolutions-SQS3, so only the other rules are acknowledged.
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )
    for rule_id in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy")[of_function:]:
        acknowledge(queue, rule_id, DEAD_LETTER_QUEUE_REASON)
    acknowledge_guard(queue, "sqs_dlq_check", DEAD_LETTER_QUEUE_REASON)
    return queue
