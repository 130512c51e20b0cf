"""Synthesizes a stage in-process exactly as `app.py` does, for the test session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import assertions

from stacks.compliance import BUILTIN_TEMPLATE_VALIDATION, add_compliance_packs
from stacks.config import StageConfig, load_stage
from stacks.pipeline import build_pipeline

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))
CONTEXT: dict[str, Any] = CDK_JSON["context"]
STAGES = sorted(CONTEXT["stages"])


@dataclass
class SynthesizedStage:
    """The templates and validation report of one stage, synthesized once."""

    config: StageConfig
    stacks: dict[str, cdk.Stack]
    templates: dict[str, dict[str, Any]]
    outdir: Path

    def template(self, unit: str) -> assertions.Template:
        return assertions.Template.from_json(self.templates[unit])

    def resources(self, unit: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[unit]["Resources"].items() if v["Type"] == resource_type}

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "policy-validation-report.json").read_text(encoding="utf-8"))


def synthesize(stage: str, outdir: Path, *, context_overrides: dict[str, Any] | None = None) -> SynthesizedStage:
    context = {**CONTEXT, **(context_overrides or {})}
    config = load_stage(context["stages"], stage)
    app = cdk.App(context=context, outdir=str(outdir), builtin_cloud_formation_validation=BUILTIN_TEMPLATE_VALIDATION)
    stacks = build_pipeline(app, config)
    add_compliance_packs(app)
    assembly = app.synth()
    templates = {unit: assembly.get_stack_by_name(stack.stack_name).template for unit, stack in stacks.items()}
    return SynthesizedStage(config=config, stacks=stacks, templates=templates, outdir=outdir)
