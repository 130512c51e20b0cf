"""Data lake stack: encrypted, logged, lifecycle-managed zones governed by Lake Formation."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.synth import SynthesizedStage

ZONE_BUCKETS = ("RawZone", "CuratedZone", "AthenaResults")


def bucket(stage: SynthesizedStage, prefix: str) -> dict[str, Any]:
    (found,) = [v for k, v in stage.resources("DataLake", "AWS::S3::Bucket").items() if k.startswith(prefix)]
    return found


def test_zone_buckets_use_the_lake_cmk_with_bucket_keys(every_stage: SynthesizedStage) -> None:
    for name in ZONE_BUCKETS:
        (rule,) = bucket(every_stage, name)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BucketKeyEnabled"] is True
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0].startswith("LakeKey")


def test_access_log_bucket_uses_sse_s3(sandbox: SynthesizedStage) -> None:
    (rule,) = bucket(sandbox, "AccessLogs")["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_every_bucket_blocks_public_access_and_is_versioned(every_stage: SynthesizedStage) -> None:
    for props in (b["Properties"] for b in every_stage.resources("DataLake", "AWS::S3::Bucket").values()):
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_bucket_denies_plain_http(every_stage: SynthesizedStage) -> None:
    policies = every_stage.resources("DataLake", "AWS::S3::BucketPolicy").values()
    assert len(policies) == len(every_stage.resources("DataLake", "AWS::S3::Bucket"))
    for policy in policies:
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_zone_buckets_log_to_the_access_log_bucket(every_stage: SynthesizedStage) -> None:
    for name in ZONE_BUCKETS:
        logging = bucket(every_stage, name)["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"]["Ref"].startswith("AccessLogs")
        assert logging["LogFilePrefix"]


def test_lifecycle_moves_ageing_data_and_expires_noncurrent_versions(every_stage: SynthesizedStage) -> None:
    config = every_stage.config.data_lake
    for name in ("RawZone", "CuratedZone"):
        (rule,) = bucket(every_stage, name)["Properties"]["LifecycleConfiguration"]["Rules"]
        assert rule["Transitions"] == [
            {"StorageClass": "STANDARD_IA", "TransitionInDays": config.infrequent_access_after_days},
            {"StorageClass": "GLACIER_IR", "TransitionInDays": config.glacier_after_days},
        ]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": config.noncurrent_versions_expire_after_days}
    (rule,) = bucket(every_stage, "AthenaResults")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == config.athena_results_expire_after_days


def test_removal_policy_follows_the_stage(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    for name in (*ZONE_BUCKETS, "AccessLogs"):
        assert bucket(sandbox, name)["DeletionPolicy"] == "Delete"
        assert bucket(prod, name)["DeletionPolicy"] == "Retain"
    sandbox.template("DataLake").resource_count_is("Custom::S3AutoDeleteObjects", 4)
    prod.template("DataLake").resource_count_is("Custom::S3AutoDeleteObjects", 0)
    assert sandbox.stacks["DataLake"].termination_protection is False
    assert prod.stacks["DataLake"].termination_protection is True


def test_lake_key_rotates_and_trusts_logs_service(sandbox: SynthesizedStage) -> None:
    (key,) = [v for k, v in sandbox.resources("DataLake", "AWS::KMS::Key").items() if k.startswith("LakeKey")]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert any("logs." in str(s["Principal"]) for s in key["Properties"]["KeyPolicy"]["Statement"])


def test_lake_settings_append_the_cfn_execution_role(every_stage: SynthesizedStage) -> None:
    (settings,) = every_stage.resources("DataLake", "AWS::LakeFormation::DataLakeSettings").values()
    assert settings["Properties"]["MutationType"] == "APPEND"
    (admin,) = settings["Properties"]["Admins"]
    assert "cfn-exec-role" in admin["DataLakePrincipalIdentifier"]["Fn::Sub"]


def test_locations_registered_with_dedicated_role(every_stage: SynthesizedStage) -> None:
    locations = every_stage.resources("DataLake", "AWS::LakeFormation::Resource")
    assert len(locations) == 2
    for location in locations.values():
        assert location["Properties"]["UseServiceLinkedRole"] is False
        assert location["Properties"]["RoleArn"]["Fn::GetAtt"][0].startswith("LocationRegistrationRole")
        assert any(d.startswith("LakeSettings") for d in location["DependsOn"])
    every_stage.template("DataLake").has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "lakeformation.amazonaws.com"}})]}
            )
        },
    )


def test_databases_are_created_after_lake_settings(every_stage: SynthesizedStage) -> None:
    databases = every_stage.resources("DataLake", "AWS::Glue::Database")
    assert len(databases) == 2
    for database in databases.values():
        assert any(d.startswith("LakeSettings") for d in database["DependsOn"])


def test_catalog_encrypted_with_the_lake_cmk(sandbox: SynthesizedStage) -> None:
    sandbox.template("DataLake").has_resource_properties(
        "AWS::Glue::DataCatalogEncryptionSettings",
        {
            "DataCatalogEncryptionSettings": {
                "EncryptionAtRest": {"CatalogEncryptionMode": "SSE-KMS", "SseAwsKmsKeyId": Match.any_value()},
                "ConnectionPasswordEncryption": Match.any_value(),
            }
        },
    )


def test_lf_tags_attached_to_databases(sandbox: SynthesizedStage) -> None:
    tags = {
        t["Properties"]["TagKey"]: t["Properties"]["TagValues"]
        for t in sandbox.resources("DataLake", "AWS::LakeFormation::Tag").values()
    }
    prefix = "mlpipeline_sandbox"
    assert tags == {f"{prefix}_zone": ["raw", "curated"], f"{prefix}_classification": ["non-pii", "pii"]}
    associations = {}
    for association in sandbox.resources("DataLake", "AWS::LakeFormation::TagAssociation").values():
        pairs = {p["TagKey"]: p["TagValues"] for p in association["Properties"]["LFTags"]}
        associations[pairs[f"{prefix}_zone"][0]] = pairs[f"{prefix}_classification"]
    assert associations == {"raw": ["pii"], "curated": ["non-pii"]}


def _grants_of(stage: SynthesizedStage, role_prefix: str) -> list[dict[str, Any]]:
    return [
        g
        for g in stage.resources("DataLake", "AWS::LakeFormation::PrincipalPermissions").values()
        if g["Properties"]["Principal"]["DataLakePrincipalIdentifier"]["Fn::GetAtt"][0].startswith(role_prefix)
    ]


def _expression(grant: dict[str, Any]) -> dict[str, list[str]]:
    return {
        e["TagKey"].rsplit("_", 1)[1]: e["TagValues"]
        for e in grant["Properties"]["Resource"]["LFTagPolicy"]["Expression"]
    }


def test_data_scientist_reads_raw_and_curated(sandbox: SynthesizedStage) -> None:
    grants = _grants_of(sandbox, "DataScientistRole")
    assert {g["Properties"]["Resource"]["LFTagPolicy"]["ResourceType"] for g in grants} == {"DATABASE", "TABLE"}
    for grant in grants:
        assert _expression(grant) == {"zone": ["raw", "curated"]}
    (table,) = [g for g in grants if g["Properties"]["Resource"]["LFTagPolicy"]["ResourceType"] == "TABLE"]
    assert table["Properties"]["Permissions"] == ["SELECT", "DESCRIBE"]


def test_mlops_reads_curated_non_pii_only(sandbox: SynthesizedStage) -> None:
    grants = _grants_of(sandbox, "MlOpsRole")
    assert len(grants) == 2
    for grant in grants:
        assert _expression(grant) == {"zone": ["curated"], "classification": ["non-pii"]}
        assert grant["Properties"]["PermissionsWithGrantOption"] == []


def test_every_grant_depends_on_settings_tags_and_locations(every_stage: SynthesizedStage) -> None:
    for grant in every_stage.resources("DataLake", "AWS::LakeFormation::PrincipalPermissions").values():
        depends = grant["DependsOn"]
        assert any(d.startswith("LakeSettings") for d in depends)
        assert sum(d.startswith(("RawDatabaseTags", "CuratedDatabaseTags")) for d in depends) == 2
        assert sum(d.startswith(("RawLocation", "CuratedLocation")) for d in depends) == 2


def test_personas_can_get_data_access_and_use_the_workgroup(sandbox: SynthesizedStage) -> None:
    policies = [
        p
        for k, p in sandbox.resources("DataLake", "AWS::IAM::ManagedPolicy").items()
        if k.startswith(("DataScientist", "MlOps"))
    ]
    assert len(policies) == 2
    for policy in policies:
        actions = [
            a
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        ]
        assert "lakeformation:GetDataAccess" in actions
        assert "athena:StartQueryExecution" in actions
        assert not any(a.endswith("*") for a in actions)


def test_athena_workgroup_enforces_kms_encrypted_results(every_stage: SynthesizedStage) -> None:
    every_stage.template("DataLake").has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": Match.object_like(
                        {"EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": Match.any_value()}}
                    ),
                }
            )
        },
    )


def test_no_role_has_an_inline_policy(every_stage: SynthesizedStage) -> None:
    for unit in every_stage.templates:
        inline = every_stage.resources(unit, "AWS::IAM::Policy")
        assert not inline, f"{unit} has inline policies {sorted(inline)}"
