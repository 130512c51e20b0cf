"""Data lake stack: encrypted S3 zones governed by Lake Formation, queried with Athena."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lakeformation as lakeformation
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import allow_bucket, allow_key, finding_id, role_policy
from stacks.buckets import access_log_bucket, kms_bucket
from stacks.common import allow_logs_service
from stacks.compliance import acknowledge
from stacks.config import DataLakeConfig, LakeFormationConfig
from stacks.names import WORKGROUP, ZONES, lake_name

CLASSIFICATION = {"raw": "pii", "curated": "non-pii"}
TABLE_READ = ["SELECT", "DESCRIBE"]

LF_DATA_ACCESS_REASON = (
    "lakeformation:GetDataAccess supports no resource-level permissions (AWS service authorization "
    "reference); the Lake Formation grants of this principal decide which data it unlocks"
)


class DataLakeStack(cdk.Stack):
    """Owns the lake: CMK, zone buckets, access-log bucket, Glue catalog and Lake Formation.

    Exposes `key` (the lake CMK), `raw_bucket`, `curated_bucket`, `athena_results_bucket`,
    `raw_database_name`, `curated_database_name`, `lake_settings` (so later grants can
    depend on it), the persona roles and `zone_tag_key`/`classification_tag_key`.

    Stateful: logical IDs are kept stable (a test pins them) and termination protection
    is on outside sandbox stages. Only sandbox stages may destroy and empty buckets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DataLakeConfig,
        lake_formation: LakeFormationConfig,
        stage_name: str,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.removal_policy = (
            cdk.RemovalPolicy.DESTROY if config.removal_policy == "destroy" else cdk.RemovalPolicy.RETAIN
        )
        self.stage_name = stage_name

        self.key = kms.Key(
            self,
            "LakeKey",
            description="Encrypts the data lake zones, Glue catalog, Athena results and pipeline streams",
            enable_key_rotation=True,
            removal_policy=self.removal_policy,
        )
        allow_logs_service(self.key)
        self.access_log_bucket = access_log_bucket(
            self,
            "AccessLogs",
            expire_after_days=config.access_log_expire_after_days,
            noncurrent_expire_after_days=config.noncurrent_versions_expire_after_days,
            removal_policy=self.removal_policy,
        )
        self.raw_bucket = self._zone_bucket("RawZone", "raw/")
        self.curated_bucket = self._zone_bucket("CuratedZone", "curated/")
        self.athena_results_bucket = self._zone_bucket(
            "AthenaResults", "athena-results/", expire_days=config.athena_results_expire_after_days
        )

        self.lake_settings = self._lake_settings(lake_formation.admin_arns)
        self.registration_role = self._registration_role()
        self.locations = {
            "raw": self._register_location("RawLocation", self.raw_bucket),
            "curated": self._register_location("CuratedLocation", self.curated_bucket),
        }
        glue.CfnDataCatalogEncryptionSettings(
            self,
            "CatalogEncryption",
            catalog_id=self.account,
            data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                    catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=self.key.key_arn
                ),
                connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                    return_connection_password_encrypted=True, kms_key_id=self.key.key_arn
                ),
            ),
        )
        self.databases = {zone: self._database(zone) for zone in ZONES}
        # Plain names (not Refs): consumers depend on this stack, and exact names keep their
        # IAM resources and acknowledgements readable.
        self.raw_database_name = self.database_name("raw")
        self.curated_database_name = self.database_name("curated")

        self.zone_tag_key = lake_name(stage_name, "zone")
        self.classification_tag_key = lake_name(stage_name, "classification")
        self.tags_ = self._lf_tags()
        self.tag_associations = {zone: self._tag_database(zone) for zone in ZONES}

        self.workgroup = self._athena_workgroup()
        self.data_scientist_role = self._persona(
            "DataScientistRole",
            "Data scientist: explores raw (PII) and curated data through Athena",
            {self.zone_tag_key: list(ZONES)},
        )
        self.mlops_role = self._persona(
            "MlOpsRole",
            "MLOps engineer: reads curated, non-PII data only",
            {self.zone_tag_key: ["curated"], self.classification_tag_key: ["non-pii"]},
        )

    # --- storage -------------------------------------------------------------------------

    def _zone_bucket(self, construct_id: str, log_prefix: str, *, expire_days: int | None = None) -> s3.Bucket:
        transitions = [
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=cdk.Duration.days(self.config.infrequent_access_after_days),
            ),
            s3.Transition(
                storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                transition_after=cdk.Duration.days(self.config.glacier_after_days),
            ),
        ]
        return kms_bucket(
            self,
            construct_id,
            key=self.key,
            access_logs=self.access_log_bucket,
            log_prefix=log_prefix,
            lifecycle_rule=s3.LifecycleRule(
                id="age-out",
                transitions=None if expire_days else transitions,
                expiration=cdk.Duration.days(expire_days) if expire_days else None,
                noncurrent_version_expiration=cdk.Duration.days(self.config.noncurrent_versions_expire_after_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            ),
            removal_policy=self.removal_policy,
        )

    # --- Lake Formation ------------------------------------------------------------------

    def _lake_settings(self, extra_admins: tuple[str, ...]) -> lakeformation.CfnDataLakeSettings:
        """Make the CloudFormation execution role (and configured principals) LF admins.

        APPEND keeps admins that already exist in the account; REPLACE would remove them.
        """
        synthesizer = self.synthesizer
        execution_role = getattr(synthesizer, "cloud_formation_execution_role_arn", None)
        admins = [cdk.Fn.sub(execution_role)] if execution_role else []
        admins += list(extra_admins)
        return lakeformation.CfnDataLakeSettings(
            self,
            "LakeSettings",
            mutation_type="APPEND",
            admins=[
                lakeformation.CfnDataLakeSettings.DataLakePrincipalProperty(data_lake_principal_identifier=a)
                for a in admins
            ],
        )

    def _registration_role(self) -> iam.Role:
        """Role Lake Formation assumes to vend credentials for the zones.

        The service-linked role cannot be granted use of a customer-managed key, so a
        dedicated role with access to exactly these buckets and this key is registered.
        """
        role = iam.Role(
            self,
            "LocationRegistrationRole",
            assumed_by=iam.ServicePrincipal("lakeformation.amazonaws.com"),
            description="Lake Formation data-location role for the raw and curated zones",
        )
        policy = self.registration_policy = role_policy(
            self, "LocationRegistrationPolicy", role, description="Lake Formation access to the zone buckets"
        )
        for bucket in (self.raw_bucket, self.curated_bucket):
            allow_bucket(policy, bucket, write=True)
        allow_key(policy, self.key, encrypt=True)
        return role

    def _register_location(self, construct_id: str, bucket: s3.Bucket) -> lakeformation.CfnResource:
        location = lakeformation.CfnResource(
            self,
            construct_id,
            resource_arn=bucket.bucket_arn,
            use_service_linked_role=False,
            role_arn=self.registration_role.role_arn,
        )
        location.add_resource_dependency(self.lake_settings)
        location.node.add_dependency(self.registration_policy)
        return location

    def _database(self, zone: str) -> glue.CfnDatabase:
        bucket = self.raw_bucket if zone == "raw" else self.curated_bucket
        database = glue.CfnDatabase(
            self,
            f"{zone.capitalize()}Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name(zone),
                description=f"{zone} zone of the ML data lake",
                location_uri=f"s3://{bucket.bucket_name}/",
            ),
        )
        database.add_resource_dependency(self.lake_settings)
        return database

    def database_name(self, zone: str) -> str:
        return lake_name(self.stage_name, zone)

    def _lf_tags(self) -> dict[str, lakeformation.CfnTag]:
        tags = {
            self.zone_tag_key: lakeformation.CfnTag(
                self, "ZoneTag", catalog_id=self.account, tag_key=self.zone_tag_key, tag_values=list(ZONES)
            ),
            self.classification_tag_key: lakeformation.CfnTag(
                self,
                "ClassificationTag",
                catalog_id=self.account,
                tag_key=self.classification_tag_key,
                tag_values=sorted(set(CLASSIFICATION.values())),
            ),
        }
        for tag in tags.values():
            tag.add_resource_dependency(self.lake_settings)
        return tags

    def _tag_database(self, zone: str) -> lakeformation.CfnTagAssociation:
        database = self.databases[zone]
        association = lakeformation.CfnTagAssociation(
            self,
            f"{zone.capitalize()}DatabaseTags",
            resource=lakeformation.CfnTagAssociation.ResourceProperty(
                database=lakeformation.CfnTagAssociation.DatabaseResourceProperty(
                    catalog_id=self.account, name=database.ref
                )
            ),
            lf_tags=[
                lakeformation.CfnTagAssociation.LFTagPairProperty(
                    catalog_id=self.account, tag_key=self.zone_tag_key, tag_values=[zone]
                ),
                lakeformation.CfnTagAssociation.LFTagPairProperty(
                    catalog_id=self.account, tag_key=self.classification_tag_key, tag_values=[CLASSIFICATION[zone]]
                ),
            ],
        )
        for dependency in self.tags_.values():
            association.add_resource_dependency(dependency)
        return association

    def grant_by_tags(
        self, construct_id: str, principal_arn: str, expression: dict[str, list[str]], *, table_permissions: list[str]
    ) -> list[lakeformation.CfnPrincipalPermissions]:
        """LF-tag based grants: DESCRIBE on matching databases, `table_permissions` on their tables.

        Each grant depends on the lake settings, the tagged databases and the registered
        locations, so CloudFormation never creates a grant before the admin, the tags and
        the data locations exist.
        """
        tag_expression = [
            lakeformation.CfnPrincipalPermissions.LFTagProperty(tag_key=k, tag_values=v) for k, v in expression.items()
        ]
        grants = []
        for resource_type, permissions in (("DATABASE", ["DESCRIBE"]), ("TABLE", table_permissions)):
            grant = lakeformation.CfnPrincipalPermissions(
                self,
                f"{construct_id}{resource_type.capitalize()}Grant",
                principal=lakeformation.CfnPrincipalPermissions.DataLakePrincipalProperty(
                    data_lake_principal_identifier=principal_arn
                ),
                resource=lakeformation.CfnPrincipalPermissions.ResourceProperty(
                    lf_tag_policy=lakeformation.CfnPrincipalPermissions.LFTagPolicyResourceProperty(
                        catalog_id=self.account, resource_type=resource_type, expression=tag_expression
                    )
                ),
                permissions=permissions,
                permissions_with_grant_option=[],
            )
            for dependency in (self.lake_settings, *self.tag_associations.values(), *self.locations.values()):
                grant.add_resource_dependency(dependency)
            grants.append(grant)
        return grants

    # --- consumers -----------------------------------------------------------------------

    def _athena_workgroup(self) -> athena.CfnWorkGroup:
        return athena.CfnWorkGroup(
            self,
            "AthenaWorkGroup",
            name=lake_name(self.stage_name, WORKGROUP),
            description="Lake queries with enforced, KMS-encrypted results",
            recursive_delete_option=self.removal_policy == cdk.RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.athena_results_bucket.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.key.key_arn
                    ),
                ),
            ),
        )

    def _persona(self, construct_id: str, description: str, expression: dict[str, list[str]]) -> iam.Role:
        """A role people in this account assume to query the lake through Athena.

        Lake Formation decides which tables it sees (tag-based grants); IAM only allows
        the Athena/Glue/LF calls and the results bucket, scoped to this lake.
        """
        role = iam.Role(self, construct_id, assumed_by=iam.AccountRootPrincipal(), description=description)
        policy = role_policy(self, f"{construct_id}Policy", role, description=description)
        workgroup_arn = self.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)
        policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                ],
                resources=[workgroup_arn],
            )
        )
        catalog_resources = [self.format_arn(service="glue", resource="catalog")]
        table_arns = {}
        for zone, database in self.databases.items():
            if zone in expression.get(self.zone_tag_key, ()):
                table_arns[zone] = self.format_arn(service="glue", resource="table", resource_name=f"{database.ref}/*")
                catalog_resources += [
                    self.format_arn(service="glue", resource="database", resource_name=database.ref),
                    table_arns[zone],
                ]
        policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                ],
                resources=catalog_resources,
            )
        )
        policy.add_statements(iam.PolicyStatement(actions=["lakeformation:GetDataAccess"], resources=["*"]))
        allow_bucket(policy, self.athena_results_bucket, write=True, prefix="results/")
        allow_key(policy, self.key, encrypt=True)
        self.grant_by_tags(construct_id, role.role_arn, expression, table_permissions=TABLE_READ)
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", LF_DATA_ACCESS_REASON)
        for zone, table_arn in table_arns.items():
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{finding_id(policy, table_arn)}]",
                f"Catalog reads cover the tables of the {zone} database, which the ETL crawler creates after "
                "deploy; Lake Formation tag grants still decide which tables return data",
            )
        return role
