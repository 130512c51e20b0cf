"""Hand-made cloud assemblies for tests of the tools that read `cdk synth` output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_assembly(
    directory: Path,
    templates: Mapping[str, Mapping[str, Any]],
    *,
    properties: Mapping[str, Any] | None = None,
    dependencies: Mapping[str, list[str]] | None = None,
    environment: str | None = None,
    version: str = "1",
    indent: int | None = None,
) -> Path:
    """Write one template per stack and a manifest naming them as stack artifacts.

    ``properties`` are added to every stack's artifact properties, ``dependencies``
    name each stack's artifact dependencies, ``environment`` is every stack's
    ``aws://account/region``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    for name, template in templates.items():
        (directory / f"{name}.template.json").write_text(json.dumps(template, indent=indent), encoding="utf-8")
        artifact: dict[str, Any] = {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": f"{name}.template.json", **(properties or {})},
        }
        if environment is not None:
            artifact["environment"] = environment
        if dependencies is not None:
            artifact["dependencies"] = dependencies.get(name, [])
        artifacts[name] = artifact
    manifest = {"version": version, "artifacts": artifacts}
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory
