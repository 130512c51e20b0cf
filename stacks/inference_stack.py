"""Inference stack: a KMS-encrypted SageMaker real-time endpoint in the VPC, autoscaled."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.access import Zone, allow_key, allow_zone, import_zone, role_policy
from stacks.bundling import ROOT
from stacks.capture_table import CaptureTable
from stacks.common import allow_event_rules, dead_letter_queue
from stacks.compliance import acknowledge, skip_cfn_lint
from stacks.config import InferenceConfig, VariantConfig
from stacks.endpoint_alarms import ENDPOINT_ALARMS, endpoint_alarm
from stacks.endpoint_update import DEPLOYMENT_STATE_CHANGE, deployment_config
from stacks.image_uris import xgboost_image_uri
from stacks.instance_types import has_nvme
from stacks.keys import customer_key
from stacks.model_source import model_source
from stacks.names import variant_id
from stacks.sagemaker_access import allow_sagemaker_job, sagemaker_role
from stacks.training_flow import MODELS_PREFIX

MODEL_ARTIFACT = ROOT / "model" / "model.tar.gz"
FEATURE_STATISTICS = ROOT / "model" / "feature_statistics.json"
CAPTURE_PREFIX = "inference-capture/"

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
    """Owns the models, endpoint config, endpoint, its autoscaling, its alarms and its update policy.

    Exposes `endpoint_name`, `endpoint_arn`, `variant_names`, `key` (the inference CMK,
    also the ML storage volume key), `alarms` (per variant, on the serving fleet),
    `rollback_alarms` (on the new fleet of an update) and `capture_table` (the Glue table
    over what data capture writes, in the raw database). Each variant's model runs in the
    isolated subnets with network isolation and serves the bundled artifact, an S3 artifact
    or a registered model package (`stacks.model_source`). The endpoint keeps instance
    counts set by autoscaling across deployments (variant weights and data capture still
    follow the config); an update follows the stage's deployment guardrails and rolls back
    when a rollback alarm fires, and every deployment state change reaches the alarm topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InferenceConfig,
        endpoint_name: str,
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
        # The bundled model is uploaded only while a variant serves it.
        bundled = any(model_source(v).kind == "bundled" for v in config.variants)
        self.model_asset = s3_assets.Asset(self, "ModelArtifact", path=str(MODEL_ARTIFACT)) if bundled else None

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
        self.endpoint_name = endpoint_name
        self.endpoint_arn = self.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
        )
        self.variant_names = [v.name for v in config.variants]
        self.alarms = self._alarms(alarm_topic, ENDPOINT_ALARMS, new_fleet=False)
        self.rollback_alarms = self._alarms(alarm_topic, config.deployment.rollback_alarms, new_fleet=True)
        rollback_policy = self._rollback_alarms_policy()
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DesiredWeight"),
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig"),
            ],
            deployment_config=deployment_config(config.deployment, self.rollback_alarms),
        )
        # SageMaker reads the rollback alarms with the execution role during an update.
        self.endpoint.node.add_dependency(rollback_policy)
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
        self._notify_deployments(alarm_topic)

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
        if self.model_asset is not None:
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
        """The variant's model, isolated in the VPC whatever it serves; a registered package brings its own
        container and artifact (the same XGBoost image, an artifact under the training bucket's models/)."""
        source = model_source(variant)
        if source.kind == "model_package":
            container = sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=source.location)
        else:
            assert source.location is not None or self.model_asset is not None
            container = sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image_uri,
                model_data_url=source.location or self.model_asset.s3_object_url,  # type: ignore[union-attr]
                mode="SingleModel",
            )
        model = sagemaker.CfnModel(
            self,
            f"Model{variant_id(variant.name)}",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=True,
            primary_container=container,
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

    def _alarms(self, topic: sns.ITopic, names: Iterable[str], *, new_fleet: bool) -> list[cloudwatch.Alarm]:
        """Per variant, an alarm of each spec in `names` on whichever fleet serves the variant, or
        (`new_fleet`) on the fleet of this template's endpoint config.

        During an update the latter is the new fleet: CloudFormation updates those alarms to the
        new config's name before the endpoint (which names them), and SageMaker publishes the
        endpoint's metrics per config as well (dimension EndpointConfigName).
        """
        fleet = {"EndpointConfigName": self.endpoint_config.attr_endpoint_config_name} if new_fleet else {}
        alarms = []
        for variant in self.config.variants:
            for name in names:
                spec = ENDPOINT_ALARMS[name]
                alarms.append(
                    endpoint_alarm(
                        self,
                        f"{'Rollback' if new_fleet else ''}{spec.construct_id}{variant_id(variant.name)}",
                        spec,
                        config=self.config,
                        dimensions={"EndpointName": self.endpoint_name, "VariantName": variant.name, **fleet},
                        description=f"{'Rolls an update back: new fleet of ' if new_fleet else 'SageMaker '}variant "
                        f"{variant.name}: {spec.description}",
                        topic=topic,
                    )
                )
        return alarms

    def _rollback_alarms_policy(self) -> iam.ManagedPolicy:
        """cloudwatch:DescribeAlarms on the rollback alarms, which SageMaker reads with the execution role.

        A policy of its own: the alarms watch the endpoint config, which names the models, which
        wait for the execution policy, so the execution policy cannot name the alarms.
        """
        policy = role_policy(self, "RollbackAlarmsPolicy", self.role, description="SageMaker reads the rollback alarms")
        policy.add_statements(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"], resources=[alarm.alarm_arn for alarm in self.rollback_alarms]
            )
        )
        return policy

    def _notify_deployments(self, topic: sns.ITopic) -> None:
        """Every deployment state change of this endpoint (started, baking, rolling back, rolled back,
        completed) reaches the alarm topic; undeliverable events wait in a queue."""
        allow_event_rules(self.key)
        events.Rule(
            self,
            "DeploymentStateRule",
            description="Deployment state changes of the SageMaker endpoint, rollbacks included",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=[DEPLOYMENT_STATE_CHANGE], resources=[self.endpoint_arn]
            ),
            targets=[
                targets.SnsTopic(
                    sns.Topic.from_topic_arn(
                        self, "DeploymentTopic", self.format_arn(service="sns", resource=topic.topic_name)
                    ),
                    dead_letter_queue=dead_letter_queue(self, "UndeliveredDeploymentEvents", key=self.key),
                )
            ],
        )
