"""The rule set as a whole: one rule per file, unique ids, explanations, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import readiness.rules
from readiness import RULES, Assembly, Status, evaluate
from readiness.__main__ import main
from readiness.model import references
from tests.assemblies import write_assembly as write_stacks
from tests.readiness.helpers import arn, ref, res, template
from tests.synth import SynthesizedStage

RULES_DIR = Path(readiness.rules.__file__).parent


def test_one_rule_per_module_and_every_module_registered() -> None:
    modules = {p.stem for p in RULES_DIR.glob("*.py") if not p.stem.startswith("_")}
    registered = {rule.check.__module__.rsplit(".", 1)[-1] for rule in RULES}
    assert registered == modules
    assert len({rule.id for rule in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_explains_the_failure_and_the_fix(rule: readiness.Rule) -> None:
    assert rule.id.startswith("RDY-")
    assert len(rule.title) > 20 and len(rule.explanation) > 80 and len(rule.fix) > 30


def test_every_rule_has_a_violating_and_a_compliant_test() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*_rules.py"))
    for rule in RULES:
        module = rule.check.__module__.rsplit(".", 1)[-1]
        assert f"{module}.RULE" in tests, rule.id


def test_references_cover_ref_getatt_and_sub() -> None:
    value = {"A": ref("One"), "B": arn("Two"), "C": {"Fn::Sub": "x-${Three}-${Four.Arn}-${AWS::Region}"}}
    assert references(value) == {"One", "Two", "Three", "Four"}


def test_dependencies_are_transitive() -> None:
    assembly = Assembly.from_templates(
        {"S": template(A=res("AWS::X::A"), B=res("AWS::X::B", ["A"]), C=res("AWS::X::C", Name=ref("B")))}
    )
    stack = assembly.stacks["S"]
    assert stack.depends_on("C", "A") and not stack.depends_on("A", "C")


def test_every_stage_is_deploy_ready(every_stage: SynthesizedStage) -> None:
    findings = evaluate(Assembly.load(every_stage.outdir), RULES)
    bad = [(f.rule.id, f.path, f.problem) for f in findings if f.status is Status.NON_COMPLIANT]
    assert bad == []
    applicable = {f.rule.id for f in findings if f.status is Status.COMPLIANT}
    assert {"RDY-LF1", "RDY-KDF1", "RDY-SM3", "RDY-LOG1"} <= applicable


def write_assembly(directory: Path, template_body: dict[str, object]) -> Path:
    return write_stacks(
        directory, {"Bad": template_body}, environment="aws://unknown-account/us-east-1", version="55.0.0", indent=1
    )


def test_command_line_fails_with_rule_path_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = template(Config=res("AWS::SageMaker::EndpointConfig", EndpointConfigName="fixed", ProductionVariants=[]))
    bad["Resources"]["Config"]["Metadata"] = {"aws:cdk:path": "Bad/EndpointConfig"}
    directory = write_assembly(tmp_path / "cdk.out", bad)
    assert main([str(directory), "--sarif", str(tmp_path / "readiness.sarif")]) == 1
    out = capsys.readouterr().out
    assert "RDY-SM1 Bad/EndpointConfig (logical id Config, stack Bad)" in out
    assert "fix:" in out and "attr_endpoint_config_name" in out
    sarif = json.loads((tmp_path / "readiness.sarif").read_text(encoding="utf-8"))
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "RDY-SM1"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] > 1


def test_command_line_passes_a_compliant_assembly(tmp_path: Path) -> None:
    good = template(Config=res("AWS::SageMaker::EndpointConfig", ProductionVariants=[]))
    assert main([str(write_assembly(tmp_path / "cdk.out", good))]) == 0
