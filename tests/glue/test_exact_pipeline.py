"""The whole pipeline on the hand-worked fixture: exact counts, curated rows, statistics,
training CSV (read back column by column) and Spark/pure-Python encoding parity."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy
import pytest
from housing_etl.pipeline import OutputPaths, PipelineCounts
from housing_etl.storage import read_curated

import contracts
from contracts.features import encode_record, load_statistics, scaler_parameters
from tests.glue.conftest import read_csv
from tests.glue.fixtures import CURATED, MILE, SQFT, curated_record

pytestmark = pytest.mark.spark
CONTRACT = contracts.load()
TRAIN_IDS = ["e1", "e2", "e3", "e6", "e7"]  # seed 0, fraction 0.2: e5 is held out, e4 has no price
FEATURE_TYPES = {f.name: f.type for f in CONTRACT.numeric_features}


@pytest.fixture(scope="module")
def run(fixture_run: tuple[Path, Path, PipelineCounts]) -> tuple[Path, PipelineCounts]:
    _, out, counts = fixture_run
    return out, counts


def float32(value: str | float) -> float:
    """A CSV value or a Python double as the 32-bit float XGBoost would read."""
    return float(numpy.float32(value))


def statistics_of(out: Path) -> dict[str, Any]:
    return load_statistics((out / "statistics" / "feature_statistics.json").read_text())


def test_counts(run: tuple[Path, PipelineCounts]) -> None:
    _, counts = run
    assert counts == PipelineCounts(
        read=13, corrupt=2, rejected=2, duplicates_removed=2, curated=7, unlabeled=1, train=5, validation=1
    )


def test_curated_parquet(spark: Any, run: tuple[Path, PipelineCounts]) -> None:
    out, _ = run
    folders = sorted(p.name for p in (out / "curated").iterdir() if p.is_dir())
    assert folders == ["event_date=2026-01-01", "event_date=2026-01-02", "event_date=2026-01-03"]
    rows = read_curated(spark, str(out / "curated"), CONTRACT).collect()
    assert sorted(tuple(r) for r in rows) == [CURATED[e] for e in sorted(CURATED)]


def test_statistics_values(run: tuple[Path, PipelineCounts]) -> None:
    """Robust scaling fitted on the observed values of the five training rows, by hand.

    Quantiles interpolate linearly between the closest ranks: for n values the q-th
    quantile sits at position q * (n - 1) of the sorted values.
    """
    stats = statistics_of(run[0])
    assert stats["training_rows"] == 5 and stats["scaling_method"] == "robust"
    expected = {
        # name: (count, q1, median, q3, mean, min, max)
        "living_area": (
            4,
            0.25 * 45.5 + 0.75 * 80,
            (80 + 1000 * SQFT) / 2,
            0.75 * 1000 * SQFT + 0.25 * 120,
            (45.5 + 80 + 1000 * SQFT + 120) / 4,
            45.5,
            120.0,
        ),
        "lot_area": (4, 0.0, 50.0, 0.75 * 100 + 0.25 * 500, 150.0, 0.0, 500.0),
        "bedrooms": (3, 2.0, 3.0, 3.5, 8 / 3, 1.0, 4.0),
        "bathrooms": (4, 1.0, 1.25, 0.75 * 1.5 + 0.25 * 2.5, 1.5, 1.0, 2.5),
        "year_built": (4, 0.25 * 1850 + 0.75 * 1965, 1977.5, 0.75 * 1990 + 0.25 * 2010, 1953.75, 1850.0, 2010.0),
        "distance_to_center": (5, 2.5 * MILE, 5.0, 10.0, (1.5 + 2.5 * MILE + 5 + 10 + 12) / 5, 1.5, 12.0),
    }
    for name, (count, q1, median, q3, mean, low, high) in expected.items():
        spec = stats["numeric"][name]
        fitted = spec["fitted"]
        assert fitted["count"] == count, name
        actual = [fitted[k] for k in ("q1", "median", "q3", "mean", "min", "max", "max_abs")]
        assert actual == pytest.approx([q1, median, q3, mean, low, high, high], rel=1e-12), name
        assert (spec["impute"], spec["center"]) == pytest.approx((median, median), rel=1e-12), name
        assert spec["scale"] == pytest.approx(q3 - q1, rel=1e-12), name


def test_statistics_schema(run: tuple[Path, PipelineCounts]) -> None:
    stats = statistics_of(run[0])
    assert list(stats) == [
        "schema_version",
        "contract",
        "label",
        "scaling_method",
        "feature_columns",
        "training_rows",
        "numeric",
        "ordinal",
        "nominal",
    ]
    assert stats["schema_version"] == 1
    assert stats["contract"] == {"name": CONTRACT.name, "version": CONTRACT.version}
    assert (stats["label"], stats["feature_columns"]) == ("price", CONTRACT.feature_columns())
    assert list(stats["numeric"]) == [f.name for f in CONTRACT.numeric_features]
    for name, spec in stats["numeric"].items():
        field = CONTRACT.field(name)
        assert list(spec) == ["type", "valid_range", "flag_missing", "impute", "center", "scale", "fitted"]
        assert (spec["type"], spec["valid_range"]) == (field.type, [field.min, field.max])
        assert spec["flag_missing"] is (name == "year_built")
        assert list(spec["fitted"]) == ["count", "mean", "std", "min", "max", "max_abs", "q1", "median", "q3"]
        assert all(isinstance(spec[k], float) for k in ("impute", "center", "scale"))
    assert stats["ordinal"] == {
        "garden_size": {"normalise": "upper", "mapping": {"N": 0, "S": 5, "M": 10, "L": 20}, "missing_value": "N"}
    }
    assert stats["nominal"] == {
        "home_type": {
            "normalise": "lower",
            "categories": ["apartment", "condo", "detached", "townhouse"],
            "columns": [f"home_type_{c}" for c in ("apartment", "condo", "detached", "townhouse", "other")],
        }
    }


def test_training_csv_column_by_column(run: tuple[Path, PipelineCounts]) -> None:
    out, _ = run
    assert sorted(p.name for p in (out / "training").iterdir() if p.is_dir()) == ["channel=train", "channel=validation"]
    assert [p.name for p in (out / "training").rglob("*") if p.is_file() and not p.name.startswith(("part-", "."))] == [
        "_SUCCESS"  # at the training prefix, outside the channel folders
    ]
    paths = OutputPaths.under(str(out))
    assert (paths.train, paths.validation) == (f"{out}/training/channel=train", f"{out}/training/channel=validation")
    train = read_csv(paths.train)
    validation = read_csv(paths.validation)
    columns = ["price", *CONTRACT.feature_columns()]
    assert {len(row) for row in train + validation} == {len(columns)} == {14}
    assert len(train) == 5 and len(validation) == 1
    by_column = dict(zip(columns, zip(*train, strict=True), strict=True))
    assert sorted(float(v) for v in by_column["price"]) == [180000.0, 250000.0, 300000.0, 360000.0, 500000.0]
    row_of = {float(row[0]): row for row in train}
    e3 = [float(v) for v in row_of[500000.0]]
    assert e3 == pytest.approx(
        [
            500000.0,
            0.0,  # living_area 5 m2 is out of range -> median
            0.0,  # lot_area 200000 m2 is out of range -> median
            (4 - 3) / 1.5,
            (2.5 - 1.25) / 0.75,
            (1850 - 1977.5) / (0.75 * 1990 + 0.25 * 2010 - (0.25 * 1850 + 0.75 * 1965)),
            (12 - 5) / (10 - 2.5 * MILE),
            0,  # garden "XL" is unseen -> "N"
            0,  # year_built was given
            0,
            0,
            0,
            0,
            1,  # "castle" -> home_type_other
        ],
        rel=1e-7,  # written as float32
    )
    ordinal_and_one_hot = columns[7:]
    assert all(v in {"0", "1", "5", "10", "20"} for c in ordinal_and_one_hot for v in by_column[c])
    assert [float(v) for v in validation[0][:1]] == [420000.0]


def test_csv_rows_equal_pure_python_encoding(run: tuple[Path, PipelineCounts]) -> None:
    """Parity: each training row is the label plus encode_record(curated record), as
    the 32-bit floats XGBoost reads from either."""
    out, _ = run
    stats = statistics_of(out)
    paths = OutputPaths.under(str(out))
    rows = read_csv(paths.train) + read_csv(paths.validation)
    actual = {float32(row[0]): [float32(v) for v in row[1:]] for row in rows}
    for event_id in [*TRAIN_IDS, "e5"]:
        record = curated_record(event_id)
        assert actual[float32(record["price"])] == [float32(v) for v in encode_record(record, stats)], event_id


@pytest.mark.parametrize(
    ("method", "center", "scale"),
    [
        ("standard", (45.5 + 80 + 1000 * SQFT + 120) / 4, None),
        ("minmax", 45.5, 120 - 45.5),
        ("maxabs", 0.0, 120.0),
        ("robust", (80 + 1000 * SQFT) / 2, 0.75 * 1000 * SQFT + 0.25 * 120 - (0.25 * 45.5 + 0.75 * 80)),
    ],
)
def test_scaling_methods_by_hand(
    run: tuple[Path, PipelineCounts], method: str, center: float, scale: float | None
) -> None:
    """Every method's (center, scale) from the one fitted summary (Spark computed it for
    the robust run above; fit_scaler derives the others from the same aggregate)."""
    fitted = statistics_of(run[0])["numeric"]["living_area"]["fitted"]
    values = (45.5, 80.0, 1000 * SQFT, 120.0)
    if scale is None:  # population standard deviation
        scale = math.sqrt(sum((v - center) ** 2 for v in values) / len(values))
    assert fitted["std"] == pytest.approx(math.sqrt(sum((v - sum(values) / 4) ** 2 for v in values) / 4), rel=1e-12)
    assert scaler_parameters(method, fitted) == pytest.approx((center, scale), rel=1e-12)


def test_zero_spread_scales_by_one() -> None:
    constant = {
        "count": 3,
        "mean": 7.0,
        "std": 0.0,
        "min": 7.0,
        "max": 7.0,
        "max_abs": 0.0,
        "q1": 7.0,
        "median": 7.0,
        "q3": 7.0,
    }
    for method in ("standard", "minmax", "maxabs", "robust"):
        assert scaler_parameters(method, constant)[1] == 1.0, method


def test_statistics_file_is_deterministic(run: tuple[Path, PipelineCounts]) -> None:
    text = (run[0] / "statistics" / "feature_statistics.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert {n: s["type"] for n, s in json.loads(text)["numeric"].items()} == FEATURE_TYPES
