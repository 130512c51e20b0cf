"""The endpoint's CloudWatch alarms: what each watches and where its threshold comes from.

Every variant has one alarm per spec on the fleet that serves it (EndpointName and
VariantName), which pages through the alarm topic. The specs named in
`inference.deployment.rollback_alarms` also get an alarm on the fleet of the template's
endpoint config (EndpointConfigName too): during an update that is the new fleet, and the
endpoint's deployment config names these alarms so that one in ALARM rolls the update back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import InferenceConfig

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ENDPOINT_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"


@dataclass(frozen=True)
class AlarmSpec:
    """One metric of a variant and the stage setting that bounds it."""

    construct_id: str
    metric_name: str
    namespace: str
    statistic: str
    description: str
    threshold: Callable[[InferenceConfig], float]


# Keyed by the names `inference.deployment.rollback_alarms` uses (stacks.config.ROLLBACK_ALARMS).
ENDPOINT_ALARMS = {
    "model_latency_p99": AlarmSpec(
        "ModelLatencyP99",
        "ModelLatency",
        SAGEMAKER_NAMESPACE,
        "p99",
        "p99 model latency above the limit (microseconds)",
        lambda config: config.latency_p99_ms * 1000,
    ),
    "invocation_5xx": AlarmSpec(
        "Invocation5XX",
        "Invocation5XXErrors",
        SAGEMAKER_NAMESPACE,
        "Sum",
        "endpoint returned 5XX errors",
        lambda config: config.invocation_5xx_threshold,
    ),
    "model_errors": AlarmSpec(
        "ModelErrors",
        "InvocationModelErrors",
        SAGEMAKER_NAMESPACE,
        "Sum",
        "the model container failed requests",
        lambda config: config.model_error_threshold,
    ),
    "cpu_utilization": AlarmSpec(
        "CpuUtilization",
        "CPUUtilization",
        ENDPOINT_INSTANCE_NAMESPACE,
        "Average",
        "instances are CPU bound",
        lambda config: config.cpu_utilization_percent,
    ),
}


def endpoint_alarm(
    scope: Construct,
    construct_id: str,
    spec: AlarmSpec,
    *,
    config: InferenceConfig,
    dimensions: dict[str, str],
    description: str,
    topic: sns.ITopic,
) -> cloudwatch.Alarm:
    """3 of 5 one-minute periods above the stage's threshold; no traffic is no alarm."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=cloudwatch.Metric(
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions_map=dimensions,
            statistic=spec.statistic,
            period=cdk.Duration.minutes(1),
        ),
        threshold=spec.threshold(config),
        evaluation_periods=5,
        datapoints_to_alarm=3,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(actions.SnsAction(topic))
    return alarm
