"""An endpoint update keeps its variants' names and the instance types of autoscaled variants.

Judged against the committed snapshot of the stack (`readiness.snapshots`), which stands
for what is deployed until the change is reviewed and the snapshot refreshed. Two changes
pass every linter and fail, or lose their guardrails, at deploy time:

- A renamed, added or removed variant. The deployment guardrails "Exclusions" page of the
  SageMaker developer guide: "When doing a blue/green or rolling deployment, your new
  endpoint configuration must have the same variant name as the old endpoint
  configuration"; the retained variant properties (the autoscaled instance counts) are
  also matched by variant name.
- A new instance type for an autoscaled variant. "Update endpoints that use auto scaling"
  in the SageMaker developer guide: "If the update would change the instance type for any
  model that is a target for auto scaling, the update fails"; the variant must be
  deregistered as a scalable target first. (Changing the variant's model is the one
  documented exception, which is what a promotion does.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._sagemaker import ENDPOINT, config_of, scaled_variants, variants
from readiness.snapshots import committed_template


def instance_types(stack: Stack, logical_id: str) -> dict[str, str] | None:
    """Variant name -> instance type of the endpoint `logical_id` of `stack`."""
    endpoint = stack.get(logical_id)
    config = config_of(stack, endpoint) if endpoint is not None and endpoint.type == ENDPOINT else None
    if config is None:
        return None
    return {str(v.get("VariantName")): str(v.get("InstanceType")) for v in variants(config)}


def check_against(stack: Stack, committed: Mapping[str, Any] | None) -> Iterator[Outcome]:
    """The endpoints of `stack` against the same endpoints of the `committed` template."""
    if committed is None:
        return
    before = Stack(name=stack.name, template=committed)
    for endpoint in stack.of_type(ENDPOINT):
        old, new = instance_types(before, endpoint.logical_id), instance_types(stack, endpoint.logical_id)
        if old is None or new is None:
            continue  # a new endpoint is created, not updated
        problems = []
        if set(old) != set(new):
            problems.append(f"variants {sorted(old)} become {sorted(new)}")
        scaled = scaled_variants(before, before.resources[endpoint.logical_id])
        problems += [
            f"autoscaled variant {name} changes instance type {old[name]} -> {new[name]}"
            for name in sorted(set(old) & set(new) & set(scaled))
            if old[name] != new[name]
        ]
        yield Outcome(endpoint, "; ".join(problems) or None)


def check(stack: Stack) -> Iterator[Outcome]:
    return check_against(stack, committed_template(stack.name))


RULE = Rule(
    id="RDY-SM11",
    title="Endpoint updates keep variant names and autoscaled instance types",
    explanation=(
        "Against the committed snapshot (the reviewed, deployed state): blue/green and rolling updates need the "
        "same variant names as the running endpoint config, and SageMaker fails an update that changes the "
        "instance type of a variant registered with Application Auto Scaling."
    ),
    fix=(
        "Keep the variant names. To change an autoscaled variant's instance type, deploy with autoscaling off "
        "first (inference.autoscaling: false), then the new type, then autoscaling again; deploy a renamed or "
        "added variant as its own reviewed change. Refresh the snapshot (make snapshots) once a change is deployed."
    ),
    check=check,
)
