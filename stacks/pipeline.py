"""Wires the stacks of one stage together; the single place that knows the topology.

`app.py` builds the validated config and calls :func:`build_pipeline`; tests call it too,
so what they check is exactly what `cdk synth` deploys.
"""

from __future__ import annotations

import aws_cdk as cdk

from stacks.api_stack import ApiStack
from stacks.compliance import skip_cdk_provider
from stacks.config import StageConfig
from stacks.data_lake_stack import DataLakeStack
from stacks.etl_stack import EtlStack
from stacks.inference_stack import InferenceStack
from stacks.ingestion_stack import IngestionStack
from stacks.monitoring_stack import MonitoringStack
from stacks.names import endpoint_name, stack_name, trail_name
from stacks.network_stack import NetworkStack
from stacks.observability_stack import ObservabilityStack
from stacks.training_stack import TrainingStack


def build_pipeline(app: cdk.App, config: StageConfig) -> dict[str, cdk.Stack]:
    """Create every stack of the stage and return them by deployment unit."""
    env = cdk.Environment(account=config.account, region=config.region)
    common = {"env": env, "termination_protection": config.termination_protection}

    network = NetworkStack(
        app,
        stack_name(config.name, "Network"),
        config=config.network,
        key_admins=config.keys.admin_principals,
        description="ML pipeline: private VPC, endpoints and flow logs",
        **common,
    )
    data_lake = DataLakeStack(
        app,
        stack_name(config.name, "DataLake"),
        config=config.data_lake,
        lake_formation=config.lake_formation,
        personas=config.personas,
        key_admins=config.keys.admin_principals,
        stage_name=config.name,
        description="ML pipeline: S3 zones, Glue catalog and Lake Formation",
        **common,
    )
    ingestion = IngestionStack(
        app,
        stack_name(config.name, "Ingestion"),
        config=config.ingestion,
        vpc=network.vpc,
        subnets=network.subnets,
        raw=data_lake.zones["raw"],
        key_admins=config.keys.admin_principals,
        removal_policy=data_lake.removal_policy,
        description="ML pipeline: Kinesis stream, Firehose with transform Lambda, into the raw zone",
        **common,
    )
    observability = ObservabilityStack(
        app,
        stack_name(config.name, "Observability"),
        config=config.observability,
        trail_name=trail_name(config.name),
        data_buckets=[
            *(zone.bucket for zone in data_lake.zones.values()),
            *(persona.results.bucket for persona in data_lake.personas.values()),
        ],
        key_admins=config.keys.admin_principals,
        object_lock_mode=config.trail_object_lock_mode,
        removal_policy=data_lake.removal_policy,
        description="ML pipeline: alarm topic and audit trail",
        **common,
    )
    etl = EtlStack(
        app,
        stack_name(config.name, "Etl"),
        config=config.etl,
        raw=data_lake.zones["raw"],
        curated=data_lake.zones["curated"],
        catalog_key=data_lake.catalog_key,
        key_admins=config.keys.admin_principals,
        alarm_topic=observability.alarm_topic,
        description="ML pipeline: Glue feature preparation job, crawler and workflow",
        **common,
    )
    training = TrainingStack(
        app,
        stack_name(config.name, "Training"),
        config=config.training,
        stage_name=config.name,
        vpc=network.vpc,
        subnets=network.subnets,
        s3_prefix_list_id=network.s3_prefix_list_id,
        curated=data_lake.zones["curated"],
        etl_job_name=etl.job.ref,
        image_uri=InferenceStack.image_uri_of(config.inference, config.region),
        endpoint_instance_types=[v.instance_type for v in config.inference.variants],
        alarm_topic=observability.alarm_topic,
        alarm_key=observability.key,
        key_admins=config.keys.admin_principals,
        storage=config.data_lake,
        removal_policy=data_lake.removal_policy,
        description="ML pipeline: tuning, evaluation gate and model registry as a Step Functions state machine",
        **common,
    )
    inference = InferenceStack(
        app,
        stack_name(config.name, "Inference"),
        config=config.inference,
        endpoint_name=endpoint_name(config.name),
        vpc=network.vpc,
        subnets=network.subnets,
        s3_prefix_list_id=network.s3_prefix_list_id,
        capture=data_lake.zones["capture"],
        artifacts=training.artifacts,
        key_admins=config.keys.admin_principals,
        alarm_topic=observability.alarm_topic,
        description="ML pipeline: SageMaker real-time endpoint with autoscaling and data capture",
        **common,
    )
    api = ApiStack(
        app,
        stack_name(config.name, "Api"),
        config=config.api,
        vpc=network.vpc,
        subnets=network.subnets,
        endpoint_name=inference.endpoint_name,
        endpoint_arn=inference.endpoint_arn,
        key_admins=config.keys.admin_principals,
        description="ML pipeline: inference REST API with WAF",
        **common,
    )
    # The API names the endpoint by its stage-derived name; it is deployed after the endpoint.
    api.add_dependency(inference, "calls the endpoint")
    monitoring = MonitoringStack(
        app,
        stack_name(config.name, "Monitoring"),
        config=config.observability,
        monitoring=config.monitoring,
        alarm_topic=observability.alarm_topic,
        ingestion=ingestion,
        etl=etl,
        training=training,
        inference=inference,
        api=api,
        vpc=network.vpc,
        subnets=network.subnets,
        s3_prefix_list_id=network.s3_prefix_list_id,
        capture=data_lake.zones["capture"],
        curated=data_lake.zones["curated"],
        key_admins=config.keys.admin_principals,
        description="ML pipeline: dashboard, stage alarms and the drift monitor",
        **common,
    )
    stacks: dict[str, cdk.Stack] = {
        "Network": network,
        "DataLake": data_lake,
        "Ingestion": ingestion,
        "Observability": observability,
        "Etl": etl,
        "Training": training,
        "Inference": inference,
        "Api": api,
        "Monitoring": monitoring,
    }
    for stack in stacks.values():
        # Any stack with a bucket that empties itself on delete (sandbox stages) has this provider.
        skip_cdk_provider(
            stack, "Custom::S3AutoDeleteObjectsCustomResourceProvider", "empties sandbox buckets on delete"
        )
        cdk.Tags.of(stack).add("project", "ml-pipeline")
        cdk.Tags.of(stack).add("stage", config.name)
    return stacks
