"""Printing and SARIF for readiness findings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from readiness.core import Finding, Rule, Status, rule_status
from readiness.model import Assembly

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_log(driver: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one tool run: its driver (name, rules...) and results."""
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a header row and aligned columns."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def by_rule(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.rule.id, []).append(finding)
    return grouped


def summary(findings: Sequence[Finding]) -> str:
    """One row per rule: its status over every stack, resources evaluated and failing."""
    rows = [["rule", "status", "resources", "non-compliant", "title"]]
    for rule_id, group in by_rule(findings).items():
        evaluated = [f for f in group if f.status is not Status.NOT_APPLICABLE]
        failed = [f for f in group if f.status is Status.NON_COMPLIANT]
        rows.append([rule_id, rule_status(group).value, str(len(evaluated)), str(len(failed)), group[0].rule.title])
    return table(rows)


def violations(findings: Sequence[Finding]) -> str:
    """Each non-compliant resource with what is wrong, why it fails at deploy time and the fix."""
    blocks = []
    for finding in findings:
        if finding.status is Status.NON_COMPLIANT:
            blocks.append(
                f"{finding.rule.id} {finding.path} (logical id {finding.logical_id}, stack {finding.stack})\n"
                f"  problem: {finding.problem}\n"
                f"  why:     {finding.rule.explanation}\n"
                f"  fix:     {finding.rule.fix}"
            )
    return "\n\n".join(blocks)


def _line_of(template_file: Path | None, logical_id: str | None) -> int:
    if template_file is None or logical_id is None or not template_file.exists():
        return 1
    needle = f'"{logical_id}": {{'
    for number, line in enumerate(template_file.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith(needle):
            return number
    return 1


def location(assembly: Assembly, stack: str, logical_id: str | None, base: Path) -> dict[str, Any]:
    """A SARIF location: the template file (relative to `base`) and the resource's line."""
    template_file = assembly.stacks[stack].template_file if stack in assembly.stacks else None
    uri = f"{stack}.template.json"
    if template_file is not None:
        resolved = template_file.resolve()
        uri = str(resolved.relative_to(base.resolve())) if resolved.is_relative_to(base.resolve()) else str(resolved)
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": _line_of(template_file, logical_id)},
        },
        "logicalLocations": [{"name": logical_id or stack, "kind": "resource"}],
    }


def sarif(
    assemblies: Sequence[tuple[Assembly, Sequence[Finding]]], rules: Sequence[Rule], base: Path
) -> dict[str, Any]:
    """SARIF 2.1.0 for code scanning: one result per non-compliant resource."""
    results = [
        {
            "ruleId": f.rule.id,
            "level": "error",
            "message": {"text": f"{f.path}: {f.problem}. Fix: {f.rule.fix}"},
            "locations": [location(assembly, f.stack, f.logical_id, base)],
        }
        for assembly, findings in assemblies
        for f in findings
        if f.status is Status.NON_COMPLIANT
    ]
    driver_rules = [
        {
            "id": r.id,
            "name": r.id.replace("-", ""),
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.explanation},
            "help": {"text": r.fix},
            "defaultConfiguration": {"level": "error"},
        }
        for r in rules
    ]
    return sarif_log({"name": "cdk-deploy-readiness", "rules": driver_rules}, results)


def write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
