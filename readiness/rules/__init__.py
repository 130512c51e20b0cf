"""The deploy-readiness rules, one per module, in report order."""

from __future__ import annotations

from readiness.core import Rule
from readiness.rules import (
    firehose_dynamic_partitioning,
    firehose_format_conversion,
    firehose_role_policy_dependency,
    firehose_stream_source_encryption,
    glue_associate_kms_key,
    glue_role_key_access,
    glue_security_configuration,
    lf_data_access_permission,
    lf_depends_on_settings,
    lf_exec_role_admin,
    lf_grant_dependencies,
    lf_location_role,
    lf_no_iam_allowed_principals,
    lf_settings_append,
    lf_table_default_permissions,
    logs_key_policy,
    s3_access_log_target_encryption,
    sagemaker_burstable_autoscaling,
    sagemaker_capacity_bounds,
    sagemaker_endpoint_config_name,
    sagemaker_nvme_volume_key,
    sagemaker_retain_variant_properties,
    sagemaker_scalable_target_endpoint,
    sagemaker_volume_key_policy,
    sns_alarm_topic_key,
)

RULES: tuple[Rule, ...] = tuple(
    module.RULE
    for module in (
        lf_settings_append,
        lf_exec_role_admin,
        lf_depends_on_settings,
        lf_grant_dependencies,
        lf_data_access_permission,
        lf_location_role,
        lf_table_default_permissions,
        lf_no_iam_allowed_principals,
        firehose_dynamic_partitioning,
        firehose_format_conversion,
        firehose_stream_source_encryption,
        firehose_role_policy_dependency,
        sagemaker_endpoint_config_name,
        sagemaker_retain_variant_properties,
        sagemaker_scalable_target_endpoint,
        sagemaker_burstable_autoscaling,
        sagemaker_nvme_volume_key,
        sagemaker_volume_key_policy,
        sagemaker_capacity_bounds,
        glue_security_configuration,
        glue_associate_kms_key,
        glue_role_key_access,
        logs_key_policy,
        s3_access_log_target_encryption,
        sns_alarm_topic_key,
    )
)
