"""Grants wait for the databases, tag associations and data locations they cover."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, dig, target_of
from readiness.rules._lakeformation import GRANTS, LOCATION, TAG_ASSOCIATION, upstream_has

DATABASE = "AWS::Glue::Database"


def _named_databases(stack: Stack, grant: Resource) -> set[str]:
    resource = grant.prop("Resource") or {}
    names = [
        dig(resource, "Database", "Name"),
        dig(resource, "Table", "DatabaseName"),
        dig(resource, "TableWithColumns", "DatabaseName"),
        dig(resource, "TableResource", "DatabaseName"),
        dig(resource, "DatabaseResource", "Name"),
        dig(resource, "TableWithColumnsResource", "DatabaseName"),
    ]
    found = set()
    for database in stack.of_type(DATABASE):
        literal = database.prop("DatabaseInput", "Name")
        for name in names:
            if name is not None and (target_of(name) == database.logical_id or (literal and name == literal)):
                found.add(database.logical_id)
    return found


def _by_tags(grant: Resource) -> bool:
    resource = grant.prop("Resource") or {}
    return any(key in resource for key in ("LFTagPolicy", "LFTagPolicyResource"))


def check(stack: Stack) -> Iterator[Outcome]:
    locations = {loc.logical_id for loc in stack.of_type(LOCATION)}
    for grant in stack.of_type(*GRANTS):
        needed = _named_databases(stack, grant)
        if _by_tags(grant):
            needed |= {a.logical_id for a in stack.of_type(TAG_ASSOCIATION)}
        missing = sorted(n for n in needed | locations if not stack.depends_on(grant.logical_id, n))
        problems = []
        if missing:
            problems.append(f"does not depend on {', '.join(missing)}")
        if not locations and not upstream_has(stack, LOCATION):
            problems.append("no registered data location (AWS::LakeFormation::Resource) in this or an earlier stack")
        yield Outcome(grant, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-LF4",
    title="Lake Formation grants depend on their databases and registered locations",
    explanation=(
        "A grant on a database, table or LF-tag expression fails with EntityNotFoundException when it is "
        "created before the database or the tag association; a grant whose data location is not registered "
        "yet deploys but vends no credentials, so the first query fails."
    ),
    fix=(
        "grant.add_resource_dependency(...) on the Glue databases it names, the LF-tag associations of a "
        "tag-based grant, and the CfnResource that registers each data location."
    ),
    check=check,
)
