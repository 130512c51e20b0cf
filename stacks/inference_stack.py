"""Inference stack: a KMS-encrypted SageMaker real-time endpoint in the VPC, autoscaled."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.access import Zone, allow_key, allow_zone, import_zone, role_policy
from stacks.bundling import ROOT
from stacks.capture_table import CaptureTable
from stacks.compliance import acknowledge, skip_cfn_lint
from stacks.config import InferenceConfig, VariantConfig
from stacks.image_uris import xgboost_image_uri
from stacks.instance_types import has_nvme
from stacks.keys import customer_key
from stacks.names import variant_id
from stacks.sagemaker_access import allow_sagemaker_job, sagemaker_role
from stacks.training_flow import MODELS_PREFIX

MODEL_ARTIFACT = ROOT / "model" / "model.tar.gz"
FEATURE_STATISTICS = ROOT / "model" / "feature_statistics.json"
CAPTURE_PREFIX = "inference-capture/"
METRIC_NAMESPACE = "AWS/SageMaker"

INSTANCE_STORAGE_KMS_RULES = (
    "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured",
    "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
    "PCI.DSS.321-SageMakerEndpointConfigurationKMSKeyConfigured",
)
SCALABLE_TARGET_DEPENDS_REASON = (
    "The explicit DependsOn on the endpoint states that the scalable target must be registered after the "
    "endpoint is InService; the GetAtt of EndpointName orders it too, so cfn-lint reports a redundant dependency"
)


class InferenceStack(cdk.Stack):
    """Owns the model, endpoint config, endpoint, its autoscaling and its alarms.

    Exposes `endpoint_name`, `endpoint_arn`, `variant_names`, `key` (the inference CMK,
    also the ML storage volume key), `alarms` and `capture_table` (the Glue table over what
    data capture writes, in the raw database). The model runs in the isolated subnets
    with network isolation; the endpoint keeps instance counts set by autoscaling across
    deployments (variant weights and data capture still follow the config).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InferenceConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        capture: Zone,
        artifacts: Zone,
        key_admins: tuple[str, ...],
        alarm_topic: sns.ITopic,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        capture, artifacts = import_zone(self, capture), import_zone(self, artifacts)
        self.key = customer_key(
            self,
            "InferenceKey",
            description="Encrypts the endpoint's ML storage volumes",
            admins=key_admins,
            named_users="the endpoint's execution role, with which SageMaker creates grants on the volume key",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.image_uri = self.image_uri_of(config, self.region)
        self.model_asset = s3_assets.Asset(self, "ModelArtifact", path=str(MODEL_ARTIFACT))

        self.vpc_arn = self.format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)
        self.role, self.policy = self._execution_role(capture, artifacts)
        self.security_group = ec2.SecurityGroup(
            self,
            "ModelSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="SageMaker model containers (network isolated)",
        )
        self.security_group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "VPC endpoints only")
        # SageMaker downloads the model artifact through the VPC: S3 gateway endpoint traffic
        # goes to the S3 prefix list, not the VPC CIDR.
        self.security_group.add_egress_rule(
            ec2.Peer.prefix_list(s3_prefix_list_id), ec2.Port.tcp(443), "S3 through the gateway endpoint"
        )
        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids

        self.models = {v.name: self._model(v, subnet_ids) for v in config.variants}
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=self.key.key_arn if config.volume_encryption else None,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=v.name,
                    model_name=self.models[v.name].attr_model_name,
                    initial_instance_count=v.min_capacity,
                    instance_type=v.instance_type,
                    initial_variant_weight=v.weight,
                )
                for v in config.variants
            ],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=config.data_capture_percentage > 0,
                initial_sampling_percentage=config.data_capture_percentage,
                destination_s3_uri=f"s3://{capture.bucket.bucket_name}/{CAPTURE_PREFIX}",
                kms_key_id=capture.key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=["text/csv"], json_content_types=["application/json"]
                ),
            ),
        )
        if not config.volume_encryption:
            self._acknowledge_instance_storage(config)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DesiredWeight"),
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig"),
            ],
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        self.endpoint_arn = self.endpoint.ref
        self.variant_names = [v.name for v in config.variants]
        self.capture_table = CaptureTable(
            self,
            "CaptureTable",
            capture=capture,
            prefix=CAPTURE_PREFIX,
            endpoint_name=self.endpoint_name,
            variants=self.variant_names,
        )
        if config.autoscaling:
            for variant in config.variants:
                self._autoscale(variant)
        self.alarms = self._alarms(alarm_topic)

    def _acknowledge_instance_storage(self, config: InferenceConfig) -> None:
        """No KMS volume key: the config allows it only when a variant has NVMe instance storage."""
        nvme = ", ".join(f"{v.name} ({v.instance_type})" for v in config.variants if has_nvme(v.instance_type))
        reason = (
            f"Variant {nvme} runs on an instance type with NVMe instance storage: SageMaker rejects an endpoint "
            "config with KmsKeyId for such types and encrypts the instance storage with a hardware key on the "
            "instance (SageMaker CreateEndpointConfig reference)"
        )
        for rule_id in INSTANCE_STORAGE_KMS_RULES:
            acknowledge(self.endpoint_config, rule_id, reason)

    @staticmethod
    def image_uri_of(config: InferenceConfig, region: str | None) -> str:
        """The container the endpoint serves: the pinned image, else built-in XGBoost from the cache."""
        return config.image_uri or xgboost_image_uri(region or cdk.Aws.REGION, config.xgboost_version)

    def _execution_role(self, capture: Zone, artifacts: Zone) -> tuple[iam.Role, iam.ManagedPolicy]:
        """Read the model artifacts, pull the image, use the volume key, add capture objects (it
        cannot read or delete them), write logs, and manage network interfaces in this VPC."""
        role = sagemaker_role(self, "ExecutionRole", description="SageMaker endpoint execution role")
        policy = role_policy(self, "ExecutionPolicy", role, description="SageMaker model hosting")
        artifact = self.model_asset.bucket.arn_for_objects(self.model_asset.s3_object_key)
        policy.add_statements(iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifact]))
        allow_sagemaker_job(
            policy,
            role,
            image_uri=self.image_uri,
            vpc_arn=self.vpc_arn,
            log_groups="/aws/sagemaker/Endpoints/*",
            log_reason=(
                "SageMaker names the endpoint log group /aws/sagemaker/Endpoints/<endpoint name> at creation; "
                "the endpoint name is generated, so this prefix is the narrowest scope"
            ),
            volume_key=self.key,
        )
        allow_key(policy, self.key, encrypt=True)
        allow_zone(policy, capture, access="put", prefix=CAPTURE_PREFIX)
        # Registered model packages keep their artifacts in the training pipeline's bucket.
        allow_zone(policy, artifacts, access="read", prefix=MODELS_PREFIX)
        return role, policy

    def _model(self, variant: VariantConfig, subnet_ids: list[str]) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self,
            f"Model{variant_id(variant.name)}",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image_uri,
                model_data_url=variant.model_data_url or self.model_asset.s3_object_url,
                mode="SingleModel",
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id], subnets=subnet_ids
            ),
        )
        model.node.add_dependency(self.policy)
        return model

    def _autoscale(self, variant: VariantConfig) -> None:
        """Target tracking on invocations per instance; the target names the real endpoint."""
        suffix = variant_id(variant.name)
        target = autoscaling.CfnScalableTarget(
            self,
            f"ScalableTarget{suffix}",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{variant.name}",
            min_capacity=variant.min_capacity,
            max_capacity=variant.max_capacity,
        )
        target.add_dependency(self.endpoint)
        skip_cfn_lint(target, "W3005", SCALABLE_TARGET_DEPENDS_REASON)
        autoscaling.CfnScalingPolicy(
            self,
            f"ScalingPolicy{suffix}",
            policy_name=f"invocations-per-instance-{variant.name}",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=self.config.target_invocations_per_instance,
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=self.config.scale_in_cooldown_seconds,
                scale_out_cooldown=self.config.scale_out_cooldown_seconds,
            ),
        )

    def _alarms(self, topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """Latency p99, 5XX, model errors and CPU per variant, each notifying the alarm topic."""
        config = self.config
        alarms = []
        for variant in config.variants:
            dimensions = {"EndpointName": self.endpoint_name, "VariantName": variant.name}
            specs = (
                (
                    "ModelLatencyP99",
                    "ModelLatency",
                    METRIC_NAMESPACE,
                    "p99",
                    config.latency_p99_ms * 1000,
                    "p99 model latency above the limit (microseconds)",
                ),
                (
                    "Invocation5XX",
                    "Invocation5XXErrors",
                    METRIC_NAMESPACE,
                    "Sum",
                    config.invocation_5xx_threshold,
                    "endpoint returned 5XX errors",
                ),
                (
                    "ModelErrors",
                    "InvocationModelErrors",
                    METRIC_NAMESPACE,
                    "Sum",
                    config.model_error_threshold,
                    "the model container failed requests",
                ),
                (
                    "CpuUtilization",
                    "CPUUtilization",
                    "/aws/sagemaker/Endpoints",
                    "Average",
                    config.cpu_utilization_percent,
                    "instances are CPU bound",
                ),
            )
            for name, metric_name, namespace, statistic, threshold, description in specs:
                alarm = cloudwatch.Alarm(
                    self,
                    f"{name}{variant_id(variant.name)}",
                    alarm_description=f"SageMaker variant {variant.name}: {description}",
                    metric=cloudwatch.Metric(
                        namespace=namespace,
                        metric_name=metric_name,
                        dimensions_map=dimensions,
                        statistic=statistic,
                        period=cdk.Duration.minutes(1),
                    ),
                    threshold=threshold,
                    evaluation_periods=5,
                    datapoints_to_alarm=3,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(actions.SnsAction(topic))
                alarms.append(alarm)
        return alarms
