"""The "data access" section of docs/compliance.md: per role, which zones, keys and tables it reaches.

Read from the synthesized templates with readiness.access (S3 object actions per bucket,
KMS actions per key, Glue catalog actions per database) and the Lake Formation grants of the
assembly, so the section changes exactly when a policy or grant does. Also lists the
acknowledgements the other gate tools read from the templates: cfn-guard suppressions and
cloudsplaining findings, each with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from readiness.access import roles
from readiness.iam import principal_texts, statements
from readiness.model import Assembly, Resource, Stack, dig, text_of
from readiness.rules._lakeformation import GRANTS, grant_principal


def _short(path: str) -> str:
    """A construct path without its stack name and L1 suffix (`MlPipeline-<stage>-DataLake/RawZone/Resource`
    -> `DataLake/RawZone`)."""
    stack, _, rest = path.removesuffix("/Resource").partition("/")
    return f"{stack.rsplit('-', 1)[-1]}/{rest}" if rest else stack


def _objects(actions: set[str]) -> str:
    kinds = [
        word
        for word, action in (("read", "s3:GetObject"), ("add", "s3:PutObject"), ("delete", "s3:DeleteObject"))
        if action in actions
    ]
    return "/".join(kinds) or "list"


def _key_use(actions: dict[str, bool]) -> str:
    names = {"kms:Decrypt": "decrypt", "kms:GenerateDataKey": "generate", "kms:Encrypt": "encrypt"}
    used = sorted({names[a] for a in actions if a in names})
    only_via = all(actions[a] for a in actions if a in names)
    return "/".join(used) + (" (through a service)" if used and only_via else "") if used else "describe"


def _trust(role: Resource) -> str:
    trusted = [p for s in statements(role.prop("AssumeRolePolicyDocument")) for p in principal_texts(s)]
    return ", ".join(sorted({"people (persona principals)" if ":root" in t else t for t in trusted}))


def _grants(assembly: Assembly, stack: Stack, role: Resource) -> list[str]:
    found = []
    for other in assembly.stacks.values():
        for grant in other.of_type(*GRANTS):
            located = other.locate(grant_principal(grant))
            if not located or located[0] is not stack or located[1].logical_id != role.logical_id:
                continue
            resource = grant.prop("Resource") or {}
            permissions = "/".join(grant.prop("Permissions") or [])
            if "Database" in resource:
                what = f"database {text_of(dig(resource, 'Database', 'Name'))}"
            elif "Table" in resource:
                what = f"tables of {text_of(dig(resource, 'Table', 'DatabaseName'))}"
            elif "DataLocation" in resource:
                located_bucket = other.locate(dig(resource, "DataLocation", "ResourceArn"))
                what = f"location {_short(located_bucket[1].path) if located_bucket else '?'}"
            else:
                expression = dig(resource, "LFTagPolicy", "Expression") or []
                tags = " and ".join(f"{e['TagKey'].rsplit('_', 1)[-1]} in {e['TagValues']}" for e in expression)
                what = f"{dig(resource, 'LFTagPolicy', 'ResourceType').lower()}s tagged {tags}"
            found.append(f"{permissions} on {what}")
    return sorted(found)


def rows(assembly: Assembly) -> Iterator[list[str]]:
    """One row per role that reaches data: role, trusted by, objects, keys, Lake Formation."""
    for stack in assembly.stacks.values():
        for role, access in roles(stack):
            grants = _grants(assembly, stack, role)
            if not (access.objects or access.keys or grants):
                continue
            by_path = sorted(access.objects.items(), key=lambda item: item[0].path)
            objects = "; ".join(f"{_short(b.path)}: {_objects(a)}" for b, a in by_path)
            keys = "; ".join(
                f"{_short(k.path)}: {_key_use(a)}" for k, a in sorted(access.keys.items(), key=lambda i: i[0].path)
            )
            yield [_short(role.path), _trust(role), objects or "-", keys or "-", "; ".join(grants) or "-"]


def acknowledgements(assembly: Assembly) -> Iterator[tuple[str, str, str, str]]:
    """(tool, rule or finding, resource, reason) of every cfn-guard and cloudsplaining acknowledgement."""
    for stack in assembly.stacks.values():
        for resource in stack.resources.values():
            guard = resource.metadata.get("guard") or {}
            for rule in guard.get("SuppressedRules", []):
                yield "cfn-guard", rule, _short(resource.path), guard.get("Reasons", {}).get(rule, "")
            for item in (resource.metadata.get("cloudsplaining") or {}).get("acknowledged", []):
                yield "cloudsplaining", item["finding"], _short(resource.path), item["reason"]
