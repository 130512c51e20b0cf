"""The training baseline of a model's inputs and predictions, and drift against it.

A model sees encoded feature vectors (``feature_statistics.json`` decides the layout).
The baseline records, for each monitored feature of that vector, its distribution on the
training split, and the label's distribution as the baseline of the predictions. The
Glue job writes it beside the feature statistics (Spark fits the same definitions),
``tools/build_model`` beside the bundled model, and the drift function compares captured
inference traffic with it. Only the standard library is used, so the module runs in
Lambda, Glue and the tools unchanged.

Monitored features, derived from the statistics (:func:`monitored_features`): each
numeric feature (its scaled value), each ordinal feature (its code), each missing-value
flag, and each nominal feature (which of its one-hot columns is set).

Bins. Numeric values are binned at their training percentiles: the distinct values of the
1st to 99th percentiles are the ``edges``, bin ``k`` holds ``edges[k-1] <= x < edges[k]``
(the first bin everything below ``edges[0]``, the last everything from ``edges[-1]``).
The distinct deciles (a subset of those edges) delimit the coarser ``psi_edges`` bins.
Percentiles interpolate linearly between the closest ranks, as Spark's ``percentile``
does (position ``(n - 1) * p``). Categorical features have one bin per category.

Population stability index over the PSI bins (deciles; categories)::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

with ``e_i`` and ``a_i`` the baseline's and the window's shares of bin ``i``. Smoothing:
half a count is added to every bin of both sides before taking shares (the Jeffreys
prior), so an empty bin contributes a finite term and PSI is symmetric (swapping the
baseline and the window gives the same value). Conventions: below 0.1 no significant
shift, 0.1 to 0.25 a moderate one, above 0.25 a significant one.

Kolmogorov-Smirnov statistic (numeric features and predictions): the largest distance
between the two cumulative distributions at the percentile edges, ``max_k |E(x < e_k) -
A(x < e_k)|``, unsmoothed. It is exact for the window at those points and within one
percentile bin of the two-sample statistic.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.features import validate_statistics

BASELINE_FILE = "drift_baseline.json"
# Where the ETL job writes the statistics and baselines in the curated zone; each job run also
# keeps its baseline under runs/<run id>/, which no later run replaces.
STATISTICS_PREFIX = "statistics/"
# CloudWatch metrics of the drift function (embedded metric format), which the dashboard and
# alarms read: per endpoint and variant SampleCount, CaptureRecords, SkippedRecords,
# SkippedRows and (above the minimum sample) MaxFeaturePsi, PredictionPsi, PredictionKs;
# per feature as well Psi and (numeric features) Ks.
METRIC_NAMESPACE = "MlPipeline/Drift"
BASELINE_SCHEMA_VERSION = 1
CDF_PROBABILITIES = tuple(k / 100 for k in range(1, 100))
PSI_PROBABILITIES = tuple(k / 10 for k in range(1, 10))
SMOOTHING = 0.5
PREDICTION = "prediction"
NUMERIC = "numeric"
CATEGORICAL = "categorical"
FLAG_CATEGORIES = ("observed", "missing")


@dataclass(frozen=True)
class Feature:
    """One monitored feature: where it sits in the encoded vector and what its bins are.

    Numeric: one column. Categorical with ``values``: one column whose value names the
    category (an ordinal code, a 0/1 flag). Categorical without: one one-hot column per
    category, exactly one of them 1.
    """

    name: str
    kind: str
    columns: tuple[int, ...]
    categories: tuple[str, ...] = ()
    values: tuple[float, ...] = ()


def run_baseline(statistics: str, run: str) -> str:
    """The baseline a job run keeps under `statistics` (a prefix or an s3:// URL of it)."""
    return f"{statistics.rstrip('/')}/runs/{run}/{BASELINE_FILE}"


def monitored_features(stats: Mapping[str, Any]) -> list[Feature]:
    """The features of the statistics' vector layout that drift is measured on, in order."""
    index = {column: i for i, column in enumerate(stats["feature_columns"])}
    found = [Feature(name, NUMERIC, (index[name],)) for name in stats["numeric"]]
    for name, spec in stats["ordinal"].items():
        levels = sorted(spec["mapping"].items(), key=lambda item: (item[1], item[0]))
        found.append(
            Feature(
                name,
                CATEGORICAL,
                (index[name],),
                tuple(level for level, _ in levels),
                tuple(float(code) for _, code in levels),
            )
        )
    for name, spec in stats["numeric"].items():
        if spec["flag_missing"]:
            flag = f"{name}_missing"
            found.append(Feature(flag, CATEGORICAL, (index[flag],), FLAG_CATEGORIES, (0.0, 1.0)))
    for name, spec in stats["nominal"].items():
        categories = (*spec["categories"], spec["columns"][-1].removeprefix(f"{name}_"))
        found.append(Feature(name, CATEGORICAL, tuple(index[c] for c in spec["columns"]), categories))
    return found


# --- bins ------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], probability: float) -> float:
    """The value at ``probability`` of sorted values, interpolated between the closest
    ranks in the same arithmetic as Spark's ``percentile``."""
    position = float(len(ordered) - 1) * probability
    lower, higher = math.floor(position), math.ceil(position)
    low = ordered[lower]
    if higher == lower:
        return low
    high = ordered[higher]
    if high == low:
        return low
    return (higher - position) * low + (position - lower) * high


def edges_from_percentiles(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """``(edges, psi_edges)`` from the values at :data:`CDF_PROBABILITIES`: the distinct
    percentiles, and the distinct deciles among them."""
    if len(values) != len(CDF_PROBABILITIES):
        raise ValueError(f"expected {len(CDF_PROBABILITIES)} percentiles, got {len(values)}")
    deciles = [values[round(p * 100) - 1] for p in PSI_PROBABILITIES]
    return sorted(set(map(float, values))), sorted(set(map(float, deciles)))


def histogram(ordered: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts of sorted values per bin of ``edges`` (``len(edges) + 1`` bins)."""
    below = [bisect.bisect_left(ordered, edge) for edge in edges]
    return [b - a for a, b in zip([0, *below], [*below, len(ordered)], strict=True)]


def coarse_bins(edges: Sequence[float], psi_edges: Sequence[float]) -> list[int]:
    """The PSI bin each percentile bin lies in (every decile edge is a percentile edge)."""
    return [0] + [bisect.bisect_right(psi_edges, edge) for edge in edges]


def coarse_counts(counts: Sequence[int], mapping: Sequence[int], size: int) -> list[int]:
    merged = [0] * size
    for count, target in zip(counts, mapping, strict=True):
        merged[target] += count
    return merged


# --- statistics ------------------------------------------------------------------------


def psi(expected: Sequence[float], actual: Sequence[float], smoothing: float = SMOOTHING) -> float:
    """Population stability index of two histograms over the same bins (see module doc)."""
    if len(expected) != len(actual) or not expected:
        raise ValueError(f"histograms must have the same non-zero number of bins: {len(expected)}, {len(actual)}")
    bins = len(expected)
    expected_total = math.fsum(expected) + smoothing * bins
    actual_total = math.fsum(actual) + smoothing * bins
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e_share = (e + smoothing) / expected_total
        a_share = (a + smoothing) / actual_total
        total += (a_share - e_share) * math.log(a_share / e_share)
    return total


def ks(expected: Sequence[int], actual: Sequence[int]) -> float:
    """The largest distance between the cumulative shares of two histograms over the same bins."""
    expected_total, actual_total = sum(expected), sum(actual)
    if not expected_total or not actual_total:
        raise ValueError("KS needs values on both sides")
    distance = 0.0
    e_cumulative = a_cumulative = 0
    for e, a in zip(expected[:-1], actual[:-1], strict=True):
        e_cumulative += e
        a_cumulative += a
        distance = max(distance, abs(e_cumulative / expected_total - a_cumulative / actual_total))
    return distance


# --- the baseline document -------------------------------------------------------------


def numeric_baseline(ordered: Sequence[float]) -> dict[str, Any]:
    """The baseline of one numeric feature from its sorted training values."""
    if not ordered:
        raise ValueError("a numeric baseline needs at least one value")
    edges, psi_edges = edges_from_percentiles([percentile(ordered, p) for p in CDF_PROBABILITIES])
    return numeric_spec(edges, psi_edges, histogram(ordered, edges))


def numeric_spec(edges: Sequence[float], psi_edges: Sequence[float], counts: Sequence[int]) -> dict[str, Any]:
    return {"kind": NUMERIC, "edges": list(edges), "psi_edges": list(psi_edges), "counts": [int(c) for c in counts]}


def categorical_spec(categories: Sequence[str], counts: Sequence[int]) -> dict[str, Any]:
    return {"kind": CATEGORICAL, "categories": list(categories), "counts": [int(c) for c in counts]}


def statistics_sha256(stats: Mapping[str, Any]) -> str:
    """Fingerprint of the encoding (the statistics document, provenance apart)."""
    encoding = {k: v for k, v in stats.items() if k != "training"}
    canonical = json.dumps(encoding, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_baseline(
    stats: Mapping[str, Any],
    features: Mapping[str, Mapping[str, Any]],
    prediction: Mapping[str, Any],
    *,
    training_rows: int,
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """Assemble and validate the baseline document. It carries the statistics it was fitted
    with, so whoever holds the baseline can also encode raw records exactly as the model's
    training data was encoded."""
    document = {
        "schema_version": BASELINE_SCHEMA_VERSION,
        "contract": dict(stats["contract"]),
        "label": stats["label"],
        "training_rows": int(training_rows),
        "provenance": dict(provenance),
        "statistics_sha256": statistics_sha256(stats),
        "statistics": dict(stats),
        "features": {name: dict(spec) for name, spec in features.items()},
        PREDICTION: dict(prediction),
    }
    return validate_baseline(document)


def fit_baseline(
    rows: Iterable[Sequence[float]],
    labels: Iterable[float],
    stats: Mapping[str, Any],
    *,
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """The baseline of encoded training rows and their labels (the reference the Spark fit
    in ``glue/housing_etl/baseline.py`` must equal)."""
    layout = monitored_features(stats)
    vectors = [list(row) for row in rows]
    features: dict[str, dict[str, Any]] = {}
    for feature in layout:
        if feature.kind == NUMERIC:
            features[feature.name] = numeric_baseline(sorted(v[feature.columns[0]] for v in vectors))
        else:
            counts = [0] * len(feature.categories)
            for vector in vectors:
                counts[category_of(feature, vector)] += 1
            features[feature.name] = categorical_spec(feature.categories, counts)
    prediction = numeric_baseline(sorted(float(label) for label in labels))
    return build_baseline(stats, features, prediction, training_rows=len(vectors), provenance=provenance)


def category_of(feature: Feature, vector: Sequence[float]) -> int:
    """The category index of a categorical feature in an encoded vector (ValueError if none)."""
    if feature.values:
        return feature.values.index(vector[feature.columns[0]])
    hot = [i for i, column in enumerate(feature.columns) if vector[column] == 1.0]
    if len(hot) != 1 or any(vector[c] != 0.0 for i, c in enumerate(feature.columns) if i != hot[0]):
        raise ValueError(f"{feature.name} is not one-hot encoded")
    return hot[0]


def _check_numeric(name: str, spec: Mapping[str, Any]) -> None:
    edges, psi_edges, counts = spec.get("edges"), spec.get("psi_edges"), spec.get("counts")
    if not isinstance(edges, list) or not isinstance(psi_edges, list) or not isinstance(counts, list):
        raise ValueError(f"baseline of {name!r} lacks edges, psi_edges or counts")
    if not all(isinstance(e, int | float) and math.isfinite(e) for e in edges) or edges != sorted(set(edges)):
        raise ValueError(f"baseline of {name!r}: edges must be finite and strictly increasing")
    if not psi_edges or not set(psi_edges) <= set(edges):
        raise ValueError(f"baseline of {name!r}: psi_edges must be a non-empty subset of edges")
    if len(counts) != len(edges) + 1:
        raise ValueError(f"baseline of {name!r}: {len(counts)} counts for {len(edges) + 1} bins")


def validate_baseline(document: Mapping[str, Any]) -> dict[str, Any]:
    """Check a baseline is one this code understands and matches its own statistics."""
    if document.get("schema_version") != BASELINE_SCHEMA_VERSION:
        raise ValueError(f"unsupported baseline schema_version {document.get('schema_version')!r}")
    for key in ("statistics", "statistics_sha256", "features", PREDICTION, "training_rows"):
        if key not in document:
            raise ValueError(f"baseline lacks {key!r}")
    stats = validate_statistics(document["statistics"])
    if statistics_sha256(stats) != document["statistics_sha256"]:
        raise ValueError("baseline statistics_sha256 does not match its statistics")
    layout = monitored_features(stats)
    if sorted(f.name for f in layout) != sorted(document["features"]):
        raise ValueError(f"baseline features {sorted(document['features'])} do not match the encoding")
    for feature in layout:
        spec = document["features"][feature.name]
        if spec.get("kind") != feature.kind:
            raise ValueError(f"baseline of {feature.name!r} is {spec.get('kind')!r}, expected {feature.kind!r}")
        if feature.kind == NUMERIC:
            _check_numeric(feature.name, spec)
        elif list(spec.get("categories", [])) != list(feature.categories) or len(spec.get("counts", [])) != len(
            feature.categories
        ):
            raise ValueError(f"baseline of {feature.name!r} must count categories {list(feature.categories)}")
    _check_numeric(PREDICTION, document[PREDICTION])
    return dict(document)


def dump_baseline(document: Mapping[str, Any]) -> str:
    """Serialise deterministically: the same fit always yields the same bytes."""
    return json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"


def load_baseline(text: str) -> dict[str, Any]:
    return validate_baseline(json.loads(text))


# --- a window against the baseline -----------------------------------------------------


@dataclass(frozen=True)
class NumericBaseline:
    """A numeric baseline prepared for comparisons: its bins and both sets of counts."""

    edges: list[float]
    counts: list[int]
    coarse: list[int]
    coarse_size: int
    coarse_counts: list[int]

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> NumericBaseline:
        mapping = coarse_bins(spec["edges"], spec["psi_edges"])
        size = len(spec["psi_edges"]) + 1
        return cls(
            list(spec["edges"]), list(spec["counts"]), mapping, size, coarse_counts(spec["counts"], mapping, size)
        )

    def compare(self, ordered: Sequence[float]) -> tuple[float, float]:
        """``(psi, ks)`` of sorted window values against this baseline."""
        counts = histogram(ordered, self.edges)
        return psi(self.coarse_counts, coarse_counts(counts, self.coarse, self.coarse_size)), ks(self.counts, counts)
