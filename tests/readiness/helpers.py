"""Minimal templates for the rule tests."""

from __future__ import annotations

from typing import Any

from readiness import Assembly, Finding, Rule, Status
from readiness.core import evaluate

EXEC_ROLE = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-us-east-1"


def res(resource_type: str, depends_on: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Type": resource_type, "Properties": properties}
    if depends_on:
        body["DependsOn"] = depends_on
    return body


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def arn(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def run(rule: Rule, *templates: dict[str, Any]) -> list[Finding]:
    """`rule` over stacks Stack0, Stack1, ... (each deployed after the previous ones)."""
    assembly = Assembly.from_templates({f"Stack{i}": t for i, t in enumerate(templates)})
    return evaluate(assembly, [rule])


def problems(rule: Rule, *templates: dict[str, Any]) -> list[str]:
    findings = run(rule, *templates)
    return [f"{f.logical_id}: {f.problem}" for f in findings if f.status is Status.NON_COMPLIANT]


def compliant(rule: Rule, *templates: dict[str, Any]) -> list[str]:
    return [str(f.logical_id) for f in run(rule, *templates) if f.status is Status.COMPLIANT]


def policy(role: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return res(
        "AWS::IAM::ManagedPolicy",
        Roles=[ref(role)],
        PolicyDocument={"Version": "2012-10-17", "Statement": list(statements)},
    )


def allow(*actions: str, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource, **extra}


def key(*statements: dict[str, Any]) -> dict[str, Any]:
    return res("AWS::KMS::Key", KeyPolicy={"Version": "2012-10-17", "Statement": list(statements)})


def role(service: str = "glue.amazonaws.com") -> dict[str, Any]:
    return res(
        "AWS::IAM::Role",
        AssumeRolePolicyDocument={
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
        },
    )
