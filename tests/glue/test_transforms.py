"""Each Glue transform on small fixture data, on local Spark, with exact expected rows."""

from __future__ import annotations

import statistics
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from housing_etl.dedup import deduplicate
from housing_etl.encode import encode
from housing_etl.missing import handle_missing
from housing_etl.scaling import apply_scaler, fit_scaler
from housing_etl.split import split_train_validation
from housing_etl.standardise import reject_invalid_records, standardise
from housing_etl.storage import read_raw_events

import contracts
from contracts.features import FeatureEncoder
from tests.glue.conftest import write_ndjson

pytestmark = pytest.mark.spark
CONTRACT = contracts.load()

BASE = {
    "home_type": "detached",
    "garden_size": "M",
    "living_area": 100.0,
    "lot_area": 500.0,
    "bedrooms": 3,
    "bathrooms": 2.0,
    "year_built": 1990,
    "distance_to_center": 5.0,
}


def standardised(spark: Any, tmp_path: Path, lines: list[Any]) -> Any:
    return standardise(read_raw_events(spark, str(write_ndjson(tmp_path / "raw.json", lines))), CONTRACT)


def by_id(df: Any) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row.asDict() for row in df.collect()}


def test_read_keeps_bad_lines_as_corrupt_records(spark: Any, tmp_path: Path) -> None:
    df = read_raw_events(spark, str(write_ndjson(tmp_path / "raw.json", [{"event_id": "a"}, "not json", "[1, 2]"])))
    rows = df.collect()
    assert len(rows) == 3
    assert sorted(r["_corrupt_record"] for r in rows if r["_corrupt_record"]) == ["[1, 2]", "not json"]


def test_standardise_casing_units_types_ranges_and_time(spark: Any, tmp_path: Path) -> None:
    rows = by_id(
        standardised(
            spark,
            tmp_path,
            [
                {
                    "event_id": "a",
                    "event_time": "2026-03-01T10:00:00+02:00",
                    "home_type": " Detached ",
                    "garden_size": "m",
                    "living_area_sqft": 1076.391,
                    "bedrooms": "3",
                    "price": 450000,
                },
                {
                    "event_id": "b",
                    "event_time": 1767225600,
                    "home_type": "castle",
                    "garden_size": "XL",
                    "living_area": 5,
                    "bedrooms": "three",
                    "bathrooms": 99,
                    "price": "n/a",
                },
                {
                    "event_id": "c",
                    "event_time": 1767225600000,
                    "bedrooms": 2.5,
                    "year_built": 1750,
                    "living_area": 120,
                    "living_area_sqft": 10,
                },
            ],
        )
    )
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert (a["event_time"], a["event_date"]) == (datetime(2026, 3, 1, 8, 0), date(2026, 3, 1))
    assert (a["home_type"], a["garden_size"], a["bedrooms"], a["price"]) == ("detached", "M", 3, 450000.0)
    assert a["living_area"] == pytest.approx(100.0, abs=1e-5)
    assert b["event_time"] == datetime(2026, 1, 1, 0, 0) == c["event_time"]
    assert (b["home_type"], b["garden_size"]) == ("castle", "XL")  # unseen categories survive to encoding
    assert (
        b["living_area"] is b["bedrooms"] is b["bathrooms"] is b["price"] is None
    )  # below min, wrong type, above max, text
    assert c["bedrooms"] is None and c["year_built"] is None  # non-integral integer, before 1800
    assert c["living_area"] == 120.0  # the canonical key wins over an alias


def test_records_without_id_or_time_are_rejected(spark: Any, tmp_path: Path) -> None:
    df = standardised(
        spark,
        tmp_path,
        [
            {"event_id": "ok", "event_time": "2026-01-01T00:00:00Z"},
            {"event_time": "2026-01-01T00:00:00Z"},
            {"event_id": "no-time"},
            "garbage",
        ],
    )
    assert [r["event_id"] for r in reject_invalid_records(df, CONTRACT).collect()] == ["ok"]


def test_deduplicate_keeps_latest_event_time(spark: Any, tmp_path: Path) -> None:
    df = standardised(
        spark,
        tmp_path,
        [
            {"event_id": "a", "event_time": "2026-01-01T00:00:00Z", "price": 1000},
            {"event_id": "a", "event_time": "2026-01-03T00:00:00Z", "price": 3000},
            {"event_id": "a", "event_time": "2026-01-02T00:00:00Z", "price": 2000},
            {"event_id": "b", "event_time": "2026-01-01T00:00:00Z", "price": 5000},
            {"event_id": "b", "event_time": "2026-01-01T00:00:00Z", "price": 5000, "bedrooms": 2},
        ],
    )
    rows = by_id(deduplicate(df))
    assert rows["a"]["price"] == 3000.0
    assert rows["b"]["bedrooms"] == 2  # same time: the more complete copy wins
    assert len(rows) == 2


def fitted(spark: Any, tmp_path: Path, method: str, values: list[float]) -> dict[str, Any]:
    lines = [
        {**BASE, "event_id": str(i), "event_time": "2026-01-01T00:00:00Z", "living_area": v, "price": 1000 + i}
        for i, v in enumerate(values)
    ]
    return fit_scaler(standardised(spark, tmp_path, lines), CONTRACT, method)


@pytest.mark.parametrize(
    ("method", "center", "scale"),
    [
        ("standard", statistics.fmean([20, 40, 60, 80, 200]), statistics.pstdev([20, 40, 60, 80, 200])),
        ("minmax", 20.0, 180.0),
        ("maxabs", 0.0, 200.0),
        ("robust", 60.0, 40.0),
    ],
)
def test_scaler_parameters_per_method(spark: Any, tmp_path: Path, method: str, center: float, scale: float) -> None:
    stats = fitted(spark, tmp_path, method, [20, 40, 60, 80, 200])
    living = stats["numeric"]["living_area"]
    assert stats["scaling_method"] == method
    assert living["center"] == pytest.approx(center) and living["scale"] == pytest.approx(scale)
    assert living["impute"] == 60.0  # the median fills missing values
    assert stats["feature_columns"] == CONTRACT.feature_columns()


def test_constant_feature_scales_by_one(spark: Any, tmp_path: Path) -> None:
    stats = fitted(spark, tmp_path, "standard", [50, 50, 50])
    assert stats["numeric"]["lot_area"]["scale"] == 1.0


def test_missing_values_encoding_and_scaling(spark: Any, tmp_path: Path) -> None:
    train = [
        {**BASE, "event_id": str(i), "event_time": "2026-01-01T00:00:00Z", "year_built": 1950 + 20 * i, "price": 100000}
        for i in range(3)
    ]
    stats = fit_scaler(standardised(spark, tmp_path, train), CONTRACT, "standard")
    records = [
        {"event_id": "full", "event_time": "2026-01-01T00:00:00Z", **BASE, "price": 200000},
        {
            "event_id": "gaps",
            "event_time": "2026-01-01T00:00:00Z",
            "home_type": "houseboat",
            "garden_size": "XL",
            "price": 150000,
        },
        {"event_id": "unlabeled", "event_time": "2026-01-01T00:00:00Z", **BASE},
    ]
    (tmp_path / "score").mkdir()
    df = standardised(spark, tmp_path / "score", records)
    prepared = apply_scaler(encode(handle_missing(df, CONTRACT, stats, drop_unlabeled=True), CONTRACT), stats)
    rows = by_id(prepared)
    assert set(rows) == {"full", "gaps"}  # rows without a label never reach training
    gaps = rows["gaps"]
    assert gaps["year_built_missing"] == 1 and rows["full"]["year_built_missing"] == 0
    assert gaps["year_built"] == pytest.approx(0.0)  # median of 1950/1970/1990 is the mean: scales to 0
    assert gaps["garden_size"] == 0.0  # unseen ordinal -> missing -> "N"
    assert [
        gaps[c]
        for c in (
            "home_type_apartment",
            "home_type_condo",
            "home_type_detached",
            "home_type_townhouse",
            "home_type_other",
        )
    ] == [0, 0, 0, 0, 1]
    assert rows["full"]["garden_size"] == 10.0 and rows["full"]["home_type_detached"] == 1
    encoder = FeatureEncoder(stats)
    for record in records[:2]:
        expected = encoder.encode({k: v for k, v in record.items() if k != "price"})
        assert [float(rows[record["event_id"]][c]) for c in CONTRACT.feature_columns()] == pytest.approx(
            expected, abs=1e-9
        )


def test_split_is_deterministic_and_disjoint(spark: Any, tmp_path: Path) -> None:
    lines = [{**BASE, "event_id": f"e{i}", "event_time": "2026-01-01T00:00:00Z", "price": 1000} for i in range(200)]
    df = standardised(spark, tmp_path, lines)
    train, validation = split_train_validation(df, 0.25, 7)
    again_train, _ = split_train_validation(df, 0.25, 7)
    train_ids = {r["event_id"] for r in train.collect()}
    validation_ids = {r["event_id"] for r in validation.collect()}
    assert train_ids == {r["event_id"] for r in again_train.collect()}
    assert not train_ids & validation_ids and len(train_ids | validation_ids) == 200
    assert 25 <= len(validation_ids) <= 75
