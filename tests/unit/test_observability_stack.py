"""Observability stack: the alarm topic."""

from __future__ import annotations

from tests.synth import SynthesizedStage


def test_alarm_topic_is_kms_encrypted_and_tls_only(sandbox: SynthesizedStage) -> None:
    (topic,) = sandbox.resources("Observability", "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("AlarmKey")
    (policy,) = sandbox.resources("Observability", "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_alarm_key_lets_cloudwatch_publish(sandbox: SynthesizedStage) -> None:
    (key,) = [k for i, k in sandbox.resources("Observability", "AWS::KMS::Key").items() if i.startswith("AlarmKey")]
    assert any("cloudwatch.amazonaws.com" in str(s["Principal"]) for s in key["Properties"]["KeyPolicy"]["Statement"])


def test_email_subscriptions_from_config(sandbox_options: SynthesizedStage) -> None:
    stage = sandbox_options
    (subscription,) = stage.resources("Observability", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


def test_trail_validates_files_encrypts_and_logs(every_stage: SynthesizedStage) -> None:
    (trail,) = every_stage.resources("Observability", "AWS::CloudTrail::Trail").values()
    props = trail["Properties"]
    assert props["EnableLogFileValidation"] is True and props["IsMultiRegionTrail"] is True
    assert props["IncludeGlobalServiceEvents"] is True and props["KMSKeyId"]
    assert props["CloudWatchLogsLogGroupArn"] and props["CloudWatchLogsRoleArn"]
    management = [s for s in props["EventSelectors"] if s.get("IncludeManagementEvents")]
    assert management and management[0]["ReadWriteType"] == "All"
    (data,) = [d for s in props["EventSelectors"] for d in s.get("DataResources", [])]
    assert data["Type"] == "AWS::S3::Object" and len(data["Values"]) == 4  # two zones, two persona results
    groups = every_stage.resources("Observability", "AWS::Logs::LogGroup").values()
    assert all(
        g["Properties"]["RetentionInDays"] == every_stage.config.observability.trail_log_retention_days for g in groups
    )


def test_trail_bucket_is_locked_down(sandbox: SynthesizedStage) -> None:
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in sandbox.resources("Observability", "AWS::S3::BucketPolicy").values()
    ]
    trail_policy = next(p for p in policies if any("cloudtrail.amazonaws.com" in str(s.get("Principal")) for s in p))
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in trail_policy
    )
    writers = {str(s["Principal"]) for s in trail_policy if s["Effect"] == "Allow" and "s3:PutObject" in s["Action"]}
    assert writers == {str({"Service": "cloudtrail.amazonaws.com"})}
    for bucket in sandbox.resources("Observability", "AWS::S3::Bucket").values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
