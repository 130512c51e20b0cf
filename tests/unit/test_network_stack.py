"""Network stack: isolated VPC across the configured AZs, endpoints, flow logs."""

from __future__ import annotations

from aws_cdk.assertions import Match

from stacks.network_stack import INTERFACE_ENDPOINTS
from tests.synth import SynthesizedStage


def test_subnets_are_isolated_one_per_configured_az(every_stage: SynthesizedStage) -> None:
    subnets = every_stage.resources("Network", "AWS::EC2::Subnet")
    assert len(subnets) == every_stage.config.network.az_count
    assert all(not s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())
    azs = [s["Properties"]["AvailabilityZone"] for s in subnets.values()]
    assert azs == [{"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in range(len(azs))]


def test_no_internet_path(every_stage: SynthesizedStage) -> None:
    template = every_stage.template("Network")
    for resource_type in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"):
        template.resource_count_is(resource_type, 0)
    routes = every_stage.resources("Network", "AWS::EC2::Route")
    assert not any(r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0" for r in routes.values())


def test_vpc_cidr_comes_from_config(prod: SynthesizedStage) -> None:
    prod.template("Network").has_resource_properties("AWS::EC2::VPC", {"CidrBlock": prod.config.network.cidr})


def test_gateway_and_interface_endpoints(sandbox: SynthesizedStage) -> None:
    endpoints = sandbox.resources("Network", "AWS::EC2::VPCEndpoint").values()
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Gateway"]
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(gateway) == 1 and "s3" in str(gateway[0]["Properties"]["ServiceName"])
    assert len(interface) == len(INTERFACE_ENDPOINTS)
    services = " ".join(str(e["Properties"]["ServiceName"]) for e in interface)
    for name in ("sagemaker.runtime", "sts", "logs", "kms", "xray"):
        assert f".{name}" in services
    assert all(e["Properties"]["PrivateDnsEnabled"] for e in interface)


def test_endpoint_security_group_allows_only_https_from_the_vpc(sandbox: SynthesizedStage) -> None:
    sandbox.template("Network").has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "HTTPS from inside the VPC to the interface endpoints",
            "SecurityGroupIngress": [
                Match.object_like(
                    {"CidrIp": sandbox.config.network.cidr, "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
                )
            ],
        },
    )


def test_default_security_group_is_closed(sandbox: SynthesizedStage) -> None:
    sandbox.template("Network").resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_flow_logs_go_to_kms_encrypted_group_with_retention(every_stage: SynthesizedStage) -> None:
    template = every_stage.template("Network")
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "RetentionInDays": every_stage.config.network.flow_log_retention_days,
            "KmsKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()}),
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_flow_log_key_trusts_logs_service_only_for_this_account(sandbox: SynthesizedStage) -> None:
    keys = sandbox.resources("Network", "AWS::KMS::Key").values()
    statements = [s for k in keys for s in k["Properties"]["KeyPolicy"]["Statement"]]
    logs = [s for s in statements if "logs." in str(s["Principal"])]
    assert logs and "kms:EncryptionContext:aws:logs:arn" in logs[0]["Condition"]["ArnLike"]


def test_endpoint_policies_admit_only_this_account(every_stage: SynthesizedStage) -> None:
    endpoints = every_stage.resources("Network", "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 6
    for logical_id, endpoint in endpoints.items():
        statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
        (own,) = [s for s in statements if s.get("Sid") == "ThisAccountOnly"]
        assert own["Condition"]["StringEquals"]["aws:PrincipalAccount"] == {"Ref": "AWS::AccountId"}, logical_id
        if logical_id.startswith(("VpcS3", "VpcKms", "VpcLogs", "VpcSageMakerRuntime")):
            assert own["Condition"]["StringEquals"]["aws:ResourceAccount"] == {"Ref": "AWS::AccountId"}


def test_s3_endpoint_reaches_ecr_image_layers_of_the_region(every_stage: SynthesizedStage) -> None:
    (s3,) = [e for k, e in every_stage.resources("Network", "AWS::EC2::VPCEndpoint").items() if k.startswith("VpcS3")]
    (layers,) = [s for s in s3["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "EcrImageLayers"]
    assert layers["Action"] == "s3:GetObject"
    assert layers["Resource"].endswith(f":s3:::prod-{every_stage.config.region}-starport-layer-bucket/*")


def test_flow_log_role_trusts_only_this_accounts_flow_logs(every_stage: SynthesizedStage) -> None:
    (role,) = [r for k, r in every_stage.resources("Network", "AWS::IAM::Role").items() if k.startswith("FlowLogRole")]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":vpc-flow-log/*" in str(statement["Condition"]["ArnLike"]["aws:SourceArn"])
