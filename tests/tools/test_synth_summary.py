"""The review summary: on the synthesized sandbox stage, and on small assemblies with exposures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.assemblies import write_assembly as write_stacks
from tests.synth import SynthesizedStage
from tools import synth_summary
from tools.synth_summary import summarise


def section(text: str, stack: str) -> str:
    """The lines of one stack's block in the summary."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {stack}:"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("      ")), len(lines))
    return "\n".join(lines[start:end])


@pytest.fixture(scope="module")
def summary(sandbox: SynthesizedStage) -> str:
    return summarise(sandbox.outdir)


def test_every_stack_has_its_block_with_resources_by_type(sandbox: SynthesizedStage, summary: str) -> None:
    for unit, template in sandbox.templates.items():
        name = sandbox.stacks[unit].stack_name
        resources = [r for r in template["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"]
        block = section(summary, name)
        assert block.startswith(f"  {name}: {len(resources)} resources (destroyable)")
        for resource_type in {r["Type"] for r in resources}:
            assert f"{resource_type.split('::', 1)[1]} x" in " ".join(block.split()), resource_type
    total = sum(
        1 for t in sandbox.templates.values() for r in t["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"
    )
    assert f"total: {total} resources in {len(sandbox.templates)} stacks" in summary


def test_every_role_shows_who_can_assume_it_and_its_policies(sandbox: SynthesizedStage, summary: str) -> None:
    for unit in sandbox.templates:
        block = " ".join(section(summary, sandbox.stacks[unit].stack_name).split())
        for logical_id, role in sandbox.resources(unit, "AWS::IAM::Role").items():
            services = [
                s["Principal"]["Service"]
                for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
                if "Service" in s.get("Principal", {})
            ]
            line = next(part for part in block.split(" <- ")[:-1] if synth_summary.short_name(logical_id) in part)
            assert line, logical_id
            for service in services:
                assert f"{synth_summary.short_name(logical_id)} <- {service}" in block


def test_policy_action_counts_match_the_policy_documents(sandbox: SynthesizedStage, summary: str) -> None:
    block = " ".join(section(summary, sandbox.stacks["Api"].stack_name).split())
    (policy,) = sandbox.resources("Api", "AWS::IAM::ManagedPolicy").values()
    actions = {
        a
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert f"PredictPolicy (customer managed, {len(actions)} actions" in block
    assert (
        "ApiCloudWatchRole <- apigateway.amazonaws.com -> AmazonAPIGatewayPushToCloudWatchLogs (AWS managed)" in block
    )


def test_persona_roles_are_assumable_inside_the_account_only(sandbox: SynthesizedStage, summary: str) -> None:
    block = " ".join(section(summary, sandbox.stacks["DataLake"].stack_name).split())
    # The condition: MFA on sandbox, named principals elsewhere (see test_data_lake_stack).
    assert "DataScientistRole <- any principal of this account (with conditions) ->" in block
    assert "MlOpsRole <- any principal of this account (with conditions) ->" in block
    assert "ANYONE" not in summary


def test_internet_exposure_is_the_sigv4_api_behind_waf_only(sandbox: SynthesizedStage, summary: str) -> None:
    api = " ".join(section(summary, sandbox.stacks["Api"].stack_name).split())
    assert "reachable from the internet: REST API Api (REGIONAL, WAF): POST /predict auth AWS_IAM" in api
    others = [u for u in sandbox.templates if u != "Api"]
    for unit in others:
        assert "reachable from the internet: nothing" in section(summary, sandbox.stacks[unit].stack_name)
    assert "ingress from 0.0.0.0/0 or ::/0: none" in api
    assert "Internet exposure: nothing open to review" in summary


def test_every_bucket_blocks_public_access(sandbox: SynthesizedStage, summary: str) -> None:
    for unit in sandbox.templates:
        buckets = sandbox.resources(unit, "AWS::S3::Bucket")
        if buckets:
            block = " ".join(section(summary, sandbox.stacks[unit].stack_name).split())
            assert (
                f"S3 buckets: {len(buckets)}, Block Public Access on all {len(buckets)}, no public bucket policy"
                in (block)
            )


def test_compliance_status_is_kept(summary: str) -> None:
    assert summary.splitlines()[-1] == "Compliance: every pack passed with 0 unacknowledged findings"


def test_each_stack_fits_about_one_screen(sandbox: SynthesizedStage, summary: str) -> None:
    for unit in sandbox.templates:
        assert len(section(summary, sandbox.stacks[unit].stack_name).splitlines()) <= 30
    assert max(len(line) for line in summary.splitlines()) <= 120


# ---------------------------------------------------------------------------
# Exposures on hand-made assemblies
# ---------------------------------------------------------------------------


def write_assembly(directory: Path, resources: dict[str, Any], *, protected: bool = False) -> Path:
    return write_stacks(directory, {"Demo": {"Resources": resources}}, properties={"terminationProtection": protected})


OPEN_STACK: dict[str, Any] = {
    "WebSg12345678": {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "web",
            "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"},
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/16"},
            ],
        },
    },
    "V6Ingress": {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {"GroupId": {"Ref": "WebSg12345678"}, "IpProtocol": "-1", "CidrIpv6": "::/0"},
    },
    "OpenBucketABCDEF12": {"Type": "AWS::S3::Bucket", "Properties": {}},
    "ClosedBucket": {
        "Type": "AWS::S3::Bucket",
        "Properties": {"PublicAccessBlockConfiguration": dict.fromkeys(synth_summary.BPA_SETTINGS, True)},
    },
    "ClosedBucketPolicy": {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "ClosedBucket"},
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]},
        },
    },
    "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "demo"}},
    "ApiItems": {
        "Type": "AWS::ApiGateway::Resource",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
            "PathPart": "items",
        },
    },
    "ApiItemsGet": {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": "ApiItems"},
            "HttpMethod": "GET",
            "AuthorizationType": "NONE",
        },
    },
    "ApiItemsPost": {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": "ApiItems"},
            "HttpMethod": "POST",
            "AuthorizationType": "NONE",
            "ApiKeyRequired": True,
        },
    },
    "OpenRole": {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
            },
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
        },
    },
    "StrayPolicy": {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Roles": ["imported-role"],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:Decrypt"], "Resource": "*"}]},
        },
    },
}


def test_a_stack_with_exposures_lists_each_of_them(tmp_path: Path) -> None:
    text = " ".join(summarise(write_assembly(tmp_path / "open", OPEN_STACK, protected=True)).split())
    assert "Demo: 11 resources (termination protection on)" in text
    assert "WebSg: tcp 22-22 from 0.0.0.0/0" in text
    assert "V6Ingress: all ports from ::/0" in text
    assert "10.0.0.0/16" not in text
    assert "Block Public Access OFF on OpenBucket" in text
    assert "PUBLIC bucket policy: ClosedBucketPolicy" in text
    assert "REST API Api (EDGE, no WAF): GET /items auth NONE (open); POST /items auth NONE, API key required" in text
    assert "OpenRole <- ANYONE (*) -> AdministratorAccess (AWS managed)" in text
    assert "policy on a role of another stack: StrayPolicy (customer managed, 2 actions, 1 on Resource *)" in text
    assert "Internet exposure: 6 item(s) to review" in text


def test_a_closed_stack_reports_nothing_to_review(tmp_path: Path) -> None:
    closed = {k: v for k, v in OPEN_STACK.items() if k in ("ClosedBucket",)}
    text = summarise(write_assembly(tmp_path / "closed", closed))
    assert "reachable from the internet: nothing" in text
    assert "S3 buckets: 1, Block Public Access on all 1, no public bucket policy" in text
    assert "Internet exposure: nothing open to review" in text
    assert "Compliance: no validation report in the assembly" in text


def test_main_needs_an_assembly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synth_summary.main([str(tmp_path)]) == 2
    assert "not a cloud assembly" in capsys.readouterr().err
