"""Training stack: the state machine's flow, its locked-down jobs, IAM, triggers, registry, metrics."""

from __future__ import annotations

import json
import re
from typing import Any

from contracts.model_package import CONTRACT_SHA256, contract_fingerprint
from readiness.model import Resource
from readiness.rules._stepfunctions import definition_of
from stacks.image_uris import xgboost_image_uri
from stacks.names import model_package_group_name as group_name
from stacks.training_flow import CHANNELS, STATIC_HYPERPARAMETERS, TUNE, execution_timeout_minutes
from stacks.training_stack import TUNING_RULE, TrainingStack
from tests.synth import SynthesizedStage


def only(stage: SynthesizedStage, unit: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources(unit, resource_type).items()
    return logical_id, resource


def logical(stage: SynthesizedStage, unit: str, construct_id: str) -> str:
    """The logical ID CDK gives a construct's resource: its id and an 8-character hash."""
    (found,) = [k for k in stage.templates[unit]["Resources"] if re.fullmatch(f"{construct_id}[0-9A-F]{{8}}", k)]
    return found


def resource(stage: SynthesizedStage, unit: str, construct_id: str) -> dict[str, Any]:
    found: dict[str, Any] = stage.templates[unit]["Resources"][logical(stage, unit, construct_id)]
    return found


def flow(stage: SynthesizedStage) -> dict[str, Any]:
    """The synthesized definition, substitutions rendered as ${LogicalId.Attr}."""
    logical_id, machine = only(stage, "Training", "AWS::StepFunctions::StateMachine")
    parsed = definition_of(Resource(logical_id, machine["Type"], machine["Properties"], (), {}, logical_id))
    assert parsed is not None
    return parsed


def job(stage: SynthesizedStage) -> dict[str, Any]:
    definition: dict[str, Any] = flow(stage)["States"][TUNE]["Parameters"]["TrainingJobDefinition"]
    return definition


def statements(stage: SynthesizedStage, unit: str, policy_prefix: str) -> list[dict[str, Any]]:
    policy = stage.templates[unit]["Resources"][logical(stage, unit, policy_prefix)]
    found: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_standard_state_machine_logs_without_execution_data_and_traces(every_stage: SynthesizedStage) -> None:
    _, machine = only(every_stage, "Training", "AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}
    logs = resource(every_stage, "Training", "StateMachineLogs")
    assert logs["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [logical(every_stage, "Training", "TrainingKey"), "Arn"]}
    assert logical(every_stage, "Training", "StateMachinePolicy") in machine["DependsOn"]
    assert flow(every_stage)["TimeoutSeconds"] == execution_timeout_minutes(every_stage.config.training) * 60


def test_the_flow_tunes_evaluates_then_registers_or_fails(sandbox: SynthesizedStage) -> None:
    states = flow(sandbox)["States"]
    path, name = [], flow(sandbox)["StartAt"]
    while name in states and states[name]["Type"] not in ("Succeed", "Fail"):
        path.append(name)
        state = states[name]
        name = state.get("Next") or (state.get("Choices") or [{}])[0].get("Next") or state["Default"]
    assert path == [
        "Started by the ETL job?",
        "Name the jobs",
        TUNE,
        "Read the best model",
        "Find the Approved model",
        "First model?",
        "Read the Approved model's metrics",
        "Evaluate the candidate",
        "Store the evaluation report",
        "Publish the metrics",
        "Gate passed?",
        "Register the model package",
    ]
    assert states["Gate passed?"]["Default"] == "Notify the gate failure"
    assert states["Notify the gate failure"]["Next"] == "Gate failed"
    assert states["Gate failed"] == {
        "Type": "Fail",
        "Error": "EvaluationGateFailed",
        "CausePath": "$.evaluation.reason",
    }
    assert states["First model?"]["Default"] == "No Approved model"


def test_tuning_job_from_stage_config(every_stage: SynthesizedStage) -> None:
    config = every_stage.config.training
    tune = flow(every_stage)["States"][TUNE]
    assert tune["Resource"] == "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
    tuning = tune["Parameters"]["HyperParameterTuningJobConfig"]
    assert tuning["Strategy"] == "Bayesian"
    assert tuning["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:rmse"}
    assert tuning["TrainingJobEarlyStoppingType"] == "Auto"
    assert tuning["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": config.max_jobs,
        "MaxParallelTrainingJobs": config.max_parallel_jobs,
    }
    ranges = tuning["ParameterRanges"]
    names = [r["Name"] for r in ranges["ContinuousParameterRanges"] + ranges["IntegerParameterRanges"]]
    assert sorted(names) == sorted(r.hyperparameter for r in config.parameter_ranges)
    assert {r["Name"] for r in ranges["IntegerParameterRanges"]} == {"max_depth"}
    assert tune["Parameters"]["HyperParameterTuningJobName.$"] == "$.run.tuning_job"
    assert flow(every_stage)["States"]["Name the jobs"]["Parameters"]["tuning_job.$"] == (
        "States.Hash($$.Execution.Id, 'MD5')"
    )


def test_training_jobs_use_the_endpoint_image_and_the_etl_channels(every_stage: SynthesizedStage) -> None:
    definition = job(every_stage)
    _, model = only(every_stage, "Inference", "AWS::SageMaker::Model")
    image = xgboost_image_uri(every_stage.config.region or "", every_stage.config.inference.xgboost_version)
    assert definition["AlgorithmSpecification"] == {"TrainingImage": image, "TrainingInputMode": "File"}
    assert model["Properties"]["PrimaryContainer"]["Image"] == image
    assert [c["ChannelName"] for c in definition["InputDataConfig"]] == list(CHANNELS)
    curated = "${Import:MlPipeline-" + every_stage.config.name + "-DataLake-CuratedZoneName}"
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]] == [
        f"s3://{curated}/training/channel={c}/" for c in CHANNELS
    ]
    assert {c["ContentType"] for c in definition["InputDataConfig"]} == {"text/csv"}
    hyperparameters = definition["StaticHyperParameters"]
    assert {k: hyperparameters[k] for k in STATIC_HYPERPARAMETERS} == STATIC_HYPERPARAMETERS
    assert hyperparameters["num_round"] == str(every_stage.config.training.num_round)


def test_training_jobs_are_locked_down_like_the_endpoint(every_stage: SynthesizedStage) -> None:
    config, definition = every_stage.config.training, job(every_stage)
    volume_key = "${" + logical(every_stage, "Training", "TrainingKey") + ".Arn}"
    assert definition["ResourceConfig"] == {
        "InstanceType": config.instance_type,
        "InstanceCount": config.instance_count,
        "VolumeSizeInGB": config.volume_size_gb,
        "VolumeKmsKeyId": volume_key,
    }
    # The model goes to the artifacts bucket with the bucket's own key, used only through S3.
    assert (
        definition["OutputDataConfig"]["KmsKeyId"] == "${" + logical(every_stage, "Training", "ArtifactsKey") + ".Arn}"
    )
    assert (
        definition["OutputDataConfig"]["S3OutputPath"]
        == "s3://${" + logical(every_stage, "Training", "Artifacts") + "}/models/"
    )
    assert definition["VpcConfig"]["SecurityGroupIds"] == [
        "${" + logical(every_stage, "Training", "TrainingSecurityGroup") + ".GroupId}"
    ]
    assert len(definition["VpcConfig"]["Subnets"]) == every_stage.config.network.az_count
    assert all(s.startswith("${Import:MlPipeline-") for s in definition["VpcConfig"]["Subnets"])
    assert definition["EnableNetworkIsolation"] is True
    assert definition["EnableInterContainerTrafficEncryption"] is True
    assert definition["StoppingCondition"]["MaxRuntimeInSeconds"] == config.max_runtime_minutes * 60
    assert definition["RoleArn"] == "${" + logical(every_stage, "Training", "TrainingRole") + ".Arn}"


def test_spot_training_waits_and_checkpoints(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    assert prod.config.training.spot and not sandbox.config.training.spot
    spot = job(prod)
    assert spot["EnableManagedSpotTraining"] is True
    assert spot["StoppingCondition"]["MaxWaitTimeInSeconds"] == prod.config.training.max_wait_minutes * 60
    assert "/checkpoints/{}/" in spot["CheckpointConfig"]["S3Uri.$"]
    on_demand = job(sandbox)
    assert on_demand["EnableManagedSpotTraining"] is False and "CheckpointConfig" not in on_demand


def test_registered_package_carries_spec_metrics_and_stage_approval(every_stage: SynthesizedStage) -> None:
    register = flow(every_stage)["States"]["Register the model package"]
    assert register["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:createModelPackage"
    params = register["Parameters"]
    expected = "Approved" if every_stage.config.training.auto_approve else "PendingManualApproval"
    assert params["ModelApprovalStatus"] == expected
    assert every_stage.config.name != "prod" or expected == "PendingManualApproval"
    assert params["ModelPackageGroupName"] == group_name(every_stage.config.name)
    spec = params["InferenceSpecification"]
    assert spec["Containers"] == [
        {
            "Image": job(every_stage)["AlgorithmSpecification"]["TrainingImage"],
            "ModelDataUrl.$": "$.best.model_data_url",
        }
    ]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == sorted(
        {v.instance_type for v in every_stage.config.inference.variants}
    )
    metadata = params["CustomerMetadataProperties"]
    assert {k.removesuffix(".$") for k in metadata} == {
        "validation_rmse",
        "tuning_job",
        "best_training_job",
        "training_data",
        "etl_run",
        "contract_version",
        "contract_sha256",
        "execution",
    }
    # The promotion tool compares exactly these two values with the contract it deploys with.
    assert {k: metadata[k] for k in contract_fingerprint()} == contract_fingerprint()
    assert len(metadata[CONTRACT_SHA256]) == 64
    statistics = params["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert "/evaluations/{}/evaluation.json" in statistics["S3Uri.$"]


def test_gate_receives_stage_threshold_and_tolerance(every_stage: SynthesizedStage) -> None:
    config = every_stage.config.training
    evaluate = flow(every_stage)["States"]["Evaluate the candidate"]
    assert evaluate["Resource"] == "arn:aws:states:::lambda:invoke"
    payload = evaluate["Parameters"]["Payload"]
    assert (payload["threshold"], payload["tolerance"]) == (config.rmse_threshold, config.rmse_tolerance)
    assert evaluate["Parameters"]["FunctionName"] == "${" + logical(every_stage, "Training", "GateFunction") + ".Arn}"
    function = resource(every_stage, "Training", "GateFunction")
    assert function["Properties"]["Handler"] == "evaluation_gate.handler"
    assert function["Properties"]["ReservedConcurrentExecutions"] == config.gate.reserved_concurrency
    assert "VpcConfig" in function["Properties"]


def test_state_machine_role_has_what_sync_tuning_needs(sandbox: SynthesizedStage) -> None:
    found = statements(sandbox, "Training", "StateMachinePolicy")
    by_action = {a: s for s in found for a in actions(s)}
    for action in (
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:AddTags",
    ):
        assert "hyper-parameter-tuning-job/*" in json.dumps(by_action[action]["Resource"]), action
    assert TUNING_RULE in json.dumps(by_action["events:PutRule"]["Resource"])
    pass_role = by_action["iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [logical(sandbox, "Training", "TrainingRole"), "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert by_action["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "MlPipeline/Training"}
    }
    assert all("*" not in a for s in found for a in actions(s))


def test_training_role_reads_channels_and_writes_models(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    trust = resource(sandbox, "Training", "TrainingRole")
    assert trust["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    text = json.dumps(statements(sandbox, "Training", "TrainingPolicy"))
    assert "/training/*" in text and "/models/*" in text and "checkpoints" not in text
    assert "s3:PutObject" in text and "ecr:BatchGetImage" in text and "/aws/sagemaker/TrainingJobs:*" in text
    assert "checkpoints/*" in json.dumps(statements(prod, "Training", "TrainingPolicy"))  # spot only


def test_training_security_group_reaches_only_s3(every_stage: SynthesizedStage) -> None:
    egress = [
        e["Properties"]
        for e in every_stage.resources("Training", "AWS::EC2::SecurityGroupEgress").values()
        if e["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("TrainingSecurityGroup")
    ]
    assert egress == [
        {
            "Description": "S3 through the gateway endpoint",
            "DestinationPrefixListId": egress[0]["DestinationPrefixListId"],
            "FromPort": 443,
            "GroupId": egress[0]["GroupId"],
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "PrefixList" in egress[0]["DestinationPrefixListId"]["Fn::ImportValue"]
    group = resource(every_stage, "Training", "TrainingSecurityGroup")
    assert "SecurityGroupIngress" not in group["Properties"]  # one instance per job: no peers to talk to


def test_endpoint_security_group_reaches_s3_through_the_prefix_list(every_stage: SynthesizedStage) -> None:
    _, group = only(every_stage, "Inference", "AWS::EC2::SecurityGroup")
    inline = group["Properties"].get("SecurityGroupEgress", [])
    separate = [e["Properties"] for e in every_stage.resources("Inference", "AWS::EC2::SecurityGroupEgress").values()]
    prefix_lists = [e for e in inline + separate if "DestinationPrefixListId" in e]
    assert len(prefix_lists) == 1 and (prefix_lists[0]["FromPort"], prefix_lists[0]["ToPort"]) == (443, 443)


def test_network_resolves_the_s3_prefix_list_at_deploy_time(sandbox: SynthesizedStage) -> None:
    (lookup,) = sandbox.resources("Network", "Custom::AWS").values()
    create = json.loads(lookup["Properties"]["Create"])
    assert create["action"] == "describeManagedPrefixLists"
    assert create["parameters"]["Filters"] == [{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}]
    assert create["outputPaths"] == ["PrefixLists.0.PrefixListId"]


def test_etl_success_starts_an_execution_with_its_run_id(sandbox: SynthesizedStage) -> None:
    rule = resource(sandbox, "Training", "EtlSucceededRule")["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {
            "jobName": [{"Fn::ImportValue": "MlPipeline-sandbox-Etl:ExportsOutputRefPrepareFeatures6B36FDFF"}],
            "state": ["SUCCEEDED"],
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": logical(sandbox, "Training", "StateMachine")}
    assert target["InputTransformer"]["InputTemplate"] == '{"etl_run":<detail-jobRunId>}'
    assert "DeadLetterConfig" in target and "RoleArn" in target


def test_approval_rule_notifies_the_topic_for_this_group_only(every_stage: SynthesizedStage) -> None:
    rule = resource(every_stage, "Training", "PackageApprovedRule")["Properties"]
    assert rule["EventPattern"]["detail"] == {
        "ModelPackageGroupName": [group_name(every_stage.config.name)],
        "ModelApprovalStatus": ["Approved"],
    }
    _, group = only(every_stage, "Training", "AWS::SageMaker::ModelPackageGroup")
    assert group["Properties"]["ModelPackageGroupName"] == group_name(every_stage.config.name)
    assert "AlarmTopic" in json.dumps(rule["Targets"][0]["Arn"])


def test_stack_exposes_registry_and_artifacts_for_promotion(sandbox: SynthesizedStage) -> None:
    training = sandbox.stacks["Training"]
    assert isinstance(training, TrainingStack)
    assert training.model_package_group_name == "mlpipeline-sandbox-housing"
    assert training.model_package_group_arn and training.artifacts.bucket.bucket_name
    assert training.models_prefix == "models/"
    text = json.dumps(statements(sandbox, "Inference", "ExecutionPolicy"))
    assert "MlPipeline-sandbox-Training" in text and "/models/*" in text


def test_dashboard_training_section_and_execution_alarms(sandbox: SynthesizedStage) -> None:
    (dashboard,) = sandbox.resources("Monitoring", "AWS::CloudWatch::Dashboard").values()
    body = "".join(p for p in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(p, str))
    assert "Training pipeline" in body
    assert '"MlPipeline/Training","ValidationRmse"' in body and '"MlPipeline/Training","GatePassed"' in body
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in sandbox.resources("Monitoring", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
    }
    assert set(alarms) == {"ExecutionsFailed", "ExecutionsTimedOut"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] and alarm["Threshold"] == 1
        assert alarm["Dimensions"][0]["Name"] == "StateMachineArn"
