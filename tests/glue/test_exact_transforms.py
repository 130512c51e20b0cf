"""Each transform on the hand-worked fixture: exact rows and exact schema."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from housing_etl.dedup import deduplicate
from housing_etl.encode import encode
from housing_etl.missing import handle_missing
from housing_etl.scaling import apply_scaler
from housing_etl.schema import CORRUPT_RECORD, raw_schema
from housing_etl.split import is_validation, split_train_validation
from housing_etl.standardise import reject_invalid_records, standardise
from housing_etl.storage import read_raw_events
from pyspark.sql import functions as F
from pyspark.sql import types as T

import contracts
from contracts.features import build_statistics
from tests.glue.conftest import write_fixture_raw_zone, write_ndjson
from tests.glue.fixtures import CURATED, CURATED_COLUMNS, RAW_EVENTS

pytestmark = pytest.mark.spark
CONTRACT = contracts.load()
ALIASES = ["distance_to_center_mi", "living_area_sqft", "lot_area_sqft"]
CURATED_TYPES = [
    ("event_id", T.StringType()),
    ("event_time", T.TimestampType()),
    ("home_type", T.StringType()),
    ("garden_size", T.StringType()),
    ("living_area", T.DoubleType()),
    ("lot_area", T.DoubleType()),
    ("bedrooms", T.IntegerType()),
    ("bathrooms", T.DoubleType()),
    ("year_built", T.IntegerType()),
    ("distance_to_center", T.DoubleType()),
    ("price", T.DoubleType()),
    ("event_date", T.DateType()),
]


@pytest.fixture(scope="module")
def raw(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The fixture split over two gzip files in raw-zone partition folders."""
    events = write_fixture_raw_zone(tmp_path_factory.mktemp("raw") / "events")
    return read_raw_events(spark, str(events)).cache()


@pytest.fixture(scope="module")
def standardised(raw: Any) -> Any:
    return standardise(raw, CONTRACT).cache()


@pytest.fixture(scope="module")
def standardised_rows(standardised: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in standardised.collect()]


def test_raw_schema_reads_every_key_as_text() -> None:
    schema = raw_schema(CONTRACT)
    assert schema.fieldNames() == [f.name for f in CONTRACT.fields] + ALIASES + [CORRUPT_RECORD]
    assert {type(f.dataType) for f in schema.fields} == {T.StringType}


def test_read_keeps_text_and_no_partition_columns(raw: Any) -> None:
    assert raw.schema == raw_schema(CONTRACT)  # folder names do not become columns
    rows = {(r["event_id"], r["event_time"]): r for r in raw.collect()}
    assert len(raw.collect()) == len(RAW_EVENTS)
    e2 = rows[(" e2 ", "2026-01-01T10:00:00+02:00")]
    assert (e2["bedrooms"], e2["living_area_sqft"], e2["living_area"], e2["price"]) == ("three", "1000", None, "250000")
    assert rows[("e3", "1767312000")]["bathrooms"] == "2.5"
    assert [r[CORRUPT_RECORD] for r in raw.collect() if r[CORRUPT_RECORD]] == ["not json at all", "[1, 2]"]


def test_standardise_schema(standardised: Any) -> None:
    fields = [(f.name, f.dataType) for f in standardised.schema.fields]
    assert fields == [*CURATED_TYPES, (CORRUPT_RECORD, T.StringType())]


def test_standardise_rows(standardised_rows: list[tuple[Any, ...]]) -> None:
    nulls = (None,) * 11
    expected = [
        ("e1", datetime(2026, 1, 1, 0, 0, 26), *CURATED["e1"][2:10], 350000.0, date(2026, 1, 1), None),
        (*CURATED["e1"][:11], date(2026, 1, 1), None),
        ("e1", datetime(2025, 12, 31, 23, 0), "detached", *(None,) * 7, 340000.0, date(2025, 12, 31), None),
        *[(*CURATED[e], None) for e in ("e2", "e3", "e4", "e5", "e6", "e7")],
        (*nulls, None, "not json at all"),
        (*nulls, None, "[1, 2]"),
        (None, datetime(2026, 1, 2, 0, 0), *(None,) * 8, 100000.0, date(2026, 1, 2), None),
        ("e9", None, *(None,) * 8, 100000.0, None, None),
    ]
    assert standardised_rows == expected


def test_standardise_ignores_the_session_time_zone(spark: Any, raw: Any) -> None:
    def instants() -> list[tuple[Any, ...]]:
        df = standardise(raw, CONTRACT)
        return [tuple(r) for r in df.select(F.unix_micros("event_time"), "event_date").collect()]

    utc = instants()
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        assert instants() == utc
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


EVENT_TIMES = [  # (raw value, UTC instant or None)
    ("2026-01-01T00:00:26Z", datetime(2026, 1, 1, 0, 0, 26)),
    ("2026-01-01T00:00:26.123Z", datetime(2026, 1, 1, 0, 0, 26, 123000)),
    ("2026-01-01T00:00:26+00:00", datetime(2026, 1, 1, 0, 0, 26)),
    ("2026-01-01T00:00:00+0000", datetime(2026, 1, 1)),
    ("2026-01-01T10:00:00+02:00", datetime(2026, 1, 1, 8)),
    ("2026-01-01T10:00:00-05:30", datetime(2026, 1, 1, 15, 30)),
    ("2026-01-01T10:00:00-05", datetime(2026, 1, 1, 15)),
    ("2026-01-03 08:30:00", datetime(2026, 1, 3, 8, 30)),  # no offset: UTC
    ("2026-01-03T08:30", datetime(2026, 1, 3, 8, 30)),
    (" 2026-01-01t00:00:00z ", datetime(2026, 1, 1)),
    ("1960-06-01T12:00:00Z", datetime(1960, 6, 1, 12)),
    ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999)),  # still 9999-12-31
    (1767225600, datetime(2026, 1, 1)),
    (1767225600000, datetime(2026, 1, 1)),
    ("2026-02-30T00:00:00Z", None),
    ("2026-01-01T25:00:00Z", None),
    ("2026-01-01T00:00:00ZZ", None),
    ("2026-01-01T00:00:00+02:00Z", None),
    (-5, None),
    ("yesterday", None),
]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_event_time_forms(spark: Any, tmp_path: Any, zone: str) -> None:
    """Every accepted form gives the same UTC instant and date whatever the session zone."""
    lines = [{"event_id": f"t{i}", "event_time": value} for i, (value, _) in enumerate(EVENT_TIMES)]
    raw = read_raw_events(spark, str(write_ndjson(tmp_path / "times.json", lines)))
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        df = standardise(raw, CONTRACT).select("event_id", F.unix_micros("event_time").alias("micros"), "event_date")
        rows = {r["event_id"]: (r["micros"], r["event_date"]) for r in df.collect()}
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    epoch = datetime(1970, 1, 1)
    for i, (value, instant) in enumerate(EVENT_TIMES):
        expected = (None, None) if instant is None else ((instant - epoch) // timedelta(microseconds=1), instant.date())
        assert rows[f"t{i}"] == expected, value


def test_reject_invalid_records(standardised: Any) -> None:
    kept = reject_invalid_records(standardised, CONTRACT)
    assert kept.columns == CURATED_COLUMNS
    assert sorted(r["event_id"] for r in kept.collect()) == ["e1", "e1", "e1", "e2", "e3", "e4", "e5", "e6", "e7"]


def test_deduplicate_rows(standardised: Any) -> None:
    deduplicated = deduplicate(reject_invalid_records(standardised, CONTRACT))
    assert [(f.name, f.dataType) for f in deduplicated.schema.fields] == CURATED_TYPES
    assert sorted(tuple(r) for r in deduplicated.collect()) == [CURATED[e] for e in sorted(CURATED)]


def test_deduplicate_tie_break_ignores_input_order(spark: Any) -> None:
    copies = [
        "('a', TIMESTAMP'2026-01-01 00:00:00', CAST(NULL AS DOUBLE), 2D)",
        "('a', TIMESTAMP'2026-01-01 00:00:00', 10D, 1D)",  # as late and more complete: wins
        "('a', TIMESTAMP'2026-01-01 00:00:00', 10D, CAST(NULL AS DOUBLE))",
        "('b', TIMESTAMP'2026-01-01 00:00:00', 5D, 1D)",
        "('b', TIMESTAMP'2026-01-01 00:00:00', 5D, 3D)",  # as complete: the greater value wins
    ]
    when = datetime(2026, 1, 1)
    expected = [("a", when, 10.0, 1.0), ("b", when, 5.0, 3.0)]
    for rows in (copies, copies[::-1]):
        values = ", ".join(rows)
        df = spark.sql(f"SELECT * FROM VALUES {values} AS t(event_id, event_time, x, y)").repartition(2)
        assert sorted(tuple(r) for r in deduplicate(df).collect()) == expected


STATS = build_statistics(
    CONTRACT,
    "robust",
    {
        f.name: {
            "count": 4,
            "mean": 1.0,
            "std": 1.0,
            "min": 0.0,
            "max": 2.0,
            "max_abs": 2.0,
            "q1": 1.0,
            "median": m,
            "q3": 3.0,
        }
        for f, m in zip(CONTRACT.numeric_features, (90.0, 50.0, 3.0, 1.25, 1977.5, 5.0), strict=True)
    },
    training_rows=4,
)


@pytest.fixture(scope="module")
def curated(standardised: Any) -> Any:
    return deduplicate(reject_invalid_records(standardised, CONTRACT)).cache()


def test_handle_missing_training_rows(curated: Any) -> None:
    imputed = handle_missing(curated, CONTRACT, STATS)
    assert imputed.columns == [*CURATED_COLUMNS, "year_built_missing"]
    assert imputed.schema["year_built_missing"].dataType == T.IntegerType()
    rows = {r["event_id"]: tuple(r)[1:] for r in imputed.drop("event_time", "event_date").collect()}
    assert rows == {
        # home, garden, living, lot, bedrooms, bathrooms, year, distance, price, year_built_missing
        "e1": ("detached", "M", 120.0, 500.0, 3.0, 1.5, 1990.0, 5.0, 360000.0, 0),
        "e2": ("condo", "N", CURATED["e2"][4], 0.0, 3.0, 1.0, 1977.5, CURATED["e2"][9], 250000.0, 1),
        "e3": ("castle", "XL", 90.0, 50.0, 4.0, 2.5, 1850.0, 12.0, 500000.0, 0),
        "e5": ("townhouse", "L", 95.5, 150.0, 3.0, 2.0, 1975.0, 8.0, 420000.0, 0),
        "e6": ("other", "N", 80.0, 100.0, 3.0, 1.25, 2010.0, 10.0, 300000.0, 0),
        "e7": ("apartment", "N", 45.5, 0.0, 1.0, 1.0, 1965.0, 1.5, 180000.0, 0),
    }


def test_handle_missing_keeps_unlabeled_rows_when_asked(curated: Any) -> None:
    imputed = handle_missing(curated, CONTRACT, STATS, drop_unlabeled=False)
    e4 = imputed.where("event_id = 'e4'").first()
    assert e4 is not None and e4["price"] is None and e4["living_area"] == 60.0


def test_encode_rows_and_types(curated: Any) -> None:
    encoded = encode(handle_missing(curated, CONTRACT, STATS), CONTRACT)
    one_hot = [c for c in CONTRACT.feature_columns() if c.startswith("home_type_")]
    types = {f.name: f.dataType for f in encoded.schema.fields}
    assert {types[f.name] for f in CONTRACT.numeric_features} == {T.DoubleType()}
    assert {types[c] for c in ["garden_size", "year_built_missing", *one_hot]} == {T.IntegerType()}
    rows = {r["event_id"]: (r["garden_size"], *(r[c] for c in one_hot)) for r in encoded.collect()}
    assert rows == {
        "e1": (10, 0, 0, 1, 0, 0),
        "e2": (0, 0, 1, 0, 0, 0),
        "e3": (0, 0, 0, 0, 0, 1),  # unseen "XL" -> missing -> "N"; unseen "castle" -> other
        "e5": (20, 0, 0, 0, 1, 0),
        "e6": (0, 0, 0, 0, 0, 1),  # missing garden -> "N"; missing home type -> other
        "e7": (0, 1, 0, 0, 0, 0),
    }


def test_encode_without_imputation_treats_null_as_missing(spark: Any) -> None:
    numbers = [F.lit(None).cast("double").alias(f.name) for f in CONTRACT.numeric_features]
    df = spark.sql("SELECT 'x' AS event_id, CAST(NULL AS STRING) AS home_type, CAST(NULL AS STRING) AS garden_size")
    row = encode(df.select("*", *numbers), CONTRACT).first()
    assert row is not None and row["garden_size"] == 0 and row["home_type_other"] == 1


def test_apply_scaler_values(curated: Any) -> None:
    scaled = apply_scaler(handle_missing(curated, CONTRACT, STATS), STATS)
    e3 = scaled.where("event_id = 'e3'").first()
    assert e3 is not None
    # robust statistics above: center = median, scale = q3 - q1 = 2.0 for every feature
    assert [e3[f.name] for f in CONTRACT.numeric_features] == [
        (90.0 - 90.0) / 2,
        (50.0 - 50.0) / 2,
        (4 - 3.0) / 2,
        (2.5 - 1.25) / 2,
        (1850 - 1977.5) / 2,
        (12.0 - 5.0) / 2,
    ]


def test_split_is_exact_and_independent_of_partitioning(curated: Any) -> None:
    labeled = curated.where("price is not null")
    sides = [
        sorted((r[0], r[1]) for r in df.select("event_id", is_validation(0.2, 0)).collect())
        for df in (labeled, labeled.repartition(3))
    ]
    expected = [("e1", False), ("e2", False), ("e3", False), ("e5", True), ("e6", False), ("e7", False)]
    assert sides == [expected, expected]
    train, validation = split_train_validation(labeled, 0.2, 0)
    assert train.columns == validation.columns == CURATED_COLUMNS
    ids = labeled.sparkSession.range(4000).selectExpr("concat('id-', id) AS event_id")
    share = ids.agg(F.avg(is_validation(0.25, 7).cast("double"))).first()
    assert share is not None and 0.22 < share[0] < 0.28  # about the requested fraction
    is_validation(0.0, 0)  # no validation split at all is allowed
    with pytest.raises(ValueError, match="fraction"):
        split_train_validation(labeled, 1.0, 0)
