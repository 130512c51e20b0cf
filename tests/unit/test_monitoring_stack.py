"""Monitoring: one dashboard with a section per pipeline stage, alarms that notify a person."""

from __future__ import annotations

import json
from typing import Any

from tests.synth import SynthesizedStage

STAGE_METRICS = {
    "Kinesis": (
        "AWS/Kinesis",
        {"IncomingRecords", "GetRecords.IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded"},
    ),
    "Firehose": ("AWS/Firehose", {"DeliveryToS3.Success", "DeliveryToS3.DataFreshness"}),
    "Lambda": ("AWS/Lambda", {"Errors", "Throttles", "Duration"}),
    "Glue": ("Glue", {"glue.driver.aggregate.numFailedTasks", "glue.driver.aggregate.elapsedTime"}),
    "SageMaker": (
        "AWS/SageMaker",
        {"InvocationsPerInstance", "ModelLatency", "Invocation4XXErrors", "Invocation5XXErrors"},
    ),
    "API Gateway": ("AWS/ApiGateway", {"Count", "4XXError", "5XXError", "Latency"}),
}


def dashboard_body(stage: SynthesizedStage) -> str:
    """The dashboard JSON with the tokens (stream names, ARNs) left out."""
    (dashboard,) = stage.resources("Monitoring", "AWS::CloudWatch::Dashboard").values()
    return "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(part, str))


def metric_of(alarm: dict[str, Any]) -> tuple[str, str]:
    """(namespace, metric name) of an alarm, whether it uses a plain metric or Metrics."""
    if "MetricName" in alarm:
        return alarm["Namespace"], alarm["MetricName"]
    (stat,) = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    return stat["Namespace"], stat["MetricName"]


def test_dashboard_has_a_widget_per_stage(sandbox: SynthesizedStage) -> None:
    body = dashboard_body(sandbox)
    for stage, (namespace, metrics) in STAGE_METRICS.items():
        assert stage in body, stage
        for name in metrics:
            assert f'"{namespace}","{name}"' in body, (stage, name)
    assert "ProcessingFailedRecords" in body


def test_every_stage_has_an_alarm_with_an_action(sandbox: SynthesizedStage) -> None:
    alarms = [
        a["Properties"]
        for unit in ("Monitoring", "Inference")
        for a in sandbox.resources(unit, "AWS::CloudWatch::Alarm").values()
    ]
    assert all(a["AlarmActions"] for a in alarms)
    namespaces = {metric_of(a)[0] for a in alarms}
    assert {
        "AWS/Kinesis",
        "AWS/Firehose",
        "AWS/Lambda",
        "Glue",
        "AWS/SageMaker",
        "AWS/ApiGateway",
        "MlPipeline/Ingestion",
    } <= namespaces
    assert sandbox.resources("Etl", "AWS::Events::Rule"), "failed Glue runs must also notify"


def test_thresholds_come_from_config(sandbox: SynthesizedStage) -> None:
    alarms = {
        metric_of(a["Properties"])[1]: a["Properties"]
        for a in sandbox.resources("Monitoring", "AWS::CloudWatch::Alarm").values()
    }
    config = sandbox.config.observability
    assert alarms["GetRecords.IteratorAgeMilliseconds"]["Threshold"] == config.kinesis_iterator_age_seconds * 1000
    assert alarms["DeliveryToS3.DataFreshness"]["Threshold"] == config.firehose_freshness_seconds
    assert alarms["ProcessingFailedRecords"]["Threshold"] == config.transform_failed_records
    assert alarms["Latency"]["Threshold"] == config.api_latency_p99_ms


def test_transform_failures_come_from_the_summary_log_line(sandbox: SynthesizedStage) -> None:
    (metric_filter,) = sandbox.resources("Monitoring", "AWS::Logs::MetricFilter").values()
    props = metric_filter["Properties"]
    assert props["FilterPattern"] == '{ $.event = "transform_summary" }'
    assert props["MetricTransformations"][0]["MetricValue"] == "$.results.ProcessingFailed"


def drift_alarms(stage: SynthesizedStage) -> dict[str, dict[str, Any]]:
    return {
        logical_id: alarm["Properties"]
        for logical_id, alarm in stage.resources("Monitoring", "AWS::CloudWatch::Alarm").items()
        if metric_of(alarm["Properties"])[0] == "MlPipeline/Drift"
    }


def alarm_metric(alarm: dict[str, Any]) -> dict[str, Any]:
    if "MetricName" in alarm:
        return {**alarm, "Dimensions": alarm["Dimensions"]}
    (stat,) = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    return {**stat["Metric"], "Period": stat["Period"], "Statistic": stat["Stat"]}


def test_drift_function_runs_in_the_vpc_on_the_configured_schedule(sandbox: SynthesizedStage) -> None:
    config = sandbox.config.monitoring
    (function,) = [
        f["Properties"]
        for f in sandbox.resources("Monitoring", "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "drift.handler"
    ]
    assert function["VpcConfig"]["SubnetIds"] and function["DeadLetterConfig"]["TargetArn"]
    ((group_id, _),) = [g["Fn::GetAtt"] for g in function["VpcConfig"]["SecurityGroupIds"]]
    # S3 gateway endpoint traffic goes to the region's S3 prefix list, not to the VPC CIDR.
    (to_s3,) = [
        e["Properties"]
        for e in sandbox.resources("Monitoring", "AWS::EC2::SecurityGroupEgress").values()
        if e["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert "S3PrefixList" in json.dumps(to_s3["DestinationPrefixListId"]) and to_s3["FromPort"] == 443
    assert function["ReservedConcurrentExecutions"] == config.function.reserved_concurrency == 1
    environment = function["Environment"]["Variables"]
    assert json.loads(environment["BASELINES"]) == {"primary": "drift_baseline.json"}
    assert environment["CAPTURE_PREFIX"] == "inference-capture/" and environment["REPORT_PREFIX"] == "drift-reports/"
    assert (environment["WINDOW_HOURS"], environment["MIN_SAMPLE_SIZE"]) == ("1", "500")
    assert float(environment["FEATURE_PSI_THRESHOLD"]) == config.feature_psi_threshold == 0.25
    assert float(environment["PREDICTION_PSI_THRESHOLD"]) == config.prediction_psi_threshold == 0.1
    ((rule_id, rule),) = [
        (k, r["Properties"])
        for k, r in sandbox.resources("Monitoring", "AWS::Events::Rule").items()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert rule["ScheduleExpression"] == config.schedule
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"] and target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    (permission,) = sandbox.resources("Monitoring", "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_drift_alarms_cover_every_monitored_variant_and_miss_no_data_as_breaching(
    sandbox_options: SynthesizedStage,
) -> None:
    """Thin windows publish no PSI: missing data must not alarm. Thresholds come from config."""
    config = sandbox_options.config.monitoring
    alarms = drift_alarms(sandbox_options)
    found = {
        (
            alarm_metric(a)["MetricName"],
            next(d["Value"] for d in alarm_metric(a)["Dimensions"] if d["Name"] == "VariantName"),
        ): a
        for a in alarms.values()
    }
    assert set(found) == {(m, v) for m in ("MaxFeaturePsi", "PredictionPsi") for v in ("champion", "challenger")}
    for (metric_name, _), alarm in found.items():
        assert alarm["TreatMissingData"] == "notBreaching" and alarm["AlarmActions"]
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm_metric(alarm)["Period"] == config.window_hours * 3600
        expected = config.feature_psi_threshold if metric_name == "MaxFeaturePsi" else config.prediction_psi_threshold
        assert alarm["Threshold"] == expected


def test_dashboard_has_a_drift_section_with_the_psi_levels(sandbox: SynthesizedStage) -> None:
    body = dashboard_body(sandbox)
    assert "## Model drift (captured traffic against the training baseline)" in body
    for name in ("MaxFeaturePsi", "PredictionPsi", "SampleCount", "SkippedRecords", "SkippedRows"):
        assert f'"MlPipeline/Drift","{name}"' in body, name
    for feature in ("living_area", "home_type", "year_built_missing", "garden_size"):
        assert f'"Feature","{feature}"' in body, feature
    widgets = {w["properties"].get("title"): w["properties"] for w in json.loads(body)["widgets"]}
    levels = {
        title: [(a["value"], a["label"]) for a in widgets[title]["annotations"]["horizontal"]]
        for title in ("Largest feature PSI", "Prediction PSI")
    }
    assert levels == {
        "Largest feature PSI": [(0.1, "moderate shift"), (0.25, "alarm (significant shift)")],
        "Prediction PSI": [(0.1, "alarm (moderate shift)"), (0.25, "significant shift")],
    }
    assert "Model drift (captured traffic against the training baseline) alarms" in body


def test_drift_function_reads_the_capture_and_only_adds_reports(sandbox: SynthesizedStage) -> None:
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, p in sandbox.resources("Monitoring", "AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith("DriftFunctionPolicy")
    ]
    rendered = json.dumps(policy)
    objects = {
        s["Resource"]["Fn::Join"][1][1]: sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for s in policy
        if isinstance(s["Resource"], dict)
        and "Fn::Join" in s["Resource"]
        and s["Resource"]["Fn::Join"][1][1:]
        and str(s["Resource"]["Fn::Join"][1][1]).startswith("/")
    }
    assert objects["/inference-capture/*"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert "s3:PutObject" in objects["/drift-reports/*"] and "s3:GetObject" not in objects["/drift-reports/*"]
    assert "cloudwatch:PutMetricData" not in rendered  # metrics travel in the logs (embedded metric format)
    assert "s3:DeleteObject" not in rendered
