"""The cdk-nag packs rule by rule: agrees with synth, no failures, no stale acknowledgements."""

from __future__ import annotations

from stacks.compliance import PACK_PREFIXES
from tests.gate.conftest import GateResults


def test_every_registered_pack_is_evaluated_rule_by_rule(gate: GateResults) -> None:
    for evaluation in gate.evaluations.values():
        assert tuple(f"{pack}-" for pack in evaluation.packs) == PACK_PREFIXES
        for rules in evaluation.packs.values():
            assert len(rules) > 10
            assert any(r.status == "compliant" for r in rules.values())


def test_no_rule_fails(gate: GateResults) -> None:
    failed = [f for e in gate.evaluations.values() for r in e.results() for f in r.failed]
    assert failed == []


def test_every_acknowledgement_matches_a_finding(gate: GateResults) -> None:
    stale = [(a.rule, a.path) for e in gate.evaluations.values() for a in e.stale]
    assert stale == [], "acknowledgements that match no finding: remove them (or the rule id is misspelt)"


def test_acknowledged_rules_carry_their_reasons(gate: GateResults) -> None:
    acknowledged = [r for e in gate.evaluations.values() for r in e.results() if r.status == "acknowledged"]
    assert acknowledged
    assert all(ack.reason for r in acknowledged for _, ack in r.acknowledged)
