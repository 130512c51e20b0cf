"""Lake Formation, not IAM, governs the tables of the lake's databases."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._lakeformation import uses_lake_formation

DATABASE = "AWS::Glue::Database"


def check(stack: Stack) -> Iterator[Outcome]:
    if not uses_lake_formation(stack.assembly, stack):
        return
    for database in stack.of_type(DATABASE):
        defaults = database.prop("DatabaseInput", "CreateTableDefaultPermissions")
        problem = None
        if defaults is None:
            problem = "CreateTableDefaultPermissions is unset, so new tables grant IAMAllowedPrincipals ALL"
        elif defaults != []:
            problem = f"CreateTableDefaultPermissions is {defaults}, not []"
        yield Outcome(database, problem)


RULE = Rule(
    id="RDY-LF7",
    title="Databases governed by Lake Formation give new tables no default permissions",
    explanation=(
        "Unless a database's CreateTableDefaultPermissions is an empty list, every table created in it (by a "
        "crawler, a job or Athena) grants IAMAllowedPrincipals ALL: any principal whose IAM policy allows the "
        "Glue and S3 calls reads it, and the Lake Formation grants (tag-based persona separation) have no effect."
    ),
    fix=(
        "Set create_table_default_permissions=[] on the database input (per database, so the account-wide "
        "defaults stay) and grant every reader explicitly (stacks.lake_grants)."
    ),
    check=check,
)
