"""docs/compliance.md matches the validation results of the code as it is."""

from __future__ import annotations

from tests.gate.conftest import GateResults
from tools.compliance_report import REPORT, render


def test_committed_compliance_report_is_up_to_date(gate: GateResults) -> None:
    expected = render(gate.evaluations)
    current = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
    assert current == expected, "docs/compliance.md is stale: run `make compliance-report` and commit it"


def test_report_lists_every_rule_of_every_pack(gate: GateResults) -> None:
    text = render(gate.evaluations)
    evaluation = next(iter(gate.evaluations.values()))
    for pack, rules in evaluation.packs.items():
        assert f"## {pack}\n" in text
        assert all(f"| {rule_id} |" in text for rule_id in rules)


def test_report_names_stages_generically(gate: GateResults) -> None:
    text = render(gate.evaluations)
    for stage in gate.stages:
        assert f"MlPipeline-{stage}-" not in text
