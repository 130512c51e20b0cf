"""Per-rule results of the cdk-nag packs for a synthesized cloud assembly.

cdk-nag 3.x runs as CDK policy-validation plugins and reports only unacknowledged
non-compliant findings (its NagPackProps take `verbose` and
`writeSuppressionsToCloudFormation`, no per-rule report). To show every rule as
compliant, acknowledged or not applicable, `packs.js` rebuilds the construct tree the
assembly records in tree.json and runs the same pack classes over it with the same
cdk-nag and aws-cdk-lib code the synth used (the jsii bundles inside the installed
Python packages, unpacked once into a cache). Acknowledgements come from the
assembly's metadata, so this module needs no construct tree of its own.

Two cross-checks keep the evaluation honest: every finding must be acknowledged or
appear in the synth's policy-validation report, and every acknowledgement must match
a finding (a stale one is reported).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.guard import GuardRule

ROOT = Path(__file__).resolve().parent.parent
EVALUATOR = Path(__file__).with_name("packs.js")
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
ANNOTATION_PREFIX = "annotation::"
# jsii bundles the evaluator loads: npm name -> (Python package holding it, bundle name prefix)
BUNDLES = {
    "aws-cdk-lib": ("aws_cdk", "aws-cdk-lib@"),
    "constructs": ("constructs", "constructs@"),
    "cdk-nag": ("cdk_nag", "cdk-nag@"),
    "@aws-cdk/cloud-assembly-schema": ("aws_cdk.cloud_assembly_schema", "cloud-assembly-schema@"),
    "@cdklabs/cdk-validator-cfnguard": ("cdklabs.cdk_validator_cfnguard", "cdk-validator-cfnguard@"),
}
NAG_BUNDLES = ("aws-cdk-lib", "constructs", "cdk-nag", "@aws-cdk/cloud-assembly-schema")


class EvaluationError(RuntimeError):
    """The pack evaluation could not run or does not agree with the synth-time validation."""


@dataclass(frozen=True)
class Acknowledgement:
    rule: str  # rule id, or `RuleId[finding]`
    path: str  # construct path the acknowledgement is attached to
    reason: str


def rule_status(result: RuleResult | GuardRule) -> str:
    """One rule's verdict from its findings: a failure outweighs an acknowledgement, which
    outweighs a pass; a rule with none applies to nothing here."""
    if result.failed:
        return "failed"
    if result.acknowledged:
        return "acknowledged"
    return "compliant" if result.compliant else "not applicable"


@dataclass
class RuleResult:
    """One rule of one pack over one assembly."""

    rule: str
    pack: str
    info: str
    compliant: list[str] = field(default_factory=list)  # construct paths
    acknowledged: list[tuple[str, Acknowledgement]] = field(default_factory=list)  # (resource path, ack)
    failed: list[str] = field(default_factory=list)  # "path: finding"

    @property
    def status(self) -> str:
        return rule_status(self)


@dataclass
class PackEvaluation:
    """Every rule of every pack over one cloud assembly."""

    assembly: Path
    packs: dict[str, dict[str, RuleResult]]  # pack name -> rule id -> result
    stale: list[Acknowledgement]

    def results(self) -> Iterable[RuleResult]:
        for rules in self.packs.values():
            yield from rules.values()


def _bundle(npm_name: str) -> Path:
    package, prefix = BUNDLES[npm_name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EvaluationError(f"Python package {package} (which bundles {npm_name}) is not installed")
    directory = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    found = sorted(directory.glob(f"{prefix}*.jsii.tgz"))
    if not found:
        raise EvaluationError(f"no {prefix}*.jsii.tgz in {directory}")
    return found[-1]


def runtime(cache: Path | None = None, names: tuple[str, ...] = NAG_BUNDLES) -> Path:
    """A node_modules directory with the bundles `names` (by default aws-cdk-lib, constructs and cdk-nag)."""
    bundles = {name: _bundle(name) for name in names}
    key = hashlib.sha256("|".join(f"{n}={p.name}:{p.stat().st_size}" for n, p in bundles.items()).encode()).hexdigest()
    base = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdk-nag-evaluator"
    target = base / key[:16] / "node_modules"
    if (target / ".complete").exists():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base))
    try:
        for name, bundle in bundles.items():
            destination = staging / "node_modules" / name
            destination.mkdir(parents=True)
            with tarfile.open(bundle) as archive:
                for member in archive.getmembers():
                    member.name = member.name.split("/", 1)[1] if "/" in member.name else ""
                    if member.name:
                        archive.extract(member, destination, filter="data")
        (staging / "node_modules" / ".complete").touch()
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target / ".complete").exists():
            shutil.rmtree(target.parent, ignore_errors=True)
            staging.rename(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def node() -> str:
    """The pinned Node.js of the project (node_modules/.bin), else the one on PATH."""
    pinned = ROOT / "node_modules" / ".bin" / "node"
    found = str(pinned) if pinned.exists() else shutil.which("node")
    if not found:
        raise EvaluationError("Node.js not found: run `npm ci` (make synth installs it)")
    return found


def default_packs() -> list[str]:
    """Class names of the packs the app registers (stacks.compliance.PACKS)."""
    from stacks.compliance import PACKS

    return [pack.__name__ for pack in PACKS]


def acknowledgements(assembly: Path) -> list[Acknowledgement]:
    """Every acknowledgement recorded in the assembly's stack metadata."""
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    found = []
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        metadata = artifact.get("metadata") or {}
        if artifact.get("additionalMetadataFile"):
            metadata = json.loads((assembly / artifact["additionalMetadataFile"]).read_text(encoding="utf-8"))
        for construct_path, entries in metadata.items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED:
                    for rule, reason in entry.get("data", {}).items():
                        rule_id = rule[len(ANNOTATION_PREFIX) :] if rule.lower().startswith(ANNOTATION_PREFIX) else rule
                        found.append(Acknowledgement(rule_id, construct_path.lstrip("/"), str(reason)))
    return found


def reported_violations(assembly: Path) -> set[tuple[str, str]]:
    """(rule, construct path) of every violation in the synth's policy-validation report."""
    report = assembly / "policy-validation-report.json"
    if not report.exists():
        return set()
    found = set()
    for plugin in json.loads(report.read_text(encoding="utf-8")).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for resource in violation.get("violatingConstructs", []) + violation.get("violatingResources", []):
                found.add((violation["ruleName"], str(resource.get("constructPath", "")).lstrip("/")))
    return found


def _covering(acks: Sequence[Acknowledgement], rule: str, resource_path: str) -> Acknowledgement | None:
    """The acknowledgement of `rule` on the resource or its nearest ancestor (cdk-nag's lookup)."""
    candidates = [
        a for a in acks if a.rule == rule and (resource_path == a.path or resource_path.startswith(a.path + "/"))
    ]
    return max(candidates, key=lambda a: len(a.path)) if candidates else None


def run_evaluator(assembly: Path, packs: Sequence[str]) -> dict[str, Any]:
    modules = runtime()
    completed = subprocess.run(
        [node(), str(EVALUATOR), str(assembly), ",".join(packs)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        check=False,
    )
    if completed.returncode != 0:
        raise EvaluationError(f"cdk-nag evaluation of {assembly} failed:\n{completed.stderr.strip()}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def evaluate_packs(assembly: Path, packs: Sequence[str] | None = None) -> PackEvaluation:
    """Every rule of `packs` (default: the app's) over the assembly, with acknowledgements."""
    raw = run_evaluator(assembly, packs or default_packs())
    pack_prefixes = {f"{name}-" for name in raw["packs"].values()}
    acks = [a for a in acknowledgements(assembly) if a.rule.startswith(tuple(pack_prefixes))]
    reported = reported_violations(assembly)
    packs_out: dict[str, dict[str, RuleResult]] = {name: {} for name in raw["packs"].values()}
    for rule_id, info in sorted(raw["rules"].items()):
        packs_out[info["pack"]][rule_id] = RuleResult(rule_id, info["pack"], info["info"])
    used: set[Acknowledgement] = set()
    divergent = []
    for result in raw["results"]:
        rule = packs_out[raw["rules"][result["rule"]]["pack"]][result["rule"]]
        path = result["path"]
        if result["status"] == "compliant":
            rule.compliant.append(path)
            continue
        finding_ids = (
            [f"{result['rule']}[{finding}]" for finding in result["findings"]]
            if result["status"] == "findings"
            else [result["rule"]]
        )
        for finding_id in finding_ids:
            ack = _covering(acks, finding_id, path)
            if ack is not None:
                used.add(ack)
                rule.acknowledged.append((path, ack))
            elif (finding_id, path) in reported or (result["rule"], path) in reported:
                rule.failed.append(f"{path}: {finding_id}")
            else:
                divergent.append(f"{finding_id} on {path}")
    if divergent:
        raise EvaluationError(
            "the rule-by-rule evaluation found findings the synth-time validation did not report "
            f"(assembly {assembly}): {divergent[:5]}"
        )
    stale = [a for a in acks if a not in used]
    return PackEvaluation(assembly, packs_out, stale)


def main(argv: list[str] | None = None) -> int:
    """`python -m readiness.packs ASSEMBLY`: per-pack rule counts of one assembly."""
    from readiness.report import table

    args = sys.argv[1:] if argv is None else argv
    evaluation = evaluate_packs(Path(args[0] if args else "cdk.out"))
    rows = [["pack", "rules", "evaluated", "passed", "acknowledged", "failed"]]
    for pack, rules in evaluation.packs.items():
        statuses = [r.status for r in rules.values()]
        rows.append(
            [
                pack,
                str(len(statuses)),
                str(sum(s != "not applicable" for s in statuses)),
                str(statuses.count("compliant")),
                str(statuses.count("acknowledged")),
                str(statuses.count("failed")),
            ]
        )
    print(table(rows))
    for ack in evaluation.stale:
        print(f"stale acknowledgement: {ack.rule} on {ack.path} matches no finding")
    return 1 if evaluation.stale or any(r.failed for r in evaluation.results()) else 0


if __name__ == "__main__":
    sys.exit(main())
