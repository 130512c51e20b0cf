"""Monitoring stack: one dashboard for the whole pipeline and the alarms of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.access import Zone, import_zone
from stacks.api_stack import STAGE_NAME, ApiStack
from stacks.config import MonitoringConfig, ObservabilityConfig
from stacks.drift_monitor import DriftMonitor
from stacks.etl_stack import EtlStack
from stacks.inference_stack import InferenceStack
from stacks.ingestion_stack import IngestionStack
from stacks.names import variant_id
from stacks.training_flow import METRIC_DIMENSION, METRIC_NAMESPACE
from stacks.training_stack import TrainingStack

FIVE_MINUTES = cdk.Duration.minutes(5)
TRANSFORM_METRICS_NAMESPACE = "MlPipeline/Ingestion"
# The usual PSI levels, drawn on the drift graphs whatever the alarm thresholds are.
PSI_LEVELS = {0.1: "moderate shift", 0.25: "significant shift"}


@dataclass
class Section:
    """One pipeline stage on the dashboard: its graphs and the alarms that page for it."""

    title: str
    graphs: list[tuple[str, list[cloudwatch.IMetric]]] = field(default_factory=list)
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)
    annotations: dict[str, list[cloudwatch.HorizontalAnnotation]] = field(default_factory=dict)


def metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str = "Sum", label: str | None = None
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label,
    )


class MonitoringStack(cdk.Stack):
    """Owns the pipeline dashboard and the stage alarms (SageMaker's live with the endpoint).

    Sections, in data-flow order: Kinesis (incoming records, iterator age, throttles),
    Firehose (delivery success, data freshness, transform failures), Lambda (errors,
    throttles, duration of the functions), Glue (failed tasks, elapsed time), training
    (executions by outcome, the candidates' validation RMSE and gate decisions), SageMaker
    (invocations per instance, latency, 4XX/5XX, instance count), drift (PSI of the inputs
    and of the predictions against the training baseline, rows analysed and skipped) and
    API Gateway (requests, 4XX/5XX, latency). Every alarm notifies the alarm topic; failed
    Glue runs also arrive through the ETL stack's EventBridge rule.

    With `monitoring.enabled` it also owns the drift monitor (:class:`DriftMonitor`), whose
    metrics the drift section and alarms read. Exposes `dashboard`, `sections` and `drift`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ObservabilityConfig,
        monitoring: MonitoringConfig,
        alarm_topic: sns.ITopic,
        ingestion: IngestionStack,
        etl: EtlStack,
        training: TrainingStack,
        inference: InferenceStack,
        api: ApiStack,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        capture: Zone,
        curated: Zone,
        key_admins: tuple[str, ...],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.alarm_action = actions.SnsAction(alarm_topic)
        monitored = monitoring.monitored(inference.config)
        self.drift = (
            DriftMonitor(
                self,
                "Drift",
                config=monitoring,
                variants=monitored,
                endpoint_name=inference.endpoint_name,
                vpc=vpc,
                subnets=subnets,
                s3_prefix_list_id=s3_prefix_list_id,
                capture=import_zone(self, capture),
                curated=import_zone(self, curated),
                key_admins=key_admins,
            )
            if monitored
            else None
        )
        self.sections = [
            self._kinesis(ingestion),
            self._firehose(ingestion),
            self._lambda(ingestion, api),
            self._glue(etl),
            self._training(training),
            self._sagemaker(inference),
            *([self._drift(self.drift)] if self.drift else []),
            self._api(api),
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(6))
        for section in self.sections:
            self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=f"## {section.title}", width=24, height=1))
            graphs = [
                cloudwatch.GraphWidget(
                    title=title,
                    left=metrics,
                    left_annotations=section.annotations.get(title),
                    width=24 // len(section.graphs),
                    height=6,
                )
                for title, metrics in section.graphs
            ]
            self.dashboard.add_widgets(*graphs)
            if section.alarms:
                self.dashboard.add_widgets(
                    cloudwatch.AlarmStatusWidget(
                        title=f"{section.title} alarms", alarms=section.alarms, width=24, height=2
                    )
                )

    def _alarm(self, construct_id: str, description: str, m: cloudwatch.IMetric, threshold: float) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=m,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.alarm_action)
        return alarm

    def _kinesis(self, ingestion: IngestionStack) -> Section:
        stream = {"StreamName": ingestion.stream.stream_name}
        iterator_age = metric("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", stream, "Maximum")
        throttled = metric("AWS/Kinesis", "WriteProvisionedThroughputExceeded", stream)
        return Section(
            "Kinesis Data Streams",
            graphs=[
                ("Incoming records", [metric("AWS/Kinesis", "IncomingRecords", stream)]),
                ("Iterator age (ms)", [iterator_age]),
                (
                    "Throttled writes and reads",
                    [throttled, metric("AWS/Kinesis", "ReadProvisionedThroughputExceeded", stream)],
                ),
            ],
            alarms=[
                self._alarm(
                    "StreamIteratorAge",
                    "Kinesis: Firehose is falling behind the stream",
                    iterator_age,
                    self.config.kinesis_iterator_age_seconds * 1000,
                ),
                self._alarm("StreamWriteThrottles", "Kinesis: producers are throttled", throttled, 1),
            ],
        )

    def _firehose(self, ingestion: IngestionStack) -> Section:
        delivery = {"DeliveryStreamName": ingestion.delivery_stream.ref}
        freshness = metric("AWS/Firehose", "DeliveryToS3.DataFreshness", delivery, "Maximum")
        failed = self._transform_failures(ingestion.transform.log_group)
        return Section(
            "Kinesis Data Firehose",
            graphs=[
                ("Delivery to S3 success", [metric("AWS/Firehose", "DeliveryToS3.Success", delivery, "Average")]),
                ("Data freshness (s)", [freshness]),
                (
                    "Transform: records rejected",
                    [failed, metric("AWS/Firehose", "ExecuteProcessing.Success", delivery, "Average")],
                ),
            ],
            alarms=[
                self._alarm(
                    "DeliveryFreshness",
                    "Firehose: records wait too long before reaching S3",
                    freshness,
                    self.config.firehose_freshness_seconds,
                ),
                self._alarm(
                    "TransformFailures",
                    "Firehose transform rejected records (see errors/ prefix)",
                    failed,
                    self.config.transform_failed_records,
                ),
            ],
        )

    def _transform_failures(self, log_group: logs.ILogGroup) -> cloudwatch.IMetric:
        """Records the transform returned as ProcessingFailed, from its summary log line."""
        metric_filter = logs.MetricFilter(
            self,
            "TransformFailedRecords",
            log_group=log_group,
            filter_pattern=logs.FilterPattern.literal('{ $.event = "transform_summary" }'),
            metric_namespace=TRANSFORM_METRICS_NAMESPACE,
            metric_name="ProcessingFailedRecords",
            metric_value="$.results.ProcessingFailed",
            default_value=0,
        )
        return metric_filter.metric(statistic="Sum", period=FIVE_MINUTES)

    def _lambda(self, ingestion: IngestionStack, api: ApiStack) -> Section:
        section = Section("Lambda functions")
        errors: list[cloudwatch.IMetric] = []
        throttles: list[cloudwatch.IMetric] = []
        durations: list[cloudwatch.IMetric] = []
        functions = [("Transform", ingestion.transform.function), ("Predict", api.predict.function)]
        if self.drift:
            functions.append(("Drift", self.drift.function.function))
        for name, function in functions:
            errors.append(function.metric_errors(period=FIVE_MINUTES, label=f"{name} errors"))
            throttles.append(function.metric_throttles(period=FIVE_MINUTES, label=f"{name} throttles"))
            durations.append(function.metric_duration(period=FIVE_MINUTES, statistic="p99", label=f"{name} p99"))
            section.alarms += [
                self._alarm(
                    f"{name}Errors", f"Lambda {name}: invocations failed", errors[-1], self.config.lambda_errors
                ),
                self._alarm(
                    f"{name}Throttles",
                    f"Lambda {name}: reserved concurrency exhausted",
                    throttles[-1],
                    self.config.lambda_throttles,
                ),
            ]
        section.graphs = [("Errors", errors), ("Throttles", throttles), ("Duration p99 (ms)", durations)]
        return section

    def _glue(self, etl: EtlStack) -> Section:
        job = {"JobName": etl.job.ref, "JobRunId": "ALL", "Type": "count"}
        failed_tasks = metric("Glue", "glue.driver.aggregate.numFailedTasks", job)
        elapsed = metric("Glue", "glue.driver.aggregate.elapsedTime", {**job, "Type": "count"}, "Maximum")
        return Section(
            "Glue feature preparation",
            graphs=[("Failed tasks", [failed_tasks]), ("Elapsed time (ms)", [elapsed])],
            alarms=[
                self._alarm(
                    "GlueFailedTasks", "Glue job: Spark tasks failed", failed_tasks, self.config.glue_failed_tasks
                )
            ],
        )

    def _training(self, training: TrainingStack) -> Section:
        """Executions by outcome, and the history of the candidates' metric and gate decisions."""
        machine = {"StateMachineArn": training.state_machine.state_machine_arn}
        failed = metric("AWS/States", "ExecutionsFailed", machine)
        timed_out = metric("AWS/States", "ExecutionsTimedOut", machine)

        def history(name: str) -> cloudwatch.Metric:
            """One value a day: the best candidate of the day (executions publish a value each)."""
            return cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=name,
                dimensions_map={METRIC_DIMENSION: training.model_package_group_name},
                statistic="Minimum",
                period=cdk.Duration.days(1),
            )

        return Section(
            "Training pipeline",
            graphs=[
                (
                    "Executions",
                    [
                        metric("AWS/States", "ExecutionsStarted", machine),
                        metric("AWS/States", "ExecutionsSucceeded", machine),
                        failed,
                        timed_out,
                    ],
                ),
                ("Candidate validation RMSE", [history("ValidationRmse")]),
                ("Evaluation gate (1 passed, 0 failed)", [history("GatePassed")]),
            ],
            alarms=[
                self._alarm("TrainingFailed", "Training: an execution failed (see its Fail state cause)", failed, 1),
                self._alarm("TrainingTimedOut", "Training: an execution ran past its timeout", timed_out, 1),
            ],
        )

    def _sagemaker(self, inference: InferenceStack) -> Section:
        per_variant = [{"EndpointName": inference.endpoint_name, "VariantName": v} for v in inference.variant_names]
        return Section(
            "SageMaker endpoint",
            graphs=[
                (
                    "Invocations per instance",
                    [metric("AWS/SageMaker", "InvocationsPerInstance", d, label=d["VariantName"]) for d in per_variant],
                ),
                (
                    "Model latency p99 (us)",
                    [metric("AWS/SageMaker", "ModelLatency", d, "p99", d["VariantName"]) for d in per_variant],
                ),
                (
                    "4XX / 5XX",
                    [
                        metric("AWS/SageMaker", f"Invocation{c}Errors", d, label=f"{d['VariantName']} {c}")
                        for d in per_variant
                        for c in ("4XX", "5XX")
                    ],
                ),
                (
                    "Instances",
                    [
                        metric("/aws/sagemaker/Endpoints", "CPUUtilization", d, "SampleCount", d["VariantName"])
                        for d in per_variant
                    ],
                ),
            ],
            alarms=list(inference.alarms),
        )

    def _drift(self, drift: DriftMonitor) -> Section:
        """PSI of the inputs and predictions per variant; alarms on the largest feature PSI and
        on the predictions' PSI. Thin windows publish no PSI, and missing data is not breaching."""
        config = drift.config
        section = Section("Model drift (captured traffic against the training baseline)")
        section.graphs = [
            ("Largest feature PSI", [drift.metric("MaxFeaturePsi", v) for v in drift.variants]),
            ("Prediction PSI", [drift.metric("PredictionPsi", v) for v in drift.variants]),
            ("PSI per feature", [drift.metric("Psi", v, f) for v in drift.variants for f in drift.features]),
            (
                "Rows analysed and skipped",
                [
                    drift.metric(name, v, statistic="Sum").with_(label=f"{v} {name}")
                    for v in drift.variants
                    for name in ("SampleCount", "SkippedRecords", "SkippedRows")
                ],
            ),
        ]

        def levels(alarm_at: float) -> list[cloudwatch.HorizontalAnnotation]:
            marks = {**PSI_LEVELS, alarm_at: f"alarm ({PSI_LEVELS[alarm_at]})" if alarm_at in PSI_LEVELS else "alarm"}
            return [cloudwatch.HorizontalAnnotation(value=value, label=label) for value, label in sorted(marks.items())]

        section.annotations = {
            "Largest feature PSI": levels(config.feature_psi_threshold),
            "Prediction PSI": levels(config.prediction_psi_threshold),
            "PSI per feature": levels(config.feature_psi_threshold),
        }
        for variant in drift.variants:
            section.alarms += [
                self._alarm(
                    f"DriftFeatures{variant_id(variant)}",
                    f"Drift, variant {variant}: an input feature's PSI against its training distribution reached "
                    f"{config.feature_psi_threshold} (see the drift report in the curated zone)",
                    drift.metric("MaxFeaturePsi", variant),
                    config.feature_psi_threshold,
                ),
                self._alarm(
                    f"DriftPredictions{variant_id(variant)}",
                    f"Drift, variant {variant}: the predictions' PSI against the training labels reached "
                    f"{config.prediction_psi_threshold}",
                    drift.metric("PredictionPsi", variant),
                    config.prediction_psi_threshold,
                ),
            ]
        return section

    def _api(self, api: ApiStack) -> Section:
        stage = {"ApiName": api.api.rest_api_name, "Stage": STAGE_NAME}
        errors_5xx = metric("AWS/ApiGateway", "5XXError", stage)
        latency = metric("AWS/ApiGateway", "Latency", stage, "p99")
        return Section(
            "API Gateway",
            graphs=[
                ("Requests", [metric("AWS/ApiGateway", "Count", stage)]),
                ("4XX / 5XX", [metric("AWS/ApiGateway", "4XXError", stage), errors_5xx]),
                ("Latency p99 (ms)", [latency]),
            ],
            alarms=[
                self._alarm("Api5xx", "API: server errors returned to callers", errors_5xx, self.config.api_5xx_errors),
                self._alarm("ApiLatency", "API: p99 latency above the limit", latency, self.config.api_latency_p99_ms),
            ],
        )
