"""The Firehose transform Lambda: valid and invalid records, batches, size budget and logs."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest
import stream_transform
from stream_transform import MAX_RESPONSE_BYTES, handler, normalise_name, transform_records

import contracts
from tools import synthetic

VALID = {
    "event_id": "evt-1",
    "event_time": "2026-01-01T00:00:26+00:00",
    "home_type": "detached",
    "garden_size": "M",
    "living_area": 120.5,
    "lot_area": 400.0,
    "bedrooms": 3,
    "bathrooms": 1.5,
    "year_built": 1990,
    "distance_to_center": 4.2,
    "price": 350000.0,
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def encoded(event: Any) -> str:
    return b64(json.dumps(event).encode())


def firehose_event(datas: list[str], *, kinesis: bool = True) -> dict[str, Any]:
    """An invocation shaped as Firehose sends it (Kinesis source unless ``kinesis`` is False)."""
    records = []
    for index, data in enumerate(datas):
        record: dict[str, Any] = {
            "recordId": f"4965{index:08d}0000000000000000000000000000",
            "approximateArrivalTimestamp": 1_767_225_600_000 + index,
            "data": data,
        }
        if kinesis:
            record["kinesisRecordMetadata"] = {
                "shardId": "shardId-000000000000",
                "partitionKey": f"key-{index}",
                "approximateArrivalTimestamp": 1_767_225_600_000 + index,
                "sequenceNumber": f"4965{index:052d}",
                "subsequenceNumber": "",
            }
        records.append(record)
    return {
        "invocationId": "invocation-1",
        "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/test",
        "sourceKinesisStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/test",
        "region": "eu-west-1",
        "records": records,
    }


def run(datas: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Invoke the handler; return its response and its parsed log lines."""
    response = handler(firehose_event(datas), None)
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return response, logs


def transformed(entry: dict[str, Any]) -> dict[str, Any]:
    assert entry["result"] == "Ok"
    line = base64.b64decode(entry["data"]).decode()
    assert line.endswith("\n") and line.count("\n") == 1
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def one(event: Any, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    response, logs = run([encoded(event)], capsys)
    (entry,) = response["records"]
    return entry, logs


# ---------------------------------------------------------------------------
# Valid records
# ---------------------------------------------------------------------------


def test_valid_record_becomes_one_compact_canonical_line(capsys: pytest.CaptureFixture[str]) -> None:
    entry, _ = one(VALID, capsys)
    line = base64.b64decode(entry["data"]).decode()
    assert line == (
        '{"event_id":"evt-1","event_time":"2026-01-01T00:00:26.000Z","home_type":"detached",'
        '"garden_size":"M","living_area":120.5,"lot_area":400.0,"bedrooms":3,"bathrooms":1.5,'
        '"year_built":1990,"distance_to_center":4.2,"price":350000.0}\n'
    )
    assert entry["metadata"] == {"partitionKeys": {"event_date": "2026-01-01", "home_type": "detached"}}
    assert set(entry) == {"recordId", "result", "data", "metadata"}


def test_keys_follow_contract_order_whatever_the_input_order(capsys: pytest.CaptureFixture[str]) -> None:
    entry, _ = one(dict(reversed(list(VALID.items()))), capsys)
    order = [f.name for f in contracts.load().fields]
    assert list(transformed(entry)) == order


def test_alias_units_are_converted_to_the_canonical_unit(capsys: pytest.CaptureFixture[str]) -> None:
    event = {k: v for k, v in VALID.items() if k not in ("living_area", "lot_area", "distance_to_center")}
    event |= {"living_area_sqft": 1000, "lot_area_sqft": 5000.0, "distance_to_center_mi": 10}
    entry, _ = one(event, capsys)
    out = transformed(entry)
    assert out["living_area"] == pytest.approx(92.90304)
    assert out["lot_area"] == pytest.approx(464.5152)
    assert out["distance_to_center"] == pytest.approx(16.09344)
    assert not {"living_area_sqft", "lot_area_sqft", "distance_to_center_mi"} & set(out)


def test_every_contract_alias_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    for alias, (canonical, factor) in contracts.load().aliases.items():
        spec = contracts.load().field(canonical)
        value = (spec.min + spec.max) / 2 / factor
        event = {"event_id": "a", "event_time": 0, alias: value}
        entry, _ = one(event, capsys)
        assert transformed(entry)[canonical] == pytest.approx(value * factor), alias


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1_767_225_626, "2026-01-01T00:00:26.000Z"),
        (1_767_225_626.5, "2026-01-01T00:00:26.500Z"),
        (1_767_225_626_123, "2026-01-01T00:00:26.123Z"),
        (1_767_225_626_123.0, "2026-01-01T00:00:26.123Z"),
        ("2026-01-01T00:00:26Z", "2026-01-01T00:00:26.000Z"),
        ("2026-01-01T00:00:26.123456Z", "2026-01-01T00:00:26.123Z"),
        ("2026-01-01T02:00:26+02:00", "2026-01-01T00:00:26.000Z"),
        ("2025-12-31T19:00:26.5-05:00", "2026-01-01T00:00:26.500Z"),
        ("  2026-01-01T00:00:26+00:00 ", "2026-01-01T00:00:26.000Z"),
        ("2026-01-01T00:00:26.0000Z", "2026-01-01T00:00:26.000Z"),
    ],
)
def test_timestamps_are_normalised_to_utc_with_milliseconds(
    given: Any, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entry, _ = one({"event_id": "a", "event_time": given}, capsys)
    assert transformed(entry)["event_time"] == expected
    assert entry["metadata"]["partitionKeys"]["event_date"] == expected[:10]


def test_event_date_comes_from_the_utc_time_not_the_local_date(capsys: pytest.CaptureFixture[str]) -> None:
    entry, _ = one({"event_id": "a", "event_time": "2026-01-01T01:30:00+05:00"}, capsys)
    assert entry["metadata"]["partitionKeys"]["event_date"] == "2025-12-31"


def test_field_names_are_normalised(capsys: pytest.CaptureFixture[str]) -> None:
    event = {
        "eventId": "a",
        "Event-Time": "2026-01-01T00:00:26Z",
        " home type ": "condo",
        "GARDEN_SIZE": "s",
        "livingAreaSqft": 1000,
        "year-built": 2001,
        "DistanceToCenter": 3.0,
    }
    entry, _ = one(event, capsys)
    assert transformed(entry) == {
        "event_id": "a",
        "event_time": "2026-01-01T00:00:26.000Z",
        "home_type": "condo",
        "garden_size": "S",
        "living_area": pytest.approx(92.90304),
        "year_built": 2001,
        "distance_to_center": 3.0,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("livingAreaSqft", "living_area_sqft"),
        ("living-area-sqft", "living_area_sqft"),
        ("Living Area Sqft", "living_area_sqft"),
        ("  LIVING_AREA  ", "living_area"),
        ("eventID", "event_id"),
        ("EventTime", "event_time"),
        ("distance__to--center", "distance_to_center"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_values_are_trimmed_and_case_normalised(capsys: pytest.CaptureFixture[str]) -> None:
    event = VALID | {"event_id": "  evt-1 ", "home_type": " Detached ", "garden_size": " l "}
    entry, _ = one(event, capsys)
    out = transformed(entry)
    assert (out["event_id"], out["home_type"], out["garden_size"]) == ("evt-1", "detached", "L")


def test_unseen_categories_are_kept_and_partitioned_under_the_unseen_category(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry, _ = one(VALID | {"home_type": "Castle", "garden_size": "xl"}, capsys)
    out = transformed(entry)
    assert (out["home_type"], out["garden_size"]) == ("castle", "XL")
    unseen = contracts.load().field("home_type").unseen
    assert entry["metadata"]["partitionKeys"]["home_type"] == unseen == "other"


def test_missing_optional_values_are_omitted_and_partitioned_as_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry, _ = one({"event_id": "a", "event_time": 0, "home_type": None, "garden_size": "  ", "price": None}, capsys)
    assert transformed(entry) == {"event_id": "a", "event_time": "1970-01-01T00:00:00.000Z"}
    assert entry["metadata"]["partitionKeys"]["home_type"] == "unknown"


def test_integers_accept_integral_floats_and_numbers_are_emitted_as_floats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry, _ = one(VALID | {"bedrooms": 4.0, "year_built": 2000.0, "living_area": 80, "price": 250000}, capsys)
    out = transformed(entry)
    assert out["bedrooms"] == 4 and type(out["bedrooms"]) is int
    assert out["year_built"] == 2000 and type(out["year_built"]) is int
    assert type(out["living_area"]) is float and type(out["price"]) is float


def test_range_bounds_are_inclusive(capsys: pytest.CaptureFixture[str]) -> None:
    entry, _ = one(VALID | {"bedrooms": 0, "year_built": 2100, "living_area": 10}, capsys)
    assert entry["result"] == "Ok"


def test_synthetic_clean_events_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    events = list(synthetic.events(300))
    response, _ = run([encoded(e) for e in events], capsys)
    assert Counter(r["result"] for r in response["records"]) == {"Ok": 300}
    for event, entry in zip(events, response["records"], strict=True):
        assert transformed(entry)["event_id"] == event["event_id"]


# ---------------------------------------------------------------------------
# Invalid records
# ---------------------------------------------------------------------------

INVALID_RAW = [
    pytest.param("not base64!", "decode_error", "base64", id="bad-base64"),
    pytest.param("QUJDRA", "decode_error", "base64", id="bad-padding"),
    pytest.param(b64(b"\xff\xfe{}"), "decode_error", "utf8", id="not-utf8"),
    pytest.param(b64(b"{not json"), "json_error", "Expecting property name enclosed in double quotes", id="non-json"),
    pytest.param(b64(b""), "json_error", "Expecting value", id="empty"),
    pytest.param(b64(b'{"a": 1} {"b": 2}'), "json_error", "Extra data", id="two-documents"),
    pytest.param(b64(b'{"event_time": NaN}'), "json_error", "NaN is not JSON", id="nan"),
    pytest.param(b64(b"[1, 2, 3]"), "not_an_object", "list", id="json-array"),
    pytest.param(b64(b'"text"'), "not_an_object", "str", id="json-string"),
    pytest.param(b64(b"null"), "not_an_object", "NoneType", id="json-null"),
    pytest.param(b64(b"[" * 100_000), "json_error", None, id="deeply-nested"),
]


@pytest.mark.parametrize(("data", "reason", "detail"), INVALID_RAW)
def test_undecodable_records_fail_with_original_data(
    data: str, reason: str, detail: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    response, logs = run([data], capsys)
    (entry,) = response["records"]
    assert entry == {
        "recordId": firehose_event([data])["records"][0]["recordId"],
        "result": "ProcessingFailed",
        "data": data,
    }
    failed = logs[0]
    assert failed["event"] == "record_failed" and failed["reason"] == reason
    if detail is not None:
        assert failed["detail"] == detail


INVALID_EVENTS = [
    pytest.param({k: v for k, v in VALID.items() if k != "event_id"}, {"event_id": "missing"}, id="missing-required"),
    pytest.param(VALID | {"event_id": "   "}, {"event_id": "missing"}, id="blank-required"),
    pytest.param(VALID | {"event_time": None}, {"event_time": "missing"}, id="null-required"),
    pytest.param(VALID | {"bedrooms": "three"}, {"bedrooms": "wrong_type"}, id="wrong-type"),
    pytest.param(VALID | {"bedrooms": True}, {"bedrooms": "wrong_type"}, id="bool-is-not-a-number"),
    pytest.param(VALID | {"price": False}, {"price": "wrong_type"}, id="bool-is-not-a-float"),
    pytest.param(VALID | {"home_type": 3}, {"home_type": "wrong_type"}, id="number-as-category"),
    pytest.param(VALID | {"living_area": [1]}, {"living_area": "wrong_type"}, id="list-as-number"),
    pytest.param(VALID | {"bedrooms": 2.5}, {"bedrooms": "not_integral"}, id="fractional-integer"),
    pytest.param(VALID | {"bedrooms": 99}, {"bedrooms": "above_max"}, id="above-max"),
    pytest.param(VALID | {"bedrooms": -3}, {"bedrooms": "below_min"}, id="below-min"),
    pytest.param(VALID | {"living_area": 9.99}, {"living_area": "below_min"}, id="float-below-min"),
    pytest.param(VALID | {"bedrooms": 10**400}, {"bedrooms": "above_max"}, id="huge-integer"),
    pytest.param(VALID | {"price": 10**400}, {"price": "above_max"}, id="huge-integer-as-number"),
    pytest.param(
        VALID | {"living_area_sqft": 10**400} | {"living_area": None}, {"living_area": "not_finite"}, id="huge-alias"
    ),
    pytest.param(VALID | {"event_id": "x" * 129}, {"event_id": "too_long"}, id="too-long"),
    pytest.param(VALID | {"colour": "red"}, {"colour": "unknown_field"}, id="unknown-field"),
    pytest.param(VALID | {"colour": None}, {"colour": "unknown_field"}, id="unknown-null-field"),
    pytest.param(
        VALID | {"event_time": "2026-01-01T00:00:26"}, {"event_time": "naive_timestamp"}, id="naive-timestamp"
    ),
    pytest.param(VALID | {"event_time": "2026-01-01"}, {"event_time": "naive_timestamp"}, id="date-only"),
    pytest.param(VALID | {"event_time": "yesterday"}, {"event_time": "invalid_timestamp"}, id="garbage-timestamp"),
    pytest.param(VALID | {"event_time": "2026-13-01T00:00:00Z"}, {"event_time": "invalid_timestamp"}, id="month-13"),
    pytest.param(VALID | {"event_time": "1767225626"}, {"event_time": "invalid_timestamp"}, id="epoch-as-string"),
    pytest.param(VALID | {"event_time": True}, {"event_time": "wrong_type"}, id="bool-timestamp"),
    pytest.param(VALID | {"event_time": 10**20}, {"event_time": "invalid_timestamp"}, id="epoch-overflow"),
    pytest.param(
        VALID | {"event_time": "0001-01-01T00:00:00+01:00"}, {"event_time": "invalid_timestamp"}, id="before-year-1"
    ),
    pytest.param(VALID | {"living_area_sqft": 1000}, {"living_area": "alias_conflict"}, id="alias-and-canonical"),
    pytest.param(VALID | {"livingArea": 100}, {"living_area": "duplicate_field"}, id="duplicate-after-normalising"),
    pytest.param(VALID | {"home_type": "\ud800"}, {"home_type": "invalid_unicode"}, id="lone-surrogate"),
]


@pytest.mark.parametrize(("event", "errors"), INVALID_EVENTS)
def test_contract_violations_fail_with_the_field_and_the_reason(
    event: dict[str, Any], errors: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = encoded(event)
    entry, logs = one(event, capsys)
    assert entry["result"] == "ProcessingFailed"
    assert entry["data"] == data
    assert "metadata" not in entry
    failed = logs[0]
    assert failed["reason"] == "schema_error"
    assert failed["errors"] == errors
    assert failed["data_length"] == len(data)


def test_infinity_from_an_overflowing_literal_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.dumps(VALID).replace('"price": 350000.0', '"price": 1e400')
    response, logs = run([b64(raw.encode())], capsys)
    assert response["records"][0]["result"] == "ProcessingFailed"
    assert logs[0]["errors"] == {"price": "not_finite"}


def test_every_problem_of_a_record_is_reported_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    event = {"event_time": "2026-01-01T00:00:00", "bedrooms": 99, "garden_size": 1, "shoe_size": 42}
    _, logs = one(event, capsys)
    assert logs[0]["errors"] == {
        "event_id": "missing",
        "event_time": "naive_timestamp",
        "bedrooms": "above_max",
        "garden_size": "wrong_type",
        "shoe_size": "unknown_field",
    }


def test_unknown_field_names_are_truncated_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    _, logs = one(VALID | {"x" * 500: 1}, capsys)
    (name,) = logs[0]["errors"]
    assert name == "x" * stream_transform.MAX_LOGGED_NAME


def test_an_unexpected_defect_costs_one_record_not_the_batch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(event: Any, rules: Any = None) -> tuple[str, ...]:
        if event["event_id"] == "boom":
            raise RuntimeError("defect")
        return ("2026-01-01", "other")

    monkeypatch.setattr(stream_transform, "partition_values", explode)
    datas = [encoded(VALID), encoded(VALID | {"event_id": "boom"}), encoded(VALID)]
    response, logs = run(datas, capsys)
    assert [r["result"] for r in response["records"]] == ["Ok", "ProcessingFailed", "Ok"]
    assert response["records"][1]["data"] == datas[1]
    assert logs[0]["reason"] == "internal_error" and logs[0]["detail"] == "RuntimeError"


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


def test_empty_batch(capsys: pytest.CaptureFixture[str]) -> None:
    response, logs = run([], capsys)
    assert response == {"records": []}
    (summary,) = logs
    assert summary["records"] == 0
    assert summary["results"] == {"Ok": 0, "ProcessingFailed": 0}


@pytest.mark.parametrize("event", [{}, {"records": None}, {"records": "x"}, []])
def test_malformed_invocation_returns_an_empty_response(event: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert handler(event, None) == {"records": []}
    assert json.loads(capsys.readouterr().out)["records"] == 0


def test_record_ids_and_order_are_preserved_in_a_mixed_batch(capsys: pytest.CaptureFixture[str]) -> None:
    datas = [encoded(e) for e in synthetic.events(200, dirty=True)]
    datas[::7] = ["@@@"] * len(datas[::7])
    event = firehose_event(datas)
    response = handler(event, None)
    capsys.readouterr()
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    results = Counter(r["result"] for r in response["records"])
    assert set(results) == {"Ok", "ProcessingFailed"}
    for sent, got in zip(event["records"], response["records"], strict=True):
        if got["result"] == "ProcessingFailed":
            assert got["data"] == sent["data"]


def test_dirty_synthetic_events_fail_only_for_contract_violations(capsys: pytest.CaptureFixture[str]) -> None:
    events = list(synthetic.events(400, dirty=True))
    response, logs = run([encoded(e) for e in events], capsys)
    summary = logs[-1]
    # The synthetic defects that break the contract are the bad bedroom counts; unseen
    # categories, missing values, duplicates and alternative units all pass.
    bad = [e for e in events if not (isinstance(e.get("bedrooms"), int) and 0 <= e["bedrooms"] <= 20)]
    assert summary["results"] == {"Ok": len(events) - len(bad), "ProcessingFailed": len(bad)}
    assert set(summary["field_errors"]) <= {"bedrooms:wrong_type", "bedrooms:above_max", "bedrooms:below_min"}
    assert len(response["records"]) == len(events)


def test_realistic_six_megabyte_batch_fits_the_response_limit(capsys: pytest.CaptureFixture[str]) -> None:
    datas: list[str] = []
    size = 0
    for event in synthetic.events(100_000, dirty=True):
        record_size = len(json.dumps(firehose_event([encoded(event)])["records"][0])) + 2
        if size + record_size > MAX_RESPONSE_BYTES:
            break
        datas.append(encoded(event))
        size += record_size
    response, logs = run(datas, capsys)
    assert len(json.dumps(response)) <= MAX_RESPONSE_BYTES
    assert "response_size" not in logs[-1]["reasons"]


def test_response_over_the_limit_fails_the_records_past_it(capsys: pytest.CaptureFixture[str]) -> None:
    # Small DirectPut-style records grow when transformed (timestamp text, partition
    # metadata), so about 6 MB of them would come back as ~9 MB if every one were Ok.
    tiny = [encoded({"event_id": f"e{i}", "event_time": 1_767_225_600 + i}) for i in range(33_000)]
    event = firehose_event(tiny, kinesis=False)
    assert 5_500_000 < len(json.dumps(event)) <= MAX_RESPONSE_BYTES
    response = handler(event, None)
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    size = len(json.dumps(response))
    assert size <= MAX_RESPONSE_BYTES
    assert logs[-1]["response_bytes"] == size
    results = [r["result"] for r in response["records"]]
    first_failed = results.index("ProcessingFailed")
    assert first_failed > 1_000
    assert set(results[:first_failed]) == {"Ok"}
    assert set(results[first_failed:]) == {"ProcessingFailed"}
    for sent, got in zip(event["records"][first_failed:], response["records"][first_failed:], strict=True):
        assert got == {"recordId": sent["recordId"], "result": "ProcessingFailed", "data": sent["data"]}
    assert logs[-1]["reasons"] == {"response_size": len(results) - first_failed}
    # The budget is used up: one more Ok record would not have fitted.
    assert size > MAX_RESPONSE_BYTES - 300


@pytest.mark.parametrize("limit", [200, 1_000, 5_000, 20_000])
def test_response_size_is_accounted_exactly(limit: int) -> None:
    datas = [encoded(e) for e in synthetic.events(60, dirty=True)] + ["%%", b64(b"[]")]
    outcome = transform_records(firehose_event(datas)["records"], max_response_bytes=limit)
    assert outcome.response_bytes == len(json.dumps(outcome.response))
    assert len(outcome.response["records"]) == len(datas)
    fallback_only = transform_records(firehose_event(datas)["records"], max_response_bytes=0)
    if outcome.response_bytes > limit:
        # Only when even the all-failed response is over the limit.
        assert outcome.response_bytes == fallback_only.response_bytes


# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------


def test_logs_are_json_lines_with_counts_and_no_record_contents(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "listing-owner-jane-doe"
    datas = [
        encoded(VALID),
        encoded(VALID | {"event_id": secret, "bedrooms": 99}),
        "%%%",
        b64(b"[1]"),
        encoded(VALID | {"event_id": secret, "colour": "red"}),
    ]
    response = handler(firehose_event(datas), type("Context", (), {"aws_request_id": "req-1"})())
    out = capsys.readouterr().out
    assert secret not in out
    lines = [json.loads(line) for line in out.splitlines()]
    *failures, summary = lines
    assert [f["event"] for f in failures] == ["record_failed"] * 4
    assert [f["record_id"] for f in failures] == [r["recordId"] for r in response["records"][1:]]
    assert all(f["level"] == "WARN" and f["invocation_id"] == "invocation-1" for f in failures)
    assert [f["data_length"] for f in failures] == [len(d) for d in datas[1:]]
    assert summary == {
        "level": "WARN",
        "event": "transform_summary",
        "invocation_id": "invocation-1",
        "request_id": "req-1",
        "records": 5,
        "results": {"Ok": 1, "ProcessingFailed": 4},
        "reasons": {"schema_error": 2, "decode_error": 1, "not_an_object": 1},
        "field_errors": {"bedrooms:above_max": 1, "colour:unknown_field": 1},
        "input_bytes": sum(len(d) for d in datas),
        "response_bytes": len(json.dumps(response)),
        "duration_ms": summary["duration_ms"],
    }
    assert isinstance(summary["duration_ms"], float)


def test_clean_batch_logs_a_single_info_line(capsys: pytest.CaptureFixture[str]) -> None:
    _, logs = run([encoded(VALID)] * 3, capsys)
    (summary,) = logs
    assert summary["level"] == "INFO"
    assert summary["results"] == {"Ok": 3, "ProcessingFailed": 0}
    assert summary["reasons"] == {} and summary["field_errors"] == {}
