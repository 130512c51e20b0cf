"""Masked snapshots of every template of every stage.

Asset hashes and CDK version strings are masked, so a snapshot changes only when the
infrastructure does. Review the diff, then refresh with `make snapshots`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from readiness.snapshots import SNAPSHOTS, snapshot_path
from tests.synth import SynthesizedStage

MASKS = (
    (re.compile(r"[0-9a-f]{64}"), "<asset-hash>"),
    (re.compile(r"\b2\.\d{2,3}\.\d+\b"), "<cdk-version>"),
)


def _mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def _stable(node: Any) -> Any:
    """IAM resource lists are ordered by their resolved text, asset hashes included:
    order them by their masked text so a new hash does not reorder the snapshot."""
    if isinstance(node, dict):
        return {
            k: sorted(map(_stable, v), key=lambda x: _mask(json.dumps(x, sort_keys=True)))
            if k == "Resource" and isinstance(v, list)
            else _stable(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_stable(v) for v in node]
    return node


def masked(template: dict[str, Any]) -> str:
    return _mask(json.dumps(_stable(template), indent=1, sort_keys=True)) + "\n"


def test_templates_match_snapshots(every_stage: SynthesizedStage) -> None:
    mismatched = []
    for unit, template in every_stage.templates.items():
        path = snapshot_path(every_stage.config.name, unit)
        current = masked(template)
        if os.environ.get("UPDATE_SNAPSHOTS") == "1":
            SNAPSHOTS.mkdir(exist_ok=True)
            path.write_text(current, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != current:
            mismatched.append(path.name)
    assert not mismatched, f"templates changed: {mismatched}; review and run `make snapshots`"


def test_snapshots_mask_asset_hashes(sandbox: SynthesizedStage) -> None:
    text = masked(sandbox.templates["DataLake"])
    assert "<asset-hash>" in text
    assert not re.search(r"[0-9a-f]{64}", text)


def test_no_stale_snapshot_files(every_stage: SynthesizedStage) -> None:
    expected = {f"{every_stage.config.name}-{unit}.json" for unit in every_stage.templates}
    present = {p.name for p in SNAPSHOTS.glob(f"{every_stage.config.name}-*.json")}
    assert present == expected
