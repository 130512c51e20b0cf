"""Data-access rules (zone keys, persona results, catalog grants, service trust): a violating and
a compliant minimal template each."""

from __future__ import annotations

from typing import Any

from readiness.rules import (
    athena_workgroup_separation,
    iam_service_trust_source,
    kms_zone_key_use,
    lf_catalog_reader_grant,
)
from tests.readiness.helpers import allow, arn, compliant, key, policy, problems, ref, res, role, template

VIA_S3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def objects(bucket: str, prefix: str = "") -> dict[str, Any]:
    return {"Fn::Join": ["", [arn(bucket), f"/{prefix}*"]]}


def kms_bucket(key_id: str = "Key") -> dict[str, Any]:
    return res(
        "AWS::S3::Bucket",
        BucketEncryption={
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn(key_id)}}
            ]
        },
    )


def zone(**resources: dict[str, Any]) -> dict[str, Any]:
    return template(Key=key(), Bucket=kms_bucket(), Writer=role("firehose.amazonaws.com"), **resources)


def test_kms1_a_writer_needs_generate_data_key_and_no_decrypt_outside_s3() -> None:
    put = allow("s3:PutObject", resource=objects("Bucket", "events/"))
    missing = zone(WriterPolicy=policy("Writer", put))
    assert problems(kms_zone_key_use.RULE, missing) == [
        "Writer: writes Stack0/Bucket but may not kms:GenerateDataKey with Stack0/Key"
    ]
    decrypts = zone(
        WriterPolicy=policy("Writer", put, allow("kms:GenerateDataKey", "kms:Decrypt", resource=arn("Key")))
    )
    assert problems(kms_zone_key_use.RULE, decrypts) == [
        "Writer: only writes Stack0/Bucket yet may kms:Decrypt with Stack0/Key outside S3"
    ]
    through_s3 = allow("kms:GenerateDataKey", "kms:Decrypt", resource=arn("Key"), Condition=VIA_S3)
    assert compliant(kms_zone_key_use.RULE, zone(WriterPolicy=policy("Writer", put, through_s3))) == ["Writer"]


def test_kms1_a_reader_needs_decrypt() -> None:
    read = allow("s3:GetObject", resource=objects("Bucket"))
    assert problems(kms_zone_key_use.RULE, zone(WriterPolicy=policy("Writer", read))) == [
        "Writer: reads Stack0/Bucket but may not kms:Decrypt with Stack0/Key"
    ]
    good = zone(WriterPolicy=policy("Writer", read, allow("kms:Decrypt", resource=arn("Key"))))
    assert compliant(kms_zone_key_use.RULE, good) == ["Writer"]


def workgroup(bucket: str, enforce: bool = True) -> dict[str, Any]:
    return res(
        "AWS::Athena::WorkGroup",
        Name=f"wg_{bucket.lower()}",
        WorkGroupConfiguration={
            "EnforceWorkGroupConfiguration": enforce,
            "ResultConfiguration": {"OutputLocation": {"Fn::Join": ["", ["s3://", ref(bucket), "/"]]}},
        },
    )


def athena_user(workgroup_id: str, bucket: str) -> dict[str, Any]:
    workgroup_arn = {
        "Fn::Join": ["", ["arn:aws:athena:us-east-1:", ref("AWS::AccountId"), ":workgroup/", ref(workgroup_id)]]
    }
    return policy(
        f"{workgroup_id}User",
        allow("athena:StartQueryExecution", resource=workgroup_arn),
        allow("s3:GetObject", "s3:PutObject", resource=objects(bucket)),
    )


def test_ath1_each_workgroup_has_its_own_enforced_results() -> None:
    shared = template(A=workgroup("Results"), B=workgroup("Results"), Results=kms_bucket())
    assert len(problems(athena_workgroup_separation.RULE, shared)) == 2
    loose = template(A=workgroup("ResultsA", enforce=False), ResultsA=kms_bucket())
    assert problems(athena_workgroup_separation.RULE, loose) == [
        "A: does not enforce its configuration, so a query may send its results anywhere"
    ]
    personas = {
        "A": workgroup("ResultsA"),
        "B": workgroup("ResultsB"),
        "ResultsA": kms_bucket(),
        "ResultsB": kms_bucket(),
        "AUser": role("athena.amazonaws.com"),
        "BUser": role("athena.amazonaws.com"),
    }
    crossed = template(**personas, APolicy=athena_user("A", "ResultsB"), BPolicy=athena_user("B", "ResultsB"))
    (found,) = problems(athena_workgroup_separation.RULE, crossed)
    assert found.startswith("B: its results bucket Stack0/ResultsB is reachable by ['Stack0/AUser']")
    separate = template(**personas, APolicy=athena_user("A", "ResultsA"), BPolicy=athena_user("B", "ResultsB"))
    assert compliant(athena_workgroup_separation.RULE, separate) == ["A", "B"]


def governed_database(name: str = "lake_curated") -> dict[str, Any]:
    return res(
        "AWS::Glue::Database",
        CatalogId=ref("AWS::AccountId"),
        DatabaseInput={"Name": name, "CreateTableDefaultPermissions": []},
    )


def catalog_reader(database: str = "lake_curated") -> dict[str, Any]:
    tables = {"Fn::Join": ["", ["arn:aws:glue:us-east-1:", ref("AWS::AccountId"), f":table/{database}/*"]]}
    return policy("Reader", allow("glue:GetTable", "glue:GetTables", resource=tables))


def table_grant(database: str = "lake_curated") -> dict[str, Any]:
    return res(
        "AWS::LakeFormation::PrincipalPermissions",
        Principal={"DataLakePrincipalIdentifier": arn("Reader")},
        Resource={"Table": {"CatalogId": ref("AWS::AccountId"), "DatabaseName": database, "TableWildcard": {}}},
        Permissions=["SELECT"],
        PermissionsWithGrantOption=[],
    )


def test_lf9_a_catalog_reader_of_a_governed_database_needs_a_grant() -> None:
    lake = template(Db=governed_database())
    reader = {"Reader": role("lambda.amazonaws.com"), "ReaderPolicy": catalog_reader()}
    assert problems(lf_catalog_reader_grant.RULE, lake, template(**reader)) == [
        "Reader: reads the catalog of ['lake_curated'] without a Lake Formation grant"
    ]
    # The later stack that adds the reader grants it; the database lives in an earlier stack.
    assert compliant(lf_catalog_reader_grant.RULE, lake, template(**reader, Grant=table_grant())) == ["Reader"]
    other = template(**reader, Grant=table_grant("lake_raw"))
    assert problems(lf_catalog_reader_grant.RULE, lake, other)


def test_lf9_tag_grants_cover_the_databases_carrying_the_tags() -> None:
    association = res(
        "AWS::LakeFormation::TagAssociation",
        Resource={"Database": {"CatalogId": ref("AWS::AccountId"), "Name": ref("Db")}},
        LFTags=[{"TagKey": "zone", "TagValues": ["curated"]}],
    )

    def tag_grant(values: list[str]) -> dict[str, Any]:
        return res(
            "AWS::LakeFormation::PrincipalPermissions",
            Principal={"DataLakePrincipalIdentifier": arn("Reader")},
            Resource={
                "LFTagPolicy": {"ResourceType": "TABLE", "Expression": [{"TagKey": "zone", "TagValues": values}]}
            },
            Permissions=["SELECT"],
            PermissionsWithGrantOption=[],
        )

    base = {"Db": governed_database(), "Tags": association, "Reader": role("athena.amazonaws.com")}
    good = template(**base, ReaderPolicy=catalog_reader(), Grant=tag_grant(["raw", "curated"]))
    assert compliant(lf_catalog_reader_grant.RULE, good) == ["Reader"]
    bad = template(**base, ReaderPolicy=catalog_reader(), Grant=tag_grant(["raw"]))
    assert problems(lf_catalog_reader_grant.RULE, bad)


def trusting(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    body = role(service)
    if condition:
        body["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] = condition
    return body


def test_iam1_service_roles_name_their_source() -> None:
    bad = template(Firehose=trusting("firehose.amazonaws.com"), FlowLogs=trusting("vpc-flow-logs.amazonaws.com"))
    assert problems(iam_service_trust_source.RULE, bad) == [
        "Firehose: trusts firehose.amazonaws.com without sts:ExternalId",
        "FlowLogs: trusts vpc-flow-logs.amazonaws.com without aws:SourceAccount or aws:SourceArn",
    ]
    good = template(
        Firehose=trusting("firehose.amazonaws.com", {"StringEquals": {"sts:ExternalId": ref("AWS::AccountId")}}),
        FlowLogs=trusting(
            "vpc-flow-logs.amazonaws.com", {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
        ),
        Glue=trusting("glue.amazonaws.com"),  # Glue documents no source keys: not checked
    )
    assert compliant(iam_service_trust_source.RULE, good) == ["Firehose", "FlowLogs"]
