"""One-screen-per-stack review of a synthesized cloud assembly.

Run after `cdk synth` (the Makefile does): `python -m tools.synth_summary [cdk.out]`.
It reads only the assembly on disk, so reviewers can run it on any synth output. Per
stack it shows the resources by type, the IAM roles (who can assume them and which
policies they hold, with action counts), what is reachable from the internet (API
Gateway APIs and their authorization, security group ingress from anywhere, public
buckets) and, for the whole assembly, the compliance status of the policy packs.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH = 110
CDK_HASH = re.compile(r"(?<=[A-Za-z0-9])[0-9A-F]{8}$")
ANYWHERE = ("0.0.0.0/0", "::/0")
BPA_SETTINGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
IAM_POLICY_TYPES = ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")


# ---------------------------------------------------------------------------
# Reading the assembly
# ---------------------------------------------------------------------------


def stacks_of(assembly: Path) -> list[dict[str, Any]]:
    """Stack artifacts of the assembly's manifest, in manifest order."""
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    artifacts = manifest["artifacts"]
    stack_names = {n for n, a in artifacts.items() if a.get("type") == "aws:cloudformation:stack"}
    stacks = []
    for name, artifact in artifacts.items():
        if name not in stack_names:
            continue
        props = artifact.get("properties", {})
        template = json.loads((assembly / props["templateFile"]).read_text(encoding="utf-8"))
        stacks.append(
            {
                "name": name,
                "template": template,
                "termination_protection": bool(props.get("terminationProtection")),
                "dependencies": [d for d in artifact.get("dependencies", []) if d in stack_names],
            }
        )
    return stacks


def compliance(assembly: Path) -> list[tuple[str, str, int]]:
    """(pack, status, unacknowledged findings) from the policy validation report."""
    report_file = assembly / "policy-validation-report.json"
    if not report_file.exists():
        return []
    report = json.loads(report_file.read_text(encoding="utf-8"))
    return [
        (
            p["summary"]["pluginName"],
            p["summary"]["status"],
            sum(len(v["violatingResources"]) for v in p["violations"] if v.get("severity") != "info"),
        )
        for p in report["pluginReports"]
    ]


# ---------------------------------------------------------------------------
# Template helpers (shared with tools.diagram and tools.deploy)
# ---------------------------------------------------------------------------


def short_name(logical_id: str) -> str:
    """A logical ID without the 8-character hash CDK appends to it."""
    return CDK_HASH.sub("", logical_id) or logical_id


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A template value as text: intrinsic functions become ${Param}, <Logical> or <Logical.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return ",".join(render(v) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"${{{arg}}}" if str(arg).startswith("AWS::") else f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(as_list(arg)) if isinstance(arg, list) else arg}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(render(part) for part in arg[1])
        if fn == "Fn::Sub":
            return render(arg[0] if isinstance(arg, list) else arg)
        if fn == "Fn::ImportValue":
            return f"<import {render(arg)}>"
        if fn == "Fn::Select":
            return f"select({render(arg[0])},{render(arg[1])})"
    return json.dumps(value, sort_keys=True)


def references(value: Any) -> Iterator[str]:
    """Logical IDs that `value` references through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref" and isinstance(arg, str) and not arg.startswith("AWS::"):
                yield arg
            elif fn == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                yield str(target)
            elif fn == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                if isinstance(text, str):
                    yield from re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}", text)
                if isinstance(arg, list) and len(arg) > 1:
                    yield from references(arg[1])
            else:
                yield from references(arg)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def imports(value: Any) -> Iterator[str]:
    """Export names that `value` reads with Fn::ImportValue."""
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Fn::ImportValue" and isinstance(arg, str):
                yield arg
            else:
                yield from imports(arg)
    elif isinstance(value, list):
        for item in value:
            yield from imports(item)


def of_type(resources: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v.get("Type") == resource_type}


# ---------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------


@dataclass
class PolicyInfo:
    """One policy a role holds: its name, kind and what it allows."""

    name: str
    kind: str  # "customer managed", "inline" or "AWS managed"
    actions: int = 0
    wildcard_statements: int = 0
    not_action: bool = False

    def describe(self) -> str:
        if self.kind == "AWS managed":
            return f"{self.name} (AWS managed)"
        parts = [f"{self.actions} action{'s' if self.actions != 1 else ''}"]
        if self.wildcard_statements:
            parts.append(f"{self.wildcard_statements} on Resource *")
        if self.not_action:
            parts.append("uses NotAction")
        return f"{self.name} ({self.kind}, {', '.join(parts)})"


@dataclass
class RoleInfo:
    name: str
    trusted: list[str]
    policies: list[PolicyInfo] = field(default_factory=list)


def policy_info(name: str, kind: str, document: Any) -> PolicyInfo:
    info = PolicyInfo(name=name, kind=kind)
    actions: set[str] = set()
    for statement in as_list(document.get("Statement") if isinstance(document, dict) else None):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions.update(render(a) for a in as_list(statement.get("Action")))
        if "NotAction" in statement:
            info.not_action = True
        if "*" in as_list(statement.get("Resource")):
            info.wildcard_statements += 1
    info.actions = len(actions)
    return info


def principals(statement: dict[str, Any]) -> list[str]:
    """Who a trust-policy statement lets assume the role, in words."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["ANYONE (*)"]
    found: list[str] = []
    if isinstance(principal, dict):
        for kind in sorted(principal):
            for value in as_list(principal[kind]):
                text = render(value)
                if text == "*":
                    found.append("ANYONE (*)")
                elif kind == "AWS":
                    found.append(_aws_principal(text))
                else:
                    found.append(text if kind == "Service" else f"{kind.lower()} {text}")
    if statement.get("Condition"):
        found = [f"{p} (with conditions)" for p in found]
    return found


def _aws_principal(text: str) -> str:
    root = re.fullmatch(r"arn:[^:]+:iam::(\$\{AWS::AccountId\}|\d{12}):root", text)
    if root:
        account = root.group(1)
        return "any principal of this account" if account.startswith("$") else f"any principal of account {account}"
    if re.fullmatch(r"\$\{AWS::AccountId\}|\d{12}", text):
        return "any principal of this account" if text.startswith("$") else f"any principal of account {text}"
    return text


def roles(resources: dict[str, Any]) -> list[RoleInfo]:
    """Roles of a template with their trust and every policy attached to them in it."""
    found: dict[str, RoleInfo] = {}
    for logical_id, role in of_type(resources, "AWS::IAM::Role").items():
        props = role.get("Properties", {})
        trusted = [
            p
            for s in as_list(props.get("AssumeRolePolicyDocument", {}).get("Statement"))
            if isinstance(s, dict) and s.get("Effect") == "Allow"
            for p in principals(s)
        ]
        info = RoleInfo(name=short_name(logical_id), trusted=sorted(set(trusted)))
        for arn in as_list(props.get("ManagedPolicyArns")):
            refs = list(references(arn))
            if refs and refs[0] in resources:
                continue  # a managed policy of this template: listed from its side below
            info.policies.append(PolicyInfo(name=render(arn).rsplit("/", 1)[-1], kind="AWS managed"))
        for inline in as_list(props.get("Policies")):
            name = render(inline.get("PolicyName", "inline"))
            info.policies.append(policy_info(name, "inline", inline.get("PolicyDocument", {})))
        found[logical_id] = info
    for logical_id, policy in resources.items():
        if policy.get("Type") not in IAM_POLICY_TYPES:
            continue
        props = policy.get("Properties", {})
        kind = "customer managed" if policy["Type"] == "AWS::IAM::ManagedPolicy" else "inline"
        described = policy_info(short_name(logical_id), kind, props.get("PolicyDocument", {}))
        attached = {r for value in as_list(props.get("Roles")) for r in references(value)}
        attached |= {
            k
            for k, role in of_type(resources, "AWS::IAM::Role").items()
            if logical_id
            in {r for a in as_list(role.get("Properties", {}).get("ManagedPolicyArns")) for r in references(a)}
        }
        for role_id in sorted(attached):
            if role_id in found:
                found[role_id].policies.append(described)
    return [found[k] for k in sorted(found, key=lambda k: found[k].name)]


def unattached_policies(resources: dict[str, Any]) -> list[PolicyInfo]:
    """Policies of this template attached to no role of it (for example to an imported role)."""
    role_ids = set(of_type(resources, "AWS::IAM::Role"))
    attached_via_role = {
        r
        for role in of_type(resources, "AWS::IAM::Role").values()
        for a in as_list(role.get("Properties", {}).get("ManagedPolicyArns"))
        for r in references(a)
    }
    found = []
    for logical_id, policy in sorted(resources.items()):
        if policy.get("Type") not in IAM_POLICY_TYPES or logical_id in attached_via_role:
            continue
        props = policy.get("Properties", {})
        if {r for v in as_list(props.get("Roles")) for r in references(v)} & role_ids:
            continue
        kind = "customer managed" if policy["Type"] == "AWS::IAM::ManagedPolicy" else "inline"
        found.append(policy_info(short_name(logical_id), kind, props.get("PolicyDocument", {})))
    return found


# ---------------------------------------------------------------------------
# Internet exposure
# ---------------------------------------------------------------------------


@dataclass
class Exposure:
    """What a stack makes reachable from the internet, and what it keeps closed."""

    apis: list[str] = field(default_factory=list)
    open_ingress: list[str] = field(default_factory=list)
    security_groups: int = 0
    buckets: int = 0
    buckets_without_bpa: list[str] = field(default_factory=list)
    public_bucket_policies: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Exposures a reviewer must look at: open ingress, public buckets, unauthenticated endpoints."""
        open_methods = sum(a.count("NONE (open)") for a in self.apis)
        return (
            len(self.open_ingress)
            + len(self.buckets_without_bpa)
            + len(self.public_bucket_policies)
            + open_methods
            + sum(1 for o in self.other if "auth NONE" in o or "internet-facing" in o)
        )


def method_path(resources: dict[str, Any], resource_ref: Any) -> str:
    """The path of an API Gateway resource, following ParentId up to the root."""
    parts: list[str] = []
    refs = list(references(resource_ref))
    seen: set[str] = set()
    while refs and refs[0] in resources and refs[0] not in seen:
        seen.add(refs[0])
        resource = resources[refs[0]]
        if resource.get("Type") != "AWS::ApiGateway::Resource":
            break
        parts.append(render(resource["Properties"].get("PathPart", "?")))
        refs = list(references(resource["Properties"].get("ParentId")))
    return "/" + "/".join(reversed(parts))


def rest_apis(resources: dict[str, Any]) -> list[str]:
    lines = []
    stages_of: dict[str, list[str]] = {}
    for stage_id, stage in of_type(resources, "AWS::ApiGateway::Stage").items():
        for api_id in references(stage.get("Properties", {}).get("RestApiId")):
            stages_of.setdefault(api_id, []).append(stage_id)
    protected = {
        r
        for association in of_type(resources, "AWS::WAFv2::WebACLAssociation").values()
        for r in references(association.get("Properties", {}).get("ResourceArn"))
    }
    for api_id, api in sorted(of_type(resources, "AWS::ApiGateway::RestApi").items()):
        props = api.get("Properties", {})
        types = as_list(props.get("EndpointConfiguration", {}).get("Types")) or ["EDGE"]
        kind = "/".join(render(t) for t in types)
        methods = []
        for method in of_type(resources, "AWS::ApiGateway::Method").values():
            m = method.get("Properties", {})
            if api_id not in set(references(m.get("RestApiId"))) or m.get("HttpMethod") == "OPTIONS":
                continue
            path = method_path(resources, m.get("ResourceId"))
            auth = render(m.get("AuthorizationType", "NONE"))
            if auth == "NONE":
                auth = "NONE, API key required" if m.get("ApiKeyRequired") else "NONE (open)"
            methods.append(f"{render(m.get('HttpMethod'))} {path} auth {auth}")
        waf = "WAF" if set(stages_of.get(api_id, [])) & protected else "no WAF"
        where = "private, VPC only" if kind == "PRIVATE" else f"{kind}, {waf}"
        lines.append(f"REST API {short_name(api_id)} ({where}): {'; '.join(sorted(methods)) or 'no methods'}")
    for api_id, api in sorted(of_type(resources, "AWS::ApiGatewayV2::Api").items()):
        props = api.get("Properties", {})
        routes = [
            f"{render(r['Properties'].get('RouteKey'))} auth {render(r['Properties'].get('AuthorizationType', 'NONE'))}"
            for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
            if api_id in set(references(r.get("Properties", {}).get("ApiId")))
        ]
        protocol = render(props.get("ProtocolType", "HTTP"))
        lines.append(f"{protocol} API {short_name(api_id)}: {'; '.join(sorted(routes)) or 'no routes'}")
    return lines


def _open_rules(rules: Any) -> Iterator[tuple[str, str]]:
    for rule in as_list(rules):
        if not isinstance(rule, dict):
            continue
        cidr = rule.get("CidrIp") or rule.get("CidrIpv6")
        if cidr in ANYWHERE:
            low, high = rule.get("FromPort", "all"), rule.get("ToPort", "all")
            ports = "all ports" if str(rule.get("IpProtocol")) == "-1" else f"{rule.get('IpProtocol')} {low}-{high}"
            yield str(cidr), ports


def exposure(resources: dict[str, Any]) -> Exposure:
    found = Exposure(apis=rest_apis(resources))
    groups = of_type(resources, "AWS::EC2::SecurityGroup")
    found.security_groups = len(groups)
    for group_id, group in sorted(groups.items()):
        for cidr, ports in _open_rules(group.get("Properties", {}).get("SecurityGroupIngress")):
            found.open_ingress.append(f"{short_name(group_id)}: {ports} from {cidr}")
    for rule_id, rule in sorted(of_type(resources, "AWS::EC2::SecurityGroupIngress").items()):
        for cidr, ports in _open_rules(rule.get("Properties")):
            found.open_ingress.append(f"{short_name(rule_id)}: {ports} from {cidr}")
    buckets = of_type(resources, "AWS::S3::Bucket")
    found.buckets = len(buckets)
    for bucket_id, bucket in sorted(buckets.items()):
        bpa = bucket.get("Properties", {}).get("PublicAccessBlockConfiguration", {})
        if not all(bpa.get(setting) is True for setting in BPA_SETTINGS):
            found.buckets_without_bpa.append(short_name(bucket_id))
    for policy_id, policy in sorted(of_type(resources, "AWS::S3::BucketPolicy").items()):
        for statement in as_list(policy.get("Properties", {}).get("PolicyDocument", {}).get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or statement.get("Condition"):
                continue
            if "ANYONE (*)" in principals(statement):
                found.public_bucket_policies.append(short_name(policy_id))
    for url_id, url in sorted(of_type(resources, "AWS::Lambda::Url").items()):
        found.other.append(f"Lambda function URL {short_name(url_id)} auth {render(url['Properties'].get('AuthType'))}")
    for lb_id, lb in sorted(of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").items()):
        if lb.get("Properties", {}).get("Scheme", "internet-facing") == "internet-facing":
            found.other.append(f"load balancer {short_name(lb_id)} internet-facing")
    for gateway_id in sorted(of_type(resources, "AWS::EC2::InternetGateway")):
        found.other.append(f"internet gateway {short_name(gateway_id)}")
    return found


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


@dataclass(frozen=True)
class StackReview:
    """One stack's review: its lines, resource count and internet-exposure findings."""

    lines: list[str]
    resources: int
    findings: int


def review_stack(stack: dict[str, Any]) -> StackReview:
    """Review one stack: resources, roles, internet reachability."""
    resources = stack["template"].get("Resources", {})
    types = Counter(r["Type"] for r in resources.values() if r["Type"] != "AWS::CDK::Metadata")
    protection = "termination protection on" if stack["termination_protection"] else "destroyable"
    lines = [f"  {stack['name']}: {sum(types.values())} resources ({protection})"]
    by_type = ", ".join(f"{t.split('::', 1)[-1]} x{n}" for t, n in sorted(types.items(), key=lambda i: (-i[1], i[0])))
    lines += _wrap(f"resources: {by_type}", "      ")

    stack_roles = roles(resources)
    if stack_roles:
        lines.append("      IAM roles (assumed by -> policies):")
        for role in stack_roles:
            trusted = ", ".join(role.trusted) or "nobody (no trust statement)"
            policies = "; ".join(p.describe() for p in role.policies) or "no policies"
            lines += _wrap(f"{role.name} <- {trusted} -> {policies}", "        ")
    for policy in unattached_policies(resources):
        lines += _wrap(f"policy on a role of another stack: {policy.describe()}", "      ")

    exposed = exposure(resources)
    reachable = exposed.apis + exposed.other
    lines += _wrap(f"reachable from the internet: {'; '.join(reachable) if reachable else 'nothing'}", "      ")
    if exposed.security_groups or exposed.open_ingress:
        ingress = "; ".join(exposed.open_ingress) or "none"
        lines += _wrap(
            f"security groups: {exposed.security_groups}, ingress from 0.0.0.0/0 or ::/0: {ingress}", "      "
        )
    if exposed.buckets:
        bpa = (
            f"Block Public Access on all {exposed.buckets}"
            if not exposed.buckets_without_bpa
            else f"Block Public Access OFF on {', '.join(exposed.buckets_without_bpa)}"
        )
        public = (
            f"PUBLIC bucket policy: {', '.join(exposed.public_bucket_policies)}"
            if exposed.public_bucket_policies
            else "no public bucket policy"
        )
        lines += _wrap(f"S3 buckets: {exposed.buckets}, {bpa}, {public}", "      ")
    anyone = sum(1 for role in stack_roles if any("ANYONE" in t for t in role.trusted))
    return StackReview(lines, sum(types.values()), exposed.findings + anyone)


def summarise(assembly: Path) -> str:
    lines = [f"Cloud assembly {assembly}"]
    total = 0
    stacks = stacks_of(assembly)
    findings = 0
    for stack in stacks:
        review = review_stack(stack)
        total += review.resources
        findings += review.findings
        lines += review.lines
    lines.append(f"  total: {total} resources in {len(stacks)} stacks")
    lines.append(
        "Internet exposure: "
        + ("nothing open to review" if not findings else f"{findings} item(s) to review (see the stacks above)")
    )
    packs = compliance(assembly)
    if not (assembly / "policy-validation-report.json").exists():
        lines.append("Compliance: no validation report in the assembly (was synth run with the packs?)")
    elif not packs:
        lines.append("Compliance: every pack passed with 0 unacknowledged findings")
    else:
        lines.append("Compliance (policy validation plugins, unacknowledged findings):")
        lines += [f"  {name:<24} {status:<8} {count}" for name, status, count in packs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    assembly = Path(args[0] if args else "cdk.out")
    if not (assembly / "manifest.json").is_file():
        print(f"error: {assembly} is not a cloud assembly (no manifest.json); run `make synth` first", file=sys.stderr)
        return 2
    print(summarise(assembly))
    return 0


if __name__ == "__main__":
    sys.exit(main())
