"""Generates docs/configuration.md: every stage setting, its default and what is allowed.

The reference is built from the typed config in `stacks/config.py`, so it cannot drift
from what synth accepts; a test fails when the committed file is stale.
Run: `python -m tools.config_reference` (`--check` fails when the file is stale).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, get_type_hints

from stacks import config as cfg
from tools.generated import write_or_check

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
HEADER = """# Stage configuration reference

Stages live under `context.stages` in `cdk.json` and are chosen with `-c stage=NAME`.
A stage lists only what it changes; everything else takes the default below. A value
outside what is allowed stops `cdk synth` with the key path, the value and this rule.
Generated from `stacks/config.py` by `python -m tools.config_reference`; do not edit.
"""


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _render(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "see below"
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return f"{len(value)} item(s), see below"
    return f"`{json.dumps(value if not isinstance(value, tuple) else list(value))}`"


def _allowed(tp: Any, meta: dict[str, Any]) -> str:
    return cfg._allowed(tp, meta).removeprefix("must be ").replace("|", chr(92) + "|")


def _fixed(cls: Any) -> list[str]:
    """Fields the loader fills in itself (the stage name is the key of the block), as sentences."""
    hints = get_type_hints(cls)
    return [
        f"`{f.name}` is the key of the block, not a setting inside it: {_allowed(hints[f.name], dict(f.metadata))}."
        for f in dataclasses.fields(cls)
        if f.metadata.get("fixed")
    ]


def _rows(cls: Any, prefix: str, instance: Any = None) -> tuple[list[str], list[tuple[str, Any, Any]]]:
    """Rows of `cls`; defaults come from `instance` when a parent field sets its own (api.function)."""
    rows, nested = [], []
    hints = get_type_hints(cls)
    for f in cfg._settable(cls):
        default = getattr(instance, f.name) if instance is not None else _default(f)
        tp = hints[f.name]
        inner = tp.__args__[0] if getattr(tp, "__origin__", None) is tuple else tp
        if dataclasses.is_dataclass(inner):
            item = default if inner is tp else None
            nested.append((f"{prefix}{f.name}{'[]' if inner is not tp else ''}", inner, item))
        meta = dict(f.metadata)
        allowed = _allowed(tp, meta) if meta else "see below"
        rows.append(f"| `{prefix}{f.name}` | {_render(default)} | {allowed} |")
    return rows, nested


def render() -> str:
    sections = [HEADER]
    queue: list[tuple[str, Any, Any]] = [("", cfg.StageConfig, None)]
    while queue:
        prefix, cls, instance = queue.pop(0)
        rows, nested = _rows(cls, f"{prefix}." if prefix else "", instance)
        title = prefix or "stage"
        doc = "\n\n".join([(cls.__doc__ or "").strip().splitlines()[0], *_fixed(cls)])
        sections.append(
            f"## `{title}`\n\n{doc}\n\n| key | default | allowed |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"
        )
        queue.extend(nested)
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    return write_or_check(DOC, render(), check=check, regenerate="python -m tools.config_reference")


if __name__ == "__main__":
    sys.exit(main())
