"""What a synthesized stage costs per hour while idle, by component, at list prices.

``python -m tools.deploy cost [ASSEMBLY]`` prints the table; docs/deploy.md carries the
sandbox's (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.schedules import FIELDS as CRON_FIELDS
from stacks.schedules import ScheduleError, parse_cron
from tools.synth_summary import as_list, references, render, stacks_of

PRICES_AS_OF = "2026-11"
PRICE_REGION = "us-east-1"
HOURS_PER_MONTH = 730
PRICE = {
    "interface_endpoint_az_hour": 0.01,
    "kms_key_month": 1.00,
    "kinesis_on_demand_stream_hour": 0.04,
    "kinesis_shard_hour": 0.015,
    "waf_web_acl_month": 5.00,
    "waf_rule_month": 1.00,
    "alarm_metric_month": 0.10,
    "alarm_high_resolution_metric_month": 0.30,
    "dashboard_month": 3.00,
    "nat_gateway_hour": 0.045,
    "glue_dpu_hour": 0.44,
}
SAGEMAKER_HOSTING_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461}
SAGEMAKER_TRAINING_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461, "ml.m5.4xlarge": 0.922}
GLUE_DPU_PER_WORKER = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.025X": 0.25}
GLUE_JOB_MINIMUM_HOURS = 1 / 60
GLUE_CRAWLER_MINIMUM_HOURS = 10 / 60
GLUE_CRAWLER_DPUS = 2


@dataclass(frozen=True)
class CostLine:
    component: str
    count: str
    unit_price: str
    hourly: float | None
    note: str = ""

    @property
    def monthly(self) -> float | None:
        return None if self.hourly is None else self.hourly * HOURS_PER_MONTH


def _resources(assembly: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stack["name"], logical_id, resource)
        for stack in stacks_of(assembly)
        for logical_id, resource in stack["template"].get("Resources", {}).items()
    ]


def _runs_per_day(schedule: str) -> int | None:
    """Runs a day of an EventBridge cron that runs every day (None for other schedules)."""
    try:
        minutes, hours, *days, _year = parse_cron(schedule)
    except ScheduleError:
        return None
    every_day = all(
        values is None or values == set(range(spec.low, spec.high + 1))
        for values, spec in zip(days, CRON_FIELDS[2:5], strict=True)
    )
    return len(minutes or ()) * len(hours or ()) if every_day else None


def props(item: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = item[2].get("Properties", {})
    return found


def idle_cost(assembly: Path) -> list[CostLine]:
    """What the synthesized stage costs per hour with no traffic, by component, at list prices."""
    resources = _resources(assembly)
    by_type: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for item in resources:
        by_type.setdefault(item[2]["Type"], []).append(item)
    lines: list[CostLine] = []

    interface = [e for e in by_type.get("AWS::EC2::VPCEndpoint", []) if props(e).get("VpcEndpointType") == "Interface"]
    endpoint_azs = sum(len(as_list(props(e).get("SubnetIds"))) for e in interface)
    if interface:
        per_endpoint = endpoint_azs // len(interface) if endpoint_azs % len(interface) == 0 else None
        count = f"{len(interface)} endpoints x {per_endpoint} AZs" if per_endpoint else f"{endpoint_azs} endpoint-AZs"
        lines.append(
            CostLine(
                "Interface VPC endpoints",
                count,
                f"${PRICE['interface_endpoint_az_hour']:.2f}/h per AZ",
                endpoint_azs * PRICE["interface_endpoint_az_hour"],
                "the S3 gateway endpoint is free",
            )
        )
    for config in by_type.get("AWS::SageMaker::EndpointConfig", []):
        for variant in as_list(props(config).get("ProductionVariants")):
            kind = render(variant.get("InstanceType"))
            instances = int(variant.get("InitialInstanceCount", 1))
            price = SAGEMAKER_HOSTING_HOUR.get(kind)
            lines.append(
                CostLine(
                    f"SageMaker endpoint ({render(variant.get('VariantName'))})",
                    f"{instances} x {kind}",
                    f"${price:.3f}/h" if price is not None else "not in the price table",
                    None if price is None else instances * price,
                    "autoscaling adds instances only under load",
                )
            )
    for stream in by_type.get("AWS::Kinesis::Stream", []):
        mode = props(stream).get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        if mode == "ON_DEMAND":
            lines.append(
                CostLine(
                    "Kinesis data stream (on-demand)",
                    "1 stream",
                    f"${PRICE['kinesis_on_demand_stream_hour']:.2f}/h per stream",
                    PRICE["kinesis_on_demand_stream_hour"],
                    "plus per-GB ingested and retrieved",
                )
            )
        else:
            shards = int(props(stream).get("ShardCount", 1))
            lines.append(
                CostLine(
                    "Kinesis data stream (provisioned)",
                    f"{shards} shards",
                    f"${PRICE['kinesis_shard_hour']:.3f}/h per shard",
                    shards * PRICE["kinesis_shard_hour"],
                )
            )
    keys = len(by_type.get("AWS::KMS::Key", []))
    if keys:
        lines.append(
            CostLine(
                "KMS customer managed keys",
                f"{keys} keys",
                f"${PRICE['kms_key_month']:.2f}/month each",
                keys * PRICE["kms_key_month"] / HOURS_PER_MONTH,
                "plus $0.03 per 10,000 requests",
            )
        )
    for acl in by_type.get("AWS::WAFv2::WebACL", []):
        rules = len(as_list(props(acl).get("Rules")))
        lines.append(
            CostLine(
                "WAF web ACL",
                f"1 ACL, {rules} rules",
                f"${PRICE['waf_web_acl_month']:.0f}/month + ${PRICE['waf_rule_month']:.0f}/rule",
                (PRICE["waf_web_acl_month"] + rules * PRICE["waf_rule_month"]) / HOURS_PER_MONTH,
                "plus $0.60 per million requests",
            )
        )
    alarm_metrics, high_resolution = 0, 0
    for alarm in by_type.get("AWS::CloudWatch::Alarm", []):
        p = props(alarm)
        metrics = [m for m in as_list(p.get("Metrics")) if "MetricStat" in m] or [p]
        for metric in metrics:
            period = metric.get("MetricStat", {}).get("Period", metric.get("Period", 60))
            if isinstance(period, int) and period < 60:
                high_resolution += 1
            else:
                alarm_metrics += 1
    alarms = len(by_type.get("AWS::CloudWatch::Alarm", []))
    if alarms:
        lines.append(
            CostLine(
                "CloudWatch alarms",
                f"{alarms} alarms, {alarm_metrics + high_resolution} metrics",
                f"${PRICE['alarm_metric_month']:.2f}/month per metric",
                (
                    alarm_metrics * PRICE["alarm_metric_month"]
                    + high_resolution * PRICE["alarm_high_resolution_metric_month"]
                )
                / HOURS_PER_MONTH,
                "standard resolution" if not high_resolution else f"{high_resolution} high-resolution",
            )
        )
    dashboards = len(by_type.get("AWS::CloudWatch::Dashboard", []))
    if dashboards:
        lines.append(
            CostLine(
                "CloudWatch dashboards",
                f"{dashboards} dashboard{'s' if dashboards > 1 else ''}",
                f"${PRICE['dashboard_month']:.2f}/month each",
                dashboards * PRICE["dashboard_month"] / HOURS_PER_MONTH,
                "the first 3 dashboards of an account are free",
            )
        )
    nat = len(by_type.get("AWS::EC2::NatGateway", []))
    if nat:
        lines.append(
            CostLine("NAT gateways", f"{nat}", f"${PRICE['nat_gateway_hour']:.3f}/h", nat * PRICE["nat_gateway_hour"])
        )
    lines += _glue_schedule_cost(by_type)
    if by_type.get("AWS::CloudTrail::Trail"):
        lines.append(
            CostLine(
                "CloudTrail trail",
                f"{len(by_type['AWS::CloudTrail::Trail'])} trail",
                "first copy of management events free",
                0.0,
                "$2.00 per 100,000 management events if the account already has a trail; data events $0.10 per "
                "100,000; its CloudWatch Logs copy $0.50 per GB",
            )
        )
    free = [
        ("Lambda functions", "AWS::Lambda::Function"),
        ("Firehose delivery streams", "AWS::KinesisFirehose::DeliveryStream"),
        ("API Gateway REST APIs", "AWS::ApiGateway::RestApi"),
        ("S3 buckets", "AWS::S3::Bucket"),
        ("SNS topics", "AWS::SNS::Topic"),
        ("Athena workgroups", "AWS::Athena::WorkGroup"),
        ("Step Functions state machines", "AWS::StepFunctions::StateMachine"),
        ("SageMaker model package groups", "AWS::SageMaker::ModelPackageGroup"),
    ]
    present = [label for label, kind in free if by_type.get(kind)]
    if present:
        lines.append(
            CostLine(
                ", ".join(present),
                "-",
                "per request, GB or run",
                0.0,
                "nothing while idle; S3 storage and log ingestion add cents",
            )
        )
    return lines


def _glue_schedule_cost(by_type: dict[str, list[tuple[str, str, dict[str, Any]]]]) -> list[CostLine]:
    jobs = {logical_id: r.get("Properties", {}) for _s, logical_id, r in by_type.get("AWS::Glue::Job", [])}
    crawlers = {logical_id for _s, logical_id, _r in by_type.get("AWS::Glue::Crawler", [])}
    lines = []
    for _stack, _id, trigger in by_type.get("AWS::Glue::Trigger", []):
        p = trigger.get("Properties", {})
        if p.get("Type") != "SCHEDULED":
            continue
        runs = _runs_per_day(str(p.get("Schedule", "")))
        targets = {ref for action in as_list(p.get("Actions")) for ref in references(action)}
        job_dpu_hours = sum(
            float(jobs[j].get("NumberOfWorkers", 2)) * GLUE_DPU_PER_WORKER.get(str(jobs[j].get("WorkerType")), 1)
            for j in targets
            if j in jobs
        )
        per_run = job_dpu_hours * GLUE_JOB_MINIMUM_HOURS
        if crawlers:
            per_run += GLUE_CRAWLER_DPUS * GLUE_CRAWLER_MINIMUM_HOURS
        if runs is None:
            lines.append(CostLine("Glue scheduled workflow", "schedule not daily", "$0.44/DPU-hour", None))
            continue
        lines.append(
            CostLine(
                "Glue scheduled workflow (job + crawler)",
                f"{runs} run{'s' if runs > 1 else ''}/day",
                f"${PRICE['glue_dpu_hour']:.2f}/DPU-hour",
                runs * per_run * PRICE["glue_dpu_hour"] / 24,
                "minimum billing: job 1 minute at its workers' DPUs, crawler 10 minutes at 2 DPUs",
            )
        )
    return lines


def cost_table(lines: Sequence[CostLine]) -> str:
    """The idle-cost table in Markdown, with totals."""
    rows = [
        f"| Component (idle, {PRICE_REGION} list prices {PRICES_AS_OF}) | Count in the templates | List price "
        "| Per hour | Per month (730 h) | Notes |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    total = 0.0
    for line in lines:
        hourly = "?" if line.hourly is None else f"${line.hourly:.4f}"
        monthly = "?" if line.monthly is None else f"${line.monthly:.2f}"
        total += line.hourly or 0.0
        rows.append(f"| {line.component} | {line.count} | {line.unit_price} | {hourly} | {monthly} | {line.note} |")
    rows.append(f"| **Total** | | | **${total:.2f}** | **${total * HOURS_PER_MONTH:.2f}** | |")
    return "\n".join(rows)
