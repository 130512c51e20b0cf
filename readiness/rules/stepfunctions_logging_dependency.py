"""A state machine that logs waits for the policies of its role."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import unwaited_policies
from readiness.model import Stack, as_list, dig, target_of
from readiness.rules._stepfunctions import STATE_MACHINE


def check(stack: Stack) -> Iterator[Outcome]:
    for machine in stack.of_type(STATE_MACHINE):
        role = stack.get(target_of(machine.prop("RoleArn")))
        if role is None or not as_list(dig(machine.properties, "LoggingConfiguration", "Destinations")):
            continue
        missing = unwaited_policies(stack, machine, role)
        yield Outcome(machine, f"does not depend on {', '.join(missing)}" if missing else None)


RULE = Rule(
    id="RDY-SF4",
    title="Logging state machines depend on their role's policies",
    explanation=(
        "Step Functions checks that the role may deliver logs (logs:CreateLogDelivery and related) when it "
        "creates a state machine with a log destination. If CloudFormation creates the state machine before "
        "the role's separate policy, creation fails with 'The state machine IAM Role is not authorized to "
        "access the Log Destination'."
    ),
    fix="state_machine.node.add_dependency(policy) for every policy attached to the state machine's role.",
    check=check,
)
