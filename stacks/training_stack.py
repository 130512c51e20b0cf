"""Training stack: tune, evaluate and register the model, as a Step Functions state machine."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from contracts.model_package import contract_fingerprint
from stacks.access import Zone, allow_key, allow_zone, finding_id, import_zone, role_policy
from stacks.buckets import access_log_bucket, kms_bucket
from stacks.common import (
    allow_event_rules,
    allow_logs_service,
    dead_letter_queue,
    events_rules,
    from_this_account,
    log_group,
)
from stacks.compliance import acknowledge, skip_cfn_lint, skip_checkov
from stacks.config import DataLakeConfig, TrainingConfig
from stacks.etl_stack import TRAINING_PREFIX
from stacks.keys import customer_key
from stacks.names import model_package_group_name
from stacks.python_function import PythonFunction
from stacks.sagemaker_access import allow_sagemaker_job, sagemaker_role
from stacks.training_flow import (
    CHECKPOINTS_PREFIX,
    EVALUATIONS_PREFIX,
    METRIC_NAMESPACE,
    MODELS_PREFIX,
    definition,
    subnet_placeholder,
)

TUNING_RULE = "StepFunctionsGetEventsForSageMakerTuningJobsRule"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
NO_RESOURCE_LEVEL_REASON = (
    "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray (xray:PutTraceSegments and "
    "related) support no resource-level permissions (Step Functions logging and X-Ray documentation); "
    "sagemaker:ListModelPackages has none either; cloudwatch:PutMetricData is limited by a namespace condition"
)


class TrainingStack(cdk.Stack):
    """Owns the training state machine, its roles, the evaluation gate and the model registry.

    Exposes `state_machine`, `model_package_group` with `model_package_group_name` and
    `model_package_group_arn`, `artifacts` (the zone of the artifacts bucket and its key,
    used only through S3) with `models_prefix` (the training output the endpoint's role may
    read), `key` (training volumes, the gate function, the state machine's logs and the
    dead-letter queue), `training_role` and `gate` (the evaluation gate function).

    An execution starts when the ETL job succeeds (an EventBridge rule passes the run id)
    or by hand. Training jobs run like the endpoint: in the isolated subnets with their
    own security group, network isolation, inter-container encryption, KMS-encrypted
    volumes and output, a stopping condition, and optionally on spot capacity with
    checkpoints. Registered packages carry their metrics; approving one (by hand, or at
    registration on stages with `auto_approve`) notifies the alarm topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TrainingConfig,
        stage_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        curated: Zone,
        etl_job_name: str,
        image_uri: str,
        endpoint_instance_types: list[str],
        alarm_topic: sns.ITopic,
        alarm_key: kms.IKey,
        key_admins: tuple[str, ...],
        storage: DataLakeConfig,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        curated = import_zone(self, curated)
        # By ARN (of this stack's account and region): the topic's own policy admits this
        # account's rules (see ObservabilityStack), so the approval rule adds no statement to it.
        alarm_topic = sns.Topic.from_topic_arn(
            self, "AlarmTopic", self.format_arn(service="sns", resource=alarm_topic.topic_name)
        )
        self.key = customer_key(
            self,
            "TrainingKey",
            description="Encrypts the training volumes, the gate function, the state machine logs and its queue",
            admins=key_admins,
            named_users="the training role, with which SageMaker creates grants on the volume key",
            removal_policy=removal_policy,
        )
        allow_logs_service(self.key)
        artifacts_key = customer_key(
            self,
            "ArtifactsKey",
            description="Encrypts the model artifacts, checkpoints and evaluation reports",
            admins=key_admins,
            via_service="s3",
            removal_policy=removal_policy,
        )
        artifacts_bucket = kms_bucket(
            self,
            "Artifacts",
            key=artifacts_key,
            access_logs=access_log_bucket(
                self,
                "AccessLogs",
                expire_after_days=storage.access_log_expire_after_days,
                noncurrent_expire_after_days=storage.noncurrent_versions_expire_after_days,
                removal_policy=removal_policy,
            ),
            log_prefix="artifacts/",
            lifecycle_rule=s3.LifecycleRule(
                id="age-out",
                noncurrent_version_expiration=cdk.Duration.days(storage.noncurrent_versions_expire_after_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            ),
            removal_policy=removal_policy,
        )
        self.artifacts = Zone("artifacts", artifacts_bucket, artifacts_key)
        self.models_prefix = MODELS_PREFIX

        self.model_package_group_name = model_package_group_name(stage_name)
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=self.model_package_group_name,
            model_package_group_description="Housing price models: one version per successful training run",
        )
        self.model_package_group.apply_removal_policy(removal_policy)
        self.model_package_group_arn = self.model_package_group.attr_model_package_group_arn

        self.security_group = ec2.SecurityGroup(
            self,
            "TrainingSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="SageMaker training jobs (network isolated): S3 through the gateway endpoint only",
        )
        self.security_group.add_egress_rule(
            ec2.Peer.prefix_list(s3_prefix_list_id), ec2.Port.tcp(443), "S3 through the gateway endpoint"
        )
        if config.instance_count > 1:
            # Distributed training talks between the instances of a job (inter-container
            # encryption adds IPsec: UDP 500 and ESP), all inside this security group.
            self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_traffic(), "Instances of a job")
            self.security_group.add_egress_rule(self.security_group, ec2.Port.all_traffic(), "Instances of a job")

        self.vpc_arn = self.format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)
        self.training_role = self._training_role(image_uri, curated)
        self.gate = PythonFunction(
            self,
            "Gate",
            source="evaluation_gate",
            handler="evaluation_gate.handler",
            description="Evaluation gate: may the best model of the tuning job be registered",
            key=self.key,
            vpc=vpc,
            subnets=subnets,
            sizing=config.gate,
        )
        self.gate.invoked_synchronously(
            "The training state machine invokes the gate synchronously and retries Lambda service errors; a "
            "failed invocation fails the execution, which the Monitoring stack's ExecutionsFailed alarm reports"
        )

        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids
        flow = definition(
            config,
            image_uri=image_uri,
            group_name=self.model_package_group_name,
            instance_types=endpoint_instance_types,
            subnet_count=len(subnet_ids),
            contract=contract_fingerprint(),
        )
        substitutions = {
            "TrainingRoleArn": self.training_role.role_arn,
            "CuratedBucket": curated.bucket.bucket_name,
            "ArtifactsBucket": self.artifacts.bucket.bucket_name,
            "VolumeKeyArn": self.key.key_arn,
            "ArtifactsKeyArn": self.artifacts.key.key_arn,
            "SecurityGroupId": self.security_group.security_group_id,
            "GateFunctionArn": self.gate.function.function_arn,
            "AlarmTopicArn": alarm_topic.topic_arn,
            **{subnet_placeholder(i): subnet_id for i, subnet_id in enumerate(subnet_ids)},
        }
        self.state_machine = self._state_machine(flow, substitutions, alarm_topic, alarm_key)
        self._start_after_etl(etl_job_name)
        self._notify_approvals(alarm_topic)
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "ModelPackageGroupName", value=self.model_package_group_name)

    def _training_role(self, image_uri: str, curated: Zone) -> iam.Role:
        """Read the training channels, write models (and checkpoints), pull the image, use the volume key."""
        role = sagemaker_role(self, "TrainingRole", description="SageMaker training jobs of the tuning job")
        policy = role_policy(self, "TrainingPolicy", role, description="SageMaker training jobs")
        allow_zone(policy, curated, access="read", prefix=TRAINING_PREFIX)
        allow_zone(policy, self.artifacts, access="put", prefix=MODELS_PREFIX, multipart=True)
        if self.config.spot:
            allow_zone(policy, self.artifacts, access="read-write", prefix=CHECKPOINTS_PREFIX)
        allow_key(policy, self.key, encrypt=True)
        allow_sagemaker_job(
            policy,
            role,
            image_uri=image_uri,
            vpc_arn=self.vpc_arn,
            log_groups="/aws/sagemaker/TrainingJobs:*",
            log_reason=(
                "SageMaker writes every training job's log streams to the log group /aws/sagemaker/TrainingJobs; "
                "its streams are named after the generated job names, so the group's streams are the narrowest scope"
            ),
            volume_key=self.key,
        )
        return role

    def _state_machine(
        self, flow: dict[str, object], substitutions: dict[str, str], alarm_topic: sns.ITopic, alarm_key: kms.IKey
    ) -> sfn.StateMachine:
        """The Standard state machine: logs without execution data, X-Ray, exact permissions."""
        machines = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com").with_conditions(from_this_account(self, machines)),
            description="Training state machine: tuning job, gate, model registry",
        )
        policy = role_policy(self, "StateMachinePolicy", role, description="Training state machine")
        tuning_jobs = self.format_arn(service="sagemaker", resource="hyper-parameter-tuning-job", resource_name="*")
        training_jobs = self.format_arn(service="sagemaker", resource="training-job", resource_name="*")
        packages = self.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.model_package_group_name}/*"
        )
        package_group = self.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=self.model_package_group_name
        )
        policy.add_statements(
            # createHyperParameterTuningJob.sync: create, tag, wait (describe, list), stop when the execution stops.
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateHyperParameterTuningJob",
                    "sagemaker:DescribeHyperParameterTuningJob",
                    "sagemaker:StopHyperParameterTuningJob",
                    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=[tuning_jobs],
            ),
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[self.format_arn(service="events", resource="rule", resource_name=TUNING_RULE)],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(actions=["sagemaker:DescribeTrainingJob"], resources=[training_jobs]),
            iam.PolicyStatement(
                actions=["sagemaker:DescribeModelPackage", "sagemaker:CreateModelPackage"],
                resources=[packages, package_group],
            ),
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.gate.function.function_arn]),
            iam.PolicyStatement(actions=["sns:Publish"], resources=[alarm_topic.topic_arn]),
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            ),
            iam.PolicyStatement(
                actions=[
                    "sagemaker:ListModelPackages",
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                resources=["*"],
            ),
        )
        # The evaluation report is written here; CreateModelPackage reads the model it registers.
        allow_zone(policy, self.artifacts, access="put", prefix=EVALUATIONS_PREFIX)
        allow_zone(policy, self.artifacts, access="read", prefix=MODELS_PREFIX)
        allow_key(policy, alarm_key, encrypt=True, via="sns")
        for arn, reason in (
            (
                tuning_jobs,
                "Tuning job names are derived from each execution's ARN at run time (an MD5 of it), so the "
                "hyper-parameter-tuning-job type is the narrowest scope of the .sync integration's actions",
            ),
            (
                training_jobs,
                "The tuning job names its training jobs <tuning job>-NNN-<random>; the state machine only "
                "describes the best one, whose name is known at run time",
            ),
            (
                packages,
                f"Model package versions of group {self.model_package_group_name} are numbered by SageMaker at "
                "registration; the group's versions are the narrowest scope",
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{finding_id(policy, arn)}]", reason)
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", NO_RESOURCE_LEVEL_REASON)
        skip_checkov(policy, "CKV_AWS_111", NO_RESOURCE_LEVEL_REASON)

        logs_group = log_group(self, "StateMachineLogs", key=self.key, retention_days=self.config.log_retention_days)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="Tune, evaluate and register the housing price model",
            definition_body=sfn.DefinitionBody.from_string(json.dumps(flow, indent=1)),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            role=role.without_policy_updates(),
            logs=sfn.LogOptions(destination=logs_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # Step Functions checks the log delivery permissions when it creates the state machine.
        machine.node.add_dependency(policy, self.model_package_group)
        skip_cfn_lint(
            machine,
            "W3005",
            "aws-cdk-lib's StateMachine adds DependsOn on its role next to the GetAtt of the role ARN; the state "
            "machine also depends on the role's policy on purpose, so the generated duplicate ordering stays",
        )
        return machine

    def _start_after_etl(self, etl_job_name: str) -> None:
        """A successful ETL run starts an execution, passing its run id."""
        role = iam.Role(
            self,
            "StartExecutionRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                from_this_account(self, events_rules(self))
            ),
            description="EventBridge starts the training state machine after the ETL job",
        )
        role_policy(self, "StartExecutionPolicy", role, description="Start training executions").add_statements(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn])
        )
        allow_event_rules(self.key)
        self.undelivered = dead_letter_queue(self, "UndeliveredEvents", key=self.key)
        events.Rule(
            self,
            "EtlSucceededRule",
            description="Train after the Glue feature preparation job succeeds",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [etl_job_name], "state": ["SUCCEEDED"]},
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object(
                        {"etl_run": events.EventField.from_path("$.detail.jobRunId")}
                    ),
                    role=role.without_policy_updates(),
                    dead_letter_queue=self.undelivered,
                )
            ],
        )

    def _notify_approvals(self, topic: sns.ITopic) -> None:
        """A package of this group reaching Approved notifies the alarm topic (others do not match)."""
        self.approval_rule = events.Rule(
            self,
            "PackageApprovedRule",
            description="A model package of the training pipeline's group was approved",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[MODEL_PACKAGE_STATE_CHANGE],
                detail={"ModelPackageGroupName": [self.model_package_group_name], "ModelApprovalStatus": ["Approved"]},
            ),
            targets=[
                targets.SnsTopic(
                    topic,
                    dead_letter_queue=self.undelivered,
                    message=events.RuleTargetInput.from_text(
                        f"Model package {events.EventField.from_path('$.detail.ModelPackageArn')} of group "
                        f"{self.model_package_group_name} is Approved and may be promoted to the endpoint"
                    ),
                )
            ],
        )
