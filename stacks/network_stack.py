"""Network stack: the private VPC every compute component of the pipeline runs in."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.access import role_policy
from stacks.common import allow_logs_service, from_this_account, log_group
from stacks.compliance import acknowledge, skip_cdk_provider, skip_checkov
from stacks.config import SUBNET_PREFIX_LENGTH, NetworkConfig
from stacks.keys import customer_key

# The singleton function aws-cdk-lib creates for the AwsCustomResource constructs of a stack.
LOOKUP_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"
# Interface endpoints the later stacks call from isolated subnets (no NAT, no internet).
# Each with whether its calls name resources of one account (`aws:ResourceAccount` is in the
# request): STS and X-Ray calls such as GetCallerIdentity and PutTraceSegments have none.
INTERFACE_ENDPOINTS = {
    "SageMakerRuntime": (ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME, True),
    "Sts": (ec2.InterfaceVpcEndpointAwsService.STS, False),
    "Logs": (ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS, True),
    "Kms": (ec2.InterfaceVpcEndpointAwsService.KMS, True),
    "XRay": (ec2.InterfaceVpcEndpointAwsService.XRAY, False),
}
# ECR keeps image layers in this AWS-owned bucket; pulls of SageMaker's built-in images
# through the VPC fetch them with pre-signed URLs of ECR's account.
ECR_LAYER_BUCKET = "prod-{region}-starport-layer-bucket"


class NetworkStack(cdk.Stack):
    """Owns the VPC: isolated subnets in `az_count` AZs, VPC endpoints, flow logs.

    Exposes `vpc` and `subnets` (the isolated subnet selection) for Lambda functions and
    the SageMaker model and training jobs, and `s3_prefix_list_id`. There is no NAT gateway
    and no internet gateway: AWS APIs are reached through the S3 gateway endpoint and the
    interface endpoints, which keeps the data path private and removes the per-hour NAT
    cost from every sandbox.

    Traffic through the S3 gateway endpoint goes to S3's public addresses, which the
    region's AWS-managed prefix list `com.amazonaws.<region>.s3` names, not to the VPC
    CIDR: a security group with restricted egress needs a rule to that prefix list.
    SageMaker downloads model artifacts and training data and
    uploads training output through the job's network interfaces in the VPC, so the
    endpoint and training security groups need it. The prefix list ID differs per region
    and synth looks nothing up, so a deploy-time call resolves it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        key_admins: tuple[str, ...],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.cidr),
            availability_zones=self.availability_zones[: config.az_count],
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=SUBNET_PREFIX_LENGTH
                )
            ],
            restrict_default_security_group=True,
        )
        skip_cdk_provider(
            self, "Custom::VpcRestrictDefaultSGCustomResourceProvider", "closes the default security group"
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.s3_endpoint = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.s3_endpoint.add_to_policy(self._this_account(resources=True))
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"arn:{self.partition}:s3:::{ECR_LAYER_BUCKET.format(region=self.region)}/*"],
            )
        )

        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="HTTPS from inside the VPC to the interface endpoints",
        )
        self.endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(config.cidr), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        for name, (service, resources) in INTERFACE_ENDPOINTS.items():
            endpoint = self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.subnets,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
            endpoint.add_to_policy(self._this_account(resources=resources))

        self.flow_log_key = customer_key(
            self,
            "FlowLogKey",
            description="Encrypts the VPC flow log group",
            admins=key_admins,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        allow_logs_service(self.flow_log_key)
        self.s3_prefix_list_id = self._s3_prefix_list()
        flow_log_group = log_group(
            self, "FlowLogGroup", key=self.flow_log_key, retention_days=config.flow_log_retention_days
        )
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com").with_conditions(
                from_this_account(self, self.format_arn(service="ec2", resource="vpc-flow-log", resource_name="*"))
            ),
        )
        role_policy(
            self, "FlowLogPolicy", flow_log_role, description="VPC flow logs delivery to its log group"
        ).add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[flow_log_group.log_group_arn],
            )
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                flow_log_group, flow_log_role.without_policy_updates()
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    def _this_account(self, *, resources: bool) -> iam.PolicyStatement:
        """An endpoint policy statement: principals of this account only, and (where the
        service names them) resources of this account only, so the endpoint cannot carry
        data to another account or credentials of another account into this VPC."""
        conditions = {"aws:PrincipalAccount": self.account}
        if resources:
            conditions["aws:ResourceAccount"] = self.account
        return iam.PolicyStatement(
            sid="ThisAccountOnly",
            principals=[iam.AnyPrincipal()],
            actions=["*"],
            resources=["*"],
            conditions={"StringEquals": conditions},
        )

    def _s3_prefix_list(self) -> str:
        """The ID of the region's S3 prefix list, read by a deploy-time DescribeManagedPrefixLists."""
        role = iam.Role(
            self,
            "PrefixListLookupRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads the ID of the region's S3 prefix list while the Network stack deploys",
        )
        lookup_logs = log_group(
            self, "PrefixListLookupLogs", key=self.flow_log_key, retention_days=self.config.flow_log_retention_days
        )
        policy = role_policy(self, "PrefixListLookupPolicy", role, description="Read the S3 prefix list ID")
        policy.add_statements(
            iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"]),
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[lookup_logs.log_group_arn]
            ),
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists supports no resource-level permissions (EC2 service authorization "
            "reference); it only reads the names and IDs of prefix lists",
        )
        skip_checkov(
            policy,
            "CKV_AWS_111",
            "ec2:DescribeManagedPrefixLists is a read-only describe call without resource-level permissions; "
            "checkov counts it as a write without constraints",
        )
        name = f"com.amazonaws.{self.region}.s3"
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
            physical_resource_id=cr.PhysicalResourceId.of(name),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        lookup = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_create=call,
            on_update=call,
            role=role,
            log_group=lookup_logs,
            install_latest_aws_sdk=False,
            memory_size=256,
        )
        lookup.node.add_dependency(policy)
        self._acknowledge_lookup_function()
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    def _acknowledge_lookup_function(self) -> None:
        """The aws-cdk-lib function behind every AwsCustomResource of the stack runs only while it deploys."""
        function = self.node.find_child(LOOKUP_FUNCTION_ID)
        where = "The aws-cdk-lib AwsCustomResource function that reads the S3 prefix list ID"
        reasons = {
            "LambdaConcurrency": f"{where} runs once per deployment of the Network stack, invoked by CloudFormation; "
            "a concurrency limit would only add a way for deployments to fail",
            "LambdaDLQ": f"{where} is invoked synchronously by CloudFormation, which receives its errors and fails "
            "the deployment; an asynchronous dead-letter queue would never receive an event",
            "LambdaInsideVPC": f"{where} calls the public EC2 API while the stack deploys, and the isolated subnets "
            "have no EC2 endpoint; it reads one prefix list ID and handles no data of the pipeline",
        }
        for pack in ("HIPAA.Security", "NIST.800.53.R5"):
            for rule, reason in reasons.items():
                acknowledge(function, f"{pack}-{rule}", reason)
        acknowledge(function, "PCI.DSS.321-LambdaInsideVPC", reasons["LambdaInsideVPC"])
        acknowledge(function, "Serverless-LambdaDLQ", reasons["LambdaDLQ"])
        acknowledge(
            function,
            "Serverless-LambdaTracing",
            f"{where} is a deploy-time helper whose tracing aws-cdk-lib does not expose; its single call is "
            "recorded by CloudTrail",
        )
        skip_cdk_provider(self, LOOKUP_FUNCTION_ID, "reads the S3 prefix list ID")

    @property
    def availability_zones(self) -> list[str]:
        """AZs without a lookup: `Fn::GetAZs` picks, so synth needs no credentials."""
        return [cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(self.config.az_count)]
