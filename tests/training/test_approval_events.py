"""The approval rule's synthesized pattern against real-shaped model package state changes.

moto's EventBridge evaluates the pattern: the rule is created with the template's pattern
and an SQS target, SageMaker-shaped events are put on the default bus, and the queue holds
exactly those the rule matched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks.names import model_package_group_name as group_name
from stacks.training_stack import MODEL_PACKAGE_STATE_CHANGE
from tests.synth import SynthesizedStage

REGION = "us-east-1"


def state_change(group: str, status: str, version: int = 3) -> dict[str, Any]:
    """A 'SageMaker Model Package State Change' event as SageMaker sends it (documented example shape)."""
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{group}/{version}"
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": MODEL_PACKAGE_STATE_CHANGE,
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-11-27T17:00:14Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "CreationTime": 1795800011880,
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": f"s3://artifacts/models/{'a' * 32}-001-1a2b3c4d/output/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": False,
            "ModelApprovalStatus": status,
            "CustomerMetadataProperties": {"validation_rmse": "41234.5"},
        },
    }


@pytest.fixture
def approval_rule(sandbox: SynthesizedStage) -> Iterator[Any]:
    """The rule in moto with an SQS target; yields a function putting events and returning what matched."""
    (rule,) = [
        r["Properties"]
        for k, r in sandbox.resources("Training", "AWS::Events::Rule").items()
        if k.startswith("PackageApproved")
    ]
    with mock_aws():
        events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="approved", EventPattern=json.dumps(rule["EventPattern"]))
        events.put_targets(Rule="approved", Targets=[{"Id": "queue", "Arn": queue_arn}])

        def matched(*sent: dict[str, Any]) -> list[dict[str, Any]]:
            events.put_events(
                Entries=[
                    {
                        "Source": e["source"],
                        "DetailType": e["detail-type"],
                        "Detail": json.dumps(e["detail"]),
                        "Resources": e["resources"],
                    }
                    for e in sent
                ]
            )
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"])["detail"] for m in messages]

        yield matched


def test_only_approved_packages_of_this_group_match(approval_rule: Any) -> None:
    group = group_name("sandbox")
    approved = state_change(group, "Approved")
    delivered = approval_rule(
        state_change(group, "PendingManualApproval", version=4),
        state_change(group, "Rejected", version=5),
        state_change("another-group", "Approved"),
        approved,
    )
    assert delivered == [approved["detail"]]


def test_registration_pending_approval_does_not_notify(approval_rule: Any) -> None:
    assert approval_rule(state_change(group_name("sandbox"), "PendingManualApproval")) == []
