"""Observability stack: the alarm topic."""

from __future__ import annotations

from tests.synth import CONTEXT, SynthesizedStage, synthesize


def test_alarm_topic_is_kms_encrypted_and_tls_only(sandbox: SynthesizedStage) -> None:
    (topic,) = sandbox.resources("Observability", "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("AlarmKey")
    (policy,) = sandbox.resources("Observability", "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_alarm_key_lets_cloudwatch_publish(sandbox: SynthesizedStage) -> None:
    (key,) = sandbox.resources("Observability", "AWS::KMS::Key").values()
    assert any("cloudwatch.amazonaws.com" in str(s["Principal"]) for s in key["Properties"]["KeyPolicy"]["Statement"])


def test_email_subscriptions_from_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stages = {**CONTEXT["stages"]}
    stages["sandbox"] = {**stages["sandbox"], "observability": {"alarm_emails": ["oncall@example.com"]}}
    stage = synthesize("sandbox", tmp_path, context_overrides={"stages": stages})
    (subscription,) = stage.resources("Observability", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
