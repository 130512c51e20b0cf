"""Predict handler: every branch, the invoke path against moto, and arbitrary input."""

from __future__ import annotations

import base64
import http.client
import http.server
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import predict
import pytest
import requests
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.exceptions import ProtocolError

from contracts.features import encode_record
from contracts.request_schema import JSON_CONTENT_TYPE, MAX_JSON_DEPTH
from contracts.time_budget import (
    COLD_START_SECONDS,
    GATEWAY_TIMEOUT_SECONDS,
    MIN_FUNCTION_TIMEOUT_SECONDS,
    OWN_WORK_SECONDS,
    Budget,
    budget,
)
from tools import synthetic

CONTEXT = SimpleNamespace(aws_request_id="req-123")
FEATURES = [f.name for f in predict.CONTRACT.features]


def instance(seed: int = 1) -> dict[str, Any]:
    event = next(synthetic.events(1, seed=seed))
    return {k: v for k, v in event.items() if k in FEATURES}


JSON_HEADERS = {"Content-Type": "application/json"}


def api_event(body: Any, *, raw: bool = False, b64: bool = False) -> dict[str, Any]:
    """An API Gateway REST (payload 1.0) proxy event of a JSON request."""
    text = body if raw else json.dumps(body)
    if b64:
        return {"headers": JSON_HEADERS, "body": base64.b64encode(text.encode()).decode(), "isBase64Encoded": True}
    return {"headers": JSON_HEADERS, "body": text, "isBase64Encoded": False}


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


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries pause up to 10 ms here instead of 200 ms; the budget arithmetic is tested on its own."""
    monkeypatch.setattr(predict, "PAUSE_SECONDS", 0.01)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    monkeypatch.setattr(predict, "_client", fake)
    return fake


def strict_json(text: str) -> Any:
    """Parse as a strict client would: NaN and Infinity are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def call(event: Any, context: Any = CONTEXT) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = predict.handler(event, context)
    return response["statusCode"], strict_json(response["body"]), response["headers"]


def test_valid_request_returns_predictions_variant_and_request_id(runtime: FakeRuntime) -> None:
    status, body, headers = call(api_event({"instances": [instance(1), instance(2)]}))
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {"predictions": [100000.0, 100001.0], "variant": "primary", "request_id": "req-123"}
    (sent,) = runtime.calls
    assert sent["EndpointName"] == "housing-endpoint" and sent["ContentType"] == "text/csv"
    rows = sent["Body"].decode().split("\n")
    assert [float(v) for v in rows[0].split(",")] == encode_record(instance(1), predict.STATISTICS)
    assert len(rows[0].split(",")) == len(predict.CONTRACT.feature_columns())


def test_a_single_listing_names_the_captured_request_with_its_event_id(runtime: FakeRuntime) -> None:
    """Data capture keeps the inference id with the request: one listing's event id makes it
    joinable with the listing's later sale price; a batch is named by the API request id."""
    assert call(api_event({"instances": [{**instance(1), "event_id": "listing-42"}]}))[0] == 200
    assert call(api_event({"instances": [instance(1), {**instance(2), "event_id": "listing-43"}]}))[0] == 200
    assert call(api_event({"instances": [instance(3)]}))[0] == 200
    assert [sent["InferenceId"] for sent in runtime.calls] == ["listing-42", "req-123", "req-123"]


@pytest.mark.parametrize("event_id", ["", " leading-space", "x" * 65, "caf\u00e9", 42, "tab\there"])
def test_event_ids_that_cannot_be_inference_ids_are_refused(runtime: FakeRuntime, event_id: Any) -> None:
    status, body, _ = call(api_event({"instances": [{**instance(1), "event_id": event_id}]}))
    assert status == 400 and body["details"] == [
        {"field": "instances[0].event_id", "error": "must be 1 to 64 printable ASCII characters, the first not a space"}
    ]
    assert runtime.calls == []


def test_base64_body_is_accepted(runtime: FakeRuntime) -> None:
    assert call(api_event({"instances": [instance()]}, b64=True))[0] == 200


def test_optional_features_may_be_missing(runtime: FakeRuntime) -> None:
    minimal = {k: v for k, v in instance().items() if predict.CONTRACT.field(k).required_for_inference}
    assert call(api_event({"instances": [minimal]}))[0] == 200


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        ({"headers": JSON_HEADERS}, 400, "request body is required"),
        ({"headers": JSON_HEADERS, "body": "{not json"}, 400, "not valid JSON"),
        ({"headers": JSON_HEADERS, "body": "%%%", "isBase64Encoded": True}, 400, "not valid base64"),
        ({"headers": JSON_HEADERS, "body": "x" * 70000}, 413, "exceeds 65536 bytes"),
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
        (client_error("InternalFailure", 500), 502, False),
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), 503, True),
        (EndpointConnectionError(endpoint_url="https://runtime.sagemaker"), 503, True),
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
    assert isinstance(strict_json(response["body"]), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), as_base64=st.booleans())
def test_arbitrary_bytes_never_raise(runtime: FakeRuntime, data: bytes, as_base64: bool) -> None:
    body = base64.b64encode(data).decode() if as_base64 else data.decode("latin-1")
    response = predict.handler({"headers": JSON_HEADERS, "body": body, "isBase64Encoded": as_base64}, CONTEXT)
    assert 400 <= response["statusCode"] < 500 or response["statusCode"] == 200
    assert "error" in strict_json(response["body"]) or response["statusCode"] == 200


# --- Content types and the event shapes AWS and common toolkits produce ---------------------------

ACCEPTED_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF-8",
    'application/json; charset="utf-8"',
]
REFUSED_CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=iso-8859-1",
    "application/jsonp",
    "application/json-patch+json",
    "",
]


@pytest.mark.parametrize("content_type", ACCEPTED_CONTENT_TYPES)
def test_json_content_types_are_accepted(runtime: FakeRuntime, content_type: str) -> None:
    event = {**api_event({"instances": [instance()]}), "headers": {"Content-Type": content_type}}
    assert call(event)[0] == 200


@pytest.mark.parametrize("content_type", REFUSED_CONTENT_TYPES)
def test_other_content_types_get_415_json(runtime: FakeRuntime, content_type: str) -> None:
    event = {**api_event({"instances": [instance()]}), "headers": {"Content-Type": content_type}}
    status, body, headers = call(event)
    assert (status, headers["Content-Type"]) == (415, "application/json")
    assert "application/json" in body["error"] and not runtime.calls


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [*((c, True) for c in ACCEPTED_CONTENT_TYPES), *((c, False) for c in REFUSED_CONTENT_TYPES)],
)
def test_waf_rule_and_function_agree_on_content_types(content_type: str, accepted: bool) -> None:
    """The WAF matches `^pattern$` on the lower-cased header; the function matches case-insensitively."""
    assert bool(re.fullmatch(JSON_CONTENT_TYPE, content_type, re.IGNORECASE)) is accepted
    assert bool(re.search(f"^{JSON_CONTENT_TYPE}$", content_type.lower())) is accepted


def test_event_shapes_of_rest_and_http_apis_and_toolkits(runtime: FakeRuntime) -> None:
    body = json.dumps({"instances": [instance()]})
    shapes = [
        # REST API, payload 1.0, headers as sent
        {"headers": {"content-type": "application/json"}, "multiValueHeaders": None, "body": body},
        # only multi-value headers (some toolkits), header names in any case
        {"headers": None, "multiValueHeaders": {"CONTENT-TYPE": ["application/json"]}, "body": body},
        # HTTP API / function URL, payload 2.0: lower-case headers, base64 flag as a real boolean
        {"version": "2.0", "headers": {"content-type": "application/json"}, "body": body, "isBase64Encoded": False},
        # flags as strings, as some local emulators write them
        {"headers": JSON_HEADERS, "body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": "true"},
        {"headers": JSON_HEADERS, "body": body, "isBase64Encoded": "false"},
    ]
    assert [call(event)[0] for event in shapes] == [200] * len(shapes)


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ([], 415),
        ("not an event", 415),
        ({"headers": None, "body": None}, 415),
        ({"headers": {"Content-Type": 7}}, 415),
        ({"headers": {"Content-Type": []}, "body": "{}"}, 415),
        ({"headers": JSON_HEADERS, "body": {"instances": []}}, 400),
        ({"headers": JSON_HEADERS, "body": "\ufeff{}"}, 400),
        ({"headers": JSON_HEADERS, "body": "\ud800"}, 400),
        (
            {
                "headers": JSON_HEADERS,
                "body": base64.b64encode("{}".encode("utf-16")).decode(),
                "isBase64Encoded": True,
            },
            400,
        ),
    ],
)
def test_malformed_events_get_a_4xx(runtime: FakeRuntime, event: Any, status: int) -> None:
    assert call(event)[0] == status and not runtime.calls


# --- Nesting depth and non-finite numbers in requests ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        "[" * 60000,  # not even valid JSON
        '{"instances": [' + "[" * 5000 + "]" * 5000 + "]}",
    ],
)
def test_deeply_nested_bodies_get_400_before_parsing(runtime: FakeRuntime, text: str) -> None:
    status, body, _ = call(api_event(text, raw=True))
    assert status == 400 and f"deeper than {MAX_JSON_DEPTH} levels" in body["error"]


def test_brackets_inside_strings_do_not_count_as_nesting(runtime: FakeRuntime) -> None:
    event = api_event({"instances": [{**instance(), "street": '[[[[[[[[[[{{{{{{{{{{ \\" ]'}]})
    status, body, _ = call(event)
    assert status == 400 and body["details"] == [{"field": "instances[0].street", "error": "unknown field"}]


@given(value=JSON)
def test_json_depth_counts_what_the_parser_would_nest(value: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):  # with and without backslashes
        assert predict.json_depth(text.encode()) == depth(value)


@given(text=st.text(alphabet='[]{}"a,:', max_size=40))
def test_json_depth_of_any_text_without_backslashes_skips_exactly_the_strings(text: str) -> None:
    """The quote-pair shortcut agrees with dropping every other part between quotes."""
    outside = "".join(text.split('"')[::2])
    depth = deepest = 0
    for char in outside:
        if char in "[]{}":
            depth += 1 if char in "[{" else -1
            deepest = max(deepest, depth)
    assert predict.json_depth(text.encode()) == deepest


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_in_requests_get_400(runtime: FakeRuntime, number: str) -> None:
    text = json.dumps({"instances": [instance()]}).replace(str(instance()["bedrooms"]), number, 1)
    status, body, _ = call(api_event(text, raw=True))
    assert status == 400 and not runtime.calls
    assert "NaN and Infinity are not JSON" in body["error"] or [d["error"] for d in body["details"]] == [
        "must be finite"
    ]


# --- The model answering wrongly: 502 --------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"nan",
        b"inf",
        b"1e999",
        b"[NaN]",
        b"[Infinity]",
        b"[true]",
        b"[[1.0]]",
        b"[" * 100000,  # deeper than the parser's recursion limit
        b'{"predictions": [1.0]}',
        b"one",
        b"\xff\xfe",
        b"",
        b"1.0,2.0",  # two predictions for one instance
        b"1.0" * 400000,  # larger than any batch's answer
    ],
)
def test_wrong_answers_from_the_model_get_502_without_retry(monkeypatch: pytest.MonkeyPatch, answer: bytes) -> None:
    fake = FakeRuntime(body=answer)
    monkeypatch.setattr(predict, "_client", fake)
    status, body, headers = call(api_event({"instances": [instance()]}))
    assert (status, "Retry-After" in headers, len(fake.calls)) == (502, False, 1)
    assert "one number per instance" in body["error"]


def test_wrong_number_of_predictions_is_a_502(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predict, "_client", FakeRuntime(body=b"1.0"))
    assert call(api_event({"instances": [instance(), instance(2)]}))[0] == 502


def test_model_errors_are_not_retried_and_sagemaker_failures_are(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = ((client_error("ModelError", 424), 1), (client_error("InternalFailure", 500), predict.BUDGET.attempts))
    for error, calls in cases:
        fake = FakeRuntime(error=error)
        monkeypatch.setattr(predict, "_client", fake)
        assert call(api_event({"instances": [instance()]}))[0] == 502 and len(fake.calls) == calls


# --- Faults while reading the answer: retried within the budget, then 503 --------------------------


class BrokenBody:
    """A response body that fails while it is read, as a dropped or stalled connection does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, amount: int | None = None) -> bytes:
        raise self.error


BODY_FAULTS = [
    ReadTimeoutError(endpoint_url="https://runtime.sagemaker"),
    ResponseStreamingError(error=ProtocolError("Connection broken: IncompleteRead(10 bytes read, 90 more expected)")),
    IncompleteReadError(actual_bytes=10, expected_bytes=100),
    ConnectionClosedError(endpoint_url="https://runtime.sagemaker"),
    ProtocolError("Connection broken"),
    http.client.IncompleteRead(b"1.0", 97),
    ConnectionResetError(104, "Connection reset by peer"),
]


class FlakyRuntime(FakeRuntime):
    """Answers with a broken body `failures` times, then like the container."""

    def __init__(self, fault: Exception, failures: int) -> None:
        super().__init__()
        self.fault, self.failures = fault, failures

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        response = super().invoke_endpoint(**kwargs)
        if len(self.calls) <= self.failures:
            response["Body"] = BrokenBody(self.fault)
        return response


@pytest.mark.parametrize("fault", BODY_FAULTS, ids=lambda e: type(e).__name__)
def test_body_read_faults_are_retried_then_503(monkeypatch: pytest.MonkeyPatch, fault: Exception) -> None:
    fake = FlakyRuntime(fault, failures=99)
    monkeypatch.setattr(predict, "_client", fake)
    status, body, headers = call(api_event({"instances": [instance()]}))
    assert (status, headers.get("Retry-After"), len(fake.calls)) == (503, "2", predict.BUDGET.attempts)
    assert "retry later" in body["error"]


@pytest.mark.parametrize("fault", BODY_FAULTS[:2], ids=lambda e: type(e).__name__)
def test_a_fault_then_an_answer_succeeds_within_the_budget(monkeypatch: pytest.MonkeyPatch, fault: Exception) -> None:
    fake = FlakyRuntime(fault, failures=1)
    monkeypatch.setattr(predict, "_client", fake)
    assert call(api_event({"instances": [instance()]}))[0] == 200 and len(fake.calls) == 2


# --- The time budget ----------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", range(MIN_FUNCTION_TIMEOUT_SECONDS, GATEWAY_TIMEOUT_SECONDS + 1))
def test_every_attempt_fits_the_function_timeout_and_api_gateway(timeout: int) -> None:
    plan = budget(timeout)
    assert plan.attempts >= 1 and plan.connect_timeout > 0 and plan.read_timeout > 0
    assert plan.worst_case_seconds <= plan.seconds + 1e-9
    assert plan.seconds + OWN_WORK_SECONDS <= timeout
    assert plan.seconds + OWN_WORK_SECONDS + COLD_START_SECONDS <= GATEWAY_TIMEOUT_SECONDS


def test_a_timeout_too_short_for_one_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 s"):
        budget(MIN_FUNCTION_TIMEOUT_SECONDS - 1)


class StubEndpoint(http.server.ThreadingHTTPServer):
    """A SageMaker runtime stand-in on loopback that misbehaves as told; counts the requests."""

    daemon_threads = True

    def __init__(self, behaviour: str, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.behaviour, self.delay, self.requests = behaviour, delay, 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The client gave up on a stalled answer (that is the point): nothing to report."""


class StubHandler(http.server.BaseHTTPRequestHandler):
    server: StubEndpoint

    def do_POST(self) -> None:
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.behaviour == "delay-before-headers":
            time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("X-Amzn-Invoked-Production-Variant", "primary")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"100000.0")
        self.wfile.flush()
        if self.server.behaviour == "delay-mid-body":
            time.sleep(self.server.delay)
        self.close_connection = True  # "drop-mid-body": 8 of 100 bytes, then the connection closes

    def log_message(self, format: str, *args: Any) -> None:
        pass


FAST = Budget(seconds=3.0, connect_timeout=0.2, read_timeout=0.3, attempts=3)


@pytest.fixture
def stub_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], StubEndpoint]]:
    """A stub endpoint behind the real botocore client, with a small budget so tests stay fast."""
    servers: list[StubEndpoint] = []

    def start(behaviour: str) -> StubEndpoint:
        server = StubEndpoint(behaviour, delay=FAST.read_timeout * 4)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        client = boto3.client(
            "sagemaker-runtime",
            region_name="eu-west-1",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=predict.client_config(FAST),
        )
        monkeypatch.setattr(predict, "_client", client)
        monkeypatch.setattr(predict, "BUDGET", FAST)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("behaviour", ["drop-mid-body", "delay-before-headers", "delay-mid-body"])
def test_a_stub_endpoint_that_drops_or_stalls_gets_every_attempt_then_503(
    stub_endpoint: Callable[[str], StubEndpoint], behaviour: str
) -> None:
    server = stub_endpoint(behaviour)
    status, body, headers = call(api_event({"instances": [instance()]}))
    assert (status, headers.get("Retry-After")) == (503, "2") and "retry later" in body["error"]
    assert server.requests == FAST.attempts


def test_no_attempt_starts_that_could_end_after_the_deadline(stub_endpoint: Callable[[str], StubEndpoint]) -> None:
    """With 1.7 s left in the invocation, 0.7 s remain for the endpoint: room for one 0.5 s attempt,
    which stalls for at least its 0.3 s read timeout, so a second could not end in time."""
    server = stub_endpoint("delay-before-headers")
    context = SimpleNamespace(aws_request_id="req-123", get_remaining_time_in_millis=lambda: 1700)
    assert call(api_event({"instances": [instance()]}), context)[0] == 503
    assert server.requests == 1
