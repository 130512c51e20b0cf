"""SageMaker deploy-readiness rules: a violating and a compliant minimal template each."""

from __future__ import annotations

from typing import Any

from readiness.rules import (
    sagemaker_burstable_autoscaling,
    sagemaker_capacity_bounds,
    sagemaker_endpoint_config_name,
    sagemaker_nvme_volume_key,
    sagemaker_retain_variant_properties,
    sagemaker_scalable_target_endpoint,
    sagemaker_volume_key_policy,
)
from tests.readiness.helpers import allow, arn, compliant, key, problems, res, role, template


def config(instance_type: str = "ml.m5.large", kms: bool = True, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ProductionVariants": [
            {
                "VariantName": "primary",
                "ModelName": arn("Model", "ModelName"),
                "InstanceType": instance_type,
                "InitialInstanceCount": 2,
            }
        ],
        **extra,
    }
    if kms:
        props["KmsKeyId"] = arn("Key")
    return res("AWS::SageMaker::EndpointConfig", **props)


def endpoint(retain: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {"EndpointConfigName": arn("Config", "EndpointConfigName")}
    if retain:
        props["RetainAllVariantProperties"] = True
    return res("AWS::SageMaker::Endpoint", **props)


def target(resource_id: Any = None, low: int = 2, high: int = 4) -> dict[str, Any]:
    return res(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        ServiceNamespace="sagemaker",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        ResourceId=resource_id
        or {"Fn::Join": ["", ["endpoint/", arn("Endpoint", "EndpointName"), "/variant/primary"]]},
        MinCapacity=low,
        MaxCapacity=high,
    )


def stack(**overrides: dict[str, Any]) -> dict[str, Any]:
    execution = {"Effect": "Allow", "Principal": {"AWS": arn("ExecRole")}, "Resource": "*"}
    resources = {
        "ExecRole": role("sagemaker.amazonaws.com"),
        "Key": key({**execution, "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*"]}),
        "Model": res("AWS::SageMaker::Model", ExecutionRoleArn=arn("ExecRole")),
        "Config": config(),
        "Endpoint": endpoint(),
        "Target": target(),
    }
    return template(**{**resources, **overrides})


def test_the_reference_stack_passes_every_sagemaker_rule() -> None:
    for module in (
        sagemaker_endpoint_config_name,
        sagemaker_retain_variant_properties,
        sagemaker_scalable_target_endpoint,
        sagemaker_burstable_autoscaling,
        sagemaker_nvme_volume_key,
        sagemaker_volume_key_policy,
        sagemaker_capacity_bounds,
    ):
        assert problems(module.RULE, stack()) == [], module.RULE.id
        assert compliant(module.RULE, stack()), module.RULE.id


def test_sm1_endpoint_config_has_no_fixed_name() -> None:
    bad = stack(Config=config(EndpointConfigName="my-config"))
    assert problems(sagemaker_endpoint_config_name.RULE, bad) == ["Config: EndpointConfigName is fixed (my-config)"]


def test_sm2_autoscaled_endpoint_retains_variant_properties() -> None:
    assert problems(sagemaker_retain_variant_properties.RULE, stack(Endpoint=endpoint(retain=False))) == [
        "Endpoint: RetainAllVariantProperties is not true"
    ]
    excluded = endpoint()
    excluded["Properties"]["ExcludeRetainedVariantProperties"] = [{"VariantPropertyType": "DesiredInstanceCount"}]
    assert problems(sagemaker_retain_variant_properties.RULE, stack(Endpoint=excluded))
    # Without autoscaling the rule does not apply.
    unscaled = stack(Endpoint=endpoint(retain=False))
    del unscaled["Resources"]["Target"]
    assert compliant(sagemaker_retain_variant_properties.RULE, unscaled) == []


def test_sm3_scalable_target_names_the_real_endpoint_and_variant() -> None:
    literal = stack(Target=target("endpoint/my-endpoint/variant/primary"))
    (found,) = problems(sagemaker_scalable_target_endpoint.RULE, literal)
    assert "Fn::GetAtt <Endpoint>.EndpointName" in found
    wrong_variant = {"Fn::Join": ["", ["endpoint/", arn("Endpoint", "EndpointName"), "/variant/blue"]]}
    (found,) = problems(sagemaker_scalable_target_endpoint.RULE, stack(Target=target(wrong_variant)))
    assert "'blue' is not a production variant" in found


def test_sm4_burstable_instances_cannot_autoscale() -> None:
    (found,) = problems(sagemaker_burstable_autoscaling.RULE, stack(Config=config("ml.t3.medium", kms=False)))
    assert "primary=ml.t3.medium" in found


def test_sm4_parses_the_family_instead_of_matching_a_prefix() -> None:
    # ml.trn1 (Trainium) and ml.inf2 start like ml.t*, but only the t series is burstable.
    for instance_type in ("ml.trn1.2xlarge", "ml.inf2.xlarge", "ml.m5.large"):
        assert problems(sagemaker_burstable_autoscaling.RULE, stack(Config=config(instance_type, kms=False))) == []
    assert problems(sagemaker_burstable_autoscaling.RULE, stack(Config=config("ml.t2.medium", kms=False)))


def test_sm5_no_volume_key_on_nvme_instances() -> None:
    (found,) = problems(sagemaker_nvme_volume_key.RULE, stack(Config=config("ml.g4dn.xlarge")))
    assert "ml.g4dn.xlarge" in found
    assert compliant(sagemaker_nvme_volume_key.RULE, stack(Config=config("ml.g4dn.xlarge", kms=False))) == []
    # The d option marks instance storage in any family, including ones listed nowhere by name.
    assert problems(sagemaker_nvme_volume_key.RULE, stack(Config=config("ml.r7gd.large")))
    assert problems(sagemaker_nvme_volume_key.RULE, stack(Config=config("ml.c6in.large"))) == []


def test_sm6_volume_key_policy_allows_the_execution_role() -> None:
    root_only = key(allow("kms:*", Principal={"AWS": "arn:aws:iam::123456789012:root"}))
    (found,) = problems(sagemaker_volume_key_policy.RULE, stack(Key=root_only))
    assert "Stack0/ExecRole" in found and "kms:CreateGrant" in found


def test_sm7_capacity_bounds() -> None:
    assert problems(sagemaker_capacity_bounds.RULE, stack(Target=target(low=1, high=4))) == [
        "Target: needs 2 <= MinCapacity (1) <= MaxCapacity (4)"
    ]
    assert problems(sagemaker_capacity_bounds.RULE, stack(Target=target(low=5, high=4)))
