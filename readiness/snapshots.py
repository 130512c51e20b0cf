"""The committed template snapshots: what each stack of a stage looked like when last reviewed.

`tests/snapshot/__snapshots__/<stage>-<unit>.json` holds every template of every stage of
cdk.json (asset hashes and CDK versions masked); `make snapshots` refreshes them after a
change is reviewed. Readiness rules that judge an update, not a template, compare the
synthesized stack with its snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacks.names import STACK_PREFIX, UNITS

SNAPSHOTS = Path(__file__).resolve().parent.parent / "tests" / "snapshot" / "__snapshots__"


def snapshot_path(stage: str, unit: str, directory: Path = SNAPSHOTS) -> Path:
    return directory / f"{stage}-{unit}.json"


def stage_and_unit(stack_name: str) -> tuple[str, str] | None:
    """(stage, unit) of `MlPipeline-<stage>-<unit>`, or None for a stack of another app."""
    prefix = f"{STACK_PREFIX}-"
    if not stack_name.startswith(prefix):
        return None
    stage, _, unit = stack_name[len(prefix) :].rpartition("-")
    return (stage, unit) if stage and unit in UNITS else None


def committed_template(stack_name: str, directory: Path = SNAPSHOTS) -> Mapping[str, Any] | None:
    """The committed snapshot of a stack, or None when the stage has none (a stage added since)."""
    found = stage_and_unit(stack_name)
    if found is None:
        return None
    path = snapshot_path(*found, directory)
    if not path.is_file():
        return None
    template: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return template
