"""IAM policy analysis with cloudsplaining over every policy document of the templates.

Identity policies, inline role policies, key, bucket, topic, queue and VPC endpoint
policies are rendered to plain JSON (intrinsics become readable strings) and scanned for
the risks cloudsplaining knows: privilege escalation, data exfiltration, resource exposure,
credentials exposure, service wildcards and unrestricted infrastructure modification.
Statements limited by conditions count as constrained (cloudsplaining's default).

A finding that is accepted is acknowledged on the resource holding the document, per
category with its reason, in `Metadata.cloudsplaining.acknowledged` (written by
stacks.compliance.acknowledge_policy_finding); an acknowledgement that matches no finding
is reported as stale, like the cdk-nag ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readiness.model import text_of

DOCUMENT_KEYS = ("PolicyDocument", "KeyPolicy")
INTRINSICS = ("Ref", "Fn::GetAtt", "Fn::Join", "Fn::Sub", "Fn::ImportValue", "Fn::Select")


@dataclass(frozen=True)
class PolicyDocument:
    """One policy document of a template and the acknowledgements on its resource."""

    id: str  # `<template file name>/<logical id>[/<inline policy name>]`
    template: str
    logical_id: str
    document: dict[str, Any]
    acknowledged: dict[str, str]  # category -> reason


def render(value: Any) -> Any:
    """A policy document with intrinsic functions rendered as strings cloudsplaining can read."""
    if isinstance(value, list):
        return [render(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in INTRINSICS:
            return text_of(value)
        return {key: render(item) for key, item in value.items()}
    return value


def documents(template_file: Path) -> Iterator[PolicyDocument]:
    template = json.loads(template_file.read_text(encoding="utf-8"))
    for logical_id, body in (template.get("Resources") or {}).items():
        properties = body.get("Properties") or {}
        acknowledged = {
            a["finding"]: a["reason"]
            for a in ((body.get("Metadata") or {}).get("cloudsplaining") or {}).get("acknowledged", [])
        }
        found = [(key, properties[key]) for key in DOCUMENT_KEYS if isinstance(properties.get(key), dict)]
        found += [
            (str(policy.get("PolicyName", i)), policy["PolicyDocument"])
            for i, policy in enumerate(properties.get("Policies") or [])
            if isinstance(policy, dict) and isinstance(policy.get("PolicyDocument"), dict)
        ]
        for name, document in found:
            suffix = "" if name in DOCUMENT_KEYS else f"/{name}"
            yield PolicyDocument(
                f"{template_file.name}/{logical_id}{suffix}",
                template_file.name,
                logical_id,
                render(document),
                acknowledged,
            )


def scan_input(templates: Iterable[Path]) -> tuple[list[PolicyDocument], str]:
    """Every policy document of `templates`, and the scanner's stdin for them."""
    found = [d for t in templates for d in documents(t)]
    return found, json.dumps([{"id": d.id, "document": d.document} for d in found])


@dataclass
class Analysis:
    documents: int
    clean: int
    acknowledged: list[str]
    failures: list[str]


def evaluate(found: list[PolicyDocument], results: dict[str, dict[str, list[str]]]) -> Analysis:
    """Findings against acknowledgements: unacknowledged findings and stale acknowledgements fail."""
    analysis = Analysis(len(found), 0, [], [])
    by_resource: dict[tuple[str, str], set[str]] = {}
    for document in found:
        findings = results.get(document.id, {})
        by_resource.setdefault((document.template, document.logical_id), set()).update(findings)
        if not findings:
            analysis.clean += 1
        for category, actions in sorted(findings.items()):
            where = f"{category} {document.id}: {', '.join(actions)}"
            if category in document.acknowledged:
                analysis.acknowledged.append(where)
            else:
                analysis.failures.append(where)
    for document in found:
        stale = set(document.acknowledged) - by_resource[(document.template, document.logical_id)]
        for category in sorted(stale):
            failure = f"stale acknowledgement {category} on {document.template}/{document.logical_id}: no finding"
            if failure not in analysis.failures:
                analysis.failures.append(failure)
    return analysis
