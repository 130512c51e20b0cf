"""The checks a deploy runs before it touches the account, each failing with what to run to fix it.

1. credentials: ``sts get-caller-identity`` works, for the stage's account if it pins one;
2. CDK bootstrap: the ``CDKToolkit`` stack is healthy and the SSM parameter
   ``/cdk-bootstrap/hnb659fds/version`` is at least the version the templates require;
3. Lake Formation: the CloudFormation execution role of the bootstrap is a data lake
   administrator already, or the DataLake stack can make it one (the caller or the role may
   change data lake settings); otherwise the exact ``put-data-lake-settings`` command that
   adds it while keeping the existing administrators;
4. SageMaker: the "<instance type> for endpoint usage" quota covers the instances an update
   of the endpoint runs at its initial size (fail) and at its autoscaling maximum (warning):
   both fleets under blue/green, the fleet plus one batch under a rolling update; the
   "<instance type> for [spot] training job usage" quota covers one training job (fail: new
   accounts often have 0) and the tuning job's parallel jobs (warning).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stacks import guardrails
from stacks.config import StageConfig

QUALIFIER = "hnb659fds"
TOOLKIT_STACK = "CDKToolkit"
DEFAULT_BOOTSTRAP_VERSION = 6
HEALTHY_STACK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}

Status = Literal["ok", "warn", "fail", "skip"]


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
        """The endpoint's instances per type during an update, then the training instances of a tuning job."""
        return [*self.endpoint_quota(stage), self.training_quota(stage)]

    def endpoint_quota(self, stage: StageConfig) -> list[Check]:
        """The endpoint's instances of each type during an update (both fleets, or the fleet and a batch)."""
        return [
            self._quota_check(
                QuotaNeed(
                    quota_name=f"{kind} for endpoint usage",
                    start=need.start,
                    peak=need.peak,
                    needs=f"the endpoint needs {need.start} during an update at its initial size and up to "
                    f"{need.peak} at autoscaling's maximum ({need.why})",
                    short=f"an update of the endpoint needs {need.start} ({need.why}) and fails with "
                    f"ResourceLimitExceeded below it (a first deploy needs {need.serving})",
                    partly=f"enough for an update at the initial size, but at autoscaling's maximum an update "
                    f"needs {need.peak} ({need.why})",
                    offered=f"is {kind} offered for hosting there?",
                    shared="endpoint",
                )
            )
            for kind, need in sorted(endpoint_needs(stage).items())
        ]

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


@dataclass
class EndpointNeed:
    """Endpoint instances of one type: serving, during an update at the initial size, and at the most."""

    serving: int = 0
    start: int = 0
    peak: int = 0
    why: str = ""


def endpoint_needs(stage: StageConfig) -> dict[str, EndpointNeed]:
    """What the endpoint's variants need of each instance type's quota while an update runs.

    A blue/green update starts the new fleet beside the old one at the size autoscaling left
    it (both fleets count against the quota until the old one is terminated); a rolling
    update adds one batch at a time.
    """
    inference, update = stage.inference, stage.inference.deployment
    rolling = update.kind == guardrails.ROLLING
    needs: dict[str, EndpointNeed] = {}
    for variant in inference.variants:
        need = needs.setdefault(variant.instance_type, EndpointNeed())
        low = variant.min_capacity
        high = variant.max_capacity if inference.autoscaling else low
        if rolling and update.step is not None:
            batch = f"{update.step}%" if update.step_unit == "percent" else f"{update.step} instance(s)"
            need.why = f"a rolling update adds a batch of {batch} to the fleet"
            need.start += low + guardrails.batch_instances(update.step, update.unit, low)
            need.peak += high + guardrails.batch_instances(update.step, update.unit, high)
        else:
            need.why = "a blue/green update runs the new fleet beside the old one"
            need.start += 2 * low
            need.peak += 2 * high
        need.serving += low
    return needs


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
