"""AWS Control Tower cfn-guard rules: clean on every stage, every suppression explained and
acknowledged where CDK's policy-validation plugin reads it, and the plugin really enforcing."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from readiness.model import Assembly
from stacks.compliance import GUARD_PLUGIN, acknowledge, add_compliance_packs, check_reason_text
from tests.gate.conftest import GateResults


def test_no_rule_fails_and_accepted_violations_are_acknowledged(gate: GateResults) -> None:
    assert gate.guard.failures() == []
    statuses = [rule.status for rule in gate.guard.rules.values()]
    assert statuses.count("compliant") > 0 and statuses.count("acknowledged") > 0


def _acknowledged_ids(outdir: Path) -> dict[str, set[str]]:
    """Construct path -> acknowledged rule IDs, from every stack's metadata."""
    found: dict[str, set[str]] = {}
    for metadata_file in outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text(encoding="utf-8")).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    found.setdefault(path, set()).update(entry["data"])
    return found


def test_every_suppression_has_a_reason_and_a_cdk_acknowledgement(gate: GateResults) -> None:
    for stage in gate.stages.values():
        acknowledged = _acknowledged_ids(stage.outdir)
        for stack in Assembly.load(stage.outdir).stacks.values():
            for resource in stack.resources.values():
                guard = resource.metadata.get("guard") or {}
                for rule in guard.get("SuppressedRules", []):
                    check_reason_text(rule, guard["Reasons"][rule])
                    path = f"/{resource.path}"
                    ids = set().union(*(ids for p, ids in acknowledged.items() if path.startswith(p)))
                    assert f"{GUARD_PLUGIN}::{rule}" in ids, (stack.name, resource.logical_id, rule)


def test_the_plugin_fails_synth_on_an_unacknowledged_violation(tmp_path: Path) -> None:
    """add_compliance_packs(guard=True) registers the Control Tower rules and they are enforced; that
    acknowledge_guard lets the stages through is shown by the gate's synth of every stage."""
    app = cdk.App(outdir=str(tmp_path))
    queue = sqs.Queue(cdk.Stack(app, "Queue"), "Queue", enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED)
    reason = "This queue stands for a dead-letter queue in a test app, so it needs no queue of its own"
    for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
        acknowledge(queue, rule, reason)
    add_compliance_packs(app, guard=True)
    with pytest.raises(Exception, match=f"{GUARD_PLUGIN}::sqs_dlq_check"):
        app.synth()
