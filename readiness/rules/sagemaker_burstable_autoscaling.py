"""Burstable instances (the ml.t series, not ml.trn) cannot autoscale."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._sagemaker import config_of, scaled_endpoints, variants
from stacks.instance_types import is_burstable


def check(stack: Stack) -> Iterator[Outcome]:
    for endpoint_id in scaled_endpoints(stack):
        config = config_of(stack, stack.resources[endpoint_id])
        if config is None:
            continue
        burstable = sorted(
            f"{v.get('VariantName')}={v.get('InstanceType')}"
            for v in variants(config)
            if is_burstable(v.get("InstanceType"))
        )
        yield Outcome(config, f"autoscaled variants on burstable instances: {burstable}" if burstable else None)


RULE = Rule(
    id="RDY-SM4",
    title="Autoscaled endpoints use no burstable instance types",
    explanation=(
        "SageMaker does not support automatic scaling for burstable ml.t* instances: registering the scalable "
        "target fails with a ValidationException and the stack rolls back."
    ),
    fix="Use a non-burstable instance type (e.g. ml.m5.large) or drop autoscaling for that variant.",
    check=check,
)
