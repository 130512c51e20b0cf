"""Evaluation gate: may the tuning job's best model be registered?

The training state machine invokes this function with the candidate's validation RMSE
(the tuning job's objective metric), the validation RMSE of the group's newest Approved
model package (absent for the first model) and the stage's threshold and tolerance. The
candidate passes when its RMSE is under the threshold and, once a model is approved, at
most `tolerance` (a fraction) worse than that model's. The function only decides: the
state machine reads the approved package, stores the report, publishes the metrics and
registers the package, so every AWS call stays in the reviewed state machine definition.

Returns the decision, a reason naming the metric, the threshold and the current model's
value (the Fail state's cause when the gate fails), and the evaluation report stored with
the model package (its `regression_metrics` block is SageMaker's model quality format).
An input that is missing a number raises ValueError, which fails the execution.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any

METRIC = "validation:rmse"


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one candidate."""

    passed: bool
    reason: str
    limit: float  # the highest RMSE the candidate could have had and passed


def number(value: float) -> str:
    """A number as people read it in a reason: no exponent, at most 4 decimals."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def evaluate(candidate: float, *, threshold: float, tolerance: float, current: float | None) -> Decision:
    """Under the threshold and, when a model is approved, within `tolerance` of it."""
    if current is None:
        if candidate < threshold:
            return Decision(
                True,
                f"{METRIC} {number(candidate)} is under the threshold {number(threshold)} "
                "(no Approved model yet: threshold only)",
                threshold,
            )
        return Decision(
            False,
            f"{METRIC} {number(candidate)} is not under the threshold {number(threshold)} (no Approved model yet)",
            threshold,
        )
    allowed = current * (1 + tolerance)
    limit = min(threshold, allowed)
    if candidate >= threshold:
        return Decision(
            False,
            f"{METRIC} {number(candidate)} is not under the threshold {number(threshold)} "
            f"(Approved model: {number(current)})",
            limit,
        )
    if candidate > allowed:
        return Decision(
            False,
            f"{METRIC} {number(candidate)} is more than {number(tolerance * 100)}% worse than the Approved model's "
            f"{number(current)} (limit {number(allowed)}, threshold {number(threshold)})",
            limit,
        )
    return Decision(
        True,
        f"{METRIC} {number(candidate)} is under the threshold {number(threshold)} and within "
        f"{number(tolerance * 100)}% of the Approved model's {number(current)}",
        limit,
    )


def finite(value: Any, field: str) -> float:
    """`value` as a finite float (strings too: package metadata stores text), or ValueError."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    return result


def report(event: dict[str, Any], candidate: float, current: float | None, decision: Decision) -> dict[str, Any]:
    """The evaluation report stored in S3 and referenced by the model package's metrics."""
    return {
        "regression_metrics": {"rmse": {"value": candidate}},
        "gate": {
            "metric": METRIC,
            "passed": decision.passed,
            "reason": decision.reason,
            "threshold": event["threshold"],
            "tolerance": event["tolerance"],
            "limit": decision.limit,
            "approved_model": None
            if current is None
            else {"model_package_arn": event["current"].get("model_package_arn"), "validation_rmse": current},
        },
        "candidate": event["candidate"],
    }


def decide(event: dict[str, Any]) -> dict[str, Any]:
    """The gate on one state machine input (see the module docstring)."""
    candidate = finite((event.get("candidate") or {}).get("validation_rmse"), "candidate.validation_rmse")
    approved = (event.get("current") or {}).get("validation_rmse")
    current = None if approved is None else finite(approved, "current.validation_rmse")
    threshold = finite(event.get("threshold"), "threshold")
    tolerance = finite(event.get("tolerance"), "tolerance")
    decision = evaluate(candidate, threshold=threshold, tolerance=tolerance, current=current)
    return {
        "passed": decision.passed,
        "passed_value": 1 if decision.passed else 0,
        "reason": decision.reason,
        "report": report(event, candidate, current, decision),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = decide(event if isinstance(event, dict) else {})
    sys.stdout.write(
        json.dumps({"level": "INFO", "event": "evaluation", "passed": result["passed"], "reason": result["reason"]})
        + "\n"
    )
    return result
