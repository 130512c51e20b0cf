"""Lake Formation settings must append admins, not replace them."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._lakeformation import SETTINGS


def check(stack: Stack) -> Iterator[Outcome]:
    for settings in stack.of_type(SETTINGS):
        mutation = settings.prop("MutationType")
        problem = None
        if mutation != "APPEND":
            problem = f"MutationType is {mutation or 'unset (REPLACE)'}"
        yield Outcome(settings, problem)


RULE = Rule(
    id="RDY-LF1",
    title="Lake Formation settings append data lake admins",
    explanation=(
        "AWS::LakeFormation::DataLakeSettings replaces the account's whole admin list unless MutationType is "
        "APPEND: the deploy removes every existing admin (people, other pipelines), and a later stack that "
        "relies on them fails with AccessDeniedException."
    ),
    fix="Set mutation_type='APPEND' on CfnDataLakeSettings.",
    check=check,
)
