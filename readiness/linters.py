"""cfn-lint, checkov and cloudsplaining over synthesized templates: one process each, side by side.

cfn-lint runs from the main virtualenv; checkov needs dependencies that conflict with
the test tooling, so it lives in its own virtualenv (`.venv-checkov`, created by the
Makefile from requirements-checkov.txt) and always runs as a subprocess, like
cloudsplaining (a checkov dependency, see readiness.policy_analysis). cfn-lint and checkov
write SARIF; the summary counts come from that SARIF (cfn-lint) and checkov's JSON report.
Skips are recorded on the resources themselves: `Metadata.checkov.skip`,
`Metadata.cfn-lint.config.ignore_checks` and `Metadata.cloudsplaining.acknowledged`
(see stacks.compliance).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readiness import policy_analysis
from readiness.report import sarif_log

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_VENV = ROOT / ".venv-checkov"
CLOUDSPLAINING_SCAN = Path(__file__).with_name("cloudsplaining_scan.py")


@dataclass
class LintResult:
    """What one linter found over all templates."""

    tool: str
    evaluated: int = 0
    passed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    sarif: dict[str, Any] | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)


def checkov_executable() -> Path | None:
    """checkov from its own virtualenv, else from PATH; None when not installed."""
    candidate = CHECKOV_VENV / "bin" / "checkov"
    if candidate.exists():
        return candidate
    found = shutil.which("checkov")
    return Path(found) if found else None


def cfn_lint_executable() -> Path:
    candidate = Path(sys.executable).with_name("cfn-lint")
    if candidate.exists():
        return candidate
    found = shutil.which("cfn-lint")
    if not found:
        raise FileNotFoundError("cfn-lint is not installed (pip install -r requirements-dev.txt)")
    return Path(found)


def checkov_python() -> Path | None:
    """The Python of checkov's virtualenv (which has cloudsplaining); None when not installed."""
    candidate = CHECKOV_VENV / "bin" / "python"
    return candidate if (CHECKOV_VENV / "bin" / "checkov").exists() and candidate.exists() else None


class Linters:
    """Starts cfn-lint, checkov and cloudsplaining over `templates` at once; each result
    method waits for its tool."""

    def __init__(self, templates: Sequence[Path], *, regions: Sequence[str] = ("us-east-1",), checkov: bool = True):
        self.templates = [Path(t).resolve() for t in templates]
        names = [_relative(t) for t in self.templates]
        self.workdir = Path(tempfile.mkdtemp(prefix="lint-"))
        self._cfn_lint = subprocess.Popen(
            [
                str(cfn_lint_executable()),
                "--format",
                "json",
                "--regions",
                *sorted(set(regions)),
                "--",
                *names,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        executable = checkov_executable() if checkov else None
        self._checkov = None
        if executable is not None:
            args = [str(executable), "--framework", "cloudformation", "--skip-download", "--compact"]
            for name in names:
                args += ["-f", name]
            args += ["-o", "json", "-o", "sarif", "--output-file-path", str(self.workdir)]
            self._checkov = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "LOG_LEVEL": "ERROR"},
            )
        python = checkov_python() if checkov else None
        self._policies, self._policy_input = policy_analysis.scan_input(self.templates)
        self._cloudsplaining = None
        if python is not None:
            self._cloudsplaining = subprocess.Popen(
                [str(python), str(CLOUDSPLAINING_SCAN)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

    def cfn_lint(self) -> LintResult:
        stdout, stderr = self._cfn_lint.communicate()
        if self._cfn_lint.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) or not stdout.strip():
            raise RuntimeError(f"cfn-lint failed (exit {self._cfn_lint.returncode}): {stderr.strip()[-2000:]}")
        matches = json.loads(stdout)
        result = LintResult("cfn-lint", evaluated=len(self.templates), sarif=cfn_lint_sarif(matches))
        failing_files = set()
        for match in matches:
            failing_files.add(str(Path(ROOT, match["Filename"]).resolve()))
            line = match["Location"]["Start"]["LineNumber"]
            result.failures.append(f"{match['Rule']['Id']} {Path(match['Filename']).name}:{line} {match['Message']}")
        result.passed = len(set(map(str, self.templates)) - failing_files)
        result.skipped = sum(_ignore_directives(t) for t in self.templates)
        return result

    def checkov(self) -> LintResult | None:
        if self._checkov is None:
            return None
        _, stderr = self._checkov.communicate()
        report_file = self.workdir / "results_json.json"
        if not report_file.exists():
            raise RuntimeError(
                f"checkov produced no report (exit {self._checkov.returncode}): {stderr.strip()[-2000:]}"
            )
        reports = json.loads(report_file.read_text(encoding="utf-8"))
        result = LintResult("checkov")
        for report in reports if isinstance(reports, list) else [reports]:
            checks = report.get("results", {})
            result.passed += len(checks.get("passed_checks", []))
            result.skipped += len(checks.get("skipped_checks", []))
            for check in checks.get("failed_checks", []):
                result.failures.append(
                    f"{check['check_id']} {Path(check['file_path']).name} {check['resource']}: {check['check_name']}"
                )
        result.evaluated = result.passed + result.skipped + result.failed
        sarif_file = self.workdir / "results_sarif.sarif"
        result.sarif = json.loads(sarif_file.read_text(encoding="utf-8")) if sarif_file.exists() else None
        return result

    def cloudsplaining(self) -> LintResult | None:
        """Every policy document scanned; acknowledged findings count as skipped."""
        if self._cloudsplaining is None:
            return None
        stdout, stderr = self._cloudsplaining.communicate(self._policy_input)
        if self._cloudsplaining.returncode != 0:
            raise RuntimeError(f"cloudsplaining failed (exit {self._cloudsplaining.returncode}): {stderr[-2000:]}")
        analysis = policy_analysis.evaluate(self._policies, json.loads(stdout))
        results = [
            {"ruleId": failure.split(" ", 1)[0], "level": "error", "message": {"text": failure}}
            for failure in analysis.failures
        ]
        driver = {"name": "cloudsplaining", "informationUri": "https://github.com/salesforce/cloudsplaining"}
        return LintResult(
            "cloudsplaining",
            evaluated=analysis.documents,
            passed=analysis.clean,
            skipped=len(analysis.acknowledged),
            failures=analysis.failures,
            sarif=sarif_log(driver, results),
        )

    def close(self) -> None:
        for process in (self._cfn_lint, self._checkov, self._cloudsplaining):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _relative(path: Path) -> str:
    """Paths under the repository are given relative to it, so SARIF locations map to files."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def cfn_lint_sarif(matches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """cfn-lint's JSON matches as SARIF 2.1.0 (its own SARIF output needs an optional extra)."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for match in matches:
        rule = match["Rule"]
        rules.setdefault(
            rule["Id"],
            {
                "id": rule["Id"],
                "shortDescription": {"text": rule.get("ShortDescription", rule["Id"])},
                "fullDescription": {"text": rule.get("Description", "")},
                "helpUri": rule.get("Source", ""),
            },
        )
        start = match["Location"]["Start"]
        results.append(
            {
                "ruleId": rule["Id"],
                "level": {"Error": "error", "Warning": "warning"}.get(match["Level"], "note"),
                "message": {"text": match["Message"]},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": match["Filename"]},
                            "region": {
                                "startLine": max(1, start["LineNumber"]),
                                "startColumn": max(1, start["ColumnNumber"]),
                            },
                        }
                    }
                ],
            }
        )
    driver = {
        "name": "cfn-lint",
        "informationUri": "https://github.com/aws-cloudformation/cfn-lint",
        "rules": list(rules.values()),
    }
    return sarif_log(driver, results)


def _ignore_directives(template: Path) -> int:
    resources = json.loads(template.read_text(encoding="utf-8")).get("Resources", {})
    return sum(
        len(((body.get("Metadata") or {}).get("cfn-lint") or {}).get("config", {}).get("ignore_checks", []))
        for body in resources.values()
    )
