"""What a deployed endpoint serves right now, read from SageMaker.

The promotion tool shows it beside what cdk.json pins; the smoke run checks after a
promotion that the endpoint runs the endpoint config its stack deployed and that each
variant's model is the one the stage config names (a registered package, by ARN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.model_source import ModelSource


@dataclass(frozen=True)
class LiveVariant:
    """One production variant of the running endpoint config."""

    name: str
    instance_type: str
    model_name: str
    source: ModelSource


@dataclass(frozen=True)
class LiveEndpoint:
    """The endpoint's status, the config it runs and what each variant serves."""

    name: str
    status: str
    config_name: str
    variants: dict[str, LiveVariant]
    failure: str = ""

    def describe(self, variant: str) -> str:
        found = self.variants.get(variant)
        return str(found.source) if found else "(no such variant)"


def source_of(model: dict[str, Any]) -> ModelSource:
    """The model's source from DescribeModel: a package, else its artifact (the bundled asset is an S3 URL too)."""
    container: dict[str, Any] = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    if container.get("ModelPackageName"):
        return ModelSource("model_package", str(container["ModelPackageName"]))
    return ModelSource("model_data_url", container.get("ModelDataUrl"))


def live_endpoint(sagemaker: Any, name: str) -> LiveEndpoint | None:
    """The endpoint `name` as SageMaker runs it, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if "Could not find" in str(error) or "ValidationException" in str(error):
            return None
        raise
    config_name = str(endpoint["EndpointConfigName"])
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants = {}
    for variant in config.get("ProductionVariants", []):
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        variants[variant["VariantName"]] = LiveVariant(
            name=variant["VariantName"],
            instance_type=str(variant.get("InstanceType", "")),
            model_name=str(variant["ModelName"]),
            source=source_of(model),
        )
    return LiveEndpoint(
        name=name,
        status=str(endpoint.get("EndpointStatus", "")),
        config_name=config_name,
        variants=variants,
        failure=str(endpoint.get("FailureReason", "")),
    )
