"""KMS keys of topics that alarms notify let CloudWatch use them."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import key_allows
from readiness.model import Resource, Stack, as_list

ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")


def _alarmed_topics(stack: Stack) -> set[tuple[str, str]]:
    stacks = stack.assembly.stacks.values() if stack.assembly else [stack]
    found = set()
    for source in stacks:
        for alarm in source.of_type("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            for key in ALARM_ACTIONS:
                for action in as_list(alarm.prop(key)):
                    located = source.locate(action)
                    if located:
                        found.add((located[0].name, located[1].logical_id))
    return found


def _problem(stack: Stack, topic: Resource) -> str | None:
    key_value = topic.prop("KmsMasterKeyId")
    if key_value is None:
        return None
    key = stack.resolve(key_value)
    if key is None or key.type != "AWS::KMS::Key":
        return f"encrypted with {key_value!r}, whose policy cannot allow cloudwatch.amazonaws.com"
    missing = [a for a in ACTIONS if not key_allows(key, a, service="cloudwatch.amazonaws.com")]
    return f"key policy of {key.path} does not allow cloudwatch.amazonaws.com {missing}" if missing else None


def check(stack: Stack) -> Iterator[Outcome]:
    alarmed = _alarmed_topics(stack)
    for topic in stack.of_type("AWS::SNS::Topic"):
        if (stack.name, topic.logical_id) in alarmed:
            yield Outcome(topic, _problem(stack, topic))


RULE = Rule(
    id="RDY-SNS1",
    title="Encrypted alarm topics let CloudWatch use their key",
    explanation=(
        "CloudWatch alarms publish to a KMS-encrypted SNS topic only if the key policy allows "
        "cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey (impossible with aws/sns); otherwise "
        "the deploy succeeds and every alarm notification is dropped."
    ),
    fix=(
        "Encrypt the topic with a customer key whose policy allows cloudwatch.amazonaws.com kms:Decrypt and "
        "kms:GenerateDataKey*."
    ),
    check=check,
)
