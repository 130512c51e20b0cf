"""A state machine's role may do what each of its tasks calls, `.sync` integrations included."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.iam import allows, role_documents, statements
from readiness.model import Resource, Stack, as_list, target_of, text_of
from readiness.rules._stepfunctions import PLACEHOLDER, Task, each_definition, job_definitions, tasks

# IAM actions of optimized integrations whose name is not the integration's own.
OPTIMIZED = {("lambda", "invoke"): ["lambda:InvokeFunction"]}
# What Step Functions calls while a `.sync` task waits for its job, besides creating it.
SYNC = {
    ("glue", "startJobRun"): ["glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
    ("sagemaker", "createTrainingJob"): ["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
    ("sagemaker", "createHyperParameterTuningJob"): [
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
    ],
    ("sagemaker", "createTransformJob"): ["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
    ("sagemaker", "createProcessingJob"): ["sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"],
}
# The EventBridge rule Step Functions manages to learn that a `.sync` SageMaker job ended.
SYNC_RULES = {
    "createTrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "createHyperParameterTuningJob": "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    "createTransformJob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    "createProcessingJob": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
}
SYNC_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")
# IAM prefixes of SDK service names that differ from them, and SDK calls authorised by another action.
IAM_PREFIX = {"sfn": "states", "cloudwatchlogs": "logs", "eventbridge": "events"}
SDK_ACTIONS = {("s3", "listObjectsV2"): "s3:ListBucket", ("s3", "headObject"): "s3:GetObject"}
SAGEMAKER = "sagemaker.amazonaws.com"


def required_actions(task: Task) -> list[str]:
    prefix = IAM_PREFIX.get(task.service, task.service)
    own = SDK_ACTIONS.get((task.service, task.action), f"{prefix}:{task.action[0].upper()}{task.action[1:]}")
    actions = [own] if task.sdk else OPTIMIZED.get((task.service, task.action), [own])
    if task.pattern.startswith("sync"):
        actions = actions + SYNC.get((task.service, task.action), [])
    if task.service == "sagemaker" and ("Tags" in task.parameters or "Tags.$" in task.parameters):
        actions = [*actions, "sagemaker:AddTags"]
    return actions


def covers(granted: Any, wanted: str) -> bool:
    """A statement's resource covers `wanted`: `*`, the same text (`${Role.Arn}`), or an ARN pattern
    whose service and resource parts match (placeholders such as ${AWS::AccountId} match anything)."""
    text = text_of(granted)
    if text in ("*", wanted):
        return True
    pattern, theirs = PLACEHOLDER.sub("*", text).split(":", 5), wanted.split(":", 5)
    if len(pattern) < 6 or len(theirs) < 6 or PLACEHOLDER.search(wanted):
        return False
    return fnmatch.fnmatchcase(theirs[2], pattern[2]) and fnmatch.fnmatchcase(theirs[5], pattern[5])


def allowed_on(documents: list[Any], action: str, wanted: str) -> list[dict[str, Any]]:
    return [
        s
        for d in documents
        for s in statements(d)
        if allows(s, action) and any(covers(r, wanted) for r in as_list(s.get("Resource")))
    ]


def passed_to_sagemaker(statement: dict[str, Any]) -> bool:
    conditions = statement.get("Condition") or {}
    return any(
        SAGEMAKER in as_list((conditions.get(operator) or {}).get("iam:PassedToService"))
        for operator in ("StringEquals", "StringLike", "ForAnyValue:StringEquals")
    )


def passed_roles(task: Task) -> list[str]:
    """The ARNs (as text) of the roles a SageMaker task hands to SageMaker."""
    if task.service != "sagemaker":
        return []
    holders = [task.parameters, *job_definitions(task)]
    return [text_of(h["RoleArn"]) for h in holders if isinstance(h.get("RoleArn"), str | dict)]


def problems(stack: Stack, role: Resource, task: Task) -> list[str]:
    documents = role_documents(stack, role)
    found = [a for a in required_actions(task) if not any(allows(s, a) for d in documents for s in statements(d))]
    if task.service == "sagemaker" and task.pattern.startswith("sync") and task.action in SYNC_RULES:
        rule = f"rule/{SYNC_RULES[task.action]}"
        found += [
            f"{a} on {rule}" for a in SYNC_RULE_ACTIONS if not allowed_on(documents, a, f"arn:aws:events:::{rule}")
        ]
    for passed in passed_roles(task):
        grants = allowed_on(documents, "iam:PassRole", passed)
        if not grants:
            found.append(f"iam:PassRole on {passed}")
        elif not any(passed_to_sagemaker(g) for g in grants):
            found.append(f"an iam:PassedToService = {SAGEMAKER} condition on iam:PassRole of {passed}")
    return found


def check(stack: Stack) -> Iterator[Outcome]:
    def check_machine(machine: Resource, definition: dict[str, Any]) -> Outcome | None:
        role = stack.get(target_of(machine.prop("RoleArn")))
        if role is None:
            return None
        lacking = [
            f"state '{task.name}' ({task.integration}) needs {', '.join(found)}"
            for task in tasks(definition)
            if (found := problems(stack, role, task))
        ]
        return Outcome(machine, f"role {role.path}: {'; '.join(lacking)}" if lacking else None)

    return each_definition(stack, check_machine)


RULE = Rule(
    id="RDY-SF2",
    title="State machine roles allow every task's calls, .sync integrations included",
    explanation=(
        "Step Functions calls each task's API with the state machine's role at run time, so a missing "
        "permission passes every deploy and fails the execution hours later. A .sync SageMaker job also needs "
        "its describe/stop actions, the managed EventBridge rule StepFunctionsGetEventsForSageMaker...Rule "
        "(events:PutRule, PutTargets, DescribeRule), sagemaker:AddTags when it tags the job, and iam:PassRole "
        "on the job's role limited by iam:PassedToService to sagemaker.amazonaws.com."
    ),
    fix=(
        "Add the named actions to the role's policy (scoped to the job ARNs, the managed rule's ARN and the "
        "job role), with Condition StringEquals iam:PassedToService: sagemaker.amazonaws.com on iam:PassRole."
    ),
    check=check,
)
