"""The smoke run: each step against the local moto server, and fakes where moto has no support.

moto answers CloudFormation (stacks built from small templates, the Inference stack's
model, endpoint config and endpoint included), SageMaker, Kinesis, S3 and Glue
StartWorkflowRun/GetWorkflowRun, but its CloudFormation cannot create AWS::Glue::Workflow
and its workflow runs never finish, so those two behaviours are faked.
"""

from __future__ import annotations

import email.message
import gzip
import io
import json
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from stacks.config import VariantConfig
from stacks.names import endpoint_name, stack_name
from tests.synth import SynthesizedStage
from tools import smoke
from tools.smoke import Clients, Deployment, Options, Progress, RawZone, SmokeError, Targets

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .*Glue.*Workflow:UserWarning")

REGION = "eu-west-3"
STAGE = "smoke"
API_URL = "https://abc123.execute-api.eu-west-3.amazonaws.com/v1/"
PREDICTIONS = {"predictions": [{"price": 412345.5}, {"price": 287000.0}]}
PACKAGE = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/mlpipeline-{STAGE}-housing/7"
PROMOTED = (VariantConfig(model_package_arn=PACKAGE),)


def inference(package: str = PACKAGE) -> dict[str, Any]:
    """The Inference stack's model (a registered package) and endpoint config. moto's CloudFormation
    ignores an endpoint's EndpointName, so the `deployed` fixture creates the endpoint on that config."""
    return {
        "ModelPrimary": {
            "Type": "AWS::SageMaker::Model",
            "Properties": {
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/endpoint",
                "PrimaryContainer": {"ModelPackageName": package},
            },
        },
        "EndpointConfig": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [
                    {
                        "VariantName": "primary",
                        "ModelName": {"Fn::GetAtt": ["ModelPrimary", "ModelName"]},
                        "InitialInstanceCount": 2,
                        "InstanceType": "ml.m5.large",
                    }
                ]
            },
        },
    }


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> str:
    return json.dumps({"Resources": resources, "Outputs": outputs or {}})


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str) -> dict[str, str]:
    """The stage's stacks in moto, with the logical IDs CDK gives the resources the smoke run needs."""
    cloudformation = aws(moto_endpoint, "cloudformation")
    stacks = {
        "Ingestion": template(
            {"EventStream271A91DB": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}}}
        ),
        "DataLake": template(
            {"RawZone2D660746": {"Type": "AWS::S3::Bucket"}, "CuratedZone89FD8C71": {"Type": "AWS::S3::Bucket"}}
        ),
        "Etl": template(
            {"Workflow": {"Type": "AWS::Glue::Workflow", "Properties": {}}, "Topic": {"Type": "AWS::SNS::Topic"}}
        ),
        "Api": template({"Topic": {"Type": "AWS::SNS::Topic"}}, {"ApiEndpoint4F160690": {"Value": API_URL}}),
        "Inference": template(inference()),
    }
    for unit, body in stacks.items():
        cloudformation.create_stack(StackName=stack_name(STAGE, unit), TemplateBody=body)
    glue = aws(moto_endpoint, "glue")
    glue.create_workflow(Name="smoke-workflow")
    deployment = Deployment(cloudformation, STAGE)
    config = deployment.physical_id(smoke.ENDPOINT_CONFIG).rsplit("/", 1)[-1]
    aws(moto_endpoint, "sagemaker").create_endpoint(EndpointName=endpoint_name(STAGE), EndpointConfigName=config)
    return {
        "stream": deployment.physical_id(smoke.STREAM),
        "bucket": deployment.physical_id(smoke.RAW_BUCKET),
        "workflow": "smoke-workflow",
    }


class WithWorkflow:
    """moto's CloudFormation, plus the AWS::Glue::Workflow summary it cannot create."""

    def __init__(self, real: Any, workflow: str) -> None:
        self.real, self.workflow = real, workflow

    def describe_stacks(self, **kwargs: Any) -> Any:
        return self.real.describe_stacks(**kwargs)

    def get_paginator(self, name: str) -> Any:
        real = self.real.get_paginator(name)
        workflow = self.workflow

        class Paginator:
            def paginate(self, StackName: str) -> Iterator[dict[str, Any]]:
                for page in real.paginate(StackName=StackName):
                    summaries = [s for s in page["StackResourceSummaries"] if s.get("ResourceType")]
                    if StackName.endswith("-Etl"):
                        summaries.append(
                            {
                                "LogicalResourceId": "Workflow",
                                "ResourceType": "AWS::Glue::Workflow",
                                "PhysicalResourceId": workflow,
                            }
                        )
                    yield {**page, "StackResourceSummaries": summaries}

        return Paginator()


@dataclass
class FakeClock:
    """Monotonic time that only moves when the code sleeps; `on_sleep` runs at each sleep."""

    now_value: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: list[Any] = field(default_factory=list)

    def now(self) -> float:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_value += seconds
        for hook in self.on_sleep:
            hook()


class Firehose:
    """Delivers what is on the moto stream into the moto raw zone, as Firehose would (GZIP NDJSON)."""

    def __init__(self, endpoint: str, stream: str, bucket: str, *, after_polls: int = 2) -> None:
        self.kinesis, self.s3 = aws(endpoint, "kinesis"), aws(endpoint, "s3")
        self.stream, self.bucket, self.after_polls, self.polls = stream, bucket, after_polls, 0

    def __call__(self) -> None:
        self.polls += 1
        if self.polls != self.after_polls:
            return
        lines = []
        for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            lines += [r["Data"] for r in self.kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]]
        body = gzip.compress(b"".join(line + b"\n" for line in lines))
        key = "events/event_date=2026-01-01/home_type=condo/delivery-1.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)


class FakeGlue:
    """A workflow that runs for `polls` answers, then ends with `final`."""

    def __init__(self, final: dict[str, Any], polls: int = 2, start_error: Exception | None = None) -> None:
        self.final, self.polls, self.start_error = final, polls, start_error
        self.started: list[str] = []

    def start_workflow_run(self, Name: str) -> dict[str, str]:
        if self.start_error:
            raise self.start_error
        self.started.append(Name)
        return {"RunId": "wr_1"}

    def get_workflow_run(self, Name: str, RunId: str, IncludeGraph: bool) -> dict[str, Any]:
        self.polls -= 1
        if self.polls > 0:
            return {
                "Run": {"Name": Name, "WorkflowRunId": RunId, "Status": "RUNNING", "Statistics": {"RunningActions": 1}}
            }
        return {"Run": {"Name": Name, "WorkflowRunId": RunId, **self.final}}


COMPLETED = {"Status": "COMPLETED", "Statistics": {"TotalActions": 2, "SucceededActions": 2}}


class Api:
    def __init__(self, status: int = 200, body: Any = PREDICTIONS, error: Exception | None = None) -> None:
        self.status, self.body, self.error = status, body, error
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, url: str, body: bytes, region: str) -> tuple[int, bytes]:
        self.calls.append((url, json.loads(body), region))
        if self.error:
            raise self.error
        return self.status, json.dumps(self.body).encode()


def options(**overrides: Any) -> Options:
    values: dict[str, Any] = {
        "stage": STAGE,
        "region": REGION,
        "count": 12,
        "seed": 5,
        "landing_timeout": 60,
        "workflow_timeout": 60,
        "poll_interval": 10,
        "variants": PROMOTED,
    }
    values.update(overrides)
    return Options(**values)


@pytest.fixture
def progress() -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    return Progress(total=6, out=out), out


def clients(endpoint: str, deployed: dict[str, str], glue: Any) -> Clients:
    return Clients(
        cloudformation=WithWorkflow(aws(endpoint, "cloudformation"), deployed["workflow"]),
        kinesis=aws(endpoint, "kinesis"),
        s3=aws(endpoint, "s3"),
        glue=glue,
        sagemaker=aws(endpoint, "sagemaker"),
    )


def empty_raw_zone(endpoint: str, bucket: str) -> None:
    s3 = aws(endpoint, "s3")
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])


# ---------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------


def test_a_full_run_sends_lands_runs_the_workflow_and_predicts(
    moto_endpoint: str, deployed: dict[str, str], progress: tuple[Progress, io.StringIO]
) -> None:
    empty_raw_zone(moto_endpoint, deployed["bucket"])
    clock = FakeClock(on_sleep=[Firehose(moto_endpoint, deployed["stream"], deployed["bucket"])])
    glue, api = FakeGlue(COMPLETED), Api()
    reporter, out = progress

    result = smoke.run(options(), clients(moto_endpoint, deployed, glue), call_api=api, clock=clock, progress=reporter)

    assert result.targets == Targets(
        stream=deployed["stream"], raw_bucket=deployed["bucket"], workflow="smoke-workflow", api_url=API_URL + "predict"
    )
    assert (result.sent, result.landed) == (12, 12)
    assert result.workflow == "workflow run completed (succeeded 2)"
    assert result.predictions == PREDICTIONS
    assert glue.started == ["smoke-workflow"]
    ((url, body, region),) = api.calls
    assert (url, region) == (API_URL + "predict", REGION)
    assert len(body["instances"]) == 2 and "price" not in body["instances"][0]
    log = out.getvalue()
    for number, title in enumerate(
        (
            "Locating",
            "Checking that the endpoint",
            "Sending 12 events",
            "Waiting for the events",
            "Running the Glue",
            "Calling",
        ),
        1,
    ):
        assert f"[{number}/6] {title}" in log
    assert f"primary: ml.m5.large, model package {PACKAGE}" in log
    assert "waiting: 0 of 12 events" in log and "12 of 12 events in s3://" in log
    assert clock.now_value < 60  # fake time: the test never sleeps


def test_events_that_never_land_fail_the_raw_zone_step_in_bounded_time(
    moto_endpoint: str, deployed: dict[str, str], progress: tuple[Progress, io.StringIO]
) -> None:
    empty_raw_zone(moto_endpoint, deployed["bucket"])
    clock = FakeClock()
    with pytest.raises(SmokeError) as failure:
        smoke.run(
            options(seed=6),
            clients(moto_endpoint, deployed, FakeGlue(COMPLETED)),
            call_api=Api(),
            clock=clock,
            progress=progress[0],
        )
    assert failure.value.step == "raw zone"
    assert str(failure.value).startswith("step 'raw zone' failed: gave up after 60s: 0 of 12 events in s3://")
    assert "errors/ prefix" in str(failure.value)
    assert clock.now_value == 60 and clock.sleeps == [10, 10, 10, 10, 10, 10]


def test_skip_workflow_leaves_glue_alone(moto_endpoint: str, deployed: dict[str, str]) -> None:
    empty_raw_zone(moto_endpoint, deployed["bucket"])
    clock = FakeClock(on_sleep=[Firehose(moto_endpoint, deployed["stream"], deployed["bucket"], after_polls=1)])
    glue = FakeGlue(COMPLETED)
    out = io.StringIO()
    result = smoke.run(
        options(seed=7, run_workflow=False),
        clients(moto_endpoint, deployed, glue),
        call_api=Api(),
        clock=clock,
        progress=Progress(total=5, out=out),
    )
    assert result.workflow is None and result.targets.workflow is None and glue.started == []
    assert "[5/5] Calling the prediction API with SigV4" in out.getvalue()


def test_an_api_error_fails_the_predict_step(moto_endpoint: str, deployed: dict[str, str]) -> None:
    empty_raw_zone(moto_endpoint, deployed["bucket"])
    clock = FakeClock(on_sleep=[Firehose(moto_endpoint, deployed["stream"], deployed["bucket"], after_polls=1)])
    body = io.BytesIO(b'{"message":"Missing Authentication Token"}')
    forbidden = urllib.error.HTTPError(API_URL, 403, "Forbidden", email.message.Message(), body)
    with pytest.raises(SmokeError) as failure:
        smoke.run(
            options(seed=8, run_workflow=False),
            clients(moto_endpoint, deployed, FakeGlue(COMPLETED)),
            call_api=Api(error=forbidden),
            clock=clock,
            progress=Progress(total=5, out=io.StringIO()),
        )
    assert failure.value.step == "predict"
    assert 'answered HTTP 403 Forbidden: {"message":"Missing Authentication Token"}' in str(failure.value)


# ---------------------------------------------------------------------------
# Locating the deployment
# ---------------------------------------------------------------------------


def test_lookups_find_physical_ids_and_the_api_url_in_moto(moto_endpoint: str, deployed: dict[str, str]) -> None:
    deployment = Deployment(aws(moto_endpoint, "cloudformation"), STAGE)
    assert deployed["stream"] in aws(moto_endpoint, "kinesis").list_streams()["StreamNames"]
    assert deployed["bucket"] in [b["Name"] for b in aws(moto_endpoint, "s3").list_buckets()["Buckets"]]
    assert deployment.output("Api", "ApiEndpoint") == API_URL


def test_a_stage_that_is_not_deployed_fails_the_locate_step(moto_endpoint: str) -> None:
    deployment = Deployment(aws(moto_endpoint, "cloudformation"), "absent")
    with pytest.raises(
        SmokeError,
        match=r"step 'locate' failed: cannot read stack MlPipeline-absent-Api: .*"
        r"Is stage absent deployed\?",
    ):
        deployment.targets()


def test_a_missing_resource_names_the_stack_and_prefix(moto_endpoint: str, deployed: dict[str, str]) -> None:
    deployment = Deployment(aws(moto_endpoint, "cloudformation"), STAGE)  # moto lists no AWS::Glue::Workflow
    with pytest.raises(
        SmokeError,
        match=r"expected one AWS::Glue::Workflow with logical ID Workflow\* in MlPipeline-smoke-Etl, found none",
    ):
        deployment.physical_id(smoke.WORKFLOW)


def test_lookups_match_the_synthesized_templates(sandbox: SynthesizedStage) -> None:
    for lookup in (smoke.STREAM, smoke.RAW_BUCKET, smoke.WORKFLOW, smoke.ENDPOINT_CONFIG):
        matches = [k for k in sandbox.resources(lookup.unit, lookup.resource_type) if k.startswith(lookup.prefix)]
        assert len(matches) == 1, (lookup, matches)
    unit, prefix = smoke.API_OUTPUT
    outputs = [k for k in sandbox.templates[unit].get("Outputs", {}) if k.startswith(prefix)]
    assert len(outputs) == 1
    assert sandbox.stacks["Api"].stack_name == stack_name("sandbox", "Api")


# ---------------------------------------------------------------------------
# The endpoint
# ---------------------------------------------------------------------------


def check(moto_endpoint: str, variants: tuple[VariantConfig, ...] = PROMOTED) -> list[str]:
    deployment = Deployment(aws(moto_endpoint, "cloudformation"), STAGE)
    return smoke.check_endpoint(aws(moto_endpoint, "sagemaker"), deployment, variants)


def test_the_endpoint_serves_the_promoted_package_on_the_deployed_config(
    moto_endpoint: str, deployed: dict[str, str]
) -> None:
    first, second = check(moto_endpoint)
    assert first.startswith(f"endpoint {endpoint_name(STAGE)} InService on ")
    assert second == f"primary: ml.m5.large, model package {PACKAGE}"


def test_another_model_than_cdk_json_pins_fails_the_endpoint_step(moto_endpoint: str, deployed: dict[str, str]) -> None:
    older = PACKAGE.replace("/7", "/6")
    with pytest.raises(SmokeError) as failure:
        check(moto_endpoint, (VariantConfig(model_package_arn=older),))
    assert failure.value.step == "endpoint"
    assert f"variant primary serves model package {PACKAGE}, cdk.json pins model package {older}" in str(failure.value)
    with pytest.raises(SmokeError, match=r"cdk\.json pins the bundled model"):
        check(moto_endpoint, (VariantConfig(),))
    with pytest.raises(
        SmokeError, match=r"variant primary runs ml.m5.large, the stage names ml.c5.large; .*no variant b"
    ):
        check(
            moto_endpoint,
            (VariantConfig(model_package_arn=PACKAGE, instance_type="ml.c5.large"), VariantConfig(name="b")),
        )


def test_an_endpoint_rolled_back_to_another_config_fails_the_endpoint_step(
    moto_endpoint: str, deployed: dict[str, str]
) -> None:
    sagemaker = aws(moto_endpoint, "sagemaker")
    name = endpoint_name(STAGE)
    deployed_config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=deployed_config)["ProductionVariants"][0]
    sagemaker.create_endpoint_config(EndpointConfigName="previous-config", ProductionVariants=[variant])
    # What SageMaker leaves after a rollback: the endpoint back on the config it ran before (moto
    # has no UpdateEndpoint, so the endpoint is recreated on it).
    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="previous-config")
    try:
        with pytest.raises(
            SmokeError, match=r"runs endpoint config previous-config, not .* \(an update rolled back\?\)"
        ):
            check(moto_endpoint)
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=deployed_config)


def test_the_prediction_is_signed_with_the_profile_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.credentials import Credentials

    from tools import call_api

    profile = Credentials("AKIAPROFILE", "secret-of-the-profile")
    signed: list[Any] = []

    class ProfileSession:
        def get_credentials(self) -> Any:
            return profile

    def call(url: str, body: bytes, *, region: str, credentials: Any) -> tuple[int, bytes]:
        signed.append(credentials)
        return 200, b"{}"

    monkeypatch.setattr(call_api, "call", call)
    monkeypatch.setattr(call_api, "default_credentials", lambda: pytest.fail("the default session signed"))
    assert smoke.sigv4_caller(ProfileSession())(API_URL, b"{}", REGION) == (200, b"{}")
    assert signed == [profile]


def test_main_signs_with_the_session_of_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() hands run() a caller built from the --profile session, like every client it makes."""
    sessions: list[str | None] = []
    callers: list[Any] = []

    class ProfileSession:
        region_name = REGION

        def client(self, service: str, **_: Any) -> Any:
            return service

        def get_credentials(self) -> Any:
            return "profile-credentials"

    def fake_session(profile: str | None) -> ProfileSession:
        sessions.append(profile)
        return ProfileSession()

    def fake_run(options: Options, clients: Clients, *, call_api: Any) -> Any:
        callers.append(call_api)
        raise SmokeError("locate", "stop here")

    monkeypatch.setattr("tools.stage.session", fake_session)
    monkeypatch.setattr(smoke, "run", fake_run)
    monkeypatch.setattr("tools.call_api.call", lambda url, body, *, region, credentials: (200, credentials.encode()))
    assert smoke.main(["--stage", "sandbox", "--profile", "ml-sandbox"]) == 1
    assert sessions == ["ml-sandbox"]
    assert callers[0](API_URL, b"{}", REGION) == (200, b"profile-credentials")


# ---------------------------------------------------------------------------
# Raw zone
# ---------------------------------------------------------------------------


def test_the_raw_zone_reads_new_gzip_and_plain_objects_once(moto_endpoint: str, deployed: dict[str, str]) -> None:
    s3, bucket = aws(moto_endpoint, "s3"), deployed["bucket"]
    empty_raw_zone(moto_endpoint, bucket)
    s3.put_object(Bucket=bucket, Key="events/a.gz", Body=gzip.compress(b'{"event_id":"a"}\n{"event_id":"b"}\n'))
    s3.put_object(Bucket=bucket, Key="events/b.json", Body=b'{"event_id":"c"}\nnot json\n[1]\n')
    s3.put_object(Bucket=bucket, Key="errors/x.gz", Body=gzip.compress(b'{"event_id":"z"}\n'))
    zone = RawZone(s3, bucket, since=datetime.now(UTC))
    assert zone.scan() == {"a", "b", "c"}
    assert zone.seen_keys == {"events/a.gz", "events/b.json"}
    later = RawZone(s3, bucket, since=datetime.now(UTC) + timedelta(hours=1))
    assert later.scan() == set()  # objects from before the run are not evidence


# ---------------------------------------------------------------------------
# Glue workflow
# ---------------------------------------------------------------------------


def test_a_workflow_run_that_never_finishes_fails_the_workflow_step_on_moto(
    moto_endpoint: str, deployed: dict[str, str], progress: tuple[Progress, io.StringIO]
) -> None:
    glue = aws(moto_endpoint, "glue")
    clock = FakeClock()
    with pytest.raises(SmokeError) as failure:
        smoke._run_workflow(glue, deployed["workflow"], options(workflow_timeout=30), clock, progress[0])
    assert failure.value.step == "workflow"
    assert "gave up after 30s: workflow run running" in str(failure.value)
    assert "aws glue get-workflow-run --name smoke-workflow --run-id wr_" in str(failure.value)
    runs = glue.get_workflow_runs(Name=deployed["workflow"])["Runs"]
    assert runs and runs[-1]["Status"] == "RUNNING"


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        (
            {"Status": "COMPLETED", "Statistics": {"SucceededActions": 1, "FailedActions": 1}},
            "workflow run completed (succeeded 1, failed 1)",
        ),
        (
            {"Status": "ERROR", "ErrorMessage": "Concurrent runs exceeded"},
            "workflow run error: Concurrent runs exceeded",
        ),
        ({"Status": "STOPPED", "Statistics": {"StoppedActions": 1}}, "workflow run stopped (stopped 1)"),
    ],
)
def test_a_workflow_run_with_failed_actions_fails(
    final: dict[str, Any], expected: str, progress: tuple[Progress, io.StringIO]
) -> None:
    with pytest.raises(SmokeError) as failure:
        smoke._run_workflow(FakeGlue(final), "wf", options(), FakeClock(), progress[0])
    assert failure.value.step == "workflow" and expected in str(failure.value)


def test_a_workflow_that_cannot_start_fails_naming_the_step(progress: tuple[Progress, io.StringIO]) -> None:
    from botocore.exceptions import ClientError

    busy = ClientError({"Error": {"Code": "ConcurrentRunsExceededException", "Message": "busy"}}, "StartWorkflowRun")
    with pytest.raises(SmokeError, match=r"step 'workflow' failed: could not start wf"):
        smoke._run_workflow(FakeGlue(COMPLETED, start_error=busy), "wf", options(), FakeClock(), progress[0])


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def test_bad_arguments_exit_with_usage() -> None:
    with pytest.raises(SystemExit) as exit_:
        smoke.parse_args(["--count", "0"])
    assert exit_.value.code == 2


def test_an_unknown_stage_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--stage", "nope"]) == 2
    assert "unknown stage" in capsys.readouterr().err
