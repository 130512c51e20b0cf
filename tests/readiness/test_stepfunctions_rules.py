"""Step Functions and model registry deploy-readiness rules: violating and compliant templates.

The rules read inside `DefinitionString`; the templates below give it as JSON text with
`DefinitionSubstitutions` (as the Training stack does) and as a `Fn::Join` (as CDK's
task constructs do).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from readiness.model import Resource
from readiness.rules import (
    sagemaker_package_approval_rule,
    stepfunctions_job_names,
    stepfunctions_logging_dependency,
    stepfunctions_role_permissions,
    stepfunctions_sagemaker_lockdown,
)
from readiness.rules._stepfunctions import definition_of
from tests.readiness.helpers import allow, arn, compliant, policy, problems, ref, res, role, template

TUNE = "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
JOB = {
    "AlgorithmSpecification": {"TrainingImage": "1.dkr.ecr.us-east-1.amazonaws.com/x:1", "TrainingInputMode": "File"},
    "RoleArn": "${JobRoleArn}",
    "OutputDataConfig": {"S3OutputPath": "s3://b/models/", "KmsKeyId": "${KeyArn}"},
    "ResourceConfig": {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
        "VolumeKmsKeyId": "${KeyArn}",
    },
    "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "EnableNetworkIsolation": True,
    "EnableInterContainerTrafficEncryption": True,
}


def flow(job: dict[str, Any] | None = None, name: str = "States.Hash($$.Execution.Id, 'MD5')") -> dict[str, Any]:
    return {
        "StartAt": "Name",
        "States": {
            "Name": {"Type": "Pass", "Parameters": {"tuning_job.$": name}, "ResultPath": "$.run", "Next": "Tune"},
            "Tune": {
                "Type": "Task",
                "Resource": TUNE,
                "Parameters": {
                    "HyperParameterTuningJobName.$": "$.run.tuning_job",
                    "TrainingJobDefinition": job or JOB,
                    "Tags": [{"Key": "execution", "Value.$": "$$.Execution.Name"}],
                },
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
                "Parameters": {"TrainingJobName": "x"},
                "Next": "Gate",
            },
            "Gate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f"},
                "End": True,
            },
        },
    }


def machine(definition: dict[str, Any], depends: list[str] | None = None) -> dict[str, Any]:
    return res(
        "AWS::StepFunctions::StateMachine",
        depends,
        RoleArn=arn("MachineRole"),
        DefinitionString=json.dumps(definition),
        DefinitionSubstitutions={"JobRoleArn": arn("JobRole"), "KeyArn": arn("Key")},
        LoggingConfiguration={"Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": arn("Logs")}}]},
    )


SYNC_RULE = {
    "Fn::Join": [
        "",
        [
            "arn:",
            ref("AWS::Partition"),
            ":events:eu-west-1:",
            ref("AWS::AccountId"),
            ":rule/StepFunctionsGetEventsForSageMakerTuningJobsRule",
        ],
    ]
}
PASS_ROLE = allow(
    "iam:PassRole",
    resource=arn("JobRole"),
    Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
)
GRANTS = [
    allow(
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "sagemaker:AddTags",
        resource="arn:aws:sagemaker:eu-west-1:123456789012:hyper-parameter-tuning-job/*",
    ),
    allow("events:PutTargets", "events:PutRule", "events:DescribeRule", resource=SYNC_RULE),
    PASS_ROLE,
    allow("sagemaker:DescribeTrainingJob"),
    allow("lambda:InvokeFunction", resource=arn("Gate")),
]


def stack(
    definition: dict[str, Any] | None = None, grants: list[dict[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    resources = {
        "MachineRole": role("states.amazonaws.com"),
        "MachinePolicy": policy("MachineRole", *(GRANTS if grants is None else grants)),
        "JobRole": role("sagemaker.amazonaws.com"),
        "Machine": machine(definition or flow(), depends=["MachinePolicy"]),
    }
    return template(**{**resources, **overrides})


def without(grants: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """`grants` with `action` taken out of every statement (statements left empty dropped)."""
    kept = [{**g, "Action": [a for a in g["Action"] if a != action]} for g in grants]
    return [g for g in kept if g["Action"]]


def test_the_reference_state_machine_passes_every_rule() -> None:
    for module in (
        stepfunctions_sagemaker_lockdown,
        stepfunctions_role_permissions,
        stepfunctions_job_names,
        stepfunctions_logging_dependency,
    ):
        assert problems(module.RULE, stack()) == [], module.RULE.id
        assert compliant(module.RULE, stack()) == ["Machine"], module.RULE.id


def test_definitions_are_read_through_joins_and_substitutions() -> None:
    text = json.dumps(flow()).replace('"${JobRoleArn}"', '"ROLE"')
    head, tail = text.split("ROLE")
    joined = Resource(
        "M",
        "AWS::StepFunctions::StateMachine",
        {"DefinitionString": {"Fn::Join": ["", [head, arn("JobRole"), tail]]}},
        (),
        {},
        "M",
    )
    assert definition_of(joined)["States"]["Tune"]["Parameters"]["TrainingJobDefinition"]["RoleArn"] == "${JobRole.Arn}"
    substituted = Resource("M", "AWS::StepFunctions::StateMachine", machine(flow())["Properties"], (), {}, "M")
    assert (
        definition_of(substituted)["States"]["Tune"]["Parameters"]["TrainingJobDefinition"]["ResourceConfig"][
            "VolumeKmsKeyId"
        ]
        == "${Key.Arn}"
    )
    broken = Resource("M", "AWS::StepFunctions::StateMachine", {"DefinitionString": "{not json"}, (), {}, "M")
    assert definition_of(broken) is None
    assert problems(
        stepfunctions_job_names.RULE, template(Machine=res("AWS::StepFunctions::StateMachine", DefinitionString="{x"))
    )


def test_sf1_training_jobs_are_locked_down() -> None:
    loose = copy.deepcopy(JOB)
    del loose["ResourceConfig"]["VolumeKmsKeyId"]
    del loose["VpcConfig"]
    loose["EnableNetworkIsolation"] = False
    del loose["StoppingCondition"]
    (found,) = problems(stepfunctions_sagemaker_lockdown.RULE, stack(flow(loose)))
    assert found.startswith("Machine: state 'Tune' (sagemaker:createHyperParameterTuningJob.sync) lacks ")
    for missing in (
        "VolumeKmsKeyId",
        "VpcConfig.Subnets",
        "SecurityGroupIds",
        "MaxRuntimeInSeconds",
        "EnableNetworkIsolation true",
    ):
        assert missing in found
    assert "OutputDataConfig.KmsKeyId" not in found and "EnableInterContainerTrafficEncryption" not in found


def test_sf1_transform_jobs_need_their_keys() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:createTransformJob",
                "Parameters": {"TransformJobName": "t", "TransformResources": {"VolumeKmsKeyId": "k"}},
                "End": True,
            }
        },
    }
    (found,) = problems(stepfunctions_sagemaker_lockdown.RULE, stack(definition))
    assert "TransformOutput.KmsKeyId" in found and "VolumeKmsKeyId" not in found.split("lacks")[1]


def test_sf1_does_not_apply_without_sagemaker_jobs() -> None:
    plain = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert compliant(stepfunctions_sagemaker_lockdown.RULE, stack(plain)) == []


def test_sf2_sync_tuning_needs_the_managed_rule_and_tagging() -> None:
    grants = without(without(GRANTS, "events:PutRule"), "sagemaker:AddTags")
    (found,) = problems(stepfunctions_role_permissions.RULE, stack(grants=grants))
    assert "state 'Tune' (sagemaker:createHyperParameterTuningJob.sync) needs sagemaker:AddTags" in found
    assert "events:PutRule on rule/StepFunctionsGetEventsForSageMakerTuningJobsRule" in found
    other_rule = [
        *without(GRANTS, "events:PutRule"),
        allow(
            "events:PutTargets",
            "events:PutRule",
            "events:DescribeRule",
            resource="arn:aws:events:eu-west-1:1:rule/Other",
        ),
    ]
    assert "events:PutRule on rule/" in problems(stepfunctions_role_permissions.RULE, stack(grants=other_rule))[0]


def test_sf2_pass_role_is_for_the_job_role_and_sagemaker_only() -> None:
    unconditioned = [*without(GRANTS, "iam:PassRole"), allow("iam:PassRole", resource=arn("JobRole"))]
    (found,) = problems(stepfunctions_role_permissions.RULE, stack(grants=unconditioned))
    assert "an iam:PassedToService = sagemaker.amazonaws.com condition on iam:PassRole of ${JobRole.Arn}" in found
    other_role = [*without(GRANTS, "iam:PassRole"), {**PASS_ROLE, "Resource": arn("OtherRole")}]
    (found,) = problems(stepfunctions_role_permissions.RULE, stack(grants=other_role))
    assert "iam:PassRole on ${JobRole.Arn}" in found


def test_sf2_every_task_call_is_allowed() -> None:
    grants = without(without(GRANTS, "lambda:InvokeFunction"), "sagemaker:DescribeTrainingJob")
    (found,) = problems(stepfunctions_role_permissions.RULE, stack(grants=grants))
    assert "state 'Describe' (aws-sdk:sagemaker:describeTrainingJob) needs sagemaker:DescribeTrainingJob" in found
    assert "state 'Gate' (lambda:invoke) needs lambda:InvokeFunction" in found
    assert "state 'Tune'" not in found


def test_sf3_tuning_job_names_fit_32_characters() -> None:
    assert problems(stepfunctions_job_names.RULE, stack(flow(name="States.Hash($$.Execution.Id, 'SHA-256')"))) == [
        "Machine: state 'Tune': HyperParameterTuningJobName may be 64 characters (limit 32)"
    ]
    assert problems(stepfunctions_job_names.RULE, stack(flow(name="$$.Execution.Id"))) == [
        "Machine: state 'Tune': the length of HyperParameterTuningJobName cannot be bounded (limit 32)"
    ]
    formatted = "States.Format('{}', States.Hash($$.Execution.Id, 'MD5'))"
    assert compliant(stepfunctions_job_names.RULE, stack(flow(name=formatted))) == ["Machine"]
    split = "States.Format('hpo-{}', States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0))"
    assert "may be 40 characters" in problems(stepfunctions_job_names.RULE, stack(flow(name=split)))[0]
    too_long = "States.Format('housing-price-{}', $$.Execution.Name)"
    assert "may be 94 characters" in problems(stepfunctions_job_names.RULE, stack(flow(name=too_long)))[0]


def test_sf3_literal_and_inline_names() -> None:
    definition = flow()
    definition["States"]["Tune"]["Parameters"].pop("HyperParameterTuningJobName.$")
    definition["States"]["Tune"]["Parameters"]["HyperParameterTuningJobName"] = "x" * 33
    assert "may be 33 characters" in problems(stepfunctions_job_names.RULE, stack(definition))[0]
    definition["States"]["Tune"]["Parameters"].pop("HyperParameterTuningJobName")
    definition["States"]["Tune"]["Parameters"]["HyperParameterTuningJobName.$"] = "States.UUID()"
    assert "may be 36 characters" in problems(stepfunctions_job_names.RULE, stack(definition))[0]


def test_sf4_a_logging_state_machine_waits_for_its_policy() -> None:
    bad = stack(Machine=machine(flow()))
    assert problems(stepfunctions_logging_dependency.RULE, bad) == ["Machine: does not depend on MachinePolicy"]


PACKAGE_GROUP = res("AWS::SageMaker::ModelPackageGroup", ModelPackageGroupName="housing")


def approval_rule(groups: list[str] | None = None, statuses: list[str] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if groups is not None:
        detail["ModelPackageGroupName"] = groups
    if statuses is not None:
        detail["ModelApprovalStatus"] = statuses
    return res(
        "AWS::Events::Rule",
        EventPattern={
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Package State Change"],
            "detail": detail,
        },
    )


def test_sm8_group_and_approval_rule_reference_each_other() -> None:
    good = template(Group=PACKAGE_GROUP, Approved=approval_rule(["housing"], ["Approved"]))
    assert problems(sagemaker_package_approval_rule.RULE, good) == []
    assert compliant(sagemaker_package_approval_rule.RULE, good) == ["Group", "Approved"]
    assert problems(sagemaker_package_approval_rule.RULE, template(Group=PACKAGE_GROUP)) == [
        "Group: no EventBridge rule matches 'SageMaker Model Package State Change' events of group housing"
    ]


def test_sm8_the_rule_filters_to_approved_packages_of_known_groups() -> None:
    every_status = template(Group=PACKAGE_GROUP, Rule=approval_rule(["housing"]))
    assert problems(sagemaker_package_approval_rule.RULE, every_status) == [
        "Group: the rules for group housing do not filter ModelApprovalStatus to ['Approved']"
    ]
    typo = template(Group=PACKAGE_GROUP, Rule=approval_rule(["housng"], ["Approved"]))
    assert "Rule: names model package groups no stack defines: ['housng']" in problems(
        sagemaker_package_approval_rule.RULE, typo
    )
    any_group = template(Rule=approval_rule(None, ["Approved"]))
    assert problems(sagemaker_package_approval_rule.RULE, any_group) == [
        "Rule: matches the state changes of every model package group (no ModelPackageGroupName)"
    ]
