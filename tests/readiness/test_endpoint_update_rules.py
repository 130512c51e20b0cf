"""Readiness rules of endpoint updates (RDY-SM9 to SM11): a violating and a compliant minimal template each."""

from __future__ import annotations

import copy
from typing import Any

from readiness import Rule, Status
from readiness.rules import sagemaker_deployment_limits, sagemaker_rollback_alarms, sagemaker_update_compatibility
from readiness.snapshots import committed_template, stage_and_unit
from tests.readiness.helpers import arn, compliant, problems, ref, res, run, template

NEW_FLEET = arn("Config", "EndpointConfigName")


def alarm(endpoint_name: Any = "housing", config_name: Any = NEW_FLEET, **extra: Any) -> dict[str, Any]:
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": "primary"}]
    if config_name is not None:
        dimensions.append({"Name": "EndpointConfigName", "Value": config_name})
    return res(
        "AWS::CloudWatch::Alarm",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=dimensions,
        **extra,
    )


def config(*variants: tuple[str, str, int]) -> dict[str, Any]:
    return res(
        "AWS::SageMaker::EndpointConfig",
        ProductionVariants=[
            {"VariantName": name, "InstanceType": kind, "InitialInstanceCount": count, "ModelName": "m"}
            for name, kind, count in (variants or (("primary", "ml.m5.large", 2),))
        ],
    )


def canary(size: Any = None, wait: int | None = 600, **policy: Any) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": "CANARY", "CanarySize": size or {"Type": "INSTANCE_COUNT", "Value": 1}}
    if wait is not None:
        routing["WaitIntervalInSeconds"] = wait
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **policy}}


def endpoint(deployment: dict[str, Any] | None = None, alarms: list[Any] | None = None, **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"EndpointName": "housing", "EndpointConfigName": NEW_FLEET, **props}
    config_ = dict(deployment if deployment is not None else canary())
    config_["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in (alarms or [ref("Alarm")])]}
    body["DeploymentConfig"] = config_
    return res("AWS::SageMaker::Endpoint", **body)


def target(variant: str = "primary", high: int = 4) -> dict[str, Any]:
    return res(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        ServiceNamespace="sagemaker",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        ResourceId={"Fn::Join": ["", ["endpoint/", arn("Endpoint", "EndpointName"), f"/variant/{variant}"]]},
        MinCapacity=2,
        MaxCapacity=high,
    )


def stack(**overrides: dict[str, Any] | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"Config": config(), "Alarm": alarm(), "Endpoint": endpoint(), "Target": target()}
    resources.update(overrides)
    return template(**{k: v for k, v in resources.items() if v is not None})


# --- RDY-SM9: rollback alarms --------------------------------------------------------------


def test_sm9_alarms_of_the_template_on_the_new_fleet_pass() -> None:
    assert compliant(sagemaker_rollback_alarms.RULE, stack()) == ["Endpoint"]
    # A literal AlarmName works when the endpoint also waits for the alarm.
    named = stack(
        Alarm=alarm(AlarmName="housing-5xx"),
        Endpoint={**endpoint(alarms=["housing-5xx"]), "DependsOn": ["Alarm"]},
    )
    assert problems(sagemaker_rollback_alarms.RULE, named) == []


def test_sm9_a_missing_alarm_fails() -> None:
    (found,) = problems(sagemaker_rollback_alarms.RULE, stack(Endpoint=endpoint(alarms=["typo-5xx"])))
    assert "rollback alarm typo-5xx is not an alarm of this template" in found


def test_sm9_an_alarm_of_another_endpoint_fails() -> None:
    (found,) = problems(sagemaker_rollback_alarms.RULE, stack(Alarm=alarm(endpoint_name="other")))
    assert "watches endpoint other, not housing" in found


def test_sm9_an_alarm_on_the_whole_endpoint_does_not_watch_the_new_fleet() -> None:
    (found,) = problems(sagemaker_rollback_alarms.RULE, stack(Alarm=alarm(config_name=None)))
    assert "does not watch the new fleet" in found
    (found,) = problems(sagemaker_rollback_alarms.RULE, stack(Alarm=alarm(config_name="old-config")))
    assert "EndpointConfigName is old-config" in found


def test_sm9_a_literal_alarm_name_the_endpoint_does_not_wait_for_fails() -> None:
    (found,) = problems(
        sagemaker_rollback_alarms.RULE,
        stack(Alarm=alarm(AlarmName="housing-5xx"), Endpoint=endpoint(alarms=["housing-5xx"])),
    )
    assert "does not wait for rollback alarm Alarm" in found


def test_sm9_a_generated_endpoint_name_cannot_be_watched_in_time() -> None:
    unnamed = endpoint()
    del unnamed["Properties"]["EndpointName"]
    (found,) = problems(sagemaker_rollback_alarms.RULE, stack(Endpoint=unnamed))
    assert "name is generated" in found


def test_sm9_an_endpoint_without_rollback_alarms_fails() -> None:
    bare = res("AWS::SageMaker::Endpoint", EndpointName="housing", EndpointConfigName=NEW_FLEET)
    assert problems(sagemaker_rollback_alarms.RULE, stack(Endpoint=bare)) == [
        "Endpoint: no rollback alarms: an update is never rolled back"
    ]


# --- RDY-SM10: guardrail limits ------------------------------------------------------------


def limits(**overrides: dict[str, Any] | None) -> list[str]:
    return problems(sagemaker_deployment_limits.RULE, stack(**overrides))


ROLLING = {
    "RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 300,
        "MaximumExecutionTimeoutInSeconds": 3600,
    }
}


def test_sm10_documented_settings_pass() -> None:
    assert compliant(sagemaker_deployment_limits.RULE, stack()) == ["Endpoint"]
    for deployment in (
        ROLLING,
        canary({"Type": "CAPACITY_PERCENT", "Value": 50}, TerminationWaitInSeconds=600),
        {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}},
        {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 60,
                },
                "MaximumExecutionTimeoutInSeconds": 28800,
            }
        },
    ):
        assert limits(Endpoint=endpoint(deployment)) == [], deployment


def test_sm10_a_canary_larger_than_half_the_variant_fails() -> None:
    (found,) = limits(Endpoint=endpoint(canary({"Type": "INSTANCE_COUNT", "Value": 2})))
    assert "canary size must be at most 50% of variant primary's instances" in found
    (found,) = limits(Endpoint=endpoint(canary({"Type": "CAPACITY_PERCENT", "Value": 75})))
    assert "1 to 50 percent" in found


def test_sm10_linear_steps_are_ten_to_fifty_percent_of_what_autoscaling_allows() -> None:
    linear = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 60,
            }
        }
    }
    assert limits(Endpoint=endpoint(linear)) == []
    (found,) = limits(Endpoint=endpoint(linear), Target=target(high=20))
    assert "at least 2 of the 20 it may run" in found
    missing = copy.deepcopy(linear)
    del missing["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"]
    assert "LINEAR traffic routing has no LinearStepSize" in limits(Endpoint=endpoint(missing))[0]


def test_sm10_waits_and_timeouts_outside_the_documented_ranges_fail() -> None:
    (found,) = limits(Endpoint=endpoint(canary(wait=3601)))
    assert "WaitIntervalInSeconds 3601 is outside 0-3600" in found
    (found,) = limits(Endpoint=endpoint(canary(wait=None)))
    assert "no WaitIntervalInSeconds" in found
    (found,) = limits(Endpoint=endpoint(canary(MaximumExecutionTimeoutInSeconds=28801)))
    assert "MaximumExecutionTimeoutInSeconds 28801 is outside 600-28800" in found
    (found,) = limits(Endpoint=endpoint(canary(TerminationWaitInSeconds=4000)))
    assert "TerminationWaitInSeconds 4000 is outside 0-3600" in found


def test_sm10_a_timeout_that_does_not_outlast_the_waits_fails() -> None:
    (found,) = limits(
        Endpoint=endpoint(canary(wait=1800, MaximumExecutionTimeoutInSeconds=3600, TerminationWaitInSeconds=0))
    )
    assert "MaximumExecutionTimeoutInSeconds 3600 is not longer than the waits (3600 s)" in found


def test_sm10_rolling_updates_of_several_variants_fail() -> None:
    pair = config(("a", "ml.m5.large", 2), ("b", "ml.m5.large", 2))
    (found,) = limits(Config=pair, Endpoint=endpoint(ROLLING), Target=None)
    assert "rolling update of 2 variants" in found
    assert limits(Config=pair, Target=None) == []  # blue/green is fine


def test_sm10_both_policies_or_excluded_instances_fail() -> None:
    both = {**canary(), **ROLLING}
    (found,) = limits(Endpoint=endpoint(both))
    assert "both BlueGreenUpdatePolicy and RollingUpdatePolicy" in found
    (found,) = limits(Config=config(("primary", "ml.inf1.xlarge", 2)))
    assert "ml.inf1.xlarge, which deployment guardrails exclude" in found


# --- RDY-SM11: the update against the committed snapshot ------------------------------------


def against(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rule = Rule(
        sagemaker_update_compatibility.RULE.id,
        sagemaker_update_compatibility.RULE.title,
        "",
        "",
        lambda current: sagemaker_update_compatibility.check_against(current, before),
    )
    return [f"{f.logical_id}: {f.problem}" for f in run(rule, after) if f.status is Status.NON_COMPLIANT]


def test_sm11_a_new_model_on_the_same_variants_passes() -> None:
    before = stack()
    after = stack(Config={**config(), "Properties": {**config()["Properties"], "KmsKeyId": "k"}})
    assert against(before, after) == []


def test_sm11_a_renamed_variant_fails() -> None:
    (found,) = against(stack(), stack(Config=config(("champion", "ml.m5.large", 2)), Target=target("champion")))
    assert "variants ['primary'] become ['champion']" in found
    (found,) = against(stack(), stack(Config=config(("primary", "ml.m5.large", 2), ("challenger", "ml.c5.large", 2))))
    assert "become ['challenger', 'primary']" in found


def test_sm11_a_new_instance_type_fails_only_for_autoscaled_variants() -> None:
    bigger = config(("primary", "ml.m5.xlarge", 2))
    (found,) = against(stack(), stack(Config=bigger))
    assert "autoscaled variant primary changes instance type ml.m5.large -> ml.m5.xlarge" in found
    # Not autoscaled when deployed (no scalable target in the snapshot): the update may change it.
    assert against(stack(Target=None), stack(Config=bigger, Target=None)) == []


def test_sm11_a_stack_without_a_committed_snapshot_is_not_judged() -> None:
    findings = run(sagemaker_update_compatibility.RULE, stack())  # stack "Stack0" has no snapshot
    assert {f.status for f in findings} == {Status.NOT_APPLICABLE}


def test_sm11_reads_the_committed_snapshot_of_a_stage_stack() -> None:
    assert stage_and_unit("MlPipeline-my-stage-Inference") == ("my-stage", "Inference")
    assert stage_and_unit("Other-sandbox-Inference") is None
    committed = committed_template("MlPipeline-sandbox-Inference")
    assert committed is not None and any(
        r["Type"] == "AWS::SageMaker::Endpoint" for r in committed["Resources"].values()
    )
