"""`python -m readiness ASSEMBLY [ASSEMBLY ...] [--sarif FILE]`: exit 1 on any violation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from readiness import RULES, Assembly, Status, evaluate
from readiness.report import sarif, summary, violations, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m readiness", description=__doc__)
    parser.add_argument(
        "assemblies", nargs="*", type=Path, default=[Path("cdk.out")], help="cloud assembly directories"
    )
    parser.add_argument("--sarif", type=Path, help="also write the results as SARIF 2.1.0")
    args = parser.parse_args(argv)
    checked = []
    failed = 0
    for directory in args.assemblies:
        assembly = Assembly.load(directory)
        findings = evaluate(assembly, RULES)
        checked.append((assembly, findings))
        bad = [f for f in findings if f.status is Status.NON_COMPLIANT]
        failed += len(bad)
        print(f"Deploy readiness: {directory} ({len(assembly.stacks)} stacks, {len(RULES)} rules)")
        print(summary(findings))
        if bad:
            print()
            print(violations(findings))
        print()
    if args.sarif:
        write_json(args.sarif, sarif(checked, RULES, Path.cwd()))
    if failed:
        print(f"error: {failed} deploy-readiness violation(s); see the fixes above", file=sys.stderr)
        return 1
    print("Deploy readiness: no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
