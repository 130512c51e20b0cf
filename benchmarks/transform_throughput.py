"""Throughput of the Firehose transform Lambda against the cost of merely re-serialising.

The floor is the least any transform must do per record: base64-decode, ``json.loads``,
``json.dumps``, base64-encode. The handler adds name normalisation, unit conversion,
validation, timestamp normalisation, partition keys, the response-size budget and its
logs; the ratio handler / floor says what that costs, independent of the machine.

Run: ``python -m benchmarks.transform_throughput`` (from the repository root).
"""

from __future__ import annotations

import base64
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import report
from tools import synthetic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "stream_transform"))

import stream_transform  # noqa: E402

COMMAND = "python -m benchmarks.transform_throughput"
TARGET_REQUEST_BYTES = 6_000_000
GARBAGE_EVERY = 50
REPETITIONS = 11
TARGET_RATIO = 2.0


class _NullSink:
    """Stands in for stdout so log writes cost their formatting, not the terminal."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _garbage(rng: random.Random) -> bytes:
    return rng.choice(
        (
            b"\x00\xff\xfe not json",
            b'{"event_id": "x", "event_time": ',
            b"[1, 2, 3]",
            b'{"event_id": "x", "event_time": "2026-01-01T00:00:00"}',
            b'{"event_id": "x", "event_time": 1767225600, "colour": "red"}',
        )
    )


def _envelope(index: int, data: str) -> dict[str, Any]:
    """A record as Firehose delivers it from a Kinesis source."""
    sequence = f"{49_650_000_000_000_000_000_000_000_000_000_000_000_000_000 + index}"
    return {
        "recordId": f"{sequence}000000000000",
        "approximateArrivalTimestamp": 1_767_225_600_000 + index,
        "data": data,
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000000",
            "partitionKey": f"key-{index}",
            "approximateArrivalTimestamp": 1_767_225_600_000 + index,
            "sequenceNumber": sequence,
            "subsequenceNumber": "",
        },
    }


def build_event(target_bytes: int = TARGET_REQUEST_BYTES) -> dict[str, Any]:
    """A Firehose invocation of about ``target_bytes``: dirty synthetic events plus garbage."""
    rng = random.Random(11)
    source = synthetic.events(1_000_000, seed=11, dirty=True)
    event: dict[str, Any] = {
        "invocationId": "benchmark",
        "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/bench",
        "sourceKinesisStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/bench",
        "region": "eu-west-1",
        "records": [],
    }
    size = len(json.dumps(event))
    index = 0
    while True:
        garbage = index % GARBAGE_EVERY == GARBAGE_EVERY - 1
        raw = _garbage(rng) if garbage else json.dumps(next(source)).encode()
        record = _envelope(index, base64.b64encode(raw).decode())
        record_size = len(json.dumps(record)) + len(", ")
        if size + record_size > target_bytes:
            return event
        event["records"].append(record)
        size += record_size
        index += 1


def floor(event: dict[str, Any]) -> list[str]:
    """Decode, parse, serialise and encode every record, and nothing else."""
    out = []
    for record in event["records"]:
        try:
            value = json.loads(base64.b64decode(record["data"]))
        except ValueError:
            value = None
        out.append(base64.b64encode(json.dumps(value).encode()).decode())
    return out


def run_handler(event: dict[str, Any]) -> dict[str, Any]:
    saved, sys.stdout = sys.stdout, _NullSink()
    try:
        return stream_transform.handler(event, None)
    finally:
        sys.stdout = saved


def _time(fn: Any, event: dict[str, Any]) -> float:
    started = time.perf_counter()
    fn(event)
    return time.perf_counter() - started


def measure(event: dict[str, Any], repetitions: int = REPETITIONS) -> dict[str, Any]:
    """Median seconds of floor and handler, interleaved so load drifts hit both alike."""
    run_handler(event)
    floor(event)
    floor_s: list[float] = []
    handler_s: list[float] = []
    for _ in range(repetitions):
        floor_s.append(_time(floor, event))
        handler_s.append(_time(run_handler, event))
    response = run_handler(event)
    return {
        "records": len(event["records"]),
        "request_bytes": len(json.dumps(event)),
        "response_bytes": len(json.dumps(response)),
        "results": Counter(r["result"] for r in response["records"]),
        "floor_s": report.median(floor_s),
        "handler_s": report.median(handler_s),
    }


def render(m: dict[str, Any], repetitions: int = REPETITIONS) -> str:
    mb = m["request_bytes"] / 1_000_000
    ratio = m["handler_s"] / m["floor_s"]
    rows = [
        ("Firehose transform handler", m["handler_s"]),
        ("Floor: b64decode + json.loads + json.dumps + b64encode", m["floor_s"]),
    ]
    lines = [
        "## Firehose transform throughput",
        "",
        f"One Firehose invocation of {m['records']:,} records ({mb:.2f} MB request, "
        f"{m['response_bytes'] / 1_000_000:.2f} MB response), dirty synthetic events "
        f"plus one garbage record in {GARBAGE_EVERY}; median of {repetitions} interleaved "
        f"runs; results: {dict(sorted(m['results'].items()))}.",
        "",
        "| Loop | Median (ms) | MB/s | Records/s |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds * 1000:.1f} | {mb / seconds:.1f} | {m['records'] / seconds:,.0f} |")
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    lines += [
        "",
        f"**Ratio handler / floor: {ratio:.2f}** (target <= {TARGET_RATIO:.1f}, {verdict}).",
        "",
        f"Regenerate: `{COMMAND}`",
    ]
    return "\n".join(lines)


def main() -> int:
    event = build_event()
    measured = measure(event)
    body = render(measured)
    report.write_section("transform_throughput", body)
    print(body)
    return 0 if measured["handler_s"] / measured["floor_s"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
