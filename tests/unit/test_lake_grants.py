"""The grant helpers a later reader of the lake uses, checked against the rule that requires them."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from readiness.rules import lf_catalog_reader_grant
from stacks.lake_grants import grant_tables
from tests.readiness.helpers import compliant, res, template


def test_grant_tables_gives_describe_on_the_database_and_the_permissions_on_every_table() -> None:
    stack = cdk.Stack(cdk.App(), "Reader")
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["glue:GetTable"],
            resources=[stack.format_arn(service="glue", resource="table", resource_name="lake_curated/*")],
        )
    )
    grant_tables(stack, "ReaderCurated", role.role_arn, database="lake_curated", permissions=["SELECT"])
    reader = Template.from_stack(stack).to_json()
    grants = [r["Properties"] for r in reader["Resources"].values() if r["Type"].startswith("AWS::LakeFormation")]
    assert sorted(g["Permissions"][0] for g in grants) == ["DESCRIBE", "SELECT"]
    (tables,) = [g["Resource"]["Table"] for g in grants if "Table" in g["Resource"]]
    assert tables["DatabaseName"] == "lake_curated" and tables["TableWildcard"] == {}
    lake = template(
        Db=res(
            "AWS::Glue::Database",
            CatalogId={"Ref": "AWS::AccountId"},
            DatabaseInput={"Name": "lake_curated", "CreateTableDefaultPermissions": []},
        )
    )
    (role_id,) = [k for k, r in reader["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert compliant(lf_catalog_reader_grant.RULE, lake, reader) == [role_id]
