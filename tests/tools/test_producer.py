"""The producer: against a local Kinesis (moto server) and with a client that fails records."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tools import producer, synthetic
from tools.producer import Entry, SendReport, batches, main, send_events

REGION = "eu-west-1"
THROTTLED = "ProvisionedThroughputExceededException"


@pytest.fixture(scope="module")
def kinesis_endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def stream(kinesis_endpoint: str, request: pytest.FixtureRequest) -> tuple[Any, str]:
    client = boto3.client("kinesis", region_name=REGION, endpoint_url=kinesis_endpoint)
    name = f"events-{request.node.name}"[:128].replace("[", "-").replace("]", "")
    client.create_stream(StreamName=name, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return client, name


def read_stream(client: Any, name: str) -> list[dict[str, Any]]:
    """Every record of every shard, from the start."""
    records: list[dict[str, Any]] = []
    for shard in client.list_shards(StreamName=name)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def summary(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out.strip().splitlines()
    parsed: dict[str, Any] = json.loads(out[-1])
    return parsed


# ---------------------------------------------------------------------------
# Against a local Kinesis
# ---------------------------------------------------------------------------


def test_sends_synthetic_events_and_reads_them_back(
    stream: tuple[Any, str], kinesis_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = stream
    argv = ["--stream-name", name, "--count", "60", "--dirty", "--seed", "3"]
    assert main([*argv, "--region", REGION, "--endpoint-url", kinesis_endpoint]) == 0

    report = summary(capsys)
    assert report | {"error_codes": {}} == {
        "stream": name,
        "events": 60,
        "sent": 60,
        "failed": 0,
        "batches": 1,
        "attempts": 1,
        "retried": 0,
        "error_codes": {},
        "failed_codes": {},
    }
    expected = list(synthetic.events(60, seed=3, dirty=True))
    records = read_stream(client, name)
    canonical = sorted(json.dumps(json.loads(r["Data"]), sort_keys=True) for r in records)
    assert canonical == sorted(json.dumps(e, sort_keys=True) for e in expected)
    assert {r["PartitionKey"] for r in records} == {e["event_id"] for e in expected}
    assert all(r["PartitionKey"] == json.loads(r["Data"])["event_id"] for r in records)
    assert len(records) == 60


def test_replays_an_ndjson_file_byte_for_byte(
    stream: tuple[Any, str], kinesis_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = stream
    lines = [
        b'{"event_id": "a-1", "event_time": "2026-01-01T00:00:00Z"}',
        b"this line is not json",
        b'{"eventId": "no-usable-key"}',
        b"[1, 2]",
    ]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines[:2]) + b"\n\n  \r\n" + b"\r\n".join(lines[2:]) + b"\n")
    argv = ["--stream-name", name, "--file", str(path), "--region", REGION, "--endpoint-url", kinesis_endpoint]
    assert main(argv) == 0
    assert summary(capsys)["sent"] == 4

    records = read_stream(client, name)
    assert sorted(r["Data"] for r in records) == sorted(lines)
    keys = {r["Data"]: r["PartitionKey"] for r in records}
    assert keys[lines[0]] == "a-1"
    assert len(keys[lines[1]]) == 64  # a digest for lines without an event id


def test_unknown_stream_fails_with_a_non_zero_exit(kinesis_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--stream-name", "no-such-stream", "--count", "3", "--region", REGION, "--endpoint-url", kinesis_endpoint]
    assert main(argv) == 1
    report = summary(capsys)
    assert (report["sent"], report["failed"]) == (0, 3)
    assert report["failed_codes"] == {"ResourceNotFoundException": 3}


# ---------------------------------------------------------------------------
# With a client that fails records
# ---------------------------------------------------------------------------


class FlakyKinesis:
    """Fails the records whose partition key is scheduled to fail on a given call."""

    def __init__(self, failures: dict[int, dict[str, str]] | None = None, always: dict[str, str] | None = None):
        self.failures = failures or {}
        self.always = always or {}
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Records)
        failing = self.failures.get(len(self.calls), {}) | self.always
        results: list[dict[str, Any]] = []
        for index, record in enumerate(Records):
            code = failing.get(record["PartitionKey"])
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": "simulated"})
            else:
                results.append({"SequenceNumber": f"{len(self.calls)}-{index}", "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def keyed_events(count: int) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "event_time": "2026-01-01T00:00:00Z"} for i in range(count)]


def test_only_failed_records_are_retried() -> None:
    client = FlakyKinesis(failures={1: {"e1": THROTTLED, "e3": THROTTLED, "e4": "InternalFailure"}})
    sleeps: list[float] = []
    report = send_events(client, "s", keyed_events(6), sleep=sleeps.append, rng=random.Random(1))

    first, second = client.calls
    assert [r["PartitionKey"] for r in first] == ["e0", "e1", "e2", "e3", "e4", "e5"]
    assert [r["PartitionKey"] for r in second] == ["e1", "e3", "e4"]
    assert second == [first[1], first[3], first[4]]
    assert report.to_dict() == {
        "stream": "s",
        "events": 6,
        "sent": 6,
        "failed": 0,
        "batches": 1,
        "attempts": 2,
        "retried": 3,
        "error_codes": {"InternalFailure": 1, THROTTLED: 2},
        "failed_codes": {},
    }
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= producer.BASE_DELAY_SECONDS


def test_retries_back_off_exponentially_and_stop_after_max_attempts() -> None:
    client = FlakyKinesis(always={"e2": THROTTLED})
    sleeps: list[float] = []
    report = send_events(client, "s", keyed_events(4), max_attempts=4, sleep=sleeps.append, rng=random.Random(2))

    assert [len(call) for call in client.calls] == [4, 1, 1, 1]
    assert (report.sent, report.failed, report.attempts, report.retried) == (3, 1, 4, 3)
    assert report.error_codes == {THROTTLED: 4}
    assert report.failed_codes == {THROTTLED: 1}
    caps = [producer.BASE_DELAY_SECONDS * 2**n for n in range(3)]
    assert len(sleeps) == 3
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps, caps, strict=True))


def test_permanent_failures_give_a_non_zero_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(producer.time, "sleep", lambda _seconds: None)
    ids = [e["event_id"] for e in synthetic.events(5)]
    client = FlakyKinesis(always={ids[0]: THROTTLED, ids[3]: "InternalFailure"})
    assert main(["--stream-name", "s", "--count", "5", "--max-attempts", "3"], client=client) == 1
    report = summary(capsys)
    assert (report["sent"], report["failed"], report["attempts"]) == (3, 2, 3)
    assert report["failed_codes"] == {"InternalFailure": 1, THROTTLED: 1}


def test_a_failed_call_fails_its_records_without_retrying_them() -> None:
    class Broken:
        calls = 0

        def put_records(self, **_: Any) -> dict[str, Any]:
            Broken.calls += 1
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutRecords")

    report = send_events(Broken(), "s", keyed_events(3), sleep=lambda _s: None)
    assert Broken.calls == 1
    assert (report.sent, report.failed, report.failed_codes) == (0, 3, {"AccessDeniedException": 3})


def test_records_over_the_kinesis_limit_are_not_sent() -> None:
    client = FlakyKinesis()
    events = [*keyed_events(2), {"event_id": "huge", "blob": "x" * producer.MAX_RECORD_BYTES}]
    report = send_events(client, "s", events, sleep=lambda _s: None)
    assert [r["PartitionKey"] for r in client.calls[0]] == ["e0", "e1"]
    assert (report.events, report.sent, report.failed) == (3, 2, 1)
    assert report.failed_codes == {producer.RECORD_TOO_LARGE: 1}


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------


def test_batches_respect_the_record_and_byte_limits() -> None:
    small = [Entry(b"{}", f"k{i}") for i in range(1201)]
    assert [len(b) for b in batches(small)] == [500, 500, 201]
    large = [Entry(b"x" * 1_000_000, f"k{i}") for i in range(12)]
    sizes = [sum(e.size for e in b) for b in batches(large)]
    assert [len(b) for b in batches(large)] == [5, 5, 2]
    assert max(sizes) <= producer.MAX_BATCH_BYTES


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [("abc", "abc"), (42, "42"), ("", None), (None, None), (True, None), ("k" * 257, None), ("k" * 256, "k" * 256)],
)
def test_partition_key_is_the_event_id_when_usable(event_id: Any, expected: str | None) -> None:
    key = producer.partition_key(event_id, b"data")
    assert key == (expected if expected is not None else producer.hashlib.sha256(b"data").hexdigest())


def test_backoff_is_capped() -> None:
    rng = random.Random(0)
    assert all(0 <= producer.backoff_delay(30, rng) <= producer.MAX_DELAY_SECONDS for _ in range(100))


def test_report_renders_one_line() -> None:
    report = SendReport(stream="s", events=2, sent=1, failed=1, batches=1, attempts=3)
    report.error_codes[THROTTLED] = 3
    assert "\n" not in report.render() and "1/2 events" in report.render()


def test_bad_arguments_exit_with_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as both:
        main(["--stream-name", "s", "--count", "1", "--file", "x"])
    assert both.value.code == 2
    with pytest.raises(SystemExit) as negative:
        main(["--stream-name", "s", "--count", "-1"])
    assert negative.value.code == 2
    assert main(["--stream-name", "s", "--file", str(tmp_path / "missing.ndjson")], client=FlakyKinesis()) == 2
