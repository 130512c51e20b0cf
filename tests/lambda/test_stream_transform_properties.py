"""Properties of the Firehose transform that must hold for any input whatsoever."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_transform import handler, transform_records

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
# Events close to the contract: right names (or their aliases and spellings), values
# that are mostly plausible, so that both Ok and ProcessingFailed paths are exercised.
plausible_values = {
    "event_id": st.text(alphabet="ab-1 ", min_size=1, max_size=8),
    "event_time": st.sampled_from(["2026-01-01T00:00:00Z", "2026-03-01T12:30:00.25+05:30", "2026-01-01T00:00:00"])
    | st.integers(min_value=-(10**12), max_value=10**14),
    "home_type": st.sampled_from(["condo", " Detached ", "Castle", "", None]),
    "garden_size": st.sampled_from(["m", "L", "xl", " "]),
    "livingArea": st.floats(min_value=10, max_value=2000) | st.integers(min_value=0, max_value=2100),
    "bedrooms": st.integers(min_value=0, max_value=21) | st.sampled_from([2.0, 2.5, True]),
    "Year-Built": st.integers(min_value=1795, max_value=2100),
    "distance_to_center_mi": st.floats(min_value=0, max_value=320) | st.sampled_from([float("inf"), -1]),
    "price": st.floats(min_value=1000, max_value=1e8) | st.none(),
}
near_events = st.fixed_dictionaries(
    {"event_id": plausible_values["event_id"], "event_time": plausible_values["event_time"]},
    optional={name: values for name, values in plausible_values.items() if name not in ("event_id", "event_time")},
)


def as_data(value: bytes) -> str:
    return base64.b64encode(value).decode()


record_data = st.one_of(
    st.binary(max_size=100).map(as_data),
    st.text(max_size=40),
    json_values.map(lambda v: as_data(json.dumps(v).encode())),
    near_events.map(lambda v: as_data(json.dumps(v).encode())),
)
record_ids = st.text(min_size=1, max_size=12)


def invoke(records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        response = handler({"invocationId": "p", "records": records}, None)
    return response, [json.loads(line) for line in out.getvalue().splitlines()]


def check_response(records: list[dict[str, Any]], response: dict[str, Any]) -> None:
    entries = response["records"]
    assert len(entries) == len(records)
    assert [e["recordId"] for e in entries] == [r["recordId"] for r in records]
    for sent, entry in zip(records, entries, strict=True):
        assert entry["result"] in ("Ok", "ProcessingFailed")
        if entry["result"] == "ProcessingFailed":
            assert entry == {"recordId": sent["recordId"], "result": "ProcessingFailed", "data": sent["data"]}
        else:
            line = base64.b64decode(entry["data"], validate=True).decode("utf-8")
            event = json.loads(line)
            assert line.endswith("\n") and isinstance(event, dict)
            assert set(entry["metadata"]["partitionKeys"]) == {"event_date", "home_type"}


@SETTINGS
@given(st.lists(st.tuples(record_ids, record_data), max_size=5))
def test_any_batch_gets_one_answer_per_record_in_order(batch: list[tuple[str, str]]) -> None:
    records = [{"recordId": rid, "data": data} for rid, data in batch]
    response, logs = invoke(records)
    check_response(records, response)
    assert logs[-1]["records"] == len(records)
    assert logs[-1]["results"]["ProcessingFailed"] == len(logs) - 1


@SETTINGS
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    records = [{"recordId": "r", "data": as_data(raw)}]
    response, _ = invoke(records)
    check_response(records, response)


@SETTINGS
@given(json_values)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    records = [{"recordId": "r", "data": as_data(json.dumps(value).encode())}]
    response, _ = invoke(records)
    check_response(records, response)
    if not isinstance(value, dict):
        assert response["records"][0]["result"] == "ProcessingFailed"


@SETTINGS
@given(near_events)
def test_transformed_output_is_a_fixed_point(event: dict[str, Any]) -> None:
    records = [{"recordId": "r", "data": as_data(json.dumps(event).encode())}]
    response, _ = invoke(records)
    check_response(records, response)
    first = response["records"][0]
    if first["result"] == "Ok":
        again, _ = invoke([{"recordId": "r", "data": first["data"]}])
        assert again["records"][0] == first


@SETTINGS
@given(st.lists(record_data, max_size=6), st.integers(min_value=0, max_value=3_000))
def test_response_never_exceeds_its_budget_unless_nothing_could_fit(datas: list[str], limit: int) -> None:
    records = [{"recordId": str(i), "data": d} for i, d in enumerate(datas)]
    outcome = transform_records(records, max_response_bytes=limit)
    check_response(records, outcome.response)
    size = len(json.dumps(outcome.response))
    assert outcome.response_bytes == size
    all_failed = transform_records(records, max_response_bytes=-1).response_bytes
    assert size <= max(limit, all_failed)
