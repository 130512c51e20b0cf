"""Principals that read Lake Formation governed data may call lakeformation:GetDataAccess."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import role_allows
from readiness.model import Resource, Stack, dig
from readiness.rules._lakeformation import GRANTS, LOCATION, grant_principal, uses_lake_formation

ROLE = "AWS::IAM::Role"
GLUE_CONSUMERS = ("AWS::Glue::Crawler", "AWS::Glue::Job")


def _role(stack: Stack, value: object) -> tuple[Stack, Resource] | None:
    found = stack.locate(value)
    return found if found and found[1].type == ROLE else None


def _consumers(stack: Stack) -> Iterator[tuple[Resource, object]]:
    for grant in stack.of_type(*GRANTS):
        yield grant, grant_principal(grant)
    registered = stack.assembly is not None and any(s.of_type(LOCATION) for s in stack.assembly.stacks.values())
    for consumer in stack.of_type(*GLUE_CONSUMERS):
        lf_credentials = dig(consumer.properties, "LakeFormationConfiguration", "UseLakeFormationCredentials")
        if lf_credentials is True or registered:
            yield consumer, consumer.prop("Role")


def check(stack: Stack) -> Iterator[Outcome]:
    if not uses_lake_formation(stack.assembly, stack):
        return
    seen: set[str] = set()
    for resource, principal in _consumers(stack):
        found = _role(stack, principal)
        if found is None:
            continue
        role_stack, role = found
        key = f"{role_stack.name}/{role.logical_id}"
        if key in seen:
            continue
        seen.add(key)
        ok = role_allows(role_stack, role, "lakeformation:GetDataAccess")
        yield Outcome(resource, None if ok else f"role {role.path} lacks lakeformation:GetDataAccess")


RULE = Rule(
    id="RDY-LF5",
    title="Roles reading Lake Formation data may call lakeformation:GetDataAccess",
    explanation=(
        "Lake Formation vends temporary S3 credentials only to principals whose IAM policy allows "
        "lakeformation:GetDataAccess; without it, Athena queries, Glue jobs and crawlers on registered "
        "locations fail with AccessDeniedException although the grants exist."
    ),
    fix="Add a statement allowing lakeformation:GetDataAccess (Resource '*', acknowledged) to the role's policy.",
    check=check,
)
