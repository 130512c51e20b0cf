"""Glue, CloudWatch Logs, S3 access-log and alarm-topic rules: violating and compliant templates."""

from __future__ import annotations

from typing import Any

from readiness.rules import (
    glue_associate_kms_key,
    glue_role_key_access,
    glue_security_configuration,
    logs_key_policy,
    s3_access_log_target_encryption,
    sns_alarm_topic_key,
)
from tests.readiness.helpers import allow, arn, compliant, key, policy, problems, ref, res, role, template

LOGS_CONDITION = {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}}


def logs_statement(condition: bool = True, service: str = "logs.us-east-1.amazonaws.com") -> dict[str, Any]:
    statement = allow("kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*", Principal={"Service": service})
    return {**statement, "Condition": LOGS_CONDITION} if condition else statement


def security_configuration(**encryption: Any) -> dict[str, Any]:
    full = {
        "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": arn("Key")},
        "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": arn("Key")},
        "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": arn("Key")}],
    }
    return res("AWS::Glue::SecurityConfiguration", Name="etl", EncryptionConfiguration={**full, **encryption})


def glue_stack(*statements: dict[str, Any]) -> dict[str, Any]:
    return template(
        Key=key(logs_statement()),
        SecurityConfiguration=security_configuration(),
        CrawlerRole=role(),
        CrawlerPolicy=policy("CrawlerRole", *statements),
        Crawler=res(
            "AWS::Glue::Crawler", Role=arn("CrawlerRole"), CrawlerSecurityConfiguration=ref("SecurityConfiguration")
        ),
    )


def test_gl1_security_configuration_encrypts_logs_bookmarks_and_s3() -> None:
    bad = template(
        Key=key(),
        SecurityConfiguration=security_configuration(
            CloudWatchEncryption={"CloudWatchEncryptionMode": "DISABLED"},
            JobBookmarksEncryption={"JobBookmarksEncryptionMode": "DISABLED"},
            S3Encryptions=[{"S3EncryptionMode": "DISABLED"}],
        ),
    )
    (found,) = problems(glue_security_configuration.RULE, bad)
    assert "CloudWatch logs" in found and "job bookmarks" in found and "S3 output" in found
    assert compliant(glue_security_configuration.RULE, glue_stack()) == ["SecurityConfiguration"]


def test_gl2_crawler_role_may_associate_the_log_key() -> None:
    assert problems(glue_associate_kms_key.RULE, glue_stack(allow("glue:*"))) == [
        "Crawler: role Stack0/CrawlerRole lacks logs:AssociateKmsKey"
    ]
    assert compliant(glue_associate_kms_key.RULE, glue_stack(allow("logs:AssociateKmsKey"))) == ["Crawler"]


def test_gl3_crawler_role_may_use_the_configuration_keys() -> None:
    (found,) = problems(glue_role_key_access.RULE, glue_stack(allow("logs:AssociateKmsKey")))
    assert "kms:Decrypt" in found
    good = glue_stack(allow("kms:Decrypt", "kms:GenerateDataKey", resource=arn("Key")))
    assert compliant(glue_role_key_access.RULE, good) == ["Crawler"]


def test_log1_log_group_key_trusts_the_regional_logs_service_with_context() -> None:
    def stack(*statements: dict[str, Any]) -> dict[str, Any]:
        return template(Key=key(*statements), Logs=res("AWS::Logs::LogGroup", KmsKeyId=arn("Key")))

    (found,) = problems(logs_key_policy.RULE, stack())
    assert "not allowed to logs.us-east-1.amazonaws.com" in found
    (found,) = problems(logs_key_policy.RULE, stack(logs_statement(condition=False)))
    assert "no kms:EncryptionContext:aws:logs:arn condition" in found
    assert compliant(logs_key_policy.RULE, stack(logs_statement())) == ["Key"]
    regional = logs_statement(service="logs.${AWS::Region}.amazonaws.com")
    regional["Principal"] = {"Service": {"Fn::Join": ["", ["logs.", ref("AWS::Region"), ".amazonaws.com"]]}}
    assert compliant(logs_key_policy.RULE, stack(regional)) == ["Key"]


def bucket(algorithm: str | None = None, key_ref: Any = None, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = dict(extra)
    if algorithm:
        default: dict[str, Any] = {"SSEAlgorithm": algorithm}
        if key_ref is not None:
            default["KMSMasterKeyID"] = key_ref
        props["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": default}]}
    return res("AWS::S3::Bucket", **props)


def test_s3l1_access_log_target_uses_sse_s3_or_a_key_trusting_logging() -> None:
    source = bucket(LoggingConfiguration={"DestinationBucketName": ref("Logs"), "LogFilePrefix": "data/"})
    bad = template(Key=key(), Logs=bucket("aws:kms", arn("Key")), Data=source)
    (found,) = problems(s3_access_log_target_encryption.RULE, bad)
    assert "logging.s3.amazonaws.com" in found
    assert problems(s3_access_log_target_encryption.RULE, template(Logs=bucket("aws:kms"), Data=source))
    assert compliant(s3_access_log_target_encryption.RULE, template(Logs=bucket("AES256"), Data=source)) == ["Logs"]
    trusting = key(allow("kms:GenerateDataKey", Principal={"Service": "logging.s3.amazonaws.com"}))
    good = template(Key=trusting, Logs=bucket("aws:kms", arn("Key")), Data=source)
    assert compliant(s3_access_log_target_encryption.RULE, good) == ["Logs"]


def test_sns1_alarm_topic_key_lets_cloudwatch_use_it() -> None:
    alarm = res("AWS::CloudWatch::Alarm", AlarmActions=[ref("Topic")])
    topic = res("AWS::SNS::Topic", KmsMasterKeyId=arn("Key"))
    bad = template(Key=key(), Topic=topic, Alarm=alarm)
    (found,) = problems(sns_alarm_topic_key.RULE, bad)
    assert "cloudwatch.amazonaws.com" in found
    assert problems(
        sns_alarm_topic_key.RULE, template(Topic=res("AWS::SNS::Topic", KmsMasterKeyId="alias/aws/sns"), Alarm=alarm)
    )
    trusting = key(allow("kms:Decrypt", "kms:GenerateDataKey*", Principal={"Service": "cloudwatch.amazonaws.com"}))
    assert compliant(sns_alarm_topic_key.RULE, template(Key=trusting, Topic=topic, Alarm=alarm)) == ["Topic"]


def test_sns1_follows_alarm_actions_across_stacks() -> None:
    exporter = template(Key=key(), Topic=res("AWS::SNS::Topic", KmsMasterKeyId=arn("Key")))
    exporter["Outputs"] = {"TopicArn": {"Value": ref("Topic"), "Export": {"Name": "alarm-topic"}}}
    importer = template(Alarm=res("AWS::CloudWatch::Alarm", AlarmActions=[{"Fn::ImportValue": "alarm-topic"}]))
    assert problems(sns_alarm_topic_key.RULE, exporter, importer)
