"""An endpoint's deployment guardrails stay within SageMaker's documented limits.

cfn-lint checks each number against the resource schema on its own; SageMaker also
rejects, or silently ignores, combinations the schema cannot express
(`stacks.guardrails` cites the API reference and the "Exclusions" page of deployment
guardrails in the SageMaker developer guide):

- one update policy, blue/green or rolling, not both; a traffic routing type with its size
  (CANARY needs CanarySize, LINEAR LinearStepSize) and a wait interval, which the API
  requires;
- a canary at most 50% of each variant's instances, linear steps 10-50%, rolling batches
  5-50%, for every instance count autoscaling may have left the variant at;
- waits of 0-3600 s, an execution timeout of 600-28800 s that is longer than all the waits;
- no rolling update of a multi-variant endpoint, and no guardrails on Inf1 instances (the
  update falls back to all at once, without baking or rollback).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, dig
from readiness.rules._sagemaker import ENDPOINT, fleets
from stacks import guardrails


def _within(name: str, value: Any, bounds: tuple[int, int], problems: list[str]) -> None:
    if value is None:
        return
    low, high = bounds
    if not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{name} {value!r} is outside {low}-{high}")


def _step(kind: str, size: Any, fleets_: list[guardrails.Fleet], problems: list[str]) -> tuple[int | None, str]:
    """Check a CapacitySize of `kind` against every variant; its value and unit when literal."""
    value, unit = dig(size, "Value"), dig(size, "Type")
    if unit not in (guardrails.INSTANCE_COUNT, guardrails.CAPACITY_PERCENT) or not isinstance(value, int):
        problems.append(f"{guardrails.STEP_NAME[kind]} {size!r} is not an INSTANCE_COUNT or CAPACITY_PERCENT value")
        return None, guardrails.INSTANCE_COUNT
    problems += [p for f in fleets_ if (p := guardrails.step_problem(kind, value, unit, f))]
    return value, unit


def problems_of(stack: Stack, endpoint: Resource) -> list[str]:
    deployment = endpoint.prop("DeploymentConfig")
    blue_green, rolling = dig(deployment, "BlueGreenUpdatePolicy"), dig(deployment, "RollingUpdatePolicy")
    fleets_ = fleets(stack, endpoint)
    problems = [
        f"variant {f.variant} runs on {f.instance_type}, which deployment guardrails exclude"
        for f in fleets_
        if guardrails.excluded(f.instance_type)
    ]
    if blue_green and rolling:
        return [*problems, "sets both BlueGreenUpdatePolicy and RollingUpdatePolicy; SageMaker takes one"]
    policy = blue_green or rolling
    if not policy:
        return problems
    wait = (
        dig(policy, "TrafficRoutingConfiguration", "WaitIntervalInSeconds")
        if blue_green
        else dig(policy, "WaitIntervalInSeconds")
    )
    if wait is None:
        problems.append("has no WaitIntervalInSeconds, which SageMaker requires")
    _within("WaitIntervalInSeconds", wait, guardrails.WAIT_SECONDS, problems)
    termination = dig(policy, "TerminationWaitInSeconds") if blue_green else None
    _within("TerminationWaitInSeconds", termination, guardrails.TERMINATION_WAIT_SECONDS, problems)
    timeout = dig(policy, "MaximumExecutionTimeoutInSeconds")
    _within("MaximumExecutionTimeoutInSeconds", timeout, guardrails.MAX_EXECUTION_TIMEOUT_SECONDS, problems)
    size: int | None = None
    unit = guardrails.INSTANCE_COUNT
    if blue_green:
        kind = dig(policy, "TrafficRoutingConfiguration", "Type")
        sizes = {guardrails.CANARY: "CanarySize", guardrails.LINEAR: "LinearStepSize"}
        if kind not in guardrails.BLUE_GREEN:
            problems.append(f"traffic routing type {kind!r} is not one of {list(guardrails.BLUE_GREEN)}")
        elif kind in sizes:
            step = dig(policy, "TrafficRoutingConfiguration", sizes[kind])
            if step is None:
                problems.append(f"{kind} traffic routing has no {sizes[kind]}")
            else:
                size, unit = _step(kind, step, fleets_, problems)
    else:
        kind = guardrails.ROLLING
        if len(fleets_) > 1:
            problems.append(f"rolling update of {len(fleets_)} variants: SageMaker excludes multi-variant endpoints")
        size, unit = _step(kind, dig(policy, "MaximumBatchSize"), fleets_, problems)
    if all(isinstance(v, int) for v in (wait, timeout)) and isinstance(termination, int | None):
        waiting = guardrails.waiting_seconds(str(kind), size, unit, wait, termination or 0, fleets_)
        if timeout <= waiting:
            problems.append(f"MaximumExecutionTimeoutInSeconds {timeout} is not longer than the waits ({waiting} s)")
    return problems


def check(stack: Stack) -> Iterator[Outcome]:
    for endpoint in stack.of_type(ENDPOINT):
        if endpoint.prop("DeploymentConfig") is not None:
            yield Outcome(endpoint, "; ".join(problems_of(stack, endpoint)) or None)


RULE = Rule(
    id="RDY-SM10",
    title="Endpoint deployment guardrails within SageMaker's limits",
    explanation=(
        "SageMaker rejects an update whose canary exceeds half a variant's instances, whose linear steps or "
        "rolling batches fall outside 10-50% / 5-50%, whose waits exceed 3600 s or whose timeout (600-28800 s) "
        "does not outlast its waits; on Inf1 instances and multi-variant rolling updates the guardrails do not "
        "apply, so the update is not the one reviewed."
    ),
    fix=(
        "Set inference.deployment within the limits docs/configuration.md lists (the stage config refuses the "
        "rest at synth), or use a blue/green mode for several variants."
    ),
    check=check,
)
