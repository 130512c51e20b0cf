"""What the Step Functions rules share: reading a state machine's definition and its tasks.

No linter looks inside `DefinitionString`; these helpers parse it. A definition is a JSON
string, a `Fn::Join` of JSON fragments and intrinsics, or a `Fn::Sub`; intrinsics and
`DefinitionSubstitutions` are rendered as `${LogicalId}` / `${LogicalId.Attr}` text so a
rule can follow them back to the resources of the stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from readiness.core import Outcome
from readiness.model import Resource, Stack, as_list, text_of

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
RESOURCE_ARN = re.compile(
    r"arn:[^:]*:states:::(?P<sdk>aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
    r"(?:\.(?P<pattern>sync(?::2)?|waitForTaskToken))?"
)
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
# Training, tuning and transform jobs: the name parameter, its longest allowed value and
# where their job definition lives in the parameters (a tuning job nests it).
SAGEMAKER_JOBS = {
    "createTrainingJob": ("TrainingJobName", 63),
    "createHyperParameterTuningJob": ("HyperParameterTuningJobName", 32),
    "createTransformJob": ("TransformJobName", 63),
    "createProcessingJob": ("ProcessingJobName", 63),
}


@dataclass(frozen=True)
class Task:
    """One Task state and the integration its `Resource` names."""

    name: str
    state: dict[str, Any]
    service: str
    action: str
    sdk: bool  # aws-sdk:<service>:<action> rather than an optimized integration
    pattern: str  # "", "sync", "sync:2" or "waitForTaskToken"

    @property
    def parameters(self) -> dict[str, Any]:
        parameters = self.state.get("Parameters") or {}
        return parameters if isinstance(parameters, dict) else {}

    @property
    def integration(self) -> str:
        suffix = f".{self.pattern}" if self.pattern else ""
        return f"{'aws-sdk:' if self.sdk else ''}{self.service}:{self.action}{suffix}"


def _escaped(text: str) -> str:
    """`text` as the inside of a JSON string."""
    return json.dumps(text)[1:-1]


def each_sagemaker_job(stack: Stack, problem: Callable[[Task, dict[str, Any]], str | None]) -> Iterator[Outcome]:
    """Per state machine that creates SageMaker jobs, the `problem` of each job task (given
    the task and the whole definition), joined; machines without such tasks are not applicable."""

    def check(machine: Resource, definition: dict[str, Any]) -> Outcome | None:
        jobs = list(sagemaker_jobs(definition))
        if not jobs:
            return None
        found = [text for task in jobs if (text := problem(task, definition))]
        return Outcome(machine, "; ".join(found) or None)

    return each_definition(stack, check)


def definition_text(machine: Resource) -> str | None:
    """The definition as JSON text, with intrinsics and substitutions rendered as `${...}`."""
    body = machine.prop("DefinitionString")
    if body is None:
        definition = machine.prop("Definition")
        return json.dumps(definition) if definition is not None else None
    text: str | None = body if isinstance(body, str) else None
    if isinstance(body, dict) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]
        text = str(separator).join(p if isinstance(p, str) else _escaped(text_of(p)) for p in as_list(parts))
    elif isinstance(body, dict) and "Fn::Sub" in body:
        sub = body["Fn::Sub"]
        text = sub if isinstance(sub, str) else str(sub[0])
    if text is None:
        return None
    substitutions = machine.prop("DefinitionSubstitutions") or {}
    return PLACEHOLDER.sub(
        lambda m: _escaped(text_of(substitutions[m.group(1)])) if m.group(1) in substitutions else m.group(0), text
    )


def definition_of(machine: Resource) -> dict[str, Any] | None:
    """The parsed definition, or None when it is not readable JSON."""
    text = definition_text(machine)
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those of Parallel branches and Map iterators."""
    for name, state in (definition.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        yield name, state
        for branch in as_list(state.get("Branches")):
            if isinstance(branch, dict):
                yield from states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), dict):
                yield from states(state[key])


def tasks(definition: dict[str, Any]) -> Iterator[Task]:
    for name, state in states(definition):
        match = RESOURCE_ARN.fullmatch(str(state.get("Resource", ""))) if state.get("Type") == "Task" else None
        if match:
            yield Task(
                name,
                state,
                match.group("service"),
                match.group("action"),
                bool(match.group("sdk")),
                match.group("pattern") or "",
            )


def sagemaker_jobs(definition: dict[str, Any]) -> Iterator[Task]:
    """Tasks that create a SageMaker training, tuning, transform or processing job."""
    for task in tasks(definition):
        if task.service == "sagemaker" and task.action in SAGEMAKER_JOBS:
            yield task


def value(parameters: dict[str, Any], key: str) -> Any:
    """A parameter given literally (`Key`) or as a path/intrinsic (`Key.$`), else None."""
    if key in parameters:
        return parameters[key]
    return parameters.get(f"{key}.$")


def job_definitions(task: Task) -> list[dict[str, Any]]:
    """The training job definitions of a task: itself, or what a tuning job nests."""
    parameters = task.parameters
    if task.action != "createHyperParameterTuningJob":
        return [parameters]
    nested = [parameters.get("TrainingJobDefinition"), *as_list(parameters.get("TrainingJobDefinitions"))]
    return [d for d in nested if isinstance(d, dict)]


UNREADABLE = "the definition is not readable JSON (an intrinsic this checker cannot render), so its tasks are unchecked"


def each_definition(stack: Stack, check: Callable[[Resource, dict[str, Any]], Outcome | None]) -> Iterator[Outcome]:
    """`check` on every state machine of the stack and its parsed definition (None: not
    applicable); a definition that cannot be read is a problem, since nothing in it was checked."""
    for machine in stack.of_type(STATE_MACHINE):
        definition = definition_of(machine)
        outcome = Outcome(machine, UNREADABLE) if definition is None else check(machine, definition)
        if outcome is not None:
            yield outcome
