"""Job names a state machine derives at run time fit SageMaker's limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._stepfunctions import SAGEMAKER_JOBS, Task, each_sagemaker_job, states

HASH_LENGTHS = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-384": 96, "SHA-512": 128}
# Context object fields with a documented maximum length.
CONTEXT_LENGTHS = {"$$.Execution.Name": 80, "$$.StateMachine.Name": 80, "$$.State.Name": 80}
UUID_LENGTH = 36


def split_arguments(text: str) -> list[str]:
    """The top-level comma-separated arguments of an intrinsic call (quotes and nesting respected)."""
    arguments, depth, quoted, current = [], 0, False, ""
    index = 0
    while index < len(text):
        char = text[index]
        if quoted and char == "\\":
            current += text[index : index + 2]
            index += 2
            continue
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            arguments.append(current.strip())
            current = ""
            index += 1
            continue
        current += char
        index += 1
    if current.strip():
        arguments.append(current.strip())
    return arguments


def literal(text: str) -> str | None:
    """The text of a quoted intrinsic argument ('...'), else None."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("\\'", "'").replace("\\{", "{").replace("\\}", "}")
    return None


def longest(expression: str, resolve: Callable[[str], int | None]) -> int | None:
    """The longest string `expression` (an intrinsic, path or quoted literal) can produce; None if unbounded."""
    expression = expression.strip()
    quoted = literal(expression)
    if quoted is not None:
        return len(quoted)
    if expression in CONTEXT_LENGTHS:
        return CONTEXT_LENGTHS[expression]
    if expression.startswith("$") and not expression.startswith("$$"):
        return resolve(expression)
    name, _, rest = expression.partition("(")
    if not rest.endswith(")"):
        return None
    arguments = split_arguments(rest[:-1])
    if name == "States.UUID":
        return UUID_LENGTH
    if name == "States.Hash" and len(arguments) == 2:
        return HASH_LENGTHS.get(literal(arguments[1]) or "")
    if name == "States.Format" and arguments and (template := literal(arguments[0])) is not None:
        parts = [longest(a, resolve) for a in arguments[1:]]
        if any(p is None for p in parts):
            return None
        return len(template) - 2 * template.count("{}") + sum(p for p in parts if p is not None)
    if name == "States.ArrayGetItem" and arguments and arguments[0].startswith("States.StringSplit("):
        inner = split_arguments(arguments[0][len("States.StringSplit(") : -1])
        return longest(inner[0], resolve) if inner else None
    return None


def producers(definition: dict[str, Any]) -> dict[str, Any]:
    """Paths that Pass states fill (`ResultPath` + key) -> the expression or literal they put there."""
    found: dict[str, Any] = {}
    for _, state in states(definition):
        if state.get("Type") != "Pass":
            continue
        base = str(state.get("ResultPath", "$")).rstrip(".")
        for key, item in (state.get("Parameters") or state.get("Result") or {}).items():
            if key.endswith(".$"):
                found[f"{base}.{key[:-2]}"] = item
            elif isinstance(item, str):
                found[f"{base}.{key}"] = f"'{item}'"
    return found


def name_length(parameters: dict[str, Any], key: str, filled: dict[str, Any]) -> int | None:
    if isinstance(parameters.get(key), str):
        return len(parameters[key])
    expression = parameters.get(f"{key}.$")
    if not isinstance(expression, str):
        return None

    def resolve(path: str, seen: frozenset[str] = frozenset()) -> int | None:
        if path in seen or path not in filled:
            return None
        return longest(str(filled[path]), lambda p: resolve(p, seen | {path}))

    return longest(expression, resolve)


def problem(task: Task, definition: dict[str, Any]) -> str | None:
    key, limit = SAGEMAKER_JOBS[task.action]
    length = name_length(task.parameters, key, producers(definition))
    if length is None:
        return f"state '{task.name}': the length of {key} cannot be bounded (limit {limit})"
    if length > limit:
        return f"state '{task.name}': {key} may be {length} characters (limit {limit})"
    return None


def check(stack: Stack) -> Iterator[Outcome]:
    return each_sagemaker_job(stack, problem)


RULE = Rule(
    id="RDY-SF3",
    title="Job names derived by state machines fit SageMaker's limits",
    explanation=(
        "SageMaker rejects a job whose name is too long (a hyperparameter tuning job name is at most 32 "
        "characters, because its training jobs append -NNN-<8 characters> within 63; training, transform and "
        "processing job names at most 63). A name built from the execution at run time passes every deploy "
        "and fails the execution; a name whose length cannot be bounded (such as the execution ARN) will."
    ),
    fix=(
        "Derive the name with a bounded expression, e.g. States.Hash($$.Execution.Id, 'MD5') (32 characters) "
        "or States.Format('prefix-{}', States.UUID()) within the limit, in the task or in a Pass state."
    ),
    check=check,
)
