"""docs/compliance.md: every rule of every cdk-nag pack, per stage, from the validation results.

Each rule is compliant, acknowledged (with the reason, on which construct) or not
applicable, for every stage in cdk.json. The input is one synthesized cloud assembly
per stage (`make gate` leaves them in build/gate/<stage>); the per-rule results come
from :mod:`readiness.packs`.

Run: `make compliance-report`, or `python -m tools.compliance_report build/gate [--check]`.
The test suite regenerates the report from its own assemblies and fails when the
committed file differs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from readiness.packs import PackEvaluation, RuleResult, evaluate_packs
from tools.generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "compliance.md"
HEADER = """# Compliance report

Every rule of the five cdk-nag packs that `cdk synth` runs, for every stage in `cdk.json`:
**compliant** (every resource it applies to passes), **acknowledged** (a finding is accepted on a
named construct, with the reason below) or **not applicable** (no resource of the kind it checks).
Counts are resources: `acknowledged (1 of 3)` means one of three resources carries an acknowledged
finding and the other two pass. Any unacknowledged finding fails synth, so no rule is listed as failed.

Generated from the synthesized cloud assemblies by `make compliance-report`; do not edit by hand
(the test suite fails when this file no longer matches the code).
"""


def _normalise(text: str, stage: str, region: str | None) -> str:
    text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(stage)}(?![A-Za-z0-9])", "<stage>", text)
    return text.replace(region, "<region>") if region else text


def _regions(assembly: Path) -> set[str]:
    manifest = (assembly / "manifest.json").read_text(encoding="utf-8")
    return set(re.findall(r'"environment": "aws://[^/"]+/([a-z0-9-]+)"', manifest)) - {"unknown-region"}


def _cell(result: RuleResult) -> str:
    flagged = {p for p, _ in result.acknowledged} | {f.rsplit(": ", 1)[0] for f in result.failed}
    applicable = len(set(result.compliant) | flagged)
    if result.status == "not applicable":
        return "not applicable"
    if result.status == "compliant":
        return f"compliant ({applicable})"
    return f"{result.status} ({len(flagged)} of {applicable})"


def _table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def render(evaluations: Mapping[str, PackEvaluation]) -> str:
    """The report for `{stage: evaluation}`; deterministic, so it can be compared in tests."""
    stages = sorted(evaluations)
    regions = {stage: sorted(_regions(evaluations[stage].assembly)) for stage in stages}
    packs = list(next(iter(evaluations.values())).packs)
    out = [HEADER]
    summary = [["pack", "rules", *[f"{stage}: compliant / acknowledged / not applicable" for stage in stages]]]
    for pack in packs:
        row = [pack, str(len(evaluations[stages[0]].packs[pack]))]
        for stage in stages:
            statuses = [r.status for r in evaluations[stage].packs[pack].values()]
            counts = [statuses.count(s) for s in ("compliant", "acknowledged", "not applicable")]
            failed = statuses.count("failed")
            row.append(" / ".join(map(str, counts)) + (f" / {failed} failed" if failed else ""))
        summary.append(row)
    out += ["## Summary\n", _table(summary), ""]
    for pack in packs:
        out.append(f"## {pack}\n")
        rows = [["rule", *stages, "finding it reports"]]
        acknowledgements: dict[tuple[str, ...], list[str]] = {}
        for rule_id in sorted(evaluations[stages[0]].packs[pack], key=_rule_order):
            results = {stage: evaluations[stage].packs[pack][rule_id] for stage in stages}
            info = results[stages[0]].info.rstrip(".").replace("\n", " ")
            rows.append([rule_id, *[_cell(results[s]) for s in stages], info])
            for stage, result in results.items():
                region = regions[stage][0] if len(regions[stage]) == 1 else None
                for _, ack in result.acknowledged:
                    key = tuple(_normalise(text, stage, region) for text in (ack.rule, ack.path, ack.reason))
                    if stage not in acknowledgements.setdefault(key, []):
                        acknowledgements[key].append(stage)
        out += [_table(rows), ""]
        if acknowledgements:
            out.append(f"### {pack}: acknowledgements\n")
            for (rule, path, reason), ack_stages in sorted(acknowledgements.items()):
                out.append(f"- `{rule}` on `{path}` ({', '.join(ack_stages)}): {reason}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _rule_order(rule_id: str) -> tuple[str, int, str]:
    match = re.match(r"(.*?)(\d+)$", rule_id)
    return (match.group(1), int(match.group(2)), "") if match else (rule_id, 0, rule_id)


def stage_assemblies(root: Path) -> dict[str, Path]:
    """`{stage: assembly}` for every sub-directory of `root` that is a cloud assembly."""
    return {d.name: d for d in sorted(root.iterdir()) if (d / "manifest.json").exists()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compliance_report", description=__doc__)
    parser.add_argument("root", type=Path, nargs="?", default=ROOT / "build" / "gate", help="one assembly per stage")
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the output file is not up to date")
    args = parser.parse_args(argv)
    assemblies = stage_assemblies(args.root)
    if not assemblies:
        print(f"error: no cloud assemblies under {args.root} (run `make gate` first)", file=sys.stderr)
        return 2
    text = render({stage: evaluate_packs(path) for stage, path in assemblies.items()})
    return write_or_check(args.output, text, check=args.check, regenerate="make compliance-report")


if __name__ == "__main__":
    sys.exit(main())
