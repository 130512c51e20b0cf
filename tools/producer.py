"""Send housing events to the pipeline's Kinesis data stream.

``python -m tools.producer --stream-name NAME [--count N | --file events.ndjson]
[--region R] [--endpoint-url URL] [--seed S] [--dirty] [--max-attempts A]``

Events come from the deterministic synthetic generator (``--dirty`` mixes in the
defects real producers send) or, with ``--file``, from an NDJSON file whose lines are
sent byte for byte, so a captured stream can be replayed exactly, garbage included.

PutRecords is not all-or-nothing: a call can succeed while some of its records are
throttled. Only those records are sent again, with exponential backoff and full
jitter, up to a bounded number of attempts. The run ends with one JSON summary line on
stdout (sent, failed, attempts, error codes); the exit code is non-zero if any event
was finally not written.

Exit codes: 0 all events written, 1 some events not written, 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import synthetic

# Kinesis PutRecords limits: 500 records and 5 MiB per request; a record's data plus
# its partition key at most 1 MiB; a partition key 1 to 256 characters.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_LENGTH = 256

DEFAULT_COUNT = 100
DEFAULT_MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 5.0
RECORD_TOO_LARGE = "RecordTooLarge"


@dataclass(frozen=True)
class Entry:
    """One PutRecords entry, ready to send."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))

    def to_request(self) -> dict[str, Any]:
        return {"Data": self.data, "PartitionKey": self.partition_key}


@dataclass
class SendReport:
    """What a run wrote, what it could not, and what Kinesis said along the way."""

    stream: str
    events: int = 0
    sent: int = 0
    failed: int = 0
    batches: int = 0
    attempts: int = 0
    retried: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)
    failed_codes: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "events": self.events,
            "sent": self.sent,
            "failed": self.failed,
            "batches": self.batches,
            "attempts": self.attempts,
            "retried": self.retried,
            "error_codes": dict(sorted(self.error_codes.items())),
            "failed_codes": dict(sorted(self.failed_codes.items())),
        }

    def render(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.error_codes.items())) or "none"
        return (
            f"{self.sent}/{self.events} events written to {self.stream}, {self.failed} failed after retries; "
            f"{self.attempts} PutRecords calls in {self.batches} batches, {self.retried} records retried; "
            f"error codes: {codes}"
        )


# ---------------------------------------------------------------------------
# Building entries and batches
# ---------------------------------------------------------------------------


def partition_key(event_id: Any, data: bytes) -> str:
    """The event id (so one listing's events stay ordered on one shard), or, for events
    without a usable id, a digest of the data, which still spreads load over shards."""
    if isinstance(event_id, str | int) and not isinstance(event_id, bool):
        key = str(event_id)
        if 1 <= len(key) <= MAX_PARTITION_KEY_LENGTH:
            return key
    return hashlib.sha256(data).hexdigest()


def event_entry(event: dict[str, Any]) -> Entry:
    """A synthetic event as compact JSON, keyed by its event id."""
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    return Entry(data, partition_key(event.get("event_id"), data))


def line_entry(line: bytes) -> Entry:
    """An NDJSON line sent as is; keyed by its event id when it is a JSON object with one."""
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
    return Entry(line, partition_key(event_id, line))


def read_ndjson(path: Path) -> Iterator[Entry]:
    """Entries for every non-blank line of an NDJSON file (line endings removed)."""
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield line_entry(line)


def batches(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Group entries into PutRecords requests of at most 500 records and 5 MiB."""
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + entry.size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------


def backoff_delay(retry: int, rng: random.Random, base: float = BASE_DELAY_SECONDS) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(retry - 1))]."""
    return rng.uniform(0.0, min(MAX_DELAY_SECONDS, base * 2 ** (retry - 1)))


def _call_error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def _call_errors() -> tuple[type[Exception], ...]:
    """Errors of a whole PutRecords call, left after the SDK's own retries."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def send_batch(
    client: Any,
    stream_name: str,
    batch: list[Entry],
    report: SendReport,
    *,
    max_attempts: int,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> None:
    """Send one batch, re-sending only the records Kinesis reports as failed."""
    pending = batch
    last_codes: list[str] = []
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            report.retried += len(pending)
            sleep(backoff_delay(attempt - 1, rng))
        report.attempts += 1
        try:
            response = client.put_records(StreamName=stream_name, Records=[e.to_request() for e in pending])
        except _call_errors() as error:
            code = _call_error_code(error)
            report.error_codes[code] += len(pending)
            last_codes = [code] * len(pending)
            break  # the SDK already retried what a retry can fix
        results = response.get("Records", [])
        if len(results) != len(pending):
            raise RuntimeError(f"PutRecords answered {len(results)} results for {len(pending)} records")
        still: list[Entry] = []
        last_codes = []
        for entry, result in zip(pending, results, strict=True):
            code = result.get("ErrorCode")
            if code:
                report.error_codes[code] += 1
                still.append(entry)
                last_codes.append(code)
            else:
                report.sent += 1
        pending = still
        if not pending:
            return
    report.failed += len(pending)
    report.failed_codes.update(last_codes)


def send_events(
    client: Any,
    stream_name: str,
    entries: Iterable[Entry | dict[str, Any]],
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SendReport:
    """Send events (dicts or prepared entries) to a stream; return what happened.

    Records over the 1 MiB Kinesis limit are not sent and count as failed
    (``RecordTooLarge``).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    rng = rng or random.Random()
    report = SendReport(stream=stream_name)

    def sendable() -> Iterator[Entry]:
        for item in entries:
            entry = item if isinstance(item, Entry) else event_entry(item)
            report.events += 1
            if entry.size > MAX_RECORD_BYTES:
                report.error_codes[RECORD_TOO_LARGE] += 1
                report.failed_codes[RECORD_TOO_LARGE] += 1
                report.failed += 1
                continue
            yield entry

    for batch in batches(sendable()):
        report.batches += 1
        send_batch(client, stream_name, batch, report, max_attempts=max_attempts, sleep=sleep, rng=rng)
    return report


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def kinesis_client(region: str | None, endpoint_url: str | None) -> Any:
    """A Kinesis client whose SDK retries whole-call errors (throttling, 5xx, network)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=30)
    return boto3.client("kinesis", region_name=region, endpoint_url=endpoint_url, config=config)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.producer", description="Send housing events to a Kinesis data stream."
    )
    parser.add_argument("--stream-name", required=True, help="name of the Kinesis data stream")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--count", type=int, default=None, help=f"synthetic events to send (default {DEFAULT_COUNT})")
    source.add_argument("--file", type=Path, help="NDJSON file whose lines are sent as they are")
    parser.add_argument("--region", help="AWS region (default: the SDK's configuration)")
    parser.add_argument("--endpoint-url", help="Kinesis endpoint, e.g. a local emulator")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic generator (default 7)")
    parser.add_argument("--dirty", action="store_true", help="mix in the defects real producers send")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"PutRecords attempts per record (default {DEFAULT_MAX_ATTEMPTS})",
    )
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 0:
        parser.error("--count must not be negative")
    if args.max_attempts < 1:
        parser.error("--max-attempts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None, *, client: Any = None) -> int:
    """Run the producer; ``client`` replaces the boto3 client (tests)."""
    args = parse_args(argv)
    entries: Iterable[Entry | dict[str, Any]]
    if args.file is not None:
        if not args.file.is_file():
            print(f"error: no such file: {args.file}", file=sys.stderr)
            return 2
        entries = read_ndjson(args.file)
    else:
        count = DEFAULT_COUNT if args.count is None else args.count
        entries = synthetic.events(count, seed=args.seed, dirty=args.dirty)
    try:
        report = send_events(
            client or kinesis_client(args.region, args.endpoint_url),
            args.stream_name,
            entries,
            max_attempts=args.max_attempts,
        )
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.render(), file=sys.stderr)
    print(json.dumps(report.to_dict()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
