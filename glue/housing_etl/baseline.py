"""The drift baseline of the training split, fitted with Spark.

The definitions (which features, percentile edges, bins, the document) are
``contracts.drift``'s; this module computes the same numbers at scale, from the raw
training rows, in passes the pipeline runs anyway and in memory that does not grow
with the data:

- The percentiles of each encoded numeric feature are order statistics of its raw
  values, imputed and scaled. Imputation adds ``m`` copies of the training median
  ``v``; scaling, ``(x - center) / scale`` with a positive scale, never reverses the
  order of two values. So the value at rank ``k`` of the encoded column is the
  scaled raw value at rank ``k`` below the median, at rank ``k - m`` above it, and
  the scaled median between (:class:`Imputed`). The statistics fit's
  ``QuantileQuery`` is asked for those raw ranks too (:meth:`BaselineFit.want`), so
  the baseline's percentiles cost no pass of their own, and the same query counts
  the values under each bin edge through the scaling (``count_below`` with a key).
- The categories are counted over the encoded rows as they are written out
  (:meth:`BaselineFit.tallies`, an observation of the training CSV write).

In the rare case the exact pass cannot tell how many values lie below an edge (the
scaling maps different raw values to the edge itself and what lies next to them was
not collected), one more pass counts them in the encoded rows. The result equals
``contracts.drift.fit_baseline`` over the encoded rows, which a test checks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from contracts import Contract
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
from housing_etl.encode import encode
from housing_etl.missing import handle_missing
from housing_etl.quantiles import QuantileQuery, positions, spark_percentile
from housing_etl.scaling import ROWS, apply_scaler, observed, summarise


@dataclass(frozen=True)
class Imputed:
    """One column of ``rows`` training rows as the model sees it: its ``count`` raw
    values, ``rows - count`` imputed with the training ``median``, mapped by ``scale``."""

    column: str
    rows: int
    count: int
    scale: Callable[[float], float] = float
    median: float = math.nan

    @property
    def missing(self) -> int:
        return self.rows - self.count

    @property
    def median_ranks(self) -> tuple[int, int]:
        """The two raw ranks the median is interpolated between (``low``, ``high``)."""
        return (self.count - 1) // 2, self.count // 2

    def positions(self) -> list[float]:
        """Spark's ``percentile`` positions of the baseline's percentiles, in the encoded column."""
        return positions(self.rows, CDF_PROBABILITIES)

    def raw_positions(self) -> list[float]:
        """Positions of the raw values covering every rank the encoded column's
        percentiles may need.

        Whatever the ties, at most ``high`` raw values lie below the median and at
        least ``low + 1`` at or below it (``low``, ``high``: the median's ranks), so
        an encoded rank ``k`` under ``high`` holds raw rank ``k`` or the median, one
        over ``low + m`` holds raw rank ``k - m`` or the median, and the others hold
        the median. The median's own position is wanted too, to count around it.
        """
        if not self.missing:
            return self.positions()
        low, high = self.median_ranks
        wanted = [float(self.count - 1) * 0.5]
        for at in self.positions():
            if math.floor(at) < high:
                wanted.append(at)
            if math.ceil(at) - self.missing > low:
                wanted.append(at - self.missing)
        return wanted

    def values(self, query: QuantileQuery) -> Callable[[int], float]:
        """The encoded column's value at each rank, from the resolved ``query``."""
        if not self.missing:
            return lambda rank: self.scale(query.value_at(self.column, rank))
        median = self.median
        below, at_most = (query.count_below(self.column, t) for t in (median, math.nextafter(median, math.inf)))
        low, high = self.median_ranks
        if below is None or at_most is None or below > high or at_most <= low:
            raise ValueError(f"{self.column}: the imputed value {median} is not the median of the training values")

        def value(rank: int) -> float:
            if rank < below:
                return self.scale(query.value_at(self.column, rank))
            if rank < at_most + self.missing:
                return self.scale(median)
            return self.scale(query.value_at(self.column, rank - self.missing))

        return value

    def count_below(self, query: QuantileQuery, edge: float) -> int | None:
        """How many encoded values lie below ``edge``, if the exact pass can tell."""
        raw = query.count_below(self.column, edge, self.scale)
        if raw is None:
            return None
        return raw + (self.missing if self.missing and self.scale(self.median) < edge else 0)


def _scaling(spec: Mapping[str, Any]) -> Callable[[float], float]:
    """The scaler's arithmetic (``housing_etl.scaling.apply_scaler``), in the same doubles."""
    center, scale = float(spec["center"]), float(spec["scale"])
    if not scale > 0:
        raise ValueError(f"a scale must be positive to keep the order of values, got {scale}")
    return lambda x: (x - center) / scale


def _categories(feature: Feature, columns: list[str]) -> tuple[list[Column], Column]:
    """Whether an encoded row is in each category of a categorical feature, and whether
    it is in none (``contracts.drift.category_of`` raises for those): one column
    whose value names the category, or exactly one one-hot column set."""
    names = [columns[c] for c in feature.columns]
    if feature.values:
        value = F.col(names[0]).cast("double")
        return [value == F.lit(v) for v in feature.values], value.isNull() | ~value.isin(list(feature.values))
    hot = [F.col(n).cast("double") == F.lit(1.0) for n in names]
    ones = sum((F.when(h, 1).otherwise(0) for h in hot[1:]), F.when(hot[0], 1).otherwise(0))
    return hot, ones != F.lit(1)


class BaselineFit:
    """The drift baseline of a training split whose rows, and each numeric feature's
    values, the statistics fit's summary counted (``housing_etl.scaling.summarise``),
    fitted alongside the feature statistics:

    1. :meth:`want` adds the raw ranks the percentiles need to the statistics fit's
       query, before it runs;
    2. :meth:`tallies` counts the categories over the encoded rows (aggregates for
       any pass over them, such as an observation of the training CSV write);
    3. :meth:`document` assembles the baseline from both.
    """

    def __init__(self, contract: Contract, summary: Row) -> None:
        rows = int(summary[ROWS])
        if not rows:
            raise ValueError("cannot fit a drift baseline on an empty training split")
        self.contract = contract
        self.rows = rows
        self.numeric = {f.name: Imputed(f.name, rows, observed(summary, f.name)) for f in contract.numeric_features}
        self.label = Imputed(contract.label.name, rows, rows)

    def want(self, query: QuantileQuery) -> None:
        """Ask ``query`` for the raw positions of every numeric feature and of the label."""
        for column in [*self.numeric.values(), self.label]:
            query.want(column.column, column.count, column.raw_positions())

    def tallies(self, stats: Mapping[str, Any], where: Column | None = None) -> list[Column]:
        """Per category of each categorical feature, a count of the encoded rows (those
        matching ``where``) in it, and one of the rows in none."""
        columns = list(stats["feature_columns"])
        tallies = []
        for f in monitored_features(stats):
            if f.kind == NUMERIC:
                continue
            inside, outside = _categories(f, columns)
            cases = [(case, f"_{f.name}_{i}") for i, case in enumerate(inside)] + [(outside, f"_{f.name}_outside")]
            for case, name in cases:
                tallies.append(F.count(F.when(case if where is None else where & case, 1)).alias(name))
        return tallies

    def document(
        self,
        query: QuantileQuery,
        stats: Mapping[str, Any],
        tallied: Mapping[str, int] | Row,
        train: DataFrame,
        provenance: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The baseline document, from the resolved ``query`` and the ``tallied`` rows;
        ``train`` (the raw training rows) is read again only if an edge's count is
        beyond what the query established."""
        columns = {
            name: replace(c, scale=_scaling(stats["numeric"][name]), median=stats["numeric"][name]["impute"])
            for name, c in self.numeric.items()
        }
        columns[PREDICTION] = self.label
        edges: dict[str, tuple[list[float], list[float]]] = {}
        known: dict[tuple[str, float], int | None] = {}
        for name, column in columns.items():
            value = column.values(query)
            edges[name] = edges_from_percentiles([spark_percentile(at, value) for at in column.positions()])
            known |= {(name, edge): column.count_below(query, edge) for edge in edges[name][0]}
        unknown = [key for key, n in known.items() if n is None]
        counted = self._count_encoded(train, stats, [(columns[name].column, edge) for name, edge in unknown])
        below = {key: n for key, n in known.items() if n is not None} | dict(zip(unknown, counted, strict=True))

        def numeric_bins(name: str) -> dict[str, Any]:
            cuts, psi_cuts = edges[name]
            counts = [0, *(below[name, edge] for edge in cuts), self.rows]
            return numeric_spec(cuts, psi_cuts, [b - a for a, b in itertools.pairwise(counts)])

        features: dict[str, dict[str, Any]] = {}
        for feature in monitored_features(stats):
            if feature.kind == NUMERIC:
                features[feature.name] = numeric_bins(feature.name)
                continue
            size = len(feature.categories)
            if tallied[f"_{feature.name}_outside"]:
                raise ValueError(f"{feature.name} has values outside the encoding's {size} bins")
            counts = [int(tallied[f"_{feature.name}_{i}"]) for i in range(size)]
            features[feature.name] = categorical_spec(feature.categories, counts)
        return build_baseline(stats, features, numeric_bins(PREDICTION), training_rows=self.rows, provenance=provenance)

    def _count_encoded(
        self, train: DataFrame, stats: Mapping[str, Any], edges: Sequence[tuple[str, float]]
    ) -> list[int]:
        """Count the encoded values below each edge in one more pass over ``train``."""
        if not edges:
            return []
        encoded = apply_scaler(handle_missing(train, self.contract, stats), stats)
        row = encoded.agg(*[F.count(F.when(F.col(c).cast("double") < F.lit(e), 1)) for c, e in edges]).first()
        return [int(n) for n in row or []]


def fit_baseline(
    train: DataFrame, contract: Contract, stats: Mapping[str, Any], *, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """The baseline of ``train`` (raw training rows) on its own, fitted with ``stats``
    fitted on the same rows: the passes the pipeline shares with the statistics fit
    (``pipeline.build_training_data``) run here for the baseline alone."""
    fit = BaselineFit(contract, summarise(train, contract))
    query = QuantileQuery()
    fit.want(query)
    query.run(train)
    tallied = encode(handle_missing(train, contract, stats), contract).agg(*fit.tallies(stats)).first()
    return fit.document(query, stats, tallied or {}, train, provenance)
