"""Writes one benchmark's results into its own section of docs/benchmarks.md.

Each benchmark owns the block between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`,
so running one benchmark never disturbs the others' published numbers.
"""

from __future__ import annotations

import platform
import re
import statistics
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every figure is a ratio against a floor measured in the same run on the same machine, "
    "so the numbers travel between machines. Regenerate a section with the command it names.\n"
)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the section `name` of the benchmarks document."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    block = f"<!-- bench:{name} -->\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n<!-- /bench:{name} -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
