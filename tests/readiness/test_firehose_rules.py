"""Firehose deploy-readiness rules: a violating and a compliant minimal template each."""

from __future__ import annotations

from typing import Any

from readiness.rules import (
    firehose_dynamic_partitioning,
    firehose_format_conversion,
    firehose_role_policy_dependency,
    firehose_stream_source_encryption,
)
from tests.readiness.helpers import allow, arn, compliant, policy, problems, res, role, template


def stream(depends: list[str] | None = None, stream_type: str = "DirectPut", **destination: Any) -> dict[str, Any]:
    return res(
        "AWS::KinesisFirehose::DeliveryStream",
        depends,
        DeliveryStreamType=stream_type,
        ExtendedS3DestinationConfiguration={"BucketARN": arn("Bucket"), "RoleARN": arn("Role"), **destination},
    )


PARTITIONED = {
    "DynamicPartitioningConfiguration": {"Enabled": True},
    "Prefix": "events/type=!{partitionKeyFromLambda:type}/",
    "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 300},
    "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": []}]},
}


def test_kdf1_dynamic_partitioning_needs_error_prefix_keys_and_buffer() -> None:
    bad = {**PARTITIONED, "ErrorOutputPrefix": None, "Prefix": "events/", "BufferingHints": {"SizeInMBs": 5}}
    (found,) = problems(firehose_dynamic_partitioning.RULE, template(Stream=stream(**bad)))
    assert "no ErrorOutputPrefix" in found and "no partition key" in found and ">= 64" in found
    assert compliant(firehose_dynamic_partitioning.RULE, template(Stream=stream(**PARTITIONED))) == ["Stream"]


def test_kdf1_partition_key_source_must_be_configured() -> None:
    query = {**PARTITIONED, "Prefix": "events/type=!{partitionKeyFromQuery:type}/"}
    (found,) = problems(firehose_dynamic_partitioning.RULE, template(Stream=stream(**query)))
    assert "MetadataExtraction" in found


CONVERTED = {
    "DataFormatConversionConfiguration": {"Enabled": True},
    "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 300},
    "CompressionFormat": "UNCOMPRESSED",
}


def test_kdf2_format_conversion_needs_buffer_and_no_compression() -> None:
    bad = {**CONVERTED, "BufferingHints": {"SizeInMBs": 5}, "CompressionFormat": "GZIP"}
    (found,) = problems(firehose_format_conversion.RULE, template(Stream=stream(**bad)))
    assert ">= 64" in found and "GZIP" in found
    assert compliant(firehose_format_conversion.RULE, template(Stream=stream(**CONVERTED))) == ["Stream"]


def test_kdf3_stream_source_must_not_set_delivery_stream_encryption() -> None:
    bad = stream(stream_type="KinesisStreamAsSource")
    bad["Properties"]["DeliveryStreamEncryptionConfigurationInput"] = {"KeyType": "AWS_OWNED_CMK"}
    assert problems(firehose_stream_source_encryption.RULE, template(Stream=bad))
    good = stream(stream_type="KinesisStreamAsSource")
    assert compliant(firehose_stream_source_encryption.RULE, template(Stream=good)) == ["Stream"]
    # DirectPut may encrypt: the rule does not apply.
    assert compliant(firehose_stream_source_encryption.RULE, template(Stream=stream())) == []


def test_kdf4_delivery_stream_waits_for_its_role_policy() -> None:
    base = {"Role": role("firehose.amazonaws.com"), "Policy": policy("Role", allow("s3:PutObject"))}
    bad = template(**base, Stream=stream())
    assert problems(firehose_role_policy_dependency.RULE, bad) == ["Stream: does not depend on Policy"]
    good = template(**base, Stream=stream(["Policy"]))
    assert compliant(firehose_role_policy_dependency.RULE, good) == ["Stream"]
