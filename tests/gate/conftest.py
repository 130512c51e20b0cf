"""Session fixtures of the gate tests: every stage's assembly, linted and evaluated once.

cfn-lint, checkov and cloudsplaining start as soon as the templates exist and run while the
cdk-nag packs are evaluated rule by rule, so the whole gate costs the suite one linter run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from readiness import guard
from readiness.linters import Linters, LintResult
from readiness.model import Assembly
from readiness.packs import PackEvaluation, evaluate_packs
from tests.conftest import _stage
from tests.synth import STAGES, SynthesizedStage


@dataclass
class GateResults:
    stages: dict[str, SynthesizedStage]
    evaluations: dict[str, PackEvaluation]
    cfn_lint: LintResult
    checkov: LintResult | None
    cloudsplaining: LintResult | None
    guard: guard.GuardEvaluation

    @property
    def templates(self) -> list[Path]:
        return templates_of(self.stages)


def templates_of(stages: dict[str, SynthesizedStage]) -> list[Path]:
    return sorted(p for s in stages.values() for p in s.outdir.glob("*.template.json"))


@pytest.fixture(scope="session")
def all_stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedStage]:
    return {name: _stage(name, tmp_path_factory) for name in STAGES}


@pytest.fixture(scope="session")
def gate(all_stages: dict[str, SynthesizedStage]) -> GateResults:
    templates = templates_of(all_stages)
    regions = sorted(
        {s.region for stage in all_stages.values() for s in Assembly.load(stage.outdir).stacks.values() if s.region}
    )
    linters = Linters(templates, regions=regions or ["us-east-1"])
    try:
        with ThreadPoolExecutor(max_workers=len(all_stages)) as pool:
            evaluations = dict(
                zip(all_stages, pool.map(lambda s: evaluate_packs(s.outdir), all_stages.values()), strict=True)
            )
        guard_evaluation = guard.evaluate(templates)
        return GateResults(
            all_stages, evaluations, linters.cfn_lint(), linters.checkov(), linters.cloudsplaining(), guard_evaluation
        )
    finally:
        linters.close()
