"""Compliance: all five packs run on every stage, and every acknowledgement is specific."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from stacks.compliance import PACK_PREFIXES, check_reason
from tests.synth import SynthesizedStage

CDK_INTERNAL = "CloudFormation-Validate::"  # acknowledgements aws-cdk-lib makes itself
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
                        if not rule.startswith(CDK_INTERNAL)
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
