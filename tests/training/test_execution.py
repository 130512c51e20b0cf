"""The synthesized training state machine, executed by moto's Step Functions interpreter.

The definition comes from the session's synthesized templates, its substitutions filled
with the names and ARNs of moto resources. Two things differ from AWS, by necessity:

- moto runs AWS SDK integrations but not the optimized SageMaker ones, and completes jobs
  the moment they are created. Each `.sync` task becomes what the integration does: create
  the job (`aws-sdk:sagemaker:create...`), then read it when it has ended
  (`describe...`), keeping the state's own result selection and transitions.
- A tuning job's result is injected: moto's tuning job reports a fixed fake best job, so
  creating one here also creates its best training job (with its model artifact) and
  sets the objective metric the test chooses.

The gate function runs in-process: moto's Lambda would need Docker.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import evaluation_gate
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.sagemaker.models import SageMakerModelBackend
from moto.sns.models import sns_backends

from readiness.rules._stepfunctions import PLACEHOLDER, SAGEMAKER_JOBS
from stacks.names import model_package_group_name as group_name
from stacks.training_flow import GATE_ERROR, METRIC_NAMESPACE, TUNE
from tests.synth import SynthesizedStage

ACCOUNT = "123456789012"
EXECUTION_TIMEOUT_SECONDS = 60
BEST_JOB_SUFFIX = "-002-1a2b3c4d"


def emulate_sync(definition: dict[str, Any]) -> dict[str, Any]:
    """Each `sagemaker:createX.sync` task as a create followed by a describe of the ended job."""
    rewritten = copy.deepcopy(definition)
    states = rewritten["States"]
    for name, state in list(states.items()):
        resource = str(state.get("Resource", ""))
        if not (resource.startswith("arn:aws:states:::sagemaker:") and resource.endswith(".sync")):
            continue
        action = resource.split(":")[-1].removesuffix(".sync")
        key = SAGEMAKER_JOBS[action][0]
        parameters = state["Parameters"]
        name_parameter = {k: v for k, v in parameters.items() if k in (key, f"{key}.$")}
        ended = f"{name} (job ended)"
        states[ended] = {
            **{k: v for k, v in state.items() if k not in ("Resource", "Parameters", "Comment")},
            "Resource": f"arn:aws:states:::aws-sdk:sagemaker:describe{action.removeprefix('create')}",
            "Parameters": name_parameter,
        }
        states[name] = {
            "Type": "Task",
            "Resource": f"arn:aws:states:::aws-sdk:sagemaker:{action}",
            "Parameters": parameters,
            "ResultPath": None,
            "Next": ended,
        }
    return rewritten


@dataclass
class Tuning:
    """What the next tuning job reports as its best training job's validation:rmse."""

    validation_rmse: float = 0.0


@dataclass
class World:
    """The moto account the definition runs in."""

    stage: SynthesizedStage
    region: str
    machine_arn: str
    values: dict[str, str]
    tuning: Tuning

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    @property
    def group(self) -> str:
        return group_name(self.stage.config.name)

    def approve_existing(self, validation_rmse: str) -> str:
        """An Approved package already in the group, as an earlier run would have left it."""
        arn: str = self.client("sagemaker").create_model_package(
            ModelPackageGroupName=self.group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": "img", "ModelDataUrl": "s3://old/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"validation_rmse": validation_rmse},
        )["ModelPackageArn"]
        return arn

    def run(self, execution_input: dict[str, Any], validation_rmse: float) -> dict[str, Any]:
        """Start an execution (named like Step Functions names them) and wait until it ends."""
        self.tuning.validation_rmse = validation_rmse
        sfn = self.client("stepfunctions")
        execution = sfn.start_execution(
            stateMachineArn=self.machine_arn, name=str(uuid.uuid4()), input=json.dumps(execution_input)
        )
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        return {**described, "execution_name": execution["executionArn"].rsplit(":", 1)[1], "history": history}

    def packages(self) -> list[dict[str, Any]]:
        sagemaker = self.client("sagemaker")
        summaries = sagemaker.list_model_packages(ModelPackageGroupName=self.group, SortBy="CreationTime")
        return [
            sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
            for s in summaries["ModelPackageSummaryList"]
        ]

    def report(self, s3_uri: str) -> dict[str, Any]:
        bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
        document: dict[str, Any] = json.loads(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        return document

    def metric(self, name: str) -> list[float]:
        data = self.client("cloudwatch").get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": METRIC_NAMESPACE,
                            "MetricName": name,
                            "Dimensions": [{"Name": "ModelPackageGroup", "Value": self.group}],
                        },
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=time.time() - 3600,
            EndTime=time.time() + 3600,
        )
        values: list[float] = data["MetricDataResults"][0]["Values"]
        return values

    def notifications(self) -> list[str]:
        topic = sns_backends[ACCOUNT][self.region].topics[self.values["AlarmTopicArn"]]
        return [message for _, message, *_ in topic.sent_notifications]


def synthesized_definition(stage: SynthesizedStage) -> tuple[str, dict[str, Any]]:
    ((_, machine),) = stage.resources("Training", "AWS::StepFunctions::StateMachine").items()
    return machine["Properties"]["DefinitionString"], machine["Properties"]["DefinitionSubstitutions"]


def moto_resources(region: str, substitutions: dict[str, Any]) -> dict[str, str]:
    """Create what the definition's substitutions name, and return their moto names and ARNs."""
    iam = boto3.client("iam", region_name=region)
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}]})
    role = iam.create_role(RoleName="training", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    s3 = boto3.client("s3", region_name=region)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    for bucket in ("curated-zone", "training-artifacts"):
        s3.create_bucket(Bucket=bucket, **location)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("evaluation_gate.py", "")
    gate = boto3.client("lambda", region_name=region).create_function(
        FunctionName="gate",
        Runtime="python3.12",
        Role=role,
        Handler="evaluation_gate.handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    topic = boto3.client("sns", region_name=region).create_topic(Name="alarms")["TopicArn"]
    values = {
        "TrainingRoleArn": role,
        "CuratedBucket": "curated-zone",
        "ArtifactsBucket": "training-artifacts",
        "VolumeKeyArn": f"arn:aws:kms:{region}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        "ArtifactsKeyArn": f"arn:aws:kms:{region}:{ACCOUNT}:key/66666666-7777-8888-9999-000000000000",
        "SecurityGroupId": "sg-0123456789abcdef0",
        "GateFunctionArn": gate,
        "AlarmTopicArn": topic,
    }
    values.update(
        {name: f"subnet-{i:017x}" for i, name in enumerate(sorted(n for n in substitutions if n.startswith("Subnet")))}
    )
    assert set(values) == set(substitutions), "every substitution of the template has a moto value"
    return values


@contextmanager
def moto_world(stage: SynthesizedStage, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The stage's definition loaded into moto, ready to execute."""
    region = stage.config.region or "us-east-1"
    tuning = Tuning()
    for variable in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def invoke_in_process(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else event
        return json.dumps(evaluation_gate.handler(payload, None)), False, ""

    create_tuning_job = SageMakerModelBackend.create_hyper_parameter_tuning_job

    def create_and_finish(self: SageMakerModelBackend, **kwargs: Any) -> str:
        arn: str = create_tuning_job(self, **kwargs)
        name, definition = kwargs["hyper_parameter_tuning_job_name"], kwargs["training_job_definition"]
        best = self.create_training_job(
            training_job_name=f"{name}{BEST_JOB_SUFFIX}",
            hyper_parameters=definition["StaticHyperParameters"],
            algorithm_specification=definition["AlgorithmSpecification"],
            role_arn=definition["RoleArn"],
            input_data_config=definition["InputDataConfig"],
            output_data_config=definition["OutputDataConfig"],
            resource_config=definition["ResourceConfig"],
            vpc_config=definition["VpcConfig"],
            stopping_condition=definition["StoppingCondition"],
            tags=[],
            enable_network_isolation=definition["EnableNetworkIsolation"],
            enable_inter_container_traffic_encryption=definition["EnableInterContainerTrafficEncryption"],
            enable_managed_spot_training=definition["EnableManagedSpotTraining"],
            checkpoint_config=definition.get("CheckpointConfig", {}),
            debug_hook_config={},
            debug_rule_configurations=[],
            tensor_board_output_config={},
            experiment_config={},
        )
        self.hyper_parameter_tuning_jobs[name].best_training_job = {
            "TrainingJobName": best.training_job_name,
            "TrainingJobArn": best.arn,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"eta": "0.2", "max_depth": "5"},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": "Minimize",
                "MetricName": "validation:rmse",
                "Value": tuning.validation_rmse,
            },
            "ObjectiveStatus": "Succeeded",
        }
        return arn

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_in_process)
    monkeypatch.setattr(SageMakerModelBackend, "create_hyper_parameter_tuning_job", create_and_finish)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": True}}):
        text, substitutions = synthesized_definition(stage)
        values = moto_resources(region, substitutions)
        rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        definition = emulate_sync(json.loads(rendered))
        boto3.client("sagemaker", region_name=region).create_model_package_group(
            ModelPackageGroupName=group_name(stage.config.name)
        )
        machine = boto3.client("stepfunctions", region_name=region).create_state_machine(
            name="training", definition=json.dumps(definition), roleArn=values["TrainingRoleArn"]
        )
        yield World(stage, region, machine["stateMachineArn"], values, tuning)


@pytest.fixture
def sandbox_world(sandbox: SynthesizedStage, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with moto_world(sandbox, monkeypatch) as world:
        yield world


@pytest.fixture
def prod_world(prod: SynthesizedStage, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with moto_world(prod, monkeypatch) as world:
        yield world


def tuning_job(world: World, execution_arn: str) -> dict[str, Any]:
    name = hashlib.md5(execution_arn.encode()).hexdigest()
    described: dict[str, Any] = world.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name
    )
    return described


def test_a_passing_first_model_is_registered_approved_with_its_metadata(sandbox_world: World) -> None:
    moto_world = sandbox_world
    result = moto_world.run({"etl_run": "jr_0123abcd"}, validation_rmse=41234.5)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    tuning = tuning_job(moto_world, result["executionArn"])
    name = tuning["HyperParameterTuningJobName"]
    assert len(name) == 32
    job = tuning["TrainingJobDefinition"]
    assert job["VpcConfig"]["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == moto_world.values["VolumeKeyArn"]
    assert job["OutputDataConfig"]["KmsKeyId"] == moto_world.values["ArtifactsKeyArn"]
    assert (
        job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://curated-zone/training/channel=train/"
    )

    (package,) = moto_world.packages()
    assert package["ModelApprovalStatus"] == "Approved"  # the sandbox stage auto-approves
    best = moto_world.client("sagemaker").describe_training_job(TrainingJobName=f"{name}{BEST_JOB_SUFFIX}")
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == best["ModelArtifacts"]["S3ModelArtifacts"]
    assert container["Image"] == job["AlgorithmSpecification"]["TrainingImage"]
    metadata = package["CustomerMetadataProperties"]
    assert metadata["validation_rmse"] == "41234.5"
    assert metadata["tuning_job"] == name and metadata["best_training_job"] == f"{name}{BEST_JOB_SUFFIX}"
    assert (metadata["etl_run"], metadata["training_data"]) == ("jr_0123abcd", "s3://curated-zone/training/")
    assert metadata["contract_version"] == "1" and len(metadata["contract_sha256"]) == 64
    assert metadata["execution"] == result["execution_name"]

    report = moto_world.report(package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"])
    assert report["regression_metrics"] == {"rmse": {"value": 41234.5}}
    assert report["gate"]["passed"] is True and report["gate"]["approved_model"] is None
    assert report["gate"]["reason"].endswith("(no Approved model yet: threshold only)")
    assert moto_world.metric("ValidationRmse") == [41234.5]
    assert moto_world.metric("GatePassed") == [1.0]
    assert moto_world.notifications() == []


def test_a_candidate_within_tolerance_waits_for_manual_approval_in_prod(prod_world: World) -> None:
    moto_world = prod_world
    approved = moto_world.approve_existing("58000.0")
    result = moto_world.run({}, validation_rmse=59500.0)  # a manual start passes nothing
    assert result["status"] == "SUCCEEDED", result.get("cause")
    old, new = moto_world.packages()
    assert old["ModelPackageArn"] == approved
    assert new["ModelApprovalStatus"] == "PendingManualApproval"
    assert new["CustomerMetadataProperties"]["etl_run"] == "manual"
    report = moto_world.report(new["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"])
    assert report["gate"]["approved_model"] == {"model_package_arn": approved, "validation_rmse": 58000.0}
    assert "within 5% of the Approved model's 58000" in report["gate"]["reason"]


def test_a_failing_gate_ends_in_the_fail_state_and_notifies(sandbox_world: World) -> None:
    moto_world = sandbox_world
    moto_world.approve_existing("40000")
    result = moto_world.run({"etl_run": "jr_1"}, validation_rmse=45000.0)
    assert result["status"] == "FAILED"
    cause = (
        "validation:rmse 45000 is more than 5% worse than the Approved model's 40000 (limit 42000, threshold 100000)"
    )
    assert (result["error"], result["cause"]) == (GATE_ERROR, cause)
    entered = [e["stateEnteredEventDetails"]["name"] for e in result["history"] if "stateEnteredEventDetails" in e]
    assert entered[-2:] == ["Notify the gate failure", "Gate failed"] and TUNE in entered
    assert len(moto_world.packages()) == 1  # nothing registered
    (message,) = moto_world.notifications()
    assert result["execution_name"] in message and cause in message
    assert moto_world.metric("GatePassed") == [0.0]
    assert moto_world.metric("ValidationRmse") == [45000.0]


def test_the_first_model_is_held_to_the_threshold_only(sandbox_world: World) -> None:
    moto_world = sandbox_world
    result = moto_world.run({"etl_run": "jr_2"}, validation_rmse=150000.0)
    assert result["status"] == "FAILED"
    assert result["cause"] == "validation:rmse 150000 is not under the threshold 100000 (no Approved model yet)"
    entered = [e["stateEnteredEventDetails"]["name"] for e in result["history"] if "stateEnteredEventDetails" in e]
    assert "No Approved model" in entered and "Read the Approved model's metrics" not in entered
    assert moto_world.packages() == []


def test_sync_emulation_keeps_the_states_transitions() -> None:
    definition = {
        "StartAt": "Tune",
        "States": {
            "Tune": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
                "Parameters": {"HyperParameterTuningJobName.$": "$.name", "X": 1},
                "ResultSelector": {"best.$": "$.BestTrainingJob"},
                "ResultPath": "$.tuning",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    states = emulate_sync(definition)["States"]
    assert states["Tune"] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sagemaker:createHyperParameterTuningJob",
        "Parameters": {"HyperParameterTuningJobName.$": "$.name", "X": 1},
        "ResultPath": None,
        "Next": "Tune (job ended)",
    }
    assert states["Tune (job ended)"] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeHyperParameterTuningJob",
        "Parameters": {"HyperParameterTuningJobName.$": "$.name"},
        "ResultSelector": {"best.$": "$.BestTrainingJob"},
        "ResultPath": "$.tuning",
        "Next": "Done",
    }
