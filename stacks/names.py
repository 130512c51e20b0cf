"""Names derived from the stage name, and the limits of the services that hold them.

The stage name is part of every stack name and of the account-wide names that let two
stages share an account (Glue databases, LF-tag keys, the Athena workgroups, the Glue
security configuration, the WAF log group, the CloudTrail trail, the model package
group, the endpoint). Each service limits length and characters, so `stacks.config`
validates a stage name against :data:`LIMITS`: a name that passes fits every derived name.
A new stage-derived name is added here, next to its limit, and the stacks build it with the
function defined here; the stage-name rule follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

STACK_PREFIX = "MlPipeline"
# Deployment units, one stack each; `stack_name` refuses any other so that the limits
# below cover every stack a stage creates.
UNITS = ("Network", "DataLake", "Ingestion", "Observability", "Etl", "Training", "Inference", "Api", "Monitoring")
LAKE_PREFIX = "mlpipeline"
ZONES = ("raw", "curated")
LF_TAGS = ("zone", "classification")
WORKGROUPS = ("data_scientist", "mlops")  # one Athena workgroup per persona
# Lowercase letters, digits and single inner hyphens: valid in stack names, and mapping
# hyphens to underscores keeps distinct stage names distinct in the lake's names.
STAGE_NAME_PATTERN = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"


def stack_name(stage: str, unit: str) -> str:
    """`MlPipeline-<stage>-<unit>`: the CloudFormation stack of one deployment unit."""
    if unit not in UNITS:
        raise ValueError(f"unknown deployment unit {unit!r}: add it to stacks.names.UNITS ({', '.join(UNITS)})")
    return f"{STACK_PREFIX}-{stage}-{unit}"


def stack_names(stage: str) -> set[str]:
    """Every stack name of a stage."""
    return {stack_name(stage, unit) for unit in UNITS}


def lake_name(stage: str, suffix: str) -> str:
    """An account-wide lake name (Glue database, LF-tag key, workgroup): `mlpipeline_<stage>_<suffix>`."""
    return f"{LAKE_PREFIX}_{stage.replace('-', '_')}_{suffix}"


def security_configuration_name(stack: str) -> str:
    """The Glue security configuration of the ETL stack (account-wide, so it carries the stack name)."""
    return f"{stack}-etl"


def trail_name(stage: str) -> str:
    """The audit trail: named so that its ARN, which its bucket and key policies name, is known
    before it exists."""
    return f"{STACK_PREFIX}-{stage}-audit"


def waf_log_group_name(stack: str) -> str:
    """WAF delivers logs only to log groups whose names start with `aws-waf-logs-`."""
    return f"aws-waf-logs-{stack}"


def model_package_group_name(stage: str) -> str:
    """The SageMaker model package group of a stage (CloudFormation requires a name; regional)."""
    return f"{LAKE_PREFIX}-{stage}-housing"


def endpoint_name(stage: str) -> str:
    """The SageMaker endpoint of a stage.

    Named so that the alarms that roll an update back can name the endpoint before it is
    updated: they must watch the new fleet while SageMaker shifts traffic to it, so they
    are updated first and cannot wait for the endpoint's generated name.
    """
    return f"{LAKE_PREFIX}-{stage}-serving"


def variant_id(variant: str) -> str:
    """The construct-id part of a production variant (its models, scaling and alarms)."""
    return variant.replace("-", "").capitalize()


@dataclass(frozen=True)
class NameLimit:
    """What a service accepts for one kind of stage-derived name."""

    what: str
    max_length: int
    pattern: str
    names: Callable[[str], Iterable[str]]


LIMITS = (
    NameLimit("CloudFormation stack name", 128, r"[A-Za-z][-A-Za-z0-9]*", lambda stage: sorted(stack_names(stage))),
    NameLimit(
        "Lake Formation LF-tag key", 128, r"[A-Za-z0-9_.:/=+@%-]+", lambda stage: [lake_name(stage, t) for t in LF_TAGS]
    ),
    NameLimit("Glue database name", 255, r"[a-z0-9_]+", lambda stage: [lake_name(stage, z) for z in ZONES]),
    NameLimit(
        "Athena workgroup name", 128, r"[A-Za-z0-9._-]+", lambda stage: [lake_name(stage, w) for w in WORKGROUPS]
    ),
    NameLimit("CloudTrail trail name", 128, r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", lambda s: [trail_name(s)]),
    NameLimit(
        "Glue security configuration name",
        255,
        r"[A-Za-z0-9_.-]+",
        lambda stage: [security_configuration_name(stack_name(stage, "Etl"))],
    ),
    NameLimit(
        "CloudWatch Logs log group name",
        512,
        r"[.\-_/#A-Za-z0-9]+",
        lambda stage: [waf_log_group_name(stack_name(stage, "Api"))],
    ),
    NameLimit(
        "SageMaker model package group name",
        63,
        r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        lambda stage: [model_package_group_name(stage)],
    ),
    NameLimit("SageMaker endpoint name", 63, r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", lambda stage: [endpoint_name(stage)]),
    NameLimit("tag value", 256, r"[A-Za-z0-9 _.:/=+@-]*", lambda stage: [stage]),
)


def _longest(limit: NameLimit) -> int:
    # Every derived name grows by one character per stage-name character.
    return limit.max_length - max(len(name) for name in limit.names(""))


TIGHTEST = min(LIMITS, key=_longest)
MAX_STAGE_NAME_LENGTH = _longest(TIGHTEST)
STAGE_NAME_RULE = (
    f"a lowercase letter, then lowercase letters, digits or single hyphens, at most {MAX_STAGE_NAME_LENGTH} "
    f"characters (the stage is part of stack names, LF-tag keys, Glue, Athena and model registry names; the tightest "
    f"limit is the {TIGHTEST.max_length}-character {TIGHTEST.what})"
)


def stage_name_problem(stage: str) -> str | None:
    """Why `stage` cannot be a stage name, or None when every derived name fits its service."""
    if not re.fullmatch(STAGE_NAME_PATTERN, stage, re.ASCII) or len(stage) > MAX_STAGE_NAME_LENGTH:
        return f"must be {STAGE_NAME_RULE}"
    for limit in LIMITS:
        for name in limit.names(stage):
            if len(name) > limit.max_length or not re.fullmatch(limit.pattern, name, re.ASCII):
                return f"makes the {limit.what} {name!r}: at most {limit.max_length} characters of {limit.pattern}"
    return None
