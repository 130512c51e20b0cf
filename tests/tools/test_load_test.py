"""The load-test tool against a local HTTP server that sometimes fails with 500 and 503."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import load_test
from tools.load_test import LoadTestConfig, percentile, run


@dataclass
class Server:
    """A local endpoint: every 10th request (from the 4th) is a 500, from the 8th a 503."""

    url: str = ""
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    def status_for(self, index: int) -> int:
        return {3: 500, 7: 503}.get(index % 10, 200)


class QuietServer(ThreadingHTTPServer):
    """Drops the traceback of a reply to a client that already timed out and hung up."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with state.lock:
                status = state.status_for(sum(state.statuses.values()))
                state.statuses[status] += 1
                state.bodies.append(body)
                state.authorizations.append(self.headers.get("Authorization", ""))
            if state.delay:
                time.sleep(state.delay)
            data = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _reply
        do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/predict"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_counts_match_the_server_and_max_requests_bounds_the_run(server: Server) -> None:
    report = run(LoadTestConfig(url=server.url, concurrency=4, duration=30, max_requests=100))
    assert report.requests == 100
    assert report.by_status == {"200": 80, "500": 10, "503": 10}
    assert report.by_status == {str(k): v for k, v in server.statuses.items()}
    assert report.errors == 20 and report.error_rate == pytest.approx(0.2)
    assert len(report.latencies) == 100
    latency = report.latency_ms()
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert report.elapsed < 5


def test_duration_bounds_the_run(server: Server) -> None:
    server.delay = 0.02
    began = time.monotonic()
    report = run(LoadTestConfig(url=server.url, concurrency=3, duration=0.3))
    wall = time.monotonic() - began
    assert 0.3 <= wall < 1.3
    assert 5 < report.requests < 60
    assert report.requests == sum(server.statuses.values())
    assert report.throughput == pytest.approx(report.requests / report.elapsed)


def test_rate_caps_requests_per_second(server: Server) -> None:
    report = run(LoadTestConfig(url=server.url, concurrency=4, duration=0.3, rate=50))
    assert 11 <= report.requests <= 15


def test_slow_responses_time_out_and_count_as_errors(server: Server) -> None:
    server.delay = 0.6
    began = time.monotonic()
    report = run(LoadTestConfig(url=server.url, concurrency=2, duration=5, max_requests=2, timeout=0.1))
    assert time.monotonic() - began < 1.0
    assert report.by_status == {"error:TimeoutError": 2}
    assert report.errors == 2 and report.latencies == ()


def test_refused_connections_are_counted(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/predict"
    report = run(LoadTestConfig(url=url, concurrency=2, duration=5, max_requests=6))
    assert report.by_status == {"error:ConnectionRefusedError": 6}


def test_cli_posts_body_signed_and_prints_json(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    body = tmp_path / "body.json"
    body.write_text('{"instances": [{"living_area": 90}]}')
    args = [
        "--url",
        server.url,
        "--body",
        str(body),
        "--concurrency",
        "2",
        "--duration",
        "10",
        "--max-requests",
        "10",
        "--sigv4",
        "--region",
        "eu-west-1",
        "--json",
        "--max-error-rate",
        "0.5",
    ]
    assert load_test.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["requests"] == 10
    assert printed["by_status"] == {"200": 8, "500": 1, "503": 1}
    assert set(printed["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert server.bodies == [body.read_bytes()] * 10
    assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") for a in server.authorizations)


def test_cli_fails_when_error_rate_exceeds_the_limit(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--url", server.url, "--max-requests", "10", "--max-error-rate", "0.1"]
    assert load_test.main(args) == 1
    captured = capsys.readouterr()
    assert "errors     2 (20.0%)" in captured.out
    assert "exceeds 10.0%" in captured.err


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"concurrency": 0}, "concurrency must be"),
        ({"concurrency": 10_000}, "concurrency must be"),
        ({"duration": 0}, "duration must be"),
        ({"duration": 86_400}, "duration must be"),
        ({"max_requests": 0}, "max_requests must be"),
        ({"rate": -1.0}, "rate must be"),
        ({"url": "ftp://example.com/x"}, "url must be"),
    ],
)
def test_unbounded_or_invalid_runs_are_rejected(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"url": "http://127.0.0.1:9/", **overrides}
    with pytest.raises(ValueError, match=message):
        LoadTestConfig(**settings)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 50) == 0.0
