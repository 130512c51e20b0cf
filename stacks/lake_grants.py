"""Lake Formation grants for the roles that read or catalogue the lake.

The lake's databases create their tables with no default permissions (Lake Formation,
not IAM, decides who sees them), so every reader needs an explicit grant: the crawler
that creates tables, the personas, and whatever later stack reads a table. A stack that
adds a reader calls :func:`grant_tables` (and :func:`grant_location` when the role reads
a registered location directly with its own credentials) next to
:func:`stacks.access.allow_zone`, which gives the same role the zone's S3 prefix and key.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lakeformation as lakeformation
from constructs import Construct

Grant = lakeformation.CfnPrincipalPermissions


def _grant(
    scope: Construct, construct_id: str, principal_arn: str, resource: Grant.ResourceProperty, permissions: list[str]
) -> Grant:
    return Grant(
        scope,
        construct_id,
        principal=Grant.DataLakePrincipalProperty(data_lake_principal_identifier=principal_arn),
        resource=resource,
        permissions=permissions,
        permissions_with_grant_option=[],
    )


def grant_database(
    scope: Construct, construct_id: str, principal_arn: str, *, database: str, permissions: list[str]
) -> Grant:
    """`permissions` (DESCRIBE, CREATE_TABLE, ALTER) on one Glue database."""
    account = cdk.Stack.of(scope).account
    resource = Grant.ResourceProperty(database=Grant.DatabaseResourceProperty(catalog_id=account, name=database))
    return _grant(scope, construct_id, principal_arn, resource, permissions)


def grant_tables(
    scope: Construct,
    construct_id: str,
    principal_arn: str,
    *,
    database: str,
    permissions: list[str],
    table: str | None = None,
) -> list[Grant]:
    """DESCRIBE on `database` and `permissions` (for example SELECT, DESCRIBE) on `table`,
    or on every table of the database, including tables created after the grant."""
    account = cdk.Stack.of(scope).account
    table_resource = Grant.TableResourceProperty(
        catalog_id=account,
        database_name=database,
        name=table,
        table_wildcard=None if table else {},
    )
    return [
        grant_database(scope, f"{construct_id}Database", principal_arn, database=database, permissions=["DESCRIBE"]),
        _grant(
            scope, f"{construct_id}Tables", principal_arn, Grant.ResourceProperty(table=table_resource), permissions
        ),
    ]


def grant_location(scope: Construct, construct_id: str, principal_arn: str, *, bucket_arn: str) -> Grant:
    """DATA_LOCATION_ACCESS on a registered location (crawlers and jobs that create tables there)."""
    account = cdk.Stack.of(scope).account
    resource = Grant.ResourceProperty(
        data_location=Grant.DataLocationResourceProperty(catalog_id=account, resource_arn=bucket_arn)
    )
    return _grant(scope, construct_id, principal_arn, resource, ["DATA_LOCATION_ACCESS"])
