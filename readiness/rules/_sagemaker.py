"""What the SageMaker rules share: endpoints, their configs, variants and scalable targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.model import Resource, Stack, as_list, getattr_of, references, text_of
from stacks import guardrails

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


def target_variant(target: Resource) -> str | None:
    """The variant a scalable target's ResourceId names (`endpoint/<name>/variant/<variant>`)."""
    text = text_of(target.prop("ResourceId"))
    return text.rsplit("/variant/", 1)[-1] if "/variant/" in text else None


def scaled_variants(stack: Stack, endpoint: Resource) -> dict[str, Resource]:
    """Variant name -> the scalable target that autoscales it, for one endpoint."""
    found = {}
    for target in scaled_endpoints(stack).get(endpoint.logical_id, []):
        variant = target_variant(target)
        if variant is not None:
            found[variant] = target
    return found


def fleets(stack: Stack, endpoint: Resource) -> list[guardrails.Fleet]:
    """Each variant of the endpoint as an update finds it: from its initial instances up to what
    autoscaling may add (the scalable target's MaxCapacity)."""
    config = config_of(stack, endpoint)
    if config is None:
        return []
    scaled = scaled_variants(stack, endpoint)
    found = []
    for variant in variants(config):
        name, count = str(variant.get("VariantName")), variant.get("InitialInstanceCount")
        if not isinstance(count, int):
            continue
        most = scaled[name].prop("MaxCapacity") if name in scaled else count
        found.append(
            guardrails.Fleet(name, str(variant.get("InstanceType")), count, most if isinstance(most, int) else count)
        )
    return found
