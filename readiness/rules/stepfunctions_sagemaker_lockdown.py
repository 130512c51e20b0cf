"""SageMaker jobs a state machine creates are locked down like the endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Stack, dig
from readiness.rules._stepfunctions import Task, each_sagemaker_job, job_definitions, value

# Settings a training job (alone or in a tuning job) must carry.
TRAINING_SETTINGS = (
    (("ResourceConfig", "VolumeKmsKeyId"), "a KMS volume key (ResourceConfig.VolumeKmsKeyId)"),
    (("OutputDataConfig", "KmsKeyId"), "a KMS output key (OutputDataConfig.KmsKeyId)"),
    (("VpcConfig", "Subnets"), "VPC subnets (VpcConfig.Subnets)"),
    (("VpcConfig", "SecurityGroupIds"), "security groups (VpcConfig.SecurityGroupIds)"),
    (("StoppingCondition", "MaxRuntimeInSeconds"), "a stopping condition (StoppingCondition.MaxRuntimeInSeconds)"),
)
TRAINING_FLAGS = ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption")
TRANSFORM_SETTINGS = (
    (("TransformResources", "VolumeKmsKeyId"), "a KMS volume key (TransformResources.VolumeKmsKeyId)"),
    (("TransformOutput", "KmsKeyId"), "a KMS output key (TransformOutput.KmsKeyId)"),
)
PROCESSING_SETTINGS = (
    (("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"), "a KMS volume key"),
    (("NetworkConfig", "VpcConfig", "Subnets"), "VPC subnets (NetworkConfig.VpcConfig)"),
    (("StoppingCondition", "MaxRuntimeInSeconds"), "a stopping condition (StoppingCondition.MaxRuntimeInSeconds)"),
)


def present(settings: dict[str, Any], path: tuple[str, ...]) -> bool:
    *parents, leaf = path
    holder = dig(settings, *parents) if parents else settings
    return isinstance(holder, dict) and value(holder, leaf) not in (None, "", [])


def missing(task: Task) -> list[str]:
    if task.action == "createTransformJob":
        return [label for path, label in TRANSFORM_SETTINGS if not present(task.parameters, path)]
    if task.action == "createProcessingJob":
        settings = task.parameters
        isolated = dig(settings, "NetworkConfig", "EnableNetworkIsolation") is True
        return [label for path, label in PROCESSING_SETTINGS if not present(settings, path)] + (
            [] if isolated else ["NetworkConfig.EnableNetworkIsolation true"]
        )
    found: list[str] = []
    for job in job_definitions(task) or [{}]:
        found += [label for path, label in TRAINING_SETTINGS if not present(job, path)]
        found += [f"{flag} true" for flag in TRAINING_FLAGS if job.get(flag) is not True]
    return found


def problem(task: Task, _definition: dict[str, Any]) -> str | None:
    lacking = missing(task)
    return f"state '{task.name}' ({task.integration}) lacks {', '.join(lacking)}" if lacking else None


def check(stack: Stack) -> Iterator[Outcome]:
    return each_sagemaker_job(stack, problem)


RULE = Rule(
    id="RDY-SF1",
    title="SageMaker jobs of state machines set keys, VPC, isolation, encryption and a stopping condition",
    explanation=(
        "A training, tuning, transform or processing job created by a state machine is defined only inside "
        "DefinitionString, where no linter looks. Without a KMS volume and output key, VPC subnets and "
        "security groups, network isolation, inter-container traffic encryption and a stopping condition, "
        "the job runs with the defaults the endpoint was locked down against: unencrypted volumes, internet "
        "access, unencrypted traffic between instances, and no runtime limit."
    ),
    fix=(
        "Set ResourceConfig.VolumeKmsKeyId, OutputDataConfig.KmsKeyId, VpcConfig, EnableNetworkIsolation: true, "
        "EnableInterContainerTrafficEncryption: true and StoppingCondition.MaxRuntimeInSeconds on the job "
        "(TrainingJobDefinition of a tuning job; TransformResources/TransformOutput keys of a transform job)."
    ),
    check=check,
)
