"""Rules and their results.

A rule looks at one stack (and, through it, the assembly) and yields one
:class:`Outcome` per resource it applies to: no problem means compliant, a problem
means non-compliant. A rule that yields nothing for a stack is not applicable there.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from readiness.model import Assembly, Resource, Stack


class Status(enum.Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Outcome:
    """What a rule found on one resource: `problem` is None when it is compliant."""

    resource: Resource
    problem: str | None = None


@dataclass(frozen=True)
class Rule:
    """One deploy-readiness rule: what CloudFormation rejects (or breaks) and how to fix it."""

    id: str
    title: str
    explanation: str
    fix: str
    check: Callable[[Stack], Iterable[Outcome]]


@dataclass(frozen=True)
class Finding:
    """The result of one rule on one resource (or on a whole stack, when not applicable)."""

    rule: Rule
    status: Status
    stack: str
    logical_id: str | None = None
    path: str | None = None
    problem: str | None = None


def evaluate_stack(rule: Rule, stack: Stack) -> list[Finding]:
    outcomes = list(rule.check(stack))
    if not outcomes:
        return [Finding(rule, Status.NOT_APPLICABLE, stack.name)]
    return [
        Finding(
            rule,
            Status.COMPLIANT if o.problem is None else Status.NON_COMPLIANT,
            stack.name,
            o.resource.logical_id,
            o.resource.path,
            o.problem,
        )
        for o in outcomes
    ]


def evaluate(assembly: Assembly, rules: Iterable[Rule]) -> list[Finding]:
    """Every rule over every stack of the assembly."""
    return [finding for rule in rules for stack in assembly.stacks.values() for finding in evaluate_stack(rule, stack)]


def rule_status(findings: Iterable[Finding]) -> Status:
    """A rule's overall status: non-compliant if any resource is, compliant if any is evaluated."""
    statuses = {f.status for f in findings}
    if Status.NON_COMPLIANT in statuses:
        return Status.NON_COMPLIANT
    return Status.COMPLIANT if Status.COMPLIANT in statuses else Status.NOT_APPLICABLE
