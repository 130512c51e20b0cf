"""IAM and KMS policy reading shared by the rules: who may do what, per the template."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from readiness.model import Resource, Stack, as_list, dig, references, target_of, text_of

POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def statements(document: Any) -> Iterator[dict[str, Any]]:
    for statement in as_list(dig(document, "Statement")):
        if isinstance(statement, dict):
            yield statement


def allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement grants `action` (wildcards in the statement honoured)."""
    if statement.get("Effect") != "Allow" or "NotAction" in statement:
        return False
    return any(
        isinstance(granted, str) and fnmatch.fnmatchcase(action.lower(), granted.lower())
        for granted in as_list(statement.get("Action"))
    )


def role_documents(stack: Stack, role: Resource) -> list[Any]:
    """Every policy document attached to `role` in its stack: inline, IAM::Policy, managed."""
    documents = [dig(policy, "PolicyDocument") for policy in as_list(role.prop("Policies"))]
    return documents + [policy.prop("PolicyDocument") for policy in attached_policies(stack, role)]


def role_allows(stack: Stack, role: Resource, action: str) -> bool:
    return any(allows(s, action) for doc in role_documents(stack, role) for s in statements(doc))


def attached_policies(stack: Stack, role: Resource) -> list[Resource]:
    """Separate policy resources (IAM::Policy, ManagedPolicy) that give `role` its permissions."""
    attached = {target_of(arn) for arn in as_list(role.prop("ManagedPolicyArns"))}
    return [
        policy
        for policy in stack.of_type(*POLICY_TYPES)
        if role.logical_id in {target_of(r) for r in as_list(policy.prop("Roles"))} or policy.logical_id in attached
    ]


def unwaited_policies(stack: Stack, resource: Resource, role: Resource) -> list[str]:
    """Policies attached to `role` that `resource` does not depend on (a service that checks its
    role's permissions at creation fails when CloudFormation creates them later)."""
    return sorted(
        p.logical_id for p in attached_policies(stack, role) if not stack.depends_on(resource.logical_id, p.logical_id)
    )


def principal_texts(statement: dict[str, Any]) -> list[str]:
    """The principals of a statement rendered as text (`${Role.Arn}`, service names, ARNs)."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    found: list[str] = []
    for value in (principal or {}).values() if isinstance(principal, dict) else []:
        found += [text_of(v) for v in as_list(value)]
    return found


def principal_references(statement: dict[str, Any]) -> set[str]:
    return references(statement.get("Principal"))


def key_allows(
    key: Resource, action: str, *, principal: str | None = None, service: str | None = None
) -> list[dict[str, Any]]:
    """Allow statements of `key`'s policy granting `action` to a role (logical id) or a service."""
    found = []
    for statement in statements(key.prop("KeyPolicy")):
        if not allows(statement, action):
            continue
        by_role = principal is not None and principal in principal_references(statement)
        by_service = service is not None and any(service_matches(p, service) for p in principal_texts(statement))
        if by_role or by_service:
            found.append(statement)
    return found


def service_matches(principal: str, service: str) -> bool:
    """`principal` names `service`, literally or as `logs.${AWS::Region}.amazonaws.com`."""
    return principal == service or fnmatch.fnmatchcase(principal, service.replace("<region>", "*"))
