"""The endpoint's `DeploymentConfig`: how SageMaker rolls out an update, from the stage's guardrails.

Blue/green modes become a `BlueGreenUpdatePolicy` with their traffic routing (canary size
or linear step), wait interval, termination wait and execution timeout; `rolling` becomes a
`RollingUpdatePolicy` with its batch, rollback batch, wait and timeout. Either way the
auto-rollback configuration names the rollback alarms, which watch the new fleet. The
stage config has already checked every value against `stacks.guardrails`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker

from stacks import guardrails
from stacks.config import DeploymentConfig

DEPLOYMENT_STATE_CHANGE = "SageMaker Endpoint Deployment State Change"

Endpoint = sagemaker.CfnEndpoint


def capacity(size: int | None, unit: str) -> Endpoint.CapacitySizeProperty | None:
    return None if size is None else Endpoint.CapacitySizeProperty(type=unit, value=size)


def deployment_config(
    config: DeploymentConfig, rollback_alarms: Sequence[cloudwatch.IAlarm]
) -> Endpoint.DeploymentConfigProperty:
    rollback = Endpoint.AutoRollbackConfigProperty(
        alarms=[Endpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in rollback_alarms]
    )
    if config.kind == guardrails.ROLLING:
        return Endpoint.DeploymentConfigProperty(
            auto_rollback_configuration=rollback,
            rolling_update_policy=Endpoint.RollingUpdatePolicyProperty(
                maximum_batch_size=capacity(config.step, config.unit),  # type: ignore[arg-type]
                rollback_maximum_batch_size=capacity(config.rollback_step, config.unit),
                wait_interval_in_seconds=config.wait_seconds,
                maximum_execution_timeout_in_seconds=config.max_execution_timeout_seconds,
            ),
        )
    step = capacity(config.step, config.unit)
    return Endpoint.DeploymentConfigProperty(
        auto_rollback_configuration=rollback,
        blue_green_update_policy=Endpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=Endpoint.TrafficRoutingConfigProperty(
                type=config.kind,
                canary_size=step if config.kind == guardrails.CANARY else None,
                linear_step_size=step if config.kind == guardrails.LINEAR else None,
                wait_interval_in_seconds=config.wait_seconds,
            ),
            termination_wait_in_seconds=config.termination_wait_seconds,
            maximum_execution_timeout_in_seconds=config.max_execution_timeout_seconds,
        ),
    )
