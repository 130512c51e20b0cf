"""Fitting and applying the feature statistics (imputation medians and scaler).

The statistics come from one aggregation over the training split and two more passes
that make the quantiles exact: memory stays bounded however large the split (see
:func:`fit_scaler`). They are fitted on the observed (non-missing) values, so imputed
medians do not shrink the spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from contracts import Contract, Field
from contracts.features import SCALING_METHODS, build_statistics
from housing_etl.quantiles import QuantileQuery, positions

QUANTILES = (0.25, 0.5, 0.75)
COUNTED_VALUES = 1_000
ROWS = "_rows"


def summary_columns(name: str) -> list[Column]:
    """Aggregates summarising one feature's observed values (quantiles apart)."""
    x = F.col(name).cast("double")
    return [
        F.count(x).alias(f"{name}__count"),
        F.mean(x).alias(f"{name}__mean"),
        F.stddev_pop(x).alias(f"{name}__std"),
        F.min(x).alias(f"{name}__min"),
        F.max(x).alias(f"{name}__max"),
        F.max(F.abs(x)).alias(f"{name}__max_abs"),
    ]


def summarise(df: DataFrame, contract: Contract) -> Row:
    """The fit's first pass over ``df`` (the training split): the number of rows and
    the summary of each numeric feature (:func:`summary_columns`)."""
    aggregates = [F.count(F.lit(1)).alias(ROWS)]
    for f in contract.numeric_features:
        aggregates += summary_columns(f.name)
    row = df.agg(*aggregates).first()
    if row is None or not row[ROWS]:
        raise ValueError("cannot fit feature statistics on an empty training split")
    return row


def observed(summary: Row, name: str) -> int:
    """The number of values (nulls apart) of a numeric feature in the summarised rows."""
    return int(summary[f"{name}__count"])


def integer_values(field: Field) -> range | None:
    """The values an integer feature can take, if its contract range holds at most
    COUNTED_VALUES of them: standardisation nulls values outside the range, so the
    exact pass can count each value instead of sketching the feature."""
    if field.type != "integer" or field.min is None or field.max is None:
        return None
    low, high = math.ceil(field.min), math.floor(field.max)
    return range(low, high + 1) if high - low < COUNTED_VALUES else None


def want_quantiles(query: QuantileQuery, contract: Contract, summary: Row) -> None:
    """Ask ``query`` for the scaler's quantiles of every numeric feature (integer
    features with few values counted value by value: :func:`integer_values`)."""
    for f in contract.numeric_features:
        count = observed(summary, f.name)
        if (values := integer_values(f)) is not None:
            query.count_each(f.name, count, values)
        query.want(f.name, count, positions(count, QUANTILES))


def scaler_statistics(contract: Contract, method: str, summary: Row, query: QuantileQuery) -> dict[str, Any]:
    """The statistics artifact from the summary and the resolved ``query``."""
    summaries: dict[str, dict[str, float | None]] = {}
    for f in contract.numeric_features:
        q1, median, q3 = (query.percentile(f.name, at) for at in positions(observed(summary, f.name), QUANTILES))
        summaries[f.name] = {
            "count": summary[f"{f.name}__count"],
            "mean": summary[f"{f.name}__mean"],
            "std": summary[f"{f.name}__std"],
            "min": summary[f"{f.name}__min"],
            "max": summary[f"{f.name}__max"],
            "max_abs": summary[f"{f.name}__max_abs"],
            "q1": q1,
            "median": median,
            "q3": q3,
        }
    return build_statistics(contract, method, summaries, training_rows=int(summary[ROWS]))


def check_method(method: str) -> None:
    """Refuse an unknown scaling method before any pass over the data."""
    if method not in SCALING_METHODS:
        raise ValueError(f"unknown scaling method {method!r}; expected one of {SCALING_METHODS}")


def fit_scaler(df: DataFrame, contract: Contract, method: str) -> dict[str, Any]:
    """Fit imputation medians and ``method`` scaling on ``df`` (the training split).

    Returns the statistics artifact (see ``contracts.features.build_statistics``):
    for each numeric feature the median used for imputation, the scaler's
    ``center``/``scale`` and the summary they came from, plus the feature order and
    the contract's name and version.

    Quantiles are exact: linear interpolation between the closest ranks, as Spark's
    ``percentile`` and ``numpy.percentile`` (by default) give them, never an
    approximation whose result could depend on partitioning (re-runs must give the
    same file). Three passes: :func:`summarise` counts the values, then a
    :class:`~housing_etl.quantiles.QuantileQuery` (a sketch pass and an exact pass),
    whose memory does not grow with the number of distinct values, finds the
    quantiles. ``df`` must be deterministic (stored files, filters, a cache).
    The pipeline runs the same passes with the drift baseline's positions added
    (``housing_etl.baseline``).
    """
    check_method(method)
    return fit_statistics(df, contract, method, summarise(df, contract))[0]


def fit_statistics(
    df: DataFrame,
    contract: Contract,
    method: str,
    summary: Row,
    also: Sequence[Callable[[QuantileQuery], None]] = (),
) -> tuple[dict[str, Any], QuantileQuery]:
    """The statistics of ``df`` from its ``summary`` (:func:`summarise`) and the two
    passes of one ``QuantileQuery``, returned with the resolved query. Each of ``also``
    asks the query for more positions before it runs (the drift baseline's), so
    they cost no pass of their own."""
    query = QuantileQuery()
    want_quantiles(query, contract, summary)
    for want in also:
        want(query)
    query.run(df)
    return scaler_statistics(contract, method, summary, query), query


def apply_scaler(df: DataFrame, stats: Mapping[str, Any]) -> DataFrame:
    """Scale each numeric feature as ``(x - center) / scale`` with the fitted values."""
    return df.withColumns(
        {
            name: (F.col(name).cast("double") - F.lit(spec["center"])) / F.lit(spec["scale"])
            for name, spec in stats["numeric"].items()
        }
    )
