"""Ingestion stack: Kinesis Data Streams -> Firehose (Lambda transform) -> raw zone."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

import contracts
from stacks.access import Zone, allow_key, allow_zone, import_zone, role_policy
from stacks.common import allow_logs_service, log_group
from stacks.compliance import acknowledge
from stacks.config import IngestionConfig
from stacks.keys import customer_key
from stacks.python_function import PythonFunction

EVENTS_PREFIX = "events/"
ERRORS_PREFIX = "errors/"
SOURCE_BACKUP_PREFIX = "source-backup/"

KDF1_REASON = (
    "Server-side encryption of a delivery stream is supported only for DirectPut sources; this stream "
    "reads Kinesis Data Streams, whose records are encrypted at rest with the ingestion CMK, and delivers "
    "to S3 with SSE-KMS under the raw zone's key"
)
KDS3_REASON = (
    "The stream deliberately uses a customer-managed key instead of aws/kinesis: its key policy limits "
    "who can read events, it rotates yearly and every use is in CloudTrail; the per-request KMS cost is accepted"
)
SYNC_INVOKE_DLQ_REASON = (
    "Firehose invokes the transform synchronously, so a Lambda dead-letter queue never receives events; "
    "failed records go to the error prefix of the raw zone and failed invocations are retried by Firehose"
)


def partitioned_prefix() -> str:
    """S3 prefix built from the partition keys the transform Lambda returns."""
    keys = "".join(f"{key}=!{{partitionKeyFromLambda:{key}}}/" for key in contracts.load().partition_keys)
    return f"{EVENTS_PREFIX}{keys}"


class IngestionStack(cdk.Stack):
    """Owns the event stream, the delivery stream and the transform Lambda.

    Exposes `stream` (producers call PutRecords on it), `delivery_stream`, `transform`
    and `key` (the ingestion CMK). Valid records land as GZIP NDJSON under `events/`,
    partitioned by event date and home type; records the transform rejects land under
    `errors/processing-failed/` with their original bytes; every source record is
    backed up unmodified under `source-backup/`. Nothing is dropped.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestionConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        raw: Zone,
        key_admins: tuple[str, ...],
        removal_policy: cdk.RemovalPolicy,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        raw = import_zone(self, raw)
        self.key = customer_key(
            self,
            "IngestionKey",
            description="Encrypts the event stream, ingestion logs and Lambda environment",
            admins=key_admins,
            removal_policy=removal_policy,  # a retained stream stays readable only with its key
        )
        allow_logs_service(self.key)
        self.stream = kinesis.Stream(
            self,
            "EventStream",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=self.key,
            retention_period=cdk.Duration.hours(config.retention_hours),
            stream_mode=kinesis.StreamMode.ON_DEMAND
            if config.stream_mode == "on_demand"
            else kinesis.StreamMode.PROVISIONED,
            shard_count=config.shard_count if config.stream_mode == "provisioned" else None,
            removal_policy=removal_policy,
        )
        self.transform = PythonFunction(
            self,
            "Transform",
            source="stream_transform",
            handler="stream_transform.handler",
            description="Firehose transform: validates and normalises events against the event contract",
            key=self.key,
            vpc=vpc,
            subnets=subnets,
            sizing=config.transform,
        )
        self.transform.invoked_synchronously(SYNC_INVOKE_DLQ_REASON)

        self.delivery_log_group = log_group(
            self, "DeliveryLogs", key=self.key, retention_days=config.transform.log_retention_days
        )
        self.log_streams = {
            name: logs.LogStream(
                self, f"{name}LogStream", log_group=self.delivery_log_group, removal_policy=cdk.RemovalPolicy.DESTROY
            )
            for name in ("Delivery", "Backup")
        }
        self.delivery_role, self.delivery_policy = self._delivery_role(raw)
        self.delivery_stream = self._delivery_stream(raw.bucket, raw.key)

    def _delivery_role(self, raw: Zone) -> tuple[iam.Role, iam.ManagedPolicy]:
        """Firehose's role: read the stream, invoke the transform, add objects to the raw zone
        (it cannot read, replace or delete them), log."""
        # Firehose passes the account as external ID (Firehose developer guide), so only this
        # account's delivery streams can assume the role.
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com").with_conditions(
                {"StringEquals": {"sts:ExternalId": self.account}}
            ),
        )
        policy = role_policy(
            self, "DeliveryPolicy", role, description="Firehose delivery from the event stream to the raw zone"
        )
        policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                    "kinesis:ListShards",
                ],
                resources=[self.stream.stream_arn],
            ),
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[self.transform.function.function_arn],
            ),
            iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[self.delivery_log_group.log_group_arn]),
        )
        allow_key(policy, self.key)
        for prefix in (EVENTS_PREFIX, ERRORS_PREFIX, SOURCE_BACKUP_PREFIX):
            allow_zone(policy, raw, access="put", prefix=prefix, multipart=True)
        return role, policy

    def _s3_common(self, raw_bucket: s3.IBucket, lake_key: kms.IKey, log_stream: str) -> dict[str, object]:
        return {
            "bucket_arn": raw_bucket.bucket_arn,
            "role_arn": self.delivery_role.role_arn,
            "compression_format": "GZIP",
            "encryption_configuration": firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                    awskms_key_arn=lake_key.key_arn
                )
            ),
            "cloud_watch_logging_options": firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                enabled=True, log_group_name=self.delivery_log_group.log_group_name, log_stream_name=log_stream
            ),
        }

    def _delivery_stream(self, raw_bucket: s3.IBucket, lake_key: kms.IKey) -> firehose.CfnDeliveryStream:
        config = self.config
        processor = firehose.CfnDeliveryStream.ProcessorProperty(
            type="Lambda",
            parameters=[
                firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=str(value))
                for name, value in (
                    ("LambdaArn", self.transform.function.function_arn),
                    ("NumberOfRetries", config.processor_retries),
                    ("BufferSizeInMBs", f"{config.processor_buffer_size_mib:g}"),
                    ("BufferIntervalInSeconds", config.processor_buffer_interval_seconds),
                )
            ],
        )
        stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=self.stream.stream_arn, role_arn=self.delivery_role.role_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                **self._s3_common(raw_bucket, lake_key, self.log_streams["Delivery"].log_stream_name),  # type: ignore[arg-type]
                prefix=partitioned_prefix(),
                error_output_prefix=f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    size_in_m_bs=config.buffer_size_mib, interval_in_seconds=config.buffer_interval_seconds
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True, retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(duration_in_seconds=300)
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True, processors=[processor]
                ),
                s3_backup_mode="Enabled",
                s3_backup_configuration=firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                    **self._s3_common(raw_bucket, lake_key, self.log_streams["Backup"].log_stream_name),  # type: ignore[arg-type]
                    prefix=f"{SOURCE_BACKUP_PREFIX}!{{timestamp:yyyy/MM/dd}}/",
                    error_output_prefix=f"{ERRORS_PREFIX}backup-!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/",
                    buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                        size_in_m_bs=config.buffer_size_mib, interval_in_seconds=config.buffer_interval_seconds
                    ),
                ),
            ),
        )
        # Firehose validates its role's permissions when the stream is created.
        stream.node.add_dependency(self.delivery_policy)
        acknowledge(stream, "AwsSolutions-KDF1", KDF1_REASON)
        acknowledge(self.stream, "AwsSolutions-KDS3", KDS3_REASON)
        return stream
