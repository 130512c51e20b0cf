"""Inference stack: what a variant serves, and how an endpoint update rolls out and rolls back.

The four guardrail modes come from the session's stages: the sandbox updates in rolling
batches, prod by blue/green with a canary, the options sandbox (whose challenger serves a
registered model package) in linear steps, the boundary stage all at once with the
longest waits.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from readiness.model import references
from stacks.names import endpoint_name
from tests.conftest import PACKAGE_ARN
from tests.synth import SynthesizedStage


def endpoint(stage: SynthesizedStage) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources("Inference", "AWS::SageMaker::Endpoint").items()
    return logical_id, resource


def models(stage: SynthesizedStage) -> dict[str, dict[str, Any]]:
    """Each variant's model properties, by variant name."""
    (config,) = stage.resources("Inference", "AWS::SageMaker::EndpointConfig").values()
    found = stage.resources("Inference", "AWS::SageMaker::Model")
    return {
        v["VariantName"]: found[v["ModelName"]["Fn::GetAtt"][0]]["Properties"]
        for v in config["Properties"]["ProductionVariants"]
    }


def test_a_variant_serves_a_registered_package_like_the_bundled_model_runs(sandbox_options: SynthesizedStage) -> None:
    served = models(sandbox_options)
    package, bundled = served["challenger"], served["champion"]
    assert package["PrimaryContainer"] == {"ModelPackageName": PACKAGE_ARN}
    assert bundled["PrimaryContainer"]["ModelDataUrl"]["Fn::Sub"].startswith("s3://cdk-")
    # Same network isolation, subnets, security group and execution role (with its keys) either way.
    for key in ("EnableNetworkIsolation", "VpcConfig", "ExecutionRoleArn"):
        assert package[key] == bundled[key]
    assert package["EnableNetworkIsolation"] is True


def test_a_package_in_the_china_partition_at_the_longest_group_name(boundary: SynthesizedStage) -> None:
    served = models(boundary)
    (arn,) = [m["PrimaryContainer"]["ModelPackageName"] for m in served.values() if "ModelPackageName" in str(m)]
    assert (
        arn.startswith("arn:aws-cn:sagemaker:cn-north-1:")
        and arn == boundary.config.inference.variants[2].model_package_arn
    )


def policy(stage: SynthesizedStage, prefix: str) -> dict[str, Any]:
    (found,) = [p for k, p in stage.resources("Inference", "AWS::IAM::ManagedPolicy").items() if k.startswith(prefix)]
    return found["Properties"]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "sandbox",
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                }
            },
        ),
        (
            "prod",
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 900,
                    },
                    "TerminationWaitInSeconds": 900,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                }
            },
        ),
        (
            "sandbox_options",
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "LINEAR",
                        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 120,
                    },
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                }
            },
        ),
        (
            "boundary",
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3600},
                    "TerminationWaitInSeconds": 3600,
                    "MaximumExecutionTimeoutInSeconds": 28800,
                }
            },
        ),
    ],
)
def test_each_guardrail_mode_from_the_stage_config(
    fixture: str,
    expected: dict[str, Any],
    sandbox: SynthesizedStage,
    prod: SynthesizedStage,
    sandbox_options: SynthesizedStage,
    boundary: SynthesizedStage,
) -> None:
    # The session's stages are named as arguments, so the test runs where they are synthesized.
    stage = {"sandbox": sandbox, "prod": prod, "sandbox_options": sandbox_options, "boundary": boundary}[fixture]
    _, resource = endpoint(stage)
    deployment = dict(resource["Properties"]["DeploymentConfig"])
    deployment.pop("AutoRollbackConfiguration")
    assert deployment == expected
    # The template's DeploymentConfig applies to every update: none is kept from an earlier one.
    assert "RetainDeploymentConfig" not in resource["Properties"]


def test_rollback_alarms_watch_the_new_fleet_of_each_variant(every_stage: SynthesizedStage) -> None:
    endpoint_id, resource = endpoint(every_stage)
    props, config = resource["Properties"], every_stage.config.inference
    named = [a["AlarmName"]["Ref"] for a in props["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    alarms = every_stage.resources("Inference", "AWS::CloudWatch::Alarm")
    assert len(named) == len(config.variants) * len(config.deployment.rollback_alarms)
    watched = set()
    for logical_id in named:
        alarm = alarms[logical_id]["Properties"]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        # The endpoint config of this template is the new fleet's during an update.
        assert dimensions["EndpointName"] == props["EndpointName"] == endpoint_name(every_stage.config.name)
        assert dimensions["EndpointConfigName"] == props["EndpointConfigName"]
        watched.add((dimensions["VariantName"], alarm["MetricName"]))
        assert alarm["AlarmActions"] and alarm["TreatMissingData"] == "notBreaching"
    assert {variant for variant, _ in watched} == {v.name for v in config.variants}
    # Updated before the endpoint, which names them; not waiting for the endpoint themselves.
    assert all(endpoint_id not in references(alarms[a]) for a in named)


def test_rollback_alarm_thresholds_come_from_the_config(prod: SynthesizedStage) -> None:
    config = prod.config.inference
    thresholds = {
        a["Properties"]["MetricName"]: a["Properties"]["Threshold"]
        for a in prod.resources("Inference", "AWS::CloudWatch::Alarm").values()
        if "EndpointConfigName" in str(a["Properties"]["Dimensions"])
    }
    assert thresholds == {
        "Invocation5XXErrors": config.invocation_5xx_threshold,
        "InvocationModelErrors": config.model_error_threshold,
        "ModelLatency": config.latency_p99_ms * 1000,
    }


def test_the_boundary_stage_rolls_back_on_one_alarm_only(boundary: SynthesizedStage) -> None:
    _, resource = endpoint(boundary)
    alarms = resource["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(alarms) == len(boundary.config.inference.variants)  # model_latency_p99 of each variant


def test_the_execution_role_may_read_exactly_the_rollback_alarms(every_stage: SynthesizedStage) -> None:
    _, resource = endpoint(every_stage)
    props = policy(every_stage, "RollbackAlarmsPolicy")
    (statement,) = props["PolicyDocument"]["Statement"]
    named = [
        a["AlarmName"]["Ref"] for a in resource["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    ]
    assert statement["Action"] == "cloudwatch:DescribeAlarms"
    assert sorted(r["Fn::GetAtt"][0] for r in statement["Resource"]) == sorted(named)
    (role,) = props["Roles"]
    assert role["Ref"].startswith("ExecutionRole")
    rollback_policy = next(
        k for k in every_stage.resources("Inference", "AWS::IAM::ManagedPolicy") if k.startswith("RollbackAlarmsPolicy")
    )
    assert rollback_policy in resource["DependsOn"]


def test_deployment_state_changes_reach_the_alarm_topic(every_stage: SynthesizedStage) -> None:
    (rule,) = every_stage.resources("Inference", "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Endpoint Deployment State Change"]
    assert f":endpoint/{endpoint_name(every_stage.config.name)}" in json.dumps(pattern["resources"])
    (target,) = rule["Properties"]["Targets"]
    assert "AlarmTopic" in json.dumps(target["Arn"]) and "DeadLetterConfig" in target
