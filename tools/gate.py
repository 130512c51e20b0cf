"""The security gate: synthesize every stage, then run every check, offline.

`make gate` (or `python -m tools.gate`) synthesizes each stage of cdk.json with the
pinned CDK CLI into build/gate/<stage> (the five cdk-nag packs and AWS's Control Tower
cfn-guard rules run during synth and fail it on an unacknowledged finding), then runs
over all assemblies:

- the cdk-nag packs and the cfn-guard rules rule by rule (compliant / acknowledged / not
  applicable / failed, and acknowledgements that no longer match a finding);
- the deploy-readiness rules (`readiness`);
- cfn-lint, checkov and cloudsplaining (IAM policy analysis of every policy document) on
  every template (one process each, side by side).

It prints one summary row per check, then every finding, and exits 1 on any failure.
`--sarif DIR` writes one SARIF file per tool for code scanning. No AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from readiness import RULES, Assembly, Finding, Status, evaluate, guard
from readiness.core import rule_status
from readiness.linters import Linters, LintResult
from readiness.packs import PackEvaluation, evaluate_packs
from readiness.report import by_rule, location, sarif, sarif_log, table, violations, write_json

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "gate"


def stages() -> list[str]:
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return sorted(context["stages"])


def synthesize(stage: str, outdir: Path) -> None:
    """`cdk synth` of one stage with the pinned CLI; raises with the CLI's output on failure."""
    bin_dir = ROOT / "node_modules" / ".bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run(
        [str(bin_dir / "cdk"), "synth", "--quiet", "-c", f"stage={stage}", "-c", "cfn-guard=true", "-o", str(outdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"cdk synth -c stage={stage} failed:\n{completed.stdout}{completed.stderr}")


def pack_rows(evaluations: Sequence[PackEvaluation]) -> list[list[str]]:
    """One row per pack; a rule counts once, with its worst status over the stages."""
    order = ("failed", "acknowledged", "compliant", "not applicable")
    rows = []
    for pack in evaluations[0].packs:
        worst: dict[str, str] = {}
        for evaluation in evaluations:
            for rule_id, result in evaluation.packs[pack].items():
                current = worst.get(rule_id, "not applicable")
                worst[rule_id] = min(current, result.status, key=order.index)
        statuses = list(worst.values())
        evaluated = len(statuses) - statuses.count("not applicable")
        rows.append(
            [
                f"cdk-nag {pack}",
                f"{evaluated} of {len(statuses)} rules",
                str(statuses.count("compliant")),
                str(statuses.count("acknowledged")),
                str(statuses.count("failed")),
            ]
        )
    return rows


def guard_row(evaluation: guard.GuardEvaluation) -> list[str]:
    statuses = [rule.status for rule in evaluation.rules.values()]
    evaluated = len(statuses) - statuses.count("not applicable")
    counts = [str(statuses.count(s)) for s in ("compliant", "acknowledged", "failed")]
    return ["cfn-guard Control Tower", f"{evaluated} of {len(statuses)} rules", *counts]


def readiness_row(findings: Sequence[Finding]) -> list[str]:
    statuses = [rule_status(group) for group in by_rule(findings).values()]
    failed = statuses.count(Status.NON_COMPLIANT)
    passed = statuses.count(Status.COMPLIANT)
    evaluated = failed + passed
    return ["deploy readiness", f"{evaluated} of {len(RULES)} rules", str(passed), "0", str(failed)]


def lint_row(result: LintResult, unit: str) -> list[str]:
    return [result.tool, f"{result.evaluated} {unit}", str(result.passed), str(result.skipped), str(result.failed)]


def nag_sarif(evaluations: Sequence[tuple[PackEvaluation, Assembly]]) -> dict[str, Any]:
    """Pack findings as SARIF (each evaluation with its loaded assembly): failures as
    errors, acknowledgements as suppressed results."""
    results = []
    rules: dict[str, dict[str, Any]] = {}
    for evaluation, assembly in evaluations:
        logical = {r.path: (s.name, r.logical_id) for s in assembly.stacks.values() for r in s.resources.values()}
        for result in evaluation.results():
            rules.setdefault(result.rule, {"id": result.rule, "shortDescription": {"text": result.info}})
            entries: list[tuple[str, str, str | None]] = [(p, a.rule, a.reason) for p, a in result.acknowledged]
            entries += [(f.rsplit(": ", 1)[0], f.rsplit(": ", 1)[-1], None) for f in result.failed]
            for path, finding, reason in entries:
                stack, logical_id = logical.get(path, (path.split("/")[0], None))
                item: dict[str, Any] = {
                    "ruleId": result.rule,
                    "level": "error",
                    "message": {"text": f"{finding} on {path}: {result.info}"},
                    "locations": [location(assembly, stack, logical_id, ROOT)],
                }
                if reason is not None:
                    item["suppressions"] = [{"kind": "inSource", "justification": reason}]
                results.append(item)
    return sarif_log({"name": "cdk-nag", "rules": list(rules.values())}, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gate", description=__doc__)
    parser.add_argument("--stage", action="append", dest="stages", help="only these stages (default: all in cdk.json)")
    parser.add_argument("--out", type=Path, default=BUILD, help="where the stage assemblies go")
    parser.add_argument("--no-synth", action="store_true", help="check the assemblies already in --out")
    parser.add_argument("--synth-only", action="store_true", help="synthesize every stage and stop")
    parser.add_argument("--sarif", type=Path, help="write one SARIF file per tool into this directory")
    parser.add_argument("--record-benchmark", action="store_true", help="write the wall time to docs/benchmarks.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    names = args.stages or stages()
    outdirs = {stage: args.out / stage for stage in names}

    if not args.no_synth:
        with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
            list(pool.map(lambda item: synthesize(*item), outdirs.items()))
        print(f"synthesized {', '.join(names)} into {args.out} (all compliance packs passed)")
    synthesized = time.perf_counter()
    if args.synth_only:
        return 0

    assemblies = {stage: Assembly.load(path) for stage, path in outdirs.items()}
    templates = [s.template_file for a in assemblies.values() for s in a.stacks.values() if s.template_file]
    regions = sorted({s.region for a in assemblies.values() for s in a.stacks.values() if s.region}) or ["us-east-1"]
    linters = Linters(templates, regions=regions)
    try:
        evaluations = [evaluate_packs(path) for path in outdirs.values()]
        guard_evaluation = guard.evaluate(templates)
        findings = {stage: evaluate(assembly, RULES) for stage, assembly in assemblies.items()}
        checked = time.perf_counter()
        cfn_lint, checkov, cloudsplaining = linters.cfn_lint(), linters.checkov(), linters.cloudsplaining()
    finally:
        linters.close()
    linted = time.perf_counter()

    rows = [["check", "evaluated", "passed", "acknowledged", "failed"], *pack_rows(evaluations)]
    rows.append(guard_row(guard_evaluation))
    all_findings = [f for group in findings.values() for f in group]
    rows.append(readiness_row(all_findings))
    rows.append(lint_row(cfn_lint, "templates"))
    if checkov is not None:
        rows.append(lint_row(checkov, "checks"))
    if cloudsplaining is not None:
        rows.append(lint_row(cloudsplaining, "policies"))
    print()
    print(table(rows))

    problems = []
    for evaluation in evaluations:
        problems += [f"cdk-nag: {f}" for r in evaluation.results() for f in r.failed]
        problems += [
            f"cdk-nag: stale acknowledgement {a.rule} on {a.path}: it matches no finding, remove it"
            for a in evaluation.stale
        ]
    problems += [f"cfn-guard: {f}" for f in guard_evaluation.failures()]
    for stage, group in findings.items():
        if any(f.status is Status.NON_COMPLIANT for f in group):
            problems.append(f"deploy readiness ({stage}):\n{violations(group)}")
    problems += [f"cfn-lint: {f}" for f in cfn_lint.failures]
    if checkov is None:
        problems.append("checkov: not installed (make creates .venv-checkov from requirements-checkov.txt)")
    else:
        problems += [f"checkov: {f}" for f in checkov.failures]
    if cloudsplaining is not None:
        problems += [f"cloudsplaining: {f}" for f in cloudsplaining.failures]

    if args.sarif:
        args.sarif.mkdir(parents=True, exist_ok=True)
        if not (args.sarif / ".gitignore").exists():
            (args.sarif / ".gitignore").write_text("*\n", encoding="utf-8")
        write_json(args.sarif / "cdk-nag.sarif", nag_sarif(list(zip(evaluations, assemblies.values(), strict=True))))
        write_json(
            args.sarif / "readiness.sarif",
            sarif(list(zip(assemblies.values(), findings.values(), strict=True)), RULES, ROOT),
        )
        if cfn_lint.sarif:
            write_json(args.sarif / "cfn-lint.sarif", cfn_lint.sarif)
        for result in (checkov, cloudsplaining):
            if result is not None and result.sarif:
                write_json(args.sarif / f"{result.tool}.sarif", result.sarif)
        print(f"SARIF reports in {args.sarif}")

    finished = time.perf_counter()
    timings = {
        "synth": synthesized - started,
        "packs, cfn-guard and readiness": checked - synthesized,
        "cfn-lint, checkov and cloudsplaining (rest)": linted - checked,
        "total": finished - started,
    }
    print("\n" + "  ".join(f"{name}: {seconds:.1f} s" for name, seconds in timings.items()))
    if args.record_benchmark:
        record_benchmark(names, timings, len(templates))

    if problems:
        print("\n" + "\n\n".join(problems), file=sys.stderr)
        print(f"\ngate: FAILED ({len(problems)} finding(s))", file=sys.stderr)
        return 1
    print("gate: passed")
    return 0


def record_benchmark(names: Sequence[str], timings: dict[str, float], templates: int) -> None:
    from benchmarks.report import write_section

    rows = "\n".join(f"| {name} | {seconds:.1f} |" for name, seconds in timings.items())
    ratio = timings["total"] / timings["synth"] if timings["synth"] else float("nan")
    body = (
        "## Security gate: `make gate`\n\n"
        f"`python -m tools.gate --record-benchmark` - `cdk synth` of every stage ({', '.join(names)}; stages "
        f"synthesized in parallel, all five packs and the cfn-guard plugin), then the per-rule pack "
        f"evaluation, the cfn-guard rules, the deploy-readiness rules, cfn-lint, checkov and cloudsplaining over "
        f"{templates} templates.\n\n"
        f"| phase | wall seconds |\n| --- | --- |\n{rows}\n\n"
        f"**Ratio: {ratio:.2f}x** the synth alone (the floor every gate run pays)."
    )
    write_section("gate", body)


if __name__ == "__main__":
    sys.exit(main())
