"""API stack: a versioned, SigV4-authenticated REST API in front of the endpoint."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

import contracts
from contracts.request_schema import JSON_CONTENT_TYPE, request_schema
from contracts.time_budget import GATEWAY_TIMEOUT_SECONDS
from stacks.common import allow_logs_service, log_group
from stacks.compliance import acknowledge, acknowledge_guard, skip_checkov
from stacks.config import ApiConfig
from stacks.inference_stack import FEATURE_STATISTICS
from stacks.keys import customer_key
from stacks.names import waf_log_group_name
from stacks.python_function import PythonFunction

STAGE_NAME = "v1"
# Gateway response templates only substitute variables. `$context.error.messageString` is
# the error message already quoted as a JSON string; the request id is a plain identifier.
# (`validationErrorString` is left out: API Gateway documents no JSON quoting for it.)
JSON_ERROR_TEMPLATE = '{"error": $context.error.messageString, "request_id": "$context.requestId"}'
UNSUPPORTED_MEDIA_TYPE_BODY = json.dumps(
    {"error": "Content-Type must be application/json (charset utf-8)"}, allow_nan=False
)
SYNC_INVOKE_DLQ_REASON = (
    "API Gateway invokes the predict function synchronously and returns its errors to the caller; a Lambda "
    "dead-letter queue only receives failed asynchronous invocations, which this function never has"
)
API_KEY_REASON = (
    "API key mode is an explicit stage choice for callers that cannot sign SigV4; keys belong to a "
    "throttled usage plan with a daily quota and the WAF rate limit still applies"
)
SIGV4_REASON = (
    "Callers authenticate with SigV4 (AWS_IAM authorization) as the course prescribes; IAM policies, "
    "not a Cognito user pool, decide who may call"
)
NO_CACHE_REASON = (
    "The API only serves POST predictions, which API Gateway never caches and whose answers depend on the "
    "request body; a cache cluster would add cost and store model outputs without serving any request"
)
SOURCE_REASON = (
    "The permission admits apigateway.amazonaws.com only with SourceArn (this API, stage and method) and "
    "SourceAccount (this account); both are CloudFormation intrinsics the Control Tower Guard rule cannot read"
)
# The Core rule set blocks every body over 8 KB (SizeRestrictions_BODY: WAF inspects only the first
# 8 KB), but a prediction batch of max_batch_size instances is far larger. The rule only counts;
# the body limit is the function's MAX_BODY_BYTES and the API Gateway model validates every field.
LARGE_BODY_RULES = ("SizeRestrictions_BODY",)
CLOUDWATCH_ROLE_REASON = (
    "API Gateway's account-level CloudWatch role must use the AWS managed policy "
    "AmazonAPIGatewayPushToCloudWatchLogs (API Gateway developer guide); execution logging needs it"
)


class ApiStack(cdk.Stack):
    """Owns the REST API, its predict Lambda, the WAF web ACL and the access logs.

    Exposes `api`, `predict` (the function construct) and `url` (the v1 stage URL).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        endpoint_name: str,
        endpoint_arn: str,
        key_admins: tuple[str, ...],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.key = customer_key(
            self,
            "ApiKey",
            description="Encrypts API logs and the predict function's environment",
            admins=key_admins,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        allow_logs_service(self.key)

        self.predict = PythonFunction(
            self,
            "Predict",
            source="predict",
            handler="predict.handler",
            description="Inference API: validates, encodes like training and invokes the SageMaker endpoint",
            key=self.key,
            vpc=vpc,
            subnets=subnets,
            sizing=config.function,
            environment={
                "ENDPOINT_NAME": endpoint_name,
                "MAX_BATCH_SIZE": str(config.max_batch_size),
                "MAX_BODY_BYTES": str(config.max_body_bytes),
                "FUNCTION_TIMEOUT_SECONDS": str(config.function.timeout_seconds),
                "STATISTICS_FILE": FEATURE_STATISTICS.name,
            },
            extra_files={FEATURE_STATISTICS.name: FEATURE_STATISTICS},
        )
        self.predict.policy.add_statements(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn])
        )
        self.predict.invoked_synchronously(SYNC_INVOKE_DLQ_REASON)

        self.access_logs = log_group(
            self, "AccessLogs", key=self.key, retention_days=config.function.log_retention_days
        )
        self.api = self._rest_api()
        self._predict_resource()
        self.url = self.api.url_for_path("/predict")
        self._waf()

    def _rest_api(self) -> apigateway.RestApi:
        api = apigateway.RestApi(
            self,
            "Api",
            description="ML pipeline inference API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.DESTROY,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=self.config.throttle_rate_limit,
                throttling_burst_limit=self.config.throttle_burst_limit,
                logging_level=apigateway.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        # A client certificate on the stage lets a backend verify calls come from this API.
        certificate = apigateway.CfnClientCertificate(
            self, "ClientCertificate", description="Identifies the v1 stage to backends"
        )
        stage = api.deployment_stage.node.default_child
        assert isinstance(stage, apigateway.CfnStage)
        stage.client_certificate_id = certificate.ref
        for rule_id in (
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted",
            "PCI.DSS.321-APIGWCacheEnabledAndEncrypted",
        ):
            acknowledge(api.deployment_stage, rule_id, NO_CACHE_REASON)
        skip_checkov(api.deployment_stage, "CKV_AWS_120", NO_CACHE_REASON)
        cfn_api = api.node.default_child
        assert isinstance(cfn_api, apigateway.CfnRestApi)
        cfn_api.security_policy = self.config.security_policy
        if self.config.security_policy.startswith("SecurityPolicy_"):
            cfn_api.endpoint_access_mode = "STRICT"
        acknowledge(
            api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            CLOUDWATCH_ROLE_REASON,
        )
        for status, response_type in (
            ("4XX", apigateway.ResponseType.DEFAULT_4_XX),
            ("5XX", apigateway.ResponseType.DEFAULT_5_XX),
        ):
            api.add_gateway_response(
                f"Json{status}",
                type=response_type,
                response_headers={"Content-Type": "'application/json'"},
                templates={"application/json": JSON_ERROR_TEMPLATE},
            )
        return api

    def _predict_resource(self) -> None:
        schema = request_schema(contracts.load(), max_batch_size=self.config.max_batch_size)
        model = self.api.add_model(
            "PredictRequest",
            content_type="application/json",
            description="Prediction request generated from the event contract",
            schema=_json_schema(schema),
        )
        validator = self.api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        iam_auth = self.config.authorization == "iam"
        method = self.api.root.add_resource("predict").add_method(
            "POST",
            apigateway.LambdaIntegration(
                self.predict.function, proxy=True, timeout=cdk.Duration.seconds(GATEWAY_TIMEOUT_SECONDS)
            ),
            authorization_type=apigateway.AuthorizationType.IAM if iam_auth else apigateway.AuthorizationType.NONE,
            api_key_required=not iam_auth,
            request_models={"application/json": model},
            request_validator=validator,
        )
        # API Gateway may invoke the function only for this API of this account (the source ARN
        # names the API, the source account closes the confused-deputy gap the rule checks for).
        for permission in method.node.find_all():
            if isinstance(permission, lambda_.CfnPermission):
                permission.source_account = self.account
                acknowledge_guard(permission, "lambda_function_public_access_prohibited_check", SOURCE_REASON)
        if not iam_auth:
            plan = self.api.add_usage_plan(
                "UsagePlan",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=self.config.throttle_rate_limit, burst_limit=self.config.throttle_burst_limit
                ),
                quota=apigateway.QuotaSettings(limit=self.config.usage_plan_daily_quota, period=apigateway.Period.DAY),
            )
            plan.add_api_stage(stage=self.api.deployment_stage)
            plan.add_api_key(self.api.add_api_key("ClientKey"))
            for rule_id in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(method, rule_id, API_KEY_REASON)
        else:
            acknowledge(method, "AwsSolutions-COG4", SIGV4_REASON)

    def _waf(self) -> None:
        def managed(name: str, priority: int, *, count: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
            """An AWS managed rule group; the rules named in `count` only count matches."""
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in count
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        rate_limit = wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerIp",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=self.config.waf_rate_limit, aggregate_key_type="IP"
                )
            ),
            visibility_config=_visibility("RateLimitPerIp"),
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("InferenceApi"),
            custom_response_bodies={
                "unsupported-media-type": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=UNSUPPORTED_MEDIA_TYPE_BODY
                )
            },
            rules=[
                rate_limit,
                _json_only(priority=1),
                managed("AWSManagedRulesCommonRuleSet", 2, count=LARGE_BODY_RULES),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 3),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
        # WAF requires log groups named aws-waf-logs-*; the Authorization header is redacted.
        waf_logs = log_group(
            self,
            "WafLogs",
            log_group_name=waf_log_group_name(self.stack_name),
            key=self.key,
            retention_days=self.config.function.log_retention_days,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                self.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=waf_logs.log_group_name,
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"})
            ],
        )


def _json_only(*, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    """POST requests whose Content-Type is not JSON get a 415 with a JSON body before API Gateway.

    API Gateway validates a body only against the model of its content type, so another
    content type would skip validation; the predict function applies the same pattern.
    """
    post = wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
            positional_constraint="EXACTLY",
            search_string="POST",
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )
    json_content = wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": "content-type"}),
            regex_string=f"^{JSON_CONTENT_TYPE}$",
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")],
        )
    )
    return wafv2.CfnWebACL.RuleProperty(
        name="JsonContentTypeOnly",
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=415, custom_response_body_key="unsupported-media-type"
                )
            )
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            and_statement=wafv2.CfnWebACL.AndStatementProperty(
                statements=[
                    post,
                    wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=json_content)
                    ),
                ]
            )
        ),
        visibility_config=_visibility("JsonContentTypeOnly"),
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _json_schema(schema: dict[str, object]) -> apigateway.JsonSchema:
    """Convert a JSON Schema dict into CDK's JsonSchema (recursively)."""
    kinds = {
        "object": apigateway.JsonSchemaType.OBJECT,
        "array": apigateway.JsonSchemaType.ARRAY,
        "string": apigateway.JsonSchemaType.STRING,
        "number": apigateway.JsonSchemaType.NUMBER,
        "integer": apigateway.JsonSchemaType.INTEGER,
    }
    props = schema.get("properties")
    items = schema.get("items")
    return apigateway.JsonSchema(
        schema=apigateway.JsonSchemaVersion.DRAFT4 if "$schema" in schema else None,
        title=schema.get("title"),  # type: ignore[arg-type]
        description=schema.get("description"),  # type: ignore[arg-type]
        type=kinds[schema["type"]],  # type: ignore[index]
        required=schema.get("required"),  # type: ignore[arg-type]
        additional_properties=schema.get("additionalProperties"),  # type: ignore[arg-type]
        properties={k: _json_schema(v) for k, v in props.items()} if isinstance(props, dict) else None,
        items=_json_schema(items) if isinstance(items, dict) else None,
        min_items=schema.get("minItems"),  # type: ignore[arg-type]
        max_items=schema.get("maxItems"),  # type: ignore[arg-type]
        minimum=schema.get("minimum"),  # type: ignore[arg-type]
        maximum=schema.get("maximum"),  # type: ignore[arg-type]
        min_length=schema.get("minLength"),  # type: ignore[arg-type]
        max_length=schema.get("maxLength"),  # type: ignore[arg-type]
        pattern=schema.get("pattern"),  # type: ignore[arg-type]
        enum=schema.get("enum"),  # type: ignore[arg-type]
    )
