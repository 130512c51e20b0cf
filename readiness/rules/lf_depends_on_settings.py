"""Catalog objects, LF-tags, locations and grants wait for the Lake Formation settings."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._lakeformation import GOVERNED, SETTINGS, upstream_has, uses_lake_formation


def check(stack: Stack) -> Iterator[Outcome]:
    if not uses_lake_formation(stack.assembly, stack):
        return
    settings = [s.logical_id for s in stack.of_type(SETTINGS)]
    for resource in stack.of_type(*GOVERNED):
        if settings:
            ok = any(stack.depends_on(resource.logical_id, s) for s in settings)
            problem = None if ok else f"does not depend on {', '.join(settings)}"
        else:
            ok = upstream_has(stack, SETTINGS)
            problem = None if ok else "no DataLakeSettings in this stack or in a stack deployed before it"
        yield Outcome(resource, problem)


RULE = Rule(
    id="RDY-LF3",
    title="Lake Formation resources depend on the data lake settings",
    explanation=(
        "CloudFormation creates resources in parallel unless told otherwise. A Glue database, LF-tag, data "
        "location or grant created before the DataLakeSettings that make the execution role an admin fails "
        "with 'Insufficient Lake Formation permission(s)'."
    ),
    fix="Call resource.add_resource_dependency(lake_settings) (or deploy the settings in an earlier stack).",
    check=check,
)
