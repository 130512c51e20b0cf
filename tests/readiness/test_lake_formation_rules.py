"""Lake Formation deploy-readiness rules: a violating and a compliant minimal template each."""

from __future__ import annotations

from typing import Any

from readiness.rules import (
    lf_data_access_permission,
    lf_depends_on_settings,
    lf_exec_role_admin,
    lf_grant_dependencies,
    lf_location_role,
    lf_no_iam_allowed_principals,
    lf_settings_append,
    lf_table_default_permissions,
)
from tests.readiness.helpers import EXEC_ROLE, allow, arn, compliant, policy, problems, ref, res, role, template


def settings(mutation: str | None = "APPEND", admins: list[Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "Admins": [{"DataLakePrincipalIdentifier": a} for a in (admins or [{"Fn::Sub": EXEC_ROLE}])]
    }
    if mutation:
        props["MutationType"] = mutation
    return res("AWS::LakeFormation::DataLakeSettings", **props)


def database(depends: list[str] | None = None) -> dict[str, Any]:
    return res("AWS::Glue::Database", depends, CatalogId=ref("AWS::AccountId"), DatabaseInput={"Name": "lake_raw"})


def location(depends: list[str] | None = None, **props: Any) -> dict[str, Any]:
    return res(
        "AWS::LakeFormation::Resource",
        depends,
        ResourceArn=arn("Bucket"),
        **(props or {"UseServiceLinkedRole": False, "RoleArn": arn("LfRole")}),
    )


def grant(depends: list[str] | None = None, principal: Any = None) -> dict[str, Any]:
    return res(
        "AWS::LakeFormation::PrincipalPermissions",
        depends,
        Principal={"DataLakePrincipalIdentifier": principal or arn("Reader")},
        Resource={"Database": {"CatalogId": ref("AWS::AccountId"), "Name": ref("Db")}},
        Permissions=["DESCRIBE"],
        PermissionsWithGrantOption=[],
    )


def kms_bucket() -> dict[str, Any]:
    return res(
        "AWS::S3::Bucket",
        BucketEncryption={
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn("Key")}}
            ]
        },
    )


def test_lf1_replace_mutation_is_rejected() -> None:
    assert problems(lf_settings_append.RULE, template(Settings=settings(mutation=None))) == [
        "Settings: MutationType is unset (REPLACE)"
    ]
    assert problems(lf_settings_append.RULE, template(Settings=settings(mutation="REPLACE")))
    assert compliant(lf_settings_append.RULE, template(Settings=settings())) == ["Settings"]


def test_lf2_execution_role_must_be_an_admin() -> None:
    other = "arn:aws:iam::123456789012:role/analyst"
    found = problems(lf_exec_role_admin.RULE, template(Settings=settings(admins=[other])))
    assert found and "cfn-exec-role" in found[0]
    assert compliant(lf_exec_role_admin.RULE, template(Settings=settings())) == ["Settings"]


def test_lf3_lake_formation_resources_wait_for_the_settings() -> None:
    bad = template(Settings=settings(), Db=database())
    assert problems(lf_depends_on_settings.RULE, bad) == ["Db: does not depend on Settings"]
    good = template(Settings=settings(), Db=database(["Settings"]))
    assert compliant(lf_depends_on_settings.RULE, good) == ["Db"]
    # Settings in an earlier stack order every later stack.
    assert compliant(lf_depends_on_settings.RULE, template(Settings=settings()), template(Db=database())) == ["Db"]


def test_lf3_is_not_applicable_without_lake_formation() -> None:
    assert compliant(lf_depends_on_settings.RULE, template(Db=database())) == []
    assert problems(lf_depends_on_settings.RULE, template(Db=database())) == []


def test_lf4_grants_wait_for_database_and_location() -> None:
    resources = {"Settings": settings(), "Db": database(["Settings"]), "Loc": location(["Settings"])}
    bad = template(**resources, Grant=grant(["Settings"]))
    assert problems(lf_grant_dependencies.RULE, bad) == ["Grant: does not depend on Loc"]
    good = template(**resources, Grant=grant(["Settings", "Loc"]))
    assert compliant(lf_grant_dependencies.RULE, good) == ["Grant"]


def test_lf4_grant_without_any_registered_location_is_rejected() -> None:
    found = problems(
        lf_grant_dependencies.RULE, template(Settings=settings(), Db=database(), Grant=grant(["Settings"]))
    )
    assert found and "no registered data location" in found[0]


def test_lf5_grantee_role_needs_get_data_access() -> None:
    base = {"Settings": settings(), "Reader": role("athena.amazonaws.com"), "Grant": grant()}
    bad = template(**base, ReaderPolicy=policy("Reader", allow("athena:StartQueryExecution")))
    assert problems(lf_data_access_permission.RULE, bad) == [
        "Grant: role Stack0/Reader lacks lakeformation:GetDataAccess"
    ]
    good = template(**base, ReaderPolicy=policy("Reader", allow("lakeformation:GetDataAccess")))
    assert compliant(lf_data_access_permission.RULE, good) == ["Grant"]


def test_lf5_glue_crawler_with_lake_formation_credentials_needs_get_data_access() -> None:
    crawler = res(
        "AWS::Glue::Crawler", Role=arn("CrawlerRole"), LakeFormationConfiguration={"UseLakeFormationCredentials": True}
    )
    base = {"Settings": settings(), "CrawlerRole": role(), "Crawler": crawler}
    assert problems(lf_data_access_permission.RULE, template(**base))
    good = template(**base, CrawlerPolicy=policy("CrawlerRole", allow("lakeformation:*")))
    assert compliant(lf_data_access_permission.RULE, good) == ["Crawler"]


def test_lf6_kms_location_needs_a_custom_role() -> None:
    bad = template(Key=res("AWS::KMS::Key"), Bucket=kms_bucket(), Loc=location(UseServiceLinkedRole=True))
    assert problems(lf_location_role.RULE, bad) == [
        "Loc: registers KMS-encrypted Stack0/Bucket with the service-linked role"
    ]
    good = template(Key=res("AWS::KMS::Key"), Bucket=kms_bucket(), Loc=location())
    assert compliant(lf_location_role.RULE, good) == ["Loc"]


def test_lf7_databases_must_empty_their_table_default_permissions() -> None:
    base = {"Settings": settings()}
    unset = template(**base, Db=database(["Settings"]))
    assert problems(lf_table_default_permissions.RULE, unset) == [
        "Db: CreateTableDefaultPermissions is unset, so new tables grant IAMAllowedPrincipals ALL"
    ]
    iam_default = res(
        "AWS::Glue::Database",
        ["Settings"],
        CatalogId=ref("AWS::AccountId"),
        DatabaseInput={
            "Name": "lake_raw",
            "CreateTableDefaultPermissions": [
                {"Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}, "Permissions": ["ALL"]}
            ],
        },
    )
    assert problems(lf_table_default_permissions.RULE, template(**base, Db=iam_default))
    governed = res(
        "AWS::Glue::Database",
        ["Settings"],
        CatalogId=ref("AWS::AccountId"),
        DatabaseInput={"Name": "lake_raw", "CreateTableDefaultPermissions": []},
    )
    assert compliant(lf_table_default_permissions.RULE, template(**base, Db=governed)) == ["Db"]
    # A database in an account that does not use Lake Formation is not its concern.
    assert compliant(lf_table_default_permissions.RULE, template(Db=database())) == []


def test_lf8_no_grant_or_default_names_iam_allowed_principals() -> None:
    bad = template(Settings=settings(), Grant=grant(principal="IAM_ALLOWED_PRINCIPALS"))
    assert problems(lf_no_iam_allowed_principals.RULE, bad) == ["Grant: grants IAM_ALLOWED_PRINCIPALS access"]
    defaults = settings()
    defaults["Properties"]["CreateTableDefaultPermissions"] = [
        {"Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}, "Permissions": ["ALL"]}
    ]
    assert problems(lf_no_iam_allowed_principals.RULE, template(Settings=defaults)) == [
        "Settings: its default permissions grant IAM_ALLOWED_PRINCIPALS"
    ]
    assert compliant(lf_no_iam_allowed_principals.RULE, template(Settings=settings(), Grant=grant())) == [
        "Grant",
        "Settings",
    ]
