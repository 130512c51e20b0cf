"""Writing (or checking) a generated document: one behaviour for every generator."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(path: Path, text: str, *, check: bool, regenerate: str) -> int:
    """Write `text` to `path`, or with `check` exit 1 when the committed file differs.

    `regenerate` is the command a user runs to bring the file up to date.
    """
    if check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"error: {path} is stale; regenerate it with `{regenerate}`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
