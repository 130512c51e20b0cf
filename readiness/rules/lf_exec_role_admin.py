"""The CloudFormation execution role must be a data lake admin."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, as_list, dig, text_of
from readiness.rules._lakeformation import SETTINGS


def _normalise(arn: str, stack: Stack) -> str:
    return arn.replace("${AWS::Region}", stack.region or "${AWS::Region}")


def check(stack: Stack) -> Iterator[Outcome]:
    for settings in stack.of_type(SETTINGS):
        admins = [
            _normalise(text_of(dig(admin, "DataLakePrincipalIdentifier")), stack)
            for admin in as_list(settings.prop("Admins"))
        ]
        expected = stack.execution_role_arn
        ok = _normalise(expected, stack) in admins if expected else any("cfn-exec-role" in a for a in admins)
        problem = None
        if not ok:
            problem = (
                f"Admins {admins or '[]'} do not include the CloudFormation execution role {expected or ''}".strip()
            )
        yield Outcome(settings, problem)


RULE = Rule(
    id="RDY-LF2",
    title="The CloudFormation execution role is a data lake admin",
    explanation=(
        "CloudFormation creates Glue databases, LF-tags, data locations and grants with the CDK execution "
        "role. Unless that role is a Lake Formation admin, the first of them fails with "
        "'Insufficient Lake Formation permission(s)' and the stack rolls back."
    ),
    fix=(
        "Add the synthesizer's cloud_formation_execution_role_arn (wrapped in Fn::Sub) to the Admins of the "
        "CfnDataLakeSettings, with MutationType APPEND."
    ),
    check=check,
)
