"""Who reaches which bucket, key and Glue database, read from the IAM policies of a template.

Shared by the data-access rules and the data-access report: for each role, the S3 object
actions it holds per bucket, the KMS actions per key (with whether they are limited to a
service through `kms:ViaService`), and the Glue databases its catalog actions name. Buckets
and keys are followed across stacks (Ref, GetAtt and named imports), so a grant in the Etl
stack is matched with the bucket and key of the DataLake stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from readiness.iam import attached_policies, statements
from readiness.model import Resource, Stack, as_list, dig, text_of

BUCKET = "AWS::S3::Bucket"
KEY = "AWS::KMS::Key"
ROLE = "AWS::IAM::Role"


@dataclass(frozen=True)
class Ref:
    """A resource of the assembly: its stack and logical ID (and construct path, for reports)."""

    stack: str
    logical_id: str
    path: str


@dataclass
class RoleAccess:
    """What one role may do with the lake's storage, keys and catalog."""

    role: Ref
    objects: dict[Ref, set[str]] = field(default_factory=dict)  # bucket -> s3 object actions
    keys: dict[Ref, dict[str, bool]] = field(default_factory=dict)  # key -> {action: only via a service}
    databases: dict[str, set[str]] = field(default_factory=dict)  # database name -> glue actions
    workgroups: set[Ref] = field(default_factory=set)

    def can(self, bucket: Ref, action: str) -> bool:
        return action in self.objects.get(bucket, set())


def ref_of(stack: Stack, resource: Resource) -> Ref:
    return Ref(stack.name, resource.logical_id, resource.path)


def _locate(stack: Stack, value: Any, resource_type: str) -> Ref | None:
    found = stack.locate(value)
    if found and found[1].type == resource_type:
        return ref_of(*found)
    return None


def _bucket_of_objects(stack: Stack, value: Any) -> Ref | None:
    """The bucket behind an object ARN such as `{"Fn::Join": ["", [<bucket ARN>, "/prefix*"]]}`."""
    parts = dig(value, "Fn::Join", 1)
    if isinstance(parts, list) and parts and len(parts) >= 2 and str(parts[1]).startswith("/"):
        return _locate(stack, parts[0], BUCKET)
    return None


def bucket_key(stack: Stack, bucket: Resource) -> Ref | None:
    """The KMS key of a bucket's default encryption, when it is a key of the assembly."""
    for rule in as_list(dig(bucket.properties, "BucketEncryption", "ServerSideEncryptionConfiguration")):
        key = dig(rule, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
        if key is not None:
            return _locate(stack, key, KEY)
    return None


def _actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in as_list(statement.get("Action")) if isinstance(a, str)]


def _databases(stack: Stack, resources: list[Any]) -> set[str]:
    """Glue database names in catalog ARNs (`database/<name>`, `table/<name>/...`); a Ref to an
    AWS::Glue::Database of the stack is read as its name."""
    names = set()
    for resource in resources:
        text = text_of(resource)
        for marker in (":database/", ":table/"):
            if marker in text:
                name = text.split(marker, 1)[1].split("/", 1)[0]
                database = stack.get(name.strip("${}")) if name.startswith("${") else None
                names.add(str(database.prop("DatabaseInput", "Name")) if database is not None else name)
    return names


def role_access(stack: Stack, role: Resource) -> RoleAccess:
    access = RoleAccess(ref_of(stack, role))
    for policy in attached_policies(stack, role):
        for statement in statements(policy.prop("PolicyDocument")):
            if statement.get("Effect") != "Allow":
                continue
            actions = _actions(statement)
            resources = as_list(statement.get("Resource"))
            for resource in resources:
                bucket = _bucket_of_objects(stack, resource)
                if bucket is not None:
                    access.objects.setdefault(bucket, set()).update(a for a in actions if a.startswith("s3:"))
                key = _locate(stack, resource, KEY)
                if key is not None:
                    via = "kms:ViaService" in str(statement.get("Condition", {}))
                    for action in (a for a in actions if a.startswith("kms:")):
                        current = access.keys.setdefault(key, {})
                        current[action] = current.get(action, True) and via
                workgroup = _locate(stack, resource, "AWS::Athena::WorkGroup")
                if workgroup is None and ":workgroup/" in text_of(resource):
                    target = text_of(resource).split(":workgroup/", 1)[1].strip("${}")
                    found = stack.get(target)
                    workgroup = ref_of(stack, found) if found is not None else None
                if workgroup is not None and any(a.startswith("athena:") for a in actions):
                    access.workgroups.add(workgroup)
            glue = [a for a in actions if a.startswith("glue:")]
            for database in _databases(stack, resources) if glue else set():
                access.databases.setdefault(database, set()).update(glue)
    return access


def roles(stack: Stack) -> Iterator[tuple[Resource, RoleAccess]]:
    for role in stack.of_type(ROLE):
        yield role, role_access(stack, role)


def resource_at(stack: Stack, ref: Ref) -> tuple[Stack, Resource] | None:
    """The stack and resource a :class:`Ref` names, within `stack`'s assembly."""
    stacks = stack.assembly.stacks if stack.assembly else {stack.name: stack}
    owner = stacks.get(ref.stack)
    resource = owner.get(ref.logical_id) if owner else None
    return (owner, resource) if owner is not None and resource is not None else None
