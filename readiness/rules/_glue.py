"""What the Glue rules share: security configurations and the jobs and crawlers using them."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.model import Resource, Stack

SECURITY_CONFIGURATION = "AWS::Glue::SecurityConfiguration"
CRAWLER = "AWS::Glue::Crawler"
JOB = "AWS::Glue::Job"


def security_configuration(stack: Stack, value: object) -> Resource | None:
    """The SecurityConfiguration a job or crawler names (by Ref or by literal name)."""
    resource = stack.resolve(value)
    if resource is not None:
        return resource if resource.type == SECURITY_CONFIGURATION else None
    return next((c for c in stack.of_type(SECURITY_CONFIGURATION) if c.prop("Name") == value), None)


def role_of(stack: Stack, value: object) -> Resource | None:
    """The role a job or crawler runs as (Ref, GetAtt Arn or literal name of a role in the stack)."""
    resource = stack.resolve(value)
    if resource is None and isinstance(value, str):
        name = value.rsplit("/", 1)[-1]
        resource = next((r for r in stack.of_type("AWS::IAM::Role") if r.prop("RoleName") == name), None)
    return resource if resource is not None and resource.type == "AWS::IAM::Role" else None


def jobs_and_crawlers(stack: Stack) -> Iterator[tuple[Resource, Resource | None, Resource | None]]:
    """(job or crawler, its security configuration, its role)."""
    for resource in stack.of_type(CRAWLER, JOB):
        key = "CrawlerSecurityConfiguration" if resource.type == CRAWLER else "SecurityConfiguration"
        yield resource, security_configuration(stack, resource.prop(key)), role_of(stack, resource.prop("Role"))
