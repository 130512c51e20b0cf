"""Bounded load test of the prediction API or a SageMaker runtime endpoint URL.

``python -m tools.load_test --url URL [--concurrency C] [--duration S] [--max-requests N]
[--rate R] [--body FILE] [--sigv4 --region R]`` runs C worker threads, each with one
persistent HTTP(S) connection, sending requests back to back (or paced so that all
workers together send at most R requests a second) until S seconds have passed or N
requests were sent, whichever comes first; a request still in flight at the end
finishes or times out (``--timeout``). It then reports throughput, latency
percentiles and the count of each HTTP status and transport error.

Every run is bounded: concurrency, duration and rate have hard upper limits, so the
tool always stops by itself. See docs/load-testing.md for finding the sustainable
request rate of an endpoint with it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_CONCURRENCY = 256
MAX_DURATION = 3600.0
MAX_RATE = 10000.0
DEFAULT_CONCURRENCY = 4
DEFAULT_DURATION = 10.0
DEFAULT_TIMEOUT = 10.0
STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

Signer = Callable[[str, str, bytes], Mapping[str, str]]


@dataclass(frozen=True)
class LoadTestConfig:
    """What to send, and the bounds of the run."""

    url: str
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = DEFAULT_CONCURRENCY
    duration: float = DEFAULT_DURATION
    max_requests: int | None = None
    rate: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    signer: Signer | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http(s) URL with a host, got {self.url!r}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {self.concurrency}")
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] s, got {self.duration}")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {self.max_requests}")
        if self.rate is not None and not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE:g}] req/s, got {self.rate}")
        if not 0 < self.timeout <= MAX_DURATION:
            raise ValueError(f"timeout must be in (0, {MAX_DURATION:g}] s, got {self.timeout}")


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class LoadTestReport:
    """Outcome of a run. Latencies cover requests that got an HTTP response."""

    requests: int
    elapsed: float
    by_status: dict[str, int]
    latencies: tuple[float, ...]

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if not status.startswith("2"))

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def latency_ms(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        values = {f"p{p}": percentile(ordered, p) for p in (50, 90, 99)}
        values["max"] = ordered[-1] if ordered else 0.0
        return {name: round(seconds * 1000.0, 2) for name, seconds in values.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "elapsed_s": round(self.elapsed, 3),
            "throughput_rps": round(self.throughput, 2),
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "by_status": dict(sorted(self.by_status.items())),
            "latency_ms": self.latency_ms(),
        }

    def render(self) -> str:
        latency = self.latency_ms()
        statuses = "  ".join(f"{s}={n}" for s, n in sorted(self.by_status.items())) or "-"
        return "\n".join(
            [
                f"requests   {self.requests} in {self.elapsed:.2f} s ({self.throughput:.1f} req/s)",
                f"status     {statuses}",
                f"errors     {self.errors} ({self.error_rate:.1%})",
                "latency ms " + "  ".join(f"{k}={v:.1f}" for k, v in latency.items()),
            ]
        )


class _Run:
    """Shared state of one run: the request budget, the clock and the results."""

    def __init__(self, config: LoadTestConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.issued = 0
        self.start = time.monotonic()
        self.deadline = self.start + config.duration
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        parts = urlsplit(config.url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def next_slot(self) -> float | None:
        """When this worker may send its next request, or None when the run is over."""
        with self.lock:
            if self.stop.is_set() or time.monotonic() >= self.deadline:
                return None
            limit = self.config.max_requests
            if limit is not None and self.issued >= limit:
                return None
            rate = self.config.rate
            slot = self.start + self.issued / rate if rate else time.monotonic()
            if slot >= self.deadline:
                return None
            self.issued += 1
        return slot

    def connect(self) -> http.client.HTTPConnection:
        timeout = self.config.timeout
        if self.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self) -> dict[str, str]:
        config = self.config
        headers = dict(config.headers)
        if config.signer is not None:
            headers = dict(config.signer(config.method, config.url, config.body))
        return headers

    def send(self, connection: http.client.HTTPConnection, reused: bool) -> int:
        config = self.config
        body = config.body if config.method not in ("GET", "HEAD") else None
        try:
            connection.request(config.method, self.target, body=body, headers=self.headers())
            response = connection.getresponse()
        except STALE_CONNECTION_ERRORS:
            if not reused:
                raise
            connection.close()
            connection.request(config.method, self.target, body=body, headers=self.headers())
            response = connection.getresponse()
        response.read()
        if response.will_close:
            connection.close()
        return int(response.status)

    def record(self, status: str, latency: float | None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if latency is not None:
                self.latencies.append(latency)

    def worker(self) -> None:
        connection = self.connect()
        used = False
        try:
            while True:
                slot = self.next_slot()
                if slot is None:
                    return
                delay = slot - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    return
                began = time.monotonic()
                try:
                    status = self.send(connection, reused=used and connection.sock is not None)
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    self.record(f"error:{type(error).__name__}", None)
                else:
                    self.record(str(status), time.monotonic() - began)
                used = True
        finally:
            connection.close()


def run(config: LoadTestConfig) -> LoadTestReport:
    """Run the load test to its bounds and report."""
    state = _Run(config)
    workers = [threading.Thread(target=state.worker, name=f"load-{i}", daemon=True) for i in range(config.concurrency)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(timeout=0.2)
    except KeyboardInterrupt:
        state.stop.set()
        for worker in workers:
            worker.join(timeout=config.timeout + 1.0)
    elapsed = time.monotonic() - state.start
    with state.lock:
        return LoadTestReport(
            requests=sum(state.statuses.values()),
            elapsed=elapsed,
            by_status=dict(state.statuses),
            latencies=tuple(state.latencies),
        )


def sigv4_signer(region: str, extra_headers: Mapping[str, str]) -> Signer:
    """A signer that adds fresh SigV4 headers (default boto3 credentials) to each request."""
    from tools.call_api import default_credentials, signed_headers

    credentials = default_credentials()

    def sign(method: str, url: str, body: bytes) -> Mapping[str, str]:
        return signed_headers(method, url, body, region=region, credentials=credentials, headers=extra_headers)

    return sign


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must be 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.load_test",
        description="Bounded load test: throughput, latency percentiles and errors by status.",
    )
    parser.add_argument("--url", required=True, help="API or endpoint URL")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help=f"worker threads (1..{MAX_CONCURRENCY})"
    )
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION, help=f"seconds to run (at most {MAX_DURATION:g})"
    )
    parser.add_argument("--max-requests", type=int, help="stop after this many requests")
    parser.add_argument("--rate", type=float, help="cap on requests per second, all workers")
    parser.add_argument("--body", type=Path, help="request body file (the method becomes POST)")
    parser.add_argument("--content-type", default="application/json", help="body content type")
    parser.add_argument("--method", help="HTTP method (default: POST with --body, else GET)")
    parser.add_argument(
        "--header",
        action="append",
        type=_parse_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request")
    parser.add_argument("--sigv4", action="store_true", help="sign requests with SigV4")
    parser.add_argument("--region", help="region for --sigv4")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--max-error-rate", type=float, help="exit 1 when the share of non-2xx/failed requests exceeds this"
    )
    args = parser.parse_args(argv)

    if args.sigv4 and not args.region:
        parser.error("--sigv4 needs --region")
    try:
        body = args.body.read_bytes() if args.body else b""
        headers = dict(args.header)
        if args.body:
            headers.setdefault("Content-Type", args.content_type)
        signer = sigv4_signer(args.region, headers) if args.sigv4 else None
        config = LoadTestConfig(
            url=args.url,
            method=(args.method or ("POST" if args.body else "GET")).upper(),
            body=body,
            headers=headers,
            concurrency=args.concurrency,
            duration=args.duration,
            max_requests=args.max_requests,
            rate=args.rate,
            timeout=args.timeout,
            signer=signer,
        )
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    report = run(config)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    if args.max_error_rate is not None and report.error_rate > args.max_error_rate:
        print(
            f"error rate {report.error_rate:.1%} exceeds {args.max_error_rate:.1%}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
