"""A delivery stream waits for the policies of the roles it uses."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import unwaited_policies
from readiness.model import Stack
from readiness.rules._firehose import DELIVERY_STREAM, role_arns


def check(stack: Stack) -> Iterator[Outcome]:
    for stream in stack.of_type(DELIVERY_STREAM):
        roles = {r.logical_id: r for r in (stack.resolve(arn) for arn in role_arns(stream.properties)) if r}
        if not roles:
            continue
        missing = sorted(p for role in roles.values() for p in unwaited_policies(stack, stream, role))
        yield Outcome(stream, f"does not depend on {', '.join(missing)}" if missing else None)


RULE = Rule(
    id="RDY-KDF4",
    title="Firehose delivery streams depend on their role's policies",
    explanation=(
        "Firehose checks its role's permissions when the delivery stream is created. If CloudFormation "
        "creates the stream before the role's separate policy, creation fails (e.g. 'Role ... is not "
        "authorized to perform: kinesis:DescribeStream') or the stream starts with failing deliveries."
    ),
    fix="stream.node.add_dependency(policy) for every policy attached to the delivery role.",
    check=check,
)
