"""The promotion tool against moto's SageMaker model registry and endpoints.

The group holds Approved, PendingManualApproval and Rejected versions and one Approved
version trained against another contract. cdk.json is a copy of the real one with two
stages of its own (one variant; an A/B pair), so a test sees exactly which bytes change.
The CDK CLI is faked: "synth" writes a small assembly of the Inference stack (one whose
endpoint has its rollback alarms, or one without) and the real readiness rules judge it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoCredentialsError

from contracts.model_package import (
    CONTRACT_SHA256,
    MANUAL_RUN,
    TRAINING_DATA,
    VALIDATION_RMSE,
    contract_fingerprint,
)
from contracts.model_package import ETL_RUN as ETL_RUN_KEY
from stacks.names import endpoint_name, stack_name
from tests.assemblies import write_assembly
from tests.synth import ROOT
from tools import cdk_json, promote
from tools.prerequisites import Prerequisites

REGION = "us-east-1"
STAGE, PAIR = "promo", "promo-pair"
GROUP = f"mlpipeline-{STAGE}-housing"
ETL_RUN = "jr_0123abcd"
BASELINE = f"s3://curated-zone/statistics/runs/{ETL_RUN}/drift_baseline.json"


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@pytest.fixture(scope="module")
def packages(moto_endpoint: str) -> dict[str, str]:
    """Versions 1-6 of the group: Approved (another contract), Approved, Pending, Rejected, Approved,
    Approved (trained by hand); and an Approved version of the A/B stage's group."""
    sagemaker = aws(moto_endpoint, "sagemaker")
    found = {}
    for group in (GROUP, f"mlpipeline-{PAIR}-housing"):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for name, status, rmse, contract, run in (
        ("stale", "Approved", "52000", {**contract_fingerprint(), CONTRACT_SHA256: "0" * 64}, "jr_1"),
        ("older", "Approved", "48000", contract_fingerprint(), "jr_2"),
        ("pending", "PendingManualApproval", "39000", contract_fingerprint(), "jr_3"),
        ("rejected", "Rejected", "61000", contract_fingerprint(), "jr_4"),
        ("approved", "Approved", "41234.5", contract_fingerprint(), ETL_RUN),
        ("by hand", "Approved", "40500", contract_fingerprint(), MANUAL_RUN),
    ):
        found[name] = sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={
                VALIDATION_RMSE: rmse,
                **contract,
                ETL_RUN_KEY: run,
                TRAINING_DATA: "s3://curated-zone/training/",
            },
        )["ModelPackageArn"]
    found["pair"] = sagemaker.create_model_package(  # Approved, in the A/B stage's group
        ModelPackageGroupName=f"mlpipeline-{PAIR}-housing",
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=contract_fingerprint(),
    )["ModelPackageArn"]
    return found


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The real cdk.json plus two stages of this test: one variant, and an A/B pair."""
    document = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))
    sandbox = document["context"]["stages"]["sandbox"]
    document["context"]["stages"][STAGE] = sandbox
    document["context"]["stages"][PAIR] = {
        **sandbox,
        "inference": {
            "variants": [{"name": "champion", "weight": 0.9}, {"name": "challenger", "weight": 0.1}],
            "deployment": {"mode": "canary", "step": 1},
        },
    }
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def inference_template(*, rollback: bool) -> dict[str, Any]:
    """The Inference stack at its smallest: endpoint config, endpoint, and (or not) its rollback alarm."""
    config_name = {"Fn::GetAtt": ["Config", "EndpointConfigName"]}
    deployment: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}}
    }
    if rollback:
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": {"Ref": "Alarm"}}]}
    return {
        "Resources": {
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {"VariantName": "primary", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}
                    ]
                },
            },
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/SageMaker",
                    "MetricName": "Invocation5XXErrors",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint_name(STAGE)},
                        {"Name": "VariantName", "Value": "primary"},
                        {"Name": "EndpointConfigName", "Value": config_name},
                    ],
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointName": endpoint_name(STAGE),
                    "EndpointConfigName": config_name,
                    "DeploymentConfig": deployment,
                },
            },
        }
    }


@dataclass
class Cdk:
    """The CDK CLI: records commands; synth writes the assembly, deploy succeeds or not."""

    rollback: bool = True
    synth_ok: bool = True
    deploy_ok: bool = True
    commands: list[list[str]] = field(default_factory=list)

    def __call__(self, command: list[str]) -> int:
        self.commands.append(command)
        if command[3] == "synth":
            assembly = Path(command[command.index("--output") + 1])
            write_assembly(assembly, {stack_name(STAGE, "Inference"): inference_template(rollback=self.rollback)})
            return 0 if self.synth_ok else 1
        return 0 if self.deploy_ok else 1

    @property
    def deploys(self) -> list[list[str]]:
        return [c for c in self.commands if c[3] == "deploy"]


class Quotas:
    """Service Quotas with enough endpoint instances for an update."""

    def get_paginator(self, operation: str) -> Any:
        quotas = [{"QuotaName": "ml.m5.large for endpoint usage", "Value": 8.0, "QuotaCode": "L-1"}]

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{"Quotas": quotas if operation == "list_service_quotas" else []}]

        return Pages()


class Session:
    region_name = REGION

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str, **_: Any) -> Any:
        return aws(self.endpoint, service)


def deps(moto_endpoint: str, config_file: Path, cdk: Cdk) -> promote.Deps:
    def prerequisites(session: Any, region: str) -> Prerequisites:
        return Prerequisites(
            region=region,
            sts=session.client("sts"),
            ssm=FakeSsm(),
            cloudformation=FakeToolkit(),
            service_quotas=Quotas(),
        )

    return promote.Deps(
        run=cdk,
        prerequisites=prerequisites,
        session=lambda profile: Session(moto_endpoint),
        cdk_json=config_file,
    )


class FakeSsm:
    def get_parameter(self, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Value": "30"}}


class FakeToolkit:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackStatus": "UPDATE_COMPLETE"}]}


def promote_main(moto_endpoint: str, config_file: Path, cdk: Cdk, *args: str, tmp: Path) -> int:
    return promote.main(
        ["--stage", STAGE, "--assembly", str(tmp / "assembly"), *args], deps=deps(moto_endpoint, config_file, cdk)
    )


def test_the_listing_shows_approved_packages_with_metrics_beside_what_each_variant_serves(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdk = Cdk()
    assert promote_main(moto_endpoint, config_file, cdk, tmp=tmp_path) == 0
    out = capsys.readouterr().out
    assert "primary: cdk.json pins the bundled model (model/model.tar.gz); the endpoint runs (endpoint not" in out
    listed = [line for line in out.splitlines() if line.startswith("  version ")]
    assert [line.split()[1] for line in listed] == ["6", "5", "2", "1"]  # Approved only, newest first
    assert "validation RMSE 41234.5  contract v1 matches" in listed[1]
    assert "validation RMSE 52000  contract v1 differs" in listed[3]
    assert packages["pending"] not in out and packages["rejected"] not in out
    assert cdk.commands == []


def test_the_listing_reads_what_the_live_endpoint_serves(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sagemaker = aws(moto_endpoint, "sagemaker")
    sagemaker.create_model(
        ModelName="served",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        PrimaryContainer={"ModelPackageName": packages["older"]},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="served-config",
        ProductionVariants=[
            {"VariantName": "primary", "ModelName": "served", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=endpoint_name(STAGE), EndpointConfigName="served-config")
    try:
        assert promote_main(moto_endpoint, config_file, Cdk(), tmp=tmp_path) == 0
        assert f"the endpoint runs model package {packages['older']}" in capsys.readouterr().out
    finally:
        sagemaker.delete_endpoint(EndpointName=endpoint_name(STAGE))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pending", "is PendingManualApproval, not Approved"),
        ("rejected", "is Rejected, not Approved"),
        ("stale", "was trained against another event contract (contract_sha256 '000"),
    ],
)
def test_packages_that_may_not_serve_are_refused_and_cdk_json_is_untouched(
    moto_endpoint: str,
    packages: dict[str, str],
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    reason: str,
) -> None:
    before = config_file.read_bytes()
    cdk = Cdk()
    assert promote_main(moto_endpoint, config_file, cdk, "--package", packages[name], tmp=tmp_path) == 2
    err = capsys.readouterr().err
    assert reason in err and err.rstrip().endswith("nothing was changed")
    assert config_file.read_bytes() == before and cdk.commands == []


def test_a_package_of_another_group_is_refused(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote_main(moto_endpoint, config_file, Cdk(), "--package", packages["pair"], tmp=tmp_path) == 2
    assert f"not of the stage's group {GROUP}" in capsys.readouterr().err


def test_a_promotion_pins_the_package_in_the_stage_block_only_then_gates_and_deploys_the_inference_stack(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = config_file.read_text(encoding="utf-8")
    cdk = Cdk()
    assert promote_main(moto_endpoint, config_file, cdk, "--package", packages["approved"], tmp=tmp_path) == 0
    after = config_file.read_text(encoding="utf-8")
    # Exactly the stage's block changed: the text around it is byte for byte the same ...
    start, end = cdk_json.value_span(before, ("context", "stages", STAGE))
    new_start, new_end = cdk_json.value_span(after, ("context", "stages", STAGE))
    assert (before[:start], before[end:]) == (after[:new_start], after[new_end:])
    # ... and the block gained only the variant's package.
    expected = json.loads(before)
    # The drift monitor compares the variant with the baseline its ETL run kept.
    expected["context"]["stages"][STAGE]["inference"]["variants"] = [
        {"name": "primary", "model_package_arn": packages["approved"], "baseline_url": BASELINE}
    ]
    assert json.loads(after) == expected
    out = capsys.readouterr().out
    assert f'+              "model_package_arn": "{packages["approved"]}"' in out  # the diff shown
    assert "RDY-SM9" in out and "compliant" in out  # readiness results
    # The update's own prerequisites: the endpoint quota for the new instances, not the training quota.
    assert "OK    SageMaker quota        'ml.m5.large for endpoint usage' is 8 (needs 3, up to 5)" in out
    assert "training job usage" not in out
    synth, deploy = cdk.commands
    assert synth[3:] == ["synth", "--quiet", "-c", f"stage={STAGE}", "--output", str(tmp_path / "assembly")]
    assert deploy[3:6] == ["deploy", stack_name(STAGE, "Inference"), "--exclusively"]


def test_no_deploy_when_the_readiness_gate_fails_and_cdk_json_is_restored(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = config_file.read_bytes()
    cdk = Cdk(rollback=False)
    assert promote_main(moto_endpoint, config_file, cdk, "--package", packages["approved"], tmp=tmp_path) == 1
    err = capsys.readouterr().err
    assert "RDY-SM9" in err and "no rollback alarms" in err and "nothing was deployed" in err
    assert cdk.deploys == [] and config_file.read_bytes() == before


def test_no_deploy_when_synth_fails_and_a_failed_deploy_restores_cdk_json(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path
) -> None:
    before = config_file.read_bytes()
    synth_fails = Cdk(synth_ok=False)
    assert promote_main(moto_endpoint, config_file, synth_fails, "--package", packages["approved"], tmp=tmp_path) == 1
    assert synth_fails.deploys == [] and config_file.read_bytes() == before
    deploy_fails = Cdk(deploy_ok=False)
    assert promote_main(moto_endpoint, config_file, deploy_fails, "--package", packages["approved"], tmp=tmp_path) == 1
    assert len(deploy_fails.deploys) == 1 and config_file.read_bytes() == before


def test_a_dry_run_gates_without_deploying_and_leaves_cdk_json_as_it_was(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = config_file.read_bytes()
    cdk = Cdk()
    args = ("--package", packages["approved"], "--dry-run")
    assert promote_main(moto_endpoint, config_file, cdk, *args, tmp=tmp_path) == 0
    out = capsys.readouterr().out
    assert "Dry run: the gate passed; a promotion would now run: npx --no-install cdk deploy" in out
    assert cdk.deploys == [] and config_file.read_bytes() == before


def test_variant_promotes_one_variant_of_an_ab_pair(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = packages["pair"]
    run = promote.main(
        ["--stage", PAIR, "--package", arn, "--dry-run", "--assembly", str(tmp_path / "a")],
        deps=deps(moto_endpoint, config_file, Cdk()),
    )
    assert run == 2 and "has variants ['champion', 'challenger']: choose one with --variant" in capsys.readouterr().err
    before = config_file.read_text(encoding="utf-8")
    edited = cdk_json.pin_model_package(before, stage=PAIR, variant="challenger", arn=arn, baseline_url=BASELINE)
    variants = json.loads(edited)["context"]["stages"][PAIR]["inference"]["variants"]
    assert variants == [
        {"name": "champion", "weight": 0.9},
        {"name": "challenger", "weight": 0.1, "model_package_arn": arn, "baseline_url": BASELINE},
    ]


def test_a_package_trained_by_hand_needs_its_baseline_named_for_a_monitored_variant(
    moto_endpoint: str, packages: dict[str, str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = config_file.read_bytes()
    assert promote_main(moto_endpoint, config_file, Cdk(), "--package", packages["by hand"], tmp=tmp_path) == 2
    err = capsys.readouterr().err
    assert "variant primary is monitored for drift" in err and "trained by hand (etl_run manual)" in err
    assert "BASELINE=s3://<curated zone>/statistics/runs/<run>/drift_baseline.json" in err
    assert config_file.read_bytes() == before
    named = ("--package", packages["by hand"], "--baseline-url", BASELINE, "--dry-run")
    assert promote_main(moto_endpoint, config_file, Cdk(), *named, tmp=tmp_path) == 0
    assert f'+              "baseline_url": "{BASELINE}"' in capsys.readouterr().out


def test_refused_without_credentials(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class NoCredentials:
        region_name = REGION

        def client(self, service: str, **_: Any) -> Any:
            return self

        def get_caller_identity(self) -> Any:
            raise NoCredentialsError()

    before = config_file.read_bytes()
    run = promote.main(
        ["--stage", STAGE, "--package", f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/5"],
        deps=promote.Deps(session=lambda profile: NoCredentials(), cdk_json=config_file),
    )
    assert run == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "a promotion needs AWS credentials" in err
    assert config_file.read_bytes() == before


def test_bad_input_is_refused_before_any_call(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert promote.main(["--stage", "nope"], deps=promote.Deps(cdk_json=config_file)) == 2
    assert "unknown stage" in capsys.readouterr().err
    assert promote.main(["--stage", STAGE, "--package", "model-7"], deps=promote.Deps(cdk_json=config_file)) == 2
    assert "is not a versioned model package ARN" in capsys.readouterr().err


def test_the_makefile_promotes_with_the_documented_variables() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-m tools.promote --stage $(STAGE)" in makefile
    for variable, flag in (
        ("PACKAGE", "--package"),
        ("VARIANT", "--variant"),
        ("BASELINE", "--baseline-url"),
        ("DRY_RUN", "--dry-run"),
    ):
        assert f"$(if $({variable}),{flag}" in makefile
