"""Architecture diagram (Mermaid) generated from a synthesized cloud assembly.

``python -m tools.diagram [cdk.out] [--output docs/architecture-diagram.md] [--check]``

One subgraph per stack, in manifest order, holding the stack's key resources (streams,
functions, buckets, Glue, SageMaker, the API, WAF, topics...; IAM, KMS, log groups and
CDK's own custom-resource providers are left out, alarms and endpoints are folded into
one node). An arrow ``A --> B`` means that B references A: inside a stack through Ref,
Fn::GetAtt or Fn::Sub (directly or through resources the diagram leaves out), across
stacks through the Fn::ImportValue of an export of A, or by the name A is given (the
endpoint's stage-derived name, which the API passes to its function). Labelled arrows are triggers
(Glue triggers, WAF associations, EventBridge targets). Stack dependencies that no
resource arrow explains are drawn as dotted arrows between the stacks.

The output depends only on the templates' structure (logical IDs, types, references),
never on accounts, regions or asset hashes, so it is the same with or without
credentials and `--check` can fail a build when the committed diagram is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.generated import write_or_check
from tools.synth_summary import as_list, imports, method_path, references, render, short_name, stacks_of

DEFAULT_OUTPUT = Path("docs/architecture-diagram.md")

LABELS = {
    "AWS::EC2::VPC": "VPC",
    "AWS::EC2::FlowLog": "VPC flow log",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::Kinesis::Stream": "Kinesis data stream",
    "AWS::KinesisFirehose::DeliveryStream": "Firehose delivery stream",
    "AWS::Lambda::Function": "Lambda function",
    "AWS::Glue::Job": "Glue job",
    "AWS::Glue::Crawler": "Glue crawler",
    "AWS::Glue::Workflow": "Glue workflow",
    "AWS::Glue::Database": "Glue database",
    "AWS::LakeFormation::DataLakeSettings": "Lake Formation settings",
    "AWS::LakeFormation::Resource": "Lake Formation location",
    "AWS::Athena::WorkGroup": "Athena workgroup",
    "AWS::SageMaker::Model": "SageMaker model",
    "AWS::SageMaker::EndpointConfig": "SageMaker endpoint config",
    "AWS::SageMaker::Endpoint": "SageMaker endpoint",
    "AWS::ApplicationAutoScaling::ScalableTarget": "autoscaling target",
    "AWS::ApiGateway::RestApi": "REST API",
    "AWS::ApiGateway::Method": "API method",
    "AWS::ApiGatewayV2::Api": "HTTP API",
    "AWS::WAFv2::WebACL": "WAF web ACL",
    "AWS::SNS::Topic": "SNS topic",
    "AWS::SQS::Queue": "SQS queue",
    "AWS::Events::Rule": "EventBridge rule",
    "AWS::CloudTrail::Trail": "CloudTrail trail",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboard",
    "AWS::StepFunctions::StateMachine": "Step Functions state machine",
    "AWS::DynamoDB::Table": "DynamoDB table",
}
# Folded into one node per stack; arrows to and from them would only add noise.
FOLDED = {
    "AWS::EC2::VPCEndpoint": "VPC endpoints",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::KMS::Key": "KMS keys",
}
FOLDED_WITH_ARROWS = {"AWS::EC2::VPCEndpoint"}
# Sinks that reference much of the app (metrics); their references draw no arrows.
NO_ARROWS_FROM = {"AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::KMS::Key"}
# Never followed when looking for what a resource references.
OPAQUE = {
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Policy",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::Logs::LogGroup",
    "AWS::Logs::LogStream",
    "AWS::EC2::SecurityGroup",
    "AWS::Glue::SecurityConfiguration",
    "AWS::Lambda::Permission",
}
# Resources with a name of their own that other stacks use as a plain string, not a reference.
NAMED = {"AWS::SageMaker::Endpoint": "EndpointName"}
CDK_PROVIDER = re.compile(r"^(Custom[A-Z]|AWS679f53fac002430cb0da5b7982bd2287|LogRetention[a-f0-9]{32})")


def is_cdk_internal(logical_id: str, resource: dict[str, Any]) -> bool:
    """CDK's own custom resources and their provider functions and roles."""
    return str(resource.get("Type", "")).startswith("Custom::") or bool(CDK_PROVIDER.match(logical_id))


def node_id(unit: str, logical_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{unit}_{logical_id}")


def unit_of(stack_name: str) -> str:
    """`MlPipeline-sandbox-Api` -> `Api`."""
    return stack_name.rsplit("-", 1)[-1]


@dataclass
class Stack:
    name: str
    unit: str
    resources: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    nodes: dict[str, str] = field(default_factory=dict)  # logical id (or fold key) -> label
    folded: dict[str, list[str]] = field(default_factory=dict)  # type -> logical ids


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    label: str = ""


def label_of(resources: dict[str, Any], logical_id: str) -> str:
    resource = resources[logical_id]
    kind = resource["Type"]
    if kind == "AWS::ApiGateway::Method":
        props = resource.get("Properties", {})
        return f"{LABELS[kind]}<br/>{render(props.get('HttpMethod'))} {method_path(resources, props.get('ResourceId'))}"
    return f"{LABELS[kind]}<br/>{short_name(logical_id)}"


def build_stack(artifact: dict[str, Any]) -> Stack:
    template = artifact["template"]
    stack = Stack(
        name=artifact["name"],
        unit=unit_of(artifact["name"]),
        resources=template.get("Resources", {}),
        outputs=template.get("Outputs", {}),
        dependencies=list(artifact["dependencies"]),
    )
    for logical_id, resource in sorted(stack.resources.items()):
        kind = resource.get("Type", "")
        if is_cdk_internal(logical_id, resource):
            continue
        if kind in FOLDED:
            stack.folded.setdefault(kind, []).append(logical_id)
        elif kind in LABELS:
            stack.nodes[logical_id] = label_of(stack.resources, logical_id)
    for kind, members in sorted(stack.folded.items()):
        names = ", ".join(short_name(m) for m in members)
        stack.nodes[fold_key(kind)] = f"{FOLDED[kind]} x{len(members)}<br/>{names}"
    return stack


def fold_key(kind: str) -> str:
    return "Folded" + re.sub(r"[^A-Za-z0-9]", "", kind.split("::", 1)[1])


def visible(stack: Stack, logical_id: str) -> str | None:
    """The node a resource appears as: itself, its folded node, or none."""
    if logical_id in stack.nodes:
        return logical_id
    kind = stack.resources.get(logical_id, {}).get("Type", "")
    if kind in FOLDED_WITH_ARROWS and logical_id in stack.folded.get(kind, []):
        return fold_key(kind)
    return None


def reached(stack: Stack, value: Any, seen: set[str] | None = None) -> tuple[set[str], set[str]]:
    """(nodes, export names) that `value` references, through resources left out of the diagram."""
    seen = set() if seen is None else seen
    nodes: set[str] = set()
    exports: set[str] = set(imports(value))
    for ref in references(value):
        if ref in seen or ref not in stack.resources:
            continue
        seen.add(ref)
        node = visible(stack, ref)
        resource = stack.resources[ref]
        if node is not None:
            nodes.add(node)
        elif resource.get("Type") not in OPAQUE and not is_cdk_internal(ref, resource):
            more_nodes, more_exports = reached(stack, resource.get("Properties", {}), seen)
            nodes |= more_nodes
            exports |= more_exports
    return nodes, exports


def exported_nodes(stacks: list[Stack]) -> dict[str, tuple[str, str]]:
    """Export name -> (stack unit, node) of the resource whose value it exports."""
    found: dict[str, tuple[str, str]] = {}
    for stack in stacks:
        for output in stack.outputs.values():
            name = output.get("Export", {}).get("Name")
            if not isinstance(name, str):
                continue
            nodes, _ = reached(stack, output.get("Value"))
            for node in sorted(nodes)[:1]:
                found[name] = (stack.unit, node)
    return found


def named_nodes(stacks: list[Stack]) -> dict[str, tuple[str, str]]:
    """Literal name -> (stack unit, node) of the resources other stacks name as plain strings."""
    found: dict[str, tuple[str, str]] = {}
    for stack in stacks:
        for logical_id in stack.nodes:
            resource = stack.resources.get(logical_id, {})
            name = resource.get("Properties", {}).get(NAMED.get(resource.get("Type", ""), ""))
            if isinstance(name, str):
                found[name] = (stack.unit, logical_id)
    return found


def strings(value: Any) -> Iterable[str]:
    """Every string value (not key) inside `value`."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def trigger_edges(stack: Stack, exports: dict[str, tuple[str, str]]) -> Iterable[Edge]:
    """Labelled arrows: Glue triggers, WAF associations, EventBridge targets."""
    for logical_id, resource in sorted(stack.resources.items()):
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::Glue::Trigger":
            targets = set()
            for action in as_list(props.get("Actions")):
                targets |= reached(stack, action)[0]
            sources = set()
            for condition in as_list(props.get("Predicate", {}).get("Conditions")):
                sources |= reached(stack, condition)[0]
            if not sources:
                sources = reached(stack, props.get("WorkflowName"))[0]
            trigger_type = render(props.get("Type", "")).lower()
            label = (
                "on success"
                if any(
                    render(c.get("State")) == "SUCCEEDED" for c in as_list(props.get("Predicate", {}).get("Conditions"))
                )
                else trigger_type or "starts"
            )
            for source in sorted(sources):
                for target in sorted(targets):
                    yield Edge(node_id(stack.unit, source), node_id(stack.unit, target), label)
        elif kind == "AWS::WAFv2::WebACLAssociation":
            for acl in sorted(reached(stack, props.get("WebACLArn"))[0]):
                for target in sorted(reached(stack, props.get("ResourceArn"))[0]):
                    yield Edge(node_id(stack.unit, acl), node_id(stack.unit, target), "protects")
        elif kind == "AWS::Events::Rule" and logical_id in stack.nodes:
            for target in as_list(props.get("Targets")):
                for key, label in (("Arn", "targets"), ("DeadLetterConfig", "dead letters")):
                    nodes, names = reached(stack, target.get(key))
                    found = [(stack.unit, n) for n in nodes] + [exports[n] for n in names if n in exports]
                    for unit, node in sorted(found):
                        yield Edge(node_id(stack.unit, logical_id), node_id(unit, node), label)


def edges_of(stacks: list[Stack]) -> tuple[list[Edge], set[tuple[str, str]]]:
    """Resource arrows, and the (producer, consumer) stack pairs they explain."""
    exports, named = exported_nodes(stacks), named_nodes(stacks)
    edges: set[Edge] = set()
    explained: set[tuple[str, str]] = set()
    for stack in stacks:
        for edge in trigger_edges(stack, exports):
            edges.add(edge)
            if edge.target.split("_", 1)[0] != stack.unit:
                explained.add((edge.target.split("_", 1)[0], stack.unit))
        for logical_id in stack.nodes:
            members = [logical_id]
            if logical_id.startswith("Folded"):
                kind = next(k for k in stack.folded if fold_key(k) == logical_id)
                if kind not in FOLDED_WITH_ARROWS:
                    continue
                members = stack.folded[kind]
            for member in members:
                resource = stack.resources[member]
                if resource.get("Type") in NO_ARROWS_FROM:
                    continue
                props = dict(resource.get("Properties", {}))
                if resource.get("Type") == "AWS::Events::Rule":
                    props.pop("Targets", None)  # drawn as labelled arrows from the rule
                nodes, names = reached(stack, props, {member})
                for node in nodes - {logical_id}:
                    edges.add(Edge(node_id(stack.unit, node), node_id(stack.unit, logical_id)))
                producers = [exports[name] for name in names if name in exports]
                producers += [named[text] for text in strings(props) if named.get(text, (stack.unit,))[0] != stack.unit]
                for unit, node in producers:
                    edges.add(Edge(node_id(unit, node), node_id(stack.unit, logical_id)))
                    explained.add((unit, stack.unit))
    return sorted(edges), explained


def render_diagram(assembly: Path) -> str:
    """The Markdown document holding the Mermaid flowchart of the assembly."""
    stacks = [build_stack(artifact) for artifact in stacks_of(assembly)]
    edges, explained = edges_of(stacks)
    units = {s.name: s.unit for s in stacks}
    stage = stacks[0].name.rsplit("-", 2)[-2] if stacks and stacks[0].name.count("-") >= 2 else ""
    lines = [
        "# Architecture diagram",
        "",
        f"Generated from the synthesized `{stage}` stage by `make diagram` (`python -m tools.diagram`);",
        "do not edit by hand. A test fails when this file no longer matches the synthesized app.",
        "",
        "One box per stack (deployment unit) with its key resources. An arrow `A --> B` means that B",
        "references A (B uses A, so A is deployed first); arrows between boxes are cross-stack",
        "references (`Fn::ImportValue`). Labelled arrows are triggers and point the way they act.",
        "A dotted arrow is a stack dependency that no drawn resource explains (for example alarms and",
        "dashboards reading metrics). IAM roles and policies, log groups and CDK's own custom resources",
        "are left out, and KMS keys, alarms and VPC endpoints are folded into one node per stack;",
        "`make synth` lists every resource per stack.",
        "",
        "```mermaid",
        "flowchart TB",
    ]
    for stack in stacks:
        lines.append(f'  subgraph {stack.unit}["{stack.unit} ({stack.name})"]')
        for logical_id, label in stack.nodes.items():
            lines.append(f'    {node_id(stack.unit, logical_id)}["{label}"]')
        lines.append("  end")
    for edge in edges:
        arrow = f"-->|{edge.label}|" if edge.label else "-->"
        lines.append(f"  {edge.source} {arrow} {edge.target}")
    for stack in stacks:
        for dependency in sorted(stack.dependencies, key=lambda d: units.get(d, d)):
            producer = units.get(dependency)
            if producer is not None and (producer, stack.unit) not in explained:
                lines.append(f"  {producer} -.-> {stack.unit}")
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diagram", description=__doc__.split("\n", 1)[0])
    parser.add_argument("assembly", nargs="?", type=Path, default=Path("cdk.out"), help="cloud assembly directory")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--check", action="store_true", help="fail if the output file differs instead of writing it")
    args = parser.parse_args(argv)
    if not (args.assembly / "manifest.json").is_file():
        print(f"error: {args.assembly} is not a cloud assembly (no manifest.json); run `make synth`", file=sys.stderr)
        return 2
    text = render_diagram(args.assembly)
    return write_or_check(args.output, text, check=args.check, regenerate="make diagram")


if __name__ == "__main__":
    sys.exit(main())
