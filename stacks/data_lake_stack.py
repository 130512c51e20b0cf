"""Data lake stack: encrypted S3 zones governed by Lake Formation, queried with Athena."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lakeformation as lakeformation
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import Zone, allow_zone, role_policy
from stacks.buckets import access_log_bucket, kms_bucket
from stacks.config import DataLakeConfig, LakeFormationConfig, PersonasConfig
from stacks.keys import customer_key
from stacks.names import ZONES, lake_name
from stacks.personas import Persona

CLASSIFICATION = {"raw": "pii", "curated": "non-pii"}  # of the zones Lake Formation governs
ZONE_KEYS = {
    # The raw key keeps the construct ID of the single lake key it was split from, so the key
    # (and the raw data encrypted with it) is not replaced.
    "raw": ("LakeKey", "Encrypts the raw zone (PII): events as ingested"),
    "curated": ("CuratedKey", "Encrypts the curated zone: prepared, non-PII features and training data"),
    "capture": ("CaptureKey", "Encrypts the endpoint's captured requests and responses"),
}


class DataLakeStack(cdk.Stack):
    """Owns the lake: a key per zone, the zone buckets, the access-log bucket, the Glue
    catalog (with its own key), Lake Formation and the personas.

    Exposes `zones` (raw, curated, capture: bucket, key and database name, see
    :class:`stacks.access.Zone`; plain database names, not Refs, keep consumers' IAM
    resources and acknowledgements readable), `raw_bucket`, `curated_bucket`,
    `capture_bucket`, `catalog_key`, `lake_settings` (so later grants can depend on it),
    `personas` and `zone_tag_key`/`classification_tag_key`.

    Lake Formation is authoritative for the lake's databases: their tables get no default
    permissions (no `IAMAllowedPrincipals`), so only explicit grants give access. Each key's
    policy separates its administrators from its users, and a zone key is usable only
    through S3 (see stacks.keys).

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
        personas: PersonasConfig,
        key_admins: tuple[str, ...],
        stage_name: str,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.key_admins = key_admins
        self.removal_policy = (
            cdk.RemovalPolicy.DESTROY if config.removal_policy == "destroy" else cdk.RemovalPolicy.RETAIN
        )
        self.stage_name = stage_name

        self.access_log_bucket = access_log_bucket(
            self,
            "AccessLogs",
            expire_after_days=config.access_log_expire_after_days,
            noncurrent_expire_after_days=config.noncurrent_versions_expire_after_days,
            removal_policy=self.removal_policy,
        )
        keys = {
            zone: customer_key(
                self,
                key_id,
                description=description,
                admins=key_admins,
                removal_policy=self.removal_policy,
                via_service="s3",
            )
            for zone, (key_id, description) in ZONE_KEYS.items()
        }
        self.raw_bucket = self._zone_bucket("RawZone", "raw/", keys["raw"])
        self.curated_bucket = self._zone_bucket("CuratedZone", "curated/", keys["curated"])
        self.capture_bucket = self._zone_bucket("CaptureZone", "capture/", keys["capture"])
        self.catalog_key = customer_key(
            self,
            "CatalogKey",
            description="Encrypts the Glue Data Catalog (table metadata) and connection passwords",
            admins=key_admins,
            removal_policy=self.removal_policy,
            via_service="glue",
        )

        self.lake_settings = self._lake_settings(lake_formation.admin_arns)
        self.databases = {zone: self._database(zone) for zone in ZONES}
        self.zones = {
            "raw": Zone("raw", self.raw_bucket, keys["raw"], self.database_name("raw")),
            "curated": Zone("curated", self.curated_bucket, keys["curated"], self.database_name("curated")),
            # Captured requests are raw (PII) data: their table lives in the raw database.
            "capture": Zone("capture", self.capture_bucket, keys["capture"], self.database_name("raw")),
        }
        self.registration_role = self._registration_role()
        # The capture zone is registered too: Lake Formation vends the credentials that read
        # its table (see stacks/capture_table.py).
        self.locations = {
            zone: self._register_location(f"{zone.capitalize()}Location", self.zones[zone].bucket.bucket_arn)
            for zone in (*ZONES, "capture")
        }
        glue.CfnDataCatalogEncryptionSettings(
            self,
            "CatalogEncryption",
            catalog_id=self.account,
            data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                    catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=self.catalog_key.key_arn
                ),
                connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                    return_connection_password_encrypted=True, kms_key_id=self.catalog_key.key_arn
                ),
            ),
        )

        self.zone_tag_key = lake_name(stage_name, "zone")
        self.classification_tag_key = lake_name(stage_name, "classification")
        self.tags_ = self._lf_tags()
        self.tag_associations = {zone: self._tag_database(zone) for zone in ZONES}

        self.personas = {
            "data_scientist": Persona(
                self,
                "DataScientist",
                name="data_scientist",
                description="Data scientist: explores raw (PII) and curated data through Athena",
                principals=personas.data_scientist,
                expression={self.zone_tag_key: list(ZONES)},
            ),
            "mlops": Persona(
                self,
                "MlOps",
                name="mlops",
                description="MLOps engineer: reads curated, non-PII data only",
                principals=personas.mlops,
                expression={self.zone_tag_key: ["curated"], self.classification_tag_key: ["non-pii"]},
            ),
        }

    # --- storage -------------------------------------------------------------------------

    def _zone_bucket(self, construct_id: str, log_prefix: str, key: kms.IKey) -> s3.Bucket:
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
            key=key,
            access_logs=self.access_log_bucket,
            log_prefix=log_prefix,
            lifecycle_rule=s3.LifecycleRule(
                id="age-out",
                transitions=transitions,
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
        for zone in ZONES:
            allow_zone(policy, self.zones[zone], access="read-write")
        allow_zone(policy, self.zones["capture"], access="read")
        return role

    def _register_location(self, construct_id: str, bucket_arn: str) -> lakeformation.CfnResource:
        location = lakeformation.CfnResource(
            self,
            construct_id,
            resource_arn=bucket_arn,
            use_service_linked_role=False,
            role_arn=self.registration_role.role_arn,
        )
        location.add_resource_dependency(self.lake_settings)
        location.node.add_dependency(self.registration_policy)
        return location

    def _database(self, zone: str) -> glue.CfnDatabase:
        """A zone's database. Its tables get no default permissions: without this, Lake
        Formation gives `IAMAllowedPrincipals` ALL on every new table (the account's default
        for IAM compatibility) and the tag grants are not in effect. The account-wide
        defaults stay as they are."""
        bucket = self.raw_bucket if zone == "raw" else self.curated_bucket
        database = glue.CfnDatabase(
            self,
            f"{zone.capitalize()}Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name(zone),
                description=f"{zone} zone of the ML data lake",
                location_uri=f"s3://{bucket.bucket_name}/",
                create_table_default_permissions=[],
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
