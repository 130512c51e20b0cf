"""Start a training run of a deployed stage and follow it until it ends.

``python -m tools.train --stage sandbox [--region R] [--profile P] [--poll-interval S]``
(`make train STAGE=...`)

1. checks the credentials (for the stage's account if it pins one) and refuses without them;
2. finds the state machine (the Training stack's `StateMachineArn` output);
3. starts an execution named ``manual-<UTC time>-<random>``; it records ``etl_run: manual``;
4. prints each state as it starts and ends, with the time since the start, and while the
   tuning job runs, its training jobs by status and the best validation:rmse so far;
5. ends with the registered model package and its approval status, or the error and
   cause of a failed run (the evaluation gate names the metric, threshold and values).

Stopping the tool (Ctrl-C) leaves the execution running and says how to stop it.
Exit codes: 0 the run registered a model, 1 it failed (or could not be followed), 2 bad
input or no credentials.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from stacks.training_flow import TUNE
from tools.smoke import Clock, Deployment, SmokeError, SystemClock
from tools.stage import add_stage_arguments

DEFAULT_POLL_INTERVAL = 15.0
STATE_MACHINE_OUTPUT = ("Training", "StateMachineArn")


@dataclass
class Clients:
    stepfunctions: Any
    sagemaker: Any
    cloudformation: Any


def execution_name(now: datetime) -> str:
    return f"manual-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def tuning_job_name(execution_arn: str) -> str:
    """The tuning job an execution starts: States.Hash($$.Execution.Id, 'MD5')."""
    return hashlib.md5(execution_arn.encode("utf-8"), usedforsecurity=False).hexdigest()


def words(status: str) -> str:
    """`InProgress` -> `in progress`, as a person reads a status."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", status).lower()


def tuning_status(job: dict[str, Any]) -> str:
    """One line on a tuning job: its status, its training jobs by status, the best metric so far."""
    counters = job.get("TrainingJobStatusCounters", {})
    total = job.get("HyperParameterTuningJobConfig", {}).get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
    jobs = ", ".join(f"{count} {words(status)}" for status, count in counters.items() if count)
    line = f"tuning job {words(str(job.get('HyperParameterTuningJobStatus', 'Unknown')))}"
    line += f": training jobs {jobs or 'none yet'}" + (f" (of {total})" if total else "")
    metric = job.get("BestTrainingJob", {}).get("FinalHyperParameterTuningJobObjectiveMetric")
    if metric:
        line += f"; best {metric['MetricName']} {metric['Value']:g}"
    return line


@dataclass
class Follower:
    """Prints an execution's progress from its history and its tuning job."""

    clients: Clients
    execution_arn: str
    out: TextIO = sys.stderr
    clock: Clock = field(default_factory=SystemClock)
    started: float = 0.0
    seen: int = 0
    current: str | None = None
    last_tuning: str = ""

    def say(self, text: str) -> None:
        elapsed = int(self.clock.now() - self.started)
        print(f"  +{elapsed // 60:02d}:{elapsed % 60:02d}  {text}", file=self.out, flush=True)

    def poll(self) -> dict[str, Any]:
        """Report what happened since the last poll; the execution's description."""
        events = self._new_events()
        for event in events:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                self.current = entered["name"]
                self.say(f"> {entered['name']}")
            exited = event.get("stateExitedEventDetails")
            if exited:
                self.say(f"  {exited['name']} done")
        if self.current == TUNE:
            self._report_tuning()
        described: dict[str, Any] = self.clients.stepfunctions.describe_execution(executionArn=self.execution_arn)
        return described

    def _new_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.clients.stepfunctions.get_execution_history(
                executionArn=self.execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events += page.get("events", [])
            token = page.get("nextToken")
            if not token:
                break
        fresh, self.seen = events[self.seen :], len(events)
        return fresh

    def _report_tuning(self) -> None:
        from botocore.exceptions import ClientError

        try:
            job = self.clients.sagemaker.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_job_name(self.execution_arn)
            )
        except ClientError:
            return  # not created yet
        line = tuning_status(job)
        if line != self.last_tuning:
            self.last_tuning = line
            self.say(f"  {line}")

    def follow(self, interval: float) -> dict[str, Any]:
        self.started = self.clock.now()
        while (described := self.poll())["status"] == "RUNNING":
            self.clock.sleep(interval)
        return described


def outcome(described: dict[str, Any], sagemaker: Any) -> tuple[int, str]:
    """The exit code and closing lines of an ended execution."""
    status = described["status"]
    if status != "SUCCEEDED":
        lines = [
            f"training run {status.lower()}: {described.get('error', '')}",
            f"  cause: {described.get('cause', '')}",
        ]
        return 1, "\n".join(lines)
    arn = json.loads(described.get("output") or "{}").get("model_package", {}).get("arn", "")
    approval = sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] if arn else "unknown"
    lines = [f"training run succeeded: registered {arn} ({approval})"]
    if approval == "PendingManualApproval":
        lines += [
            "  review it (docs/training.md), then approve it:",
            f"  aws sagemaker update-model-package --model-package-arn {arn} --model-approval-status Approved",
        ]
    return 0, "\n".join(lines)


def run(stage: str, clients: Clients, *, interval: float, out: TextIO = sys.stderr, clock: Clock | None = None) -> int:
    machine = Deployment(clients.cloudformation, stage).output(*STATE_MACHINE_OUTPUT)
    name = execution_name(datetime.now(UTC))
    execution = clients.stepfunctions.start_execution(stateMachineArn=machine, name=name, input="{}")
    arn = str(execution["executionArn"])
    print(f"started {name} of {machine}", file=out, flush=True)
    follower = Follower(clients, arn, out=out, clock=clock or SystemClock())
    try:
        described = follower.follow(interval)
    except KeyboardInterrupt:
        print(
            f"\nstopped following; the execution keeps running. Stop it with:\n"
            f"  aws stepfunctions stop-execution --execution-arn {arn}",
            file=out,
        )
        return 1
    code, text = outcome(described, clients.sagemaker)
    print(text, file=out)
    return code


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.train", description=__doc__.split("\n", 1)[0])
    add_stage_arguments(parser)
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, help="seconds between updates")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    from stacks.config import ConfigError
    from tools.prerequisites import Prerequisites, render_checks
    from tools.stage import prepare_stage

    try:
        stage, region, session = prepare_stage(args)
        sts = session.client("sts", region_name=region)
        check, identity = Prerequisites(region=region, sts=sts).credentials(stage.account)
        if identity is None:
            print(render_checks(stage, region, [check]), file=sys.stderr)
            print(
                "error: a training run needs AWS credentials for the stage's account; nothing was started",
                file=sys.stderr,
            )
            return 2
        services = ("stepfunctions", "sagemaker", "cloudformation")
        return run(
            stage.name, Clients(*(session.client(n, region_name=region) for n in services)), interval=args.poll_interval
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (SmokeError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
