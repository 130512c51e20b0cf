"""The feature statistics artifact and a pure-Python encoder for one record.

Training (Spark) and inference (a Lambda function with no Spark) must turn a record
into exactly the same feature vector, or the endpoint silently scores something the
model never saw. Both read the rules from one place: the Spark transforms use the
definitions in this module (number syntax, whitespace, scaler parameters), and
:func:`encode_record` applies the fitted ``feature_statistics.json`` to one record.
A parity test compares the two on the same records.

Only the standard library is imported here, so the module runs unchanged in Lambda.
The artifact schema is documented in ``docs/feature-preparation.md``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts import Contract

STATISTICS_FILE = "feature_statistics.json"
STATISTICS_SCHEMA_VERSION = 1
SCALING_METHODS = ("standard", "minmax", "maxabs", "robust")
WHITESPACE = " \t\n\r\f\v"
NUMBER_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
SUMMARY_KEYS = ("count", "mean", "std", "min", "max", "max_abs", "q1", "median", "q3")
NUMERIC_KEYS = ("type", "valid_range", "flag_missing", "impute", "center", "scale", "fitted")

_NUMBER = re.compile(NUMBER_PATTERN)


def scaler_parameters(method: str, summary: Mapping[str, float | None]) -> tuple[float, float]:
    """Return ``(center, scale)`` so that the scaled value is ``(x - center) / scale``.

    Expressing every method as one affine map keeps the inference side trivial and
    identical for all methods. A zero, missing or non-finite spread (a constant
    feature, or a single observed value) scales by 1 instead of dividing by zero.
    """
    if method == "standard":
        center, spread = summary["mean"], summary["std"]
    elif method == "minmax":
        low, high = summary["min"], summary["max"]
        center = low
        spread = None if low is None or high is None else high - low
    elif method == "maxabs":
        center, spread = 0.0, summary["max_abs"]
    elif method == "robust":
        q1, q3 = summary["q1"], summary["q3"]
        center = summary["median"]
        spread = None if q1 is None or q3 is None else q3 - q1
    else:
        raise ValueError(f"unknown scaling method {method!r}; expected one of {SCALING_METHODS}")
    if center is None:
        raise ValueError(f"cannot fit {method} scaling without observed values")
    if spread is None or spread == 0 or not math.isfinite(spread):
        spread = 1.0
    return float(center), float(spread)


def build_statistics(
    contract: Contract,
    method: str,
    summaries: Mapping[str, Mapping[str, float | None]],
    training_rows: int,
) -> dict[str, Any]:
    """Assemble the statistics artifact from per-feature summaries of the training data.

    ``summaries`` maps each numeric feature to the values named in ``SUMMARY_KEYS``,
    computed over the observed (non-missing) training values. The artifact also
    carries the categorical rules and the feature order, so an encoder needs nothing
    but this document.
    """
    numeric: dict[str, Any] = {}
    for f in contract.numeric_features:
        summary = summaries[f.name]
        median = summary["median"]
        if not summary["count"] or median is None:
            raise ValueError(f"no observed values of {f.name!r} in the training data")
        center, scale = scaler_parameters(method, summary)
        numeric[f.name] = {
            "type": f.type,
            "valid_range": [_optional_float(f.min), _optional_float(f.max)],
            "flag_missing": f.flag_missing,
            "impute": float(median),
            "center": center,
            "scale": scale,
            "fitted": {k: _summary_value(k, summary[k]) for k in SUMMARY_KEYS},
        }
    stats: dict[str, Any] = {
        "schema_version": STATISTICS_SCHEMA_VERSION,
        "contract": {"name": contract.name, "version": contract.version},
        "label": contract.label.name,
        "scaling_method": method,
        "feature_columns": contract.feature_columns(),
        "training_rows": training_rows,
        "numeric": numeric,
        "ordinal": {
            f.name: {
                "normalise": f.normalise,
                "mapping": dict(f.mapping),
                "missing_value": f.missing_value,
            }
            for f in contract.ordinal_features
        },
        "nominal": {
            f.name: {
                "normalise": f.normalise,
                "categories": list(f.categories),
                "columns": list(f.one_hot_columns),
            }
            for f in contract.nominal_features
        },
    }
    return validate_statistics(stats)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _summary_value(key: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if key == "count" else float(value)


def validate_statistics(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Check a loaded artifact is one this encoder understands; raise ValueError if not.

    A Lambda that loads a stale or hand-edited file should fail at cold start with a
    clear message, not return wrong predictions.
    """
    if stats.get("schema_version") != STATISTICS_SCHEMA_VERSION:
        raise ValueError(f"unsupported statistics schema_version {stats.get('schema_version')!r}")
    if stats.get("scaling_method") not in SCALING_METHODS:
        raise ValueError(f"unknown scaling_method {stats.get('scaling_method')!r}")
    for key in ("contract", "label", "feature_columns", "numeric", "ordinal", "nominal"):
        if key not in stats:
            raise ValueError(f"statistics lack {key!r}")
    for name, spec in stats["numeric"].items():
        missing = [k for k in NUMERIC_KEYS if k not in spec]
        if missing:
            raise ValueError(f"numeric feature {name!r} lacks {missing}")
        if not spec["scale"] or not math.isfinite(spec["scale"]):
            raise ValueError(f"numeric feature {name!r} has an invalid scale {spec['scale']!r}")
    for name, spec in stats["nominal"].items():
        if len(spec["columns"]) != len(spec["categories"]) + 1:
            raise ValueError(f"nominal feature {name!r} needs one column per category plus other")
    produced = _produced_columns(stats)
    if sorted(produced) != sorted(stats["feature_columns"]):
        raise ValueError(f"feature_columns {stats['feature_columns']} do not match the encoded columns {produced}")
    return dict(stats)


def _produced_columns(stats: Mapping[str, Any]) -> list[str]:
    columns = list(stats["numeric"]) + list(stats["ordinal"])
    columns += [f"{n}_missing" for n, s in stats["numeric"].items() if s["flag_missing"]]
    for spec in stats["nominal"].values():
        columns += list(spec["columns"])
    return columns


def dump_statistics(stats: Mapping[str, Any]) -> str:
    """Serialise deterministically: the same fit always yields the same bytes."""
    return json.dumps(stats, indent=2, allow_nan=False) + "\n"


def load_statistics(text: str) -> dict[str, Any]:
    """Parse and validate the artifact text (what a Lambda reads from S3 once)."""
    return validate_statistics(json.loads(text))


def normalise_category(value: Any, mode: str | None) -> str | None:
    """Trim and case a categorical value as the Spark standardisation does.

    Non-strings and blank strings are missing.
    """
    if not isinstance(value, str):
        return None
    text = value.strip(WHITESPACE)
    if not text:
        return None
    if mode == "lower":
        return text.lower()
    if mode == "upper":
        return text.upper()
    return text


def parse_number(value: Any, spec: Mapping[str, Any]) -> float | None:
    """The numeric value of a feature, or None when it counts as missing.

    Mirrors the Spark standardisation: numbers and numeric strings (plain decimal or
    exponent syntax) are accepted; booleans, other strings, non-finite values,
    values outside ``valid_range`` and non-integral values of integer features are
    missing.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip(WHITESPACE)
        if not _NUMBER.fullmatch(text):
            return None
        number = float(text)
    else:
        return None
    low, high = spec["valid_range"]
    if not math.isfinite(number):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    if spec["type"] == "integer" and not number.is_integer():
        return None
    return number


class FeatureEncoder:
    """The encoding of one statistics document, prepared once and applied per record.

    Applies, in order: median imputation (with a ``<name>_missing`` flag where the
    contract asks for one) and scaling of numeric features, the ordinal mapping
    (unseen or missing -> the contract's constant), and one-hot columns of nominal
    features (unseen or missing -> ``<name>_other``). Rows follow
    ``stats["feature_columns"]``. Column positions and parameters are resolved here,
    so encoding a record is a single pass (the inference Lambda's hot path).
    """

    def __init__(self, stats: Mapping[str, Any]) -> None:
        index = {column: i for i, column in enumerate(stats["feature_columns"])}
        self.width = len(index)
        self.numeric = [
            (
                name,
                spec,
                index[name],
                index[f"{name}_missing"] if spec["flag_missing"] else None,
                spec["impute"],
                spec["center"],
                spec["scale"],
                -math.inf if spec["valid_range"][0] is None else spec["valid_range"][0],
                math.inf if spec["valid_range"][1] is None else spec["valid_range"][1],
                spec["type"] == "integer",
            )
            for name, spec in stats["numeric"].items()
        ]
        self.ordinal = [
            (name, spec["normalise"], spec["mapping"], float(spec["mapping"][spec["missing_value"]]), index[name])
            for name, spec in stats["ordinal"].items()
        ]
        self.nominal = [
            (name, spec["normalise"], {c: index[f"{name}_{c}"] for c in spec["categories"]}, index[spec["columns"][-1]])
            for name, spec in stats["nominal"].items()
        ]

    def encode(self, record: Mapping[str, Any]) -> list[float]:
        row = [0.0] * self.width
        get = record.get
        for name, spec, i, flag, impute, center, scale, low, high, integer in self.numeric:
            value = get(name)
            kind = type(value)
            number: float | None
            if kind is float or kind is int:  # fast path, same rules as parse_number
                given = float(value)  # type: ignore[arg-type]
                in_range = low <= given <= high and given - given == 0.0
                number = given if in_range and not (integer and not given.is_integer()) else None
            else:
                number = parse_number(value, spec)
            if flag is not None:
                row[flag] = 1.0 if number is None else 0.0
            row[i] = ((impute if number is None else number) - center) / scale
        for name, mode, mapping, missing_code, i in self.ordinal:
            value = get(name)
            # A value already in canonical form needs no normalising (the common case).
            code = mapping.get(value) if type(value) is str else None
            if code is None:
                category = normalise_category(value, mode)
                code = mapping.get(category) if category is not None else None
            row[i] = missing_code if code is None else float(code)
        for name, mode, slots, other in self.nominal:
            value = get(name)
            slot = slots.get(value) if type(value) is str else None
            if slot is None:
                slot = slots.get(normalise_category(value, mode) or "", other)
            row[slot] = 1.0
        return row


def encode_record(record: Mapping[str, Any], stats: Mapping[str, Any]) -> list[float]:
    """Encode one standardised record into the model's feature vector (see FeatureEncoder)."""
    return FeatureEncoder(stats).encode(record)
