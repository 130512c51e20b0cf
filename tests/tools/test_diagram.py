"""The architecture diagram: generated from the synthesized sandbox stage, committed, never stale."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.assemblies import write_assembly as write_stacks
from tests.synth import ROOT, SynthesizedStage
from tools import diagram

COMMITTED = ROOT / "docs" / "architecture-diagram.md"


@pytest.fixture(scope="module")
def rendered(sandbox: SynthesizedStage) -> str:
    return diagram.render_diagram(sandbox.outdir)


def test_the_committed_diagram_is_not_stale(rendered: str) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == rendered, (
        "docs/architecture-diagram.md no longer matches the synthesized sandbox stage; run `make diagram`"
    )


def test_rendering_is_deterministic_and_free_of_accounts_and_hashes(sandbox: SynthesizedStage, rendered: str) -> None:
    assert diagram.render_diagram(sandbox.outdir) == rendered
    assert not re.search(r"\b\d{12}\b", rendered)
    assert not re.search(r"[0-9a-f]{64}", rendered)
    assert "arn:" not in rendered


def test_every_stack_is_a_box_and_every_dependency_an_arrow(sandbox: SynthesizedStage, rendered: str) -> None:
    manifest = json.loads((sandbox.outdir / "manifest.json").read_text(encoding="utf-8"))
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    units = {name: diagram.unit_of(name) for name in stacks}
    for name, unit in units.items():
        assert f'subgraph {unit}["{unit} ({name})"]' in rendered
    edges = re.findall(r"^  (\w+) (?:-->(?:\|[^|]*\|)?|-\.->) (\w+)$", rendered, flags=re.MULTILINE)
    linked = {frozenset((a.split("_", 1)[0], b.split("_", 1)[0])) for a, b in edges}
    for name, artifact in stacks.items():
        for dependency in artifact.get("dependencies", []):
            if dependency in units:
                assert frozenset((units[dependency], units[name])) in linked, f"{dependency} -> {name} is not drawn"


def test_key_data_flow_is_drawn(sandbox: SynthesizedStage, rendered: str) -> None:
    def node(unit: str, resource_type: str, prefix: str) -> str:
        (logical_id,) = [k for k in sandbox.resources(unit, resource_type) if k.startswith(prefix)]
        return diagram.node_id(unit, logical_id)

    stream = node("Ingestion", "AWS::Kinesis::Stream", "EventStream")
    firehose = node("Ingestion", "AWS::KinesisFirehose::DeliveryStream", "DeliveryStream")
    raw = node("DataLake", "AWS::S3::Bucket", "RawZone")
    endpoint = node("Inference", "AWS::SageMaker::Endpoint", "Endpoint")
    predict = node("Api", "AWS::Lambda::Function", "PredictFunction")
    api = node("Api", "AWS::ApiGateway::RestApi", "Api")
    acl = node("Api", "AWS::WAFv2::WebACL", "WebAcl")
    job = node("Etl", "AWS::Glue::Job", "PrepareFeatures")
    crawler = node("Etl", "AWS::Glue::Crawler", "CuratedCrawler")
    for edge in (
        f"{stream} --> {firehose}",
        f"{raw} --> {firehose}",
        f"{raw} --> {job}",
        f"{endpoint} --> {predict}",
        f"{acl} -->|protects| {api}",
        f"{job} -->|on success| {crawler}",
    ):
        assert f"  {edge}\n" in rendered, edge
    assert '["API method<br/>POST /predict"]' in rendered


def test_cdk_internals_iam_and_log_groups_are_left_out(rendered: str) -> None:
    chart = rendered.split("```mermaid", 1)[1]
    for hidden in (
        "CustomS3AutoDeleteObjects",
        "CustomVpcRestrictDefaultSG",
        "IAM",
        "Role<br/>",
        "LogGroup",
        "log group",
    ):
        assert hidden not in chart


# ---------------------------------------------------------------------------
# Small assemblies and the command line
# ---------------------------------------------------------------------------


def write_assembly(directory: Path, stacks: dict[str, tuple[dict[str, Any], list[str]]]) -> Path:
    templates = {name: template for name, (template, _) in stacks.items()}
    return write_stacks(directory, templates, dependencies={name: deps for name, (_, deps) in stacks.items()})


TWO_STACKS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "App-test-Store": (
        {
            "Resources": {"BucketAB12CD34": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {"Out": {"Value": {"Ref": "BucketAB12CD34"}, "Export": {"Name": "Store-Bucket"}}},
        },
        [],
    ),
    "App-test-Jobs": (
        {
            "Resources": {
                "Job": {"Type": "AWS::Glue::Job", "Properties": {"Bucket": {"Fn::ImportValue": "Store-Bucket"}}},
                "Crawler": {"Type": "AWS::Glue::Crawler", "Properties": {}},
                "Flow": {"Type": "AWS::Glue::Workflow", "Properties": {}},
                "Start": {
                    "Type": "AWS::Glue::Trigger",
                    "Properties": {
                        "Type": "ON_DEMAND",
                        "WorkflowName": {"Ref": "Flow"},
                        "Actions": [{"JobName": {"Ref": "Job"}}],
                    },
                },
                "Then": {
                    "Type": "AWS::Glue::Trigger",
                    "Properties": {
                        "Type": "CONDITIONAL",
                        "WorkflowName": {"Ref": "Flow"},
                        "Predicate": {"Conditions": [{"JobName": {"Ref": "Job"}, "State": "SUCCEEDED"}]},
                        "Actions": [{"CrawlerName": {"Ref": "Crawler"}}],
                    },
                },
                "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            }
        },
        ["App-test-Store"],
    ),
    "App-test-Watch": (
        {"Resources": {"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}}},
        ["App-test-Jobs"],
    ),
}


def test_imports_triggers_and_unexplained_dependencies(tmp_path: Path) -> None:
    text = diagram.render_diagram(write_assembly(tmp_path / "a", TWO_STACKS))
    assert "Generated from the synthesized `test` stage" in text
    assert '    Store_BucketAB12CD34["S3 bucket<br/>Bucket"]' in text
    assert "  Store_BucketAB12CD34 --> Jobs_Job\n" in text
    assert "  Jobs_Flow -->|on_demand| Jobs_Job\n" in text
    assert "  Jobs_Job -->|on success| Jobs_Crawler\n" in text
    assert "  Jobs -.-> Watch\n" in text
    assert "Store -.-> Jobs" not in text  # explained by the import arrow
    assert '["KMS keys x1<br/>Key"]' in text and '["CloudWatch alarms x1<br/>Alarm"]' in text


def test_check_mode_fails_on_a_stale_file_and_writing_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assembly = write_assembly(tmp_path / "a", TWO_STACKS)
    output = tmp_path / "docs" / "diagram.md"
    assert diagram.main([str(assembly), "--output", str(output), "--check"]) == 1
    assert "make diagram" in capsys.readouterr().err
    assert diagram.main([str(assembly), "--output", str(output)]) == 0
    assert diagram.main([str(assembly), "--output", str(output), "--check"]) == 0
    assert diagram.main([str(tmp_path / "none"), "--output", str(output)]) == 2
