"""What the SageMaker rules share: endpoints, their configs, variants and scalable targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.model import Resource, Stack, as_list, getattr_of, references

ENDPOINT = "AWS::SageMaker::Endpoint"
ENDPOINT_CONFIG = "AWS::SageMaker::EndpointConfig"
SCALABLE_TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def variant_targets(stack: Stack) -> list[Resource]:
    """Scalable targets that scale the instance count of an endpoint variant."""
    return [
        t
        for t in stack.of_type(SCALABLE_TARGET)
        if t.prop("ServiceNamespace") == "sagemaker" and t.prop("ScalableDimension") == VARIANT_DIMENSION
    ]


def scaled_endpoints(stack: Stack) -> dict[str, list[Resource]]:
    """Endpoint logical id -> the scalable targets that reference it."""
    found: dict[str, list[Resource]] = {}
    for target in variant_targets(stack):
        for name in references(target.prop("ResourceId")):
            if (resource := stack.get(name)) is not None and resource.type == ENDPOINT:
                found.setdefault(name, []).append(target)
    return found


def config_of(stack: Stack, endpoint: Resource) -> Resource | None:
    name = endpoint.prop("EndpointConfigName")
    attribute = getattr_of(name)
    config = stack.get(attribute[0]) if attribute else stack.resolve(name)
    if config is None:
        config = next((c for c in stack.of_type(ENDPOINT_CONFIG) if c.prop("EndpointConfigName") == name), None)
    return config if config is not None and config.type == ENDPOINT_CONFIG else None


def variants(config: Resource) -> Iterator[dict[str, Any]]:
    for variant in as_list(config.prop("ProductionVariants")):
        if isinstance(variant, dict):
            yield variant
