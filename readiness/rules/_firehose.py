"""What the Firehose rules share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.model import Resource, Stack

DELIVERY_STREAM = "AWS::KinesisFirehose::DeliveryStream"


def s3_destinations(stack: Stack) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for stream in stack.of_type(DELIVERY_STREAM):
        destination = stream.prop("ExtendedS3DestinationConfiguration")
        if isinstance(destination, dict):
            yield stream, destination


def role_arns(value: Any) -> Iterator[Any]:
    """Every RoleARN anywhere in a delivery stream's properties."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "RoleARN":
                yield item
            else:
                yield from role_arns(item)
    elif isinstance(value, list):
        for item in value:
            yield from role_arns(item)
