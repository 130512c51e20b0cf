"""Deploy and destroy a stage after checking its prerequisites; estimate its idle cost.

``python -m tools.deploy check   --stage S``          the prerequisite checks only
``python -m tools.deploy deploy  --stage S``          checks, synth, ``cdk deploy --all``
``python -m tools.deploy destroy --stage S [--confirm S]``
``python -m tools.deploy cost    [ASSEMBLY]``         idle cost table of a synthesized stage

The checks, in order, each failing with what to run to fix it:

1. credentials: ``sts get-caller-identity`` works, for the stage's account if it pins one;
2. CDK bootstrap: the ``CDKToolkit`` stack is healthy and the SSM parameter
   ``/cdk-bootstrap/hnb659fds/version`` is at least the version the templates require;
3. Lake Formation: the CloudFormation execution role of the bootstrap is a data lake
   administrator already, or the DataLake stack can make it one (the caller or the role may
   change data lake settings); otherwise the exact ``put-data-lake-settings`` command that
   adds it while keeping the existing administrators;
4. SageMaker: the "<instance type> for endpoint usage" quota covers the instances the
   endpoint starts with (fail) and its autoscaling maximum (warning); the "<instance type>
   for [spot] training job usage" quota covers one training job (fail: new accounts often
   have 0) and the tuning job's parallel jobs (warning).

Deploy synthesizes the stage into ``cdk.out`` and deploys that assembly, so what was checked
is what is deployed; ``cdk deploy --all`` orders the stacks by their dependencies. Destroy
removes everything in sandbox stages, deleting the registered model package versions first
(SageMaker deletes no model package group that still holds one). Other stages keep their stateful resources (retained
buckets and keys) and have termination protection on: destroy refuses them unless
``--confirm`` repeats the stage name, and then turns termination protection off first.

Exit codes: 0 done, 1 a check or the CDK CLI failed, 2 bad input or refused.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stacks.config import ConfigError, StageConfig, load_stage
from stacks.names import stack_names
from stacks.schedules import FIELDS as CRON_FIELDS
from stacks.schedules import ScheduleError, parse_cron
from tools.synth_summary import as_list, references, render, short_name, stacks_of

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"
ASSEMBLY = Path("cdk.out")
CDK = ["npx", "--no-install", "cdk"]
QUALIFIER = "hnb659fds"
TOOLKIT_STACK = "CDKToolkit"
DEFAULT_BOOTSTRAP_VERSION = 6
HEALTHY_STACK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
RETAINED_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}

Status = Literal["ok", "warn", "fail", "skip"]
Runner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Check:
    """The outcome of one prerequisite check, with the command that fixes a failure."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def render(self) -> str:
        lines = [f"  {self.status.upper():<4}  {self.name:<22} {self.message}"]
        if self.fix and self.status in ("fail", "warn"):
            lines += [f"        {line}" for line in ("fix:", *self.fix.splitlines())]
        return "\n".join(lines)


@dataclass(frozen=True)
class QuotaNeed:
    """What a stage needs of one SageMaker quota, and how each outcome reads."""

    quota_name: str
    start: int  # needed to deploy (or to run at all): below it the check fails
    peak: int  # needed at the busiest: below it the check warns
    needs: str
    short: str
    partly: str
    offered: str
    shared: str


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"

    @property
    def principal_arn(self) -> str:
        """The IAM ARN Lake Formation knows the caller by (roles for assumed-role sessions)."""
        match = re.fullmatch(r"arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+", self.arn)
        if match:
            return f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
        return self.arn


def error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def execution_role_arn(identity: Identity, region: str, qualifier: str = QUALIFIER) -> str:
    """The CloudFormation execution role the default bootstrap creates."""
    return (
        f"arn:{identity.partition}:iam::{identity.account}:role/"
        f"cdk-{qualifier}-cfn-exec-role-{identity.account}-{region}"
    )


def same_principal(a: str, b: str) -> bool:
    """Role ARNs match by account and role name (Lake Formation may store them with a path)."""
    role = re.compile(r"arn:[^:]+:iam::(\d{12}):role/(?:.*/)?([^/]+)")
    ma, mb = role.fullmatch(a), role.fullmatch(b)
    if ma and mb:
        return ma.groups() == mb.groups()
    return a == b


# ---------------------------------------------------------------------------
# Prerequisite checks
# ---------------------------------------------------------------------------


@dataclass
class Prerequisites:
    """The AWS-facing checks. Each client is a boto3 client, or a fake in tests."""

    region: str
    sts: Any
    ssm: Any = None
    cloudformation: Any = None
    lakeformation: Any = None
    iam: Any = None
    service_quotas: Any = None
    qualifier: str = QUALIFIER

    @classmethod
    def from_session(cls, session: Any, region: str) -> Prerequisites:
        def client(name: str) -> Any:
            return session.client(name, region_name=region)

        return cls(
            region=region,
            sts=client("sts"),
            ssm=client("ssm"),
            cloudformation=client("cloudformation"),
            lakeformation=client("lakeformation"),
            iam=client("iam"),
            service_quotas=client("service-quotas"),
        )

    # --- 1. credentials -------------------------------------------------------------

    def credentials(self, expected_account: str | None = None) -> tuple[Check, Identity | None]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        name = "credentials"
        login = "aws sso login --profile PROFILE && export AWS_PROFILE=PROFILE   (or export AWS_ACCESS_KEY_ID/...)"
        try:
            response = self.sts.get_caller_identity()
        except NoCredentialsError:
            return Check(name, "fail", "no AWS credentials found", login), None
        except ClientError as error:
            code = error_code(error)
            if code in EXPIRED:
                return Check(name, "fail", f"credentials were rejected ({code}): expired or invalid", login), None
            return Check(name, "fail", f"sts get-caller-identity failed: {code or error}", login), None
        except BotoCoreError as error:
            return Check(name, "fail", f"sts get-caller-identity failed: {error}", login), None
        identity = Identity(account=str(response["Account"]), arn=str(response["Arn"]))
        if expected_account and identity.account != expected_account:
            return (
                Check(
                    name,
                    "fail",
                    f"credentials are for account {identity.account}, the stage deploys to {expected_account}",
                    "use a profile of the stage's account: export AWS_PROFILE=...",
                ),
                None,
            )
        return Check(name, "ok", f"{identity.arn} (account {identity.account}, {self.region})"), identity

    # --- 2. bootstrap ---------------------------------------------------------------

    def bootstrap(self, identity: Identity, required_version: int) -> list[Check]:
        from botocore.exceptions import ClientError

        bootstrap_cmd = f"npx cdk bootstrap aws://{identity.account}/{self.region}"
        checks = []
        try:
            stacks = self.cloudformation.describe_stacks(StackName=TOOLKIT_STACK)["Stacks"]
            status = str(stacks[0]["StackStatus"]) if stacks else "MISSING"
        except ClientError as error:
            status = "MISSING" if "does not exist" in str(error) else f"unreadable ({error_code(error)})"
        if status in HEALTHY_STACK_STATES:
            checks.append(Check("CDKToolkit stack", "ok", f"{TOOLKIT_STACK} is {status}"))
        elif status == "MISSING":
            checks.append(
                Check(
                    "CDKToolkit stack",
                    "fail",
                    f"{self.region} of account {identity.account} is not bootstrapped (no {TOOLKIT_STACK} stack)",
                    bootstrap_cmd,
                )
            )
        elif status.startswith("unreadable"):
            checks.append(Check("CDKToolkit stack", "warn", f"could not read the {TOOLKIT_STACK} stack: {status}"))
        else:
            checks.append(
                Check(
                    "CDKToolkit stack",
                    "fail",
                    f"{TOOLKIT_STACK} is {status}; deploys need a healthy bootstrap stack",
                    f"inspect it in the CloudFormation console, then re-run: {bootstrap_cmd}",
                )
            )

        parameter = f"/cdk-bootstrap/{self.qualifier}/version"
        try:
            value = self.ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except ClientError as error:
            code = error_code(error)
            if code == "ParameterNotFound":
                checks.append(Check("CDK bootstrap version", "fail", f"{parameter} does not exist", bootstrap_cmd))
            else:
                checks.append(Check("CDK bootstrap version", "warn", f"could not read {parameter}: {code or error}"))
            return checks
        try:
            version = int(value)
        except ValueError:
            checks.append(Check("CDK bootstrap version", "fail", f"{parameter} is {value!r}", bootstrap_cmd))
            return checks
        if version < required_version:
            checks.append(
                Check(
                    "CDK bootstrap version",
                    "fail",
                    f"bootstrap version {version}, the templates require {required_version} or later",
                    f"upgrade the bootstrap stack: {bootstrap_cmd}",
                )
            )
        else:
            checks.append(
                Check("CDK bootstrap version", "ok", f"version {version} (templates require >= {required_version})")
            )
        return checks

    # --- 3. Lake Formation ----------------------------------------------------------

    def lake_formation(self, identity: Identity) -> Check:
        from botocore.exceptions import ClientError

        name = "Lake Formation admin"
        role = execution_role_arn(identity, self.region, self.qualifier)
        actions = ["lakeformation:GetDataLakeSettings", "lakeformation:PutDataLakeSettings"]
        try:
            settings = dict(self.lakeformation.get_data_lake_settings()["DataLakeSettings"])
        except ClientError as error:
            code = error_code(error)
            reason = "is denied lakeformation:GetDataLakeSettings" if code in ACCESS_DENIED else f"failed: {code}"
            fix = add_admin_from_current_settings(role, self.region)
            if self._simulate(role, actions) == "allowed":
                return Check(
                    name,
                    "warn",
                    f"{identity.principal_arn} {reason}; the CDK execution role may change data lake settings, so "
                    "the DataLake stack can make it an administrator. If LakeSettings fails, an administrator runs:",
                    fix,
                )
            return Check(
                name,
                "fail",
                f"{identity.principal_arn} {reason}, so it cannot make the CDK execution role a data lake "
                "administrator. A Lake Formation administrator (or an IAM administrator) must add it, keeping the "
                "existing administrators:",
                fix,
            )
        admins = [str(a.get("DataLakePrincipalIdentifier", "")) for a in settings.get("DataLakeAdmins", [])]
        if any(same_principal(role, a) for a in admins):
            return Check(name, "ok", "the CDK execution role is a data lake administrator")
        if any(same_principal(identity.principal_arn, a) for a in admins):
            return Check(
                name,
                "ok",
                "you are a data lake administrator; the DataLake stack adds the CDK execution role (APPEND keeps "
                f"the {len(admins)} existing administrators)",
            )
        decision = self._simulate(role, actions)
        fix = add_admin_command(settings, role, self.region)
        if decision == "allowed":
            return Check(
                name,
                "ok",
                "the CDK execution role may change data lake settings; the DataLake stack makes it an administrator "
                f"(APPEND keeps the {len(admins)} existing administrators)",
            )
        if decision == "denied":
            return Check(
                name,
                "fail",
                "neither you nor the CDK execution role is a data lake administrator, and the role is not allowed "
                "lakeformation:PutDataLakeSettings. A Lake Formation administrator must run:",
                fix,
            )
        return Check(
            name,
            "warn",
            "neither you nor the CDK execution role is a data lake administrator, and the role's permission to "
            "change data lake settings could not be verified. If the DataLake stack fails on LakeSettings, run:",
            fix,
        )

    def _simulate(self, role_arn: str, actions: list[str]) -> Literal["allowed", "denied", "unknown"]:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.iam is None:
            return "unknown"
        try:
            results = self.iam.simulate_principal_policy(PolicySourceArn=role_arn, ActionNames=actions)
        except (ClientError, BotoCoreError):
            return "unknown"
        decisions = {str(r.get("EvalDecision")) for r in results.get("EvaluationResults", [])}
        if not decisions:
            return "unknown"
        return "allowed" if decisions == {"allowed"} else "denied"

    # --- 4. SageMaker quota ---------------------------------------------------------

    def sagemaker_quota(self, stage: StageConfig) -> list[Check]:
        """The endpoint's instances per type, then the training instances of a tuning job."""
        needs: dict[str, list[int]] = {}
        for variant in stage.inference.variants:
            counts = needs.setdefault(variant.instance_type, [0, 0])
            counts[0] += variant.min_capacity
            counts[1] += variant.max_capacity if stage.inference.autoscaling else variant.min_capacity
        checks = [
            self._quota_check(
                QuotaNeed(
                    quota_name=f"{kind} for endpoint usage",
                    start=start,
                    peak=peak,
                    needs=f"the endpoint needs {start} instances at deploy and up to {peak} when it scales out",
                    short=f"the endpoint starts with {start} (CREATE_FAILED: ResourceLimitExceeded after the model "
                    "is created)",
                    partly=f"enough for the {start} initial instances, but autoscaling can reach {peak}",
                    offered=f"is {kind} offered for hosting there?",
                    shared="endpoint",
                )
            )
            for kind, (start, peak) in sorted(needs.items())
        ]
        return [*checks, self.training_quota(stage)]

    def training_quota(self, stage: StageConfig) -> Check:
        """One training job must fit (new accounts often have 0); the tuning job's parallel jobs should."""
        training = stage.training
        kind, start = training.instance_type, training.instance_count
        peak = training.instance_count * training.max_parallel_jobs
        usage = "spot training job usage" if training.spot else "training job usage"
        return self._quota_check(
            QuotaNeed(
                quota_name=f"{kind} for {usage}",
                start=start,
                peak=peak,
                needs=f"a training job needs {start} and the tuning job up to {peak} at once",
                short=f"a training job needs {start}, so the tuning job fails with ResourceLimitExceeded",
                partly=f"enough for one training job, but the tuning job runs up to {peak} instances at once "
                "(max_parallel_jobs x instance_count) and the jobs over the quota fail",
                offered=f"is {kind} offered for training there?",
                shared="training job",
            )
        )

    def _quota_check(self, need: QuotaNeed) -> Check:
        from botocore.exceptions import BotoCoreError, ClientError

        name = "SageMaker quota"
        quota_name = need.quota_name
        try:
            quota = self._find_quota(quota_name)
        except (ClientError, BotoCoreError) as error:
            return Check(
                name,
                "warn",
                f"could not read the quota {quota_name!r} ({error_code(error) or error}); {need.needs}",
                f"check it: Service Quotas console > Amazon SageMaker > {quota_name!r} in {self.region}",
            )
        if quota is None:
            return Check(name, "warn", f"no quota named {quota_name!r} in {self.region}; {need.offered}")
        value, code = quota
        increase = (
            f"aws service-quotas request-service-quota-increase --region {self.region} --service-code sagemaker "
            f"--quota-code {code} --desired-value {need.peak}"
        )
        shared = f"the quota is shared with every {need.shared} of the account in this region"
        if value < need.start:
            return Check(name, "fail", f"{quota_name!r} is {value:g}; {need.short}; {shared}", increase)
        if value < need.peak:
            return Check(name, "warn", f"{quota_name!r} is {value:g}: {need.partly}; {shared}", increase)
        return Check(name, "ok", f"{quota_name!r} is {value:g} (needs {need.start}, up to {need.peak}); {shared}")

    def _find_quota(self, quota_name: str) -> tuple[float, str] | None:
        for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
            paginator = self.service_quotas.get_paginator(operation)
            for page in paginator.paginate(ServiceCode="sagemaker"):
                for quota in page.get("Quotas", []):
                    if quota.get("QuotaName") == quota_name:
                        return float(quota["Value"]), str(quota["QuotaCode"])
        return None


def add_admin_command(settings: dict[str, Any], role_arn: str, region: str) -> str:
    """put-data-lake-settings with the current settings plus `role_arn` as administrator.

    PutDataLakeSettings replaces all settings, so the command repeats every current one.
    """
    updated = json.loads(json.dumps(settings, default=str))
    admins = list(updated.get("DataLakeAdmins", []))
    admins.append({"DataLakePrincipalIdentifier": role_arn})
    updated["DataLakeAdmins"] = admins
    document = json.dumps(updated, separators=(",", ":"), sort_keys=True)
    return f"aws lakeformation put-data-lake-settings --region {region} --data-lake-settings {shlex.quote(document)}"


def add_admin_from_current_settings(role_arn: str, region: str) -> str:
    """The same, for when the current settings could not be read: read, append with jq, write."""
    expression = '.DataLakeAdmins = (((.DataLakeAdmins // []) + [{"DataLakePrincipalIdentifier": $role}]) | unique)'
    return "\n".join(
        [
            f"aws lakeformation get-data-lake-settings --region {region} --query DataLakeSettings --output json \\",
            f"  | jq --arg role {shlex.quote(role_arn)} {shlex.quote(expression)} > lf-settings.json",
            f"aws lakeformation put-data-lake-settings --region {region} --data-lake-settings file://lf-settings.json",
        ]
    )


def required_bootstrap_version(assembly: Path) -> int:
    """The highest bootstrap version any artifact of the assembly requires."""
    manifest_file = assembly / "manifest.json"
    if not manifest_file.is_file():
        return DEFAULT_BOOTSTRAP_VERSION
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    versions = [
        int(artifact.get("properties", {}).get("requiresBootstrapStackVersion", 0))
        for artifact in manifest.get("artifacts", {}).values()
    ]
    return max([v for v in versions if v] or [DEFAULT_BOOTSTRAP_VERSION])


CHECK_NAMES = {"bootstrap": "CDK bootstrap", "lakeformation": "Lake Formation admin", "quota": "SageMaker quota"}


def run_checks(
    prerequisites: Prerequisites,
    stage: StageConfig,
    *,
    required_version: int,
    include: Iterable[str] = CHECK_NAMES,
) -> list[Check]:
    """Every check, in order; later checks are skipped when credentials fail."""
    check, identity = prerequisites.credentials(stage.account)
    if identity is None:
        return [check, *(Check(CHECK_NAMES[name], "skip", "needs credentials") for name in sorted(set(include)))]
    return [check, *identity_checks(prerequisites, identity, stage, required_version=required_version, include=include)]


def identity_checks(
    prerequisites: Prerequisites,
    identity: Identity,
    stage: StageConfig,
    *,
    required_version: int,
    include: Iterable[str] = CHECK_NAMES,
) -> list[Check]:
    """The checks that need working credentials, in order, limited to ``include``."""
    wanted = set(include)
    checks: list[Check] = []
    if "bootstrap" in wanted:
        checks += prerequisites.bootstrap(identity, required_version)
    if "lakeformation" in wanted:
        checks.append(prerequisites.lake_formation(identity))
    if "quota" in wanted:
        checks += prerequisites.sagemaker_quota(stage)
    return checks


def failed(checks: Iterable[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def render_checks(stage: StageConfig, region: str, checks: Sequence[Check]) -> str:
    lines = [f"Prerequisites of stage {stage.name} ({region}):", *(c.render() for c in checks)]
    problems = sum(1 for c in checks if c.status == "fail")
    lines.append(f"{problems} failed check(s)" if problems else "all prerequisites met")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Stage configuration and the stacks of a stage
# ---------------------------------------------------------------------------


def load_stage_config(name: str, *, region: str | None = None, cdk_json: Path = CDK_JSON) -> StageConfig:
    context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]
    return load_stage(context["stages"], name, region=region)


def stage_region(stage: StageConfig, session_region: str | None) -> str:
    region = stage.region or session_region
    if not region:
        raise ConfigError("region", None, "set one in the stage (cdk.json) or with AWS_REGION / the profile")
    return region


@dataclass(frozen=True)
class Retained:
    """A resource CloudFormation keeps when its stack is deleted."""

    stack: str
    logical_id: str
    resource_type: str
    physical_id: str | None = None

    def __str__(self) -> str:
        return f"{self.stack}: {short_name(self.logical_id)} ({self.resource_type})"

    def delete_command(self, region: str) -> str | None:
        template = DELETE_COMMANDS.get(self.resource_type)
        if template is None or not self.physical_id:
            return None
        return template.format(region=region, id=shlex.quote(self.physical_id))


DELETE_COMMANDS = {
    "AWS::Kinesis::Stream": (
        "aws kinesis delete-stream --region {region} --stream-name {id} --enforce-consumer-deletion"
    ),
    "AWS::S3::Bucket": "aws s3 rb --region {region} s3://{id} --force  (versioned: delete the object versions first)",
    "AWS::KMS::Key": "aws kms schedule-key-deletion --region {region} --key-id {id} --pending-window-in-days 7",
    "AWS::Logs::LogGroup": "aws logs delete-log-group --region {region} --log-group-name {id}",
    "AWS::DynamoDB::Table": "aws dynamodb delete-table --region {region} --table-name {id}",
    "AWS::SageMaker::ModelPackageGroup": (
        "aws sagemaker delete-model-package-group --region {region} --model-package-group-name {id}  "
        "(delete its model package versions first)"
    ),
}


def is_assembly_of(assembly: Path, stage: StageConfig) -> bool:
    """Whether `assembly` holds a synth of `stage` (and not of another stage)."""
    if not (assembly / "manifest.json").is_file():
        return False
    names = [s["name"] for s in stacks_of(assembly)]
    return bool(names) and set(names) <= stack_names(stage.name)


def retained_resources(assembly: Path) -> list[Retained]:
    """Every resource of the assembly whose DeletionPolicy keeps it when its stack is deleted."""
    return [
        Retained(stack["name"], logical_id, str(resource["Type"]))
        for stack in stacks_of(assembly)
        for logical_id, resource in stack["template"].get("Resources", {}).items()
        if resource.get("DeletionPolicy") in RETAINED_POLICIES
    ]


def deleted_package_groups(assembly: Path) -> list[str]:
    """Model package groups the stage's stacks delete (sandbox stages; other stages retain them)."""
    return [
        str(resource["Properties"]["ModelPackageGroupName"])
        for stack in stacks_of(assembly)
        for resource in stack["template"].get("Resources", {}).values()
        if resource.get("Type") == "AWS::SageMaker::ModelPackageGroup"
        and resource.get("DeletionPolicy") not in RETAINED_POLICIES
    ]


def delete_model_packages(sagemaker: Any, group: str) -> int:
    """Delete every version in `group` (SageMaker deletes no group that holds one); how many."""
    from botocore.exceptions import ClientError

    arns = []
    try:
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            arns += [p["ModelPackageArn"] for p in page.get("ModelPackageSummaryList", [])]
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ResourceNotFound"):
            return 0  # the group was never deployed
        raise
    for arn in arns:
        sagemaker.delete_model_package(ModelPackageName=arn)
    return len(arns)


@dataclass
class StageStacks:
    """The deployed stacks of a stage, through a CloudFormation client (or a fake)."""

    cloudformation: Any
    names: list[str] = field(default_factory=list)

    def disable_termination_protection(self) -> list[str]:
        """Turn termination protection off on every stack of the stage that exists; their names."""
        from botocore.exceptions import ClientError

        changed = []
        for name in self.names:
            try:
                self.cloudformation.update_termination_protection(EnableTerminationProtection=False, StackName=name)
            except ClientError as error:
                if "does not exist" in str(error):
                    continue
                raise
            changed.append(name)
        return changed

    def physical_ids(self, retained: Iterable[Retained]) -> list[Retained]:
        """The retained resources with their physical IDs, read before their stacks are deleted."""
        from botocore.exceptions import ClientError

        found = []
        for item in retained:
            try:
                detail = self.cloudformation.describe_stack_resource(
                    StackName=item.stack, LogicalResourceId=item.logical_id
                )["StackResourceDetail"]
            except ClientError:
                found.append(item)  # not deployed: nothing will be left behind
                continue
            found.append(
                Retained(item.stack, item.logical_id, item.resource_type, str(detail.get("PhysicalResourceId") or ""))
            )
        return found


# ---------------------------------------------------------------------------
# Idle cost
# ---------------------------------------------------------------------------

PRICES_AS_OF = "2026-11"
PRICE_REGION = "us-east-1"
HOURS_PER_MONTH = 730
PRICE = {
    "interface_endpoint_az_hour": 0.01,
    "kms_key_month": 1.00,
    "kinesis_on_demand_stream_hour": 0.04,
    "kinesis_shard_hour": 0.015,
    "waf_web_acl_month": 5.00,
    "waf_rule_month": 1.00,
    "alarm_metric_month": 0.10,
    "alarm_high_resolution_metric_month": 0.30,
    "dashboard_month": 3.00,
    "nat_gateway_hour": 0.045,
    "glue_dpu_hour": 0.44,
}
SAGEMAKER_HOSTING_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461}
SAGEMAKER_TRAINING_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461, "ml.m5.4xlarge": 0.922}
GLUE_DPU_PER_WORKER = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.025X": 0.25}
GLUE_JOB_MINIMUM_HOURS = 1 / 60
GLUE_CRAWLER_MINIMUM_HOURS = 10 / 60
GLUE_CRAWLER_DPUS = 2


@dataclass(frozen=True)
class CostLine:
    component: str
    count: str
    unit_price: str
    hourly: float | None
    note: str = ""

    @property
    def monthly(self) -> float | None:
        return None if self.hourly is None else self.hourly * HOURS_PER_MONTH


def _resources(assembly: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stack["name"], logical_id, resource)
        for stack in stacks_of(assembly)
        for logical_id, resource in stack["template"].get("Resources", {}).items()
    ]


def _runs_per_day(schedule: str) -> int | None:
    """Runs a day of an EventBridge cron that runs every day (None for other schedules)."""
    try:
        minutes, hours, *days, _year = parse_cron(schedule)
    except ScheduleError:
        return None
    every_day = all(
        values is None or values == set(range(spec.low, spec.high + 1))
        for values, spec in zip(days, CRON_FIELDS[2:5], strict=True)
    )
    return len(minutes or ()) * len(hours or ()) if every_day else None


def props(item: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = item[2].get("Properties", {})
    return found


def idle_cost(assembly: Path) -> list[CostLine]:
    """What the synthesized stage costs per hour with no traffic, by component, at list prices."""
    resources = _resources(assembly)
    by_type: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for item in resources:
        by_type.setdefault(item[2]["Type"], []).append(item)
    lines: list[CostLine] = []

    interface = [e for e in by_type.get("AWS::EC2::VPCEndpoint", []) if props(e).get("VpcEndpointType") == "Interface"]
    endpoint_azs = sum(len(as_list(props(e).get("SubnetIds"))) for e in interface)
    if interface:
        per_endpoint = endpoint_azs // len(interface) if endpoint_azs % len(interface) == 0 else None
        count = f"{len(interface)} endpoints x {per_endpoint} AZs" if per_endpoint else f"{endpoint_azs} endpoint-AZs"
        lines.append(
            CostLine(
                "Interface VPC endpoints",
                count,
                f"${PRICE['interface_endpoint_az_hour']:.2f}/h per AZ",
                endpoint_azs * PRICE["interface_endpoint_az_hour"],
                "the S3 gateway endpoint is free",
            )
        )
    for config in by_type.get("AWS::SageMaker::EndpointConfig", []):
        for variant in as_list(props(config).get("ProductionVariants")):
            kind = render(variant.get("InstanceType"))
            instances = int(variant.get("InitialInstanceCount", 1))
            price = SAGEMAKER_HOSTING_HOUR.get(kind)
            lines.append(
                CostLine(
                    f"SageMaker endpoint ({render(variant.get('VariantName'))})",
                    f"{instances} x {kind}",
                    f"${price:.3f}/h" if price is not None else "not in the price table",
                    None if price is None else instances * price,
                    "autoscaling adds instances only under load",
                )
            )
    for stream in by_type.get("AWS::Kinesis::Stream", []):
        mode = props(stream).get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        if mode == "ON_DEMAND":
            lines.append(
                CostLine(
                    "Kinesis data stream (on-demand)",
                    "1 stream",
                    f"${PRICE['kinesis_on_demand_stream_hour']:.2f}/h per stream",
                    PRICE["kinesis_on_demand_stream_hour"],
                    "plus per-GB ingested and retrieved",
                )
            )
        else:
            shards = int(props(stream).get("ShardCount", 1))
            lines.append(
                CostLine(
                    "Kinesis data stream (provisioned)",
                    f"{shards} shards",
                    f"${PRICE['kinesis_shard_hour']:.3f}/h per shard",
                    shards * PRICE["kinesis_shard_hour"],
                )
            )
    keys = len(by_type.get("AWS::KMS::Key", []))
    if keys:
        lines.append(
            CostLine(
                "KMS customer managed keys",
                f"{keys} keys",
                f"${PRICE['kms_key_month']:.2f}/month each",
                keys * PRICE["kms_key_month"] / HOURS_PER_MONTH,
                "plus $0.03 per 10,000 requests",
            )
        )
    for acl in by_type.get("AWS::WAFv2::WebACL", []):
        rules = len(as_list(props(acl).get("Rules")))
        lines.append(
            CostLine(
                "WAF web ACL",
                f"1 ACL, {rules} rules",
                f"${PRICE['waf_web_acl_month']:.0f}/month + ${PRICE['waf_rule_month']:.0f}/rule",
                (PRICE["waf_web_acl_month"] + rules * PRICE["waf_rule_month"]) / HOURS_PER_MONTH,
                "plus $0.60 per million requests",
            )
        )
    alarm_metrics, high_resolution = 0, 0
    for alarm in by_type.get("AWS::CloudWatch::Alarm", []):
        p = props(alarm)
        metrics = [m for m in as_list(p.get("Metrics")) if "MetricStat" in m] or [p]
        for metric in metrics:
            period = metric.get("MetricStat", {}).get("Period", metric.get("Period", 60))
            if isinstance(period, int) and period < 60:
                high_resolution += 1
            else:
                alarm_metrics += 1
    alarms = len(by_type.get("AWS::CloudWatch::Alarm", []))
    if alarms:
        lines.append(
            CostLine(
                "CloudWatch alarms",
                f"{alarms} alarms, {alarm_metrics + high_resolution} metrics",
                f"${PRICE['alarm_metric_month']:.2f}/month per metric",
                (
                    alarm_metrics * PRICE["alarm_metric_month"]
                    + high_resolution * PRICE["alarm_high_resolution_metric_month"]
                )
                / HOURS_PER_MONTH,
                "standard resolution" if not high_resolution else f"{high_resolution} high-resolution",
            )
        )
    dashboards = len(by_type.get("AWS::CloudWatch::Dashboard", []))
    if dashboards:
        lines.append(
            CostLine(
                "CloudWatch dashboards",
                f"{dashboards} dashboard{'s' if dashboards > 1 else ''}",
                f"${PRICE['dashboard_month']:.2f}/month each",
                dashboards * PRICE["dashboard_month"] / HOURS_PER_MONTH,
                "the first 3 dashboards of an account are free",
            )
        )
    nat = len(by_type.get("AWS::EC2::NatGateway", []))
    if nat:
        lines.append(
            CostLine("NAT gateways", f"{nat}", f"${PRICE['nat_gateway_hour']:.3f}/h", nat * PRICE["nat_gateway_hour"])
        )
    lines += _glue_schedule_cost(by_type)
    if by_type.get("AWS::CloudTrail::Trail"):
        lines.append(
            CostLine(
                "CloudTrail trail",
                f"{len(by_type['AWS::CloudTrail::Trail'])} trail",
                "first copy of management events free",
                0.0,
                "$2.00 per 100,000 management events if the account already has a trail; data events $0.10 per "
                "100,000; its CloudWatch Logs copy $0.50 per GB",
            )
        )
    free = [
        ("Lambda functions", "AWS::Lambda::Function"),
        ("Firehose delivery streams", "AWS::KinesisFirehose::DeliveryStream"),
        ("API Gateway REST APIs", "AWS::ApiGateway::RestApi"),
        ("S3 buckets", "AWS::S3::Bucket"),
        ("SNS topics", "AWS::SNS::Topic"),
        ("Athena workgroups", "AWS::Athena::WorkGroup"),
        ("Step Functions state machines", "AWS::StepFunctions::StateMachine"),
        ("SageMaker model package groups", "AWS::SageMaker::ModelPackageGroup"),
    ]
    present = [label for label, kind in free if by_type.get(kind)]
    if present:
        lines.append(
            CostLine(
                ", ".join(present),
                "-",
                "per request, GB or run",
                0.0,
                "nothing while idle; S3 storage and log ingestion add cents",
            )
        )
    return lines


def _glue_schedule_cost(by_type: dict[str, list[tuple[str, str, dict[str, Any]]]]) -> list[CostLine]:
    jobs = {logical_id: r.get("Properties", {}) for _s, logical_id, r in by_type.get("AWS::Glue::Job", [])}
    crawlers = {logical_id for _s, logical_id, _r in by_type.get("AWS::Glue::Crawler", [])}
    lines = []
    for _stack, _id, trigger in by_type.get("AWS::Glue::Trigger", []):
        p = trigger.get("Properties", {})
        if p.get("Type") != "SCHEDULED":
            continue
        runs = _runs_per_day(str(p.get("Schedule", "")))
        targets = {ref for action in as_list(p.get("Actions")) for ref in references(action)}
        job_dpu_hours = sum(
            float(jobs[j].get("NumberOfWorkers", 2)) * GLUE_DPU_PER_WORKER.get(str(jobs[j].get("WorkerType")), 1)
            for j in targets
            if j in jobs
        )
        per_run = job_dpu_hours * GLUE_JOB_MINIMUM_HOURS
        if crawlers:
            per_run += GLUE_CRAWLER_DPUS * GLUE_CRAWLER_MINIMUM_HOURS
        if runs is None:
            lines.append(CostLine("Glue scheduled workflow", "schedule not daily", "$0.44/DPU-hour", None))
            continue
        lines.append(
            CostLine(
                "Glue scheduled workflow (job + crawler)",
                f"{runs} run{'s' if runs > 1 else ''}/day",
                f"${PRICE['glue_dpu_hour']:.2f}/DPU-hour",
                runs * per_run * PRICE["glue_dpu_hour"] / 24,
                "minimum billing: job 1 minute at its workers' DPUs, crawler 10 minutes at 2 DPUs",
            )
        )
    return lines


def cost_table(lines: Sequence[CostLine]) -> str:
    """The idle-cost table in Markdown, with totals."""
    rows = [
        f"| Component (idle, {PRICE_REGION} list prices {PRICES_AS_OF}) | Count in the templates | List price "
        "| Per hour | Per month (730 h) | Notes |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    total = 0.0
    for line in lines:
        hourly = "?" if line.hourly is None else f"${line.hourly:.4f}"
        monthly = "?" if line.monthly is None else f"${line.monthly:.2f}"
        total += line.hourly or 0.0
        rows.append(f"| {line.component} | {line.count} | {line.unit_price} | {hourly} | {monthly} | {line.note} |")
    rows.append(f"| **Total** | | | **${total:.2f}** | **${total * HOURS_PER_MONTH:.2f}** | |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def cdk_synth(stage: StageConfig, assembly: Path) -> list[str]:
    return [*CDK, "synth", "--quiet", "-c", f"stage={stage.name}", "--output", str(assembly)]


def cdk_deploy(stage: StageConfig, assembly: Path) -> list[str]:
    approval = "never" if stage.sandbox else "broadening"
    return [*CDK, "deploy", "--all", "--app", str(assembly), "--require-approval", approval]


def cdk_destroy(assembly: Path) -> list[str]:
    return [*CDK, "destroy", "--all", "--app", str(assembly), "--force"]


def refusal(stage: StageConfig, assembly: Path) -> str:
    retained = retained_resources(assembly) if is_assembly_of(assembly, stage) else []
    lines = [
        f"error: refusing to destroy stage {stage.name!r}: it is not a sandbox stage.",
        "  Its stacks have termination protection on, and its stateful resources (the data lake buckets and",
        "  their KMS key, the catalog) are retained: deleting the stacks leaves them, and their cost, behind.",
    ]
    if retained:
        lines.append(f"  Retained on delete ({len(retained)}):")
        lines += [f"    {r}" for r in retained]
    else:
        lines.append(f"  (`make synth STAGE={stage.name}` lists the resources it retains)")
    lines += [
        f"  To destroy it anyway: make destroy STAGE={stage.name} CONFIRM={stage.name}",
        "  (this turns termination protection off for the stage's stacks first).",
    ]
    return "\n".join(lines)


def after_destroy_notes(stage: StageConfig, region: str, retained: Sequence[Retained]) -> str:
    notes = [f"Stage {stage.name} destroyed. Left in the account, by design or by AWS:"]
    if retained:
        notes.append(f"  retained resources ({len(retained)}): " + "; ".join(str(r) for r in retained))
        for item in retained:
            command = item.delete_command(region)
            if command:
                notes.append(f"    delete {short_name(item.logical_id)} when no longer needed: {command}")
    notes += [
        "  KMS keys are scheduled for deletion (pending window), not deleted at once.",
        "  The Glue Data Catalog encryption setting of the account still names the deleted lake key; reset it if",
        "  no other stage uses the catalog: aws glue put-data-catalog-encryption-settings --region "
        + region
        + ' --data-catalog-encryption-settings \'{"EncryptionAtRest":{"CatalogEncryptionMode":"DISABLED"},'
        '"ConnectionPasswordEncryption":{"ReturnConnectionPasswordEncrypted":false}}\'',
        "  The account-level API Gateway CloudWatch role setting points to a deleted role until another stack sets it.",
    ]
    return "\n".join(notes)


def _session(profile: str | None) -> Any:
    import boto3

    return boto3.Session(profile_name=profile) if profile else boto3.Session()


def prepare_stage(args: argparse.Namespace) -> tuple[StageConfig, str, Any]:
    """The stage config, its region and a boto3 session from ``--stage``, ``--region``, ``--profile``."""
    session = _session(args.profile)
    stage = load_stage_config(args.stage, region=args.region or session.region_name)
    region = stage_region(stage, args.region or session.region_name)
    return stage, region, session


def command_check(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    prerequisites = deps.prerequisites(session, region)
    checks = run_checks(prerequisites, stage, required_version=required_bootstrap_version(args.assembly))
    print(render_checks(stage, region, checks))
    return 1 if failed(checks) else 0


def command_deploy(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    prerequisites = deps.prerequisites(session, region)
    check, identity = prerequisites.credentials(stage.account)
    if identity is None:
        print(render_checks(stage, region, [check]), file=sys.stderr)
        return 1
    print(f"Synthesizing stage {stage.name} into {args.assembly} ...", flush=True)
    if deps.run(cdk_synth(stage, args.assembly)) != 0:
        print("error: cdk synth failed; nothing was deployed", file=sys.stderr)
        return 1
    checks = [check]
    if not args.skip_checks:
        checks += identity_checks(
            prerequisites, identity, stage, required_version=required_bootstrap_version(args.assembly)
        )
    print(render_checks(stage, region, checks), flush=True)
    if failed(checks):
        print("error: prerequisites not met; nothing was deployed", file=sys.stderr)
        return 1
    command = cdk_deploy(stage, args.assembly)
    print("Deploying: " + " ".join(command), flush=True)
    if deps.run(command) != 0:
        print("error: cdk deploy failed; see docs/deploy.md#troubleshooting", file=sys.stderr)
        return 1
    print(f"Stage {stage.name} deployed. Next: make smoke STAGE={stage.name}")
    return 0


def command_destroy(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    if not stage.sandbox and args.confirm != stage.name:
        print(refusal(stage, args.assembly), file=sys.stderr)
        return 2
    prerequisites = deps.prerequisites(session, region)
    check, identity = prerequisites.credentials(stage.account)
    checks = [check]
    if identity is not None:
        checks += identity_checks(
            prerequisites, identity, stage, required_version=DEFAULT_BOOTSTRAP_VERSION, include=["bootstrap"]
        )
    print(render_checks(stage, region, checks), flush=True)
    if failed(checks):
        return 1
    if deps.run(cdk_synth(stage, args.assembly)) != 0:
        print("error: cdk synth failed; nothing was destroyed", file=sys.stderr)
        return 1
    stacks = StageStacks(deps.cloudformation(session, region), [s["name"] for s in stacks_of(args.assembly)])
    retained = stacks.physical_ids(retained_resources(args.assembly))
    if not stage.sandbox:
        for name in stacks.disable_termination_protection():
            print(f"termination protection off: {name}", flush=True)
    sagemaker = deps.sagemaker(session, region)
    for group in deleted_package_groups(args.assembly):
        count = delete_model_packages(sagemaker, group)
        print(f"deleted {count} model package version(s) of {group}, so its stack can delete the group", flush=True)
    if deps.run(cdk_destroy(args.assembly)) != 0:
        print("error: cdk destroy failed; see docs/deploy.md#troubleshooting", file=sys.stderr)
        return 1
    print(after_destroy_notes(stage, region, retained))
    return 0


def command_cost(args: argparse.Namespace, *, deps: Deps) -> int:
    if not (args.assembly / "manifest.json").is_file():
        print(f"error: {args.assembly} is not a cloud assembly; run `make synth` first", file=sys.stderr)
        return 2
    print(cost_table(idle_cost(args.assembly)))
    return 0


def _run(command: list[str]) -> int:
    return subprocess.call(command, cwd=ROOT)


@dataclass
class Deps:
    """What the commands reach outside the process; tests replace it."""

    run: Runner = _run
    prerequisites: Callable[[Any, str], Prerequisites] = Prerequisites.from_session
    cloudformation: Callable[[Any, str], Any] = lambda session, region: session.client(
        "cloudformation", region_name=region
    )
    sagemaker: Callable[[Any, str], Any] = lambda session, region: session.client("sagemaker", region_name=region)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("check", "run the prerequisite checks only"),
        ("deploy", "check, synthesize and deploy every stack of the stage"),
        ("destroy", "destroy every stack of the stage"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--stage", default="sandbox", help="stage name from cdk.json (default sandbox)")
        sub.add_argument("--region", help="region when the stage pins none (default: the profile's)")
        sub.add_argument("--profile", help="AWS profile (default: the SDK's configuration)")
        sub.add_argument("--assembly", type=Path, default=ASSEMBLY, help="cloud assembly directory (default cdk.out)")
        if name == "deploy":
            sub.add_argument("--skip-checks", action="store_true", help="deploy without the prerequisite checks")
        if name == "destroy":
            sub.add_argument("--confirm", default="", help="the stage name again, required outside sandbox stages")
    cost = commands.add_parser("cost", help="idle cost table of a synthesized assembly")
    cost.add_argument("assembly", nargs="?", type=Path, default=ASSEMBLY)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, deps: Deps | None = None) -> int:
    args = parse_args(argv)
    deps = deps or Deps()
    handlers = {"check": command_check, "deploy": command_deploy, "destroy": command_destroy, "cost": command_cost}
    try:
        return handlers[args.command](args, deps=deps)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
