"""Inference API handler: validate, encode exactly as training did, invoke the endpoint.

`POST /v1/predict` with `{"instances": [...]}` of raw business features (and, optionally,
each listing's `event_id`), as `application/json` (UTF-8). The handler validates the
request against the contract (naming every invalid field), encodes each instance with the
same imputation, encoding and scaling the ETL fitted (`feature_statistics.json`, bundled
with this function), sends CSV rows to the SageMaker endpoint with an inference id that
data capture keeps (a single listing's event id, else the request id) and returns the
predictions, the variant that answered and the request id.

Errors are JSON (never NaN or Infinity, never internals): 415 for another content type,
4xx for the caller's mistakes (including bodies nested too deeply or with non-finite
numbers), 502 when the model answers wrongly (an error, an unparsable or non-finite
answer, the wrong number of predictions) or the endpoint keeps failing, 503 with
Retry-After when it is busy or does not answer within the time budget, 500 for our own
faults. Transient failures, including faults while reading the answer, are retried
within the budget of `contracts/time_budget.py`.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import itertools
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

import contracts
from contracts.features import FeatureEncoder, load_statistics
from contracts.request_schema import JSON_CONTENT_TYPE, MAX_JSON_DEPTH, RequestValidator
from contracts.time_budget import GATEWAY_TIMEOUT_SECONDS, OWN_WORK_SECONDS, PAUSE_SECONDS, Budget, budget

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

# Connect and read timeouts and the number of attempts come from one budget that fits the
# function timeout and API Gateway's 29 seconds (contracts/time_budget.py); botocore does
# not retry on its own, so every attempt, including reading the body, is counted here.
BUDGET = budget(float(os.environ.get("FUNCTION_TIMEOUT_SECONDS", GATEWAY_TIMEOUT_SECONDS)))


def client_config(plan: Budget) -> Config:
    """The runtime client's timeouts from the budget; botocore makes one attempt per call."""
    return Config(
        connect_timeout=plan.connect_timeout,
        read_timeout=plan.read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


CLIENT_CONFIG = client_config(BUDGET)
# SageMaker answers: the endpoint is overloaded or starting (retry, then 503 with Retry-After)...
BUSY_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalDependencyException",
        "ModelNotReadyException",
    }
)
# ... or the model container failed the request (502 at once: retrying gives the same answer).
MODEL_ERROR_CODES = frozenset({"ModelError", "ModelStreamError"})
# Faults while connecting, waiting or reading the streamed body: the endpoint did not answer.
NETWORK_ERRORS = (
    HTTPClientError,  # ReadTimeoutError, ConnectionClosedError, ResponseStreamingError, ...
    BotocoreConnectionError,  # EndpointConnectionError, ConnectTimeoutError, SSLError, ...
    IncompleteReadError,
    urllib3.exceptions.HTTPError,  # ProtocolError, ReadTimeoutError if raised unwrapped
    http.client.HTTPException,  # IncompleteRead
    OSError,  # connection reset, broken pipe
)
JSON_MEDIA_TYPE = re.compile(JSON_CONTENT_TYPE, re.IGNORECASE)
# Made once: responses and logs are strict JSON (NaN and Infinity raise instead), and
# requests and answers are parsed as strict JSON (NaN, Infinity and -Infinity refused).
RESPONSE_JSON = json.JSONEncoder(allow_nan=False)
LOG_JSON = json.JSONEncoder(allow_nan=False, default=str)
BODY_CHUNK_BYTES = 65536
MAX_RESPONSE_BYTES = 1048576  # far above what any batch's predictions take
JSON_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')  # an unterminated string runs to the end
BRACKETS = b"[]{}"
NOT_BRACKETS = bytes(b for b in range(256) if b not in BRACKETS)
NOT_BRACKETS_OR_QUOTES = bytes(b for b in range(256) if b not in BRACKETS + b'"')
NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

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


class UpstreamError(Exception):
    """The endpoint answered, but not with one finite prediction per instance."""


def runtime_client() -> Any:
    """The SageMaker runtime client, created once per container on first use."""
    global _client
    if _client is None:
        _client = boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)
    return _client


def header(event: dict[str, Any], name: str) -> str | None:
    """A request header, whatever the event shape (REST or HTTP API payload, null or multi-value headers)."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not isinstance(headers, dict):
            continue
        for header_name, value in headers.items():
            if isinstance(header_name, str) and header_name.lower() == name:
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, str):
                    return value
    return None


def check_content_type(event: dict[str, Any]) -> None:
    """Only JSON in UTF-8 is accepted (the same rule as the WAF's 415 rule in front of the API)."""
    content_type = header(event, "content-type")
    if content_type is None or not JSON_MEDIA_TYPE.fullmatch(content_type):
        raise ApiError(415, "Content-Type must be application/json (charset utf-8)")


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw`, counted without parsing or recursion:
    strings are dropped, then the running balance of the brackets left is taken."""
    if b"\\" in raw:
        brackets = JSON_STRINGS.sub(b"", raw).translate(None, NOT_BRACKETS)
    else:
        # Without backslashes every quote opens or closes a string. Keep brackets and quotes;
        # strings without brackets are now adjacent quote pairs. If removing those pairs left
        # to right leaves no quote, every pair was an opening and its closing quote (the first
        # wrong pairing would strand an opening quote), so only structural brackets remain.
        structural = raw.translate(None, NOT_BRACKETS_OR_QUOTES)
        brackets = structural.replace(b'""', b"")
        if b'"' in brackets:  # a string holds brackets: drop every other part between quotes
            brackets = b"".join(structural.split(b'"')[::2])
    return max(itertools.accumulate(map(NESTING.__getitem__, brackets), initial=0))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def read_body(event: dict[str, Any]) -> Any:
    """The parsed JSON body, or an ApiError for a missing, oversized, too deep or malformed one."""
    check_content_type(event)
    body = event.get("body")
    if body is None:
        raise ApiError(400, "request body is required")
    if not isinstance(body, str):
        raise ApiError(400, "request body must be text")
    encoded = event.get("isBase64Encoded")
    try:
        if encoded is True or (isinstance(encoded, str) and encoded.lower() == "true"):
            raw = base64.b64decode(body, validate=True)
            text = raw.decode("utf-8")
        else:
            raw, text = body.encode("utf-8"), body
    except (binascii.Error, ValueError, UnicodeError) as error:
        raise ApiError(400, "request body is not valid base64 or UTF-8") from error
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, f"request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        # NaN and Infinity are refused here; numbers too large for a float (1e999) become
        # infinite and are refused by the contract's finite check.
        return STRICT_JSON.decode(text)
    except ValueError as error:
        raise ApiError(400, "request body is not valid JSON (NaN and Infinity are not JSON)") from error


def to_csv(instances: list[dict[str, Any]]) -> str:
    """One CSV row per instance, features in training order, no header, no label."""
    encode = ENCODER.encode
    return "\n".join(",".join(map(repr, encode(instance))) for instance in instances)


def parse_predictions(body: bytes, expected: int) -> list[float]:
    """One finite number per instance, from the XGBoost container's CSV (comma or newline separated)
    or JSON list; UpstreamError for anything else."""
    try:
        text = body.decode("utf-8").strip()
        if text.startswith("["):
            if json_depth(body) > 1:
                raise ValueError("the JSON answer nests lists")
            values = STRICT_JSON.decode(text)
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
                raise ValueError("the JSON answer is not a flat list of numbers")
        else:
            values = [part for part in text.replace("\n", ",").split(",") if part.strip()]
        predictions = [float(value) for value in values]
    except (UnicodeDecodeError, ValueError, TypeError) as error:
        raise UpstreamError(f"unparsable answer: {type(error).__name__}") from error
    if not all(map(math.isfinite, predictions)):
        raise UpstreamError("non-finite prediction")
    if len(predictions) != expected:
        raise UpstreamError(f"{len(predictions)} predictions for {expected} instances")
    return predictions


def read_answer(stream: Any, deadline: float) -> bytes:
    """The streamed body, read in chunks, none started unless its read timeout ends before the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() + BUDGET.read_timeout > deadline:
            raise TimeoutError("no time left to read the answer")
        chunk = stream.read(BODY_CHUNK_BYTES)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UpstreamError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)


def inference_id(instances: list[dict[str, Any]], request_id: str) -> str:
    """The id data capture keeps with the request: the listing's event id when the request
    scores one listing that names it (joinable with the listing's later sale price), else
    the API request id."""
    if len(instances) == 1 and isinstance(instances[0].get("event_id"), str):
        return str(instances[0]["event_id"])
    return request_id


def invoke(csv_rows: str, expected: int, deadline: float, inference: str) -> tuple[list[float], str]:
    """Call the endpoint within the budget, retrying what may pass on a second try.

    An attempt (or a pause before one) starts only if its worst case ends before `deadline`.
    The model answering wrongly is a 502 at once; a busy, failing or silent endpoint is
    retried and, when the budget is spent, a 503 with Retry-After (busy, silent) or a 502.
    """
    body = csv_rows.encode("utf-8")
    failure = ApiError(503, "the model did not answer in time; retry later", retry_after=True)
    attempt_seconds = BUDGET.connect_timeout + BUDGET.read_timeout
    for attempt in range(BUDGET.attempts):
        if attempt:
            pause = random.uniform(0, PAUSE_SECONDS)
            if time.monotonic() + pause + attempt_seconds > deadline:
                break
            time.sleep(pause)
        elif time.monotonic() + attempt_seconds > deadline:
            break
        try:
            response = runtime_client().invoke_endpoint(
                EndpointName=ENDPOINT_NAME, ContentType="text/csv", Accept="text/csv", Body=body, InferenceId=inference
            )
            answer = read_answer(response["Body"], deadline)
            return parse_predictions(answer, expected), str(response.get("InvokedProductionVariant", ""))
        except UpstreamError as error:
            raise ApiError(502, "the model answered with something other than one number per instance") from error
        except ClientError as error:
            failure = classify(error)
        except (*NETWORK_ERRORS, TimeoutError):
            failure = ApiError(503, "the model did not answer in time; retry later", retry_after=True)
    raise failure


def classify(error: ClientError) -> ApiError:
    """A SageMaker error answer as the API error to give if no retry succeeds; raise our own faults."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in MODEL_ERROR_CODES:
        raise ApiError(502, "the model could not score the request") from error
    if code in BUSY_CODES or status in (429, 503):
        return ApiError(503, "the model is busy; retry later", retry_after=True)
    if status >= 500:
        return ApiError(502, "the model endpoint failed")
    raise error  # our configuration or permissions: a 500


def respond(status: int, payload: dict[str, Any], *, retry_after: bool = False) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if retry_after:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return {"statusCode": status, "headers": headers, "body": RESPONSE_JSON.encode(payload)}


def log(**fields: Any) -> None:
    sys.stdout.write(LOG_JSON.encode(fields) + "\n")


def deadline_of(context: Any, started: float) -> float:
    """When the endpoint call must be over: the budget, or less if the invocation has less time left."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = BUDGET.seconds
    if callable(remaining):
        seconds = min(seconds, remaining() / 1000 - OWN_WORK_SECONDS)
    return started + seconds


def predict(event: dict[str, Any], request_id: str, deadline: float) -> dict[str, Any]:
    body = read_body(event)
    errors = VALIDATOR.errors(body)
    if errors:
        raise ApiError(400, "request does not match the contract", details=errors)
    instances = body["instances"]
    predictions, variant = invoke(to_csv(instances), len(instances), deadline, inference_id(instances, request_id))
    return {"predictions": predictions, "variant": variant, "request_id": request_id}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = str(getattr(context, "aws_request_id", "") or "unknown")
    started = time.perf_counter()
    try:
        deadline = deadline_of(context, time.monotonic())
        payload = predict(event if isinstance(event, dict) else {}, request_id, deadline)
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
