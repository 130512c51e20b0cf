"""Roles that read the catalog of a Lake Formation governed database hold a grant on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.access import roles
from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, as_list, dig, target_of
from readiness.rules._lakeformation import GRANTS, TAG_ASSOCIATION, grant_principal

DATABASE = "AWS::Glue::Database"


def governed_databases(stack: Stack) -> dict[str, Resource]:
    """Databases of the assembly whose tables get no default permissions, by name."""
    stacks = stack.assembly.stacks.values() if stack.assembly else [stack]
    return {
        str(d.prop("DatabaseInput", "Name")): d
        for s in stacks
        for d in s.of_type(DATABASE)
        if d.prop("DatabaseInput", "CreateTableDefaultPermissions") == []
    }


def _tags_by_database(stack: Stack) -> dict[str, dict[str, set[str]]]:
    """LF-tags attached to each database (by name), across the assembly."""
    stacks = stack.assembly.stacks.values() if stack.assembly else [stack]
    tags: dict[str, dict[str, set[str]]] = {}
    for s in stacks:
        for association in s.of_type(TAG_ASSOCIATION):
            name = dig(association.properties, "Resource", "Database", "Name")
            database = s.get(target_of(name))
            key = str(database.prop("DatabaseInput", "Name")) if database else str(name)
            for pair in as_list(association.prop("LFTags")):
                tags.setdefault(key, {}).setdefault(str(pair.get("TagKey")), set()).update(pair.get("TagValues", []))
    return tags


def _covers(grant: Resource, database: str, tags: dict[str, set[str]]) -> bool:
    resource: dict[str, Any] = grant.prop("Resource") or {}
    if dig(resource, "Database", "Name") == database or dig(resource, "Table", "DatabaseName") == database:
        return True
    expression = dig(resource, "LFTagPolicy", "Expression")
    if expression:
        return all(set(tags.get(str(e.get("TagKey")), set())) & set(e.get("TagValues", [])) for e in expression)
    return False


def _grants_of(stack: Stack, role: Resource) -> list[Resource]:
    stacks = stack.assembly.stacks.values() if stack.assembly else [stack]
    found = []
    for s in stacks:
        for grant in s.of_type(*GRANTS):
            principal = grant_principal(grant)
            located = s.locate(principal)
            if located and located[0].name == stack.name and located[1].logical_id == role.logical_id:
                found.append(grant)
    return found


def check(stack: Stack) -> Iterator[Outcome]:
    governed = governed_databases(stack)
    if not governed:
        return
    tags = _tags_by_database(stack)
    for role, access in roles(stack):
        readers = sorted(d for d, actions in access.databases.items() if d in governed and "glue:GetTable" in actions)
        if not readers:
            continue
        grants = _grants_of(stack, role)
        missing = [d for d in readers if not any(_covers(g, d, tags.get(d, {})) for g in grants)]
        yield Outcome(role, f"reads the catalog of {missing} without a Lake Formation grant" if missing else None)


RULE = Rule(
    id="RDY-LF9",
    title="Roles reading a governed database's catalog hold a Lake Formation grant on it",
    explanation=(
        "The lake's databases give new tables no default permissions, so IAM permissions on the Glue catalog are "
        "not enough: a crawler, job, persona or later reader (training, drift, a capture table) without a Lake "
        "Formation grant sees no tables and fails with AccessDeniedException or an empty result."
    ),
    fix=(
        "Grant the role with stacks.lake_grants.grant_tables (or grant_database for a crawler that creates tables) "
        "next to its stacks.access.allow_zone."
    ),
    check=check,
)
