"""The bounded-memory exact quantiles equal Spark's exact ``percentile``, value for value:
on the hand-worked fixture's training split, on random data (with ties, nulls and
small sketch accuracies that force the narrowing passes), and when the sketch lies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from housing_etl.pipeline import PipelineCounts
from housing_etl.quantiles import QuantileQuery, exact_quantiles
from housing_etl.split import split_train_validation
from housing_etl.storage import read_curated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

import contracts

pytestmark = pytest.mark.spark
CONTRACT = contracts.load()
SCALER_QUANTILES = [0.25, 0.5, 0.75]


def percentiles(df: Any, columns: list[str], probabilities: list[float]) -> dict[str, list[float | None]]:
    """Spark's exact ``percentile``: what the bounded fit must reproduce."""
    row = df.agg(*[F.percentile(F.col(c).cast("double"), probabilities) for c in columns]).first()
    return {c: list(row[i]) if row[i] else [None] * len(probabilities) for i, c in enumerate(columns)}


def test_fixture_training_split(spark: Any, fixture_run: tuple[Path, Path, PipelineCounts]) -> None:
    curated = read_curated(spark, str(fixture_run[1] / "curated"), CONTRACT).where("price IS NOT NULL")
    train = split_train_validation(curated, 0.2, 0)[0]
    names = [f.name for f in CONTRACT.numeric_features]
    probabilities = [0.0, 0.1, *SCALER_QUANTILES, 0.9, 1.0]  # the scaler's and decile edges
    assert exact_quantiles(train, names, probabilities) == percentiles(train, names, probabilities)


values = st.one_of(
    st.sampled_from([0.0, 1.0, 2.5, -3.0, 1e6]),  # ties
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.none(),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(values, values), max_size=200),
    probabilities=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=4),
    accuracy=st.sampled_from([10, 10_000]),
    limit=st.sampled_from([8, 20_000]),
)
def test_random_data(spark: Any, rows: list[Any], probabilities: list[float], accuracy: int, limit: int) -> None:
    df = spark.createDataFrame(rows, "a double, b double").repartition(3)
    query = QuantileQuery(["a", "b"], probabilities, accuracy=accuracy, limit=limit)
    assert query.resolve(df, df.agg(*query.sketches()).first()) == percentiles(df, ["a", "b"], probabilities)


@pytest.fixture(scope="module")
def thousand(spark: Any) -> Any:
    """1,000 distinct values and 200 copies of one value, in four partitions."""
    return spark.createDataFrame(
        [(float(i * 7 % 1000),) for i in range(1000)] + [(500.0,)] * 200, "x double"
    ).repartition(4)


def test_narrowing_keeps_the_collected_values_under_the_limit(thousand: Any) -> None:
    """A limit far below the sketch's bracket forces narrowing passes before any
    value is collected; the answer does not change."""
    query = QuantileQuery(["x"], SCALER_QUANTILES, accuracy=20, limit=5)
    assert query.resolve(thousand, thousand.agg(*query.sketches()).first()) == percentiles(
        thousand, ["x"], SCALER_QUANTILES
    )
    assert query.passes > 2


def test_a_sketch_that_misses_is_corrected(thousand: Any) -> None:
    """Counts verify every bracket: wrong sketch values cost passes, never exactness."""
    query = QuantileQuery(["x"], SCALER_QUANTILES)
    misleading = {"_quantile_count_x": 1200, "_quantile_sketch_x": [999.0, 999.0, 0.0, 0.0, 0.0, 1.0]}
    assert query.resolve(thousand, misleading) == percentiles(thousand, ["x"], SCALER_QUANTILES)
    assert query.passes > 2


def test_probabilities_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\]"):
        QuantileQuery(["x"], [0.5, 1.5])
