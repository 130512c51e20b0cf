"""Inference API handler: validate, encode exactly as training did, invoke the endpoint.

`POST /v1/predict` with `{"instances": [...]}` of raw business features. The handler
validates the request against the contract (naming every invalid field), encodes each
instance with the same imputation, encoding and scaling the ETL fitted
(`feature_statistics.json`, bundled with this function), sends CSV rows to the
SageMaker endpoint and returns the predictions, the variant that answered and the
request id. Errors map to 4xx for the caller's mistakes, 502 for model errors, 503
with Retry-After when SageMaker throttles or is unavailable, 500 otherwise, always as
JSON and never with internals.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

import contracts
from contracts.features import FeatureEncoder, load_statistics
from contracts.request_schema import RequestValidator

HERE = Path(__file__).resolve().parent
CONTRACT = contracts.load()
STATISTICS = load_statistics(
    (HERE / os.environ.get("STATISTICS_FILE", "feature_statistics.json")).read_text(encoding="utf-8")
)
ENDPOINT_NAME = os.environ.get("ENDPOINT_NAME", "")
MAX_BATCH_SIZE = int(os.environ.get("MAX_BATCH_SIZE", "100"))
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", "262144"))
RETRY_AFTER_SECONDS = "2"
ENCODER = FeatureEncoder(STATISTICS)
VALIDATOR = RequestValidator(CONTRACT, max_batch_size=MAX_BATCH_SIZE)

# Bounded well under API Gateway's 29 s: 2 attempts x (2 s connect + 8 s read).
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=8, retries={"mode": "adaptive", "max_attempts": 2})
UNAVAILABLE_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "ServiceUnavailableException", "InternalDependencyException"}
)

_client: Any = None


class ApiError(Exception):
    """An error response: status, message and optional details for the caller."""

    def __init__(
        self, status: int, message: str, *, details: list[dict[str, str]] | None = None, retry_after: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.retry_after = retry_after


def runtime_client() -> Any:
    """The SageMaker runtime client, created once per container on first use."""
    global _client
    if _client is None:
        _client = boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)
    return _client


def read_body(event: dict[str, Any]) -> Any:
    """The parsed JSON body, or an ApiError for a missing, oversized or malformed one."""
    body = event.get("body")
    if body is None:
        raise ApiError(400, "request body is required")
    if not isinstance(body, str):
        raise ApiError(400, "request body must be text")
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError) as error:
        raise ApiError(400, "request body is not valid base64 or UTF-8") from error
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, "request body is not valid JSON") from error


def to_csv(instances: list[dict[str, Any]]) -> str:
    """One CSV row per instance, features in training order, no header, no label."""
    encode = ENCODER.encode
    return "\n".join(",".join(map(repr, encode(instance))) for instance in instances)


def parse_predictions(body: bytes, expected: int) -> list[float]:
    """The XGBoost container answers CSV (comma or newline separated) or a JSON list."""
    text = body.decode("utf-8").strip()
    if text.startswith("["):
        values = json.loads(text)
    else:
        values = [part for part in text.replace("\n", ",").split(",") if part.strip()]
    predictions = [float(value) for value in values]
    if len(predictions) != expected:
        raise ValueError(f"endpoint returned {len(predictions)} predictions for {expected} instances")
    return predictions


def invoke(csv_rows: str, expected: int) -> tuple[list[float], str]:
    """Call the endpoint; map SageMaker failures to API errors."""
    try:
        response = runtime_client().invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="text/csv", Accept="text/csv", Body=csv_rows.encode("utf-8")
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "ModelError":
            raise ApiError(502, "the model could not score the request") from error
        if code in UNAVAILABLE_CODES or status in (429, 503):
            raise ApiError(503, "the model is busy; retry later", retry_after=True) from error
        raise
    except (ConnectionError, ReadTimeoutError) as error:
        raise ApiError(503, "the model did not answer in time; retry later", retry_after=True) from error
    return parse_predictions(response["Body"].read(), expected), response.get("InvokedProductionVariant", "")


def respond(status: int, payload: dict[str, Any], *, retry_after: bool = False) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if retry_after:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return {"statusCode": status, "headers": headers, "body": json.dumps(payload)}


def log(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields, default=str) + "\n")


def predict(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    body = read_body(event)
    errors = VALIDATOR.errors(body)
    if errors:
        raise ApiError(400, "request does not match the contract", details=errors)
    instances = body["instances"]
    predictions, variant = invoke(to_csv(instances), len(instances))
    return {"predictions": predictions, "variant": variant, "request_id": request_id}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", "") or "unknown"
    started = time.perf_counter()
    try:
        payload = predict(event if isinstance(event, dict) else {}, request_id)
        response = respond(200, payload)
        log(
            level="INFO",
            event="prediction",
            request_id=request_id,
            status=200,
            instances=len(payload["predictions"]),
            variant=payload["variant"],
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response
    except ApiError as error:
        payload = {"error": error.message, "request_id": request_id}
        if error.details:
            payload["details"] = error.details
        log(
            level="WARN",
            event="rejected",
            request_id=request_id,
            status=error.status,
            error=error.message,
            fields=[d["field"] for d in error.details or []][:50],
        )
        return respond(error.status, payload, retry_after=error.retry_after)
    except Exception as error:  # callers must never see internals or a stack trace
        log(level="ERROR", event="failed", request_id=request_id, status=500, error_type=type(error).__name__)
        return respond(500, {"error": "internal error", "request_id": request_id})
