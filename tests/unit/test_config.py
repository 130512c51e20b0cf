"""Stage config validation: every bad-config class stops synth with a precise message."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from stacks.common import RETENTION
from stacks.config import LOG_RETENTION_DAYS, ConfigError, load_stage
from tests.synth import CONTEXT, ROOT

BAD_CONFIGS = [
    ({"network": {"az_count": 1}}, "stages.s.network.az_count", "between 2 and 6"),
    ({"network": {"az_count": "2"}}, "stages.s.network.az_count", "an integer"),
    ({"network": {"az_count": True}}, "stages.s.network.az_count", "an integer"),
    (
        {"network": {"nat": 1}},
        "stages.s.network.nat",
        "unknown key; allowed keys are ['az_count', 'cidr', 'flow_log_retention_days']",
    ),
    ({"networking": {}}, "stages.s.networking", "unknown key"),
    ({"network": {"flow_log_retention_days": 10}}, "stages.s.network.flow_log_retention_days", "one of [1, 3"),
    ({"network": {"cidr": "10.0.0.0/8"}}, "stages.s.network.cidr", "matching"),
    ({"network": []}, "stages.s.network", "an object with keys"),
    ({"data_lake": {"removal_policy": "delete"}}, "stages.s.data_lake.removal_policy", "one of ['destroy', 'retain']"),
    ({"data_lake": {"removal_policy": "destroy"}}, "stages.s.data_lake.removal_policy", "only on sandbox stages"),
    (
        {"data_lake": {"infrequent_access_after_days": 10}},
        "stages.s.data_lake.infrequent_access_after_days",
        ">= 30 days",
    ),
    (
        {"data_lake": {"infrequent_access_after_days": 60, "glacier_after_days": 45}},
        "stages.s.data_lake.glacier_after_days",
        "greater than",
    ),
    (
        {"lake_formation": {"admin_arns": "arn:aws:iam::123456789012:role/x"}},
        "stages.s.lake_formation.admin_arns",
        "a list of",
    ),
    (
        {"lake_formation": {"admin_arns": ["arn:aws:iam::12:role/x"]}},
        "stages.s.lake_formation.admin_arns[0]",
        "matching",
    ),
    ({"account": "12345"}, "stages.s.account", "matching"),
    ({"region": "Mars-1"}, "stages.s.region", "matching"),
    ({"sandbox": "yes"}, "stages.s.sandbox", "true or false"),
]


@pytest.mark.parametrize(("settings", "path", "allowed"), BAD_CONFIGS)
def test_bad_setting_names_key_value_and_allowed(settings: dict[str, Any], path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": settings}, "s")
    assert error.value.path == path
    assert allowed in error.value.allowed
    assert str(error.value).startswith(f"invalid stage config: {path} = ")


def test_unknown_stage_lists_defined_stages() -> None:
    with pytest.raises(ConfigError, match=r"stage = 'dev': unknown stage; defined stages are \['prod', 'sandbox'\]"):
        load_stage(CONTEXT["stages"], "dev")


def test_defaults_apply_and_environment_fills_account_and_region() -> None:
    config = load_stage({"s": {}}, "s", account="123456789012", region="eu-central-1")
    assert (config.account, config.region, config.sandbox, config.network.az_count) == (
        "123456789012",
        "eu-central-1",
        False,
        2,
    )
    assert config.termination_protection is True


def test_stage_settings_win_over_environment() -> None:
    config = load_stage({"s": {"region": "us-west-2"}}, "s", region="eu-central-1")
    assert config.region == "us-west-2"


def test_every_committed_stage_is_valid() -> None:
    for stage in CONTEXT["stages"]:
        assert load_stage(CONTEXT["stages"], stage).name == stage


def test_retention_table_matches_cloudwatch_values() -> None:
    assert tuple(RETENTION) == LOG_RETENTION_DAYS


def test_synth_exits_non_zero_with_one_clear_message(tmp_path: Any) -> None:
    """Through app.py, as `cdk synth -c stage=prod` would run it."""
    stages = json.loads(json.dumps(CONTEXT["stages"]))
    stages["prod"]["network"]["az_count"] = 9
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps({**CONTEXT, "stages": stages, "stage": "prod"}),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid stage config: stages.prod.network.az_count = 9: "
        "must be an integer between 2 and 6 (Availability Zones the VPC spans)"
    )
