"""Fitting and applying the feature statistics (imputation medians and scaler).

The statistics come from one aggregation over the training split and, for real-valued
features, one more pass that makes their quantiles exact: memory stays bounded however
large the split (see :func:`fit_scaler`). They are fitted on the observed
(non-missing) values, so imputed medians do not shrink the spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import Contract, Field
from contracts.features import SCALING_METHODS, build_statistics
from housing_etl.quantiles import DEFAULT_LIMIT, QuantileQuery

QUANTILES = (0.25, 0.5, 0.75)
_ROWS = "_rows"


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


def has_few_values(field: Field) -> bool:
    """An integer feature whose contract range holds at most DEFAULT_LIMIT integers.

    Standardisation nulls values outside the range, so such a feature has no more
    distinct values than that, however many rows there are: Spark's exact
    ``percentile`` (which keeps one count per distinct value) is bounded by the
    contract and needs no second pass.
    """
    if field.type != "integer" or field.min is None or field.max is None:
        return False
    return field.max - field.min < DEFAULT_LIMIT


def fit_scaler(df: DataFrame, contract: Contract, method: str) -> dict[str, Any]:
    """Fit imputation medians and ``method`` scaling on ``df`` (the training split).

    Returns the statistics artifact (see ``contracts.features.build_statistics``):
    for each numeric feature the median used for imputation, the scaler's
    ``center``/``scale`` and the summary they came from, plus the feature order and
    the contract's name and version.

    Quantiles are exact: linear interpolation between the closest ranks, as Spark's
    ``percentile`` and ``numpy.percentile`` (by default) give them, never an
    approximation whose result could depend on partitioning (re-runs must give the
    same file). Features with few values (:func:`has_few_values`) get them from
    ``percentile`` in the one aggregation; the others from a
    :class:`~housing_etl.quantiles.QuantileQuery`, whose memory does not grow with
    the number of distinct values, and which reads ``df`` once more: ``df`` must be
    deterministic (stored files, filters, a cache).
    """
    if method not in SCALING_METHODS:
        raise ValueError(f"unknown scaling method {method!r}; expected one of {SCALING_METHODS}")
    few = [f.name for f in contract.numeric_features if has_few_values(f)]
    quantiles = QuantileQuery([f.name for f in contract.numeric_features if f.name not in few], QUANTILES)
    aggregates = [F.count(F.lit(1)).alias(_ROWS)]
    for f in contract.numeric_features:
        aggregates += summary_columns(f.name)
    for name in few:
        aggregates.append(F.percentile(F.col(name).cast("double"), list(QUANTILES)).alias(f"{name}__quantiles"))
    row = df.agg(*aggregates, *quantiles.sketches()).first()
    if row is None or not row[_ROWS]:
        raise ValueError("cannot fit feature statistics on an empty training split")
    exact = quantiles.resolve(df, row)
    exact.update({name: row[f"{name}__quantiles"] or [None] * len(QUANTILES) for name in few})
    summaries: dict[str, dict[str, float | None]] = {}
    for f in contract.numeric_features:
        q1, median, q3 = exact[f.name]
        summaries[f.name] = {
            "count": row[f"{f.name}__count"],
            "mean": row[f"{f.name}__mean"],
            "std": row[f"{f.name}__std"],
            "min": row[f"{f.name}__min"],
            "max": row[f"{f.name}__max"],
            "max_abs": row[f"{f.name}__max_abs"],
            "q1": q1,
            "median": median,
            "q3": q3,
        }
    return build_statistics(contract, method, summaries, training_rows=int(row[_ROWS]))


def apply_scaler(df: DataFrame, stats: Mapping[str, Any]) -> DataFrame:
    """Scale each numeric feature as ``(x - center) / scale`` with the fitted values."""
    return df.withColumns(
        {
            name: (F.col(name).cast("double") - F.lit(spec["center"])) / F.lit(spec["scale"])
            for name, spec in stats["numeric"].items()
        }
    )
