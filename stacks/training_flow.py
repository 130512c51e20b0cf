"""The training state machine's definition (Amazon States Language), as plain data.

:func:`definition` returns the whole flow as a dict: the Training stack serialises it into
the state machine's `DefinitionString`, so every state, parameter and limit is in the
reviewed template and nothing is built at run time. Values only known at deploy time (role,
buckets, key, network, function and topic) are `${Name}` placeholders that the stack fills
through `DefinitionSubstitutions` (:data:`PLACEHOLDERS`).

The flow: name the jobs after the execution -> hyperparameter tuning job over the built-in
XGBoost container (`.sync`: the state waits for the tuning job) -> the best training job's
model -> the group's newest Approved model package, if any -> the evaluation gate Lambda
-> store its report, publish the metrics -> register the model package, or notify the
alarm topic and fail with the gate's reason.
"""

from __future__ import annotations

import math
from typing import Any

from contracts import model_package as package
from stacks.config import XGBOOST_TUNING_BOUNDS, TrainingConfig
from stacks.etl_stack import TRAINING_PREFIX

OBJECTIVE_METRIC = "validation:rmse"
METRIC_NAMESPACE = "MlPipeline/Training"
METRIC_DIMENSION = "ModelPackageGroup"
CHANNELS = ("train", "validation")  # the folders glue/housing_etl/split.channel_path names
MODELS_PREFIX = "models/"
CHECKPOINTS_PREFIX = "checkpoints/"
EVALUATIONS_PREFIX = "evaluations/"
EARLY_STOPPING_ROUNDS = 10
# Hyperparameters every training job gets (the tuned ones come from the stage's ranges).
STATIC_HYPERPARAMETERS = {"objective": "reg:squarederror", "eval_metric": "rmse"}
# States.Hash(..., 'MD5') is 32 hexadecimal characters: exactly SageMaker's limit for a
# tuning job name, whose training jobs are named <tuning job>-NNN-<8 hex> (45 of 63).
TUNING_JOB_NAME = "States.Hash($$.Execution.Id, 'MD5')"
EXECUTION_MARGIN_MINUTES = 60
LAMBDA_RETRYABLE = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
PLACEHOLDERS = (
    "TrainingRoleArn",
    "CuratedBucket",
    "ArtifactsBucket",
    "VolumeKeyArn",
    "ArtifactsKeyArn",
    "SecurityGroupId",
    "GateFunctionArn",
    "AlarmTopicArn",
)
TUNE = "Tune hyperparameters"
GATE_FAILED = "Gate failed"
GATE_ERROR = "EvaluationGateFailed"


def subnet_placeholder(index: int) -> str:
    return f"Subnet{index}"


def channel_uri(channel: str) -> str:
    return f"s3://${{CuratedBucket}}/{TRAINING_PREFIX}channel={channel}/"


def evaluation_key() -> str:
    """States.Format arguments of the report's key below the artifacts bucket."""
    return f"{EVALUATIONS_PREFIX}{{}}/evaluation.json"


def execution_timeout_minutes(config: TrainingConfig) -> int:
    """Every wave of parallel training jobs at its longest, plus the steps around them."""
    waves = math.ceil(config.max_jobs / config.max_parallel_jobs)
    per_job = config.max_wait_minutes if config.spot else config.max_runtime_minutes
    return waves * per_job + EXECUTION_MARGIN_MINUTES


def _value(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def parameter_ranges(config: TrainingConfig) -> dict[str, list[dict[str, str]]]:
    ranges: dict[str, list[dict[str, str]]] = {"ContinuousParameterRanges": [], "IntegerParameterRanges": []}
    for item in config.parameter_ranges:
        kind = XGBOOST_TUNING_BOUNDS[item.hyperparameter][0]
        ranges["IntegerParameterRanges" if kind == "integer" else "ContinuousParameterRanges"].append(
            {
                "Name": item.hyperparameter,
                "MinValue": _value(item.min_value),
                "MaxValue": _value(item.max_value),
                "ScalingType": item.scaling,
            }
        )
    return ranges


def static_hyperparameters(config: TrainingConfig) -> dict[str, str]:
    return {
        **STATIC_HYPERPARAMETERS,
        "num_round": str(config.num_round),
        "early_stopping_rounds": str(EARLY_STOPPING_ROUNDS),
    }


def training_job_definition(config: TrainingConfig, *, image_uri: str, subnet_count: int) -> dict[str, Any]:
    """Each training job: locked down like the endpoint (keys, VPC, isolation, encryption, limits)."""
    stopping = {"MaxRuntimeInSeconds": config.max_runtime_minutes * 60}
    job: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": "${TrainingRoleArn}",
        "StaticHyperParameters": static_hyperparameters(config),
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "ContentType": "text/csv",
                "CompressionType": "None",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": channel_uri(channel),
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel in CHANNELS
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://${{ArtifactsBucket}}/{MODELS_PREFIX}",
            "KmsKeyId": "${ArtifactsKeyArn}",
        },
        "ResourceConfig": {
            "InstanceType": config.instance_type,
            "InstanceCount": config.instance_count,
            "VolumeSizeInGB": config.volume_size_gb,
            "VolumeKmsKeyId": "${VolumeKeyArn}",
        },
        "VpcConfig": {
            "SecurityGroupIds": ["${SecurityGroupId}"],
            "Subnets": [f"${{{subnet_placeholder(i)}}}" for i in range(subnet_count)],
        },
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "EnableManagedSpotTraining": config.spot,
    }
    if config.spot:
        stopping["MaxWaitTimeInSeconds"] = config.max_wait_minutes * 60
        job["CheckpointConfig"] = {
            "S3Uri.$": f"States.Format('s3://${{ArtifactsBucket}}/{CHECKPOINTS_PREFIX}{{}}/', $.run.tuning_job)"
        }
    return job


def tuning_state(config: TrainingConfig, *, image_uri: str, subnet_count: int) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": "Bayesian search minimising validation:rmse; waits until the tuning job ends",
        "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
        "Parameters": {
            "HyperParameterTuningJobName.$": "$.run.tuning_job",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": OBJECTIVE_METRIC},
                "ResourceLimits": {
                    "MaxNumberOfTrainingJobs": config.max_jobs,
                    "MaxParallelTrainingJobs": config.max_parallel_jobs,
                },
                "ParameterRanges": parameter_ranges(config),
                "TrainingJobEarlyStoppingType": "Auto",
            },
            "TrainingJobDefinition": training_job_definition(config, image_uri=image_uri, subnet_count=subnet_count),
            "Tags": [{"Key": "ml-pipeline:execution", "Value.$": "$$.Execution.Name"}],
        },
        "ResultSelector": {
            "best_training_job.$": "$.BestTrainingJob.TrainingJobName",
            "validation_rmse.$": "$.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value",
        },
        "ResultPath": "$.tuning",
        "Next": "Read the best model",
    }


def sdk_task(
    api: str, parameters: dict[str, Any], *, selector: Any, result: str | None, next_state: str
) -> dict[str, Any]:
    """An AWS SDK integration (`aws-sdk:<service>:<action>`) that waits for the response."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:{api}",
        "Parameters": parameters,
        "ResultPath": result,
        "Next": next_state,
    }
    if selector is not None:
        state["ResultSelector"] = selector
    return state


def definition(
    config: TrainingConfig,
    *,
    image_uri: str,
    group_name: str,
    instance_types: list[str],
    subnet_count: int,
    contract: dict[str, str],
) -> dict[str, Any]:
    """The whole state machine (see the module docstring); `contract` is the fingerprint of the event
    contract the package records (`contracts.model_package.contract_fingerprint`)."""
    report_uri = f"States.Format('s3://${{ArtifactsBucket}}/{evaluation_key()}', $.run.tuning_job)"
    dimensions = [{"Name": METRIC_DIMENSION, "Value": group_name}]
    states: dict[str, Any] = {
        "Started by the ETL job?": {
            "Type": "Choice",
            "Comment": "The ETL job's success rule passes its run id; a manual start may pass nothing",
            "Choices": [{"Variable": "$.etl_run", "IsPresent": True, "Next": "Name the jobs"}],
            "Default": "Mark a manual start",
        },
        "Mark a manual start": {"Type": "Pass", "Result": {"etl_run": package.MANUAL_RUN}, "Next": "Name the jobs"},
        "Name the jobs": {
            "Type": "Pass",
            "Parameters": {"tuning_job.$": TUNING_JOB_NAME, "etl_run.$": "$.etl_run"},
            "ResultPath": "$.run",
            "Next": TUNE,
        },
        TUNE: tuning_state(config, image_uri=image_uri, subnet_count=subnet_count),
        "Read the best model": sdk_task(
            "sagemaker:describeTrainingJob",
            {"TrainingJobName.$": "$.tuning.best_training_job"},
            selector={"model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts"},
            result="$.best",
            next_state="Find the Approved model",
        ),
        "Find the Approved model": sdk_task(
            "sagemaker:listModelPackages",
            {
                "ModelPackageGroupName": group_name,
                "ModelApprovalStatus": "Approved",
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "MaxResults": 1,
            },
            selector={"arns.$": "$.ModelPackageSummaryList[*].ModelPackageArn"},
            result="$.approved",
            next_state="First model?",
        ),
        "First model?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.approved.arns[0]", "IsPresent": True, "Next": "Read the Approved model's metrics"}
            ],
            "Default": "No Approved model",
        },
        "No Approved model": {
            "Type": "Pass",
            "Comment": "The first model is judged by the threshold only",
            "Result": {"validation_rmse": None, "model_package_arn": None},
            "ResultPath": "$.current",
            "Next": "Evaluate the candidate",
        },
        "Read the Approved model's metrics": sdk_task(
            "sagemaker:describeModelPackage",
            {"ModelPackageName.$": "$.approved.arns[0]"},
            selector={
                "validation_rmse.$": f"$.CustomerMetadataProperties.{package.VALIDATION_RMSE}",
                "model_package_arn.$": "$.ModelPackageArn",
            },
            result="$.current",
            next_state="Evaluate the candidate",
        ),
        "Evaluate the candidate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": "${GateFunctionArn}",
                "Payload": {
                    "candidate": {
                        "validation_rmse.$": "$.tuning.validation_rmse",
                        "tuning_job.$": "$.run.tuning_job",
                        "training_job.$": "$.tuning.best_training_job",
                        "model_data_url.$": "$.best.model_data_url",
                        "etl_run.$": "$.run.etl_run",
                    },
                    "current.$": "$.current",
                    "threshold": config.rmse_threshold,
                    "tolerance": config.rmse_tolerance,
                },
            },
            "Retry": [{"ErrorEquals": LAMBDA_RETRYABLE, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}],
            "ResultSelector": {
                "passed.$": "$.Payload.passed",
                "passed_value.$": "$.Payload.passed_value",
                "reason.$": "$.Payload.reason",
                "report.$": "$.Payload.report",
            },
            "ResultPath": "$.evaluation",
            "Next": "Store the evaluation report",
        },
        "Store the evaluation report": sdk_task(
            "s3:putObject",
            {
                "Bucket": "${ArtifactsBucket}",
                "Key.$": f"States.Format('{evaluation_key()}', $.run.tuning_job)",
                "Body.$": "States.JsonToString($.evaluation.report)",
                "ContentType": "application/json",
            },
            selector=None,
            result=None,
            next_state="Publish the metrics",
        ),
        "Publish the metrics": sdk_task(
            "cloudwatch:putMetricData",
            {
                "Namespace": METRIC_NAMESPACE,
                "MetricData": [
                    {"MetricName": "ValidationRmse", "Dimensions": dimensions, "Value.$": "$.tuning.validation_rmse"},
                    {"MetricName": "GatePassed", "Dimensions": dimensions, "Value.$": "$.evaluation.passed_value"},
                ],
            },
            selector=None,
            result=None,
            next_state="Gate passed?",
        ),
        "Gate passed?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.evaluation.passed", "BooleanEquals": True, "Next": "Register the model package"}
            ],
            "Default": "Notify the gate failure",
        },
        "Register the model package": sdk_task(
            "sagemaker:createModelPackage",
            {
                "ModelPackageGroupName": group_name,
                "ModelPackageDescription.$": (
                    "States.Format('XGBoost from tuning job {}, ETL run {}', $.run.tuning_job, $.run.etl_run)"
                ),
                "ModelApprovalStatus": "Approved" if config.auto_approve else "PendingManualApproval",
                "ClientToken.$": "$.run.tuning_job",
                "InferenceSpecification": {
                    "Containers": [{"Image": image_uri, "ModelDataUrl.$": "$.best.model_data_url"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                    "SupportedRealtimeInferenceInstanceTypes": sorted(set(instance_types)),
                },
                "ModelMetrics": {
                    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri.$": report_uri}}
                },
                "CustomerMetadataProperties": {
                    f"{package.VALIDATION_RMSE}.$": "States.Format('{}', $.tuning.validation_rmse)",
                    f"{package.TUNING_JOB}.$": "$.run.tuning_job",
                    f"{package.BEST_TRAINING_JOB}.$": "$.tuning.best_training_job",
                    package.TRAINING_DATA: f"s3://${{CuratedBucket}}/{TRAINING_PREFIX}",
                    f"{package.ETL_RUN}.$": "$.run.etl_run",
                    **contract,
                    f"{package.EXECUTION}.$": "$$.Execution.Name",
                },
            },
            selector={"arn.$": "$.ModelPackageArn"},
            result="$.model_package",
            next_state="Registered",
        ),
        "Registered": {"Type": "Succeed"},
        "Notify the gate failure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${AlarmTopicArn}",
                "Subject": "ML pipeline: candidate model stopped at the evaluation gate",
                "Message.$": (
                    "States.Format('Training run {} (tuning job {}) did not register a model: {}', "
                    "$$.Execution.Name, $.run.tuning_job, $.evaluation.reason)"
                ),
            },
            "ResultPath": None,
            "Next": GATE_FAILED,
        },
        GATE_FAILED: {"Type": "Fail", "Error": GATE_ERROR, "CausePath": "$.evaluation.reason"},
    }
    return {
        "Comment": "Tune, evaluate and register the housing price model",
        "StartAt": "Started by the ETL job?",
        "TimeoutSeconds": execution_timeout_minutes(config) * 60,
        "States": states,
    }
