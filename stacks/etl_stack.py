"""ETL stack: the Glue Spark job that turns the raw zone into curated and training data."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from contracts.drift import STATISTICS_PREFIX
from stacks.access import Zone, allow_key, allow_zone, finding_id, import_zone, role_policy
from stacks.bundling import ROOT, with_contract
from stacks.common import allow_event_rules, allow_logs_service, dead_letter_queue
from stacks.compliance import acknowledge
from stacks.config import EtlConfig
from stacks.ingestion_stack import EVENTS_PREFIX
from stacks.keys import customer_key
from stacks.lake_grants import grant_database, grant_location
from stacks.names import security_configuration_name

JOB_SCRIPT = ROOT / "glue" / "job.py"
TRANSFORMS = ROOT / "glue" / "housing_etl"
GLUE_VERSION = "5.0"  # Spark 3.5, Python 3.11: the versions the local tests run

CURATED_PREFIX = "curated/events/"
TRAINING_PREFIX = "training/"
TEMP_PREFIX = "glue-temp/"

GLUE_LOGS_REASON = (
    "Glue names its log groups /aws-glue/jobs/* and /aws-glue/crawlers* per security configuration at run "
    "time; the prefix is the narrowest ARN IAM can express for them"
)
LF_DATA_ACCESS_REASON = (
    "lakeformation:GetDataAccess supports no resource-level permissions (AWS service authorization "
    "reference); the Lake Formation grants of this role decide which data it unlocks"
)


class EtlStack(cdk.Stack):
    """Owns the Glue job, its security configuration, the crawler, the workflow and roles.

    The job reads the raw zone's `events/` prefix with job bookmarks, writes curated
    Parquet (partitioned by event date), training/validation CSV and the fitted feature
    statistics to the curated zone. On success the workflow starts the crawler, which
    catalogues the curated Parquet in the curated database. Failed runs notify the
    alarm topic through an EventBridge rule. Exposes `job`, `crawler`, `workflow`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EtlConfig,
        raw: Zone,
        curated: Zone,
        catalog_key: kms.IKey,
        key_admins: tuple[str, ...],
        alarm_topic: sns.ITopic,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        raw, curated = import_zone(self, raw), import_zone(self, curated)
        assert curated.database is not None
        raw_bucket, curated_bucket, curated_database_name = raw.bucket, curated.bucket, curated.database
        self.key = customer_key(
            self,
            "EtlKey",
            description="Encrypts Glue job logs and job bookmarks",
            admins=key_admins,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        allow_logs_service(self.key)

        self.script = s3_assets.Asset(self, "JobScript", path=str(JOB_SCRIPT))
        self.transforms = s3_assets.Asset(
            self,
            "Transforms",
            path=str(TRANSFORMS),
            bundling=with_contract({TRANSFORMS.name: TRANSFORMS}),
        )
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=security_configuration_name(self.stack_name),
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=curated.key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=self.key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.key.key_arn
                ),
            ),
        )

        self.job_role, job_policy = self._role("Job", "Glue ETL job: raw zone to curated and training data")
        self.job_policy = job_policy
        allow_zone(job_policy, raw, access="read", prefix=EVENTS_PREFIX)
        for prefix in (CURATED_PREFIX, TRAINING_PREFIX, STATISTICS_PREFIX, TEMP_PREFIX):
            allow_zone(job_policy, curated, access="read-write", prefix=prefix)
        job_policy.add_statements(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in (self.script, self.transforms)],
            )
        )

        self.crawler_role, crawler_policy = self._role("Crawler", "Glue crawler: catalogues curated Parquet")
        allow_zone(crawler_policy, curated, access="read", prefix=CURATED_PREFIX)
        # The catalog is encrypted with its own key, so writing tables needs encrypt too.
        allow_key(crawler_policy, catalog_key, encrypt=True, via="glue")
        database_arn = self.format_arn(service="glue", resource="database", resource_name=curated_database_name)
        tables_arn = self.format_arn(service="glue", resource="table", resource_name=f"{curated_database_name}/*")
        crawler_policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchCreatePartition",
                    "glue:BatchGetPartition",
                    "glue:UpdatePartition",
                ],
                resources=[self.format_arn(service="glue", resource="catalog"), database_arn, tables_arn],
            )
        )
        acknowledge(
            crawler_policy,
            f"AwsSolutions-IAM5[Resource::{finding_id(crawler_policy, tables_arn)}]",
            "The crawler creates and updates the tables of the curated database; their names come from "
            "the data, so the database's table prefix is the narrowest scope",
        )
        self._lake_formation_grants(curated_bucket, curated_database_name)

        self.job = self._job(raw_bucket, curated_bucket)
        self.crawler = glue.CfnCrawler(
            self,
            "CuratedCrawler",
            role=self.crawler_role.role_arn,
            database_name=curated_database_name,
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[
                    glue.CfnCrawler.S3TargetProperty(path=f"s3://{curated_bucket.bucket_name}/{CURATED_PREFIX}")
                ]
            ),
            crawler_security_configuration=self.security_configuration.name,
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_EVERYTHING"),
            lake_formation_configuration=glue.CfnCrawler.LakeFormationConfigurationProperty(
                use_lake_formation_credentials=False
            ),
        )
        self.crawler.node.add_dependency(crawler_policy, self.security_configuration)
        self.workflow = self._workflow()
        self._notify_failures(alarm_topic)

    def _role(self, name: str, description: str) -> tuple[iam.Role, iam.ManagedPolicy]:
        """A Glue role with its logs (KMS-associated), the ETL key and Lake Formation access."""
        role = iam.Role(
            self, f"{name}Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"), description=description
        )
        policy = role_policy(self, f"{name}Policy", role, description=description)
        logs_arn = self.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[logs_arn],
            ),
            iam.PolicyStatement(actions=["lakeformation:GetDataAccess", "cloudwatch:PutMetricData"], resources=["*"]),
        )
        allow_key(policy, self.key, encrypt=True)
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{finding_id(policy, logs_arn)}]", GLUE_LOGS_REASON)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            f"{LF_DATA_ACCESS_REASON}; cloudwatch:PutMetricData has no resource-level permissions either",
        )
        return role, policy

    def _lake_formation_grants(self, curated_bucket: s3.IBucket, database_name: str) -> None:
        """The crawler may create tables in the curated database over the curated location
        (as their creator it holds ALL on them); the job writes under the curated location.

        The job reads and writes S3 paths with its own credentials and never the catalog, so
        it gets no database or table grant."""
        grant_database(
            self,
            "CrawlerDatabaseGrant",
            self.crawler_role.role_arn,
            database=database_name,
            permissions=["CREATE_TABLE", "ALTER", "DESCRIBE"],
        )
        for role_name, role in (("Crawler", self.crawler_role), ("Job", self.job_role)):
            grant_location(self, f"{role_name}LocationGrant", role.role_arn, bucket_arn=curated_bucket.bucket_arn)

    def _job(self, raw_bucket: s3.IBucket, curated_bucket: s3.IBucket) -> glue.CfnJob:
        config, curated = self.config, f"s3://{curated_bucket.bucket_name}/"
        job = glue.CfnJob(
            self,
            "PrepareFeatures",
            description="Deduplicate, impute, standardise, encode and scale housing events for training",
            role=self.job_role.role_arn,
            glue_version=GLUE_VERSION,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=self.script.s3_object_url
            ),
            worker_type=config.worker_type,
            number_of_workers=config.number_of_workers,
            timeout=config.timeout_minutes,
            max_retries=config.max_retries,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.name,
            default_arguments={
                "--job-language": "python",
                "--job-bookmark-option": "job-bookmark-enable",
                "--enable-continuous-cloudwatch-log": "true",
                "--enable-metrics": "true",
                "--enable-observability-metrics": "true",
                "--enable-spark-ui": "false",
                "--extra-py-files": self.transforms.s3_object_url,
                "--TempDir": f"{curated}{TEMP_PREFIX}",
                "--raw_path": f"s3://{raw_bucket.bucket_name}/{EVENTS_PREFIX}",
                "--curated_path": f"{curated}{CURATED_PREFIX}",
                "--training_path": f"{curated}{TRAINING_PREFIX}",
                "--statistics_path": f"{curated}{STATISTICS_PREFIX}",
                "--scaling_method": config.scaling_method,
                "--validation_fraction": str(config.validation_fraction),
            },
        )
        job.node.add_dependency(self.job_policy, self.security_configuration)
        return job

    def _workflow(self) -> glue.CfnWorkflow:
        """Scheduled trigger -> job -> on success -> crawler."""
        workflow = glue.CfnWorkflow(
            self, "Workflow", description="Nightly feature preparation, then cataloguing", max_concurrent_runs=1
        )
        glue.CfnTrigger(
            self,
            "ScheduledTrigger",
            type="SCHEDULED",
            schedule=self.config.schedule,
            start_on_creation=True,
            workflow_name=workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.ref)],
        )
        glue.CfnTrigger(
            self,
            "CrawlAfterJobTrigger",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=workflow.ref,
            predicate=glue.CfnTrigger.PredicateProperty(
                logical="AND",
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        job_name=self.job.ref, state="SUCCEEDED", logical_operator="EQUALS"
                    )
                ],
            ),
            actions=[glue.CfnTrigger.ActionProperty(crawler_name=self.crawler.ref)],
        )
        return workflow

    def _notify_failures(self, topic: sns.ITopic) -> None:
        """Failed, timed-out or errored job runs reach the alarm topic (or a dead-letter queue)."""
        allow_event_rules(self.key)
        # By ARN (of this stack's account and region): the topic's own policy admits this
        # account's rules (see ObservabilityStack), so the target adds no statement to it.
        topic = sns.Topic.from_topic_arn(self, "AlarmTopic", self.format_arn(service="sns", resource=topic.topic_name))
        self.undelivered = dead_letter_queue(self, "UndeliveredJobEvents", key=self.key)
        events.Rule(
            self,
            "JobFailedRule",
            description="Glue feature preparation job failed",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [self.job.ref], "state": ["FAILED", "TIMEOUT", "ERROR"]},
            ),
            targets=[targets.SnsTopic(topic, dead_letter_queue=self.undelivered)],
        )
