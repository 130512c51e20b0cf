"""Deploy prerequisites (moto where it answers, fakes for each failure), deploy/destroy, idle cost."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from tests.assemblies import write_assembly as write_stacks
from tests.synth import ROOT, SynthesizedStage
from tools import deploy, idle_cost, retained, stage
from tools.deploy import Deps
from tools.prerequisites import (
    DEFAULT_BOOTSTRAP_VERSION,
    Check,
    Identity,
    Prerequisites,
    endpoint_needs,
    execution_role_arn,
    failed,
    required_bootstrap_version,
    run_checks,
)
from tools.retained import StageStacks

ACCOUNT = "111122223333"
REGION = "us-east-1"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
OTHER_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/LakeAdmins"
SANDBOX = stage.load_stage_config("sandbox")
PROD = stage.load_stage_config("prod")


def client_error(code: str, message: str = "", operation: str = "Operation") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# ---------------------------------------------------------------------------
# Fakes, one per client the checks use
# ---------------------------------------------------------------------------


class FakeSts:
    def __init__(self, arn: str = CALLER, account: str = ACCOUNT, error: Exception | None = None) -> None:
        self.arn, self.account, self.error = arn, account, error

    def get_caller_identity(self) -> dict[str, str]:
        if self.error:
            raise self.error
        return {"Account": self.account, "Arn": self.arn}


class FakeSsm:
    def __init__(self, value: str | None = "30", error: Exception | None = None) -> None:
        self.value, self.error = value, error

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if self.error:
            raise self.error
        if self.value is None:
            raise client_error("ParameterNotFound", f"Parameter {Name} not found.")
        return {"Parameter": {"Name": Name, "Value": self.value}}


class FakeCloudFormation:
    def __init__(self, status: str | None = "UPDATE_COMPLETE", missing: set[str] | None = None) -> None:
        self.status, self.missing = status, missing or set()
        self.protection_off: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            raise client_error("ValidationError", f"Stack with id {StackName} does not exist")
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status}]}

    def describe_stack_resource(self, StackName: str, LogicalResourceId: str) -> dict[str, Any]:
        if StackName in self.missing:
            raise client_error("ValidationError", f"Stack '{StackName}' does not exist")
        return {"StackResourceDetail": {"PhysicalResourceId": f"{StackName.lower()}-{LogicalResourceId.lower()}"}}

    def update_termination_protection(self, EnableTerminationProtection: bool, StackName: str) -> None:
        assert EnableTerminationProtection is False
        if StackName in self.missing:
            raise client_error("ValidationError", f"Stack [{StackName}] does not exist")
        self.protection_off.append(StackName)


class FakeLakeFormation:
    def __init__(self, admins: list[str] | None = None, error: Exception | None = None) -> None:
        self.error = error
        self.settings: dict[str, Any] = {
            "DataLakeAdmins": [{"DataLakePrincipalIdentifier": a} for a in (admins or [])],
            "CreateDatabaseDefaultPermissions": [],
            "TrustedResourceOwners": [],
            "Parameters": {"CROSS_ACCOUNT_VERSION": "4"},
        }

    def get_data_lake_settings(self) -> dict[str, Any]:
        if self.error:
            raise self.error
        return {"DataLakeSettings": self.settings}


class FakeIam:
    def __init__(self, decision: str | None = "allowed", error: Exception | None = None) -> None:
        self.decision, self.error = decision, error
        self.asked: list[tuple[str, list[str]]] = []

    def simulate_principal_policy(self, PolicySourceArn: str, ActionNames: list[str]) -> dict[str, Any]:
        self.asked.append((PolicySourceArn, ActionNames))
        if self.error:
            raise self.error
        return {"EvaluationResults": [{"EvalActionName": a, "EvalDecision": self.decision} for a in ActionNames]}


class FakeQuotas:
    """Service Quotas with applied and default quota lists (two pages each)."""

    def __init__(
        self,
        applied: dict[str, float] | None = None,
        defaults: dict[str, float] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.lists = {"list_service_quotas": applied or {}, "list_aws_default_service_quotas": defaults or {}}
        self.error = error

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, ServiceCode: str) -> Iterator[dict[str, Any]]:
                assert ServiceCode == "sagemaker"
                if fake.error:
                    raise fake.error
                quotas = [
                    {"QuotaName": name, "QuotaCode": f"L-{abs(hash(name)) % 10**8:08d}", "Value": value}
                    for name, value in fake.lists[operation].items()
                ]
                yield {"Quotas": [{"QuotaName": "ml.t2.medium for endpoint usage", "QuotaCode": "L-1", "Value": 0.0}]}
                yield {"Quotas": quotas}

        return Paginator()


def prerequisites(**overrides: Any) -> Prerequisites:
    clients: dict[str, Any] = {
        "sts": FakeSts(),
        "ssm": FakeSsm(),
        "cloudformation": FakeCloudFormation(),
        "lakeformation": FakeLakeFormation(admins=[EXEC_ROLE]),
        "iam": FakeIam(),
        "service_quotas": FakeQuotas(applied={"ml.m5.large for endpoint usage": 8.0}),
    }
    clients.update(overrides)
    return Prerequisites(region=REGION, **clients)


def by_name(checks: list[Check], name: str) -> Check:
    (check,) = [c for c in checks if c.name == name]
    return check


def only(checks: list[Check]) -> Check:
    (check,) = checks
    return check


IDENTITY = Identity(account=ACCOUNT, arn=CALLER)


# ---------------------------------------------------------------------------
# Against the local moto server
# ---------------------------------------------------------------------------


def moto_prerequisites(endpoint: str, region: str) -> Prerequisites:
    def client(name: str) -> Any:
        return boto3.client(name, region_name=region, endpoint_url=endpoint)

    return Prerequisites(
        region=region,
        sts=client("sts"),
        ssm=client("ssm"),
        cloudformation=client("cloudformation"),
        lakeformation=client("lakeformation"),
        iam=None,  # moto has no SimulatePrincipalPolicy
        # moto lists VPC quotas only
        service_quotas=FakeQuotas(
            applied={"ml.m5.large for endpoint usage": 5.0, "ml.m5.large for training job usage": 2.0}
        ),
    )


def test_a_bootstrapped_account_passes_every_check_on_moto(moto_endpoint: str) -> None:
    region = "eu-north-1"
    checks = moto_prerequisites(moto_endpoint, region)
    checks.ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
    topic = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    checks.cloudformation.create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(topic))
    identity = checks.sts.get_caller_identity()
    exec_role = execution_role_arn(Identity(identity["Account"], identity["Arn"]), region)
    checks.lakeformation.put_data_lake_settings(
        DataLakeSettings={"DataLakeAdmins": [{"DataLakePrincipalIdentifier": exec_role}]}
    )

    results = run_checks(checks, SANDBOX, required_version=6)

    assert [(c.name, c.status) for c in results] == [
        ("credentials", "ok"),
        ("CDKToolkit stack", "ok"),
        ("CDK bootstrap version", "ok"),
        ("Lake Formation admin", "ok"),
        ("SageMaker quota", "ok"),
        ("SageMaker quota", "ok"),
    ]
    assert "version 30 (templates require >= 6)" in by_name(results, "CDK bootstrap version").message


def test_an_account_without_bootstrap_fails_with_the_bootstrap_command_on_moto(moto_endpoint: str) -> None:
    region = "eu-south-1"
    checks = moto_prerequisites(moto_endpoint, region)
    identity = checks.sts.get_caller_identity()
    results = checks.bootstrap(Identity(identity["Account"], identity["Arn"]), 6)
    command = f"npx cdk bootstrap aws://{identity['Account']}/{region}"
    assert [(c.name, c.status, c.fix) for c in results] == [
        ("CDKToolkit stack", "fail", command),
        ("CDK bootstrap version", "fail", command),
    ]
    assert "not bootstrapped" in results[0].message


def test_lake_formation_command_keeps_the_current_settings_on_moto(moto_endpoint: str) -> None:
    region = "eu-west-2"
    checks = moto_prerequisites(moto_endpoint, region)
    identity = checks.sts.get_caller_identity()
    before = checks.lakeformation.get_data_lake_settings()["DataLakeSettings"]

    check = checks.lake_formation(Identity(identity["Account"], identity["Arn"]))

    assert check.status == "warn"  # no admin yet, and moto cannot simulate the role's permissions
    words = shlex.split(check.fix)
    assert words[:4] == ["aws", "lakeformation", "put-data-lake-settings", "--region"]
    settings = json.loads(words[words.index("--data-lake-settings") + 1])
    role = execution_role_arn(Identity(identity["Account"], identity["Arn"]), region)
    assert settings["DataLakeAdmins"] == [*before["DataLakeAdmins"], {"DataLakePrincipalIdentifier": role}]
    assert settings["CreateDatabaseDefaultPermissions"] == before["CreateDatabaseDefaultPermissions"]
    checks.lakeformation.put_data_lake_settings(DataLakeSettings=settings)  # the command's document is accepted
    assert checks.lake_formation(Identity(identity["Account"], identity["Arn"])).status == "ok"


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


def test_missing_credentials_fail_and_skip_the_other_checks() -> None:
    results = run_checks(prerequisites(sts=FakeSts(error=NoCredentialsError())), SANDBOX, required_version=6)
    assert results[0].status == "fail" and results[0].message == "no AWS credentials found"
    assert "aws sso login" in results[0].fix
    assert [(c.name, c.status) for c in results[1:]] == [
        ("CDK bootstrap", "skip"),
        ("Lake Formation admin", "skip"),
        ("SageMaker quota", "skip"),
    ]
    assert failed(results)


def test_expired_credentials_say_so() -> None:
    check, identity = prerequisites(sts=FakeSts(error=client_error("ExpiredToken"))).credentials()
    assert identity is None
    assert (check.status, check.message) == ("fail", "credentials were rejected (ExpiredToken): expired or invalid")


def test_credentials_of_another_account_than_the_stage_pins_fail() -> None:
    check, identity = prerequisites().credentials(expected_account="999988887777")
    assert identity is None
    assert check.message == f"credentials are for account {ACCOUNT}, the stage deploys to 999988887777"


def test_assumed_role_sessions_are_known_by_their_role() -> None:
    assert IDENTITY.principal_arn == f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert execution_role_arn(IDENTITY, REGION) == EXEC_ROLE


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


def test_an_old_bootstrap_fails_with_the_upgrade_command() -> None:
    results = prerequisites(ssm=FakeSsm("5")).bootstrap(IDENTITY, 6)
    check = by_name(results, "CDK bootstrap version")
    assert (check.status, check.message) == ("fail", "bootstrap version 5, the templates require 6 or later")
    assert check.fix == f"upgrade the bootstrap stack: npx cdk bootstrap aws://{ACCOUNT}/{REGION}"


def test_a_failed_toolkit_stack_fails() -> None:
    results = prerequisites(cloudformation=FakeCloudFormation("ROLLBACK_COMPLETE")).bootstrap(IDENTITY, 6)
    check = by_name(results, "CDKToolkit stack")
    assert check.status == "fail" and "ROLLBACK_COMPLETE" in check.message


def test_an_unreadable_version_parameter_is_a_warning() -> None:
    results = prerequisites(ssm=FakeSsm(error=client_error("AccessDeniedException"))).bootstrap(IDENTITY, 6)
    assert by_name(results, "CDK bootstrap version").status == "warn"


def test_the_required_version_comes_from_the_assembly(sandbox: SynthesizedStage, tmp_path: Path) -> None:
    manifest = json.loads((sandbox.outdir / "manifest.json").read_text(encoding="utf-8"))
    required = max(
        a.get("properties", {}).get("requiresBootstrapStackVersion", 0) for a in manifest["artifacts"].values()
    )
    assert required_bootstrap_version(sandbox.outdir) == required >= 6
    assert required_bootstrap_version(tmp_path) == DEFAULT_BOOTSTRAP_VERSION


# ---------------------------------------------------------------------------
# Lake Formation
# ---------------------------------------------------------------------------


def test_the_execution_role_already_being_admin_passes() -> None:
    stored_with_path = f"arn:aws:iam::{ACCOUNT}:role/cdk/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
    check = prerequisites(lakeformation=FakeLakeFormation([stored_with_path])).lake_formation(IDENTITY)
    assert (check.status, check.message) == ("ok", "the CDK execution role is a data lake administrator")


def test_a_caller_who_is_admin_passes() -> None:
    lf = FakeLakeFormation([f"arn:aws:iam::{ACCOUNT}:role/Admin", OTHER_ADMIN])
    check = prerequisites(lakeformation=lf, iam=FakeIam("explicitDeny")).lake_formation(IDENTITY)
    assert check.status == "ok" and "APPEND keeps the 2 existing administrators" in check.message


def test_a_role_allowed_to_change_settings_passes() -> None:
    iam = FakeIam("allowed")
    check = prerequisites(lakeformation=FakeLakeFormation([OTHER_ADMIN]), iam=iam).lake_formation(IDENTITY)
    assert check.status == "ok"
    assert iam.asked == [(EXEC_ROLE, ["lakeformation:GetDataLakeSettings", "lakeformation:PutDataLakeSettings"])]


def test_denied_settings_fail_with_the_exact_command_keeping_existing_admins() -> None:
    lf = FakeLakeFormation([OTHER_ADMIN])
    check = prerequisites(lakeformation=lf, iam=FakeIam("implicitDeny")).lake_formation(IDENTITY)
    assert check.status == "fail" and "PutDataLakeSettings" in check.message
    words = shlex.split(check.fix)
    assert words[:5] == ["aws", "lakeformation", "put-data-lake-settings", "--region", REGION]
    settings = json.loads(words[-1])
    assert settings["DataLakeAdmins"] == [
        {"DataLakePrincipalIdentifier": OTHER_ADMIN},
        {"DataLakePrincipalIdentifier": EXEC_ROLE},
    ]
    assert settings["Parameters"] == {"CROSS_ACCOUNT_VERSION": "4"}  # PutDataLakeSettings replaces everything


def test_an_unverifiable_role_is_a_warning_with_the_command() -> None:
    iam = FakeIam(error=client_error("AccessDenied"))
    check = prerequisites(lakeformation=FakeLakeFormation([OTHER_ADMIN]), iam=iam).lake_formation(IDENTITY)
    assert check.status == "warn" and "put-data-lake-settings" in check.fix


def test_a_caller_denied_reading_settings_gets_the_read_append_write_commands() -> None:
    lf = FakeLakeFormation(error=client_error("AccessDeniedException", "not authorized"))
    check = prerequisites(lakeformation=lf, iam=FakeIam(error=client_error("AccessDenied"))).lake_formation(IDENTITY)
    assert check.status == "fail"
    assert f"arn:aws:iam::{ACCOUNT}:role/Admin is denied lakeformation:GetDataLakeSettings" in check.message
    lines = check.fix.splitlines()
    assert lines[0].startswith(f"aws lakeformation get-data-lake-settings --region {REGION} --query DataLakeSettings")
    assert f"jq --arg role {EXEC_ROLE}" in lines[1] and "unique" in lines[1]
    assert lines[2] == (
        f"aws lakeformation put-data-lake-settings --region {REGION} --data-lake-settings file://lf-settings.json"
    )


def test_a_caller_denied_reading_settings_only_warns_when_the_role_may_change_them() -> None:
    lf = FakeLakeFormation(error=client_error("AccessDeniedException"))
    check = prerequisites(lakeformation=lf, iam=FakeIam("allowed")).lake_formation(IDENTITY)
    assert check.status == "warn" and "file://lf-settings.json" in check.fix


# ---------------------------------------------------------------------------
# SageMaker quota
# ---------------------------------------------------------------------------


def quota(applied: dict[str, float] | None = None, **kwargs: Any) -> Check:
    endpoint, _training = prerequisites(service_quotas=FakeQuotas(applied, **kwargs)).sagemaker_quota(SANDBOX)
    return endpoint


def training_quota(applied: dict[str, float], stage: Any = SANDBOX) -> Check:
    return prerequisites(service_quotas=FakeQuotas(applied)).training_quota(stage)


def test_a_training_quota_of_zero_fails_before_the_first_run() -> None:
    check = training_quota({"ml.m5.large for training job usage": 0.0})
    assert check.status == "fail"
    assert "'ml.m5.large for training job usage' is 0; a training job needs 1" in check.message
    assert check.fix.endswith("--desired-value 2")  # max_parallel_jobs 2 x instance_count 1 on the sandbox


def test_a_training_quota_below_the_parallel_jobs_is_a_warning() -> None:
    check = training_quota({"ml.m5.large for training job usage": 1.0})
    assert check.status == "warn" and "the tuning job runs up to 2 instances at once" in check.message
    assert training_quota({"ml.m5.large for training job usage": 2.0}).status == "ok"


def test_spot_training_checks_the_spot_quota() -> None:
    prod = stage.load_stage_config("prod")
    check = training_quota({"ml.m5.large for spot training job usage": 4.0}, prod)
    assert check.status == "ok" and "(needs 1, up to 4)" in check.message


def test_the_stage_config_gives_instance_type_and_counts() -> None:
    (variant,) = SANDBOX.inference.variants
    assert (variant.instance_type, variant.min_capacity, variant.max_capacity) == ("ml.m5.large", 2, 4)


def test_a_quota_below_an_update_at_the_initial_size_fails_with_the_increase_request() -> None:
    # The sandbox runs 2 instances and updates in rolling batches of 1: an update needs 3, up to 5.
    check = quota({"ml.m5.large for endpoint usage": 2.0})
    assert check.status == "fail"
    assert "'ml.m5.large for endpoint usage' is 2; an update of the endpoint needs 3" in check.message
    assert "a rolling update adds a batch of 1 instance(s)" in check.message and "first deploy needs 2" in check.message
    assert check.fix.startswith(
        f"aws service-quotas request-service-quota-increase --region {REGION} --service-code sagemaker --quota-code L-"
    )
    assert check.fix.endswith("--desired-value 5")


def test_a_quota_below_an_update_at_the_autoscaling_maximum_is_a_warning() -> None:
    check = quota({"ml.m5.large for endpoint usage": 4.0})
    assert check.status == "warn" and "at autoscaling's maximum an update needs 5" in check.message


def test_blue_green_updates_count_both_fleets() -> None:
    prod = stage.load_stage_config("prod")  # canary: the new fleet of 2 to 4 starts beside the old one
    endpoint, _ = prerequisites(
        service_quotas=FakeQuotas({"ml.m5.large for endpoint usage": 4.0, "ml.m5.large for spot training job usage": 4})
    ).sagemaker_quota(prod)
    assert (
        endpoint.status == "warn"
        and "an update needs 8 (a blue/green update runs the new fleet beside" in endpoint.message
    )
    needs = endpoint_needs(prod)["ml.m5.large"]
    assert (needs.serving, needs.start, needs.peak) == (2, 4, 8)


def test_the_default_quota_is_used_when_none_is_applied() -> None:
    check = quota({}, defaults={"ml.m5.large for endpoint usage": 5.0})
    assert check.status == "ok" and "is 5 (needs 3, up to 5)" in check.message


def test_an_unreadable_or_unknown_quota_is_a_warning() -> None:
    denied = quota(error=client_error("AccessDeniedException"))
    assert denied.status == "warn" and "Service Quotas console" in denied.fix
    unknown = quota({})
    assert unknown.status == "warn" and "no quota named 'ml.m5.large for endpoint usage'" in unknown.message


# ---------------------------------------------------------------------------
# deploy and destroy
# ---------------------------------------------------------------------------


class Recorder:
    """Runs nothing; a synth writes a small assembly with the stage's stacks."""

    def __init__(self, stage: str, codes: dict[str, int] | None = None) -> None:
        self.stage, self.codes = stage, codes or {}
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> int:
        self.commands.append(command)
        verb = command[3]
        if verb == "synth":
            write_stage_assembly(Path(command[command.index("--output") + 1]), self.stage)
        return self.codes.get(verb, 0)


def write_stage_assembly(directory: Path, stage: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    templates = {
        f"MlPipeline-{stage}-DataLake": {
            "Resources": {"RawZone2D660746": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}}
        },
        f"MlPipeline-{stage}-Api": {"Resources": {"ApiF70053CD": {"Type": "AWS::ApiGateway::RestApi"}}},
        f"MlPipeline-{stage}-Training": {
            "Resources": {
                "ModelPackageGroup": {
                    "Type": "AWS::SageMaker::ModelPackageGroup",
                    "Properties": {"ModelPackageGroupName": f"mlpipeline-{stage}-housing"},
                    "DeletionPolicy": "Delete" if stage == "sandbox" else "Retain",
                }
            }
        },
    }
    write_stacks(directory, templates, properties={"requiresBootstrapStackVersion": 6})


def fake_deps(recorder: Recorder, checks: Prerequisites, cloudformation: Any = None, sagemaker: Any = None) -> Deps:
    return Deps(
        run=recorder,
        prerequisites=lambda session, region: checks,
        cloudformation=lambda session, region: cloudformation,
        sagemaker=lambda session, region: sagemaker,
    )


def test_deploy_synthesizes_checks_then_deploys_the_assembly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("sandbox")
    assembly = str(tmp_path / "cdk.out")
    code = deploy.main(
        ["deploy", "--stage", "sandbox", "--assembly", assembly], deps=fake_deps(recorder, prerequisites())
    )
    assert code == 0
    assert recorder.commands == [
        ["npx", "--no-install", "cdk", "synth", "--quiet", "-c", "stage=sandbox", "--output", assembly],
        ["npx", "--no-install", "cdk", "deploy", "--all", "--app", assembly, "--require-approval", "never"],
    ]
    out = capsys.readouterr().out
    assert "Prerequisites of stage sandbox (us-east-1):" in out and "all prerequisites met" in out


def test_deploy_stops_before_cdk_deploy_when_a_check_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder("sandbox")
    checks = prerequisites(service_quotas=FakeQuotas({"ml.m5.large for endpoint usage": 0.0}))
    args = ["deploy", "--stage", "sandbox", "--assembly", str(tmp_path / "cdk.out")]
    assert deploy.main(args, deps=fake_deps(recorder, checks)) == 1
    assert [c[3] for c in recorder.commands] == ["synth"]
    captured = capsys.readouterr()
    assert "FAIL  SageMaker quota" in captured.out
    assert "prerequisites not met; nothing was deployed" in captured.err


def test_deploy_without_credentials_runs_nothing(tmp_path: Path) -> None:
    recorder = Recorder("sandbox")
    checks = prerequisites(sts=FakeSts(error=NoCredentialsError()))
    assert deploy.main(["deploy", "--assembly", str(tmp_path / "o")], deps=fake_deps(recorder, checks)) == 1
    assert recorder.commands == []


def test_outside_sandbox_deploys_ask_for_approval_of_broadening_changes(tmp_path: Path) -> None:
    recorder = Recorder("prod")
    assert (
        deploy.main(
            ["deploy", "--stage", "prod", "--assembly", str(tmp_path / "o")], deps=fake_deps(recorder, prerequisites())
        )
        == 0
    )
    assert recorder.commands[-1][-2:] == ["--require-approval", "broadening"]


def test_destroy_outside_sandbox_is_refused_without_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    assembly = tmp_path / "cdk.out"
    write_stage_assembly(assembly, "prod")
    code = deploy.main(
        ["destroy", "--stage", "prod", "--assembly", str(assembly), "--confirm", "sandbox"],
        deps=fake_deps(recorder, prerequisites()),
    )
    assert code == 2
    assert recorder.commands == []
    err = capsys.readouterr().err
    assert "refusing to destroy stage 'prod': it is not a sandbox stage" in err
    assert "termination protection on" in err and "retained" in err
    assert "MlPipeline-prod-DataLake: RawZone (AWS::S3::Bucket)" in err
    assert "make destroy STAGE=prod CONFIRM=prod" in err


def test_confirmed_destroy_turns_termination_protection_off_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    cloudformation = FakeCloudFormation(missing={"MlPipeline-prod-Api"})
    assembly = str(tmp_path / "cdk.out")
    args = ["destroy", "--stage", "prod", "--assembly", assembly, "--confirm", "prod"]
    assert deploy.main(args, deps=fake_deps(recorder, prerequisites(), cloudformation)) == 0
    assert cloudformation.protection_off == ["MlPipeline-prod-DataLake", "MlPipeline-prod-Training"]
    assert recorder.commands[-1] == ["npx", "--no-install", "cdk", "destroy", "--all", "--app", assembly, "--force"]
    out = capsys.readouterr().out
    assert "termination protection off: MlPipeline-prod-DataLake" in out
    assert "retained resources (2): MlPipeline-prod-DataLake: RawZone (AWS::S3::Bucket)" in out
    assert "aws sagemaker delete-model-package-group --region eu-west-1 --model-package-group-name" in out


class FakeRegistry:
    """SageMaker's model registry (moto lists model packages but cannot delete them)."""

    def __init__(self, packages: dict[str, list[str]]) -> None:
        self.packages, self.calls = packages, []

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_model_packages"
        registry = self

        class Pages:
            def paginate(self, ModelPackageGroupName: str) -> Iterator[dict[str, Any]]:
                if ModelPackageGroupName not in registry.packages:
                    raise client_error("ValidationException", "Model package group not found")
                arns = registry.packages[ModelPackageGroupName]
                yield {"ModelPackageSummaryList": [{"ModelPackageArn": a} for a in arns[:1]]}
                yield {"ModelPackageSummaryList": [{"ModelPackageArn": a} for a in arns[1:]]}

        return Pages()

    def delete_model_package(self, ModelPackageName: str) -> None:
        self.calls.append(ModelPackageName)


def test_sandbox_destroy_needs_no_confirmation_and_names_what_it_leaves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("sandbox")
    cloudformation = FakeCloudFormation()
    versions = [
        f"arn:aws:sagemaker:us-east-1:123456789012:model-package/mlpipeline-sandbox-housing/{v}" for v in (1, 2)
    ]
    registry = FakeRegistry({"mlpipeline-sandbox-housing": versions})
    args = ["destroy", "--stage", "sandbox", "--assembly", str(tmp_path / "o")]
    assert deploy.main(args, deps=fake_deps(recorder, prerequisites(), cloudformation, registry)) == 0
    assert [c[3] for c in recorder.commands] == ["synth", "destroy"]
    assert cloudformation.protection_off == []
    assert registry.calls == versions  # emptied before cdk destroy deletes the group
    out = capsys.readouterr().out
    assert "deleted 2 model package version(s) of mlpipeline-sandbox-housing" in out
    assert (
        "delete RawZone when no longer needed: aws s3 rb --region us-east-1 "
        "s3://mlpipeline-sandbox-datalake-rawzone2d660746 --force" in out
    )
    assert "put-data-catalog-encryption-settings" in out


def test_retained_resources_of_the_synthesized_stages_are_listed(sandbox: SynthesizedStage) -> None:
    expected = {
        (sandbox.stacks[unit].stack_name, logical_id)
        for unit, template in sandbox.templates.items()
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate", "Snapshot")
    }
    assert {(r.stack, r.logical_id) for r in retained.retained_resources(sandbox.outdir)} == expected


def test_a_failing_cdk_deploy_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder("sandbox", codes={"deploy": 1})
    assert deploy.main(["deploy", "--assembly", str(tmp_path / "o")], deps=fake_deps(recorder, prerequisites())) == 1
    assert "docs/deploy.md#troubleshooting" in capsys.readouterr().err


def test_an_unknown_stage_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["check", "--stage", "nope"], deps=fake_deps(Recorder("nope"), prerequisites())) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_a_refusal_lists_retained_resources_only_from_a_synth_of_that_stage(tmp_path: Path) -> None:
    write_stage_assembly(tmp_path / "sandbox", "sandbox")
    text = retained.refusal(PROD, tmp_path / "sandbox")
    assert "Retained on delete" not in text and "`make synth STAGE=prod` lists the resources it retains" in text
    write_stage_assembly(tmp_path / "prod", "prod")
    assert "MlPipeline-prod-DataLake: RawZone (AWS::S3::Bucket)" in retained.refusal(PROD, tmp_path / "prod")


def test_stage_stacks_skip_stacks_that_do_not_exist() -> None:
    cloudformation = FakeCloudFormation(missing={"b"})
    assert StageStacks(cloudformation, ["a", "b", "c"]).disable_termination_protection() == ["a", "c"]


def test_the_makefile_targets_run_the_tools() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/python -m tools.deploy deploy --stage $(STAGE)" in makefile
    assert '$(BIN)/python -m tools.deploy destroy --stage $(STAGE) --confirm "$(CONFIRM)"' in makefile
    assert "$(BIN)/python -m tools.smoke --stage $(STAGE)" in makefile
    assert "$(BIN)/python -m tools.diagram cdk.out --output docs/architecture-diagram.md" in makefile


# ---------------------------------------------------------------------------
# Idle cost
# ---------------------------------------------------------------------------


def test_the_cost_table_in_the_deploy_guide_matches_the_synthesized_sandbox(sandbox: SynthesizedStage) -> None:
    table = idle_cost.cost_table(idle_cost.idle_cost(sandbox.outdir))
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert table in guide, "docs/deploy.md's cost table is stale; regenerate it with `python -m tools.deploy cost`"


def test_idle_cost_counts_come_from_the_templates(sandbox: SynthesizedStage) -> None:
    lines = {line.component: line for line in idle_cost.idle_cost(sandbox.outdir)}
    keys = sum(len(sandbox.resources(unit, "AWS::KMS::Key")) for unit in sandbox.templates)
    assert lines["KMS customer managed keys"].count == f"{keys} keys"
    assert lines["Interface VPC endpoints"].count == "5 endpoints x 2 AZs"
    assert lines["Interface VPC endpoints"].hourly == pytest.approx(0.10)
    assert lines["SageMaker endpoint (primary)"].count == "2 x ml.m5.large"
    assert lines["SageMaker endpoint (primary)"].hourly == pytest.approx(0.23)
    assert lines["Kinesis data stream (on-demand)"].hourly == pytest.approx(0.04)
    assert lines["WAF web ACL"].monthly == pytest.approx(9.0)  # $5 + four rules


def test_cron_schedules_give_runs_per_day() -> None:
    assert idle_cost._runs_per_day("cron(0 3 * * ? *)") == 1
    assert idle_cost._runs_per_day("cron(0,30 1,13 * * ? *)") == 4
    assert idle_cost._runs_per_day("cron(0 3 ? * MON *)") is None


def test_a_package_group_that_was_never_deployed_has_nothing_to_delete() -> None:
    assert retained.delete_model_packages(FakeRegistry({}), "mlpipeline-sandbox-housing") == 0
