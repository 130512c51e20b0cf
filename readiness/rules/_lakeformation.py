"""What the Lake Formation rules share: which resources Lake Formation governs."""

from __future__ import annotations

from readiness.model import Assembly, Resource, Stack

SETTINGS = "AWS::LakeFormation::DataLakeSettings"
LOCATION = "AWS::LakeFormation::Resource"
GRANTS = ("AWS::LakeFormation::PrincipalPermissions", "AWS::LakeFormation::Permissions")
TAG_ASSOCIATION = "AWS::LakeFormation::TagAssociation"
GOVERNED = (
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::LakeFormation::Tag",
    TAG_ASSOCIATION,
    LOCATION,
    *GRANTS,
    "AWS::LakeFormation::DataCellsFilter",
)


def uses_lake_formation(assembly: Assembly | None, stack: Stack) -> bool:
    stacks = assembly.stacks.values() if assembly else [stack]
    return any(r.type.startswith("AWS::LakeFormation::") for s in stacks for r in s.resources.values())


def upstream_has(stack: Stack, resource_type: str) -> bool:
    """Whether a stack deployed before `stack` (not `stack` itself) has a resource of this type."""
    return any(s is not stack and s.of_type(resource_type) for s in stack.upstream())


def grant_principal(grant: Resource) -> object:
    key = "Principal" if grant.type == GRANTS[0] else "DataLakePrincipal"
    return grant.prop(key, "DataLakePrincipalIdentifier")
