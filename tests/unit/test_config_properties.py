"""The config loader over arbitrary stage blocks: a valid config or the one-line ConfigError, nothing else.

Blocks are drawn from the typed config itself (every section and field, with values at
and beyond each field's limits, values people plausibly type, and arbitrary JSON in any
place), so a new field or section is covered without touching this file. A combined
block of accepted boundary values is synthesized once and passes the readiness rules.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness import RULES, Assembly, Status, evaluate
from stacks import config as cfg
from stacks import guardrails
from stacks.config import ConfigError, StageConfig, load_stage
from stacks.names import LIMITS, MAX_STAGE_NAME_LENGTH
from tests.synth import SynthesizedStage

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
# Strings people type for each kind of string setting, valid and not (the field name picks them).
TYPED = {
    "cidr": ["10.40.0.0/16", "192.168.0.0/19", "172.16.8.0/21", "10.40.0.1/16", "8.8.0.0/16", "10.0.0.0/8"],
    "region": ["eu-west-1", "us-east-1", "cn-north-1", "us-gov-west-1", "ap-southeast-7", "xx-west-1", "EU-WEST-1"],
    "account": ["123456789012", "\u0661" * 12, "12345"],
    "schedule": ["cron(0 3 * * ? *)", "cron(0 3 * * * *)", "cron(*/5 * ? * MON-FRI *)", "rate(1 day)", "daily"],
    "instance_type": ["ml.m5.large", "ml.t2.medium", "ml.trn1.2xlarge", "ml.g5.xlarge", "ml.m5.huge", "ml.c5.xlarge"],
    "admin_arns": ["arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/admin", "arn:aws-cn:x"],
    "alarm_emails": ["ops@example.com", "OPS@Example.com", "ops/x@example.com", "josé@example.com", "no-at"],
    "name": ["primary", "Primary", "a-b", "ab", "b" * 63, "-x"],
    "xgboost_version": ["1.7-1", "3.2-0", "9.9-9", "1.7-\u0661"],
    "image_uri": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgb:1"],
    "model_data_url": ["s3://bucket/model.tar.gz", "s3://B/x.tar.gz"],
    "baseline_url": ["s3://bucket/runs/jr_1/drift_baseline.json", "s3://bucket/x.csv"],
    "variants": ["primary", "shadow", "Primary"],
    "model_package_arn": [
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-s-housing/1",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlpipeline-dev-eu-housing/12",
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/other-group/1",
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlpipeline-s-housing",
    ],
    "security_policy": ["SecurityPolicy_TLS13_1_2_2021_06", "TLS_1_2", "TLS_1_0"],
}
STAGE_NAMES = ["s", "dev-eu", "d" * MAX_STAGE_NAME_LENGTH]
BAD_STAGE_NAMES = ["Prod", "dev_eu", "d" * (MAX_STAGE_NAME_LENGTH + 1), "x\n"]


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten: a block with one odd value in it gets further than one full of them."""
    return st.integers(0, 9).flatmap(lambda k: rare if k == 0 else usual)


def values(tp: Any, name: str, meta: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one field: its own kind at and beyond its limits, or any JSON at all."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return st.none() | values(inner, name, meta)
    if dataclasses.is_dataclass(tp):
        return mostly(blocks(tp), JSON)
    if origin is tuple:
        return mostly(st.lists(values(get_args(tp)[0], name, meta), max_size=3), JSON)
    if origin is Literal:
        return mostly(st.sampled_from(get_args(tp)), JSON)
    low, high, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    special: st.SearchStrategy[Any]
    if choices:
        special = st.sampled_from(choices)
    elif tp is bool:
        special = st.booleans()
    elif tp in (int, float):
        edges = [e for b in (low, high) if b is not None for e in (b, b - 1, b + 1)]
        numbers = st.integers() if tp is int else st.floats(allow_nan=True, allow_infinity=True)
        special = mostly(st.sampled_from(edges or [0]), numbers)
    else:
        special = mostly(st.sampled_from(TYPED.get(name, ["x"])), st.text(max_size=20))
    return mostly(special, JSON)


def blocks(cls: Any) -> st.SearchStrategy[dict[str, Any]]:
    hints = get_type_hints(cls)
    optional = {
        f.name: st.deferred(lambda f=f: values(hints[f.name], f.name, dict(f.metadata))) for f in cfg._settable(cls)
    }
    return mostly(st.fixed_dictionaries({}, optional=optional), st.dictionaries(st.text(max_size=8), JSON, max_size=2))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=mostly(st.sampled_from(STAGE_NAMES), st.sampled_from(BAD_STAGE_NAMES) | st.text(max_size=12)),
    block=mostly(blocks(StageConfig), JSON),
    account=st.none() | st.sampled_from(TYPED["account"]),
    region=mostly(st.sampled_from(TYPED["region"][:4]), st.none() | st.sampled_from(TYPED["region"])),
)
def test_loader_returns_a_valid_config_or_one_line_error(
    name: str, block: Any, account: str | None, region: str | None
) -> None:
    try:
        config = load_stage({name: block}, name, account=account, region=region)
    except ConfigError as error:
        message = str(error)
        assert message.startswith("invalid stage config: ") and message.isprintable()
        return
    assert config.name == name and config.region is not None
    for limit in LIMITS:
        assert all(len(n) <= limit.max_length for n in limit.names(name))
    inference = config.inference
    assert 1 <= len(inference.variants) <= cfg.MAX_VARIANTS
    assert all(math.isfinite(v.weight) for v in inference.variants)
    assert all(2 <= v.min_capacity <= v.max_capacity for v in inference.variants if inference.autoscaling)
    deployment = inference.deployment
    fleets = deployment.fleets(inference)
    if deployment.mode == "rolling":
        assert len(inference.variants) == 1
    if deployment.step is not None:
        assert all(
            guardrails.step_problem(deployment.kind, deployment.step, deployment.unit, f) is None for f in fleets
        )
    waits = guardrails.waiting_seconds(
        deployment.kind,
        deployment.step,
        deployment.unit,
        deployment.wait_seconds,
        deployment.termination_wait_seconds,
        fleets,
    )
    assert deployment.max_execution_timeout_seconds > waits and deployment.rollback_alarms


def test_accepted_boundary_values_synthesize_and_pass_readiness(boundary: SynthesizedStage) -> None:
    """One synth of many accepted values at once, each at a limit (see `boundary` in conftest)."""
    findings = evaluate(Assembly.load(boundary.outdir), RULES)
    assert [f for f in findings if f.status is Status.NON_COMPLIANT] == []
    assert {f.status for f in findings} >= {Status.COMPLIANT}
    (endpoint_config,) = boundary.resources("Inference", "AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" not in endpoint_config["Properties"]
    assert len(boundary.resources("Network", "AWS::EC2::Subnet")) == boundary.config.network.az_count
    assert len(boundary.config.name) == MAX_STAGE_NAME_LENGTH
    (drift,) = [
        f["Properties"]["Environment"]["Variables"]
        for f in boundary.resources("Monitoring", "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "drift.handler"
    ]
    assert json.loads(drift["BASELINES"]) == {
        "a" * 63: "drift_baseline.json",
        "b-1": "s3://model-artifacts-0/statistics/runs/jr_1/drift_baseline.json",
    }
