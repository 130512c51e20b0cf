"""API stack: SigV4 REST API, validated against the contract, logged, traced, WAF-protected."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import contracts
from contracts.request_schema import JSON_CONTENT_TYPE, request_schema
from contracts.time_budget import GATEWAY_TIMEOUT_SECONDS, OWN_WORK_SECONDS, budget
from stacks.config import ConfigError, load_stage
from stacks.names import endpoint_name
from tests.synth import SynthesizedStage


def only(stage: SynthesizedStage, resource_type: str) -> dict[str, Any]:
    (resource,) = stage.resources("Api", resource_type).values()
    return resource


def test_regional_api_with_v1_stage_and_tls12(every_stage: SynthesizedStage) -> None:
    api = only(every_stage, "AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["SecurityPolicy"].startswith("SecurityPolicy_TLS13_1_2") and api["EndpointAccessMode"] == "STRICT"
    assert only(every_stage, "AWS::ApiGateway::Stage")["Properties"]["StageName"] == "v1"


def test_predict_uses_sigv4_and_body_validation(sandbox: SynthesizedStage) -> None:
    (method,) = [
        m
        for m in sandbox.resources("Api", "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    props = method["Properties"]
    assert props["AuthorizationType"] == "AWS_IAM"
    assert props["RequestValidatorId"]
    assert props["Integration"]["Type"] == "AWS_PROXY"
    validator = only(sandbox, "AWS::ApiGateway::RequestValidator")["Properties"]
    assert validator["ValidateRequestBody"] is True


def test_request_model_is_generated_from_the_contract(sandbox: SynthesizedStage) -> None:
    model = only(sandbox, "AWS::ApiGateway::Model")["Properties"]
    expected = request_schema(contracts.load(), max_batch_size=sandbox.config.api.max_batch_size)
    schema = model["Schema"]
    items = schema["properties"]["instances"]["items"]
    assert items["required"] == expected["properties"]["instances"]["items"]["required"]
    assert set(items["properties"]) == {"event_id", *(f.name for f in contracts.load().features)}
    assert items["properties"]["event_id"] == expected["properties"]["instances"]["items"]["properties"]["event_id"]
    assert items["additionalProperties"] is False and schema["additionalProperties"] is False
    assert schema["properties"]["instances"]["maxItems"] == sandbox.config.api.max_batch_size
    assert items["properties"]["living_area"]["minimum"] == contracts.load().field("living_area").min


def test_json_gateway_responses(sandbox: SynthesizedStage) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in sandbox.resources("Api", "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    # API Gateway substitutes $context.error.messageString as a quoted JSON string (its
    # documented form); whatever the message holds, the body stays strict JSON.
    message = json.dumps('Invalid "request" body\n\\ \u2028')
    for response in responses.values():
        template = response["ResponseTemplates"]["application/json"]
        body = template.replace("$context.error.messageString", message).replace("$context.requestId", "abc-123")
        assert json.loads(body) == {"error": json.loads(message), "request_id": "abc-123"}


def test_stage_throttling_logging_and_tracing(every_stage: SynthesizedStage) -> None:
    stage, config = only(every_stage, "AWS::ApiGateway::Stage")["Properties"], every_stage.config.api
    assert stage["TracingEnabled"] is True
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == config.throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == config.throttle_burst_limit
    assert settings["LoggingLevel"] == "INFO" and settings["DataTraceEnabled"] is False
    assert stage["AccessLogSetting"]["DestinationArn"]
    assert stage["ClientCertificateId"]
    assert all("KmsKeyId" in g["Properties"] for g in every_stage.resources("Api", "AWS::Logs::LogGroup").values())


def test_waf_rules_and_association(sandbox: SynthesizedStage) -> None:
    acl = only(sandbox, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "REGIONAL"
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == sandbox.config.api.waf_rate_limit
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    assert sorted(r["Priority"] for r in acl["Rules"]) == list(range(len(acl["Rules"])))
    association = only(sandbox, "AWS::WAFv2::WebACLAssociation")["Properties"]
    parts = association["ResourceArn"]["Fn::Join"][1]
    assert parts[-2] == "/stages/" and parts[-1]["Ref"].startswith("ApiDeploymentStagev1")
    logging = only(sandbox, "AWS::WAFv2::LoggingConfiguration")["Properties"]
    assert not json.dumps(logging["LogDestinationConfigs"]).endswith(':*"]')


def test_waf_lets_full_prediction_batches_through(every_stage: SynthesizedStage) -> None:
    """The Core rule set's body-size rule would block every batch over 8 KB; it only counts."""
    import contracts
    from contracts.request_schema import request_schema
    from tools.synthetic import clean_event

    acl = only(every_stage, "AWS::WAFv2::WebACL")["Properties"]
    (core,) = [r for r in acl["Rules"] if r["Name"] == "AWSManagedRulesCommonRuleSet"]
    overrides = core["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    assert overrides == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    limit = every_stage.config.api.max_batch_size
    fields = request_schema(contracts.load(), max_batch_size=limit)["properties"]["instances"]["items"]["properties"]
    instance = {k: v for k, v in clean_event(random.Random(3), 0).items() if k in fields}
    batch = json.dumps({"instances": [instance] * limit})
    assert 8192 < len(batch.encode()) <= every_stage.config.api.max_body_bytes


def test_predict_function_in_vpc_with_endpoint_access(sandbox: SynthesizedStage) -> None:
    (function,) = sandbox.resources("Api", "AWS::Lambda::Function").values()
    props = function["Properties"]
    assert props["VpcConfig"]["SubnetIds"] and props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"} and "KmsKeyArn" in props
    assert (
        props["Timeout"] <= 29
        and props["ReservedConcurrentExecutions"] == sandbox.config.api.function.reserved_concurrency
    )
    env = props["Environment"]["Variables"]
    assert env["MAX_BATCH_SIZE"] == str(sandbox.config.api.max_batch_size)
    assert env["ENDPOINT_NAME"] == endpoint_name(sandbox.config.name)
    policies = [p for k, p in sandbox.resources("Api", "AWS::IAM::ManagedPolicy").items() if k.startswith("Predict")]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (invoke,) = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert f":endpoint/{endpoint_name(sandbox.config.name)}" in json.dumps(invoke["Resource"])


def test_predict_asset_carries_contract_and_statistics(sandbox: SynthesizedStage) -> None:
    (function,) = sandbox.resources("Api", "AWS::Lambda::Function").values()
    asset = sandbox.outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "contracts" / "housing_event.json").read_text() == contracts.contract_text()
    assert (asset / "contracts" / "features.py").exists()
    assert json.loads((asset / "feature_statistics.json").read_text())["schema_version"] == 1


def test_api_key_mode_adds_usage_plan(sandbox_options: SynthesizedStage) -> None:
    stage = sandbox_options
    (method,) = [
        m for m in stage.resources("Api", "AWS::ApiGateway::Method").values() if m["Properties"]["HttpMethod"] == "POST"
    ]
    assert method["Properties"]["ApiKeyRequired"] is True and method["Properties"]["AuthorizationType"] == "NONE"
    (plan,) = stage.resources("Api", "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Quota"]["Period"] == "DAY"
    assert stage.resources("Api", "AWS::ApiGateway::UsagePlanKey")


@pytest.mark.parametrize(
    ("api", "path"),
    [
        ({"function": {"timeout_seconds": 30}}, "stages.s.api.function.timeout_seconds"),
        ({"function": {"timeout_seconds": 2}}, "stages.s.api.function.timeout_seconds"),
        ({"throttle_rate_limit": 100, "throttle_burst_limit": 50}, "stages.s.api.throttle_burst_limit"),
        ({"authorization": "cognito"}, "stages.s.api.authorization"),
        ({"security_policy": "TLS_1_0"}, "stages.s.api.security_policy"),
        ({"waf_rate_limit": 5}, "stages.s.api.waf_rate_limit"),
    ],
)
def test_api_config_validation(api: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"api": api}}, "s")
    assert error.value.path == path


def test_waf_answers_non_json_posts_with_415_json(sandbox: SynthesizedStage) -> None:
    """API Gateway validates only bodies of the model's content type: other content types stop at the WAF."""
    acl = only(sandbox, "AWS::WAFv2::WebACL")["Properties"]
    (rule,) = [r for r in acl["Rules"] if r["Name"] == "JsonContentTypeOnly"]
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 415
    body = acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON" and "application/json" in json.loads(body["Content"])["error"]
    post, negated = rule["Statement"]["AndStatement"]["Statements"]
    assert post["ByteMatchStatement"]["SearchString"] == "POST"
    regex = negated["NotStatement"]["Statement"]["RegexMatchStatement"]
    assert regex["RegexString"] == f"^{JSON_CONTENT_TYPE}$"
    assert regex["FieldToMatch"] == {"SingleHeader": {"Name": "content-type"}}
    assert regex["TextTransformations"] == [{"Priority": 0, "Type": "LOWERCASE"}]


def test_predict_time_budget_fits_the_function_and_the_integration(every_stage: SynthesizedStage) -> None:
    (function,) = every_stage.resources("Api", "AWS::Lambda::Function").values()
    timeout = function["Properties"]["Timeout"]
    assert function["Properties"]["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"] == str(timeout)
    (method,) = [
        m
        for m in every_stage.resources("Api", "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    assert method["Properties"]["Integration"]["TimeoutInMillis"] == GATEWAY_TIMEOUT_SECONDS * 1000
    assert budget(timeout).worst_case_seconds + OWN_WORK_SECONDS <= timeout
