"""Ingestion stack: encrypted stream, Firehose that loses nothing, secure transform Lambda."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import ConfigError, load_stage
from stacks.ingestion_stack import partitioned_prefix
from tests.synth import SynthesizedStage


def only(stage: SynthesizedStage, resource_type: str) -> dict[str, Any]:
    (resource,) = stage.resources("Ingestion", resource_type).values()
    return resource


def destination(stage: SynthesizedStage) -> dict[str, Any]:
    return only(stage, "AWS::KinesisFirehose::DeliveryStream")["Properties"]["ExtendedS3DestinationConfiguration"]


def test_stream_encrypted_with_customer_managed_key(every_stage: SynthesizedStage) -> None:
    stream = only(every_stage, "AWS::Kinesis::Stream")["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    assert stream["StreamEncryption"]["KeyId"]["Fn::GetAtt"][0].startswith("IngestionKey")
    assert stream["RetentionPeriodHours"] == every_stage.config.ingestion.retention_hours
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}


def test_delivery_reads_the_stream_without_delivery_stream_sse(sandbox: SynthesizedStage) -> None:
    props = only(sandbox, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert "DeliveryStreamEncryptionConfigurationInput" not in props


def test_dynamic_partitioning_from_lambda_keys(sandbox: SynthesizedStage) -> None:
    dest = destination(sandbox)
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert dest["Prefix"] == partitioned_prefix()
    assert (
        dest["Prefix"]
        == "events/event_date=!{partitionKeyFromLambda:event_date}/home_type=!{partitionKeyFromLambda:home_type}/"
    )


def test_error_prefix_separates_failure_types(sandbox: SynthesizedStage) -> None:
    assert destination(sandbox)["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")


def test_buffering_compression_and_kms_from_config(every_stage: SynthesizedStage) -> None:
    dest, config = destination(every_stage), every_stage.config.ingestion
    assert dest["BufferingHints"] == {
        "SizeInMBs": config.buffer_size_mib,
        "IntervalInSeconds": config.buffer_interval_seconds,
    }
    assert dest["BufferingHints"]["SizeInMBs"] >= 64
    assert dest["CompressionFormat"] == "GZIP"
    assert "AWSKMSKeyARN" in dest["EncryptionConfiguration"]["KMSEncryptionConfig"]


def test_transform_lambda_is_the_processor(sandbox: SynthesizedStage) -> None:
    (processor,) = destination(sandbox)["ProcessingConfiguration"]["Processors"]
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert processor["Type"] == "Lambda"
    assert params["LambdaArn"]["Fn::GetAtt"][0].startswith("TransformFunction")
    assert float(params["BufferSizeInMBs"]) <= 3


def test_source_records_backed_up_unmodified(sandbox: SynthesizedStage) -> None:
    dest = destination(sandbox)
    assert dest["S3BackupMode"] == "Enabled"
    assert dest["S3BackupConfiguration"]["Prefix"].startswith("source-backup/")
    assert dest["S3BackupConfiguration"]["CompressionFormat"] == "GZIP"


def test_error_logging_to_kms_encrypted_group(sandbox: SynthesizedStage) -> None:
    dest = destination(sandbox)
    assert dest["CloudWatchLoggingOptions"]["Enabled"] is True
    groups = sandbox.resources("Ingestion", "AWS::Logs::LogGroup").values()
    assert groups and all("KmsKeyId" in g["Properties"] and g["Properties"]["RetentionInDays"] for g in groups)


def test_delivery_stream_depends_on_its_role_policy(sandbox: SynthesizedStage) -> None:
    stream = only(sandbox, "AWS::KinesisFirehose::DeliveryStream")
    assert any(d.startswith("DeliveryPolicy") for d in stream["DependsOn"])


def test_delivery_role_policy_is_scoped(sandbox: SynthesizedStage) -> None:
    (policy,) = [
        p
        for k, p in sandbox.resources("Ingestion", "AWS::IAM::ManagedPolicy").items()
        if k.startswith("DeliveryPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {
        "kinesis:GetRecords",
        "lambda:InvokeFunction",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    } <= actions
    assert not any(a.endswith("*") for a in actions)
    assert all(s["Resource"] != "*" for s in statements)
    # A writer: it adds objects, it cannot read, replace or delete them.
    assert not {"s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"} & actions
    raw_key = [s for s in statements if "kms:GenerateDataKey" in s["Action"]]
    assert raw_key and all("kms:ViaService" in s["Condition"]["StringEquals"] for s in raw_key)
    assert all("kms:EncryptionContext:aws:s3:arn" in s["Condition"]["ArnLike"] for s in raw_key)


def test_delivery_role_trusts_firehose_of_this_account_only(every_stage: SynthesizedStage) -> None:
    (role,) = [
        r for k, r in every_stage.resources("Ingestion", "AWS::IAM::Role").items() if k.startswith("DeliveryRole")
    ]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}


def test_transform_function_settings(every_stage: SynthesizedStage) -> None:
    (function,) = every_stage.resources("Ingestion", "AWS::Lambda::Function").values()
    props, config = function["Properties"], every_stage.config.ingestion.transform
    assert props["Runtime"].startswith("python3.1") and props["Architectures"] == ["arm64"]
    assert props["Handler"] == "stream_transform.handler"
    assert props["ReservedConcurrentExecutions"] == config.reserved_concurrency
    assert props["MemorySize"] == config.memory_mib and props["Timeout"] == config.timeout_seconds
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert "KmsKeyArn" in props
    assert props["VpcConfig"]["SubnetIds"]


def test_transform_asset_carries_the_contract(sandbox: SynthesizedStage) -> None:
    from contracts import contract_text

    (function,) = sandbox.resources("Ingestion", "AWS::Lambda::Function").values()
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = sandbox.outdir / f"asset.{asset_hash}"
    assert (asset / "stream_transform.py").exists()
    assert (asset / "contracts" / "housing_event.json").read_text(encoding="utf-8") == contract_text()
    assert (
        json.loads((asset / "contracts" / "housing_event.json").read_text(encoding="utf-8"))["name"]
        == "housing_listing_event"
    )


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"buffer_size_mib": 32}, "stages.s.ingestion.buffer_size_mib"),
        ({"processor_buffer_size_mib": 5}, "stages.s.ingestion.processor_buffer_size_mib"),
        ({"transform": {"timeout_seconds": 600}}, "stages.s.ingestion.transform.timeout_seconds"),
        ({"shard_count": 4}, "stages.s.ingestion.shard_count"),
        ({"stream_mode": "fast"}, "stages.s.ingestion.stream_mode"),
    ],
)
def test_firehose_limits_are_checked_at_synth(settings: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"ingestion": settings}}, "s")
    assert error.value.path == path


def test_stream_and_its_key_follow_the_stage_removal_policy(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    for stage, policy in ((sandbox, "Delete"), (prod, "Retain")):
        assert only(stage, "AWS::Kinesis::Stream")["DeletionPolicy"] == policy
        (key,) = [k for i, k in stage.resources("Ingestion", "AWS::KMS::Key").items() if i.startswith("IngestionKey")]
        assert key["DeletionPolicy"] == policy


def test_stacks_importing_lake_buckets_deploy_after_the_lake(every_stage: SynthesizedStage) -> None:
    lake = every_stage.stacks["DataLake"]
    for unit in ("Ingestion", "Observability", "Etl", "Inference"):
        assert lake in every_stage.stacks[unit].dependencies, unit
