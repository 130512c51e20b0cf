"""Session fixtures: every stage is synthesized once (with all compliance packs) and shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks.names import MAX_STAGE_NAME_LENGTH
from tests.synth import STAGES, SynthesizedStage, synthesize

_cache: dict[str, SynthesizedStage] = {}


def _stage(name: str, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    if name not in _cache:
        _cache[name] = synthesize(name, Path(tmp_path_factory.mktemp(f"cdk-{name}")))
    return _cache[name]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    """The default stage, as `make synth` builds it."""
    return _stage("sandbox", tmp_path_factory)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    return _stage("prod", tmp_path_factory)


# A version of the sandbox's model package group (the sandbox pins no account, so any account passes),
# and the drift baseline of the ETL run it was trained on.
PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:111122223333:model-package/mlpipeline-sandbox-housing/3"
BASELINE_URL = "s3://curated-example/statistics/runs/jr_0123abcd/drift_baseline.json"


@pytest.fixture(scope="session")
def sandbox_options(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    """The sandbox with the optional features on (API keys, A/B variants whose challenger serves a
    registered model package, linear blue/green updates, alarm e-mail), synthesized once for every
    test of those options."""
    from tests.synth import CONTEXT

    options = {
        "api": {"authorization": "api_key"},
        "inference": {
            "variants": [
                {"name": "champion", "weight": 0.9},
                {
                    "name": "challenger",
                    "weight": 0.1,
                    "instance_type": "ml.c5.large",
                    "model_package_arn": PACKAGE_ARN,
                    "baseline_url": BASELINE_URL,
                },
            ],
            "deployment": {"mode": "linear", "step": 1, "wait_seconds": 120, "termination_wait_seconds": 300},
        },
        "observability": {"alarm_emails": ["oncall@example.com"]},
    }
    stages = {**CONTEXT["stages"], "sandbox": {**CONTEXT["stages"]["sandbox"], **options}}
    return synthesize("sandbox", Path(tmp_path_factory.mktemp("cdk-options")), context_overrides={"stages": stages})


# Accepted values at the limits of what the config allows, in one stage synthesized once.
# The longest stage name: the model package group name reaches 63 characters.
BOUNDARY_STAGE = "edge-" + "e" * (MAX_STAGE_NAME_LENGTH - len("edge-"))
BOUNDARY = {
    "sandbox": True,
    "region": "cn-north-1",
    "account": "000000000000",
    "network": {"az_count": 6, "cidr": "192.168.0.0/19", "flow_log_retention_days": 1},
    "data_lake": {
        "removal_policy": "destroy",
        "infrequent_access_after_days": 30,
        "glacier_after_days": 3650,
        "noncurrent_versions_expire_after_days": 1,
    },
    "lake_formation": {
        "admin_arns": [
            "arn:aws-cn:iam::000000000000:role/team/ml/" + "R" * 64,
            "arn:aws-cn:iam::000000000000:user/ops+x=y,z.@_-",
        ]
    },
    "ingestion": {
        "stream_mode": "provisioned",
        "shard_count": 500,
        "retention_hours": 8760,
        "buffer_size_mib": 128,
        "processor_buffer_size_mib": 0.2,
        "transform": {"timeout_seconds": 300, "memory_mib": 10240},
    },
    "inference": {
        "xgboost_version": "3.2-0",
        "autoscaling": False,
        "volume_encryption": False,
        "data_capture_percentage": 0,
        "deployment": {
            "wait_seconds": 3600,
            "termination_wait_seconds": 3600,
            "max_execution_timeout_seconds": 28800,
            "rollback_alarms": ["model_latency_p99"],
        },
        "variants": [
            {"name": "a" * 63, "weight": 0.0, "instance_type": "ml.t2.medium", "min_capacity": 1, "max_capacity": 1},
            {
                "name": "b-1",
                "instance_type": "ml.trn1.32xlarge",
                "min_capacity": 1,
                "max_capacity": 100,
                "model_data_url": "s3://model-artifacts-0/models/jr_1/output/model.tar.gz",
                "baseline_url": "s3://model-artifacts-0/statistics/runs/jr_1/drift_baseline.json",
            },
            {
                "name": "c",
                "weight": 0.5,
                "min_capacity": 1,
                "max_capacity": 1,
                "model_package_arn": "arn:aws-cn:sagemaker:cn-north-1:000000000000:model-package/"
                f"mlpipeline-{BOUNDARY_STAGE}-housing/9999999999",
                "baseline_url": "s3://curated-0/statistics/runs/jr_2/drift_baseline.json",
            },
        ],
    },
    "etl": {"schedule": "cron(*/5 * L * ? 2199)", "worker_type": "G.8X", "number_of_workers": 299},
    "api": {
        "max_batch_size": 1000,
        "max_body_bytes": 6291456,
        "throttle_rate_limit": 5000.0,
        "throttle_burst_limit": 5000,
        "function": {"timeout_seconds": 3, "memory_mib": 128},
    },
    "observability": {"alarm_emails": ["On.Call+ml@Example.COM", f"{'a' * 64}@{'d' * 63}.example.org"]},
    "monitoring": {
        "schedule": "rate(1 minute)",
        "window_hours": 24,
        "min_sample_size": 10000000,
        "feature_psi_threshold": 10.0,
        "prediction_psi_threshold": 0.01,
        "variants": ["b-1", "a" * 63],
        "function": {"memory_mib": 128, "timeout_seconds": 900, "reserved_concurrency": 1000},
    },
}


@pytest.fixture(scope="session")
def boundary(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    """Accepted config values at their limits (the stage name, the smallest CIDR for six AZs, a China
    region and its ARNs, NVMe storage without a volume key, one sandbox instance without autoscaling,
    a variant serving its own artifact with its own drift baseline, one serving a model package of the
    longest group name, all-at-once updates with the longest waits), synthesized once with every
    compliance pack."""
    from tests.synth import CONTEXT

    stages = {**CONTEXT["stages"], BOUNDARY_STAGE: BOUNDARY}
    return synthesize(
        BOUNDARY_STAGE, Path(tmp_path_factory.mktemp("cdk-boundary")), context_overrides={"stages": stages}
    )


@pytest.fixture(scope="session", params=STAGES)
def every_stage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    return _stage(request.param, tmp_path_factory)


def pytest_configure(config: pytest.Config) -> None:
    # Synth never needs credentials; make sure no ambient profile leaks into tests.
    for variable in ("AWS_PROFILE", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        os.environ.pop(variable, None)


MOTO_REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server on loopback for the session, with dummy credentials only."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_PROFILE", raising=False)
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.setenv(variable, "testing")
        env.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


SYNTH_FIXTURES = frozenset({"sandbox", "prod", "every_stage", "all_stages", "gate", "sandbox_options", "boundary"})


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With `-n 2 --dist loadgroup`: tests that need the synthesized app share one worker
    (so each stage is synthesized once), the Spark tests share one (so one JVM starts),
    and the rest (Lambda, tools, config) go one by one to whichever worker is free."""
    for item in items:
        if SYNTH_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("synth"))
        elif item.get_closest_marker("spark"):
            item.add_marker(pytest.mark.xdist_group("spark"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Make `--dist loadgroup` see the groups under pytest 9.

    pytest-xdist 3.8 marks a group by rewriting `item._nodeid` (`id@group`), which
    pytest 9 no longer reads (the id lives in `item._id`), so groups would be silently
    ignored. Carry the rewritten id over; nothing to do where xdist and pytest agree.
    """
    try:
        from _pytest.nodeid import NodeId
    except ImportError:
        return
    for item in session.items:
        rewritten = getattr(item, "_nodeid", None)
        if rewritten and rewritten != item.nodeid:
            item._id = NodeId.parse(rewritten)
