"""An endpoint's rollback alarms exist in the same template and watch its new fleet.

SageMaker rolls an update back only when an alarm the deployment config names goes to
ALARM while the new fleet bakes ("Auto-Rollback Configuration and Monitoring" in the
SageMaker developer guide). CloudFormation does not check that a named alarm exists, nor
what it measures: a typo, an alarm of another stack or endpoint, or one that watches the
whole endpoint (old fleet included) lets a bad model through. The alarm must be created in
this template (so it exists before the update and the endpoint's update waits for it), its
EndpointName must be this endpoint's, and its EndpointConfigName must be the endpoint
config this template deploys: during an update SageMaker publishes the new fleet's
metrics under that config's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, as_list, dig, text_of
from readiness.rules._sagemaker import ENDPOINT

ALARM = "AWS::CloudWatch::Alarm"


def alarm_named(stack: Stack, name: Any) -> Resource | None:
    """The alarm of this template behind an AlarmName: a Ref to it, or its literal AlarmName."""
    resource = stack.resolve(name)
    if resource is None and isinstance(name, str):
        resource = next((a for a in stack.of_type(ALARM) if a.prop("AlarmName") == name), None)
    return resource if resource is not None and resource.type == ALARM else None


def dimensions(alarm: Resource) -> dict[str, Any]:
    """The dimensions of an alarm's metric (or of the one metric of its metric math)."""
    found = {str(d.get("Name")): d.get("Value") for d in as_list(alarm.prop("Dimensions")) if isinstance(d, dict)}
    for query in as_list(alarm.prop("Metrics")):
        for d in as_list(dig(query, "MetricStat", "Metric", "Dimensions")):
            if isinstance(d, dict):
                found.setdefault(str(d.get("Name")), d.get("Value"))
    return found


def problem_of(stack: Stack, endpoint: Resource, name: Any) -> str | None:
    alarm = alarm_named(stack, name)
    if alarm is None:
        return f"rollback alarm {text_of(name)} is not an alarm of this template"
    watched = dimensions(alarm)
    if endpoint.prop("EndpointName") is None:
        return (
            "the endpoint's name is generated: an alarm that must be updated before the endpoint cannot name it "
            "(give the endpoint a name)"
        )
    if watched.get("EndpointName") != endpoint.prop("EndpointName"):
        return (
            f"rollback alarm {alarm.logical_id} watches endpoint {text_of(watched.get('EndpointName'))}, not "
            f"{text_of(endpoint.prop('EndpointName'))}"
        )
    if watched.get("EndpointConfigName") != endpoint.prop("EndpointConfigName"):
        return (
            f"rollback alarm {alarm.logical_id} does not watch the new fleet: its EndpointConfigName is "
            f"{text_of(watched.get('EndpointConfigName'))}, the endpoint deploys "
            f"{text_of(endpoint.prop('EndpointConfigName'))}"
        )
    if not stack.depends_on(endpoint.logical_id, alarm.logical_id):
        return f"the endpoint does not wait for rollback alarm {alarm.logical_id}"
    return None


def check(stack: Stack) -> Iterator[Outcome]:
    for endpoint in stack.of_type(ENDPOINT):
        names = as_list(endpoint.prop("DeploymentConfig", "AutoRollbackConfiguration", "Alarms"))
        if not names:
            yield Outcome(endpoint, "no rollback alarms: an update is never rolled back")
            continue
        problems = [problem_of(stack, endpoint, dig(item, "AlarmName")) for item in names]
        yield Outcome(endpoint, "; ".join(p for p in problems if p) or None)


RULE = Rule(
    id="RDY-SM9",
    title="Endpoint rollback alarms exist in the template and watch the new fleet",
    explanation=(
        "SageMaker rolls an update back only on the alarms the deployment config names; CloudFormation checks "
        "neither that they exist nor what they measure, so a missing alarm, another endpoint's, or one on the "
        "whole endpoint (old fleet included) lets a failing model take the traffic."
    ),
    fix=(
        "Create the alarms in the endpoint's stack on AWS/SageMaker metrics with dimensions EndpointName (the "
        "endpoint's), VariantName and EndpointConfigName (GetAtt of the endpoint config it deploys), and name "
        "them with Ref in DeploymentConfig.AutoRollbackConfiguration.Alarms."
    ),
    check=check,
)
