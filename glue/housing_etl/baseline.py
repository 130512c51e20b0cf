"""The drift baseline of the training split, fitted with Spark.

The definitions (which features, percentile edges, bins, the document) are
``contracts.drift``'s; this module computes the same numbers at scale over the encoded
training rows (``pipeline.feature_matrix``) in two passes and in memory that does not
grow with the data: one aggregate counts the rows and each categorical feature's
categories and sketches the percentiles of every numeric feature and of the label; the
exact pass of ``housing_etl.quantiles`` then gives the exact percentiles (the bin edges)
and, from what it counted around them, the number of values below each edge, so the
numeric bins (``edges[k-1] <= x < edges[k]``) need no pass of their own. The result
equals ``contracts.drift.fit_baseline`` over the same rows, which a test checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

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
    categorical = [f for f in layout if f.kind != NUMERIC]
    percentiles = QuantileQuery(list(numeric.values()), CDF_PROBABILITIES)
    tallies = []
    for f in categorical:
        category, size = _category(f, columns), len(f.categories)
        tallies += [F.count(F.when(category == i, 1)).alias(f"_{f.name}_{i}") for i in range(size)]
        outside = category.isNull() | (category < 0) | (category >= size)
        tallies.append(F.count(F.when(outside, 1)).alias(f"_{f.name}_outside"))
    row = train.agg(F.count(F.lit(1)).alias(_ROWS), *tallies, *percentiles.sketches()).first()
    if row is None or not row[_ROWS]:
        raise ValueError("cannot fit a drift baseline on an empty training split")
    rows = int(row[_ROWS])
    exact = percentiles.resolve(train, row)

    def numeric_bins(column: str) -> dict[str, Any]:
        if percentiles.observed(column) != rows:
            raise ValueError(f"{column} has missing values in the encoded training rows")
        cuts, psi_cuts = edges_from_percentiles([v for v in exact[column] if v is not None])
        below = [0, *(percentiles.count_below(column, edge) for edge in cuts), rows]
        return numeric_spec(cuts, psi_cuts, [b - a for a, b in itertools.pairwise(below)])

    features: dict[str, dict[str, Any]] = {}
    for feature in layout:
        if feature.kind == NUMERIC:
            features[feature.name] = numeric_bins(numeric[feature.name])
        else:
            size = len(feature.categories)
            if row[f"_{feature.name}_outside"]:
                raise ValueError(f"{feature.name} has values outside the encoding's {size} bins")
            counts = [row[f"_{feature.name}_{i}"] for i in range(size)]
            features[feature.name] = categorical_spec(feature.categories, counts)
    return build_baseline(stats, features, numeric_bins(label), training_rows=rows, provenance=provenance)
