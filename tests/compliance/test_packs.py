"""Compliance: all five packs run on every stage, and every acknowledgement or skip is specific.

That every acknowledgement still matches a finding is checked in tests/gate (it needs the
rule-by-rule evaluation of the packs).
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from stacks.compliance import GUARD_PLUGIN, PACK_PREFIXES, check_reason, skip_cfn_lint, skip_checkov
from tests.synth import SynthesizedStage

CDK_INTERNAL = "CloudFormation-Validate::"  # acknowledgements aws-cdk-lib makes itself
GUARD = f"{GUARD_PLUGIN}::"  # cfn-guard acknowledgements, checked with their suppressions in tests/gate
ANNOTATION = "Annotation::"


def acknowledgements(stage: SynthesizedStage) -> list[tuple[str, str, str]]:
    found = []
    for stack in stage.stacks.values():
        for construct in stack.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    found += [
                        (construct.node.path, rule.removeprefix(ANNOTATION), reason)
                        for rule, reason in entry.data.items()
                        if not rule.startswith((CDK_INTERNAL, GUARD))
                    ]
    return found


def test_synth_reports_zero_unacknowledged_findings(every_stage: SynthesizedStage) -> None:
    # app.synth() raises on any finding; the report must also be empty.
    assert every_stage.validation_report["pluginReports"] == []


def test_every_acknowledgement_names_a_pack_rule_and_a_specific_reason(every_stage: SynthesizedStage) -> None:
    acks = acknowledgements(every_stage)
    assert acks, "expected the documented acknowledgements to be present"
    for path, rule, reason in acks:
        assert rule.startswith(PACK_PREFIXES), (path, rule)
        check_reason(rule, reason)


def test_no_rule_is_acknowledged_twice_on_one_construct(every_stage: SynthesizedStage) -> None:
    keys = [(path, rule) for path, rule, _ in acknowledgements(every_stage)]
    assert len(keys) == len(set(keys))


def test_no_stack_wide_acknowledgements(every_stage: SynthesizedStage) -> None:
    stack_paths = {stack.node.path for stack in every_stage.stacks.values()}
    assert not [a for a in acknowledgements(every_stage) if a[0] in stack_paths]


@pytest.mark.parametrize("reason", ["", "not needed", "false positive", "short reason"])
def test_vague_reasons_are_rejected(reason: str) -> None:
    with pytest.raises(ValueError, match="needs a specific reason"):
        check_reason("AwsSolutions-S1", reason)


def test_rules_of_unregistered_packs_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a rule of the registered packs"):
        check_reason("NIST.800.53.R4-S3BucketLoggingEnabled", "x" * 80)


@pytest.mark.parametrize(
    "reason",
    [
        "TODO: explain why this rule does not apply to the bucket before the release ships",
        "placeholder placeholder placeholder placeholder placeholder placeholder placeholder",
        "false positive false positive false positive false positive false positive x",
    ],
)
def test_placeholder_and_repetitive_reasons_are_rejected(reason: str) -> None:
    with pytest.raises(ValueError, match="needs a specific reason"):
        check_reason("AwsSolutions-S1", reason)


def test_no_rule_is_acknowledged_again_on_a_descendant(every_stage: SynthesizedStage) -> None:
    # An acknowledgement already covers every construct below it; repeating it lower down
    # duplicates the audit trail (and one copy silently goes stale when the other changes).
    acks = acknowledgements(every_stage)
    for path, rule, _ in acks:
        shadowed = [p for p, r, _ in acks if r == rule and p != path and path.startswith(p + "/")]
        assert not shadowed, (path, rule, shadowed)


def test_skip_helpers_record_the_linter_metadata_formats() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Skips")
    topic = cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic")
    reason = "The topic receives only CloudWatch alarm state changes, which carry no customer data at all"
    skip_checkov(topic, "CKV_AWS_26", reason)
    skip_cfn_lint(topic, "W3005", reason)
    metadata = app.synth().get_stack_by_name("Skips").template["Resources"]["Topic"]["Metadata"]
    assert metadata["checkov"] == {"skip": [{"id": "CKV_AWS_26", "comment": reason}]}
    assert metadata["cfn-lint"] == {"config": {"ignore_checks": ["W3005"]}, "reasons": {"W3005": reason}}


def test_skip_helpers_reject_bad_ids_vague_reasons_and_duplicates() -> None:
    stack = cdk.Stack(cdk.App(), "Skips")
    topic = cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic")
    reason = "The topic receives only CloudWatch alarm state changes, which carry no customer data at all"
    with pytest.raises(ValueError, match="not a checkov check id"):
        skip_checkov(topic, "AwsSolutions-SNS2", reason)
    with pytest.raises(ValueError, match="not a cfn-lint rule id"):
        skip_cfn_lint(topic, "CKV_AWS_26", reason)
    with pytest.raises(ValueError, match="needs a specific reason"):
        skip_checkov(topic, "CKV_AWS_26", "false positive")
    skip_checkov(topic, "CKV_AWS_26", reason)
    with pytest.raises(ValueError, match="already skipped"):
        skip_checkov(topic, "CKV_AWS_26", reason)
