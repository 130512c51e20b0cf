"""Endpoint data capture made from real requests of the predict function.

``python -m tools.captures --out DIR [--listings N] [--scale living_area=1.5] [--seed S]``
sends synthetic listings (:mod:`tools.synthetic`) through the predict function's handler
(``lambda/predict``: its validation, its encoding, the CSV body and inference id it sends),
scores the bodies with the bundled model (``model/model.tar.gz``, as the built-in XGBoost
container would) and writes what SageMaker data capture stores: JSON Lines of the request
(``text/csv``) and the container's answer (``text/csv``, one prediction per line), one
record per request, in the hourly folders ``<endpoint>/<variant>/yyyy/mm/dd/hh/`` the
drift function reads. ``--scale`` multiplies a numeric feature of every listing, to see
what a drifted window looks like. The drift function's tests and benchmark use the same
functions.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import random
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import contracts
from tools import synthetic

ROOT = Path(__file__).resolve().parent.parent
PREDICT_DIR = ROOT / "lambda" / "predict"
MODEL_DIR = ROOT / "model"
ENDPOINT = "housing-endpoint"
VARIANT = "primary"
CSV = "text/csv"
CONTAINER_CSV = "text/csv; charset=utf-8"  # what the container's Flask response declares
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
SINGLE_SHARE = 0.8  # requests that score one listing (and name it); the rest are batches of 2-5

Score = Callable[[list[str]], list[float]]


def load_predict() -> Any:
    """The predict function's module, with the bundled statistics (as its asset has them)."""
    os.environ.setdefault("STATISTICS_FILE", str(MODEL_DIR / "feature_statistics.json"))
    if str(PREDICT_DIR) not in sys.path:
        sys.path.insert(0, str(PREDICT_DIR))
    return importlib.import_module("predict")


class RecordingRuntime:
    """The SageMaker runtime as the predict function calls it: keeps every call and answers
    with one placeholder per row (the real answers are scored afterwards, all at once)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        rows = kwargs["Body"].count(b"\n") + 1
        return {"Body": io.BytesIO(b"\n".join(b"0" for _ in range(rows))), "InvokedProductionVariant": VARIANT}


def model_scorer(model_dir: Path = MODEL_DIR) -> Score:
    """Scores CSV rows with the bundled booster, as the built-in XGBoost container does."""
    import numpy as np
    import xgboost as xgb

    with tarfile.open(model_dir / "model.tar.gz", "r:gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))

    def score(rows: list[str]) -> list[float]:
        matrix = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.float64, ndmin=2)
        return [float(v) for v in booster.predict(xgb.DMatrix(matrix)).tolist()]

    return score


def container_answer(predictions: Sequence[float]) -> str:
    """The container's text/csv answer: one prediction per line (numpy.savetxt with %s)."""
    return "".join(f"{p}\n" for p in predictions)


def listings(count: int, *, seed: int, scale: Mapping[str, float] | None = None) -> Iterator[dict[str, Any]]:
    """API instances: the contract's features of synthetic listings (numeric ones scaled as
    asked, within the contract's range) and their event id."""
    contract = contracts.load()
    names = {f.name for f in contract.features}
    for event in synthetic.events(count, seed=seed):
        listing = {k: v for k, v in event.items() if k in names or k == "event_id"}
        for name, factor in (scale or {}).items():
            f = contract.field(name)
            value = listing[name] * factor
            listing[name] = min(f.max, round(value)) if f.type == "integer" else min(f.max, round(value, 2))
        yield listing


def requests(instances: Iterable[dict[str, Any]], *, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Requests as API callers send them: mostly one listing, sometimes a batch of 2 to 5."""
    rng = random.Random(seed)
    pending = list(instances)
    while pending:
        size = 1 if rng.random() < SINGLE_SHARE else rng.randint(2, 5)
        yield pending[:size]
        pending = pending[size:]


def send(predict: Any, instances: Iterable[dict[str, Any]], seed: int) -> None:
    """Every request through the predict function's handler; each must succeed."""
    for i, batch in enumerate(requests(instances, seed=seed)):
        event = {"headers": {"Content-Type": "application/json"}, "body": json.dumps({"instances": batch})}
        response = predict.handler(event, SimpleNamespace(aws_request_id=f"request-{seed}-{i}"))
        if response["statusCode"] != 200:
            raise RuntimeError(f"the predict function refused a synthetic request: {response['body']}")


def capture_records(
    instances: Iterable[dict[str, Any]],
    score: Score,
    *,
    seed: int = 1,
    start: datetime = START,
    spacing: timedelta = timedelta(seconds=1),
) -> list[dict[str, Any]]:
    """One capture record per request the predict function sent, ``spacing`` apart from ``start``."""
    predict = load_predict()
    runtime = RecordingRuntime()
    previous, predict._client = predict._client, runtime
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the function logs a line per request
            send(predict, instances, seed)
    finally:
        predict._client = previous
    bodies = [call["Body"].decode("utf-8") for call in runtime.calls]
    predictions = iter(score([row for body in bodies for row in body.split("\n")]))
    rng = random.Random(seed)
    records = []
    for i, (call, body) in enumerate(zip(runtime.calls, bodies, strict=True)):
        answer = container_answer([next(predictions) for _ in body.split("\n")])
        records.append(
            {
                "captureData": {
                    "endpointInput": {"observedContentType": CSV, "mode": "INPUT", "data": body, "encoding": "CSV"},
                    "endpointOutput": {
                        "observedContentType": CONTAINER_CSV,
                        "mode": "OUTPUT",
                        "data": answer,
                        "encoding": "CSV",
                    },
                },
                "eventMetadata": {
                    "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "inferenceId": call["InferenceId"],
                    "inferenceTime": (start + i * spacing).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "eventVersion": "0",
            }
        )
    return records


def capture_files(
    records: Sequence[dict[str, Any]], *, per_file: int, endpoint: str = ENDPOINT, variant: str = VARIANT
) -> dict[str, bytes]:
    """Capture objects as SageMaker names them (relative to the capture prefix): each file
    holds up to ``per_file`` consecutive records of one hour and is named after its first."""
    files: dict[str, bytes] = {}
    rng = random.Random(len(records))
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        first = datetime.strptime(chunk[0]["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
        name = f"{first:%M-%S}-{rng.randrange(1000):03d}-{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl"
        key = f"{endpoint}/{variant}/{first:%Y/%m/%d/%H}/{name}"
        files[key] = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in chunk).encode("utf-8")
        chunk.clear()

    for record in records:
        hour = record["eventMetadata"]["inferenceTime"][:13]
        if chunk and (len(chunk) == per_file or chunk[0]["eventMetadata"]["inferenceTime"][:13] != hour):
            flush()
        chunk.append(record)
    if chunk:
        flush()
    return files


def _scale(text: str) -> tuple[str, float]:
    name, _, factor = text.partition("=")
    return name, float(factor)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.captures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for <endpoint>/<variant>/yyyy/mm/dd/hh/")
    parser.add_argument("--listings", type=int, default=1000, help="listings to send")
    parser.add_argument("--per-file", type=int, default=100, help="records per capture file")
    parser.add_argument("--scale", type=_scale, action="append", default=[], help="FEATURE=FACTOR, repeatable")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    records = capture_records(listings(args.listings, seed=args.seed, scale=dict(args.scale)), model_scorer())
    for key, body in capture_files(records, per_file=args.per_file).items():
        path = args.out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    print(json.dumps({"requests": len(records), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
