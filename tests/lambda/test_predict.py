"""Predict handler: every branch, the invoke path against moto, and arbitrary input."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace
from typing import Any

import boto3
import predict
import pytest
import requests
from botocore.exceptions import ClientError, ReadTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.features import encode_record
from tools import synthetic

CONTEXT = SimpleNamespace(aws_request_id="req-123")
FEATURES = [f.name for f in predict.CONTRACT.features]


def instance(seed: int = 1) -> dict[str, Any]:
    event = next(synthetic.events(1, seed=seed))
    return {k: v for k, v in event.items() if k in FEATURES}


def api_event(body: Any, *, raw: bool = False, b64: bool = False) -> dict[str, Any]:
    text = body if raw else json.dumps(body)
    if b64:
        return {"body": base64.b64encode(text.encode()).decode(), "isBase64Encoded": True}
    return {"body": text, "isBase64Encoded": False}


class FakeRuntime:
    """Answers like the XGBoost container, or raises what it is told to."""

    def __init__(self, error: Exception | None = None, body: bytes | None = None) -> None:
        self.error, self.body, self.calls = error, body, []

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        rows = kwargs["Body"].decode().split("\n")
        body = self.body if self.body is not None else "\n".join(str(100000.0 + i) for i in range(len(rows))).encode()
        return {"Body": io.BytesIO(body), "InvokedProductionVariant": "primary"}


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "secret internals"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeEndpoint",
    )


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    monkeypatch.setattr(predict, "_client", fake)
    return fake


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = predict.handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_valid_request_returns_predictions_variant_and_request_id(runtime: FakeRuntime) -> None:
    status, body, headers = call(api_event({"instances": [instance(1), instance(2)]}))
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {"predictions": [100000.0, 100001.0], "variant": "primary", "request_id": "req-123"}
    (sent,) = runtime.calls
    assert sent["EndpointName"] == "housing-endpoint" and sent["ContentType"] == "text/csv"
    rows = sent["Body"].decode().split("\n")
    assert [float(v) for v in rows[0].split(",")] == encode_record(instance(1), predict.STATISTICS)
    assert len(rows[0].split(",")) == len(predict.CONTRACT.feature_columns())


def test_base64_body_is_accepted(runtime: FakeRuntime) -> None:
    assert call(api_event({"instances": [instance()]}, b64=True))[0] == 200


def test_optional_features_may_be_missing(runtime: FakeRuntime) -> None:
    minimal = {k: v for k, v in instance().items() if predict.CONTRACT.field(k).required_for_inference}
    assert call(api_event({"instances": [minimal]}))[0] == 200


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        ({}, 400, "request body is required"),
        ({"body": "{not json"}, 400, "not valid JSON"),
        ({"body": "%%%", "isBase64Encoded": True}, 400, "not valid base64"),
        ({"body": "x" * 70000}, 413, "exceeds 65536 bytes"),
        (api_event([1, 2]), 400, "does not match the contract"),
        (api_event({"instances": []}), 400, "does not match the contract"),
    ],
)
def test_bad_requests_get_4xx_json(runtime: FakeRuntime, event: dict[str, Any], status: int, message: str) -> None:
    code, body, _ = call(event)
    assert code == status and message in body["error"] and body["request_id"] == "req-123"
    assert not runtime.calls


def test_every_invalid_field_is_listed(runtime: FakeRuntime) -> None:
    bad = {**instance(), "bedrooms": 2.5, "living_area": "big", "garden_size": "XL", "colour": "red"}
    del bad["bathrooms"]
    code, body, _ = call(api_event({"instances": [instance(), bad], "extra": 1}))
    assert code == 400
    fields = {d["field"]: d["error"] for d in body["details"]}
    assert fields == {
        "extra": "unknown field",
        "instances[1].colour": "unknown field",
        "instances[1].bedrooms": "must be an integer",
        "instances[1].living_area": "must be a number",
        "instances[1].garden_size": "must be one of ['L', 'M', 'N', 'S']",
        "instances[1].bathrooms": "is required",
    }


def test_batch_limit_from_config(runtime: FakeRuntime) -> None:
    code, body, _ = call(api_event({"instances": [instance()] * 11}))
    assert code == 400 and body["details"] == [{"field": "instances", "error": "must hold at most 10 instances"}]


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (client_error("ModelError", 424), 502, False),
        (client_error("ThrottlingException", 400), 503, True),
        (client_error("ServiceUnavailable", 503), 503, True),
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), 503, True),
        (client_error("ValidationError", 400), 500, False),
        (RuntimeError("boom"), 500, False),
    ],
)
def test_endpoint_failures_map_to_status(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, retry_after: bool
) -> None:
    monkeypatch.setattr(predict, "_client", FakeRuntime(error=error))
    code, body, headers = call(api_event({"instances": [instance()]}))
    assert code == status
    assert ("Retry-After" in headers) is retry_after
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert body["request_id"] == "req-123"


def test_wrong_number_of_predictions_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predict, "_client", FakeRuntime(body=b"1.0"))
    assert call(api_event({"instances": [instance(), instance(2)]}))[0] == 500


def test_logs_are_json_lines(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    call(api_event({"instances": [instance()]}))
    call(api_event({"instances": "nope"}))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == [200, 400]
    assert all(line["request_id"] == "req-123" for line in lines)


def test_invoke_path_against_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SageMaker runtime returns the queued results; the real client is used."""
    results = {
        "account_id": "123456789012",
        "region": "eu-west-1",
        "results": [
            {"Body": "250000.5\n310000.25", "ContentType": "text/csv", "InvokedProductionVariant": "challenger"}
        ],
    }
    requests.post(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results", json=results, timeout=5
    ).raise_for_status()
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", endpoint_url=moto_endpoint, config=predict.CLIENT_CONFIG
    )
    monkeypatch.setattr(predict, "_client", client)
    code, body, _ = call(api_event({"instances": [instance(1), instance(2)]}))
    assert (code, body["predictions"], body["variant"]) == (200, [250000.5, 310000.25], "challenger")


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*FEATURES, "instances", "x"]) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=JSON
    | st.fixed_dictionaries(
        {"instances": st.lists(st.dictionaries(st.sampled_from(FEATURES), JSON, max_size=8), max_size=3)}
    )
)
def test_arbitrary_json_never_raises(runtime: FakeRuntime, body: Any) -> None:
    response = predict.handler(api_event(body), CONTEXT)
    assert response["statusCode"] in (200, 400, 413)
    assert isinstance(json.loads(response["body"]), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), as_base64=st.booleans())
def test_arbitrary_bytes_never_raise(runtime: FakeRuntime, data: bytes, as_base64: bool) -> None:
    body = base64.b64encode(data).decode() if as_base64 else data.decode("latin-1")
    response = predict.handler({"body": body, "isBase64Encoded": as_base64}, CONTEXT)
    assert 400 <= response["statusCode"] < 500 or response["statusCode"] == 200
    assert "error" in json.loads(response["body"]) or response["statusCode"] == 200
