"""The cloud assembly as the rules see it: stacks, resources, references and dependencies.

Everything is read from files on disk (manifest, templates, metadata), so the checker
runs on any `cdk synth` output, offline. Tests build the same objects from plain dicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"
SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def references(value: Any) -> set[str]:
    """Logical IDs that `value` refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else str(item).split(".", 1)[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                template = item[0] if isinstance(item, list) else item
                if isinstance(template, str):
                    found |= set(SUB_REFERENCE.findall(template))
                if isinstance(item, list) and len(item) > 1:
                    found |= references(item[1])
            else:
                found |= references(item)
    return {name for name in found if not name.startswith("AWS::")}


def target_of(value: Any) -> str | None:
    """The logical ID behind `{"Ref": X}` or `{"Fn::GetAtt": [X, attr]}`, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, item),) = value.items()
        if key == "Ref" and isinstance(item, str):
            return item
        if key == "Fn::GetAtt":
            target = item[0] if isinstance(item, list) else str(item).split(".", 1)[0]
            return target if isinstance(target, str) else None
    return None


def getattr_of(value: Any) -> tuple[str, str] | None:
    """`(logical id, attribute)` of a `Fn::GetAtt`, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        item = value["Fn::GetAtt"]
        parts = item if isinstance(item, list) else str(item).split(".", 1)
        if len(parts) == 2 and all(isinstance(p, str) for p in parts):
            return parts[0], parts[1]
    return None


def dig(value: Any, *keys: str | int) -> Any:
    """`value[k1][k2]...`, or None as soon as a key is missing."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return None
        elif not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text_of(value: Any) -> str:
    """A readable rendering of a (possibly intrinsic) value, for matching and messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, item),) = value.items()
        if key == "Ref":
            return f"${{{item}}}"
        if key == "Fn::GetAtt":
            return "${" + ".".join(item if isinstance(item, list) else [str(item)]) + "}"
        if key == "Fn::Join" and isinstance(item, list) and len(item) == 2:
            return str(item[0]).join(text_of(part) for part in as_list(item[1]))
        if key == "Fn::Sub":
            return text_of(item[0] if isinstance(item, list) else item)
        if key == "Fn::ImportValue":
            return f"${{Import:{text_of(item)}}}"
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Resource:
    """One resource of a template."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...]
    metadata: Mapping[str, Any]
    path: str

    def prop(self, *keys: str | int) -> Any:
        return dig(self.properties, *keys)


@dataclass
class Stack:
    """One stack artifact: its template plus what the manifest says about it."""

    name: str
    template: Mapping[str, Any]
    template_file: Path | None = None
    region: str | None = None
    account: str | None = None
    execution_role_arn: str | None = None
    dependencies: tuple[str, ...] = ()
    paths: Mapping[str, str] = field(default_factory=dict)
    assembly: Assembly | None = None

    @cached_property
    def resources(self) -> dict[str, Resource]:
        found = {}
        for logical_id, body in (self.template.get("Resources") or {}).items():
            metadata = body.get("Metadata") or {}
            found[logical_id] = Resource(
                logical_id=logical_id,
                type=body.get("Type", ""),
                properties=body.get("Properties") or {},
                depends_on=tuple(as_list(body.get("DependsOn"))),
                metadata=metadata,
                path=metadata.get("aws:cdk:path") or self.paths.get(logical_id) or f"{self.name}/{logical_id}",
            )
        return found

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in types]

    def get(self, logical_id: str | None) -> Resource | None:
        return self.resources.get(logical_id) if logical_id else None

    def resolve(self, value: Any) -> Resource | None:
        """The resource of this stack a Ref/GetAtt points at (see :meth:`locate` for imports)."""
        return self.get(target_of(value))

    def locate(self, value: Any) -> tuple[Stack, Resource] | None:
        """The stack and resource a Ref/GetAtt points at, or an ``Fn::ImportValue`` of an
        export of another stack of the assembly."""
        resource = self.resolve(value)
        if resource is not None:
            return self, resource
        if isinstance(value, dict) and "Fn::ImportValue" in value and self.assembly:
            return self.assembly.exported(value["Fn::ImportValue"])
        return None

    @cached_property
    def _direct(self) -> dict[str, set[str]]:
        return {
            logical_id: (set(r.depends_on) | references(r.properties)) & set(self.resources)
            for logical_id, r in self.resources.items()
        }

    def dependencies_of(self, logical_id: str) -> set[str]:
        """Every resource `logical_id` waits for: DependsOn, Ref, GetAtt and Sub, transitively."""
        seen: set[str] = set()
        pending = list(self._direct.get(logical_id, ()))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self._direct.get(current, ()))
        return seen

    def depends_on(self, logical_id: str, other: str) -> bool:
        return other in self.dependencies_of(logical_id)

    def upstream(self) -> Iterator[Stack]:
        """This stack and every stack it is deployed after."""
        if self.assembly is None:
            yield self
            return
        seen: set[str] = set()
        pending = [self.name]
        while pending:
            name = pending.pop()
            if name in seen or name not in self.assembly.stacks:
                continue
            seen.add(name)
            stack = self.assembly.stacks[name]
            yield stack
            pending.extend(stack.dependencies)

    @cached_property
    def exports(self) -> dict[str, Any]:
        found = {}
        for output in (self.template.get("Outputs") or {}).values():
            name = dig(output, "Export", "Name")
            if isinstance(name, str):
                found[name] = output.get("Value")
        return found


@dataclass
class Assembly:
    """All stacks of one synthesized cloud assembly (nested assemblies included)."""

    stacks: dict[str, Stack]
    directory: Path | None = None

    def __post_init__(self) -> None:
        for stack in self.stacks.values():
            stack.assembly = self

    def exported(self, name: Any) -> tuple[Stack, Resource] | None:
        """The stack and resource behind `Fn::ImportValue` of an export name."""
        for stack in self.stacks.values():
            if isinstance(name, str) and name in stack.exports:
                resource = stack.resolve(stack.exports[name])
                return (stack, resource) if resource else None
        return None

    @classmethod
    def from_templates(cls, templates: Mapping[str, Mapping[str, Any]], *, region: str = "us-east-1") -> Assembly:
        """An assembly of in-memory templates (used by the rule tests)."""
        names = list(templates)
        return cls(
            {
                name: Stack(
                    name=name,
                    template=template,
                    region=region,
                    execution_role_arn=(
                        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
                        f"cdk-hnb659fds-cfn-exec-role-${{AWS::AccountId}}-{region}"
                    ),
                    dependencies=tuple(names[:index]),
                )
                for index, (name, template) in enumerate(templates.items())
            }
        )

    @classmethod
    def load(cls, directory: Path) -> Assembly:
        return cls(dict(_load_stacks(directory)), directory)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _load_stacks(directory: Path) -> Iterable[tuple[str, Stack]]:
    manifest = _read(directory / "manifest.json")
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") == NESTED_ASSEMBLY:
            yield from _load_stacks(directory / artifact["properties"]["directoryName"])
            continue
        if artifact.get("type") != STACK_ARTIFACT:
            continue
        props = artifact.get("properties", {})
        template_file = directory / props["templateFile"]
        metadata = artifact.get("metadata") or {}
        if artifact.get("additionalMetadataFile"):
            metadata = _read(directory / artifact["additionalMetadataFile"])
        paths = {
            entry["data"]: construct_path.lstrip("/")
            for construct_path, entries in metadata.items()
            for entry in entries
            if entry.get("type") == "aws:cdk:logicalId" and isinstance(entry.get("data"), str)
        }
        _, _, env = str(artifact.get("environment", "")).partition("aws://")
        account, _, region = env.partition("/")
        yield (
            name,
            Stack(
                name=name,
                template=_read(template_file),
                template_file=template_file,
                region=None if region in ("", "unknown-region") else region,
                account=None if account in ("", "unknown-account") else account,
                execution_role_arn=props.get("cloudFormationExecutionRoleArn"),
                dependencies=tuple(
                    d
                    for d in artifact.get("dependencies", [])
                    if manifest["artifacts"].get(d, {}).get("type") == STACK_ARTIFACT
                ),
                paths=paths,
            ),
        )
