"""Drift function against S3 in moto, over capture files made from real predict requests.

The capture records come from the predict function's own handler (its CSV body and the
inference id it passes) and the bundled model's answers in the XGBoost container's CSV
format (tools/captures.py). One window holds more than a thousand objects, so listing
takes two pages; other windows are empty, thin, shifted or full of malformed lines.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import drift
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from contracts.drift import load_baseline
from contracts.features import FeatureEncoder
from tools import captures

xgboost = pytest.importorskip("xgboost")

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "model" / "drift_baseline.json"
CAPTURE, REPORTS = "capture-zone", "curated-zone"
PREFIX = "inference-capture/"
HOUR = captures.START  # 09:00-10:00 holds the big window
MANY_OBJECTS = 1_000
UNSHIFTED_SEED, SHIFTED_SEED = 99, 98


def settings(**overrides: Any) -> drift.Settings:
    values: dict[str, Any] = {
        "capture_bucket": CAPTURE,
        "capture_prefix": PREFIX,
        "endpoint": captures.ENDPOINT,
        "baselines": {captures.VARIANT: str(BASELINE)},
        "report_bucket": REPORTS,
        "report_prefix": "drift-reports/",
        "window_hours": 1,
        "min_sample_size": 500,
        "feature_psi_threshold": 0.25,
        "prediction_psi_threshold": 0.1,
    }
    return drift.Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def score() -> captures.Score:
    return captures.model_scorer()


@pytest.fixture(scope="module")
def unshifted(score: captures.Score) -> list[dict[str, Any]]:
    """About 1,150 requests (1,700 listings) spread over the 09:00 hour, one object each."""
    return captures.capture_records(
        captures.listings(1_700, seed=UNSHIFTED_SEED), score, seed=1, spacing=timedelta(seconds=3)
    )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(variable, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        for bucket in (CAPTURE, REPORTS):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def put_files(files: dict[str, bytes]) -> None:
    """Straight into moto's in-process store (a hundred times faster than PutObject calls);
    the function reads them back through the real S3 client."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, body in files.items():
        backend.put_object(CAPTURE, f"{PREFIX}{key}", body)


def metrics(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format lines a run printed, checked against the format's rules."""
    found = []
    for line in output.splitlines():
        document = json.loads(line)
        if "_aws" not in document:
            continue
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "MlPipeline/Drift"
        for dimension in directive["Dimensions"][0]:
            assert isinstance(document[dimension], str)
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], int | float)
        found.append(document)
    return found


def summaries(output: str) -> list[dict[str, Any]]:
    return [d for d in map(json.loads, output.splitlines()) if d.get("event") == "drift_summary"]


def run(s3: Any, capsys: pytest.CaptureFixture[str], end: datetime, **overrides: Any) -> tuple[dict[str, Any], str]:
    (report,) = drift.run(settings(**overrides), s3, {"window_end": end.isoformat()})
    return report, capsys.readouterr().out


def test_a_window_of_many_objects_is_read_page_after_page(
    s3: Any, unshifted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    put_files(captures.capture_files(unshifted, per_file=1))
    rows = sum(r["captureData"]["endpointInput"]["data"].count("\n") + 1 for r in unshifted)
    assert len(unshifted) > MANY_OBJECTS and rows == 1_700

    report, output = run(s3, capsys, HOUR + timedelta(hours=1))

    assert report["objects"] == len(unshifted)  # more than one page of ListObjectsV2
    assert (report["records"], report["rows"]) == (len(unshifted), rows)
    assert report["skipped_records"] == report["skipped_rows"] == {}
    assert report["published"] is True
    assert max(f["psi"] for f in report["features"].values()) < 0.1
    assert report["prediction"]["psi"] < 0.1 and report["drifted_features"] == []
    assert report["prediction_drifted"] is False
    stored = json.loads(
        s3.get_object(Bucket=REPORTS, Key=drift.report_key(settings(), "primary", HOUR + timedelta(hours=1)))[
            "Body"
        ].read()
    )
    assert stored == report
    variant_metrics, *feature_metrics = metrics(output)
    assert variant_metrics["SampleCount"] == rows and variant_metrics["MaxFeaturePsi"] < 0.1
    assert {m["Feature"] for m in feature_metrics} == set(report["features"])
    assert all("Ks" in m for m in feature_metrics if m["Feature"] in ("living_area", "lot_area"))
    assert "Ks" not in next(m for m in feature_metrics if m["Feature"] == "home_type")
    (summary,) = summaries(output)
    assert summary["rows"] == rows and summary["skipped_records"] == 0


def test_a_shifted_window_crosses_the_thresholds(
    s3: Any, score: captures.Score, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listings 30% larger than in training: living area drifts, and the prices predicted for
    them with it; the features that did not move stay below the moderate level."""
    shifted = captures.capture_records(
        captures.listings(1_500, seed=SHIFTED_SEED, scale={"living_area": 1.3}), score, seed=2
    )
    put_files(captures.capture_files(shifted, per_file=50))

    report, output = run(s3, capsys, HOUR + timedelta(hours=1))

    assert report["features"]["living_area"]["psi"] > 0.25 and report["features"]["living_area"]["ks"] > 0.15
    assert report["drifted_features"] == ["living_area"]
    assert report["prediction_drifted"] is True and report["prediction"]["psi"] > 0.1
    assert all(f["psi"] < 0.1 for name, f in report["features"].items() if name != "living_area")
    (summary,) = summaries(output)
    assert summary["drifted_features"] == ["living_area"] and summary["max_feature_psi"] > 0.25


def test_an_empty_window_publishes_only_its_counts(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    report, output = run(s3, capsys, HOUR + timedelta(days=1))
    assert (report["objects"], report["records"], report["rows"], report["published"]) == (0, 0, 0, False)
    assert report["features"] == {} and report["drifted_features"] == [] and report["prediction_drifted"] is False
    (only,) = metrics(output)
    assert only["SampleCount"] == 0 and "MaxFeaturePsi" not in only and "PredictionPsi" not in only


def test_a_thin_window_reports_drift_but_publishes_no_drift_metric(
    s3: Any, score: captures.Score, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fewer rows than the minimum sample: values in the report, no alarm can fire."""
    thin = captures.capture_records(captures.listings(60, seed=5, scale={"living_area": 1.5}), score, seed=3)
    put_files(captures.capture_files(thin, per_file=10))
    report, output = run(s3, capsys, HOUR + timedelta(hours=1))
    assert 0 < report["rows"] < 500 and report["published"] is False
    assert report["features"]["living_area"]["psi"] > 0.25 and report["drifted_features"] == []
    (only,) = metrics(output)
    assert only["SampleCount"] == report["rows"] and "MaxFeaturePsi" not in only


def test_bad_capture_data_is_counted_reported_and_skipped(
    s3: Any, unshifted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    good = unshifted[:40]
    single = next(r for r in good if "\n" not in r["captureData"]["endpointInput"]["data"])
    row = single["captureData"]["endpointInput"]["data"].split(",")

    def replaced(data: str | None = None, answer: str | None = None, encoding: str = "CSV") -> str:
        capture = json.loads(json.dumps(single))
        if data is not None:
            capture["captureData"]["endpointInput"]["data"] = data
            capture["captureData"]["endpointInput"]["encoding"] = encoding
        if answer is not None:
            capture["captureData"]["endpointOutput"]["data"] = answer
        return json.dumps(capture)

    two_hot = [*row[:8], "1.0", "1.0", "0.0", "0.0", "0.0"]
    lines = [
        "{not json",
        json.dumps({"eventVersion": "0"}),
        replaced(data="AAAA", encoding="PROTOBUF"),
        replaced(data="%%%", encoding="BASE64"),
        replaced(answer="1.0\n2.0\n"),
        replaced(data=",".join(row[:-1])),
        replaced(data=",".join(["nan", *row[1:]])),
        replaced(data=",".join([*row[:6], "7.0", *row[7:]])),
        replaced(data=",".join(two_hot)),
        replaced(data=",".join(["three", *row[1:]])),
        "\xff\xfe",
    ]
    body = "\n".join([json.dumps(good[0]), *lines, json.dumps(good[1])]) + "\n"
    key = f"{PREFIX}{captures.ENDPOINT}/primary/{HOUR:%Y/%m/%d/%H}/00-00-000-bad.jsonl"
    s3.put_object(Bucket=CAPTURE, Key=key, Body=body.encode("utf-8", "surrogateescape"))

    report, output = run(s3, capsys, HOUR + timedelta(hours=1), min_sample_size=1)

    assert report["skipped_records"] == {
        "not_json": 2,
        "not_capture": 1,
        "unknown_encoding": 1,
        "undecodable": 1,
        "prediction_count": 1,
    }
    assert report["skipped_rows"] == {"wrong_width": 1, "invalid_value": 3, "unparsable_row": 1}
    assert report["records"] == len(lines) + 2
    expected_rows = sum(r["captureData"]["endpointInput"]["data"].count("\n") + 1 for r in good[:2])
    assert report["rows"] == expected_rows
    assert [e["line"] for e in report["skipped_examples"]] == list(range(2, len(lines) + 2))
    assert {e["key"] for e in report["skipped_examples"]} == {key}
    (summary,) = summaries(output)
    assert summary["skipped_records"] == 6 and summary["skipped_rows"] == 5
    assert summary["skipped_reasons"]["invalid_value"] == 3
    variant_metrics = metrics(output)[0]
    assert (variant_metrics["SkippedRecords"], variant_metrics["SkippedRows"]) == (6, 5)


def test_json_and_base64_captures_map_to_the_vectors_the_model_saw(
    s3: Any, unshifted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same requests captured as CSV, as base64, as JSON vectors and as JSON business
    records (encoded with the baseline's statistics) count the same rows the same way."""
    listings = list(captures.listings(30, seed=UNSHIFTED_SEED))
    encoder = FeatureEncoder(load_baseline(BASELINE.read_text(encoding="utf-8"))["statistics"])
    plain = captures.capture_records(listings, captures.model_scorer(), seed=4)
    by_id = {listing["event_id"]: listing for listing in listings}

    def variant_of(record: dict[str, Any], form: str) -> dict[str, Any]:
        capture = json.loads(json.dumps(record))
        data = capture["captureData"]["endpointInput"]
        rows = [list(map(float, line.split(","))) for line in data["data"].split("\n")]
        if form == "base64":
            data.update(encoding="BASE64", data=base64.b64encode(data["data"].encode()).decode())
        elif form == "vectors":
            data.update(encoding="JSON", observedContentType="application/json", data=json.dumps({"instances": rows}))
        elif form == "records" and record["eventMetadata"]["inferenceId"] in by_id:
            listing = by_id[record["eventMetadata"]["inferenceId"]]
            assert encoder.encode(listing) == rows[0]
            data.update(encoding="JSON", data=json.dumps({"instances": [listing]}))
        output = capture["captureData"]["endpointOutput"]
        values = [float(v) for v in output["data"].split()]
        output.update(encoding="JSON", data=json.dumps({"predictions": [{"score": v} for v in values]}))
        return capture

    reports = {}
    for hour, form in enumerate(("csv", "base64", "vectors", "records")):
        start = HOUR + timedelta(days=2, hours=hour)
        records = [variant_of(r, form) for r in plain]
        for i, record in enumerate(records):
            record["eventMetadata"]["inferenceTime"] = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        put_files(captures.capture_files(records, per_file=7))
        reports[form], _ = run(s3, capsys, start + timedelta(hours=1), min_sample_size=1)
    first = reports["csv"]
    assert first["rows"] == len(listings) and first["skipped_records"] == first["skipped_rows"] == {}
    for report in reports.values():
        assert (report["rows"], report["features"], report["prediction"]) == (
            first["rows"],
            first["features"],
            first["prediction"],
        )


def test_window_ends_at_the_last_full_hour_before_the_run() -> None:
    assert drift.window_of({"time": "2026-11-02T10:15:00Z"}, 1) == (
        datetime(2026, 11, 2, 9, tzinfo=UTC),
        datetime(2026, 11, 2, 10, tzinfo=UTC),
    )
    assert drift.window_of({"time": "2026-11-02T10:05:00Z"}, 2)[1] == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert drift.window_of({"window_end": "2026-11-02T06:30:00+02:00"}, 3) == (
        datetime(2026, 11, 2, 1, tzinfo=UTC),
        datetime(2026, 11, 2, 4, tzinfo=UTC),
    )
    prefixes = drift.hour_prefixes(settings(), "primary", *drift.window_of({"window_end": "2026-01-01T01:00Z"}, 2))
    assert prefixes == [
        f"{PREFIX}{captures.ENDPOINT}/primary/2025/12/31/23/",
        f"{PREFIX}{captures.ENDPOINT}/primary/2026/01/01/00/",
    ]


def test_handler_reads_its_environment_and_answers_with_the_summaries(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment = {
        "CAPTURE_BUCKET": CAPTURE,
        "CAPTURE_PREFIX": PREFIX,
        "ENDPOINT_NAME": captures.ENDPOINT,
        "BASELINES": json.dumps({"primary": BASELINE.name, "challenger": BASELINE.name}),
        "REPORT_BUCKET": REPORTS,
        "REPORT_PREFIX": "drift-reports/",
        "WINDOW_HOURS": "1",
        "MIN_SAMPLE_SIZE": "500",
        "FEATURE_PSI_THRESHOLD": "0.25",
        "PREDICTION_PSI_THRESHOLD": "0.1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(drift, "HERE", BASELINE.parent)
    monkeypatch.setattr(drift, "_settings", None)
    monkeypatch.setattr(drift, "_s3", s3)
    monkeypatch.setattr(drift, "_baselines", {})
    answer = drift.handler({"time": "2026-11-02T10:15:00Z", "detail-type": "Scheduled Event"}, None)
    assert [v["variant"] for v in answer["variants"]] == ["primary", "challenger"]
    assert all(v["rows"] == 0 and v["published"] is False for v in answer["variants"])
    assert len(summaries(capsys.readouterr().out)) == 2
