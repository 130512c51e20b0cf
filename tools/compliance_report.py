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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from readiness.model import Assembly
from readiness.packs import PackEvaluation, RuleResult, evaluate_packs
from tools import data_access
from tools.generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "compliance.md"
HEADER = """# Compliance report

Every rule of the five cdk-nag packs that `cdk synth` runs, for every stage in `cdk.json`:
**compliant** (every resource it applies to passes), **acknowledged** (a finding is accepted on a
named construct, with the reason below) or **not applicable** (no resource of the kind it checks).
Counts are resources: `acknowledged (1 of 3)` means one of three resources carries an acknowledged
finding and the other two pass. Any unacknowledged finding fails synth, so no rule is listed as failed.

After the packs: who reaches which data (per role, from the templates), the acknowledgements of
the other gate tools (cfn-guard, cloudsplaining), and how each finding of the security review is
fixed, which check guards it, and what is accepted with its reason.

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
    out += _data_access_sections(evaluations, regions)
    out.append(REVIEW)
    return "\n".join(out).rstrip() + "\n"


DATA_ACCESS = """## Data access

Who reaches which data, read from the IAM policies and Lake Formation grants of the
templates (`tools/data_access.py`): for each role, the buckets whose objects it may read, add
or delete, the keys it may use (through a service when its key statement carries
`kms:ViaService`), and its Lake Formation grants. Roles that reach no data are left out.
"""


def _by_stage(
    evaluations: Mapping[str, PackEvaluation],
    regions: Mapping[str, list[str]],
    lines: Callable[[Assembly], Iterable[Sequence[str]]],
) -> dict[tuple[tuple[str, ...], ...], list[str]]:
    """Each stage's normalised rows, grouped: stages with the same rows share one table."""
    grouped: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for stage in sorted(evaluations):
        region = regions[stage][0] if len(regions[stage]) == 1 else None
        found = tuple(
            tuple(_normalise(cell, stage, region) for cell in row)
            for row in lines(Assembly.load(evaluations[stage].assembly))
        )
        grouped.setdefault(found, []).append(stage)
    return grouped


def _data_access_sections(evaluations: Mapping[str, PackEvaluation], regions: Mapping[str, list[str]]) -> list[str]:
    out = [DATA_ACCESS]
    for found, stages in _by_stage(evaluations, regions, data_access.rows).items():
        out.append(f"### Data access: {', '.join(stages)}\n")
        header = ["role", "trusted by", "objects (bucket: access)", "keys", "Lake Formation grants"]
        out += [_table([header, *[list(row) for row in found]]), ""]
    out.append("## cfn-guard and policy analysis acknowledgements\n")
    acknowledged: dict[tuple[str, ...], list[str]] = {}
    for found, stages in _by_stage(evaluations, regions, data_access.acknowledgements).items():
        for item in found:
            acknowledged.setdefault(item, []).extend(stages)
    for (tool, rule, where, reason), stages in sorted(acknowledged.items()):
        out.append(f"- {tool} `{rule}` on `{where}` ({', '.join(sorted(stages))}): {reason}")
    out.append("")
    return out


REVIEW = """## Security review findings

Each finding of the review, the change that fixes it at the source, the check that now fails
the gate if it comes back, and what remains accepted (with the reason).

| # | finding | fixed by | guarded by |
| --- | --- | --- | --- |
| 1 | Lake Formation did not govern the tables (`IAMAllowedPrincipals` on new tables) | both databases set `CreateTableDefaultPermissions: []`; explicit grants for the crawler (database) and personas (LF-tags); `stacks.lake_grants` for later readers; the account-wide defaults are unchanged (deploy guide: what an account with existing tables must revoke) | RDY-LF7, RDY-LF8, RDY-LF9; unit tests on every stage |
| 2 | Personas shared one workgroup and `results/` prefix | one enforced workgroup, results bucket and results key per persona; each role reaches only its own | RDY-ATH1; the data-access table above |
| 3 | Persona roles trusted the whole account | trust only `personas.*` principals (ArnLike `aws:PrincipalArn`); sandbox without principals requires MFA; config refuses an empty list elsewhere | config validation; unit tests of both stages |
| 4 | One key for PII and non-PII, no key administrators | keys per zone (raw, curated, capture), per persona's results and for the catalog; key policies give the deployment role and `keys.admin_principals` administration only, account principals use only (zone keys only through S3, the catalog key only through Glue); identity statements carry `kms:ViaService` and the bucket's `aws:s3:arn` context; writers get no `s3:GetObject` | RDY-KMS1; cloudsplaining; unit tests |
| 5 | No data perimeter | VPC endpoint policies (this account's principals; for S3, KMS, Logs and the SageMaker runtime this account's resources; the ECR layer bucket for image pulls); data bucket policies deny other accounts and uploads naming another algorithm or key | unit tests; checkov and cfn-guard bucket rules |
| 6 | Audit could be erased and expired | Object Lock on the trail bucket (governance on sandbox, compliance elsewhere); at least 365 days of log retention outside sandbox; data events for the capture zone and the persona results; CloudTrail admitted only with this trail's `aws:SourceArn` and the key's `aws:cloudtrail:arn` context | config validation; cfn-guard CT.CLOUDWATCH.PR.2 and CT.S3.PR.9; unit tests |
| 7 | Confused deputy | Firehose trust requires `sts:ExternalId`; flow logs, SageMaker and CloudTrail `aws:SourceAccount`/`aws:SourceArn`; the alarm topic, alarm key and ETL key admit services only for this account's alarms, rules and topics; API Gateway's Lambda permissions carry `SourceAccount` | RDY-IAM1; cfn-guard CT.LAMBDA.PR.2; unit tests |
| 8 | Over-broad grants | personas lose `kms:Encrypt` and delete; Firehose and data capture only add objects; ENI create/delete actions need `ec2:Vpc` of this VPC; key grants only for AWS resources | RDY-KMS1; cloudsplaining; cfn-guard CT.KMS.PR.3 |

Accepted, with the reason:

- **Firehose keeps `kms:Decrypt` on the raw key**, only through S3 (`kms:ViaService`) and for the raw
  bucket's encryption context: S3 needs the writer's decrypt to complete multipart uploads of
  Firehose's large objects. Without `s3:GetObject` the role still cannot read the zone (RDY-KMS1).
- **The Glue, Lambda, Lake Formation registration and API Gateway roles trust their service without
  source conditions**: these services do not document putting `aws:SourceAccount`/`aws:SourceArn`
  in the request when they assume a role, so a condition would stop the role from working;
  `iam:PassRole` decides who may hand the roles to them (RDY-IAM1 checks the services that do).
- **The Glue job has no table grant**: it reads and writes S3 paths with its own credentials and never
  the catalog; it holds data-location access on the curated zone.
- **Object Lock only on the trail bucket**: the zones hold personal data that must stay erasable and
  age out by lifecycle (cfn-guard acknowledgements above).
- **Sandbox stages may keep logs shorter** than a year and use governance-mode Object Lock, so they can
  be torn down; the config refuses both elsewhere.
"""  # noqa: E501 (markdown table rows)


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
