"""The gate's summary rows and SARIF, from the session's results."""

from __future__ import annotations

from pathlib import Path

from readiness import RULES, Assembly, evaluate
from tests.gate.conftest import GateResults
from tools.gate import nag_sarif, pack_rows, readiness_row


def test_summary_has_a_row_per_pack_with_rule_counts(gate: GateResults) -> None:
    rows = pack_rows(list(gate.evaluations.values()))
    assert [r[0] for r in rows] == [f"cdk-nag {p}" for p in next(iter(gate.evaluations.values())).packs]
    for _, evaluated, passed, acknowledged, failed in rows:
        applicable, total = map(int, evaluated.removesuffix(" rules").split(" of "))
        assert int(passed) + int(acknowledged) + int(failed) == applicable <= total
        assert failed == "0"


def test_readiness_row_counts_rules(gate: GateResults) -> None:
    findings = [f for s in gate.stages.values() for f in evaluate(Assembly.load(s.outdir), RULES)]
    _, evaluated, passed, acknowledged, failed = readiness_row(findings)
    assert evaluated.endswith(f"of {len(RULES)} rules")
    assert failed == "0" and acknowledged == "0" and int(passed) > 0


def test_nag_sarif_suppresses_acknowledged_findings(gate: GateResults) -> None:
    document = nag_sarif([(e, Assembly.load(e.assembly)) for e in gate.evaluations.values()])
    results = document["runs"][0]["results"]
    assert results and document["version"] == "2.1.0"
    for result in results:
        assert result["suppressions"][0]["justification"]
        assert Path(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name.endswith(
            ".template.json"
        )
