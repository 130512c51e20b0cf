"""The bounded-memory exact quantiles equal Spark's exact ``percentile``, value for value:
on the hand-worked fixture's training split, on random data (with ties, nulls and
small sketch accuracies that force the narrowing passes), and when the sketch lies."""

from __future__ import annotations

import bisect
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from housing_etl.pipeline import PipelineCounts
from housing_etl.quantiles import QuantileQuery, _bucketize, _sql_double, exact_quantiles, positions
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
    exact = exact_quantiles(df, ["a", "b"], probabilities, accuracy=accuracy, limit=limit)
    assert exact == percentiles(df, ["a", "b"], probabilities)


@pytest.fixture(scope="module")
def thousand(spark: Any) -> Any:
    """1,000 distinct values and 200 copies of one value, in four partitions."""
    return spark.createDataFrame(
        [(float(i * 7 % 1000),) for i in range(1000)] + [(500.0,)] * 200, "x double"
    ).repartition(4)


def scaler_query(**settings: int) -> QuantileQuery:
    query = QuantileQuery(**settings)
    query.want("x", 1200, positions(1200, SCALER_QUANTILES))
    return query


def resolved(query: QuantileQuery) -> dict[str, list[float | None]]:
    return {"x": [query.percentile("x", at) for at in positions(1200, SCALER_QUANTILES)]}


def test_narrowing_keeps_the_collected_values_under_the_limit(thousand: Any) -> None:
    """A limit far below the sketch's bracket forces narrowing passes before any
    value is collected; the answer does not change."""
    query = scaler_query(accuracy=20, limit=5)
    query.run(thousand)
    assert resolved(query) == percentiles(thousand, ["x"], SCALER_QUANTILES)
    assert query.passes > 2
    assert query.most_collected <= 5 * len(SCALER_QUANTILES)


def test_a_sketch_that_misses_is_corrected(thousand: Any) -> None:
    """Counts verify every bracket: wrong sketch values cost passes, never exactness."""
    query = scaler_query()
    query.resolve(thousand, {"_quantile_sketch_x": [999.0, 999.0, 0.0, 0.0, 0.0, 1.0]})
    assert resolved(query) == percentiles(thousand, ["x"], SCALER_QUANTILES)
    assert query.passes > 2


def test_counts_below_a_threshold_through_a_monotone_key(thousand: Any) -> None:
    """What the exact pass established counts values below thresholds near the wanted
    ranks, directly or through a non-decreasing key; where it cannot tell, None."""
    query = scaler_query()
    query.run(thousand)
    values = sorted(float(i * 7 % 1000) for i in range(1000)) + [500.0] * 200
    for threshold in (299.5, 300.0, 500.0, math.nextafter(500.0, math.inf), 699.5, 700.0):
        assert query.count_below("x", threshold) == sum(v < threshold for v in values)
    halved = lambda x: math.floor(x / 2)  # noqa: E731  (non-decreasing, with ties)
    assert query.count_below("x", 150.0, halved) == sum(halved(v) < 150.0 for v in values)
    assert query.count_below("x", 10.0) is None  # far from any wanted rank
    assert query.count_below("x", 600.0) is None  # between two wanted ranks, values not collected


def test_positions_outside_the_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\]"):
        positions(10, [0.5, 1.5])
    with pytest.raises(ValueError, match=r"position 10\.0 is outside the 10 values of x"):
        QuantileQuery().want("x", 10, [10.0])


def test_a_column_of_few_values_is_counted_value_by_value(spark: Any) -> None:
    """A column said to take only some values needs no sketch: the exact pass counts
    each value, which answers every rank; a value it was not said to take is refused."""
    rows = [(float(i % 7) if i % 5 else None,) for i in range(300)]
    df = spark.createDataFrame(rows, "x double").repartition(3)
    count = sum(r[0] is not None for r in rows)
    query = QuantileQuery()
    query.count_each("x", count, range(7))
    query.want("x", count, positions(count, SCALER_QUANTILES))
    assert query.sketches() == []
    query.run(df)
    exact = {"x": [query.percentile("x", at) for at in positions(count, SCALER_QUANTILES)]}
    assert exact == percentiles(df, ["x"], SCALER_QUANTILES)
    assert query.passes == 1  # the exact pass, no sketch
    assert query.count_below("x", 3.5) == sum(r[0] is not None and r[0] < 3.5 for r in rows)
    fewer = QuantileQuery()
    fewer.count_each("x", count, range(6))
    with pytest.raises(ValueError, match="x has values other than the 6 it was said to take"):
        fewer.run(df)


def test_numbers_reach_the_jvm_as_text_unchanged(spark: Any) -> None:
    """The sketch's probabilities (SQL literals) and the exact pass's cuts (JSON) are sent
    as text: each double arrives bit for bit, and a value equal to a cut lands in the
    bin that starts there, as a binary search over the same cuts would put it."""
    rng = random.Random(0)
    doubles = [5e-324, 2.2250738585072014e-308, 1e-05, 0.1, 1 / 3, -0.0, 1e300, math.nextafter(1.0, 2.0)]
    doubles += [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(200)]
    finite = sorted({d for d in doubles if math.isfinite(d)})
    row = spark.range(1).select(*[F.expr(_sql_double(d)) for d in finite]).first()
    assert [struct.pack("<d", v) for v in row] == [struct.pack("<d", d) for d in finite]
    splits = [-math.inf, *finite, math.inf]
    df = spark.createDataFrame([(d,) for d in [*finite, math.nan]], "x double")
    binned = _bucketize(df, [splits], ["x"], ["bin"]).collect()
    assert [int(r["bin"]) for r in binned] == [bisect.bisect_right(splits, d) - 1 for d in finite] + [len(finite) + 1]
