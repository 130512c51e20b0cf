"""AWS Control Tower proactive controls (cfn-guard rules) over the templates, rule by rule.

The gate synthesizes with the rules on (CDK's policy-validation plugin
`cdklabs-cdk-validator-cfnguard`, `-c cfn-guard=true`), so an unacknowledged violation
fails synth. To report every rule as passed, acknowledged or not applicable, this module
runs the same cfn-guard binary over the same rules (both bundled in the plugin's package,
unpacked once into the cache readiness.packs keeps) and reads each failing resource's
`Metadata.guard.SuppressedRules`, which stacks.compliance.acknowledge_guard writes next to
the CDK acknowledgement, with the reason.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readiness.packs import rule_status, runtime

PACKAGE = "@cdklabs/cdk-validator-cfnguard"
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass
class GuardRule:
    """One Control Tower rule over every template."""

    name: str
    compliant: int = 0
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (template/logical id, reason)
    failed: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return rule_status(self)


def plugin_directory() -> Path:
    return runtime(names=(PACKAGE,)) / PACKAGE


def guard_command(templates: Sequence[Path]) -> list[str]:
    directory = plugin_directory()
    system = {"Linux": "ubuntu", "Darwin": "macos"}.get(platform.system())
    architecture = ARCHITECTURES.get(platform.machine().lower())
    if system is None or architecture is None:
        raise RuntimeError(f"cfn-guard is bundled for Linux and macOS on x86_64/arm64, not {platform.platform()}")
    command = [str(directory / "bin" / system / architecture / "cfn-guard"), "validate"]
    command += ["--rules", str(directory / "rules" / "control-tower" / "cfn-guard")]
    for template in templates:
        command += ["--data", str(template)]
    return [*command, "--output-format", "json", "--show-summary", "none", "--structured"]


def _resources(node: Any) -> Iterator[str]:
    """Logical IDs of the resources a non-compliant check traversed to."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and isinstance(value, str) and value.startswith("/Resources/"):
                yield value.split("/")[2]
            else:
                yield from _resources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _resources(item)


@dataclass
class GuardEvaluation:
    rules: dict[str, GuardRule]
    stale: list[str]  # `template/logical id: rule` suppressions that match no violation

    def failures(self) -> list[str]:
        found = [f"{rule.name} on {where}" for rule in self.rules.values() for where in rule.failed]
        return found + [f"stale suppression {s}: the rule does not fail there, remove it" for s in self.stale]


def evaluate(templates: Sequence[Path]) -> GuardEvaluation:
    """Every Control Tower rule over `templates`, with the acknowledgements the templates carry."""
    completed = subprocess.run(guard_command(templates), capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 19) or not completed.stdout.strip():
        raise RuntimeError(f"cfn-guard failed (exit {completed.returncode}): {completed.stderr[-2000:]}")
    rules: dict[str, GuardRule] = {}
    suppressed: set[str] = set()
    for report in json.loads(completed.stdout):
        template_file = Path(report["name"])
        resources = json.loads(template_file.read_text(encoding="utf-8")).get("Resources", {})
        for logical_id, body in resources.items():
            for name in ((body.get("Metadata") or {}).get("guard") or {}).get("SuppressedRules", []):
                suppressed.add(f"{template_file.name}/{logical_id}: {name}")
        for name in report.get("compliant", []):
            rules.setdefault(name, GuardRule(name)).compliant += 1
        for name in report.get("not_applicable", []):
            rules.setdefault(name, GuardRule(name))
        for item in report.get("not_compliant", []):
            rule = item.get("Rule", item)
            result = rules.setdefault(rule["name"], GuardRule(rule["name"]))
            for logical_id in sorted(set(_resources(rule))):
                guard = (resources.get(logical_id, {}).get("Metadata") or {}).get("guard") or {}
                where = f"{template_file.name}/{logical_id}"
                if rule["name"] in guard.get("SuppressedRules", []):
                    result.acknowledged.append((where, guard.get("Reasons", {}).get(rule["name"], "")))
                    suppressed.discard(f"{where}: {rule['name']}")
                else:
                    result.failed.append(where)
    return GuardEvaluation(rules, sorted(suppressed))
