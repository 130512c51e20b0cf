"""Stage config of endpoint updates and model sources: every refused case is one line naming the key.

The limits are SageMaker's (stacks.guardrails): a canary at most half of a variant's
instances, linear steps 10-50%, rolling batches 5-50% and only on single-variant endpoints,
waits 0-3600 s, timeouts 600-28800 s and longer than the waits; Inf1 endpoints are excluded
from guardrails; a variant serves a package of its own stage's group, region and account.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks import guardrails
from stacks.config import ConfigError, load_stage
from stacks.model_source import model_source, parse_package_arn

PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-s-housing/4"
PATH = "stages.s.inference"
BASELINE = "s3://curated/statistics/runs/jr_1/drift_baseline.json"


def stage(inference: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"s": {"sandbox": True, "region": "eu-west-1", "inference": inference, **settings}}


def refused(inference: dict[str, Any], **settings: Any) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        load_stage(stage(inference, **settings), "s")
    assert "\n" not in str(error.value)
    return error.value


def deployment(**settings: Any) -> dict[str, Any]:
    return {"deployment": settings}


SCALED = {"variants": [{"min_capacity": 2, "max_capacity": 20}]}


@pytest.mark.parametrize(
    ("inference", "path", "allowed"),
    [
        (deployment(mode="blue_green"), "deployment.mode", "one of ['all_at_once', 'canary', 'linear', 'rolling']"),
        (deployment(step=1), "deployment.step", "applies only to modes canary, linear and rolling"),
        (deployment(mode="canary"), "deployment.step", "is required by mode 'canary'"),
        (deployment(mode="rolling"), "deployment.step", "is required by mode 'rolling'"),
        (deployment(mode="canary", step=1, rollback_step=1), "deployment.rollback_step", "only to mode 'rolling'"),
        (
            deployment(mode="rolling", step=1, termination_wait_seconds=60),
            "deployment.termination_wait_seconds",
            "only to blue/green modes",
        ),
        (
            {
                "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
                **deployment(mode="rolling", step=1),
            },
            "deployment.mode",
            "excludes multi-variant endpoints from rolling updates",
        ),
        # A canary turns on at most half of a variant's instances (2 by default).
        (deployment(mode="canary", step=2), "deployment.step", "at most 1 of the 2 it may run"),
        (deployment(mode="canary", step=60, step_unit="percent"), "deployment.step", "must be 1 to 50 percent"),
        # Linear steps are 10-50%: one instance of up to 20 is 5%.
        ({**SCALED, **deployment(mode="linear", step=1)}, "deployment.step", "at least 2 of the 20 it may run"),
        (deployment(mode="linear", step=5, step_unit="percent"), "deployment.step", "must be 10 to 50 percent"),
        (deployment(mode="linear", step=2), "deployment.step", "at most 1 of the 2"),
        # Rolling batches are 5-50%.
        (deployment(mode="rolling", step=4, step_unit="percent"), "deployment.step", "must be 5 to 50 percent"),
        (deployment(mode="rolling", step=51, step_unit="percent"), "deployment.step", "must be 5 to 50 percent"),
        (deployment(mode="rolling", step=2), "deployment.step", "at most 1 of the 2"),
        (deployment(mode="canary", step=1, step_unit="share"), "deployment.step_unit", "['instances', 'percent']"),
        (deployment(wait_seconds=3601), "deployment.wait_seconds", "between 0 and 3600"),
        (deployment(wait_seconds=-1), "deployment.wait_seconds", "between 0 and 3600"),
        (deployment(termination_wait_seconds=3601), "deployment.termination_wait_seconds", "between 0 and 3600"),
        (deployment(max_execution_timeout_seconds=599), "deployment.max_execution_timeout_seconds", "600 and 28800"),
        (deployment(max_execution_timeout_seconds=28801), "deployment.max_execution_timeout_seconds", "600 and 28800"),
        # The timeout outlasts every wait: a canary bakes twice, then waits to terminate the old fleet.
        (
            deployment(mode="canary", step=1, wait_seconds=1500, termination_wait_seconds=600),
            "deployment.max_execution_timeout_seconds",
            "up to 3600 s",
        ),
        (
            {
                "variants": [{"min_capacity": 4, "max_capacity": 20}],
                **deployment(mode="linear", step=2, wait_seconds=400),
            },
            "deployment.max_execution_timeout_seconds",
            "up to 4000 s",
        ),
        (deployment(rollback_alarms=[]), "deployment.rollback_alarms", "must name at least one"),
        (deployment(rollback_alarms=["cpu_utilization"]), "deployment.rollback_alarms[0]", "must be one of"),
        (
            deployment(rollback_alarms=["model_errors", "model_errors"]),
            "deployment.rollback_alarms[1]",
            "repeats",
        ),
        (deployment(rollback_step=1), "deployment.rollback_step", "only to mode 'rolling'"),
        (
            {"variants": [{"instance_type": "ml.inf1.xlarge"}]},
            "variants[0].instance_type",
            "deployment guardrails exclude",
        ),
    ],
)
def test_refused_deployment_settings_name_the_key(inference: dict[str, Any], path: str, allowed: str) -> None:
    error = refused(inference)
    assert error.path == f"{PATH}.{path}"
    assert allowed in error.allowed


def test_a_canary_or_rolling_update_needs_two_instances_per_variant() -> None:
    single = {"autoscaling": False, "variants": [{"min_capacity": 1}]}
    for mode in ("canary", "linear", "rolling"):
        error = refused({**single, **deployment(mode=mode, step=50, step_unit="percent")})
        assert error.path == f"{PATH}.deployment.step"
        assert "needs at least 2 instances in variant primary" in error.allowed
    # All at once needs no second instance.
    load_stage(stage({**single, **deployment(mode="all_at_once")}), "s")


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "canary", "step": 1},
        {"mode": "canary", "step": 50, "step_unit": "percent"},
        {"mode": "linear", "step": 1},
        {"mode": "linear", "step": 10, "step_unit": "percent", "wait_seconds": 300},
        {"mode": "rolling", "step": 1, "rollback_step": 2},
        {"mode": "rolling", "step": 5, "step_unit": "percent", "rollback_step": 100, "wait_seconds": 0},
        {"wait_seconds": 3600, "termination_wait_seconds": 3600, "max_execution_timeout_seconds": 28800},
        {"rollback_alarms": ["model_latency_p99"]},
    ],
)
def test_accepted_deployment_settings(settings: dict[str, Any]) -> None:
    config = load_stage(stage(deployment(**settings)), "s").inference.deployment
    assert {k: getattr(config, k) for k in settings} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()
    }


def test_defaults_are_blue_green_all_at_once_rolled_back_by_every_new_fleet_alarm() -> None:
    config = load_stage(stage({}), "s").inference.deployment
    assert (config.kind, config.step, config.termination_wait_seconds) == (guardrails.ALL_AT_ONCE, None, 0)
    assert config.rollback_alarms == ("invocation_5xx", "model_errors", "model_latency_p99")
    assert config.max_execution_timeout_seconds > config.wait_seconds


@pytest.mark.parametrize(
    ("arn", "settings", "allowed"),
    [
        (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-s-housing",
            {},
            "must be a versioned model package ARN",
        ),
        (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/MlPipeline-S-housing/1",
            {},
            "must be a versioned model package ARN",
        ),
        (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-other-housing/1",
            {},
            "mlpipeline-s-housing",
        ),
        ("arn:aws:sagemaker:us-east-1:123456789012:model-package/mlpipeline-s-housing/1", {}, "region eu-west-1"),
        ("arn:aws-cn:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-s-housing/1", {}, "region eu-west-1"),
        (PACKAGE, {"account": "210987654321"}, "account 210987654321"),
        (PACKAGE, {"model_data_url": "s3://bucket/model.tar.gz"}, "exclude each other"),
    ],
)
def test_refused_model_packages_name_the_key(arn: str, settings: dict[str, Any], allowed: str) -> None:
    account = {"account": settings.pop("account")} if "account" in settings else {}
    error = refused({"variants": [{"model_package_arn": arn, **settings}]}, **account)
    assert error.path == f"{PATH}.variants[0].model_package_arn"
    assert allowed in error.allowed


def test_each_variant_resolves_to_one_model_source() -> None:
    config = load_stage(
        stage(
            {
                "variants": [
                    {"name": "bundled", "weight": 0.5},
                    {
                        "name": "artifact",
                        "weight": 0.2,
                        "model_data_url": "s3://bucket/models/a/model.tar.gz",
                        "baseline_url": BASELINE,
                    },
                    {"name": "package", "weight": 0.3, "model_package_arn": PACKAGE, "baseline_url": BASELINE},
                ]
            },
            account="123456789012",
        ),
        "s",
    )
    sources = [model_source(v) for v in config.inference.variants]
    assert [(s.kind, s.location) for s in sources] == [
        ("bundled", None),
        ("model_data_url", "s3://bucket/models/a/model.tar.gz"),
        ("model_package", PACKAGE),
    ]
    assert str(sources[2]) == f"model package {PACKAGE}"
    package = parse_package_arn(PACKAGE)
    assert package is not None and (package.group, package.version, package.account) == (
        "mlpipeline-s-housing",
        4,
        "123456789012",
    )


def test_a_monitored_package_needs_the_baseline_of_its_training_run() -> None:
    error = refused({"variants": [{"model_package_arn": PACKAGE}]})
    assert error.path == f"{PATH}.variants[0].baseline_url"
    assert "serves model_package and is monitored" in error.allowed and "make promote sets it" in error.allowed
    # Not monitored, it needs none; the bundled model's baseline travels with it.
    load_stage(stage({"variants": [{"model_package_arn": PACKAGE}]}, monitoring={"enabled": False}), "s")
    error = refused({"variants": [{"baseline_url": BASELINE}]})
    assert error.path == f"{PATH}.variants[0].baseline_url" and "model_data_url or model_package_arn" in error.allowed
