"""Fitting and applying the feature statistics (imputation medians and scaler).

All statistics come from one aggregation over the training split: a second pass
over the data would cost as much as the rest of the pipeline. They are fitted on the
observed (non-missing) values, so imputed medians do not shrink the spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import Contract
from contracts.features import SCALING_METHODS, build_statistics

QUANTILES = (0.25, 0.5, 0.75)
_ROWS = "_rows"


def summary_columns(name: str) -> list[Column]:
    """Aggregates summarising one feature's observed values.

    Quantiles use Spark's exact ``percentile`` (linear interpolation between the
    closest ranks, as ``numpy.percentile`` does by default), not ``percentile_approx``,
    whose result can depend on partitioning: re-runs must give the same file.
    """
    x = F.col(name).cast("double")
    return [
        F.count(x).alias(f"{name}__count"),
        F.mean(x).alias(f"{name}__mean"),
        F.stddev_pop(x).alias(f"{name}__std"),
        F.min(x).alias(f"{name}__min"),
        F.max(x).alias(f"{name}__max"),
        F.max(F.abs(x)).alias(f"{name}__max_abs"),
        F.percentile(x, list(QUANTILES)).alias(f"{name}__quantiles"),
    ]


def fit_scaler(df: DataFrame, contract: Contract, method: str) -> dict[str, Any]:
    """Fit imputation medians and ``method`` scaling on ``df`` (the training split).

    Returns the statistics artifact (see ``contracts.features.build_statistics``):
    for each numeric feature the median used for imputation, the scaler's
    ``center``/``scale`` and the summary they came from, plus the feature order and
    the contract's name and version.
    """
    if method not in SCALING_METHODS:
        raise ValueError(f"unknown scaling method {method!r}; expected one of {SCALING_METHODS}")
    aggregates = [F.count(F.lit(1)).alias(_ROWS)]
    for f in contract.numeric_features:
        aggregates += summary_columns(f.name)
    row = df.agg(*aggregates).first()
    if row is None or not row[_ROWS]:
        raise ValueError("cannot fit feature statistics on an empty training split")
    summaries: dict[str, dict[str, float | None]] = {}
    for f in contract.numeric_features:
        q1, median, q3 = row[f"{f.name}__quantiles"] or (None, None, None)
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
