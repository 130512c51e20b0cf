"""Endpoint configs are immutable: no fixed physical name."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._sagemaker import ENDPOINT_CONFIG


def check(stack: Stack) -> Iterator[Outcome]:
    for config in stack.of_type(ENDPOINT_CONFIG):
        name = config.prop("EndpointConfigName")
        yield Outcome(config, None if name is None else f"EndpointConfigName is fixed ({name})")


RULE = Rule(
    id="RDY-SM1",
    title="SageMaker endpoint configs have no fixed name",
    explanation=(
        "Every change to an endpoint config replaces it; CloudFormation creates the new one before deleting "
        "the old, so a fixed EndpointConfigName makes the update fail with 'Cannot create already existing "
        "endpoint configuration'."
    ),
    fix="Remove endpoint_config_name and pass attr_endpoint_config_name to the endpoint.",
    check=check,
)
