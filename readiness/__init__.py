"""Deploy-readiness checks: what cfn-lint and checkov pass but CloudFormation rejects.

`python -m readiness cdk.out` loads a synthesized cloud assembly, runs every rule of
:mod:`readiness.rules` over every stack and exits 1 when a resource is non-compliant,
printing the rule, the resource (logical id and construct path), what is wrong and the fix.
"""

from __future__ import annotations

from pathlib import Path

from readiness.core import Finding, Outcome, Rule, Status, evaluate
from readiness.model import Assembly
from readiness.rules import RULES

__all__ = ["RULES", "Assembly", "Finding", "Outcome", "Rule", "Status", "check_assembly", "evaluate"]


def check_assembly(directory: Path) -> list[Finding]:
    """Every rule over every stack of the cloud assembly in `directory`."""
    return evaluate(Assembly.load(directory), RULES)
