"""Each Athena workgroup enforces its own results location, which no other workgroup's users reach."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.access import Ref, ref_of, roles
from readiness.core import Outcome, Rule
from readiness.model import Resource, Stack, dig, text_of

WORKGROUP = "AWS::Athena::WorkGroup"


def results_bucket(stack: Stack, workgroup: Resource) -> Ref | None:
    """The bucket of a workgroup's `s3://<bucket>/...` output location (a Ref in a join)."""
    location = dig(workgroup.properties, "WorkGroupConfiguration", "ResultConfiguration", "OutputLocation")
    for part in dig(location, "Fn::Join", 1) or []:
        found = stack.locate(part)
        if found and found[1].type == "AWS::S3::Bucket":
            return ref_of(*found)
    return None


def check(stack: Stack) -> Iterator[Outcome]:
    workgroups = {ref_of(stack, w): w for w in stack.of_type(WORKGROUP)}
    if not workgroups:
        return
    buckets = {ref: results_bucket(stack, w) for ref, w in workgroups.items()}
    users = [(role, access) for role, access in roles(stack) if access.workgroups]
    for ref, workgroup in workgroups.items():
        problems = []
        if dig(workgroup.properties, "WorkGroupConfiguration", "EnforceWorkGroupConfiguration") is not True:
            problems.append("does not enforce its configuration, so a query may send its results anywhere")
        bucket = buckets[ref]
        if bucket is None:
            location = dig(workgroup.properties, "WorkGroupConfiguration", "ResultConfiguration", "OutputLocation")
            problems.append(f"writes results to {text_of(location)}, not to a bucket of this assembly")
        elif [other for other, b in buckets.items() if b == bucket and other != ref]:
            problems.append(f"shares its results bucket {bucket.path} with another workgroup")
        else:
            readers = [role.path for role, access in users if ref not in access.workgroups and bucket in access.objects]
            if readers:
                problems.append(
                    f"its results bucket {bucket.path} is reachable by {readers}, users of other workgroups"
                )
        yield Outcome(workgroup, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-ATH1",
    title="Each Athena workgroup has an enforced results bucket only its own users reach",
    explanation=(
        "Athena writes every result set, which holds the rows a query returned, to the workgroup's output "
        "location. Workgroups that share a location, or roles that may read another workgroup's location, let "
        "one persona read what another (for example the PII persona) queried, whatever Lake Formation grants."
    ),
    fix=(
        "Give each persona its own enforced workgroup writing to its own bucket and key (stacks.personas.Persona) "
        "and grant each role only its own results."
    ),
    check=check,
)
