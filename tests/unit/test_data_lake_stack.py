"""Data lake stack: encrypted, logged, lifecycle-managed zones governed by Lake Formation."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.synth import SynthesizedStage

ZONE_BUCKETS = {"RawZone": "LakeKey", "CuratedZone": "CuratedKey", "CaptureZone": "CaptureKey"}
PERSONAS = ("DataScientist", "MlOps")


def bucket(stage: SynthesizedStage, prefix: str) -> dict[str, Any]:
    (found,) = [v for k, v in stage.resources("DataLake", "AWS::S3::Bucket").items() if k.startswith(prefix)]
    return found


def key_of(stage: SynthesizedStage, bucket_prefix: str) -> str:
    (rule,) = bucket(stage, bucket_prefix)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    return str(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0])


def test_each_zone_and_each_persona_results_bucket_has_its_own_key(every_stage: SynthesizedStage) -> None:
    keys = {name: key_of(every_stage, name) for name in ZONE_BUCKETS}
    for name, key in ZONE_BUCKETS.items():
        assert keys[name].startswith(key)
    keys.update({persona: key_of(every_stage, f"{persona}Results") for persona in PERSONAS})
    assert len(set(keys.values())) == len(keys)
    catalog = every_stage.resources("DataLake", "AWS::Glue::DataCatalogEncryptionSettings")
    (settings,) = catalog.values()
    catalog_key = settings["Properties"]["DataCatalogEncryptionSettings"]["EncryptionAtRest"]["SseAwsKmsKeyId"]
    assert catalog_key["Fn::GetAtt"][0].startswith("CatalogKey")


def test_key_policies_separate_administrators_from_users(every_stage: SynthesizedStage) -> None:
    for unit in every_stage.templates:
        for logical_id, key in every_stage.resources(unit, "AWS::KMS::Key").items():
            statements = key["Properties"]["KeyPolicy"]["Statement"]
            assert not any(s["Action"] in ("kms:*", ["kms:*"]) for s in statements), logical_id
            administration = [s for s in statements if s.get("Sid", "").startswith("KeyAdministration")]
            assert administration, logical_id
            for statement in administration:
                assert not any(
                    a.startswith(("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")) for a in statement["Action"]
                )


def test_zone_keys_are_usable_only_through_s3(every_stage: SynthesizedStage) -> None:
    keys = every_stage.resources("DataLake", "AWS::KMS::Key")
    for name in ("LakeKey", "CuratedKey", "CaptureKey"):
        (key,) = [v for k, v in keys.items() if k.startswith(name)]
        (use,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("UseBy")]
        assert use["Sid"] == "UseByAccountPrincipalsViaS3"
        assert "kms:ViaService" in use["Condition"]["StringEquals"]


def test_prod_key_administrators_come_from_config(prod: SynthesizedStage) -> None:
    (key,) = [v for k, v in prod.resources("DataLake", "AWS::KMS::Key").items() if k.startswith("CuratedKey")]
    (admins,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "KeyAdministration"]
    patterns = admins["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert [p["Fn::Join"][1][-1] for p in patterns] == [f":{p}" for p in prod.config.keys.admin_principals]


def test_databases_give_new_tables_no_default_permissions(every_stage: SynthesizedStage) -> None:
    for database in every_stage.resources("DataLake", "AWS::Glue::Database").values():
        assert database["Properties"]["DatabaseInput"]["CreateTableDefaultPermissions"] == []


def test_no_grant_to_iam_allowed_principals(every_stage: SynthesizedStage) -> None:
    for unit, template in every_stage.templates.items():
        assert "IAM_ALLOWED_PRINCIPALS" not in str(template), unit


def test_data_buckets_deny_other_accounts_and_other_keys(every_stage: SynthesizedStage) -> None:
    policies = every_stage.resources("DataLake", "AWS::S3::BucketPolicy")
    for policy in policies.values():
        sids = {s.get("Sid") for s in policy["Properties"]["PolicyDocument"]["Statement"]}
        assert "DenyPrincipalsOutsideAccount" in sids
        if not policy["Properties"]["Bucket"]["Ref"].startswith("AccessLogs"):
            assert {"DenyOtherEncryption", "DenyOtherKeys"} <= sids


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
    for name in ZONE_BUCKETS:
        (rule,) = bucket(every_stage, name)["Properties"]["LifecycleConfiguration"]["Rules"]
        assert rule["Transitions"] == [
            {"StorageClass": "STANDARD_IA", "TransitionInDays": config.infrequent_access_after_days},
            {"StorageClass": "GLACIER_IR", "TransitionInDays": config.glacier_after_days},
        ]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": config.noncurrent_versions_expire_after_days}
    for persona in PERSONAS:
        (rule,) = bucket(every_stage, f"{persona}Results")["Properties"]["LifecycleConfiguration"]["Rules"]
        assert rule["ExpirationInDays"] == config.athena_results_expire_after_days


def test_removal_policy_follows_the_stage(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    names = (*ZONE_BUCKETS, *(f"{p}Results" for p in PERSONAS), "AccessLogs")
    for name in names:
        assert bucket(sandbox, name)["DeletionPolicy"] == "Delete"
        assert bucket(prod, name)["DeletionPolicy"] == "Retain"
    sandbox.template("DataLake").resource_count_is("Custom::S3AutoDeleteObjects", len(names))
    prod.template("DataLake").resource_count_is("Custom::S3AutoDeleteObjects", 0)
    assert sandbox.stacks["DataLake"].termination_protection is False
    assert prod.stacks["DataLake"].termination_protection is True


def test_lake_keys_rotate(sandbox: SynthesizedStage) -> None:
    for key in sandbox.resources("DataLake", "AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_lake_settings_append_the_cfn_execution_role(every_stage: SynthesizedStage) -> None:
    (settings,) = every_stage.resources("DataLake", "AWS::LakeFormation::DataLakeSettings").values()
    assert settings["Properties"]["MutationType"] == "APPEND"
    (admin,) = settings["Properties"]["Admins"]
    assert "cfn-exec-role" in admin["DataLakePrincipalIdentifier"]["Fn::Sub"]


def test_locations_registered_with_dedicated_role(every_stage: SynthesizedStage) -> None:
    locations = every_stage.resources("DataLake", "AWS::LakeFormation::Resource")
    registered = {location["Properties"]["ResourceArn"]["Fn::GetAtt"][0] for location in locations.values()}
    assert {name.rstrip("0123456789ABCDEF") for name in registered} == {"RawZone", "CuratedZone", "CaptureZone"}
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


def test_catalog_encrypted_with_its_cmk(sandbox: SynthesizedStage) -> None:
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


def _persona_policies(stage: SynthesizedStage) -> dict[str, dict[str, Any]]:
    policies = stage.resources("DataLake", "AWS::IAM::ManagedPolicy")
    found = {}
    for persona in PERSONAS:
        (policy,) = [p for k, p in policies.items() if k.startswith(f"{persona}Policy")]
        found[persona] = policy["Properties"]["PolicyDocument"]
    return found


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
        assert sum(d.startswith(("RawLocation", "CuratedLocation", "CaptureLocation")) for d in depends) == 3


def _actions(document: dict[str, Any]) -> list[str]:
    return [a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]


def test_personas_can_get_data_access_and_use_their_workgroup(sandbox: SynthesizedStage) -> None:
    for document in _persona_policies(sandbox).values():
        actions = _actions(document)
        assert "lakeformation:GetDataAccess" in actions
        assert "athena:StartQueryExecution" in actions
        assert "kms:Encrypt" not in actions
        assert "s3:DeleteObject" not in actions
        assert not any(a.endswith("*") for a in actions)


def test_each_persona_has_an_enforced_workgroup_writing_to_its_own_bucket_and_key(
    every_stage: SynthesizedStage,
) -> None:
    workgroups = {
        k: w["Properties"]["WorkGroupConfiguration"]
        for k, w in every_stage.resources("DataLake", "AWS::Athena::WorkGroup").items()
    }
    assert len(workgroups) == len(PERSONAS)
    for persona in PERSONAS:
        (config,) = [c for k, c in workgroups.items() if k.startswith(persona)]
        assert config["EnforceWorkGroupConfiguration"] is True
        results = config["ResultConfiguration"]
        assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
        assert results["EncryptionConfiguration"]["KmsKey"]["Fn::GetAtt"][0] == key_of(every_stage, f"{persona}Results")
        assert results["OutputLocation"]["Fn::Join"][1][1]["Ref"].startswith(f"{persona}Results")


def test_a_persona_reaches_only_its_own_workgroup_and_results(sandbox: SynthesizedStage) -> None:
    def named(resource_type: str, prefix: str) -> str:
        return next(k for k in sandbox.resources("DataLake", resource_type) if k.startswith(prefix))

    workgroups = {p: named("AWS::Athena::WorkGroup", p) for p in PERSONAS}
    buckets = {p: named("AWS::S3::Bucket", f"{p}Results") for p in PERSONAS}
    for persona, document in _persona_policies(sandbox).items():
        text = str(document)
        other = next(p for p in PERSONAS if p != persona)
        assert workgroups[persona] in text and buckets[persona] in text
        assert workgroups[other] not in text and buckets[other] not in text


def test_persona_roles_trust_mfa_on_sandbox_and_named_principals_on_prod(
    sandbox: SynthesizedStage, prod: SynthesizedStage
) -> None:
    for stage in (sandbox, prod):
        roles = stage.resources("DataLake", "AWS::IAM::Role")
        for persona in PERSONAS:
            (role,) = [r for k, r in roles.items() if k.startswith(f"{persona}Role")]
            (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            if stage is sandbox:
                assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            else:
                assert "aws:PrincipalArn" in statement["Condition"]["ArnLike"]


def test_no_role_has_an_inline_policy(every_stage: SynthesizedStage) -> None:
    for unit in every_stage.templates:
        inline = every_stage.resources(unit, "AWS::IAM::Policy")
        assert not inline, f"{unit} has inline policies {sorted(inline)}"


def test_persona_trust_names_each_account_of_the_configured_principals() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from stacks.personas import trust

    stack = cdk.Stack(cdk.App(), "Trust", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    role = iam.Role(
        stack,
        "Role",
        assumed_by=trust(stack, ["role/team/Analyst*", "arn:aws:iam::444455556666:role/Auditor"]),
    )
    document = stack.resolve(role.assume_role_policy.to_json())  # type: ignore[union-attr]
    accounts = []
    for statement in document["Statement"]:
        patterns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert patterns[1] == "arn:aws:iam::444455556666:role/Auditor"
        assert patterns[0]["Fn::Join"][1][-1] == ":iam::111122223333:role/team/Analyst*"
        accounts.append(statement["Principal"]["AWS"]["Fn::Join"][1][-1])
    assert accounts == [":iam::111122223333:root", ":iam::444455556666:root"]
