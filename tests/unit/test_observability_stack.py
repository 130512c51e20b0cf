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


def test_alarm_key_and_topic_admit_services_for_this_account_only(every_stage: SynthesizedStage) -> None:
    keys = every_stage.resources("Observability", "AWS::KMS::Key")
    (key,) = [k for i, k in keys.items() if i.startswith("AlarmKey")]
    (policy,) = every_stage.resources("Observability", "AWS::SNS::TopicPolicy").values()
    services = [
        s
        for document in (key["Properties"]["KeyPolicy"], policy["Properties"]["PolicyDocument"])
        for s in document["Statement"]
        if s["Effect"] == "Allow" and "Service" in s["Principal"]
    ]
    admitted = sorted(s["Principal"]["Service"] for s in services)
    expected = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com"]
    assert admitted == sorted([*expected, *expected[:2]])
    for statement in services:
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert "aws:SourceArn" in statement["Condition"]["ArnLike"]


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
    assert data["Type"] == "AWS::S3::Object" and len(data["Values"]) == 5  # three zones, two persona results
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
    writers = [s for s in trail_policy if s["Effect"] == "Allow" and "s3:PutObject" in s["Action"]]
    assert [w["Principal"] for w in writers] == [{"Service": "cloudtrail.amazonaws.com"}]
    assert "aws:SourceArn" in writers[0]["Condition"]["StringEquals"]
    for bucket in sandbox.resources("Observability", "AWS::S3::Bucket").values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_only_this_trail_may_use_the_bucket_key_and_log_role(every_stage: SynthesizedStage) -> None:
    (trail,) = every_stage.resources("Observability", "AWS::CloudTrail::Trail").values()
    name = trail["Properties"]["TrailName"]
    assert name == f"MlPipeline-{every_stage.config.name}-audit"
    grants = []
    for kind in ("AWS::S3::BucketPolicy", "AWS::KMS::Key", "AWS::IAM::Role"):
        for resource in every_stage.resources("Observability", kind).values():
            props = resource["Properties"]
            document = props.get("PolicyDocument") or props.get("KeyPolicy") or props["AssumeRolePolicyDocument"]
            grants += [s for s in document["Statement"] if "cloudtrail.amazonaws.com" in str(s.get("Principal"))]
    assert len(grants) == 5  # ACL check, write, two key statements, the log role's trust
    for statement in grants:
        assert str(statement["Condition"]["StringEquals"]["aws:SourceArn"]).endswith(f":trail/{name}']]}}")
    (key_use,) = [g for g in grants if "kms:GenerateDataKey*" in g["Action"]]
    assert "kms:EncryptionContext:aws:cloudtrail:arn" in key_use["Condition"]["StringEquals"]


def test_trail_bucket_has_object_lock_from_config(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    for stage, mode in ((sandbox, "GOVERNANCE"), (prod, "COMPLIANCE")):
        (bucket,) = [
            b for k, b in stage.resources("Observability", "AWS::S3::Bucket").items() if k.startswith("AuditBucket")
        ]
        assert bucket["Properties"]["ObjectLockEnabled"] is True
        retention = bucket["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        assert retention == {"Mode": mode, "Days": stage.config.observability.trail_object_lock_days}
        # S3 refuses to delete locked versions, so the bucket is retained (and listed by `make destroy`).
        assert bucket["DeletionPolicy"] == "Retain"


def test_trail_records_data_events_of_the_zones_capture_and_the_persona_results(every_stage: SynthesizedStage) -> None:
    (trail,) = every_stage.resources("Observability", "AWS::CloudTrail::Trail").values()
    (data,) = [d for s in trail["Properties"]["EventSelectors"] for d in s.get("DataResources", [])]
    imports = {v["Fn::Join"][1][0]["Fn::ImportValue"].rsplit("-", 1)[-1] for v in data["Values"]}
    assert {"RawZoneArn", "CuratedZoneArn", "CaptureZoneArn", "ResultsArn"} <= imports
