"""Glue crawlers and jobs writing KMS-encrypted logs may call logs:AssociateKmsKey."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.iam import role_allows
from readiness.model import Stack, dig
from readiness.rules._glue import jobs_and_crawlers


def check(stack: Stack) -> Iterator[Outcome]:
    for resource, configuration, role in jobs_and_crawlers(stack):
        if configuration is None or role is None:
            continue
        mode = dig(
            configuration.properties, "EncryptionConfiguration", "CloudWatchEncryption", "CloudWatchEncryptionMode"
        )
        if mode != "SSE-KMS":
            continue
        ok = role_allows(stack, role, "logs:AssociateKmsKey")
        yield Outcome(resource, None if ok else f"role {role.path} lacks logs:AssociateKmsKey")


RULE = Rule(
    id="RDY-GL2",
    title="Glue crawler and job roles may associate the log key",
    explanation=(
        "With CloudWatch encryption in its security configuration, a Glue crawler or job creates its log "
        "group and associates the KMS key with it; without logs:AssociateKmsKey the run fails at start "
        "('... is not authorized to perform: logs:AssociateKmsKey')."
    ),
    fix="Allow logs:AssociateKmsKey on arn:<partition>:logs:<region>:<account>:log-group:/aws-glue/* for the role.",
    check=check,
)
