"""SageMaker deployment guardrails: the documented limits of an endpoint update, in one place.

An endpoint update either provisions the new (green) fleet beside the old (blue) one and
shifts traffic to it all at once, to a canary first, or in linear steps, or it replaces
the fleet in rolling batches. After each step SageMaker waits (the baking period) while
the rollback alarms watch the new fleet; an alarm in ALARM rolls the update back.

The stage config refuses settings outside these limits at synth (one line naming the
key), and readiness rule RDY-SM10 checks the synthesized `DeploymentConfig` against the
same numbers. Sources, SageMaker API reference: `TrafficRoutingConfig` (canary size at
most 50% of the variant's instance count, linear steps 10-50%, wait 0-3600 s),
`RollingUpdatePolicy` (batches 5-50%, wait 0-3600 s, timeout 600-28800 s),
`BlueGreenUpdatePolicy` (termination wait 0-3600 s, timeout 600-28800 s and "larger
than the total waiting time"); developer guide, "Exclusions" of deployment guardrails
(Inf1 instances and Marketplace containers fall back to all-at-once without baking or
rollback; rolling updates also exclude multi-variant and serverless endpoints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stacks import instance_types

ALL_AT_ONCE, CANARY, LINEAR, ROLLING = "ALL_AT_ONCE", "CANARY", "LINEAR", "ROLLING"
BLUE_GREEN = (ALL_AT_ONCE, CANARY, LINEAR)
INSTANCE_COUNT, CAPACITY_PERCENT = "INSTANCE_COUNT", "CAPACITY_PERCENT"
WAIT_SECONDS = (0, 3600)
TERMINATION_WAIT_SECONDS = (0, 3600)
MAX_EXECUTION_TIMEOUT_SECONDS = (600, 28800)
# The share of a variant's instances one step may turn on, in percent (lowest, highest).
STEP_SHARE = {CANARY: (1, 50), LINEAR: (10, 50), ROLLING: (5, 50)}
STEP_NAME = {CANARY: "canary size", LINEAR: "linear step", ROLLING: "rolling batch"}
# Instance families whose endpoints the guardrails exclude (updates fall back to all at once).
EXCLUDED_FAMILIES = ("inf1",)


@dataclass(frozen=True)
class Fleet:
    """One production variant as an update sees it: its name and how many instances it may run."""

    variant: str
    instance_type: str
    fewest: int  # instances at the start of an update (autoscaling may have added more)
    most: int


def excluded(instance_type: object) -> bool:
    """Whether the guardrails exclude endpoints with this instance type (Inf1)."""
    parsed = instance_types.parse(instance_type)
    return parsed is not None and parsed.family in EXCLUDED_FAMILIES


def step_problem(kind: str, size: int, unit: str, fleet: Fleet) -> str | None:
    """Why a step of `size` (`unit`) is outside the documented share of `fleet`, or None."""
    low, high = STEP_SHARE[kind]
    name = STEP_NAME[kind]
    if fleet.fewest < 2:
        return f"{name} needs at least 2 instances in variant {fleet.variant} (it may run {fleet.fewest})"
    if unit == CAPACITY_PERCENT:
        if not low <= size <= high:
            return f"{name} must be {low} to {high} percent of variant {fleet.variant}'s instances"
        return None
    if size * 100 > high * fleet.fewest:
        return (
            f"{name} must be at most {high}% of variant {fleet.variant}'s instances: at most "
            f"{high * fleet.fewest // 100} of the {fleet.fewest} it may run"
        )
    if size * 100 < low * fleet.most:
        return (
            f"{name} must be at least {low}% of variant {fleet.variant}'s instances: at least "
            f"{math.ceil(low * fleet.most / 100)} of the {fleet.most} it may run"
        )
    return None


def steps(kind: str, size: int | None, unit: str, fleet: Fleet) -> int:
    """How many traffic steps (each followed by a baking period) an update of `fleet` takes, at most."""
    if kind == ALL_AT_ONCE or size is None:
        return 1
    if kind == CANARY:
        return 2
    if unit == CAPACITY_PERCENT:
        return math.ceil(100 / size)
    return math.ceil(fleet.most / size)


def waiting_seconds(
    kind: str, size: int | None, unit: str, wait: int, termination_wait: int, fleets: Sequence[Fleet]
) -> int:
    """The longest total waiting of an update: a baking period after every step, then the termination wait."""
    most_steps = max((steps(kind, size, unit, fleet) for fleet in fleets), default=1)
    return most_steps * wait + termination_wait


def batch_instances(size: int, unit: str, instances: int) -> int:
    """The instances one step turns on in a variant of `instances` (a percentage rounds up)."""
    return math.ceil(size * instances / 100) if unit == CAPACITY_PERCENT else size
