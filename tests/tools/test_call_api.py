"""The API smoke tool against a local HTTP server that checks the SigV4 headers."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import call_api

PREDICTION = {"predictions": [{"price": 412345.5}, {"price": 987654.0}]}
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$"
)


@dataclass
class Api:
    url: str
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            authorization = self.headers.get("Authorization", "")
            if not AUTHORIZATION.match(authorization) or not self.headers.get("X-Amz-Date"):
                status, reply = 403, {"message": "Missing Authentication Token"}
            elif state.status != 200:
                status, reply = state.status, {"message": "Internal server error"}
            else:
                status, reply = 200, PREDICTION
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/prod/v1/predict"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-example")


@pytest.mark.usefixtures("credentials")
def test_signed_post_prints_prediction(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert call_api.main(["--url", api.url, "--region", "eu-west-1"]) == 0
    assert json.loads(capsys.readouterr().out) == PREDICTION
    (request,) = api.requests
    headers = request["headers"]
    assert request["path"] == "/prod/v1/predict"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])
    assert headers["X-Amz-Security-Token"] == "session-token-example"
    assert headers["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert len(body["instances"]) == 2
    assert {"living_area", "home_type"} <= set(body["instances"][0])
    assert "price" not in body["instances"][0]


@pytest.mark.usefixtures("credentials")
def test_file_body_is_sent_verbatim(api: Api, tmp_path: Path) -> None:
    instances = tmp_path / "instances.json"
    instances.write_text('{"instances": [{"living_area": 80, "home_type": "condo"}]}')
    assert call_api.main(["--url", api.url, "--region", "eu-west-1", "--file", str(instances)]) == 0
    assert api.requests[0]["body"] == instances.read_bytes()


@pytest.mark.usefixtures("credentials")
def test_http_error_exits_non_zero_with_message(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.status = 502
    assert call_api.main(["--url", api.url, "--region", "eu-west-1"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: HTTP 502 Bad Gateway from {api.url}" in captured.err
    assert "Internal server error" in captured.err


@pytest.mark.usefixtures("credentials")
def test_wrong_region_is_rejected_by_the_server(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert call_api.main(["--url", api.url, "--region", "us-east-1"]) == 1
    assert "HTTP 403" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.usefixtures("credentials")
def test_unreachable_url_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}/v1/predict"
    assert call_api.main(["--url", closed, "--region", "eu-west-1", "--timeout", "2"]) == 1
    assert f"error: could not reach {closed}" in capsys.readouterr().err


def test_invalid_json_file_exits_2(credentials: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = ["--url", "http://127.0.0.1:9/v1/predict", "--region", "eu-west-1", "--file", str(bad)]
    assert call_api.main(args) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_missing_credentials_exit_2(
    credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    assert call_api.main(["--url", "http://127.0.0.1:9/v1/predict", "--region", "eu-west-1"]) == 2
    assert "no AWS credentials found" in capsys.readouterr().err


def test_profile_signs_with_that_profiles_credentials(
    credentials: None, api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    shared = tmp_path / "credentials"
    shared.write_text(
        "[sandbox-admin]\naws_access_key_id = AKIDEXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    assert call_api.main(["--url", api.url, "--region", "eu-west-1", "--profile", "sandbox-admin"]) == 0
    assert api.requests[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")


def test_unknown_profile_exits_2(credentials: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--url", "http://127.0.0.1:9/v1/predict", "--region", "eu-west-1", "--profile", "nope"]
    assert call_api.main(argv) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/v1/predict", "execute-api"),
        (
            "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/e/invocations",
            "sagemaker",
        ),
    ],
)
def test_signing_service(url: str, service: str) -> None:
    assert call_api.signing_service(url) == service
