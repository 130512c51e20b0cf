"""Smoke-test the deployed prediction API with one SigV4-signed request.

``python -m tools.call_api --url https://{api}.execute-api.{region}.amazonaws.com/{stage}/v1/predict
--region R [--file instances.json] [--profile P]`` signs a POST with the credentials of
the profile, else of the default boto3 session (environment, SSO, instance role...),
sends it and prints the
JSON response. The body is the file's JSON as is; without ``--file`` it is
``{"instances": [...]}`` holding the feature fields of two synthetic listings.

Exit codes: 0 on a 2xx response, 1 on an HTTP or network error, 2 on bad input or
missing credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import contracts
from tools import synthetic

DEFAULT_TIMEOUT = 30.0
JSON_CONTENT_TYPE = "application/json"


class CredentialsError(RuntimeError):
    """No AWS credentials could be found for signing."""


def signing_service(url: str) -> str:
    """SigV4 service name for a URL: SageMaker runtime endpoints sign as "sagemaker"."""
    host = (urlsplit(url).hostname or "").lower()
    if host.startswith(("runtime.sagemaker.", "runtime-fips.sagemaker.")):
        return "sagemaker"
    return "execute-api"


def default_credentials(profile: str | None = None) -> Any:
    """Credentials of the boto3 session of ``profile`` (else the SDK's default
    configuration); refreshable ones refresh when read."""
    from botocore.exceptions import ProfileNotFound

    from tools.stage import session

    try:
        credentials = session(profile).get_credentials()
    except ProfileNotFound as error:
        raise CredentialsError(f"{error} (see `aws configure list-profiles`)") from error
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found (set AWS_PROFILE, run `aws sso login`, or export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    return credentials


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    *,
    region: str,
    credentials: Any,
    service: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The request headers plus the SigV4 Authorization, X-Amz-Date (and session token)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(credentials, service or signing_service(url), region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def default_body(count: int = 2, seed: int = 7) -> bytes:
    """``{"instances": [...]}`` with the feature fields of synthetic listings."""
    features = [f.name for f in contracts.load().features]
    instances = [
        {name: event[name] for name in features if name in event} for event in synthetic.events(count, seed=seed)
    ]
    return json.dumps({"instances": instances}).encode("utf-8")


def read_body(path: Path) -> bytes:
    """The file's bytes, after checking they are one JSON document."""
    data = path.read_bytes()
    try:
        json.loads(data)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    return data


def call(
    url: str,
    body: bytes,
    *,
    region: str,
    credentials: Any,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[int, bytes]:
    """POST the signed body; (status, response body). Raises urllib errors on failure."""
    headers = signed_headers(
        "POST",
        url,
        body,
        region=region,
        credentials=credentials,
        headers={"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE},
    )
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status), bytes(response.read())


def _pretty(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.call_api",
        description="Send one SigV4-signed prediction request and print the response.",
    )
    parser.add_argument("--url", required=True, help="the API's /v1/predict URL")
    parser.add_argument("--region", required=True, help="region the API is deployed in")
    parser.add_argument("--file", type=Path, help="JSON request body (default: 2 instances)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    parser.add_argument("--profile", help="AWS profile to sign with (default: the SDK's configuration)")
    args = parser.parse_args(argv)

    if urlsplit(args.url).scheme not in ("http", "https"):
        print(f"error: --url must be an http(s) URL, got {args.url!r}", file=sys.stderr)
        return 2
    try:
        body = read_body(args.file) if args.file else default_body()
        credentials = default_credentials(args.profile)
    except (OSError, ValueError, CredentialsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    try:
        _, data = call(args.url, body, region=args.region, credentials=credentials, timeout=args.timeout)
    except urllib.error.HTTPError as error:
        detail = _pretty(error.read())
        print(f"error: HTTP {error.code} {error.reason} from {args.url}", file=sys.stderr)
        if detail:
            print(detail, file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        print(f"error: could not reach {args.url}: {reason}", file=sys.stderr)
        return 1
    print(_pretty(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
