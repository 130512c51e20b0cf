"""Server-side encryption settings are for DirectPut delivery streams only."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._firehose import DELIVERY_STREAM

SOURCED = ("KinesisStreamAsSource", "MSKAsSource")


def check(stack: Stack) -> Iterator[Outcome]:
    for stream in stack.of_type(DELIVERY_STREAM):
        if stream.prop("DeliveryStreamType") not in SOURCED:
            continue
        encrypted = stream.prop("DeliveryStreamEncryptionConfigurationInput") is not None
        problem = f"{stream.prop('DeliveryStreamType')} sets DeliveryStreamEncryptionConfigurationInput"
        yield Outcome(stream, problem if encrypted else None)


RULE = Rule(
    id="RDY-KDF3",
    title="Firehose reading a stream does not set delivery stream encryption",
    explanation=(
        "Firehose server-side encryption applies only to DirectPut; with a Kinesis stream or MSK source the "
        "create call fails with InvalidArgumentException. The source stream's own encryption covers the data."
    ),
    fix=(
        "Remove delivery_stream_encryption_configuration_input; encrypt the source stream (KMS) and the S3 "
        "destination (encryption_configuration), and acknowledge AwsSolutions-KDF1 with that reason."
    ),
    check=check,
)
