"""Scalable targets name the real endpoint and variant, and wait for the endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, dig, text_of
from readiness.rules._sagemaker import ENDPOINT, config_of, variant_targets, variants


def _endpoint(stack: Stack, resource_id: object) -> Resource | None:
    parts = dig(resource_id, "Fn::Join", 1)
    candidates = parts if isinstance(parts, list) else [dig(resource_id, "Fn::Sub")]
    for part in candidates:
        attribute = dig(part, "Fn::GetAtt")
        if isinstance(attribute, list) and attribute[1:] == ["EndpointName"]:
            resource = stack.get(attribute[0])
            if resource is not None and resource.type == ENDPOINT:
                return resource
    if isinstance(resource_id, dict) and "Fn::Sub" in resource_id:
        for resource in stack.of_type(ENDPOINT):
            if f"${{{resource.logical_id}.EndpointName}}" in text_of(resource_id):
                return resource
    return None


def check(stack: Stack) -> Iterator[Outcome]:
    for target in variant_targets(stack):
        resource_id = target.prop("ResourceId")
        endpoint = _endpoint(stack, resource_id)
        if endpoint is None:
            yield Outcome(target, f"ResourceId {text_of(resource_id)} does not use Fn::GetAtt <Endpoint>.EndpointName")
            continue
        problems = []
        variant = text_of(resource_id).rsplit("/variant/", 1)[-1] if "/variant/" in text_of(resource_id) else None
        config = config_of(stack, endpoint)
        names = {v.get("VariantName") for v in variants(config)} if config else set()
        if config is not None and variant not in names:
            problems.append(
                f"variant {variant!r} is not a production variant of {config.path} ({sorted(map(str, names))})"
            )
        if not stack.depends_on(target.logical_id, endpoint.logical_id):
            problems.append(f"does not depend on {endpoint.logical_id}")
        yield Outcome(target, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-SM3",
    title="Scalable targets reference the real endpoint and variant",
    explanation=(
        "Application Auto Scaling validates the resource id when the target is registered: a literal or "
        "guessed endpoint name, a wrong variant, or registering before the endpoint is InService fails with "
        "'The endpoint ... does not exist' or leaves scaling attached to nothing after a replacement."
    ),
    fix=(
        "Build resource_id as f'endpoint/{endpoint.attr_endpoint_name}/variant/{name}' with a variant name "
        "of the endpoint config; the GetAtt orders the target after the endpoint."
    ),
    check=check,
)
