"""Compliance wiring: the cdk-nag packs every synth runs, and one-line acknowledgements.

The five packs run as CDK policy-validation plugins, so any unacknowledged finding fails
`cdk synth`. An acknowledgement names one rule (or one finding of a rule) on one
construct, with a reason that says which AWS limitation forces it or which control
compensates. :func:`acknowledge` refuses vague reasons so that the audit trail in the
validation report stays useful.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct

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


def add_compliance_packs(app: cdk.App) -> None:
    """Register every pack on the app; findings fail synth unless acknowledged."""
    for pack in PACKS:
        cdk.Validations.of(app).add_plugins(pack(app))


def check_reason(rule_id: str, reason: str) -> None:
    """Reject reasons that do not explain the limitation or the compensating control."""
    text = reason.strip().lower()
    if len(text) < MIN_REASON_LENGTH or text in VAGUE_REASONS:
        raise ValueError(
            f"acknowledgement of {rule_id} needs a specific reason (>= {MIN_REASON_LENGTH} characters "
            f"naming the AWS limitation or the compensating control), got {reason!r}"
        )
    if not rule_id.startswith(PACK_PREFIXES):
        raise ValueError(f"{rule_id} is not a rule of the registered packs {PACK_PREFIXES}")


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one rule (or one `Rule[finding]`) on one construct, with its reason."""
    check_reason(rule_id, reason)
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledge_all_packs(construct: IConstruct, rules: dict[str, str]) -> None:
    """Acknowledge several rules on one construct: `{rule_id: reason}`, one line each."""
    for rule_id, reason in rules.items():
        acknowledge(construct, rule_id, reason)
