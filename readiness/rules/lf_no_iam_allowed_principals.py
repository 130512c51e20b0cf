"""No grant re-opens Lake Formation data to every IAM principal."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, text_of
from readiness.rules._lakeformation import GRANTS, SETTINGS, grant_principal

IAM_ALLOWED_PRINCIPALS = "IAM_ALLOWED_PRINCIPALS"


def check(stack: Stack) -> Iterator[Outcome]:
    for grant in stack.of_type(*GRANTS):
        principal = text_of(grant_principal(grant))
        yield Outcome(grant, f"grants {principal} access" if IAM_ALLOWED_PRINCIPALS in principal else None)
    for settings in stack.of_type(SETTINGS):
        defaults = [settings.prop(key) for key in ("CreateDatabaseDefaultPermissions", "CreateTableDefaultPermissions")]
        found = IAM_ALLOWED_PRINCIPALS in text_of(defaults)
        yield Outcome(settings, "its default permissions grant IAM_ALLOWED_PRINCIPALS" if found else None)


RULE = Rule(
    id="RDY-LF8",
    title="No Lake Formation grant or default names IAM_ALLOWED_PRINCIPALS",
    explanation=(
        "A grant to IAM_ALLOWED_PRINCIPALS (or account settings that make it the default) hands a database or "
        "table back to IAM-only access control: every principal with the Glue and S3 permissions reads it, "
        "whatever the Lake Formation grants say."
    ),
    fix="Grant the principals that need access by name or by LF-tag instead (stacks.lake_grants).",
    check=check,
)
