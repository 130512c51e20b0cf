"""The drift baseline of the training split, fitted with Spark.

The definitions (which features, percentile edges, bins, the document) are
``contracts.drift``'s; this module computes the same numbers at scale over the encoded
training rows (``pipeline.feature_matrix``): the exact percentiles of every numeric
feature and of the label from ``housing_etl.quantiles`` (memory that does not grow with
the data, two passes), then one pass that puts each value in its bin
(Spark ML's ``Bucketizer``: a binary search per value, the same ``edges[k-1] <= x <
edges[k]`` bins) and counts the bins. The result equals ``contracts.drift.fit_baseline``
over the same rows, which a test checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts.drift import (
    CDF_PROBABILITIES,
    NUMERIC,
    PREDICTION,
    Feature,
    build_baseline,
    categorical_spec,
    edges_from_percentiles,
    monitored_features,
    numeric_spec,
)
from housing_etl.quantiles import QuantileQuery

_ROWS = "_rows"
_FEATURE, _BIN = "_feature", "_bin"


def _category(feature: Feature, columns: list[str]) -> Column:
    """The category index of a categorical feature, as the drift function reads it."""
    names = [columns[c] for c in feature.columns]
    if feature.values:
        value = F.col(names[0]).cast("double")
        case = F.when(value == F.lit(feature.values[0]), F.lit(0))
        for i, code in enumerate(feature.values[1:], start=1):
            case = case.when(value == F.lit(code), F.lit(i))
        return case
    return F.array_position(F.array(*[F.col(n).cast("double") for n in names]), 1.0) - 1


def fit_baseline(
    train: DataFrame, stats: Mapping[str, Any], *, label: str, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """The baseline document of ``train``: encoded training rows with their label column."""
    columns = list(stats["feature_columns"])
    layout = monitored_features(stats)
    numeric = {f.name: columns[f.columns[0]] for f in layout if f.kind == NUMERIC} | {PREDICTION: label}
    percentiles = QuantileQuery(list(numeric.values()), CDF_PROBABILITIES)
    row = train.agg(F.count(F.lit(1)).alias(_ROWS), *percentiles.sketches()).first()
    if row is None or not row[_ROWS]:
        raise ValueError("cannot fit a drift baseline on an empty training split")
    exact = percentiles.resolve(train, row)
    edges = {name: edges_from_percentiles(exact[column]) for name, column in numeric.items()}

    binned = Bucketizer(
        splitsArray=[[float("-inf"), *edges[name][0], float("inf")] for name in numeric],
        inputCols=[f"_in_{i}" for i in range(len(numeric))],
        outputCols=[f"_out_{i}" for i in range(len(numeric))],
    ).transform(
        train.select(
            *[F.col(column).cast("double").alias(f"_in_{i}") for i, column in enumerate(numeric.values())],
            *[_category(f, columns).alias(f.name) for f in layout if f.kind != NUMERIC],
        )
    )
    pairs = [
        F.struct(F.lit(name).alias(_FEATURE), F.col(f"_out_{i}").cast("int").alias(_BIN))
        for i, name in enumerate(numeric)
    ]
    pairs += [
        F.struct(F.lit(f.name).alias(_FEATURE), F.col(f.name).cast("int").alias(_BIN))
        for f in layout
        if f.kind != NUMERIC
    ]
    counted = binned.select(F.explode(F.array(*pairs)).alias("pair")).groupBy("pair").count().collect()
    counts: dict[str, dict[int, int]] = {}
    for pair, count in counted:
        counts.setdefault(pair[_FEATURE], {})[pair[_BIN]] = count

    def histogram(name: str, size: int) -> list[int]:
        found = counts.get(name, {})
        if any(b is None or not 0 <= b < size for b in found):
            raise ValueError(f"{name} has values outside the encoding's {size} bins")
        return [found.get(b, 0) for b in range(size)]

    features: dict[str, dict[str, Any]] = {}
    for feature in layout:
        if feature.kind == NUMERIC:
            cuts, psi_cuts = edges[feature.name]
            features[feature.name] = numeric_spec(cuts, psi_cuts, histogram(feature.name, len(cuts) + 1))
        else:
            features[feature.name] = categorical_spec(
                feature.categories, histogram(feature.name, len(feature.categories))
            )
    cuts, psi_cuts = edges[PREDICTION]
    prediction = numeric_spec(cuts, psi_cuts, histogram(PREDICTION, len(cuts) + 1))
    return build_baseline(stats, features, prediction, training_rows=int(row[_ROWS]), provenance=provenance)
