"""One-screen summary of a synthesized cloud assembly: stacks, resources, compliance.

Run after `cdk synth` (the Makefile does): `python -m tools.synth_summary [cdk.out]`.
It reads only the assembly on disk, so reviewers can run it on any synth output.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def stacks_of(assembly: Path) -> list[dict[str, Any]]:
    """Stack artifacts of the assembly's manifest, in manifest order."""
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    stacks = []
    for name, artifact in manifest["artifacts"].items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        template = json.loads((assembly / props["templateFile"]).read_text(encoding="utf-8"))
        stacks.append(
            {"name": name, "template": template, "termination_protection": bool(props.get("terminationProtection"))}
        )
    return stacks


def compliance(assembly: Path) -> list[tuple[str, str, int]]:
    """(pack, status, unacknowledged findings) from the policy validation report."""
    report_file = assembly / "policy-validation-report.json"
    if not report_file.exists():
        return []
    report = json.loads(report_file.read_text(encoding="utf-8"))
    return [
        (
            p["summary"]["pluginName"],
            p["summary"]["status"],
            sum(len(v["violatingResources"]) for v in p["violations"] if v.get("severity") != "info"),
        )
        for p in report["pluginReports"]
    ]


def summarise(assembly: Path) -> str:
    lines = [f"Cloud assembly {assembly}"]
    total = 0
    for stack in stacks_of(assembly):
        resources = stack["template"].get("Resources", {})
        types = Counter(r["Type"] for r in resources.values() if r["Type"] != "AWS::CDK::Metadata")
        total += sum(types.values())
        protection = "termination protection on" if stack["termination_protection"] else "destroyable"
        lines.append(f"  {stack['name']}: {sum(types.values())} resources ({protection})")
        top = ", ".join(f"{t.split('::', 1)[1]} x{n}" for t, n in types.most_common(6))
        lines.append(f"      {top}")
    lines.append(f"  total: {total} resources")
    packs = compliance(assembly)
    if not (assembly / "policy-validation-report.json").exists():
        lines.append("Compliance: no validation report in the assembly (was synth run with the packs?)")
    elif not packs:
        lines.append("Compliance: every pack passed with 0 unacknowledged findings")
    else:
        lines.append("Compliance (policy validation plugins, unacknowledged findings):")
        lines += [f"  {name:<24} {status:<8} {count}" for name, status, count in packs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    assembly = Path(args[0] if args else "cdk.out")
    print(summarise(assembly))
    return 0


if __name__ == "__main__":
    sys.exit(main())
