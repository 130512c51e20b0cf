"""Evaluation gate: threshold, tolerance against the Approved model, the first model, bad input."""

from __future__ import annotations

import json
from typing import Any

import evaluation_gate
import pytest
from evaluation_gate import evaluate, handler, number
from hypothesis import given
from hypothesis import strategies as st


def event(candidate: Any, current: Any = None, *, threshold: float = 50000, tolerance: float = 0.05) -> dict[str, Any]:
    return {
        "candidate": {"validation_rmse": candidate, "tuning_job": "a" * 32, "training_job": f"{'a' * 32}-002-1a2b3c4d"},
        "current": {"validation_rmse": current, "model_package_arn": None if current is None else "arn:pkg/1"},
        "threshold": threshold,
        "tolerance": tolerance,
    }


def test_first_model_is_judged_by_the_threshold_only() -> None:
    passed = evaluate(40000.0, threshold=50000, tolerance=0.05, current=None)
    assert passed.passed and passed.limit == 50000
    assert passed.reason == "validation:rmse 40000 is under the threshold 50000 (no Approved model yet: threshold only)"
    failed = evaluate(50000.0, threshold=50000, tolerance=0.05, current=None)
    assert not failed.passed
    assert failed.reason == "validation:rmse 50000 is not under the threshold 50000 (no Approved model yet)"


def test_a_candidate_may_be_worse_than_the_approved_model_by_the_tolerance() -> None:
    within = evaluate(41000.0, threshold=50000, tolerance=0.05, current=40000.0)
    assert within.passed and within.limit == pytest.approx(42000)
    assert "within 5% of the Approved model's 40000" in within.reason
    at_limit = evaluate(42000.0, threshold=50000, tolerance=0.05, current=40000.0)
    assert at_limit.passed


def test_failing_the_tolerance_names_metric_threshold_and_current_value() -> None:
    decision = evaluate(42500.5, threshold=50000, tolerance=0.05, current=40000.0)
    assert not decision.passed
    assert decision.reason == (
        "validation:rmse 42500.5 is more than 5% worse than the Approved model's 40000 (limit 42000, threshold 50000)"
    )


def test_the_threshold_applies_even_to_a_better_candidate() -> None:
    decision = evaluate(55000.0, threshold=50000, tolerance=0.05, current=60000.0)
    assert not decision.passed and decision.limit == 50000
    assert decision.reason == "validation:rmse 55000 is not under the threshold 50000 (Approved model: 60000)"


@given(
    candidate=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    current=st.none() | st.floats(min_value=0, max_value=1e7, allow_nan=False),
    threshold=st.floats(min_value=1, max_value=1e7, allow_nan=False),
    tolerance=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_the_decision_is_the_rule(candidate: float, current: float | None, threshold: float, tolerance: float) -> None:
    decision = evaluate(candidate, threshold=threshold, tolerance=tolerance, current=current)
    expected = candidate < threshold and (current is None or candidate <= current * (1 + tolerance))
    assert decision.passed is expected
    assert number(threshold) in decision.reason and "validation:rmse" in decision.reason
    if current is not None:
        assert number(current) in decision.reason


def test_handler_returns_decision_metric_value_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    # Package metadata stores the approved model's RMSE as text.
    result = handler(event(41000.0, "40000.0"), None)
    assert result["passed"] is True and result["passed_value"] == 1
    report = result["report"]
    assert report["regression_metrics"] == {"rmse": {"value": 41000.0}}
    assert report["gate"]["approved_model"] == {"model_package_arn": "arn:pkg/1", "validation_rmse": 40000.0}
    assert report["gate"]["limit"] == pytest.approx(42000) and report["candidate"]["tuning_job"] == "a" * 32
    json.dumps(report, allow_nan=False)  # stored as JSON: no NaN or infinity
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"level": "INFO", "event": "evaluation", "passed": True, "reason": result["reason"]}


def test_failed_gate_reports_zero_for_the_metric() -> None:
    result = handler(event(60000.0), None)
    assert (result["passed"], result["passed_value"]) == (False, 0)
    assert result["report"]["gate"]["approved_model"] is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"candidate": {}}, "candidate.validation_rmse must be a number, got None"),
        ({"candidate": {"validation_rmse": "NaN"}}, "candidate.validation_rmse must be a finite number"),
        ({"current": {"validation_rmse": "n/a"}}, "current.validation_rmse must be a number, got 'n/a'"),
        ({"threshold": None}, "threshold must be a number"),
    ],
)
def test_bad_input_fails_with_the_field_named(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluation_gate.decide({**event(40000.0, 39000.0), **bad})
