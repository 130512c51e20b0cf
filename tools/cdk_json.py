"""Edit one stage's block of cdk.json and nothing else.

A promotion is a reviewed change to `context.stages.<stage>`. The edit re-serialises only
that block (with the indentation it sits at) and keeps every other byte of the file as
it was, so the diff a person reviews is the promotion and nothing more.
"""

from __future__ import annotations

import copy
import difflib
import json
from typing import Any

STAGE_PATH = ("context", "stages")


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def value_span(text: str, path: tuple[str, ...]) -> tuple[int, int]:
    """Start and end offsets of the JSON value at `path` (object keys) in `text`."""
    decoder = json.JSONDecoder()
    start = _skip_space(text, 0)
    for key in path:
        if text[start] != "{":
            raise KeyError(f"{key}: not inside an object")
        index = _skip_space(text, start + 1)
        while True:
            if text[index] == "}":
                raise KeyError(key)
            name, index = decoder.raw_decode(text, index)
            index = _skip_space(text, index)
            assert text[index] == ":"
            value_start = _skip_space(text, index + 1)
            _, value_end = decoder.raw_decode(text, value_start)
            if name == key:
                start = value_start
                break
            index = _skip_space(text, value_end)
            if text[index] == ",":
                index = _skip_space(text, index + 1)
    _, end = decoder.raw_decode(text, start)
    return start, end


def replace_value(text: str, path: tuple[str, ...], value: Any) -> str:
    """`text` with the value at `path` re-serialised from `value`, indented where it stands."""
    start, end = value_span(text, path)
    line_start = text.rfind("\n", 0, start) + 1
    indent = len(text[line_start:start]) - len(text[line_start:start].lstrip(" "))
    rendered = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + " " * indent)
    return text[:start] + rendered + text[end:]


def stage_block(text: str, stage: str) -> dict[str, Any]:
    block: dict[str, Any] = json.loads(text)
    for key in (*STAGE_PATH, stage):
        block = block[key]
    return block


def pin_model_package(text: str, *, stage: str, variant: str, arn: str, baseline_url: str | None) -> str:
    """cdk.json with variant `variant` of `stage` serving the model package `arn`, compared for
    drift with `baseline_url` (the baseline of the package's training data; None: none known).

    The stage lists its variants when it changes them; a stage that keeps the default
    (one variant) gets an `inference.variants` entry naming it. The variant's
    `model_data_url`, which a package replaces, and a baseline of the model it served before
    are removed.
    """
    block = copy.deepcopy(stage_block(text, stage))
    inference = block.setdefault("inference", {})
    variants = inference.setdefault("variants", [{"name": variant}])
    entry = next((v for v in variants if v.get("name", "primary") == variant), None)
    if entry is None:
        raise KeyError(f"stage {stage} has no variant {variant!r} in cdk.json")
    entry.pop("model_data_url", None)
    entry.pop("baseline_url", None)
    entry["model_package_arn"] = arn
    if baseline_url is not None:
        entry["baseline_url"] = baseline_url
    return replace_value(text, (*STAGE_PATH, stage), block)


def unified_diff(before: str, after: str, name: str = "cdk.json") -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(lines)
