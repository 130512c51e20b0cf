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
import re
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

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
ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+"


class ConfigError(ValueError):
    """A stage setting is unknown, mistyped or out of range."""

    def __init__(self, path: str, value: Any, allowed: str) -> None:
        super().__init__(f"invalid stage config: {path} = {value!r}: {allowed}")
        self.path = path
        self.value = value
        self.allowed = allowed


def rule(
    *,
    min: float | None = None,
    max: float | None = None,
    pattern: str | None = None,
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> dict[str, Any]:
    """Field metadata the loader enforces: numeric range, regex pattern or fixed choices."""
    return {"min": min, "max": max, "pattern": pattern, "choices": choices, "doc": doc}


def setting(default: Any, **kwargs: Any) -> Any:
    return field(default=default, metadata=rule(**kwargs))


@dataclass(frozen=True)
class NetworkConfig:
    """VPC shape: isolated subnets only, so every AWS API is reached via VPC endpoints."""

    az_count: int = setting(2, min=2, max=6, doc="Availability Zones the VPC spans")
    cidr: str = setting("10.40.0.0/16", pattern=r"\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])")
    flow_log_retention_days: int = setting(90, choices=LOG_RETENTION_DAYS)


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

    admin_arns: tuple[str, ...] = setting((), pattern=ARN_PATTERN, doc="IAM role or user ARNs")


@dataclass(frozen=True)
class FunctionConfig:
    """Sizing of one Lambda function."""

    memory_mib: int = setting(512, min=128, max=10240)
    timeout_seconds: int = setting(60, min=1, max=900)
    reserved_concurrency: int = setting(5, min=1, max=1000)
    log_retention_days: int = setting(30, choices=LOG_RETENTION_DAYS)


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
        "cron(0 3 * * ? *)", pattern=r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)", doc="EventBridge cron, UTC"
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
    throttle_rate_limit: float = setting(50.0, min=1.0, max=10000.0, doc="steady requests per second for the stage")
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
        if self.function.timeout_seconds > 29:
            raise ConfigError(
                f"{path}.function.timeout_seconds",
                self.function.timeout_seconds,
                "must be at most 29: API Gateway ends integrations after 29 seconds",
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
        (), pattern=r"[^@\s]+@[^@\s]+\.[a-z]{2,}", doc="e-mail subscriptions of the alarm topic"
    )
    trail_log_retention_days: int = setting(365, choices=LOG_RETENTION_DAYS)
    trail_expire_after_days: int = setting(365, min=1, max=3650, doc="trail and access-log objects")
    kinesis_iterator_age_seconds: int = setting(300, min=1, max=604800, doc="oldest unread record in the stream")
    firehose_freshness_seconds: int = setting(900, min=60, max=86400, doc="age of the oldest record not yet in S3")
    transform_failed_records: int = setting(1, min=1, max=1000000, doc="records the transform rejected per 5 minutes")
    lambda_errors: int = setting(1, min=1, max=100000, doc="function errors per 5 minutes")
    lambda_throttles: int = setting(1, min=1, max=100000, doc="throttled invocations per 5 minutes")
    glue_failed_tasks: int = setting(1, min=1, max=100000, doc="failed Spark tasks per 5 minutes")
    api_5xx_errors: int = setting(5, min=1, max=100000, doc="5XX responses per 5 minutes")
    api_latency_p99_ms: int = setting(3000, min=1, max=29000)


# Instance families with local NVMe instance storage: SageMaker rejects a KMS volume key on them.
NVME_INSTANCE_FAMILIES = (
    "ml.c5d",
    "ml.m5d",
    "ml.r5d",
    "ml.g4dn",
    "ml.g5",
    "ml.g6",
    "ml.g6e",
    "ml.p3dn",
    "ml.p4d",
    "ml.p4de",
    "ml.p5",
    "ml.trn1",
    "ml.inf2",
)
INSTANCE_TYPE_PATTERN = r"ml\.[a-z0-9]+\.[0-9]*x?large|ml\.[a-z0-9]+\.(medium|large|xlarge)"


@dataclass(frozen=True)
class VariantConfig:
    """One production variant: its traffic weight and autoscaling bounds."""

    name: str = setting("primary", pattern=r"[A-Za-z0-9](-*[A-Za-z0-9]){0,62}")
    weight: float = setting(1.0, min=0.0, max=1.0, doc="relative share of traffic")
    instance_type: str = setting("ml.m5.large", pattern=INSTANCE_TYPE_PATTERN)
    min_capacity: int = setting(2, min=1, max=100)
    max_capacity: int = setting(4, min=1, max=100)
    model_data_url: str | None = setting(
        None, pattern=r"s3://[a-z0-9.-]{3,63}/.+\.tar\.gz", doc="defaults to the built model asset"
    )


@dataclass(frozen=True)
class InferenceConfig:
    """SageMaker real-time endpoint: variants, autoscaling, data capture, alarms."""

    xgboost_version: str = setting("1.7-1", pattern=r"\d+\.\d+-\d+")
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
    volume_encryption: bool = setting(True, doc="encrypt the ML storage volume with the inference CMK")
    latency_p99_ms: int = setting(500, min=1, max=60000)
    invocation_5xx_threshold: int = setting(5, min=1, max=100000)
    model_error_threshold: int = setting(5, min=1, max=100000)
    cpu_utilization_percent: int = setting(80, min=1, max=10000, doc="summed over vCPUs, so it may exceed 100")

    def check(self, path: str, stage: StageConfig) -> None:
        if not self.variants:
            raise ConfigError(f"{path}.variants", [], "must list at least one production variant")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"{path}.variants", names, "variant names must be unique")
        if sum(v.weight for v in self.variants) <= 0:
            raise ConfigError(
                f"{path}.variants", [v.weight for v in self.variants], "weights must add up to more than 0"
            )
        for i, variant in enumerate(self.variants):
            where = f"{path}.variants[{i}]"
            if variant.min_capacity > variant.max_capacity:
                raise ConfigError(
                    f"{where}.min_capacity",
                    variant.min_capacity,
                    f"must not exceed max_capacity ({variant.max_capacity})",
                )
            if variant.min_capacity < 2 and not stage.sandbox:
                raise ConfigError(
                    f"{where}.min_capacity",
                    variant.min_capacity,
                    "must be at least 2 outside sandbox stages, so SageMaker spreads instances over Availability Zones",
                )
            if self.autoscaling and variant.instance_type.startswith("ml.t"):
                raise ConfigError(
                    f"{where}.instance_type",
                    variant.instance_type,
                    "burstable (ml.t*) instances cannot autoscale; pick another type or set autoscaling: false",
                )
            family = variant.instance_type.rsplit(".", 1)[0]
            if self.volume_encryption and family in NVME_INSTANCE_FAMILIES:
                raise ConfigError(
                    f"{where}.instance_type",
                    variant.instance_type,
                    "has NVMe instance storage, which rejects a KMS volume key; pick a type outside "
                    f"{list(NVME_INSTANCE_FAMILIES)} or set volume_encryption: false",
                )


@dataclass(frozen=True)
class StageConfig:
    """Everything one stage deploys with. Built by :func:`load_stage`."""

    name: str
    sandbox: bool = setting(False, doc="sandbox stages may be destroyed completely")
    account: str | None = setting(None, pattern=r"\d{12}")
    region: str | None = setting(None, pattern=r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
    network: NetworkConfig = field(default_factory=NetworkConfig)
    data_lake: DataLakeConfig = field(default_factory=DataLakeConfig)
    lake_formation: LakeFormationConfig = field(default_factory=LakeFormationConfig)
    ingestion: IngestionConfig = field(default_factory=IngestionConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    etl: EtlConfig = field(default_factory=EtlConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)

    @property
    def termination_protection(self) -> bool:
        return not self.sandbox

    def check(self, path: str, stage: StageConfig) -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if dataclasses.is_dataclass(section) and hasattr(section, "check"):
                section.check(f"{path}.{f.name}", self)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return f"an object with keys {sorted(f.name for f in dataclasses.fields(tp))}"
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
        return tuple(_convert(get_args(tp)[0], v, f"{path}[{i}]", meta) for i, v in enumerate(value))
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(path, value, _allowed(tp, meta))
        return value
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
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
        or (pattern and not re.fullmatch(pattern, value))
    ):
        raise ConfigError(path, value, _allowed(tp, meta))


def _build(cls: Any, data: dict[str, Any], path: str, base: Any = None, **fixed: Any) -> Any:
    """Build `cls` from `data`; keys not given keep the values of `base` (the field's default)."""
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed}
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}.{key}", data[key], f"unknown key; allowed keys are {sorted(known)}")
    values = dict(fixed)
    for name, f in known.items():
        if name in data:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            values[name] = _convert(hints[name], data[name], f"{path}.{name}", dict(f.metadata), base=default)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def load_stage(stages: Any, name: str, *, account: str | None = None, region: str | None = None) -> StageConfig:
    """Validate the `stages` context block and build the config of stage `name`.

    `account`/`region` are the CDK_DEFAULT_* fallbacks for a stage that does not pin them.
    """
    if not isinstance(stages, dict) or not stages:
        raise ConfigError("stages", stages, "must be an object mapping stage names to settings in cdk.json")
    if name not in stages:
        raise ConfigError("stage", name, f"unknown stage; defined stages are {sorted(stages)}")
    settings = stages[name] if stages[name] is not None else {}
    if not isinstance(settings, dict):
        raise ConfigError(f"stages.{name}", settings, _allowed(StageConfig, {}))
    path = f"stages.{name}"
    config: StageConfig = _build(StageConfig, settings, path, name=name)
    if config.account is None and account:
        config = dataclasses.replace(
            config, account=_convert(str, account, "CDK_DEFAULT_ACCOUNT", rule(pattern=r"\d{12}"))
        )
    if config.region is None and region:
        config = dataclasses.replace(config, region=region)
    config.check(path, config)
    return config
