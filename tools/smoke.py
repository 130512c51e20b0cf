"""End-to-end smoke run of a deployed stage.

``python -m tools.smoke --stage sandbox [--count N] [--skip-workflow] [--landing-timeout S]
[--workflow-timeout S] [--region R] [--profile P]``

Six steps, each with a progress line and a bounded wait that fails naming the step:

1. locate the deployed resources in CloudFormation (stacks ``MlPipeline-<stage>-<Unit>``):
   the event stream, the raw zone bucket, the Glue workflow (by logical ID prefix) and the
   API URL (stack output);
2. check the endpoint: it is InService on the endpoint config the Inference stack deployed
   (not one an update rolled back to), and each variant runs the instance type and the model
   the stage config names (after ``make promote``: the promoted package, by ARN);
3. send synthetic events to the stream with the producer;
4. wait until every sent event is in the raw zone under ``events/`` (Firehose buffers for
   up to its buffer interval, 5 minutes by default, before it writes);
5. start the Glue workflow (feature job, then crawler) and wait for the run to complete
   without failed actions;
6. call ``POST /v1/predict`` with SigV4, signed with the credentials of ``--profile``, and
   print the predictions.

Exit codes: 0 every step passed, 1 a step failed, 2 bad input or missing credentials.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
import urllib.error
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

from stacks.config import VariantConfig
from stacks.model_source import model_source
from stacks.names import endpoint_name, stack_name
from tools import synthetic
from tools.endpoint_state import live_endpoint
from tools.producer import send_events
from tools.stage import add_stage_arguments

EVENTS_PREFIX = "events/"
DEFAULT_COUNT = 20
DEFAULT_LANDING_TIMEOUT = 900.0
DEFAULT_WORKFLOW_TIMEOUT = 3600.0
DEFAULT_POLL_INTERVAL = 15.0
CLOCK_SKEW = timedelta(minutes=2)
WORKFLOW_DONE = {"COMPLETED", "STOPPED", "ERROR"}


class SmokeError(RuntimeError):
    """A step failed; the message names the step and what to look at."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step '{step}' failed: {message}")
        self.step = step


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Progress:
    """Numbered steps and waiting lines on a stream (stderr by default)."""

    total: int
    out: TextIO = sys.stderr
    current: int = 0

    def step(self, title: str) -> None:
        self.current += 1
        print(f"[{self.current}/{self.total}] {title}", file=self.out, flush=True)

    def info(self, text: str) -> None:
        print(f"      {text}", file=self.out, flush=True)


def wait_for(
    step: str,
    probe: Callable[[], tuple[bool, str]],
    *,
    timeout: float,
    interval: float,
    clock: Clock,
    progress: Progress,
    hint: str,
) -> str:
    """Call `probe` until it reports done or `timeout` seconds pass; its last status either way."""
    start = clock.now()
    while True:
        done, status = probe()
        elapsed = clock.now() - start
        if done:
            progress.info(f"{status} ({elapsed:.0f}s)")
            return status
        if elapsed >= timeout:
            raise SmokeError(step, f"gave up after {timeout:.0f}s: {status}. {hint}")
        progress.info(f"waiting: {status} ({elapsed:.0f}s of {timeout:.0f}s)")
        clock.sleep(min(interval, max(0.0, timeout - elapsed)))


# ---------------------------------------------------------------------------
# 1. Locating the deployment
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """A resource found by stack unit, resource type and logical ID prefix."""

    unit: str
    resource_type: str
    prefix: str


STREAM = Lookup("Ingestion", "AWS::Kinesis::Stream", "EventStream")
RAW_BUCKET = Lookup("DataLake", "AWS::S3::Bucket", "RawZone")
WORKFLOW = Lookup("Etl", "AWS::Glue::Workflow", "Workflow")
ENDPOINT_CONFIG = Lookup("Inference", "AWS::SageMaker::EndpointConfig", "EndpointConfig")
API_OUTPUT = ("Api", "ApiEndpoint")
PREDICT_PATH = "predict"


@dataclass(frozen=True)
class Targets:
    stream: str
    raw_bucket: str
    workflow: str | None
    api_url: str


class Deployment:
    """Reads physical IDs and outputs of a stage's stacks from CloudFormation."""

    def __init__(self, cloudformation: Any, stage: str) -> None:
        self.cloudformation = cloudformation
        self.stage = stage

    def physical_id(self, lookup: Lookup) -> str:
        from botocore.exceptions import ClientError

        name = stack_name(self.stage, lookup.unit)
        matches = []
        try:
            for page in self.cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
                for summary in page.get("StackResourceSummaries", []):
                    if summary.get("ResourceType") == lookup.resource_type and str(
                        summary.get("LogicalResourceId", "")
                    ).startswith(lookup.prefix):
                        matches.append(summary)
        except ClientError as error:
            raise SmokeError("locate", f"cannot read stack {name}: {error}. Is stage {self.stage} deployed?") from None
        if len(matches) != 1:
            found = ", ".join(m["LogicalResourceId"] for m in matches) or "none"
            raise SmokeError(
                "locate",
                f"expected one {lookup.resource_type} with logical ID {lookup.prefix}* in {name}, found {found}",
            )
        physical = matches[0].get("PhysicalResourceId")
        if not physical:
            status = matches[0].get("ResourceStatus")
            raise SmokeError("locate", f"{lookup.prefix} in {name} has no physical ID yet (status {status})")
        return str(physical)

    def output(self, unit: str, key_prefix: str) -> str:
        from botocore.exceptions import ClientError

        name = stack_name(self.stage, unit)
        try:
            stacks = self.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            raise SmokeError("locate", f"cannot read stack {name}: {error}. Is stage {self.stage} deployed?") from None
        outputs = [o for o in stacks[0].get("Outputs", []) if str(o.get("OutputKey", "")).startswith(key_prefix)]
        if len(outputs) != 1:
            raise SmokeError("locate", f"expected one output {key_prefix}* in {name}, found {len(outputs)}")
        return str(outputs[0]["OutputValue"])

    def targets(self, *, with_workflow: bool = True) -> Targets:
        base = self.output(*API_OUTPUT)
        return Targets(
            stream=self.physical_id(STREAM),
            raw_bucket=self.physical_id(RAW_BUCKET),
            workflow=self.physical_id(WORKFLOW) if with_workflow else None,
            api_url=base.rstrip("/") + "/" + PREDICT_PATH,
        )


# ---------------------------------------------------------------------------
# 2. The endpoint
# ---------------------------------------------------------------------------


def same_name(physical_id: str, name: str) -> bool:
    """A SageMaker resource's name against its physical ID, which may be its ARN (lowercased name)."""
    return physical_id.rsplit("/", 1)[-1].lower() == name.lower()


def check_endpoint(sagemaker: Any, deployment: Deployment, variants: Sequence[VariantConfig]) -> list[str]:
    """One line per variant on what it serves; SmokeError when the endpoint is not what the stage deployed."""
    name = endpoint_name(deployment.stage)
    deployed = deployment.physical_id(ENDPOINT_CONFIG)
    live = live_endpoint(sagemaker, name)
    if live is None:
        raise SmokeError("endpoint", f"endpoint {name} does not exist. Is stage {deployment.stage} deployed?")
    problems = []
    if live.status != "InService":
        problems.append(f"it is {live.status}" + (f" ({live.failure})" if live.failure else ""))
    if not same_name(deployed, live.config_name):
        problems.append(
            f"it runs endpoint config {live.config_name}, not {deployed.rsplit('/', 1)[-1]} which the Inference "
            "stack deployed (an update rolled back?)"
        )
    lines = []
    for variant in variants:
        running, expected = live.variants.get(variant.name), model_source(variant)
        if running is None:
            problems.append(f"it has no variant {variant.name}")
            continue
        if running.instance_type != variant.instance_type:
            problems.append(
                f"variant {variant.name} runs {running.instance_type}, the stage names {variant.instance_type}"
            )
        if (expected.kind == "model_package") != (running.source.kind == "model_package") or (
            expected.location is not None and running.source.location != expected.location
        ):
            problems.append(f"variant {variant.name} serves {running.source}, cdk.json pins {expected}")
        lines.append(f"{variant.name}: {running.instance_type}, {running.source}")
    extra = sorted(set(live.variants) - {v.name for v in variants})
    if extra:
        problems.append(f"it has variants the stage does not name: {extra}")
    if problems:
        raise SmokeError("endpoint", f"endpoint {name}: " + "; ".join(problems))
    return [f"endpoint {name} InService on {live.config_name}", *lines]


# ---------------------------------------------------------------------------
# 4. The raw zone
# ---------------------------------------------------------------------------


def event_ids_in(body: bytes) -> set[str]:
    """Event IDs of an NDJSON object, GZIP-compressed (as Firehose writes it) or not."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    found = set()
    for line in body.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("event_id"), str):
            found.add(record["event_id"])
    return found


@dataclass
class RawZone:
    """Finds sent events among the objects written under `events/` since the run started."""

    s3: Any
    bucket: str
    since: datetime
    prefix: str = EVENTS_PREFIX
    seen_keys: set[str] = field(default_factory=set)
    found: set[str] = field(default_factory=set)

    def scan(self) -> set[str]:
        """Event IDs found so far (reads each new object once)."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key in self.seen_keys or item["LastModified"] < self.since - CLOCK_SKEW:
                    continue
                self.seen_keys.add(key)
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                self.found |= event_ids_in(body)
        return self.found


# ---------------------------------------------------------------------------
# 5. The Glue workflow
# ---------------------------------------------------------------------------


def workflow_status(run: dict[str, Any]) -> tuple[bool, str, bool]:
    """(finished, description, succeeded) of a get_workflow_run answer."""
    status = str(run.get("Status", "UNKNOWN"))
    stats = run.get("Statistics", {})
    counts = ", ".join(
        f"{name} {stats[key]}"
        for key, name in (
            ("SucceededActions", "succeeded"),
            ("RunningActions", "running"),
            ("FailedActions", "failed"),
            ("TimeoutActions", "timed out"),
            ("StoppedActions", "stopped"),
            ("ErroredActions", "errored"),
        )
        if stats.get(key)
    )
    text = f"workflow run {status.lower()}" + (f" ({counts})" if counts else "")
    if status not in WORKFLOW_DONE:
        return False, text, False
    bad = sum(int(stats.get(k, 0)) for k in ("FailedActions", "TimeoutActions", "StoppedActions", "ErroredActions"))
    ok = status == "COMPLETED" and bad == 0
    if run.get("ErrorMessage"):
        text += f": {run['ErrorMessage']}"
    return True, text, ok


# ---------------------------------------------------------------------------
# 6. The API
# ---------------------------------------------------------------------------

ApiCall = Callable[[str, bytes, str], tuple[int, bytes]]


def sigv4_caller(session: Any) -> ApiCall:
    """POST with SigV4 (tools.call_api), signed with the credentials of `session`: the profile
    the smoke run was given, like every other call it makes."""
    from tools import call_api

    def call(url: str, body: bytes, region: str) -> tuple[int, bytes]:
        credentials = session.get_credentials()
        if credentials is None:
            raise call_api.CredentialsError("the session has no AWS credentials to sign the prediction request")
        return call_api.call(url, body, region=region, credentials=credentials)

    return call


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclass
class Clients:
    cloudformation: Any
    kinesis: Any
    s3: Any
    glue: Any
    sagemaker: Any


@dataclass
class Options:
    stage: str
    region: str
    count: int = DEFAULT_COUNT
    seed: int | None = None
    run_workflow: bool = True
    landing_timeout: float = DEFAULT_LANDING_TIMEOUT
    workflow_timeout: float = DEFAULT_WORKFLOW_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    variants: tuple[VariantConfig, ...] = ()


@dataclass
class Result:
    targets: Targets
    sent: int
    landed: int
    workflow: str | None
    predictions: Any


def run(
    options: Options,
    clients: Clients,
    *,
    call_api: ApiCall,
    clock: Clock | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
) -> Result:
    """Every step in order; raises SmokeError naming the step that failed."""
    clock = clock or SystemClock()
    progress = progress or Progress(total=6 if options.run_workflow else 5)
    started = wall_clock()

    progress.step(f"Locating the stacks of stage {options.stage} in {options.region}")
    deployment = Deployment(clients.cloudformation, options.stage)
    targets = deployment.targets(with_workflow=options.run_workflow)
    progress.info(f"stream {targets.stream}, raw zone s3://{targets.raw_bucket}/{EVENTS_PREFIX}")
    if targets.workflow:
        progress.info(f"Glue workflow {targets.workflow}")
    progress.info(f"API {targets.api_url}")

    progress.step("Checking that the endpoint serves the stage's models")
    for line in check_endpoint(clients.sagemaker, deployment, options.variants):
        progress.info(line)

    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    events = list(synthetic.events(options.count, seed=seed))
    progress.step(f"Sending {len(events)} events (seed {seed}) to {targets.stream}")
    report = send_events(clients.kinesis, targets.stream, events, sleep=clock.sleep)
    if not report.ok:
        raise SmokeError("send", report.render())
    progress.info(report.render())

    expected = {e["event_id"] for e in events}
    progress.step("Waiting for the events in the raw zone")
    _wait_for_landing(RawZone(clients.s3, targets.raw_bucket, since=started), expected, options, clock, progress)

    workflow_text = None
    if targets.workflow:
        progress.step(f"Running the Glue workflow {targets.workflow}")
        workflow_text = _run_workflow(clients.glue, targets.workflow, options, clock, progress)

    progress.step("Calling the prediction API with SigV4")
    predictions = _predict(call_api, targets.api_url, _api_body(events), options.region)
    return Result(targets, report.sent, len(expected), workflow_text, predictions)


def _wait_for_landing(zone: RawZone, expected: set[str], options: Options, clock: Clock, progress: Progress) -> None:
    where = f"s3://{zone.bucket}/{zone.prefix}"

    def landed() -> tuple[bool, str]:
        found = len(zone.scan() & expected)
        return found == len(expected), f"{found} of {len(expected)} events in {where}"

    wait_for(
        "raw zone",
        landed,
        timeout=options.landing_timeout,
        interval=options.poll_interval,
        clock=clock,
        progress=progress,
        hint="Check the delivery stream's logs (DeliveryLogs in the Ingestion stack), the errors/ prefix of the raw "
        "zone for rejected records, and the transform function's logs",
    )


def _predict(call_api: ApiCall, url: str, body: bytes, region: str) -> Any:
    try:
        status, data = call_api(url, body, region)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", errors="replace")
        raise SmokeError("predict", f"{url} answered HTTP {error.code} {error.reason}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SmokeError("predict", f"could not reach {url}: {reason}") from None
    except RuntimeError as error:  # tools.call_api.CredentialsError
        raise SmokeError("predict", str(error)) from None
    if status // 100 != 2:
        raise SmokeError("predict", f"{url} answered HTTP {status}: {data.decode(errors='replace')}")
    try:
        return json.loads(data)
    except ValueError:
        raise SmokeError("predict", f"the API answered non-JSON: {data[:200]!r}") from None


def _run_workflow(glue: Any, name: str, options: Options, clock: Clock, progress: Progress) -> str:
    from botocore.exceptions import ClientError

    try:
        run_id = str(glue.start_workflow_run(Name=name)["RunId"])
    except ClientError as error:
        raise SmokeError("workflow", f"could not start {name}: {error}") from None
    progress.info(f"run {run_id}")
    outcome: dict[str, Any] = {}

    def finished() -> tuple[bool, str]:
        answer = glue.get_workflow_run(Name=name, RunId=run_id, IncludeGraph=False)["Run"]
        done, text, ok = workflow_status(answer)
        outcome.update(done=done, ok=ok, text=text)
        return done, text

    wait_for(
        "workflow",
        finished,
        timeout=options.workflow_timeout,
        interval=options.poll_interval,
        clock=clock,
        progress=progress,
        hint=f"The run {run_id} may still be going: aws glue get-workflow-run --name {name} --run-id {run_id}",
    )
    if not outcome.get("ok"):
        raise SmokeError(
            "workflow",
            f"{outcome.get('text')}. See the job's runs: aws glue get-job-runs --job-name <PrepareFeatures job>, and "
            "its logs under /aws-glue/jobs/",
        )
    return str(outcome["text"])


def _api_body(events: Iterable[dict[str, Any]]) -> bytes:
    import contracts

    features = [f.name for f in contracts.load().features]
    instances = [{k: e[k] for k in features if k in e} for e in list(events)[:2]]
    return json.dumps({"instances": instances}).encode("utf-8")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.split("\n", 1)[0])
    add_stage_arguments(parser)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"events to send (default {DEFAULT_COUNT})")
    parser.add_argument("--seed", type=int, help="seed of the synthetic events (default: random, so IDs are new)")
    parser.add_argument("--skip-workflow", action="store_true", help="do not run the Glue workflow")
    parser.add_argument("--landing-timeout", type=float, default=DEFAULT_LANDING_TIMEOUT, help="seconds")
    parser.add_argument("--workflow-timeout", type=float, default=DEFAULT_WORKFLOW_TIMEOUT, help="seconds")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, help="seconds")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    from stacks.config import ConfigError
    from tools.stage import prepare_stage

    try:
        stage, region, session = prepare_stage(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    services = ("cloudformation", "kinesis", "s3", "glue", "sagemaker")
    clients = Clients(*(session.client(n, region_name=region) for n in services))
    options = Options(
        stage=stage.name,
        region=region,
        count=args.count,
        seed=args.seed,
        run_workflow=not args.skip_workflow,
        landing_timeout=args.landing_timeout,
        workflow_timeout=args.workflow_timeout,
        poll_interval=args.poll_interval,
        variants=stage.inference.variants,
    )
    try:
        result = run(options, clients, call_api=sigv4_caller(session))
    except NoCredentialsError:
        print("error: no AWS credentials found (set AWS_PROFILE or run `aws sso login`)", file=sys.stderr)
        return 2
    except SmokeError as error:
        print(f"smoke run failed: {error}", file=sys.stderr)
        return 1
    except BotoCoreError as error:
        print(f"smoke run failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result.predictions, indent=2))
    print(f"smoke run passed: {result.sent} events sent and landed; predictions above", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
