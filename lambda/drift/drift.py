"""Drift function: one window of captured inference traffic against each variant's training baseline.

Scheduled by EventBridge. For every monitored variant it lists the endpoint's data capture
for the window (``<prefix><endpoint>/<variant>/yyyy/mm/dd/hh/``, every page), decodes the
capture JSON Lines (CSV, JSON or base64 input and output), turns each request into the
encoded feature vector the model saw (CSV rows are that vector; JSON records of business
fields are encoded with the encoding the baseline was fitted with, ``contracts.features``),
and compares the window with the baseline of the model the variant serves
(``contracts.drift``): PSI per feature and for the predictions, KS for numeric ones.

Results go three ways: CloudWatch metrics in the embedded metric format (log lines the
logs service turns into metrics, so the function in its isolated subnets needs no
monitoring endpoint and makes no PutMetricData calls), a drift report JSON in the lake,
and one summary log line per variant. Below the minimum sample size only the counts are
published, so an empty or thin window never raises a drift alarm.

Bad capture data never stops a run and never disappears: a line that cannot be read is
counted as a skipped record, a vector that cannot be the model's input (wrong width, a
non-finite number, a category the encoding cannot produce) as a skipped row, each by
reason, and the report lists the first few with their object key and line number.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import boto3

from contracts.drift import (
    CATEGORICAL,
    METRIC_NAMESPACE,
    PREDICTION,
    NumericBaseline,
    load_baseline,
    monitored_features,
    psi,
)
from contracts.features import FeatureEncoder

HERE = Path(__file__).resolve().parent
# Capture files of an hour are written within minutes after it: a run looks at the hours
# that ended at least this long before its scheduled time.
SETTLE = timedelta(minutes=10)
READ_THREADS = 8
READ_BATCH = 64
MAX_EXAMPLES = 20
LOG_JSON = json.JSONEncoder(allow_nan=False, default=str)

_s3: Any = None
_baselines: dict[str, Any] = {}


class BadRecord(Exception):
    """A capture line that cannot be read; the message is the reason it is counted under."""


@dataclass(frozen=True)
class Settings:
    """What a run needs, from the function's environment (see the Monitoring stack)."""

    capture_bucket: str
    capture_prefix: str
    endpoint: str
    baselines: dict[str, str]  # variant -> bundled file name or s3:// URI
    report_bucket: str
    report_prefix: str
    window_hours: int
    min_sample_size: int
    feature_psi_threshold: float
    prediction_psi_threshold: float

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            capture_bucket=env["CAPTURE_BUCKET"],
            capture_prefix=env["CAPTURE_PREFIX"],
            endpoint=env["ENDPOINT_NAME"],
            baselines=json.loads(env["BASELINES"]),
            report_bucket=env["REPORT_BUCKET"],
            report_prefix=env["REPORT_PREFIX"],
            window_hours=int(env["WINDOW_HOURS"]),
            min_sample_size=int(env["MIN_SAMPLE_SIZE"]),
            feature_psi_threshold=float(env["FEATURE_PSI_THRESHOLD"]),
            prediction_psi_threshold=float(env["PREDICTION_PSI_THRESHOLD"]),
        )


def s3_client() -> Any:
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


# --- where the window is ---------------------------------------------------------------


def window_of(event: Mapping[str, Any], hours: int) -> tuple[datetime, datetime]:
    """``(start, end)`` on whole hours: a run at 10:15 reads 09:00-10:00 for one hour.

    The end comes from ``window_end`` (a manual re-run of a window) or the scheduled time.
    """
    given = event.get("window_end")
    if isinstance(given, str):
        end = parse_time(given)
    else:
        scheduled = event.get("time")
        end = (parse_time(scheduled) if isinstance(scheduled, str) else datetime.now(UTC)) - SETTLE
    end = end.replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=hours), end


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def hour_prefixes(settings: Settings, variant: str, start: datetime, end: datetime) -> list[str]:
    """The capture prefix of every hour in ``[start, end)``."""
    prefixes, hour = [], start
    while hour < end:
        prefixes.append(f"{settings.capture_prefix}{settings.endpoint}/{variant}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def list_keys(s3: Any, bucket: str, prefixes: list[str]) -> Iterator[str]:
    """Every object key under the prefixes, page after page."""
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield item["Key"]


def read_objects(s3: Any, bucket: str, keys: Iterator[str]) -> Iterator[tuple[str, bytes | None]]:
    """``(key, body)`` in key order, read a batch at a time on a few threads; None for an object
    deleted between listing and reading (lifecycle rules)."""

    def read(key: str) -> tuple[str, bytes | None]:
        try:
            return key, s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return key, None

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        while batch := list(islice(keys, READ_BATCH)):
            yield from pool.map(read, batch)


# --- decoding capture records ----------------------------------------------------------


def payload(part: Any) -> tuple[str, Any]:
    """``("csv", text)`` or ``("json", document)`` of a captured input or output."""
    if not isinstance(part, dict):
        raise BadRecord("not_capture")
    encoding, data = part.get("encoding"), part.get("data")
    if encoding == "BASE64":
        if not isinstance(data, str):
            raise BadRecord("undecodable")
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as error:
            raise BadRecord("undecodable") from error
        content_type = str(part.get("observedContentType", "")).lower()
        encoding = "CSV" if "csv" in content_type else "JSON" if "json" in content_type else None
    if encoding == "CSV" and isinstance(data, str):
        return "csv", data
    if encoding == "JSON":
        if not isinstance(data, str):
            return "json", data
        try:
            return "json", json.loads(data)
        except ValueError as error:
            raise BadRecord("undecodable") from error
    raise BadRecord("unknown_encoding")


def csv_rows(text: str) -> list[str]:
    return [line for line in text.replace("\r", "").split("\n") if line]


def predictions_of(part: Any) -> list[Any]:
    """The numbers an answer holds: CSV (newline or comma separated) or JSON (a list, or
    ``{"predictions": [...]}`` of numbers or ``{"score": ...}`` objects)."""
    kind, data = payload(part)
    if kind == "csv":
        return [value for line in csv_rows(data) for value in line.split(",")]
    if isinstance(data, dict):
        data = data.get("predictions")
    if not isinstance(data, list):
        raise BadRecord("undecodable")
    return [item.get("score") if isinstance(item, dict) else item for item in data]


class Window:
    """One variant's window: every usable vector and prediction, and what was skipped."""

    def __init__(self, baseline: Mapping[str, Any]) -> None:
        self.baseline = baseline
        stats = baseline["statistics"]
        self.width = len(stats["feature_columns"])
        self.encode = FeatureEncoder(stats).encode
        layout = monitored_features(stats)
        self.numeric: list[tuple[str, int, list[float]]] = [
            (f.name, f.columns[0], []) for f in layout if f.kind != CATEGORICAL
        ]
        self.coded = [
            (f.name, f.columns[0], {v: i for i, v in enumerate(f.values)}, [0] * len(f.categories))
            for f in layout
            if f.values
        ]
        self.one_hot = [
            (f.name, f.columns[0], f.columns[-1] + 1, [0] * len(f.categories))
            for f in layout
            if f.kind == CATEGORICAL and not f.values
        ]
        self.predictions: list[float] = []
        self.records = 0
        self.skipped_records: Counter[str] = Counter()
        self.skipped_rows: Counter[str] = Counter()
        self.examples: list[dict[str, Any]] = []

    @property
    def rows(self) -> int:
        return len(self.predictions)

    def skip(self, counter: Counter[str], reason: str, key: str, line: int) -> None:
        counter[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"key": key, "line": line, "reason": reason})

    def add_object(self, key: str, body: bytes) -> None:
        for number, line in enumerate(body.split(b"\n"), start=1):
            if line.strip():
                self.records += 1
                try:
                    self.add_record(json.loads(line), key, number)
                except BadRecord as bad:
                    self.skip(self.skipped_records, str(bad), key, number)
                except ValueError:  # not JSON, or not UTF-8
                    self.skip(self.skipped_records, "not_json", key, number)

    def add_record(self, record: Any, key: str, line: int) -> None:
        capture = record.get("captureData") if isinstance(record, dict) else None
        if not isinstance(capture, dict):
            raise BadRecord("not_capture")
        kind, data = payload(capture.get("endpointInput"))
        rows = csv_rows(data) if kind == "csv" else self.instances(data)
        predictions = predictions_of(capture.get("endpointOutput"))
        if len(predictions) != len(rows):
            raise BadRecord("prediction_count")
        for row, prediction in zip(rows, predictions, strict=True):
            reason = self.add_row(row, prediction)
            if reason is not None:
                self.skip(self.skipped_rows, reason, key, line)

    def instances(self, document: Any) -> list[Any]:
        """The instances of a JSON request: ``{"instances": [...]}`` or a bare list."""
        items = document.get("instances") if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise BadRecord("undecodable")
        return items

    def vector(self, row: Any) -> list[float]:
        """The encoded vector of a CSV row, a JSON list or ``{"features": [...]}``, or a JSON
        object of business fields (encoded as the model's training data was)."""
        if isinstance(row, str):
            return list(map(float, row.split(",")))
        if isinstance(row, dict):
            if "features" not in row:
                return self.encode(row)
            row = row["features"]
        if isinstance(row, list) and not any(isinstance(v, bool | str) for v in row):
            return list(map(float, row))
        raise ValueError("not a feature vector")

    def add_row(self, row: Any, prediction: Any) -> str | None:
        """Count one vector and its prediction, or return why it cannot be counted."""
        try:
            vector = self.vector(row)
            answer = float(prediction)
        except (TypeError, ValueError):
            return "unparsable_row"
        if len(vector) != self.width:
            return "wrong_width"
        total = sum(vector) + answer
        if total - total != 0.0:  # NaN or an infinity somewhere
            return "invalid_value"
        codes = []
        for _, column, index, _ in self.coded:
            code = index.get(vector[column])
            if code is None:
                return "invalid_value"
            codes.append(code)
        hot = []
        for _, start, stop, _ in self.one_hot:
            group = vector[start:stop]
            if group.count(1.0) != 1 or group.count(0.0) != stop - start - 1:
                return "invalid_value"
            hot.append(group.index(1.0))
        for _, column, values in self.numeric:
            values.append(vector[column])
        for (_, _, _, counts), code in zip(self.coded, codes, strict=True):
            counts[code] += 1
        for (_, _, _, counts), position in zip(self.one_hot, hot, strict=True):
            counts[position] += 1
        self.predictions.append(answer)
        return None

    def drift(self) -> dict[str, Any]:
        """PSI (and KS) per feature and for the predictions, against the baseline."""
        features: dict[str, dict[str, float]] = {}
        specs = self.baseline["features"]
        for name, _, values in self.numeric:
            value_psi, value_ks = NumericBaseline.of(specs[name]).compare(sorted(values))
            features[name] = {"psi": value_psi, "ks": value_ks}
        for name, _, _, counts in (*self.coded, *self.one_hot):
            features[name] = {"psi": psi(specs[name]["counts"], counts)}
        prediction_psi, prediction_ks = NumericBaseline.of(self.baseline[PREDICTION]).compare(sorted(self.predictions))
        return {"features": features, PREDICTION: {"psi": prediction_psi, "ks": prediction_ks}}


# --- results ---------------------------------------------------------------------------


def emf(dimensions: dict[str, str], metrics: dict[str, tuple[float, str]], timestamp_ms: int) -> str:
    """One CloudWatch embedded-metric-format log line."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    return LOG_JSON.encode(document)


def metric_lines(settings: Settings, variant: str, window: Window, result: dict[str, Any] | None, at: int) -> list[str]:
    """The variant's counts always; its drift only when the sample is large enough."""
    dimensions = {"EndpointName": settings.endpoint, "VariantName": variant}
    counts: dict[str, tuple[float, str]] = {
        "SampleCount": (window.rows, "Count"),
        "CaptureRecords": (window.records, "Count"),
        "SkippedRecords": (sum(window.skipped_records.values()), "Count"),
        "SkippedRows": (sum(window.skipped_rows.values()), "Count"),
    }
    if result is None:
        return [emf(dimensions, counts, at)]
    features = result["features"]
    counts.update(
        {
            "MaxFeaturePsi": (max(f["psi"] for f in features.values()), "None"),
            "PredictionPsi": (result[PREDICTION]["psi"], "None"),
            "PredictionKs": (result[PREDICTION]["ks"], "None"),
        }
    )
    lines = [emf(dimensions, counts, at)]
    for name, values in features.items():
        lines.append(
            emf(
                {**dimensions, "Feature": name},
                {"Psi" if k == "psi" else "Ks": (v, "None") for k, v in values.items()},
                at,
            )
        )
    return lines


def report_key(settings: Settings, variant: str, end: datetime) -> str:
    """One report per variant and window: a re-run of the window replaces it."""
    return f"{settings.report_prefix}{settings.endpoint}/{variant}/{end:%Y/%m/%d/%H}.json"


def load_variant_baseline(settings: Settings, variant: str) -> dict[str, Any]:
    """The variant's baseline, read once per container: bundled with the function, or from S3."""
    if variant not in _baselines:
        location = settings.baselines[variant]
        if location.startswith("s3://"):
            bucket, _, key = location[len("s3://") :].partition("/")
            text = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        else:
            text = (HERE / location).read_text(encoding="utf-8")
        _baselines[variant] = load_baseline(text)
    return dict(_baselines[variant])


def monitor(settings: Settings, s3: Any, variant: str, start: datetime, end: datetime, at: int) -> dict[str, Any]:
    """Read, compare and publish one variant's window; returns its report."""
    baseline = load_variant_baseline(settings, variant)
    window = Window(baseline)
    keys = list_keys(s3, settings.capture_bucket, hour_prefixes(settings, variant, start, end))
    objects = missing = 0
    for key, body in read_objects(s3, settings.capture_bucket, keys):
        objects += 1
        if body is None:
            missing += 1
        else:
            window.add_object(key, body)
    enough = window.rows >= settings.min_sample_size
    result = window.drift() if window.rows else None
    for line in metric_lines(settings, variant, window, result if enough else None, at):
        sys.stdout.write(line + "\n")
    features = (result or {}).get("features", {})
    prediction = (result or {}).get(PREDICTION, {})
    report = {
        "endpoint": settings.endpoint,
        "variant": variant,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "baseline": {k: baseline[k] for k in ("provenance", "statistics_sha256", "training_rows")},
        "objects": objects,
        "objects_gone": missing,
        "records": window.records,
        "rows": window.rows,
        "skipped_records": dict(window.skipped_records),
        "skipped_rows": dict(window.skipped_rows),
        "skipped_examples": window.examples,
        "min_sample_size": settings.min_sample_size,
        "published": enough,
        "thresholds": {
            "feature_psi": settings.feature_psi_threshold,
            "prediction_psi": settings.prediction_psi_threshold,
        },
        "features": features,
        PREDICTION: prediction,
        "drifted_features": sorted(
            name for name, f in features.items() if enough and f["psi"] >= settings.feature_psi_threshold
        ),
        "prediction_drifted": enough and prediction["psi"] >= settings.prediction_psi_threshold,
    }
    s3.put_object(
        Bucket=settings.report_bucket,
        Key=report_key(settings, variant, end),
        Body=LOG_JSON.encode(report).encode("utf-8"),
        ContentType="application/json",
    )
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The one log line a run writes per variant."""
    features = report["features"]
    return {
        "level": "INFO",
        "event": "drift_summary",
        **{k: report[k] for k in ("endpoint", "variant", "window", "objects", "records", "rows", "published")},
        "skipped_records": sum(report["skipped_records"].values()),
        "skipped_rows": sum(report["skipped_rows"].values()),
        "skipped_reasons": {**report["skipped_records"], **report["skipped_rows"]},
        "max_feature_psi": max((f["psi"] for f in features.values()), default=None),
        "prediction_psi": report[PREDICTION].get("psi"),
        "drifted_features": report["drifted_features"],
        "prediction_drifted": report["prediction_drifted"],
    }


def run(settings: Settings, s3: Any, event: Mapping[str, Any]) -> list[dict[str, Any]]:
    start, end = window_of(event, settings.window_hours)
    at = int(time.time() * 1000)
    reports = []
    for variant in settings.baselines:
        report = monitor(settings, s3, variant, start, end, at)
        sys.stdout.write(LOG_JSON.encode(summary(report)) + "\n")
        reports.append(report)
    return reports


_settings: Settings | None = None


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    global _settings
    if _settings is None:
        _settings = Settings.from_environment(os.environ)
    reports = run(_settings, s3_client(), event if isinstance(event, dict) else {})
    return {"variants": [summary(r) for r in reports]}
