"""Stage config validation: every bad-config class stops synth with a precise message."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from stacks.common import RETENTION
from stacks.config import LOG_RETENTION_DAYS, ConfigError, load_stage
from stacks.instance_types import has_nvme, is_burstable
from stacks.names import LIMITS, MAX_STAGE_NAME_LENGTH, TIGHTEST, lake_name
from stacks.regions import REGION_PATTERN
from stacks.schedules import schedule_problem
from tests.synth import CONTEXT, ROOT

REGION = {"region": "eu-west-1"}
SANDBOX = {**REGION, "sandbox": True}
ARN = "arn:aws:iam::123456789012:role/{}"
# Outside sandbox stages the persona roles must name whom they trust.
PERSONAS = {"data_scientist": ["role/analysts/DataScientist*"], "mlops": ["role/MLOps"]}
SANDBOX = {**REGION, "sandbox": True}

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
    ({"network": []}, "stages.s.network", "an object with keys"),
    # CIDR: parsed, private, no host bits, room for one /22 subnet per AZ
    ({"network": {"cidr": "10.0.0.0/8"}}, "stages.s.network.cidr", "/8 is outside /16 to /21"),
    ({"network": {"cidr": "10.40.0.0/22"}}, "stages.s.network.cidr", "/22 is outside /16 to /21"),
    ({"network": {"cidr": "10.40.0.1/16"}}, "stages.s.network.cidr", "has host bits set"),
    ({"network": {"cidr": "10.300.0.0/16"}}, "stages.s.network.cidr", "Octet 300"),
    ({"network": {"cidr": "010.40.0.0/16"}}, "stages.s.network.cidr", "Leading zeros"),
    ({"network": {"cidr": "10.40.0.0/016"}}, "stages.s.network.cidr", "written as 10.40.0.0/16"),
    ({"network": {"cidr": "8.8.0.0/16"}}, "stages.s.network.cidr", "not a private range"),
    ({"network": {"cidr": "172.32.0.0/16"}}, "stages.s.network.cidr", "not a private range"),
    ({"network": {"az_count": 3, "cidr": "10.0.0.0/21"}}, "stages.s.network.cidr", "use a prefix of /20 or shorter"),
    ({"network": {"az_count": 6, "cidr": "10.0.0.0/20"}}, "stages.s.network.cidr", "use a prefix of /19 or shorter"),
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
    # IAM principal ARNs: ASCII names per IAM's rules, a known partition (the stage's), each principal once
    ({"lake_formation": {"admin_arns": ARN.format("x")}}, "stages.s.lake_formation.admin_arns", "a list of"),
    (
        {"lake_formation": {"admin_arns": ["arn:aws:iam::12:role/x"]}},
        "stages.s.lake_formation.admin_arns[0]",
        "IAM role or user ARN",
    ),
    ({"lake_formation": {"admin_arns": [ARN.format("rôle")]}}, "stages.s.lake_formation.admin_arns[0]", "ASCII"),
    ({"lake_formation": {"admin_arns": [ARN.format("x" * 65)]}}, "stages.s.lake_formation.admin_arns[0]", "1-64"),
    (
        {"lake_formation": {"admin_arns": ["arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/x"]}},
        "stages.s.lake_formation.admin_arns[0]",
        "IAM role or user ARN",
    ),
    (
        {"lake_formation": {"admin_arns": ["arn:aws-mars:iam::123456789012:role/x"]}},
        "stages.s.lake_formation.admin_arns[0]",
        "known partitions are",
    ),
    (
        {**REGION, "lake_formation": {"admin_arns": ["arn:aws-cn:iam::123456789012:role/x"]}},
        "stages.s.lake_formation.admin_arns[0]",
        "partition of region eu-west-1 (arn:aws:...)",
    ),
    (
        {"lake_formation": {"admin_arns": [ARN.format("Admin"), "arn:aws:iam::123456789012:role/ops/admin"]}},
        "stages.s.lake_formation.admin_arns[1]",
        "repeats stages.s.lake_formation.admin_arns[0]",
    ),
    # E-mail subscriptions: RFC lengths, ASCII, each mailbox once (domains compare case-insensitively)
    ({"observability": {"alarm_emails": ["oncall"]}}, "stages.s.observability.alarm_emails[0]", "e-mail address"),
    (
        {"observability": {"alarm_emails": [f"{'a' * 65}@example.com"]}},
        "stages.s.observability.alarm_emails[0]",
        "at most 64 characters before '@'",
    ),
    (
        {"observability": {"alarm_emails": ["ops/team@example.com"]}},
        "stages.s.observability.alarm_emails[0]",
        "e-mail address",
    ),
    ({"observability": {"alarm_emails": ["josé@example.com"]}}, "stages.s.observability.alarm_emails[0]", "ASCII"),
    (
        {"observability": {"alarm_emails": ["ops@example.com", "ops@EXAMPLE.com"]}},
        "stages.s.observability.alarm_emails[1]",
        "repeats stages.s.observability.alarm_emails[0]",
    ),
    # Account and region: ASCII digits, a region botocore knows, an XGBoost image cached for it
    ({"account": "12345"}, "stages.s.account", "matching"),
    ({"account": "١٢٣٤٥٦٧٨٩٠١٢"}, "stages.s.account", "matching [0-9]{12}"),
    ({"region": "Mars-1"}, "stages.s.region", "matching"),
    ({"region": "eu-west-\uff11"}, "stages.s.region", "matching"),  # a fullwidth digit one
    ({"region": "xx-west-1"}, "stages.s.region", "upgrade boto3 in requirements.txt"),
    ({"region": "ap-southeast-7", "personas": PERSONAS}, "stages.s.region", "python -m stacks.image_uris --refresh"),
    ({"sandbox": True}, "stages.s.region", "is required"),
    ({**REGION, "inference": {"xgboost_version": "9.9-9"}}, "stages.s.inference.xgboost_version", "--refresh"),
    ({"sandbox": "yes"}, "stages.s.sandbox", "true or false"),
    # Numbers: finite only (Python's JSON reader accepts NaN and Infinity)
    ({"inference": {"variants": [{"weight": float("nan")}]}}, "stages.s.inference.variants[0].weight", "a number"),
    ({"api": {"throttle_rate_limit": float("inf")}}, "stages.s.api.throttle_rate_limit", "a number"),
    # The stage name comes from the block's key: the block cannot set it, and errors do not offer it
    ({"name": "other"}, "stages.s.name", "allowed keys are ['account', 'api', 'data_lake'"),
    # Persona principals, key administrators, the audit trail's lock and log retention
    (REGION, "stages.s.personas.data_scientist", "at least one principal outside sandbox stages"),
    (
        {**REGION, "personas": {**PERSONAS, "mlops": []}},
        "stages.s.personas.mlops",
        "at least one principal outside sandbox stages",
    ),
    ({"personas": {"mlops": ["group/ops"]}}, "stages.s.personas.mlops[0]", "matching"),
    ({"keys": {"admin_principals": ["arn:aws:iam::1:role/x"]}}, "stages.s.keys.admin_principals[0]", "matching"),
    (
        {**REGION, "sandbox": True, "observability": {"trail_object_lock_mode": "compliance"}},
        "stages.s.observability.trail_object_lock_mode",
        "must be 'governance' on sandbox stages",
    ),
    (
        {**REGION, "sandbox": True, "observability": {"trail_object_lock_days": 400}},
        "stages.s.observability.trail_object_lock_days",
        "must not exceed trail_expire_after_days (365)",
    ),
    (
        {**REGION, "personas": PERSONAS, "api": {"function": {"log_retention_days": 30}}},
        "stages.s.api.function.log_retention_days",
        "at least 365 outside sandbox stages",
    ),
    (
        {**REGION, "personas": PERSONAS, "network": {"flow_log_retention_days": 90}},
        "stages.s.network.flow_log_retention_days",
        "at least 365 outside sandbox stages",
    ),
    # Training: instance types, tuning limits and ranges within XGBoost's bounds, approval, spot
    ({**SANDBOX, "training": {"instance_type": "ml.t3.large"}}, "stages.s.training.instance_type", "burstable"),
    (
        {**SANDBOX, "training": {"instance_type": "ml.g4dn.xlarge"}},
        "stages.s.training.instance_type",
        "NVMe instance storage",
    ),
    (
        {**SANDBOX, "training": {"instance_type": "m5.large"}},
        "stages.s.training.instance_type",
        "SageMaker instance type",
    ),
    (
        {**SANDBOX, "training": {"max_jobs": 2, "max_parallel_jobs": 3}},
        "stages.s.training.max_parallel_jobs",
        "max_jobs (2)",
    ),
    ({**SANDBOX, "training": {"max_jobs": 0}}, "stages.s.training.max_jobs", "between 1 and 500"),
    (
        {**SANDBOX, "training": {"spot": True, "max_runtime_minutes": 90, "max_wait_minutes": 60}},
        "stages.s.training.max_wait_minutes",
        "at least max_runtime_minutes (90)",
    ),
    (
        {**REGION, "personas": PERSONAS, "training": {"auto_approve": True}},
        "stages.s.training.auto_approve",
        "only on sandbox stages",
    ),
    ({**SANDBOX, "training": {"rmse_tolerance": 1.5}}, "stages.s.training.rmse_tolerance", "between 0.0 and 1.0"),
    ({**SANDBOX, "training": {"parameter_ranges": []}}, "stages.s.training.parameter_ranges", "at least one"),
    (
        {**SANDBOX, "training": {"parameter_ranges": [{"hyperparameter": "learning_rate"}]}},
        "stages.s.training.parameter_ranges[0].hyperparameter",
        "one of ['alpha'",
    ),
    (
        {**SANDBOX, "training": {"parameter_ranges": [{"hyperparameter": "eta", "min_value": 0.5, "max_value": 0.2}]}},
        "stages.s.training.parameter_ranges[0].min_value",
        "less than max_value (0.2)",
    ),
    (
        {**SANDBOX, "training": {"parameter_ranges": [{"hyperparameter": "eta", "min_value": 0.1, "max_value": 0.9}]}},
        "stages.s.training.parameter_ranges[0].max_value",
        "between 0.1 and 0.5 for eta",
    ),
    (
        {
            **SANDBOX,
            "training": {"parameter_ranges": [{"hyperparameter": "max_depth", "min_value": 2.5, "max_value": 6}]},
        },
        "stages.s.training.parameter_ranges[0].min_value",
        "an integer between 0 and 10 for max_depth",
    ),
    (
        {
            **SANDBOX,
            "training": {
                "parameter_ranges": [
                    {"hyperparameter": "alpha", "min_value": 0, "max_value": 10, "scaling": "Logarithmic"}
                ]
            },
        },
        "stages.s.training.parameter_ranges[0].scaling",
        "min_value > 0",
    ),
    (
        {
            **SANDBOX,
            "training": {"parameter_ranges": [{"hyperparameter": "max_depth", "min_value": 2, "max_value": 6}] * 2},
        },
        "stages.s.training.parameter_ranges[1]",
        "repeats stages.s.training.parameter_ranges[0] (each hyperparameter once)",
    ),
]


@pytest.mark.parametrize(("settings", "path", "allowed"), BAD_CONFIGS)
def test_bad_setting_names_key_value_and_allowed(settings: dict[str, Any], path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": settings}, "s")
    assert error.value.path == path
    assert allowed in error.value.allowed
    assert str(error.value).startswith(f"invalid stage config: {path} = ")
    assert "'name'" not in error.value.allowed


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        ("Prod", "a lowercase letter"),
        ("dev_eu", "a lowercase letter"),
        ("dev--eu", "single hyphens"),
        ("dev-", "single hyphens"),
        ("1dev", "a lowercase letter"),
        ("dév", "a lowercase letter"),
        ("dev\nprod", "a lowercase letter"),
        ("d" * (MAX_STAGE_NAME_LENGTH + 1), f"at most {MAX_STAGE_NAME_LENGTH} characters"),
    ],
)
def test_stage_names_are_held_to_the_limits_of_every_derived_name(stage: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({stage: REGION}, stage)
    assert error.value.path == "stage" and allowed in error.value.allowed
    assert "\n" not in str(error.value)


def test_longest_stage_name_fits_every_derived_name() -> None:
    stage = "d" * MAX_STAGE_NAME_LENGTH
    assert load_stage({stage: {**REGION, "personas": PERSONAS}}, stage).name == stage
    for limit in LIMITS:
        assert all(len(name) <= limit.max_length for name in limit.names(stage)), limit.what
    assert any(len(name) == TIGHTEST.max_length for name in TIGHTEST.names(stage))


def test_stages_that_differ_only_in_case_or_separators_cannot_share_lake_names() -> None:
    # Hyphens become underscores in the lake's names; underscores and capitals are refused,
    # so two valid stage names never map to the same Glue database or LF-tag key.
    for stage in ("dev_eu", "Dev-eu"):
        with pytest.raises(ConfigError):
            load_stage({stage: REGION}, stage)
    assert lake_name("dev-eu", "raw") == "mlpipeline_dev_eu_raw"


def test_environment_account_and_region_are_validated_like_configured_ones() -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {}}, "s", account="١٢٣٤٥٦٧٨٩٠١٢", region="eu-west-1")
    assert error.value.path == "CDK_DEFAULT_ACCOUNT" and "matching [0-9]{12}" in error.value.allowed
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {}}, "s", region="mars-east-1")
    assert error.value.path == "CDK_DEFAULT_REGION" and "upgrade boto3" in error.value.allowed
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"personas": PERSONAS}}, "s", region="us-isob-west-1")
    assert error.value.path == "CDK_DEFAULT_REGION" and "python -m stacks.image_uris --refresh" in error.value.allowed


@pytest.mark.parametrize(
    "key",
    ["a\nb", "tab\there", "bell\a", "rtl\u202eevil", "line\u2028sep", "nul\x00"],
)
def test_key_paths_with_control_characters_print_on_one_line(key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"network": {key: 1}}}, "s")
    message = str(error.value)
    assert error.value.path == f"stages.s.network.{key}"
    assert message.isprintable() and ascii(key)[1:-1] in message


def test_long_values_are_shortened_in_the_message() -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"network": {"cidr": "1" * 10000}}}, "s")
    assert len(str(error.value)) < 1500 and "..." in str(error.value)


def test_a_stage_block_that_is_not_an_object_lists_only_settable_keys() -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": []}, "s")
    assert error.value.path == "stages.s" and "'name'" not in error.value.allowed and "'sandbox'" in error.value.allowed


def test_unknown_stage_lists_defined_stages() -> None:
    with pytest.raises(ConfigError, match=r"stage = 'dev': unknown stage; defined stages are \['prod', 'sandbox'\]"):
        load_stage(CONTEXT["stages"], "dev")


def test_defaults_apply_and_environment_fills_account_and_region() -> None:
    config = load_stage({"s": {"personas": PERSONAS}}, "s", account="123456789012", region="eu-central-1")
    assert (config.account, config.region, config.sandbox, config.network.az_count) == (
        "123456789012",
        "eu-central-1",
        False,
        2,
    )
    assert config.termination_protection is True


def test_stage_settings_win_over_environment() -> None:
    config = load_stage({"s": {"region": "us-west-2", "personas": PERSONAS}}, "s", region="eu-central-1")
    assert config.region == "us-west-2"


def test_every_committed_stage_is_valid() -> None:
    for stage in CONTEXT["stages"]:
        assert load_stage(CONTEXT["stages"], stage).name == stage


def test_retention_table_matches_cloudwatch_values() -> None:
    assert tuple(RETENTION) == LOG_RETENTION_DAYS


PROD = CONTEXT["stages"]["prod"]


@pytest.mark.parametrize(
    ("prod", "environment", "message"),
    [
        (
            {**PROD, "network": {**PROD["network"], "az_count": 9}},
            {},
            "stages.prod.network.az_count = 9: must be an integer between 2 and 6 (Availability Zones the VPC spans)",
        ),
        (
            {key: value for key, value in PROD.items() if key != "region"},
            {"CDK_DEFAULT_REGION": "eu-west-9\n"},
            f"CDK_DEFAULT_REGION = 'eu-west-9\\n': must be a string matching {REGION_PATTERN}",
        ),
    ],
)
def test_synth_exits_2_with_one_clear_line(
    tmp_path: Any, prod: dict[str, Any], environment: dict[str, str], message: str
) -> None:
    """Through app.py, as `cdk synth -c stage=prod` would run it, for a stage value and an environment value."""
    stages = {**CONTEXT["stages"], "prod": prod}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps({**CONTEXT, "stages": stages, "stage": "prod"}),
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"error: invalid stage config: {message}")


ACCEPTED = [
    {"observability": {"alarm_emails": ["On.Call+ml@Example.COM", f"{'a' * 64}@{'d' * 63}.example.org"]}},
    {"lake_formation": {"admin_arns": [ARN.format("team/ml/Admin+x=y,z.@_-"), "arn:aws:iam::123456789012:user/u"]}},
    {"network": {"az_count": 2, "cidr": "172.16.8.0/21"}},
    {"network": {"az_count": 6, "cidr": "192.168.0.0/19"}},
    {"etl": {"schedule": "cron(0/15 8-17 ? * MON-FRI *)"}},
    {"etl": {"schedule": "cron(30 2 L * ? 2030-2199)"}},
    {"etl": {"schedule": "cron(0 3 ? * 6#3 *)"}},
    {"inference": {"variants": [{"name": "a-b"}, {"name": "a-c"}]}},
    # Not burstable: ml.trn1 is a Trainium type (the burstable series is ml.t), with NVMe storage.
    {"inference": {"volume_encryption": False, "variants": [{"instance_type": "ml.trn1.2xlarge"}]}},
    {"sandbox": True, "inference": {"autoscaling": False, "variants": [{"min_capacity": 1}]}},
]


@pytest.mark.parametrize("settings", ACCEPTED)
def test_values_people_type_are_accepted(settings: dict[str, Any]) -> None:
    load_stage({"s": {**REGION, "personas": PERSONAS, **settings}}, "s")


@pytest.mark.parametrize(
    ("schedule", "allowed"),
    [
        ("cron(0 3 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 3 * * ?)", "six fields"),
        ("cron(0  3 * * ? *)", "six fields"),
        ("cron(60 3 * * ? *)", "minutes value '60' is not 0-59"),
        ("cron(0 24 * * ? *)", "hours value '24'"),
        ("cron(0 3 32 * ? *)", "day-of-month value '32'"),
        ("cron(0 3 * 13 ? *)", "month value '13'"),
        ("cron(0 3 ? * 8 *)", "day-of-week value '8'"),
        ("cron(0 3 * * ? 1969)", "year value '1969'"),
        ("cron(0 3 * DEC-JAN ? *)", "runs backwards"),
        ("cron(0/0 3 * * ? *)", "increment '0'"),
        ("cron(0 ? * * ? *)", "'?' is allowed only in day-of-month and day-of-week"),
        ("cron(٣ 3 * * ? *)", "minutes value"),
        ("cron(*/2 * * * ? *)", "runs every 2 minute(s); the shortest period allowed is 5 minutes"),
        ("cron(0,58 * * * ? *)", "runs every 2 minute(s)"),
        ("rate(1 day)", "takes cron expressions only"),
        ("every day", "expected cron("),
    ],
)
def test_etl_schedule_follows_the_cron_grammar(schedule: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {**REGION, "etl": {"schedule": schedule}}}, "s")
    assert error.value.path == "stages.s.etl.schedule" and allowed in error.value.allowed


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(1 minute)", None),
        ("rate(5 minutes)", None),
        ("rate(1 minutes)", "singular"),
        ("rate(2 hour)", "plural"),
        ("rate(0 days)", "expected rate("),
        ("rate(5 seconds)", "expected rate("),
    ],
)
def test_rate_expressions_follow_eventbridge_grammar(expression: str, problem: str | None) -> None:
    found = schedule_problem(expression)
    assert found is None if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("variants", "path", "allowed"),
    [
        (
            [{"name": "champion"}, {"name": "Champion"}],
            "stages.s.inference.variants[1].name",
            "in more than case and hyphens",
        ),
        ([{"name": "a-b"}, {"name": "ab"}], "stages.s.inference.variants[1].name", "in more than case and hyphens"),
        ([{"name": f"v{i}"} for i in range(11)], "stages.s.inference.variants", "1 to 10 production variants"),
        ([{"instance_type": "ml.t3.medium"}], "stages.s.inference.variants[0].instance_type", "burstable"),
        ([{"instance_type": "ml.m5.huge"}], "stages.s.inference.variants[0].instance_type", "SageMaker instance type"),
    ],
)
def test_variants_that_would_collide_or_fail_are_refused(variants: list[Any], path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {**REGION, "inference": {"variants": variants}}}, "s")
    assert error.value.path == path and allowed in error.value.allowed


def test_config_readiness_and_compliance_agree_on_capacity_and_volume_keys() -> None:
    """What the readiness rules and the compliance packs would refuse, the config refuses first."""
    sandbox = {**REGION, "sandbox": True}
    with pytest.raises(ConfigError, match="RDY-SM7") as error:
        load_stage({"s": {**sandbox, "inference": {"variants": [{"min_capacity": 1}]}}}, "s")
    assert error.value.path == "stages.s.inference.variants[0].min_capacity"
    with pytest.raises(ConfigError, match="every compliance pack requires the key") as error:
        load_stage({"s": {**sandbox, "inference": {"volume_encryption": False}}}, "s")
    assert error.value.path == "stages.s.inference.volume_encryption"
    with pytest.raises(ConfigError, match="set volume_encryption: false") as error:
        load_stage({"s": {**sandbox, "inference": {"variants": [{"instance_type": "ml.g5.xlarge"}]}}}, "s")


@pytest.mark.parametrize(
    ("instance_type", "burstable", "nvme"),
    [
        ("ml.t2.medium", True, False),
        ("ml.trn1.2xlarge", False, True),
        ("ml.trn1n.32xlarge", False, True),
        ("ml.m5.large", False, False),
        ("ml.m5d.large", False, True),
        ("ml.c6in.large", False, False),
        ("ml.g4dn.xlarge", False, True),
        ("ml.p6-b200.48xlarge", False, True),
        ("ml.inf1.xlarge", False, False),
        ("ml.t", False, False),
    ],
)
def test_instance_families_are_parsed_not_matched_by_prefix(instance_type: str, burstable: bool, nvme: bool) -> None:
    assert (is_burstable(instance_type), has_nvme(instance_type)) == (burstable, nvme)


@pytest.mark.parametrize(
    ("block", "path", "allowed"),
    [
        ({"monitoring": {"variants": []}}, "stages.s.monitoring.variants", "at least one variant"),
        ({"monitoring": {"variants": ["shadow"]}}, "stages.s.monitoring.variants[0]", "one of inference.variants"),
        ({"monitoring": {"variants": ["primary", "primary"]}}, "stages.s.monitoring.variants[1]", "repeats"),
        ({"monitoring": {"schedule": "hourly"}}, "stages.s.monitoring.schedule", "expected rate("),
        ({"monitoring": {"window_hours": 25}}, "stages.s.monitoring.window_hours", "between 1 and 24"),
        ({"monitoring": {"feature_psi_threshold": 0}}, "stages.s.monitoring.feature_psi_threshold", "0.01 and 10"),
        (
            {"inference": {"variants": [{"model_data_url": "s3://models-bucket/m.tar.gz"}]}},
            "stages.s.inference.variants[0].baseline_url",
            "is required",
        ),
        (
            {"inference": {"variants": [{"baseline_url": "s3://models-bucket/drift_baseline.json"}]}},
            "stages.s.inference.variants[0].baseline_url",
            "is for a variant that serves model_data_url",
        ),
    ],
)
def test_monitoring_refuses_what_could_not_be_monitored(block: dict[str, Any], path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {**SANDBOX, **block}}, "s")
    assert error.value.path == path and allowed in error.value.allowed


def test_monitored_variants_follow_the_inference_order() -> None:
    variants = [
        {"name": "champion", "weight": 0.9},
        {"name": "challenger", "model_data_url": "s3://models-bucket/m.tar.gz", "weight": 0.1},
    ]
    config = load_stage(
        {"s": {**SANDBOX, "inference": {"variants": variants}, "monitoring": {"variants": ["champion"]}}}, "s"
    )
    assert [v.name for v in config.monitoring.monitored(config.inference)] == ["champion"]
    every = {**variants[1], "baseline_url": "s3://models-bucket/runs/jr_1/drift_baseline.json"}
    config = load_stage({"s": {**SANDBOX, "inference": {"variants": [variants[0], every]}}}, "s")
    assert [v.name for v in config.monitoring.monitored(config.inference)] == ["champion", "challenger"]
    off = load_stage({"s": {**SANDBOX, "monitoring": {"enabled": False}}}, "s")
    assert off.monitoring.monitored(off.inference) == []
