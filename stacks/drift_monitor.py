"""The drift monitor: a scheduled function that compares captured inference traffic with the
training baseline of the model each variant serves.

SageMaker Model Monitor takes no new customers, so the comparison runs in this project's
own function (``lambda/drift``, plain Python: PSI and KS in ``contracts.drift``) on an
EventBridge schedule. It reads the endpoint's data capture, writes a drift report per
variant and window to the curated zone (aggregates only: no captured values) and
publishes its metrics in the CloudWatch embedded metric format, so the function in the
isolated subnets needs the S3 gateway endpoint and the logs endpoint it already has, no
monitoring endpoint (about 7 USD a month per AZ) and no PutMetricData calls.

Which baseline a variant is compared with: the bundled model's ``model/drift_baseline.json``
(fitted by ``tools/build_model`` with the model, shipped in the function's asset) unless the
variant serves ``model_data_url``, whose training run's baseline the stage names in
``baseline_url`` (read from S3 at cold start). A registered model package carries the same
URI in its model metrics, for the promotion that pins it to a variant.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from contracts.drift import BASELINE_FILE, METRIC_NAMESPACE, monitored_features
from contracts.features import load_statistics
from stacks.access import Zone, allow_key_via_s3, allow_zone
from stacks.bundling import ROOT
from stacks.common import allow_event_rules, allow_logs_service, dead_letter_queue
from stacks.config import MonitoringConfig, VariantConfig
from stacks.inference_stack import CAPTURE_PREFIX, FEATURE_STATISTICS
from stacks.keys import customer_key
from stacks.python_function import PythonFunction

BUNDLED_BASELINE = ROOT / "model" / BASELINE_FILE
REPORTS_PREFIX = "drift-reports/"


def feature_names() -> list[str]:
    """The features the drift function reports on (the layout every model of the contract shares)."""
    return [f.name for f in monitored_features(load_statistics(FEATURE_STATISTICS.read_text(encoding="utf-8")))]


def s3_object_arn(scope: Construct, url: str) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return f"arn:{cdk.Stack.of(scope).partition}:s3:::{bucket}/{key}"


class DriftMonitor(Construct):
    """The drift function, its key, its schedule and where failed runs go.

    Exposes `function` (the :class:`PythonFunction`), `variants` (the monitored names),
    `failed_runs` (the dead-letter queue), `features` and :meth:`metric` for the dashboard
    and alarms the Monitoring stack owns.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MonitoringConfig,
        variants: list[VariantConfig],
        endpoint_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        capture: Zone,
        curated: Zone,
        key_admins: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.endpoint_name = endpoint_name
        self.variants = [v.name for v in variants]
        self.features = feature_names()
        self.key = customer_key(
            self,
            "Key",
            description="Encrypts the drift function's logs, environment and failed runs",
            admins=key_admins,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        allow_logs_service(self.key)
        self.failed_runs = dead_letter_queue(self, "FailedRuns", key=self.key, of_function=True)
        baselines = {v.name: v.baseline_url or BUNDLED_BASELINE.name for v in variants}
        bundled = any(v.baseline_url is None for v in variants)
        self.function = PythonFunction(
            self,
            "Function",
            source="drift",
            handler="drift.handler",
            description="Drift monitor: captured inference traffic against the training baseline of each variant",
            key=self.key,
            vpc=vpc,
            subnets=subnets,
            sizing=config.function,
            environment={
                "CAPTURE_BUCKET": capture.bucket.bucket_name,
                "CAPTURE_PREFIX": CAPTURE_PREFIX,
                "ENDPOINT_NAME": endpoint_name,
                "BASELINES": json.dumps(baselines, separators=(",", ":")),
                "REPORT_BUCKET": curated.bucket.bucket_name,
                "REPORT_PREFIX": REPORTS_PREFIX,
                "WINDOW_HOURS": str(config.window_hours),
                "MIN_SAMPLE_SIZE": str(config.min_sample_size),
                "FEATURE_PSI_THRESHOLD": repr(config.feature_psi_threshold),
                "PREDICTION_PSI_THRESHOLD": repr(config.prediction_psi_threshold),
            },
            extra_files={BUNDLED_BASELINE.name: BUNDLED_BASELINE} if bundled else None,
            dead_letter_queue=self.failed_runs,
            s3_prefix_list_id=s3_prefix_list_id,
        )
        self._permissions(capture, curated, [v.baseline_url for v in variants if v.baseline_url])
        self._schedule()

    def _permissions(self, capture: Zone, curated: Zone, baseline_urls: list[str]) -> None:
        """Read the capture, add reports (never read or replace other objects), read S3 baselines."""
        policy = self.function.policy
        allow_zone(policy, capture, access="read", prefix=CAPTURE_PREFIX)
        allow_zone(policy, curated, access="put", prefix=REPORTS_PREFIX)
        if baseline_urls:
            policy.add_statements(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[s3_object_arn(self, url) for url in sorted(set(baseline_urls))]
                )
            )
            # Training runs write their baselines to the curated zone, encrypted with its key.
            allow_key_via_s3(policy, curated.key, curated.bucket, access="read")

    def _schedule(self) -> None:
        """Invoke the function on the configured schedule; events it cannot deliver go to the queue."""
        allow_event_rules(self.key)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Runs the drift monitor over the last captured window",
            schedule=events.Schedule.expression(self.config.schedule),
            targets=[
                targets.LambdaFunction(self.function.function, dead_letter_queue=self.failed_runs, retry_attempts=2)
            ],
        )

    def metric(
        self, name: str, variant: str, feature: str | None = None, statistic: str = "Maximum"
    ) -> cloudwatch.Metric:
        """One of the function's metrics for a variant (and feature), over one window."""
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": variant}
        if feature is not None:
            dimensions["Feature"] = feature
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map=dimensions,
            statistic=statistic,
            period=cdk.Duration.hours(self.config.window_hours),
            label=f"{variant} {feature}" if feature else variant,
        )
