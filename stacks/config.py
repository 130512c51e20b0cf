"""Typed, validated stage configuration.

`cdk.json` holds one settings block per stage under `context.stages`. `app.py` (the only
module that reads context or the environment) hands the chosen block to :func:`load_stage`,
which turns it into frozen dataclasses that stacks receive as keyword arguments.

Every problem stops synth with one message naming the key path, the bad value and what
is allowed, long before CloudFormation would reject the value twenty minutes into a deploy.
Defaults live on the dataclasses; a stage only lists what it changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import types
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from contracts.time_budget import GATEWAY_TIMEOUT_SECONDS, MIN_FUNCTION_TIMEOUT_SECONDS
from stacks import guardrails, image_uris, instance_types, names
from stacks.identifiers import (
    IAM_ARN_PATTERN,
    email_problem,
    iam_arn_partition,
    iam_arn_problem,
    iam_principal_key,
    mailbox_key,
)
from stacks.model_source import PACKAGE_ARN_FORM, model_source, parse_package_arn
from stacks.regions import REGION_PATTERN, partition_of, region_problem
from stacks.schedules import schedule_problem

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
MAX_SHOWN_VALUE = 200
MAX_SHOWN_REASON = 1000
# An IAM role or user of any account (full ARN), or of the stage's own account (`role/...`,
# `user/...`); `*` matches any characters, as in an ArnLike condition.
PRINCIPAL_PATTERN = r"(arn:aws[a-z-]*:iam::[0-9]{12}:)?(role|user)/[A-Za-z0-9+=,.@_/*-]+"
# PCI DSS 10.7: keep at least one year of audit history.
MIN_AUDIT_LOG_DAYS = 365


def one_line(text: str, limit: int) -> str:
    """`text` on one line (newlines, controls and bidi marks escaped), shortened to `limit` characters."""
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class ConfigError(ValueError):
    """A stage setting is unknown, mistyped or out of range.

    The message is one line whatever the input: key paths and reasons are printed with
    control characters escaped, values as (shortened) Python literals.
    """

    def __init__(self, path: str, value: Any, allowed: str) -> None:
        super().__init__(
            f"invalid stage config: {one_line(path, MAX_SHOWN_REASON)} = {one_line(repr(value), MAX_SHOWN_VALUE)}: "
            f"{one_line(allowed, MAX_SHOWN_REASON)}"
        )
        self.path = path
        self.value = value
        self.allowed = allowed


Check = Callable[[Any], "str | None"]


def rule(
    *,
    min: float | None = None,
    max: float | None = None,
    pattern: str | None = None,
    choices: tuple[Any, ...] | None = None,
    check: Check | None = None,
    unique: Callable[[Any], Hashable] | None = None,
    fixed: bool = False,
    doc: str = "",
) -> dict[str, Any]:
    """Field metadata the loader enforces.

    `min`/`max` bound numbers, `pattern` (ASCII, whole value) and `choices` constrain
    values, `check` returns why a value is refused (None when it is fine), `unique` keys
    the items of a list that must not repeat, and `fixed` marks a field the loader sets
    itself (the stage name comes from the key of its block, not from inside it).
    """
    return {
        "min": min,
        "max": max,
        "pattern": pattern,
        "choices": choices,
        "check": check,
        "unique": unique,
        "fixed": fixed,
        "doc": doc,
    }


def setting(default: Any, **kwargs: Any) -> Any:
    return field(default=default, metadata=rule(**kwargs))


# Every subnet is a /22 (1,019 usable addresses per AZ); the VPC must hold one per AZ.
SUBNET_PREFIX_LENGTH = 22
PRIVATE_NETWORKS = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
CIDR_RULE = (
    "an IPv4 network inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, written without host bits, "
    f"prefix /16 (VPC maximum) to /{SUBNET_PREFIX_LENGTH - 1} (room for az_count /{SUBNET_PREFIX_LENGTH} subnets)"
)


def private_network_problem(value: str) -> str | None:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError as error:
        return f"must be {CIDR_RULE}: {error}"
    if str(network) != value:
        return f"must be {CIDR_RULE}, written as {network}"
    if not any(network.subnet_of(private) for private in PRIVATE_NETWORKS):
        return f"must be {CIDR_RULE}: {network} is not a private range"
    if not 16 <= network.prefixlen < SUBNET_PREFIX_LENGTH:
        return f"must be {CIDR_RULE}: /{network.prefixlen} is outside /16 to /{SUBNET_PREFIX_LENGTH - 1}"
    return None


def _instance_type_problem(value: str) -> str | None:
    if instance_types.parse(value) is None:
        return f"must be a SageMaker instance type matching {instance_types.INSTANCE_TYPE_PATTERN}"
    return None


@dataclass(frozen=True)
class NetworkConfig:
    """VPC shape: isolated subnets only, so every AWS API is reached via VPC endpoints."""

    az_count: int = setting(2, min=2, max=6, doc="Availability Zones the VPC spans")
    cidr: str = setting("10.40.0.0/16", check=private_network_problem, doc=CIDR_RULE)
    flow_log_retention_days: int = setting(MIN_AUDIT_LOG_DAYS, choices=LOG_RETENTION_DAYS)

    def check(self, path: str, stage: StageConfig) -> None:
        prefix = int(self.cidr.rsplit("/", 1)[1])
        if 2 ** (SUBNET_PREFIX_LENGTH - prefix) < self.az_count:
            widest = SUBNET_PREFIX_LENGTH - math.ceil(math.log2(self.az_count))
            raise ConfigError(
                f"{path}.cidr",
                self.cidr,
                f"holds {2 ** (SUBNET_PREFIX_LENGTH - prefix)} /{SUBNET_PREFIX_LENGTH} subnets, fewer than "
                f"az_count ({self.az_count}); use a prefix of /{widest} or shorter",
            )


@dataclass(frozen=True)
class DataLakeConfig:
    """Zone buckets: lifecycle transitions, noncurrent-version expiry and removal."""

    infrequent_access_after_days: int = setting(30, min=30, max=3650, doc="S3 requires >= 30 days for STANDARD_IA")
    glacier_after_days: int = setting(90, min=31, max=3650)
    noncurrent_versions_expire_after_days: int = setting(30, min=1, max=3650)
    access_log_expire_after_days: int = setting(365, min=1, max=3650)
    athena_results_expire_after_days: int = setting(30, min=1, max=3650)
    removal_policy: Literal["destroy", "retain"] = setting("retain", choices=("destroy", "retain"))

    def check(self, path: str, stage: StageConfig) -> None:
        if self.glacier_after_days <= self.infrequent_access_after_days:
            raise ConfigError(
                f"{path}.glacier_after_days",
                self.glacier_after_days,
                f"must be greater than infrequent_access_after_days ({self.infrequent_access_after_days})",
            )
        if self.removal_policy == "destroy" and not stage.sandbox:
            raise ConfigError(
                f"{path}.removal_policy",
                self.removal_policy,
                "'destroy' is allowed only on sandbox stages (sandbox: true); use 'retain'",
            )


@dataclass(frozen=True)
class LakeFormationConfig:
    """Extra Lake Formation administrators besides the CDK deployment role."""

    admin_arns: tuple[str, ...] = setting(
        (),
        check=iam_arn_problem,
        unique=iam_principal_key,
        doc=f"IAM role or user ARNs {IAM_ARN_PATTERN} in the stage's partition, each principal once",
    )

    def check(self, path: str, stage: StageConfig) -> None:
        check_partition(self.admin_arns, f"{path}.admin_arns", stage)


def check_partition(arns: tuple[str, ...], path: str, stage: StageConfig) -> None:
    """Principals of another partition cannot be granted anything in the stage's region."""
    expected = partition_of(stage.region or "")
    for i, arn in enumerate(arns):
        if expected and iam_arn_partition(arn) != expected:
            raise ConfigError(
                f"{path}[{i}]", arn, f"must be in the partition of region {stage.region} (arn:{expected}:...)"
            )


@dataclass(frozen=True)
class KeysConfig:
    """Who administers the customer-managed keys; administrators cannot use them to decrypt."""

    admin_principals: tuple[str, ...] = setting(
        (),
        pattern=PRINCIPAL_PATTERN,
        doc="besides the CDK deployment role; ARNs or role/... of the stage account, * allowed",
    )


@dataclass(frozen=True)
class PersonasConfig:
    """Who may assume the persona roles that query the lake through Athena."""

    data_scientist: tuple[str, ...] = setting(
        (),
        pattern=PRINCIPAL_PATTERN,
        doc="principals of the PII persona; ARNs or role/... of the stage account, * allowed",
    )
    mlops: tuple[str, ...] = setting(
        (),
        pattern=PRINCIPAL_PATTERN,
        doc="principals of the non-PII persona; ARNs or role/... of the stage account, * allowed",
    )

    def check(self, path: str, stage: StageConfig) -> None:
        for name in ("data_scientist", "mlops"):
            if not getattr(self, name) and not stage.sandbox:
                raise ConfigError(
                    f"{path}.{name}",
                    [],
                    "must name at least one principal outside sandbox stages (an empty list trusts every "
                    "MFA-authenticated principal of the account)",
                )


@dataclass(frozen=True)
class FunctionConfig:
    """Sizing of one Lambda function."""

    memory_mib: int = setting(512, min=128, max=10240)
    timeout_seconds: int = setting(60, min=1, max=900)
    reserved_concurrency: int = setting(5, min=1, max=1000)
    log_retention_days: int = setting(MIN_AUDIT_LOG_DAYS, choices=LOG_RETENTION_DAYS)


@dataclass(frozen=True)
class IngestionConfig:
    """Kinesis Data Streams -> Firehose -> raw zone.

    Firehose limits checked here: dynamic partitioning needs an S3 buffer of 64-128 MiB;
    the Lambda processor buffers 0.2-3 MiB for 60-900 s and may run at most 5 minutes.
    """

    stream_mode: Literal["on_demand", "provisioned"] = setting("on_demand", choices=("on_demand", "provisioned"))
    shard_count: int = setting(1, min=1, max=500, doc="used when stream_mode is provisioned")
    retention_hours: int = setting(24, min=24, max=8760)
    buffer_size_mib: int = setting(64, min=64, max=128, doc="dynamic partitioning requires 64-128 MiB")
    buffer_interval_seconds: int = setting(300, min=60, max=900)
    processor_buffer_size_mib: float = setting(1.0, min=0.2, max=3.0, doc="Lambda processor buffer, MiB")
    processor_buffer_interval_seconds: int = setting(60, min=60, max=900)
    processor_retries: int = setting(3, min=0, max=300)
    transform: FunctionConfig = field(default_factory=FunctionConfig)

    def check(self, path: str, stage: StageConfig) -> None:
        if self.transform.timeout_seconds > 300:
            raise ConfigError(
                f"{path}.transform.timeout_seconds",
                self.transform.timeout_seconds,
                "must be at most 300: Firehose waits at most 5 minutes for a transform Lambda",
            )
        if self.stream_mode == "on_demand" and self.shard_count != 1:
            raise ConfigError(
                f"{path}.shard_count",
                self.shard_count,
                "applies only to stream_mode 'provisioned'; remove it or set stream_mode",
            )


@dataclass(frozen=True)
class EtlConfig:
    """The Glue Spark job that prepares the raw zone for training, and its schedule."""

    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = setting("G.1X", choices=("G.1X", "G.2X", "G.4X", "G.8X"))
    number_of_workers: int = setting(2, min=2, max=299)
    timeout_minutes: int = setting(60, min=1, max=2880)
    max_retries: int = setting(1, min=0, max=10)
    schedule: str = setting(
        "cron(0 3 * * ? *)",
        check=lambda value: schedule_problem(value, rate=False, min_interval_minutes=5),
        doc="cron(minutes hours day-of-month month day-of-week year) in UTC; Glue triggers take cron "
        "only, at most every 5 minutes, with exactly one of the day fields '?'",
    )
    scaling_method: Literal["standard", "minmax", "maxabs", "robust"] = setting(
        "standard", choices=("standard", "minmax", "maxabs", "robust")
    )
    validation_fraction: float = setting(0.2, min=0.05, max=0.5)
    log_retention_days: int = setting(30, choices=LOG_RETENTION_DAYS)


@dataclass(frozen=True)
class ApiConfig:
    """The inference API: auth, limits, throttling and WAF."""

    authorization: Literal["iam", "api_key"] = setting("iam", choices=("iam", "api_key"), doc="SigV4 by default")
    max_batch_size: int = setting(100, min=1, max=1000, doc="instances per request")
    max_body_bytes: int = setting(262144, min=1024, max=6291456, doc="request body limit enforced by the Lambda")
    throttle_rate_limit: float = setting(
        50.0, min=1.0, max=5000.0, doc="steady requests per second for the stage, at most throttle_burst_limit"
    )
    throttle_burst_limit: int = setting(100, min=1, max=5000)
    waf_rate_limit: int = setting(1000, min=10, max=2000000000, doc="requests per IP per 5 minutes before WAF blocks")
    usage_plan_daily_quota: int = setting(100000, min=1, max=100000000, doc="api_key mode only")
    security_policy: str = setting(
        "SecurityPolicy_TLS13_1_2_2021_06",
        pattern=r"TLS_1_2|SecurityPolicy_TLS1[23]_[A-Z0-9_]+",
        doc="TLS 1.2 or newer",
    )
    function: FunctionConfig = field(
        default_factory=lambda: FunctionConfig(memory_mib=1024, timeout_seconds=29, reserved_concurrency=20)
    )

    def check(self, path: str, stage: StageConfig) -> None:
        timeout = self.function.timeout_seconds
        if not MIN_FUNCTION_TIMEOUT_SECONDS <= timeout <= GATEWAY_TIMEOUT_SECONDS:
            raise ConfigError(
                f"{path}.function.timeout_seconds",
                timeout,
                f"must be between {MIN_FUNCTION_TIMEOUT_SECONDS} and {GATEWAY_TIMEOUT_SECONDS}: API Gateway ends "
                f"integrations after {GATEWAY_TIMEOUT_SECONDS} seconds, and the predict function needs "
                f"{MIN_FUNCTION_TIMEOUT_SECONDS} for one endpoint attempt besides its own work",
            )
        if self.throttle_burst_limit < self.throttle_rate_limit:
            raise ConfigError(
                f"{path}.throttle_burst_limit",
                self.throttle_burst_limit,
                f"must be at least throttle_rate_limit ({self.throttle_rate_limit:g})",
            )


@dataclass(frozen=True)
class ObservabilityConfig:
    """Where alarms go, the audit trail, and the alarm thresholds of each pipeline stage."""

    alarm_emails: tuple[str, ...] = setting(
        (),
        check=email_problem,
        unique=mailbox_key,
        doc="e-mail addresses local@domain.tld (at most 254 characters) subscribed to the alarm topic, each "
        "once (compared case-insensitively)",
    )
    trail_log_retention_days: int = setting(365, choices=LOG_RETENTION_DAYS)
    trail_expire_after_days: int = setting(365, min=1, max=3650, doc="trail and access-log objects")
    trail_object_lock_mode: Literal["governance", "compliance"] | None = setting(
        None,
        choices=("governance", "compliance"),
        doc="S3 Object Lock on the trail bucket; null: governance on sandbox stages, else compliance, "
        "which no one (not even the root user) can lift",
    )
    trail_object_lock_days: int = setting(365, min=1, max=3650, doc="how long each trail object is locked")
    kinesis_iterator_age_seconds: int = setting(300, min=1, max=604800, doc="oldest unread record in the stream")
    firehose_freshness_seconds: int = setting(900, min=60, max=86400, doc="age of the oldest record not yet in S3")
    transform_failed_records: int = setting(1, min=1, max=1000000, doc="records the transform rejected per 5 minutes")
    lambda_errors: int = setting(1, min=1, max=100000, doc="function errors per 5 minutes")
    lambda_throttles: int = setting(1, min=1, max=100000, doc="throttled invocations per 5 minutes")
    glue_failed_tasks: int = setting(1, min=1, max=100000, doc="failed Spark tasks per 5 minutes")
    api_5xx_errors: int = setting(5, min=1, max=100000, doc="5XX responses per 5 minutes")
    api_latency_p99_ms: int = setting(3000, min=1, max=29000)

    def check(self, path: str, stage: StageConfig) -> None:
        if self.trail_object_lock_mode == "compliance" and stage.sandbox:
            raise ConfigError(
                f"{path}.trail_object_lock_mode",
                self.trail_object_lock_mode,
                "must be 'governance' on sandbox stages: compliance-mode objects cannot be deleted by anyone "
                "until their retention ends, so the stage could not be destroyed",
            )
        if self.trail_object_lock_days > self.trail_expire_after_days:
            raise ConfigError(
                f"{path}.trail_object_lock_days",
                self.trail_object_lock_days,
                f"must not exceed trail_expire_after_days ({self.trail_expire_after_days})",
            )


VARIANT_NAME_PATTERN = r"[A-Za-z0-9](-*[A-Za-z0-9]){0,62}"


def _package_arn_problem(value: str) -> str | None:
    if parse_package_arn(value) is None:
        return f"must be {PACKAGE_ARN_FORM} (lowercase group, version from 1)"
    return None


@dataclass(frozen=True)
class VariantConfig:
    """One production variant: its traffic weight and autoscaling bounds."""

    name: str = setting(
        "primary",
        pattern=VARIANT_NAME_PATTERN,
        doc="SageMaker variant name; names must differ in more than case and hyphens",
    )
    weight: float = setting(1.0, min=0.0, max=1.0, doc="relative share of traffic")
    instance_type: str = setting(
        "ml.m5.large",
        check=_instance_type_problem,
        doc="a SageMaker instance type ml.<family>.<size>, e.g. ml.m5.large",
    )
    min_capacity: int = setting(
        2, min=1, max=100, doc="1 only on sandbox stages with autoscaling: false (RDY-SM7 needs 2 to autoscale)"
    )
    max_capacity: int = setting(4, min=1, max=100)
    model_data_url: str | None = setting(
        None,
        pattern=r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\x00-\x1f\x7f]{1,900}\.tar\.gz",
        doc="defaults to the built model asset",
    )
    model_package_arn: str | None = setting(
        None,
        check=_package_arn_problem,
        doc=f"{PACKAGE_ARN_FORM} of the stage's model package group, serving instead of the bundled model "
        "(`make promote` pins it)",
    )
    baseline_url: str | None = setting(
        None,
        pattern=r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\x00-\x1f\x7f*?]{1,900}\.json",
        doc="the drift baseline of the model at model_data_url or model_package_arn (its training run's "
        "statistics/runs/<run>/drift_baseline.json; `make promote` sets it); the bundled model's travels with it",
    )


MAX_VARIANTS = 10  # production variants per SageMaker endpoint config
DEPLOYMENT_MODES = {
    "all_at_once": guardrails.ALL_AT_ONCE,
    "canary": guardrails.CANARY,
    "linear": guardrails.LINEAR,
    "rolling": guardrails.ROLLING,
}
STEP_UNITS = {"instances": guardrails.INSTANCE_COUNT, "percent": guardrails.CAPACITY_PERCENT}
# The endpoint's alarms on the new fleet that may roll an update back (the Inference stack creates them).
ROLLBACK_ALARMS = ("invocation_5xx", "model_errors", "model_latency_p99")
STEP_HELP = "canary: instances or percent the canary gets, at most half; linear: 10-50%; rolling: 5-50%"


@dataclass(frozen=True)
class DeploymentConfig:
    """How an endpoint update replaces the fleet (SageMaker deployment guardrails, `stacks.guardrails`).

    Blue/green modes start the new fleet beside the old one and shift traffic to it all at
    once, to a canary first or in linear steps; `rolling` replaces the fleet in batches and
    needs capacity for one batch only. After each step the update waits `wait_seconds`
    while the rollback alarms watch the new fleet; one in alarm rolls the update back.
    """

    mode: Literal["all_at_once", "canary", "linear", "rolling"] = setting(
        "all_at_once",
        choices=tuple(DEPLOYMENT_MODES),
        doc="blue/green all_at_once, canary or linear traffic shifting, or a rolling update (one variant only)",
    )
    step: int | None = setting(
        None,
        min=1,
        max=100,
        doc="canary size, linear step or rolling batch in step_unit; required by those modes, refused by all_at_once",
    )
    step_unit: Literal["instances", "percent"] = setting(
        "instances", choices=tuple(STEP_UNITS), doc="step and rollback_step count instances or percent of a variant's"
    )
    rollback_step: int | None = setting(
        None, min=1, max=100, doc="rolling only: batch of a rollback in step_unit (null: the old fleet at once)"
    )
    wait_seconds: int = setting(
        600,
        min=guardrails.WAIT_SECONDS[0],
        max=guardrails.WAIT_SECONDS[1],
        doc="baking period after each traffic step, while the rollback alarms watch the new fleet",
    )
    termination_wait_seconds: int = setting(
        0,
        min=guardrails.TERMINATION_WAIT_SECONDS[0],
        max=guardrails.TERMINATION_WAIT_SECONDS[1],
        doc="blue/green only: final baking period before the old fleet is terminated",
    )
    max_execution_timeout_seconds: int = setting(
        3600,
        min=guardrails.MAX_EXECUTION_TIMEOUT_SECONDS[0],
        max=guardrails.MAX_EXECUTION_TIMEOUT_SECONDS[1],
        doc="the whole update; longer than all its waits",
    )
    rollback_alarms: tuple[str, ...] = field(
        default_factory=lambda: ROLLBACK_ALARMS,
        metadata=rule(
            choices=ROLLBACK_ALARMS,
            unique=lambda name: name,
            doc="the endpoint's new-fleet alarms whose ALARM state rolls an update back, each once",
        ),
    )

    @property
    def kind(self) -> str:
        return DEPLOYMENT_MODES[self.mode]

    @property
    def unit(self) -> str:
        return STEP_UNITS[self.step_unit]

    def fleets(self, inference: InferenceConfig) -> list[guardrails.Fleet]:
        """Each variant as an update finds it: autoscaling may have taken it anywhere from min to max."""
        return [
            guardrails.Fleet(
                v.name, v.instance_type, v.min_capacity, v.max_capacity if inference.autoscaling else v.min_capacity
            )
            for v in inference.variants
        ]

    def validate(self, path: str, inference: InferenceConfig) -> None:
        """The limits that depend on the variants (run by InferenceConfig.check, after the variants' own)."""
        if self.mode == "all_at_once" and self.step is not None:
            raise ConfigError(f"{path}.step", self.step, "applies only to modes canary, linear and rolling; remove it")
        if self.mode != "all_at_once" and self.step is None:
            raise ConfigError(f"{path}.step", None, f"is required by mode {self.mode!r} ({STEP_HELP})")
        if self.mode != "rolling" and self.rollback_step is not None:
            raise ConfigError(f"{path}.rollback_step", self.rollback_step, "applies only to mode 'rolling'; remove it")
        if self.mode == "rolling" and self.termination_wait_seconds:
            raise ConfigError(
                f"{path}.termination_wait_seconds",
                self.termination_wait_seconds,
                "applies only to blue/green modes (all_at_once, canary, linear); a rolling update has none",
            )
        if self.mode == "rolling" and len(inference.variants) > 1:
            raise ConfigError(
                f"{path}.mode",
                self.mode,
                f"cannot update an endpoint with {len(inference.variants)} variants: SageMaker excludes "
                "multi-variant endpoints from rolling updates; use a blue/green mode",
            )
        fleets = self.fleets(inference)
        problems = [guardrails.step_problem(self.kind, self.step, self.unit, f) for f in fleets] if self.step else []
        problem = next(filter(None, problems), None)
        if problem:
            raise ConfigError(f"{path}.step", self.step, problem)
        if not self.rollback_alarms:
            raise ConfigError(
                f"{path}.rollback_alarms",
                [],
                f"must name at least one of {list(ROLLBACK_ALARMS)}: nothing would roll a bad update back",
            )
        waiting = guardrails.waiting_seconds(
            self.kind, self.step, self.unit, self.wait_seconds, self.termination_wait_seconds, fleets
        )
        if self.max_execution_timeout_seconds <= waiting:
            raise ConfigError(
                f"{path}.max_execution_timeout_seconds",
                self.max_execution_timeout_seconds,
                f"must be longer than the update's waits: up to {waiting} s (wait_seconds after each of its steps "
                "plus termination_wait_seconds)",
            )


@dataclass(frozen=True)
class InferenceConfig:
    """SageMaker real-time endpoint: variants, autoscaling, data capture, alarms."""

    xgboost_version: str = setting(
        image_uris.DEFAULT_VERSION,
        choices=tuple(image_uris.cached_versions()),
        doc="versions in stacks/xgboost_image_uris.json; add one SageMaker publishes with "
        "`python -m stacks.image_uris --refresh --versions <all cached> <new>`",
    )
    image_uri: str | None = setting(
        None,
        pattern=r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[\w./-]+:[\w.-]+",
        doc="pins the container instead of the built-in XGBoost registry",
    )
    variants: tuple[VariantConfig, ...] = field(default_factory=lambda: (VariantConfig(),))
    autoscaling: bool = setting(True)
    target_invocations_per_instance: int = setting(
        200, min=1, max=100000, doc="per minute; find it with tools/load_test.py"
    )
    scale_in_cooldown_seconds: int = setting(300, min=0, max=3600)
    scale_out_cooldown_seconds: int = setting(60, min=0, max=3600)
    data_capture_percentage: int = setting(20, min=0, max=100)
    volume_encryption: bool = setting(
        True,
        doc="encrypt the ML storage volume with the inference CMK; false only with an NVMe instance type, "
        "whose instance storage SageMaker encrypts with a hardware key (the compliance finding is acknowledged)",
    )
    latency_p99_ms: int = setting(500, min=1, max=60000)
    invocation_5xx_threshold: int = setting(5, min=1, max=100000)
    model_error_threshold: int = setting(5, min=1, max=100000)
    cpu_utilization_percent: int = setting(80, min=1, max=10000, doc="summed over vCPUs, so it may exceed 100")
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)

    def check(self, path: str, stage: StageConfig) -> None:
        if not 1 <= len(self.variants) <= MAX_VARIANTS:
            raise ConfigError(
                f"{path}.variants", len(self.variants), f"must list 1 to {MAX_VARIANTS} production variants"
            )
        seen: dict[str, int] = {}
        for i, variant in enumerate(self.variants):
            key = names.variant_id(variant.name)
            if key in seen:
                raise ConfigError(
                    f"{path}.variants[{i}].name",
                    variant.name,
                    f"must differ from variants[{seen[key]}].name in more than case and hyphens: both name the "
                    f"constructs of variant {key!r}",
                )
            seen[key] = i
        if sum(v.weight for v in self.variants) <= 0:
            raise ConfigError(
                f"{path}.variants", [v.weight for v in self.variants], "weights must add up to more than 0"
            )
        for i, variant in enumerate(self.variants):
            self._check_variant(f"{path}.variants[{i}]", variant, stage)
        if not self.volume_encryption and not any(instance_types.has_nvme(v.instance_type) for v in self.variants):
            raise ConfigError(
                f"{path}.volume_encryption",
                False,
                "may be false only when a variant's instance type has NVMe instance storage (SageMaker rejects "
                "a KMS volume key there); otherwise every compliance pack requires the key",
            )
        self.deployment.validate(f"{path}.deployment", self)

    def _check_variant(self, where: str, variant: VariantConfig, stage: StageConfig) -> None:
        if variant.min_capacity > variant.max_capacity:
            raise ConfigError(
                f"{where}.min_capacity", variant.min_capacity, f"must not exceed max_capacity ({variant.max_capacity})"
            )
        if variant.min_capacity < 2 and not stage.sandbox:
            raise ConfigError(
                f"{where}.min_capacity",
                variant.min_capacity,
                "must be at least 2 outside sandbox stages, so SageMaker spreads instances over Availability Zones",
            )
        if variant.min_capacity < 2 and self.autoscaling:
            raise ConfigError(
                f"{where}.min_capacity",
                variant.min_capacity,
                "must be at least 2 while autoscaling is on (readiness rule RDY-SM7: one instance cannot span "
                "Availability Zones); a sandbox may run 1 instance with autoscaling: false",
            )
        if variant.baseline_url is not None and model_source(variant).kind == "bundled":
            raise ConfigError(
                f"{where}.baseline_url",
                variant.baseline_url,
                "is for a variant that serves model_data_url or model_package_arn; the bundled model's baseline "
                "(model/drift_baseline.json) is the one it was trained with",
            )
        if variant.model_package_arn is not None:
            self._check_package(where, variant.model_package_arn, variant, stage)
        if guardrails.excluded(variant.instance_type):
            raise ConfigError(
                f"{where}.instance_type",
                variant.instance_type,
                "is an Inf1 type, which SageMaker deployment guardrails exclude (updates would shift all traffic at "
                "once, without baking or rollback); pick another type, for example ml.inf2",
            )
        parsed = instance_types.parse(variant.instance_type)
        if self.autoscaling and parsed is not None and parsed.burstable:
            raise ConfigError(
                f"{where}.instance_type",
                variant.instance_type,
                "is burstable (ml.t*), which cannot autoscale; pick another type or set autoscaling: false",
            )
        if self.volume_encryption and parsed is not None and parsed.nvme:
            raise ConfigError(
                f"{where}.instance_type",
                variant.instance_type,
                "has NVMe instance storage, which rejects a KMS volume key; pick a type without instance storage "
                "or set volume_encryption: false (SageMaker encrypts instance storage with a hardware key)",
            )

    @staticmethod
    def _check_package(where: str, arn: str, variant: VariantConfig, stage: StageConfig) -> None:
        """A package of this stage's group, in its region and account: the endpoint's role reads only the
        artifacts its own training pipeline writes."""
        path = f"{where}.model_package_arn"
        if variant.model_data_url is not None:
            raise ConfigError(path, arn, "and model_data_url exclude each other: a variant serves one model")
        package = parse_package_arn(arn)
        assert package is not None  # the pattern was checked
        group = names.model_package_group_name(stage.name)
        if package.group != group:
            raise ConfigError(path, arn, f"must be a version of this stage's model package group {group}")
        if stage.region and (package.region, package.partition) != (stage.region, partition_of(stage.region)):
            raise ConfigError(path, arn, f"must be a package in the stage's region {stage.region}")
        if stage.account and package.account != stage.account:
            raise ConfigError(path, arn, f"must be a package of the stage's account {stage.account}")


# Hyperparameters of SageMaker's built-in XGBoost that a tuning job may search, with the
# kind of range and the bounds of the XGBoost tuning guide ("Tune an XGBoost model").
XGBOOST_TUNING_BOUNDS: dict[str, tuple[Literal["continuous", "integer"], float, float]] = {
    "alpha": ("continuous", 0, 1000),
    "colsample_bylevel": ("continuous", 0.1, 1),
    "colsample_bynode": ("continuous", 0.1, 1),
    "colsample_bytree": ("continuous", 0.5, 1),
    "eta": ("continuous", 0.1, 0.5),
    "gamma": ("continuous", 0, 5),
    "lambda": ("continuous", 0, 1000),
    "max_delta_step": ("continuous", 0, 10),
    "max_depth": ("integer", 0, 10),
    "min_child_weight": ("continuous", 0, 120),
    "subsample": ("continuous", 0.5, 1),
}
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


@dataclass(frozen=True)
class ParameterRange:
    """One hyperparameter the tuning job searches, between two bounds."""

    hyperparameter: str = setting("eta", choices=tuple(XGBOOST_TUNING_BOUNDS))
    min_value: float = setting(0.1)
    max_value: float = setting(0.5)
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = setting("Auto", choices=SCALING_TYPES)

    def check(self, path: str, stage: StageConfig) -> None:
        kind, low, high = XGBOOST_TUNING_BOUNDS[self.hyperparameter]
        for key, value in (("min_value", self.min_value), ("max_value", self.max_value)):
            if not low <= value <= high or (kind == "integer" and not float(value).is_integer()):
                number = "an integer" if kind == "integer" else "a number"
                raise ConfigError(
                    f"{path}.{key}", value, f"must be {number} between {low:g} and {high:g} for {self.hyperparameter}"
                )
        if self.min_value >= self.max_value:
            raise ConfigError(f"{path}.min_value", self.min_value, f"must be less than max_value ({self.max_value:g})")
        if self.scaling == "Logarithmic" and self.min_value <= 0:
            raise ConfigError(f"{path}.scaling", self.scaling, "needs min_value > 0 (logarithmic scaling)")
        if self.scaling == "ReverseLogarithmic" and (kind == "integer" or self.max_value >= 1):
            raise ConfigError(
                f"{path}.scaling", self.scaling, "applies only to continuous ranges within 0 <= value < 1"
            )


@dataclass(frozen=True)
class TrainingConfig:
    """The training pipeline: tuning job size, its locked-down training jobs, the evaluation gate.

    `rmse_threshold` is in label units (the price); a candidate passes when its validation
    RMSE is below it and at most `rmse_tolerance` (a fraction) worse than the Approved model's.
    """

    instance_type: str = setting(
        "ml.m5.large",
        check=_instance_type_problem,
        doc="a SageMaker instance type ml.<family>.<size>, not burstable, without NVMe instance storage",
    )
    instance_count: int = setting(1, min=1, max=20, doc="instances per training job")
    volume_size_gb: int = setting(10, min=1, max=16384)
    max_runtime_minutes: int = setting(60, min=1, max=40320, doc="stopping condition of each training job")
    max_jobs: int = setting(10, min=1, max=500, doc="training jobs the tuning job may start")
    max_parallel_jobs: int = setting(2, min=1, max=100)
    num_round: int = setting(200, min=1, max=4000, doc="boosting rounds; early stopping may end sooner")
    parameter_ranges: tuple[ParameterRange, ...] = field(
        default_factory=lambda: (
            ParameterRange(hyperparameter="eta", min_value=0.1, max_value=0.5),
            ParameterRange(hyperparameter="max_depth", min_value=3, max_value=9),
            ParameterRange(hyperparameter="min_child_weight", min_value=1, max_value=10),
            ParameterRange(hyperparameter="subsample", min_value=0.5, max_value=1),
        ),
        metadata=rule(unique=lambda r: r.hyperparameter, doc="each hyperparameter once"),
    )
    rmse_threshold: float = setting(100000.0, min=0.0, max=1e12, doc="validation RMSE a candidate must stay under")
    rmse_tolerance: float = setting(
        0.05, min=0.0, max=1.0, doc="how much worse than the Approved model a candidate may be, as a fraction"
    )
    auto_approve: bool = setting(False, doc="register packages as Approved (sandbox stages only)")
    spot: bool = setting(False, doc="managed spot training, with checkpoints")
    max_wait_minutes: int = setting(120, min=1, max=40320, doc="spot only: runtime plus waiting for capacity")
    log_retention_days: int = setting(MIN_AUDIT_LOG_DAYS, choices=LOG_RETENTION_DAYS, doc="the state machine's log")
    gate: FunctionConfig = field(
        default_factory=lambda: FunctionConfig(memory_mib=256, timeout_seconds=30, reserved_concurrency=2)
    )

    def check(self, path: str, stage: StageConfig) -> None:
        parsed = instance_types.parse(self.instance_type)
        if parsed is not None and parsed.burstable:
            raise ConfigError(
                f"{path}.instance_type", self.instance_type, "is burstable (ml.t*), which SageMaker does not train on"
            )
        if parsed is not None and parsed.nvme:
            raise ConfigError(
                f"{path}.instance_type",
                self.instance_type,
                "has NVMe instance storage, which rejects the KMS volume key every training job sets; pick a type "
                "without instance storage",
            )
        if self.max_parallel_jobs > self.max_jobs:
            raise ConfigError(
                f"{path}.max_parallel_jobs", self.max_parallel_jobs, f"must not exceed max_jobs ({self.max_jobs})"
            )
        if self.spot and self.max_wait_minutes < self.max_runtime_minutes:
            raise ConfigError(
                f"{path}.max_wait_minutes",
                self.max_wait_minutes,
                f"must be at least max_runtime_minutes ({self.max_runtime_minutes}) with spot training",
            )
        if self.auto_approve and not stage.sandbox:
            raise ConfigError(
                f"{path}.auto_approve",
                True,
                "is allowed only on sandbox stages (sandbox: true); approve packages by hand",
            )
        if not self.parameter_ranges:
            raise ConfigError(f"{path}.parameter_ranges", [], "must list at least one hyperparameter to tune")


@dataclass(frozen=True)
class MonitoringConfig:
    """Drift monitoring: the endpoint's captured traffic against each variant's training baseline.

    Population stability index conventions: below 0.1 no significant shift, 0.1 to 0.25 a
    moderate one, above 0.25 a significant one. A single input feature alarms at the
    significant level (nine features drift a little by chance); the predictions, which is
    what callers see, at the moderate level.
    """

    enabled: bool = setting(True, doc="the scheduled drift function, its alarms and its dashboard section")
    schedule: str = setting(
        "cron(15 * * * ? *)",
        check=schedule_problem,
        doc="EventBridge rate(...) or cron(...) in UTC; each run reads the window_hours whole hours that ended "
        "at least 10 minutes before it (so keep window_hours at least the time between runs)",
    )
    window_hours: int = setting(
        1, min=1, max=24, doc="hours of capture per run; also the alarm period, which CloudWatch limits to a day"
    )
    min_sample_size: int = setting(
        500,
        min=1,
        max=10000000,
        doc="captured rows a window needs before its drift is published; thinner windows publish their counts "
        "only, so they can never raise a drift alarm",
    )
    feature_psi_threshold: float = setting(
        0.25, min=0.01, max=10.0, doc="alarm when any input feature's PSI reaches it (0.25: a significant shift)"
    )
    prediction_psi_threshold: float = setting(
        0.1, min=0.01, max=10.0, doc="alarm when the predictions' PSI reaches it (0.1: a moderate shift)"
    )
    variants: tuple[str, ...] | None = setting(
        None,
        pattern=VARIANT_NAME_PATTERN,
        unique=lambda name: name,
        doc="names of inference.variants to monitor, each once; null: every variant",
    )
    function: FunctionConfig = field(
        default_factory=lambda: FunctionConfig(memory_mib=1024, timeout_seconds=300, reserved_concurrency=1)
    )

    def monitored(self, inference: InferenceConfig) -> list[VariantConfig]:
        """The variants the drift function reads, in the order inference lists them."""
        if not self.enabled:
            return []
        return [v for v in inference.variants if self.variants is None or v.name in self.variants]

    def check(self, path: str, stage: StageConfig) -> None:
        names = [v.name for v in stage.inference.variants]
        if self.variants == ():
            raise ConfigError(
                f"{path}.variants",
                [],
                "must name at least one variant (null monitors every variant; enabled: false none)",
            )
        for i, name in enumerate(self.variants or ()):
            if name not in names:
                raise ConfigError(f"{path}.variants[{i}]", name, f"must name one of inference.variants {names}")
        inference_path = f"{path.rsplit('.', 1)[0]}.inference.variants"
        for variant in self.monitored(stage.inference):
            source = model_source(variant)
            if source.kind != "bundled" and variant.baseline_url is None:
                raise ConfigError(
                    f"{inference_path}[{names.index(variant.name)}].baseline_url",
                    None,
                    f"is required: variant {variant.name!r} serves {source.kind} and is monitored, and only its "
                    "training run knows its baseline (statistics/runs/<run>/drift_baseline.json in the curated zone; "
                    "make promote sets it for a package); or leave it out of monitoring.variants",
                )


@dataclass(frozen=True)
class StageConfig:
    """Everything one stage deploys with. Built by :func:`load_stage`."""

    name: str = field(metadata=rule(check=names.stage_name_problem, fixed=True, doc=names.STAGE_NAME_RULE))
    sandbox: bool = setting(False, doc="sandbox stages may be destroyed completely")
    account: str | None = setting(None, pattern=r"[0-9]{12}", doc="else CDK_DEFAULT_ACCOUNT")
    region: str | None = setting(
        None,
        pattern=REGION_PATTERN,
        check=region_problem,
        doc="required here or in CDK_DEFAULT_REGION; a region botocore knows with a cached XGBoost image",
    )
    network: NetworkConfig = field(default_factory=NetworkConfig)
    data_lake: DataLakeConfig = field(default_factory=DataLakeConfig)
    lake_formation: LakeFormationConfig = field(default_factory=LakeFormationConfig)
    ingestion: IngestionConfig = field(default_factory=IngestionConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    etl: EtlConfig = field(default_factory=EtlConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    personas: PersonasConfig = field(default_factory=PersonasConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    @property
    def termination_protection(self) -> bool:
        return not self.sandbox

    @property
    def trail_object_lock_mode(self) -> Literal["governance", "compliance"]:
        """The configured Object Lock mode of the trail bucket, else the stage's default."""
        return self.observability.trail_object_lock_mode or ("governance" if self.sandbox else "compliance")

    def check(self, path: str, stage: StageConfig) -> None:
        if self.sandbox:
            return
        for key, days in self.log_retention().items():
            if days < MIN_AUDIT_LOG_DAYS:
                raise ConfigError(
                    f"{path}.{key}",
                    days,
                    f"must be at least {MIN_AUDIT_LOG_DAYS} outside sandbox stages "
                    "(PCI DSS 10.7 keeps one year of audit history)",
                )

    def log_retention(self) -> dict[str, int]:
        """Every log retention of the stage, by key path."""
        return {
            "network.flow_log_retention_days": self.network.flow_log_retention_days,
            "ingestion.transform.log_retention_days": self.ingestion.transform.log_retention_days,
            "api.function.log_retention_days": self.api.function.log_retention_days,
            "training.log_retention_days": self.training.log_retention_days,
            "training.gate.log_retention_days": self.training.gate.log_retention_days,
            "monitoring.function.log_retention_days": self.monitoring.function.log_retention_days,
            "observability.trail_log_retention_days": self.observability.trail_log_retention_days,
        }


def _settable(cls: Any) -> list[dataclasses.Field[Any]]:
    """The fields a stage block may set (not the ones the loader fills in itself)."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("fixed")]


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return f"an object with keys {sorted(f.name for f in _settable(tp))}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        tp, str(tp)
    )


def _allowed(tp: Any, meta: dict[str, Any]) -> str:
    parts = [_type_name(tp)]
    if meta.get("choices"):
        parts = [f"one of {list(meta['choices'])}"]
    if meta.get("min") is not None or meta.get("max") is not None:
        parts.append(f"between {meta.get('min')} and {meta.get('max')}")
    if meta.get("pattern"):
        parts.append(f"matching {meta['pattern']}")
    if meta.get("doc"):
        parts.append(f"({meta['doc']})")
    return "must be " + " ".join(parts)


def _convert(tp: Any, value: Any, path: str, meta: dict[str, Any], base: Any = None) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [a for a in options if a is not type(None)]
        return _convert(inner, value, path, meta)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(path, value, _allowed(tp, meta))
        return _build(tp, value, path, base=base)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(path, value, _allowed(tp, meta))
        items = tuple(_convert(get_args(tp)[0], v, f"{path}[{i}]", meta) for i, v in enumerate(value))
        _check_unique(items, path, meta)
        return items
    if origin is Literal:
        if not isinstance(value, str | int | bool) or value not in get_args(tp):
            raise ConfigError(path, value, _allowed(tp, meta))
        return value
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        str: isinstance(value, str),
    }.get(tp, False)
    if not ok:
        raise ConfigError(path, value, _allowed(tp, meta))
    _check_rules(value, path, tp, meta)
    return float(value) if tp is float else value


def _check_rules(value: Any, path: str, tp: Any, meta: dict[str, Any]) -> None:
    low, high, choices, pattern = meta.get("min"), meta.get("max"), meta.get("choices"), meta.get("pattern")
    if (
        (choices and value not in choices)
        or (low is not None and value < low)
        or (high is not None and value > high)
        or (pattern and not re.fullmatch(pattern, value, re.ASCII))
    ):
        raise ConfigError(path, value, _allowed(tp, meta))
    problem = meta["check"](value) if meta.get("check") else None
    if problem:
        raise ConfigError(path, value, problem)


def _check_unique(items: tuple[Any, ...], path: str, meta: dict[str, Any]) -> None:
    key_of = meta.get("unique")
    if key_of is None:
        return
    seen: dict[Hashable, int] = {}
    for i, item in enumerate(items):
        key = key_of(item)
        if key in seen:
            raise ConfigError(f"{path}[{i}]", item, f"repeats {path}[{seen[key]}] ({meta.get('doc', '')})")
        seen[key] = i


def _build(cls: Any, data: dict[str, Any], path: str, base: Any = None, **fixed: Any) -> Any:
    """Build `cls` from `data`; keys not given keep the values of `base` (the field's default)."""
    hints = get_type_hints(cls)
    known = {f.name: f for f in _settable(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}.{key}", data[key], f"unknown key; allowed keys are {sorted(known)}")
    values = dict(fixed)
    for name, f in known.items():
        if name in data:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            values[name] = _convert(hints[name], data[name], f"{path}.{name}", dict(f.metadata), base=default)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _check_tree(node: Any, path: str, stage: StageConfig) -> None:
    """Run the cross-field `check(path, stage)` of every section, innermost first."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        children = value if isinstance(value, tuple) else (value,)
        for i, child in enumerate(children):
            if dataclasses.is_dataclass(child) and not isinstance(child, type):
                _check_tree(child, f"{path}.{f.name}" + (f"[{i}]" if isinstance(value, tuple) else ""), stage)
    check = getattr(node, "check", None)
    if check is not None:
        check(path, stage)


def _field_rule(cls: Any, name: str) -> dict[str, Any]:
    return dict(next(f for f in dataclasses.fields(cls) if f.name == name).metadata)


def load_stage(stages: Any, name: str, *, account: str | None = None, region: str | None = None) -> StageConfig:
    """Validate the `stages` context block and build the config of stage `name`.

    `account`/`region` are the CDK_DEFAULT_* fallbacks for a stage that does not pin them;
    they are held to the same rules as values written in the stage.
    """
    if not isinstance(stages, dict) or not stages:
        raise ConfigError("stages", stages, "must be an object mapping stage names to settings in cdk.json")
    if name not in stages:
        raise ConfigError("stage", name, f"unknown stage; defined stages are {sorted(stages, key=str)}")
    _convert(str, name, "stage", _field_rule(StageConfig, "name"))
    settings = stages[name] if stages[name] is not None else {}
    path = f"stages.{name}"
    if not isinstance(settings, dict):
        raise ConfigError(path, settings, _allowed(StageConfig, {}))
    config: StageConfig = _build(StageConfig, settings, path, name=name)
    region_path = f"{path}.region"
    if config.account is None and account:
        checked = _convert(str, account, "CDK_DEFAULT_ACCOUNT", _field_rule(StageConfig, "account"))
        config = dataclasses.replace(config, account=checked)
    if config.region is None and region:
        region_path = "CDK_DEFAULT_REGION"
        config = dataclasses.replace(
            config, region=_convert(str, region, region_path, _field_rule(StageConfig, "region"))
        )
    _check_tree(config, path, config)
    _check_region(config, region_path)
    return config


def _check_region(config: StageConfig, path: str) -> None:
    """Synth resolves the SageMaker image (and the partition) of the region offline."""
    if config.region is None:
        raise ConfigError(path, None, "is required: set it in the stage or export CDK_DEFAULT_REGION")
    inference = config.inference
    if inference.image_uri is None and config.region not in image_uris.image_uris_by_region(inference.xgboost_version):
        raise ConfigError(
            path,
            config.region,
            f"has no SageMaker XGBoost {inference.xgboost_version} image in stacks/xgboost_image_uris.json; if "
            "SageMaker serves the region, add it with `python -m stacks.image_uris --refresh` (after updating "
            "sagemaker-core), or pin inference.image_uri",
        )
