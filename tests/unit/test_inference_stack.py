"""Inference stack: encrypted multi-AZ endpoint in the VPC, autoscaled, capturing data."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, load_stage
from stacks.image_uris import xgboost_image_uri
from stacks.names import endpoint_name
from tests.synth import SynthesizedStage


def only(stage: SynthesizedStage, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources("Inference", resource_type).items()
    return logical_id, resource


def test_model_in_isolated_subnets_with_network_isolation(every_stage: SynthesizedStage) -> None:
    _, model = only(every_stage, "AWS::SageMaker::Model")
    props = model["Properties"]
    assert props["EnableNetworkIsolation"] is True
    assert len(props["VpcConfig"]["Subnets"]) == every_stage.config.network.az_count >= 2
    assert props["VpcConfig"]["SecurityGroupIds"]
    assert props["PrimaryContainer"]["Image"] == xgboost_image_uri(every_stage.config.region, "1.7-1")
    assert props["PrimaryContainer"]["ModelDataUrl"]["Fn::Sub"].startswith("s3://cdk-")


def test_endpoint_config_encrypts_volume_and_captures_data(every_stage: SynthesizedStage) -> None:
    _, endpoint_config = only(every_stage, "AWS::SageMaker::EndpointConfig")
    props, config = endpoint_config["Properties"], every_stage.config.inference
    assert props["KmsKeyId"]["Fn::GetAtt"][0].startswith("InferenceKey")
    assert "EndpointConfigName" not in props
    (variant,) = props["ProductionVariants"]
    assert variant["InitialInstanceCount"] >= 2
    assert variant["InstanceType"] == config.variants[0].instance_type
    capture = props["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == config.data_capture_percentage
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert "KmsKeyId" in capture and "inference-capture/" in str(capture["DestinationS3Uri"])


def test_endpoint_retains_autoscaled_instance_counts(sandbox: SynthesizedStage) -> None:
    _, endpoint = only(sandbox, "AWS::SageMaker::Endpoint")
    props = endpoint["Properties"]
    assert props["RetainAllVariantProperties"] is True
    excluded = {p["VariantPropertyType"] for p in props["ExcludeRetainedVariantProperties"]}
    assert excluded == {"DesiredWeight", "DataCaptureConfig"}
    # Named after the stage, so that the rollback alarms can name it before each update.
    assert props["EndpointName"] == endpoint_name(sandbox.config.name) == "mlpipeline-sandbox-serving"


def test_scalable_target_names_real_endpoint_and_depends_on_it(every_stage: SynthesizedStage) -> None:
    endpoint_id, _ = only(every_stage, "AWS::SageMaker::Endpoint")
    _, target = only(every_stage, "AWS::ApplicationAutoScaling::ScalableTarget")
    props, variant = target["Properties"], every_stage.config.inference.variants[0]
    assert props["ResourceId"] == {
        "Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, f"/variant/{variant.name}"]]
    }
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (variant.min_capacity, variant.max_capacity)
    assert endpoint_id in target["DependsOn"]


def test_target_tracking_on_invocations_per_instance(sandbox: SynthesizedStage) -> None:
    _, policy = only(sandbox, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking, config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"], sandbox.config.inference
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == config.target_invocations_per_instance
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (
        config.scale_in_cooldown_seconds,
        config.scale_out_cooldown_seconds,
    )


def test_key_policy_lets_execution_role_use_the_volume_key(sandbox: SynthesizedStage) -> None:
    role_id, _ = next(
        (k, v) for k, v in sandbox.resources("Inference", "AWS::IAM::Role").items() if k.startswith("ExecutionRole")
    )
    _, key = next(
        (k, v) for k, v in sandbox.resources("Inference", "AWS::KMS::Key").items() if k.startswith("InferenceKey")
    )
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"] == {"AWS": {"Fn::GetAtt": [role_id, "Arn"]}} and "kms:CreateGrant" in s["Action"]
        for s in statements
    )


def test_execution_role_reads_only_this_artifact(sandbox: SynthesizedStage) -> None:
    (policy,) = [
        p
        for k, p in sandbox.resources("Inference", "AWS::IAM::ManagedPolicy").items()
        if k.startswith("ExecutionPolicy")
    ]
    (artifact,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"]
    assert "*" not in str(artifact["Resource"])


def test_execution_role_only_adds_capture_objects(every_stage: SynthesizedStage) -> None:
    (policy,) = [
        p
        for k, p in every_stage.resources("Inference", "AWS::IAM::ManagedPolicy").items()
        if k.startswith("ExecutionPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    capture = [s for s in statements if "CaptureZone" in str(s["Resource"]) and "s3:PutObject" in s["Action"]]
    (objects,) = capture
    assert "s3:GetObject" not in objects["Action"] and "s3:DeleteObject" not in objects["Action"]
    (capture_key,) = [s for s in statements if "CaptureKey" in str(s["Resource"])]
    assert sorted(capture_key["Action"]) == ["kms:Encrypt", "kms:GenerateDataKey"]
    enis = [s for s in statements if "ec2:CreateNetworkInterface" in s["Action"]]
    assert enis and all("ec2:Vpc" in s["Condition"]["ArnEquals"] for s in enis)


def test_execution_role_trusts_sagemaker_of_this_account_only(every_stage: SynthesizedStage) -> None:
    roles = every_stage.resources("Inference", "AWS::IAM::Role")
    (role,) = [r for k, r in roles.items() if k.startswith("ExecutionRole")]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":sagemaker:" in str(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def serving_alarms(stage: SynthesizedStage) -> list[dict[str, Any]]:
    """The alarms on whichever fleet serves a variant (not the rollback alarms on the template's config)."""
    return [
        a
        for a in stage.resources("Inference", "AWS::CloudWatch::Alarm").values()
        if {d["Name"] for d in a["Properties"]["Dimensions"]} == {"EndpointName", "VariantName"}
    ]


def test_every_variant_has_latency_error_and_cpu_alarms_with_actions(sandbox: SynthesizedStage) -> None:
    alarms = serving_alarms(sandbox)
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert metrics == {"ModelLatency", "Invocation5XXErrors", "InvocationModelErrors", "CPUUtilization"}
    assert all(a["Properties"]["AlarmActions"] for a in alarms)
    (latency,) = [a for a in alarms if a["Properties"]["MetricName"] == "ModelLatency"]
    assert latency["Properties"]["ExtendedStatistic"] == "p99"
    assert latency["Properties"]["Threshold"] == sandbox.config.inference.latency_p99_ms * 1000


def test_ab_variants_from_config(sandbox_options: SynthesizedStage) -> None:
    stage = sandbox_options
    (config,) = stage.resources("Inference", "AWS::SageMaker::EndpointConfig").values()
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in config["Properties"]["ProductionVariants"]}
    assert weights == {"champion": 0.9, "challenger": 0.1}
    assert len(stage.resources("Inference", "AWS::SageMaker::Model")) == 2
    assert len(stage.resources("Inference", "AWS::ApplicationAutoScaling::ScalableTarget")) == 2


@pytest.mark.parametrize(
    ("inference", "path", "allowed"),
    [
        (
            {"variants": [{"min_capacity": 1}]},
            "stages.s.inference.variants[0].min_capacity",
            "at least 2 outside sandbox",
        ),
        (
            {"variants": [{"min_capacity": 5, "max_capacity": 3}]},
            "stages.s.inference.variants[0].min_capacity",
            "must not exceed max_capacity",
        ),
        ({"variants": [{"name": "a", "weight": 0}]}, "stages.s.inference.variants", "add up to more than 0"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "stages.s.inference.variants[1].name", "must differ"),
        ({"variants": [{"weight": 1.5}]}, "stages.s.inference.variants[0].weight", "between 0.0 and 1.0"),
        (
            {"variants": [{"instance_type": "ml.t3.medium"}]},
            "stages.s.inference.variants[0].instance_type",
            "burstable",
        ),
        (
            {"variants": [{"instance_type": "ml.g5.xlarge"}]},
            "stages.s.inference.variants[0].instance_type",
            "NVMe instance storage",
        ),
        (
            {"variants": [{"instance_type": "ml.p4d.24xlarge"}]},
            "stages.s.inference.variants[0].instance_type",
            "NVMe instance storage",
        ),
        ({"data_capture_percentage": 101}, "stages.s.inference.data_capture_percentage", "between 0 and 100"),
        ({"data_capture_percentage": -1}, "stages.s.inference.data_capture_percentage", "between 0 and 100"),
        ({"variants": []}, "stages.s.inference.variants", "1 to 10 production variants"),
    ],
)
def test_endpoint_config_validation(inference: dict[str, Any], path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"inference": inference}}, "s")
    assert error.value.path == path
    assert allowed in error.value.allowed


def test_sandbox_may_run_one_instance_and_burstable_without_autoscaling() -> None:
    config = load_stage(
        {
            "s": {
                "sandbox": True,
                "region": "eu-west-1",
                "inference": {"autoscaling": False, "variants": [{"min_capacity": 1, "instance_type": "ml.t2.medium"}]},
            }
        },
        "s",
    )
    assert config.inference.variants[0].min_capacity == 1


def test_capture_is_a_governed_table_of_the_raw_database(sandbox: SynthesizedStage) -> None:
    """Partition projection over the capture layout (no crawler), in the raw database, whose
    LF-tags (zone raw, classification pii) decide who reads it."""
    (table,) = sandbox.resources("Inference", "AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    assert table["Properties"]["DatabaseName"] == f"mlpipeline_{sandbox.config.name}_raw"
    parameters = table_input["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.variant.values"] == ",".join(v.name for v in sandbox.config.inference.variants)
    assert parameters["projection.endpoint.values"] == endpoint_name(sandbox.config.name)
    assert (parameters["projection.capture_hour.type"], parameters["projection.capture_hour.format"]) == (
        "date",
        "yyyy/MM/dd/HH",
    )
    template = "".join(
        p if isinstance(p, str) else "<bucket>" for p in parameters["storage.location.template"]["Fn::Join"][1]
    )
    assert template == "s3://<bucket>/inference-capture/${endpoint}/${variant}/${capture_hour}/"
    assert [c["Name"] for c in table_input["PartitionKeys"]] == ["endpoint", "variant", "capture_hour"]
    columns = {c["Name"]: c["Type"] for c in table_input["StorageDescriptor"]["Columns"]}
    assert "inferenceid:string" in columns["eventmetadata"] and "endpointinput:struct<" in columns["capturedata"]
    serde = table_input["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert serde["Parameters"] == {"ignore.malformed.json": "true"}
