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


def test_data_access_shows_each_persona_reaching_only_its_own_results(gate: GateResults) -> None:
    text = render(gate.evaluations)
    section = text.split("## Data access", 1)[1].split("## cfn-guard", 1)[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in section.splitlines() if line.startswith("| DataLake/")}
    scientist, mlops = rows["DataLake/DataScientist/Role"], rows["DataLake/MlOps/Role"]
    assert "DataScientist/Results" in scientist and "MlOps/Results" not in scientist
    assert "MlOps/Results" in mlops and "DataScientist/Results" not in mlops
    assert "'raw'" in scientist and "'raw'" not in mlops
    firehose = next(line for line in section.splitlines() if line.startswith("| Ingestion/DeliveryRole"))
    assert "DataLake/RawZone: add |" in firehose


def test_review_findings_are_listed_with_their_checks(gate: GateResults) -> None:
    text = render(gate.evaluations)
    review = text.split("## Security review findings", 1)[1]
    for number in range(1, 9):
        assert f"\n| {number} | " in review
    for rule in ("RDY-LF7", "RDY-LF9", "RDY-KMS1", "RDY-ATH1", "RDY-IAM1"):
        assert rule in review
