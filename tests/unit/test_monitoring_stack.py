"""Monitoring: one dashboard with a section per pipeline stage, alarms that notify a person."""

from __future__ import annotations

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
