"""Compliance wiring: the cdk-nag packs every synth runs, and one-line acknowledgements.

The five packs run as CDK policy-validation plugins, so any unacknowledged finding fails
`cdk synth`. An acknowledgement names one rule (or one finding of a rule) on one
construct, with a reason that says which AWS limitation forces it or which control
compensates. :func:`acknowledge` refuses vague reasons so that the audit trail in the
validation report stays useful.

checkov, cfn-lint and cloudsplaining run on the synthesized templates, so their skips live
in the template itself, on the one resource they concern: :func:`skip_checkov` writes
`Metadata.checkov.skip` (the format checkov reads), :func:`skip_cfn_lint` writes
`Metadata.cfn-lint.config.ignore_checks` plus the reason beside it, and
:func:`acknowledge_policy_finding` writes `Metadata.cloudsplaining.acknowledged` (read by
readiness.policy_analysis). All take the same specific reasons as acknowledgements.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct

GUARD_PLUGIN = "cdk-validator-cfnguard"

# aws-cdk-lib also runs a built-in CloudFormation template validator (a WASM rule engine) on
# every synth: it only warns, and it doubles synth time (its engine alone costs more than an
# empty app). `make gate` runs cfn-lint on every template with the per-resource skips this
# module records, so the app leaves template validation to the gate.
BUILTIN_TEMPLATE_VALIDATION = False

PACKS = (
    cdk_nag.AwsSolutionsChecks,
    cdk_nag.HIPAASecurityChecks,
    cdk_nag.NIST80053R5Checks,
    cdk_nag.PCIDSS321Checks,
    cdk_nag.ServerlessChecks,
)
PACK_PREFIXES = ("AwsSolutions-", "HIPAA.Security-", "NIST.800.53.R5-", "PCI.DSS.321-", "Serverless-")
MIN_REASON_LENGTH = 60
VAGUE_REASONS = ("not needed", "not required", "n/a", "false positive", "ignore", "todo", "by design")
PLACEHOLDERS = re.compile(r"\b(todo|tbd|fixme|xxx|lorem ipsum|placeholder)\b", re.IGNORECASE)
MIN_DISTINCT_WORDS = 8
CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
CFN_LINT_ID = re.compile(r"[EWI]\d{4}")


def add_compliance_packs(app: cdk.App, *, guard: bool = False) -> None:
    """Register every pack on the app; findings fail synth unless acknowledged.

    With `guard`, AWS's Control Tower proactive controls run too, as cfn-guard rules through
    CDK's policy-validation plugin (the gate turns them on; see tools/gate.py).
    """
    for pack in PACKS:
        cdk.Validations.of(app).add_plugins(pack(app))
    if guard:
        from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

        # The plugin implements the Beta1 plugin interface, which jsii accepts for this one.
        cdk.Validations.of(app).add_plugins(CfnGuardValidator())  # type: ignore[arg-type]


def check_reason_text(rule_id: str, reason: str) -> None:
    """Reject reasons that do not explain the limitation or the compensating control."""
    text = reason.strip().lower()
    words = set(re.findall(r"[a-z0-9:*./-]+", text))
    if (
        len(text) < MIN_REASON_LENGTH
        or text in VAGUE_REASONS
        or PLACEHOLDERS.search(text)
        or len(words) < MIN_DISTINCT_WORDS
    ):
        raise ValueError(
            f"acknowledgement of {rule_id} needs a specific reason (>= {MIN_REASON_LENGTH} characters "
            f"naming the AWS limitation or the compensating control), got {reason!r}"
        )


def check_reason(rule_id: str, reason: str) -> None:
    """A pack acknowledgement: a rule of a registered pack, with a specific reason."""
    if not rule_id.startswith(PACK_PREFIXES):
        raise ValueError(f"{rule_id} is not a rule of the registered packs {PACK_PREFIXES}")
    check_reason_text(rule_id, reason)


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one rule (or one `Rule[finding]`) on one construct, with its reason."""
    check_reason(rule_id, reason)
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def _cfn_resource(construct: IConstruct) -> cdk.CfnResource:
    """The CloudFormation resource behind `construct` (itself, or its default child)."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise ValueError(f"{construct.node.path} has no CloudFormation resource to record a skip on")
    return resource


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a checkov skip of `check_id` on the resource of `construct`, with its reason."""
    if not CHECKOV_ID.fullmatch(check_id):
        raise ValueError(f"{check_id} is not a checkov check id (CKV_AWS_123, CKV2_AWS_12)")
    check_reason_text(check_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("checkov") or {}
    skips = list(metadata.get("skip", []))
    if any(skip["id"] == check_id for skip in skips):
        raise ValueError(f"{check_id} is already skipped on {resource.node.path}")
    resource.add_metadata("checkov", {**metadata, "skip": [*skips, {"id": check_id, "comment": reason}]})


def skip_cfn_lint(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Record a cfn-lint ignore of `rule_id` on the resource of `construct`, with its reason."""
    if not CFN_LINT_ID.fullmatch(rule_id):
        raise ValueError(f"{rule_id} is not a cfn-lint rule id (E3012, W3005)")
    check_reason_text(rule_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("cfn-lint") or {}
    ignored = list(metadata.get("config", {}).get("ignore_checks", []))
    if rule_id in ignored:
        raise ValueError(f"{rule_id} is already ignored on {resource.node.path}")
    resource.add_metadata(
        "cfn-lint",
        {
            **metadata,
            "config": {**metadata.get("config", {}), "ignore_checks": [*ignored, rule_id]},
            "reasons": {**metadata.get("reasons", {}), rule_id: reason},
        },
    )


POLICY_FINDINGS = (
    "PrivilegeEscalation",
    "DataExfiltration",
    "ResourceExposure",
    "CredentialsExposure",
    "ServiceWildcard",
    "InfrastructureModification",
)


def acknowledge_policy_finding(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one cloudsplaining finding category on the policy document(s) of `construct`."""
    if finding not in POLICY_FINDINGS:
        raise ValueError(f"{finding} is not a cloudsplaining finding category {POLICY_FINDINGS}")
    check_reason_text(finding, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("cloudsplaining") or {}
    acknowledged = list(metadata.get("acknowledged", []))
    if any(a["finding"] == finding for a in acknowledged):
        raise ValueError(f"{finding} is already acknowledged on {resource.node.path}")
    resource.add_metadata("cloudsplaining", {"acknowledged": [*acknowledged, {"finding": finding, "reason": reason}]})


def acknowledge_guard(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one cfn-guard rule (its rule name, for example `s3_bucket_object_lock_enabled_check`)
    on the resource of `construct`: as a CDK acknowledgement, which the policy-validation plugin
    honours, and in `Metadata.guard.SuppressedRules` with the reason, which Guard rules and the
    gate's rule-by-rule evaluation read."""
    if not re.fullmatch(r"[a-z0-9_]+", rule):
        raise ValueError(f"{rule} is not a cfn-guard rule name (s3_bucket_logging_enabled_check)")
    check_reason_text(rule, reason)
    resource = _cfn_resource(construct)
    cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=f"{GUARD_PLUGIN}::{rule}", reason=reason))
    metadata = resource.get_metadata("guard") or {}
    suppressed = list(metadata.get("SuppressedRules", []))
    if rule in suppressed:
        raise ValueError(f"{rule} is already suppressed on {resource.node.path}")
    resource.add_metadata(
        "guard",
        {
            **metadata,
            "SuppressedRules": [*suppressed, rule],
            "Reasons": {**metadata.get("Reasons", {}), rule: reason},
        },
    )


def skip_cdk_provider(scope: IConstruct, provider_id: str, purpose: str) -> None:
    """Record the checkov and cfn-lint skips of a CDK-managed custom resource provider.

    aws-cdk-lib creates one provider Lambda per stack for features such as
    `auto_delete_objects` and `restrict_default_security_group` (`Custom::...Provider`
    under the stack, with a `Handler`) or `AwsCustomResource` (a singleton function). Its
    handler runs only while CloudFormation deploys, is invoked synchronously by
    CloudFormation and calls public AWS APIs; `purpose` says what it does. No-op when the
    stack has no such provider (for example a stage that retains buckets).
    """
    provider = cdk.Stack.of(scope).node.try_find_child(provider_id)
    if provider is None:
        return
    handler = provider.node.try_find_child("Handler") or provider
    where = f"the aws-cdk-lib provider Lambda that {purpose}"
    skip_checkov(
        handler,
        "CKV_AWS_115",
        f"{where} runs only during CloudFormation deployments of this stack, one invocation per custom "
        "resource event, so reserved concurrency would only add a way for deployments to fail",
    )
    skip_checkov(
        handler,
        "CKV_AWS_116",
        f"{where} is invoked synchronously by CloudFormation, which receives its errors and fails the "
        "deployment; an asynchronous dead-letter queue would never receive an event",
    )
    outside_vpc = (
        f"{where} calls S3/EC2 control-plane APIs while the stack deploys; aws-cdk-lib does not support "
        "placing it in the VPC, and it handles no data of the pipeline"
    )
    skip_checkov(handler, "CKV_AWS_117", outside_vpc)
    skip_cfn_lint(
        handler,
        "W3005",
        f"{where}: aws-cdk-lib adds DependsOn on its role next to the GetAtt of the role ARN; the "
        "duplicate ordering is generated by the library and harmless",
    )
    acknowledge_guard(handler, "lambda_inside_vpc_check", outside_vpc)
