"""Endpoint variants scale between at least two instances and their maximum."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._sagemaker import variant_targets

MIN_INSTANCES = 2


def check(stack: Stack) -> Iterator[Outcome]:
    for target in variant_targets(stack):
        low, high = target.prop("MinCapacity"), target.prop("MaxCapacity")
        if not isinstance(low, int) or not isinstance(high, int):
            yield Outcome(target, f"MinCapacity {low!r} / MaxCapacity {high!r} are not literal integers")
        elif not MIN_INSTANCES <= low <= high:
            yield Outcome(target, f"needs {MIN_INSTANCES} <= MinCapacity ({low}) <= MaxCapacity ({high})")
        else:
            yield Outcome(target)


RULE = Rule(
    id="RDY-SM7",
    title="Autoscaling keeps 2 <= min <= max instances",
    explanation=(
        "Application Auto Scaling rejects MinCapacity > MaxCapacity at registration; below two instances "
        "SageMaker cannot spread the variant over Availability Zones, so one AZ event takes the endpoint down."
    ),
    fix="Set min_capacity >= 2 and max_capacity >= min_capacity for every variant.",
    check=check,
)
