"""Autoscaled endpoints keep the instance count autoscaling set."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, as_list, dig
from readiness.rules._sagemaker import scaled_endpoints


def check(stack: Stack) -> Iterator[Outcome]:
    for endpoint_id in scaled_endpoints(stack):
        endpoint = stack.resources[endpoint_id]
        excluded = {dig(p, "VariantPropertyType") for p in as_list(endpoint.prop("ExcludeRetainedVariantProperties"))}
        problem = None
        if endpoint.prop("RetainAllVariantProperties") is not True:
            problem = "RetainAllVariantProperties is not true"
        elif "DesiredInstanceCount" in excluded:
            problem = "ExcludeRetainedVariantProperties drops DesiredInstanceCount"
        yield Outcome(endpoint, problem)


RULE = Rule(
    id="RDY-SM2",
    title="Autoscaled SageMaker endpoints retain variant properties",
    explanation=(
        "Without RetainAllVariantProperties every endpoint update resets each variant to the config's "
        "InitialInstanceCount, undoing what autoscaling scaled out to in the middle of traffic; Application "
        "Auto Scaling may also block the update while a scaling activity runs."
    ),
    fix=(
        "Set retain_all_variant_properties=True on CfnEndpoint (exclude only DesiredWeight/DataCaptureConfig "
        "if those must follow the config)."
    ),
    check=check,
)
