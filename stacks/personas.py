"""The people who query the lake: one role per persona, each with its own Athena workgroup,
results bucket and results key, so no persona can read what another one queried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import Zone, allow_key, allow_zone, finding_id, role_policy
from stacks.buckets import kms_bucket
from stacks.compliance import acknowledge
from stacks.keys import customer_key, principal_arn
from stacks.names import lake_name

if TYPE_CHECKING:
    from stacks.data_lake_stack import DataLakeStack

TABLE_READ = ["SELECT", "DESCRIBE"]
LF_DATA_ACCESS_REASON = (
    "lakeformation:GetDataAccess supports no resource-level permissions (AWS service authorization "
    "reference); the Lake Formation grants of this principal decide which data it unlocks"
)
ATHENA_ACTIONS = [
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
]
CATALOG_READ = [
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
]


def trust(scope: Construct, principals: Sequence[str]) -> iam.IPrincipal:
    """Who may assume a persona role: the configured principals (ArnLike on
    `aws:PrincipalArn`), or, when none are configured (sandbox only), any principal of
    the account that signed in with MFA."""
    if not principals:
        return iam.AccountRootPrincipal().with_conditions({"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    patterns = [principal_arn(scope, p) for p in principals]
    stack = cdk.Stack.of(scope)
    accounts = sorted({p.split(":")[4] for p in patterns})
    roots: list[iam.IPrincipal] = [
        iam.AccountRootPrincipal() if a == stack.account else iam.AccountPrincipal(a) for a in accounts
    ]
    principal = roots[0] if len(roots) == 1 else iam.CompositePrincipal(*roots)
    return iam.PrincipalWithConditions(principal, {"ArnLike": {"aws:PrincipalArn": patterns}})


class Persona(Construct):
    """One persona: a role its configured principals assume, an enforced Athena workgroup
    whose results go to the persona's own bucket under its own key, and the Lake Formation
    tag grants that decide which tables it reads.

    Exposes `role`, `policy`, `workgroup`, `results` (a :class:`Zone`: bucket and key).
    """

    def __init__(
        self,
        lake: DataLakeStack,
        construct_id: str,
        *,
        name: str,
        description: str,
        principals: Sequence[str],
        expression: dict[str, list[str]],
    ) -> None:
        super().__init__(lake, construct_id)
        self.results = self._results(lake, description)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=lake_name(lake.stage_name, name),
            description=f"{description}: enforced settings, results encrypted with the persona's key",
            recursive_delete_option=lake.removal_policy == cdk.RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results.bucket.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.results.key.key_arn
                    ),
                ),
            ),
        )
        self.role = iam.Role(self, "Role", assumed_by=trust(self, principals), description=description)
        self.policy = role_policy(self, "Policy", self.role, description=description)
        self._permissions(lake, expression)
        lake.grant_by_tags(f"{construct_id}Tags", self.role.role_arn, expression, table_permissions=TABLE_READ)

    def _results(self, lake: DataLakeStack, description: str) -> Zone:
        key = customer_key(
            self,
            "ResultsKey",
            description=f"Athena query results of one persona ({description})",
            admins=lake.key_admins,
            removal_policy=lake.removal_policy,
            via_service="s3",
        )
        bucket = kms_bucket(
            self,
            "Results",
            key=key,
            access_logs=lake.access_log_bucket,
            log_prefix=f"athena-results/{self.node.id}/",
            lifecycle_rule=s3.LifecycleRule(
                id="age-out",
                expiration=cdk.Duration.days(lake.config.athena_results_expire_after_days),
                noncurrent_version_expiration=cdk.Duration.days(lake.config.noncurrent_versions_expire_after_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            ),
            removal_policy=lake.removal_policy,
        )
        return Zone("results", bucket, key)

    def _permissions(self, lake: DataLakeStack, expression: dict[str, list[str]]) -> None:
        """Athena on its own workgroup, catalog reads of its databases (the catalog key only
        through Glue), GetDataAccess, and its own results (read and add, no delete)."""
        policy = self.policy
        stack = cdk.Stack.of(self)
        workgroup_arn = stack.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)
        policy.add_statements(iam.PolicyStatement(actions=ATHENA_ACTIONS, resources=[workgroup_arn]))
        catalog_resources = [stack.format_arn(service="glue", resource="catalog")]
        table_arns = {}
        for zone, database in lake.databases.items():
            if zone in expression.get(lake.zone_tag_key, ()):
                table_arns[zone] = stack.format_arn(service="glue", resource="table", resource_name=f"{database.ref}/*")
                catalog_resources += [
                    stack.format_arn(service="glue", resource="database", resource_name=database.ref),
                    table_arns[zone],
                ]
        policy.add_statements(
            iam.PolicyStatement(actions=CATALOG_READ, resources=catalog_resources),
            iam.PolicyStatement(actions=["lakeformation:GetDataAccess"], resources=["*"]),
        )
        allow_key(policy, lake.catalog_key, via="glue")
        allow_zone(policy, self.results, access="read-put")
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", LF_DATA_ACCESS_REASON)
        for zone, table_arn in table_arns.items():
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{finding_id(policy, table_arn)}]",
                f"Catalog reads cover the tables of the {zone} database, which the ETL crawler creates after "
                "deploy; Lake Formation tag grants still decide which tables return data",
            )
