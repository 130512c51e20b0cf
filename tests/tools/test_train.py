"""The training run tool: refusal without credentials, the progress display, both endings.

Step Functions and SageMaker answer from scripted fakes (an execution's history grows
between polls); CloudFormation is moto, with the Training stack's output.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from stacks.names import stack_name
from stacks.training_flow import TUNE
from tools import train
from tools.train import Clients, Follower, tuning_job_name, tuning_status

REGION = "eu-west-3"
MACHINE = "arn:aws:states:eu-west-3:123456789012:stateMachine:Training"
PACKAGE = "arn:aws:sagemaker:eu-west-3:123456789012:model-package/mlpipeline-smoke-housing/3"


@dataclass
class FakeClock:
    now_value: float = 0.0

    def now(self) -> float:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        self.now_value += seconds


def entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def exited(name: str) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


@dataclass
class FakeStepFunctions:
    """Each poll reveals the next batch of history; the last one carries the final status."""

    batches: list[list[dict[str, Any]]]
    final: dict[str, Any]
    polls: int = 0
    started: list[dict[str, Any]] = field(default_factory=list)

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"executionArn": f"{MACHINE.replace('stateMachine', 'execution')}:{kwargs['name']}"}

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        shown = [e for batch in self.batches[: self.polls + 1] for e in batch]
        # Two pages, as the API returns long histories.
        if "nextToken" in kwargs:
            return {"events": shown[1:]}
        return {"events": shown[:1], "nextToken": "page-2"} if len(shown) > 1 else {"events": shown}

    def describe_execution(self, **_: Any) -> dict[str, Any]:
        self.polls += 1
        return self.final if self.polls >= len(self.batches) else {"status": "RUNNING"}


@dataclass
class FakeSageMaker:
    tuning: list[dict[str, Any]]
    approval: str = "Approved"
    asked: list[str] = field(default_factory=list)

    def describe_hyper_parameter_tuning_job(self, HyperParameterTuningJobName: str) -> dict[str, Any]:
        self.asked.append(HyperParameterTuningJobName)
        if not self.tuning:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFound", "Message": "no job"}}, "DescribeHyperParameterTuningJob"
            )
        return self.tuning.pop(0) if len(self.tuning) > 1 else self.tuning[0]

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        return {"ModelPackageArn": ModelPackageName, "ModelApprovalStatus": self.approval}


def tuning(completed: int, running: int, best: float | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "HyperParameterTuningJobStatus": "InProgress",
        "HyperParameterTuningJobConfig": {"ResourceLimits": {"MaxNumberOfTrainingJobs": 2}},
        "TrainingJobStatusCounters": {"Completed": completed, "InProgress": running, "Stopped": 0},
    }
    if best is not None:
        job["BestTrainingJob"] = {
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:rmse", "Value": best}
        }
    return job


@pytest.fixture
def cloudformation(moto_endpoint: str) -> Iterator[Any]:
    client = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_endpoint)
    name = stack_name("smoke", "Training")
    client.create_stack(
        StackName=name,
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"StateMachineArn": {"Value": MACHINE}},
            }
        ),
    )
    yield client
    client.delete_stack(StackName=name)


HISTORY = [
    [entered("Started by the ETL job?"), exited("Started by the ETL job?"), entered(TUNE)],
    [],
    [exited(TUNE), entered("Evaluate the candidate")],
]


def test_a_run_that_registers_a_model_shows_its_progress(cloudformation: Any) -> None:
    sfn = FakeStepFunctions(HISTORY, {"status": "SUCCEEDED", "output": json.dumps({"model_package": {"arn": PACKAGE}})})
    sagemaker = FakeSageMaker([tuning(0, 2), tuning(1, 1, 41234.5)], approval="PendingManualApproval")
    out = io.StringIO()
    code = train.run("smoke", Clients(sfn, sagemaker, cloudformation), interval=30, out=out, clock=FakeClock())
    assert code == 0
    text = out.getvalue()
    assert text.splitlines()[0].startswith("started manual-") and MACHINE in text
    assert "  +00:00  > Started by the ETL job?" in text
    assert f"  +00:00  > {TUNE}" in text
    assert "tuning job in progress: training jobs 2 in progress (of 2)" in text
    progress = "tuning job in progress: training jobs 1 completed, 1 in progress (of 2); best validation:rmse 41234.5"
    assert f"  +00:30    {progress}" in text
    assert f"  +01:00    {TUNE} done" in text and "  +01:00  > Evaluate the candidate" in text
    assert f"registered {PACKAGE} (PendingManualApproval)" in text
    assert f"aws sagemaker update-model-package --model-package-arn {PACKAGE} --model-approval-status Approved" in text
    (started,) = sfn.started
    assert started["stateMachineArn"] == MACHINE and started["input"] == "{}" and len(started["name"]) <= 80
    execution_arn = f"{MACHINE.replace('stateMachine', 'execution')}:{started['name']}"
    assert set(sagemaker.asked) == {tuning_job_name(execution_arn)} and len(sagemaker.asked[0]) == 32


def test_a_failed_run_prints_the_gate_cause_and_exits_1(cloudformation: Any) -> None:
    cause = (
        "validation:rmse 45000 is more than 5% worse than the Approved model's 40000 (limit 42000, threshold 100000)"
    )
    sfn = FakeStepFunctions(HISTORY, {"status": "FAILED", "error": "EvaluationGateFailed", "cause": cause})
    out = io.StringIO()
    code = train.run("smoke", Clients(sfn, FakeSageMaker([]), cloudformation), interval=30, out=out, clock=FakeClock())
    assert code == 1
    assert out.getvalue().splitlines()[-2:] == ["training run failed: EvaluationGateFailed", f"  cause: {cause}"]


def test_tuning_status_before_any_training_job() -> None:
    assert (
        tuning_status({"HyperParameterTuningJobStatus": "InProgress"})
        == "tuning job in progress: training jobs none yet"
    )


def test_progress_keeps_quiet_while_nothing_changes() -> None:
    sfn = FakeStepFunctions([[entered(TUNE)], [], []], {"status": "SUCCEEDED"})
    follower = Follower(
        Clients(sfn, FakeSageMaker([tuning(0, 1)]), None), "arn:x", out=io.StringIO(), clock=FakeClock()
    )
    follower.follow(10)
    assert follower.out.getvalue().count("tuning job") == 1  # type: ignore[attr-defined]


def test_refuses_without_credentials(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class NoCredentials:
        region_name = None

        def client(self, service: str, **_: Any) -> Any:
            assert service == "sts"
            return self

        def get_caller_identity(self) -> Any:
            raise NoCredentialsError()

    monkeypatch.setattr("tools.stage.session", lambda profile: NoCredentials())
    assert train.main(["--stage", "sandbox"]) == 2
    err = capsys.readouterr().err
    assert "FAIL  credentials" in err and "no AWS credentials found" in err
    assert err.rstrip().endswith("a training run needs AWS credentials for the stage's account; nothing was started")


def test_a_stage_that_is_not_deployed_is_named(moto_endpoint: str) -> None:
    client = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_endpoint)
    with pytest.raises(train.SmokeError, match="MlPipeline-nowhere-Training"):
        train.run("nowhere", Clients(None, None, client), interval=1, out=io.StringIO(), clock=FakeClock())
