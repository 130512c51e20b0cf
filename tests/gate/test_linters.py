"""cfn-lint, checkov and cloudsplaining over every synthesized template: clean, and every skip explained."""

from __future__ import annotations

import json

import pytest

from stacks.compliance import check_reason_text
from tests.gate.conftest import GateResults


def test_cfn_lint_reports_no_errors_or_warnings(gate: GateResults) -> None:
    assert gate.cfn_lint.evaluated == len(gate.templates)
    assert gate.cfn_lint.failures == []


def test_checkov_reports_no_failed_checks(gate: GateResults) -> None:
    if gate.checkov is None:
        pytest.skip("checkov is not installed: `make test` creates .venv-checkov from requirements-checkov.txt")
    assert gate.checkov.passed > 0
    assert gate.checkov.failures == []


def test_cloudsplaining_finds_nothing_unacknowledged_in_any_policy(gate: GateResults) -> None:
    if gate.cloudsplaining is None:
        pytest.skip("cloudsplaining is not installed: `make test` creates .venv-checkov from requirements-checkov.txt")
    assert gate.cloudsplaining.evaluated > gate.cloudsplaining.passed > 0
    assert gate.cloudsplaining.skipped > 0
    assert gate.cloudsplaining.failures == []


def test_every_skip_is_on_one_resource_with_a_specific_reason(gate: GateResults) -> None:
    for template_file in gate.templates:
        for logical_id, body in json.loads(template_file.read_text(encoding="utf-8"))["Resources"].items():
            metadata = body.get("Metadata") or {}
            skips = metadata.get("checkov", {}).get("skip", [])
            assert len({s["id"] for s in skips}) == len(skips), (template_file.name, logical_id)
            for skip in skips:
                check_reason_text(skip["id"], skip["comment"])
            lint = metadata.get("cfn-lint", {})
            ignored = lint.get("config", {}).get("ignore_checks", [])
            assert sorted(ignored) == sorted(lint.get("reasons", {})), (template_file.name, logical_id)
            for rule_id in ignored:
                check_reason_text(rule_id, lint["reasons"][rule_id])
            for acknowledged in metadata.get("cloudsplaining", {}).get("acknowledged", []):
                check_reason_text(acknowledged["finding"], acknowledged["reason"])


def test_no_template_wide_linter_configuration(gate: GateResults) -> None:
    for template_file in gate.templates:
        template = json.loads(template_file.read_text(encoding="utf-8"))
        assert "cfn-lint" not in (template.get("Metadata") or {}), template_file.name
