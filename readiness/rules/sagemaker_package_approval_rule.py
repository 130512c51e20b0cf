"""Each model package group has a rule for its approvals, and each such rule names a real group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, as_list, dig

PACKAGE_GROUP = "AWS::SageMaker::ModelPackageGroup"
STATE_CHANGE = "SageMaker Model Package State Change"


def approval_rules(stack: Stack) -> list[Resource]:
    """EventBridge rules of the stack on SageMaker model package state changes."""
    return [
        r
        for r in stack.of_type("AWS::Events::Rule")
        if "aws.sagemaker" in as_list(dig(r.properties, "EventPattern", "source"))
        and STATE_CHANGE in as_list(dig(r.properties, "EventPattern", "detail-type"))
    ]


def groups_named(rule: Resource) -> list[Any]:
    return as_list(dig(rule.properties, "EventPattern", "detail", "ModelPackageGroupName"))


def approved_only(rule: Resource) -> bool:
    return as_list(dig(rule.properties, "EventPattern", "detail", "ModelApprovalStatus")) == ["Approved"]


def check(stack: Stack) -> Iterator[Outcome]:
    rules = approval_rules(stack)
    for group in stack.of_type(PACKAGE_GROUP):
        name = group.prop("ModelPackageGroupName")
        mine = [r for r in rules if name in groups_named(r)]
        if not mine:
            yield Outcome(group, f"no EventBridge rule matches '{STATE_CHANGE}' events of group {name}")
        elif not any(approved_only(r) for r in mine):
            yield Outcome(group, f"the rules for group {name} do not filter ModelApprovalStatus to ['Approved']")
        else:
            yield Outcome(group)
    known = {
        g.prop("ModelPackageGroupName")
        for s in (stack.assembly.stacks.values() if stack.assembly else [stack])
        for g in s.of_type(PACKAGE_GROUP)
    }
    for rule in rules:
        named = groups_named(rule)
        unknown = [n for n in named if n not in known]
        if not named:
            yield Outcome(rule, "matches the state changes of every model package group (no ModelPackageGroupName)")
        elif unknown:
            yield Outcome(rule, f"names model package groups no stack defines: {unknown}")
        else:
            yield Outcome(rule)


RULE = Rule(
    id="RDY-SM8",
    title="Model package groups and their approval rules reference each other",
    explanation=(
        "An approval is the signal to promote a model. A group without a rule on its 'SageMaker Model Package "
        "State Change' events approves packages silently; a rule that does not filter ModelApprovalStatus to "
        "Approved fires on every registration (PendingManualApproval) and rejection; a rule naming a group "
        "that no stack defines (a typo, a renamed stage) never fires."
    ),
    fix=(
        "events.Rule(event_pattern={source: [aws.sagemaker], detail-type: ['SageMaker Model Package State Change'], "
        "detail: {ModelPackageGroupName: [<the group's name>], ModelApprovalStatus: ['Approved']}})."
    ),
    check=check,
)
