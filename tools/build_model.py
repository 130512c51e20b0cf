"""Build the SageMaker built-in XGBoost model artifact from the synthetic data set.

``python -m tools.build_model --out model/ [--rows N] [--seed S]`` generates clean
synthetic events (:mod:`tools.synthetic`), fits the feature statistics on the
training split, encodes every event into the contract's feature layout
(``contracts.load().feature_columns()``), trains a small regression booster and
writes, into ``--out``:

- ``model.tar.gz``: exactly one member, ``xgboost-model``, the booster in XGBoost's
  JSON model format, without feature names (the endpoint receives bare CSV rows; the
  column order lives in the statistics). The built-in container (version
  ``stacks.image_uris.DEFAULT_VERSION``) loads every regular file in the extracted
  model directory as a booster, so no other file may travel in the archive.
- ``feature_statistics.json``: what the encoder needs to turn an event into the row
  the endpoint expects (scaling parameters, imputation medians, category layouts),
  plus the training provenance and the held-out RMSE.

The build is deterministic: the same arguments give a byte-identical archive.
The encoding sits behind :data:`Encoder`, so the pipeline's own record encoder
can replace :func:`encode` without touching the rest of the build.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import statistics
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contracts
from contracts import OTHER_CATEGORY, Contract, Field
from stacks.image_uris import DEFAULT_VERSION as CONTAINER_VERSION
from tools import synthetic

MODEL_MEMBER = "xgboost-model"
ARCHIVE_FILE = "model.tar.gz"
STATISTICS_FILE = "feature_statistics.json"
STATISTICS_FORMAT_VERSION = 1
DEFAULT_ROWS = 5000
DEFAULT_SEED = 7
HOLDOUT_FRACTION = 0.2
NUM_BOOST_ROUND = 100
HYPERPARAMETERS: dict[str, Any] = {
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.1,
    "min_child_weight": 1,
    "subsample": 1.0,
    "nthread": 1,
}

Record = Mapping[str, Any]
Statistics = dict[str, Any]
Encoder = Callable[[Record, Mapping[str, Any]], list[float]]


def _present_number(field: Field, record: Record, contract: Contract) -> float | None:
    """The field's value in its canonical unit, or None if missing, invalid or out of range."""
    value = record.get(field.name)
    if value is None:
        for alias, (canonical, factor) in contract.aliases.items():
            if canonical == field.name and record.get(alias) is not None:
                alias_value = _as_float(record[alias])
                value = None if alias_value is None else alias_value * factor
                break
    number = _as_float(value)
    if number is None:
        return None
    if (field.min is not None and number < field.min) or (field.max is not None and number > field.max):
        return None
    return number


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _normalised(field: Field, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if field.normalise == "lower":
        text = text.lower()
    elif field.normalise == "upper":
        text = text.upper()
    return text or None


def fit_statistics(records: Sequence[Record], contract: Contract | None = None) -> Statistics:
    """Fit the encoding parameters on training records (standard scaling, sample std)."""
    contract = contract or contracts.load()
    numeric: dict[str, Any] = {}
    for field in contract.numeric_features:
        values = [v for v in (_present_number(field, r, contract) for r in records) if v is not None]
        if len(values) < 2:
            raise ValueError(f"need at least two values of {field.name} to fit its scaling")
        std = statistics.stdev(values)
        numeric[field.name] = {
            "type": field.type,
            "mean": statistics.fmean(values),
            "std": std if std > 0 else 1.0,
            "median": float(statistics.median(values)),
            "min": field.min,
            "max": field.max,
            "flag_missing": field.flag_missing,
        }
    ordinal = {
        f.name: {
            "mapping": dict(f.mapping),
            "missing_value": f.missing_value,
            "normalise": f.normalise,
            "unseen": f.unseen,
        }
        for f in contract.ordinal_features
    }
    nominal = {
        f.name: {
            "categories": list(f.categories),
            "other": OTHER_CATEGORY,
            "columns": list(f.one_hot_columns),
            "normalise": f.normalise,
        }
        for f in contract.nominal_features
    }
    return {
        "format_version": STATISTICS_FORMAT_VERSION,
        "contract": {"name": contract.name, "version": contract.version},
        "method": "standard",
        "scaling": {"formula": "(value - mean) / std", "std": "sample standard deviation"},
        "out_of_range": "missing",
        "label": contract.label.name,
        "feature_columns": contract.feature_columns(),
        "rows": len(records),
        "medians": {name: spec["median"] for name, spec in numeric.items()},
        "numeric": numeric,
        "ordinal": ordinal,
        "missing_flags": {f"{f.name}_missing": f.name for f in contract.flagged_features},
        "nominal": nominal,
    }


def encode(record: Record, stats: Mapping[str, Any]) -> list[float]:
    """One event as the model's feature row, in ``stats["feature_columns"]`` order."""
    contract = contracts.load()
    values: dict[str, float] = {}
    for name, spec in stats["numeric"].items():
        number = _present_number(contract.field(name), record, contract)
        if spec["flag_missing"]:
            values[f"{name}_missing"] = 1.0 if number is None else 0.0
        imputed = spec["median"] if number is None else number
        values[name] = (imputed - spec["mean"]) / spec["std"]
    for name, spec in stats["ordinal"].items():
        level = _normalised(contract.field(name), record.get(name))
        if level not in spec["mapping"]:
            level = spec["missing_value"]
        values[name] = float(spec["mapping"][level])
    for name, spec in stats["nominal"].items():
        category = _normalised(contract.field(name), record.get(name))
        if category not in spec["categories"]:
            category = spec["other"]
        for option in (*spec["categories"], spec["other"]):
            values[f"{name}_{option}"] = 1.0 if option == category else 0.0
    return [values[column] for column in stats["feature_columns"]]


def csv_row(features: Sequence[float]) -> str:
    """One inference row: the feature values only, comma-separated, no header, no label."""
    return ",".join(repr(float(v)) for v in features)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and how well the model did on the held-out split."""

    archive: Path
    statistics: Path
    train_rows: int
    holdout_rows: int
    holdout_rmse: float
    holdout_mean_price: float

    def summary(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "statistics": str(self.statistics),
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "holdout_rmse": round(self.holdout_rmse, 2),
            "holdout_mean_price": round(self.holdout_mean_price, 2),
            "holdout_relative_rmse": round(self.holdout_rmse / self.holdout_mean_price, 4),
        }


def check_library_matches_container(library_version: str) -> None:
    """Refuse to build with an XGBoost release the serving container may not load."""
    container = CONTAINER_VERSION.split("-")[0]
    library = ".".join(library_version.split(".")[:2])
    if library != container:
        raise ValueError(
            f"xgboost {library_version} is installed, but the SageMaker XGBoost container "
            f"{CONTAINER_VERSION} runs xgboost {container}.x: install xgboost=={container}.*"
        )


def split(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """Training and held-out records: the last HOLDOUT_FRACTION of the (i.i.d.) stream."""
    cut = len(records) - max(1, round(len(records) * HOLDOUT_FRACTION))
    return list(records[:cut]), list(records[cut:])


def deterministic_tar_gz(members: Mapping[str, bytes]) -> bytes:
    """A gzip'd tar of the members in sorted order, with fixed metadata and gzip mtime 0."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[name]))
    return buffer.getvalue()


def build(
    out: Path,
    *,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    encoder: Encoder = encode,
) -> BuildResult:
    """Generate, encode, train and write the artifact and its statistics into ``out``."""
    import numpy as np
    import xgboost as xgb

    if rows < 20:
        raise ValueError(f"--rows must be at least 20, got {rows}")
    check_library_matches_container(xgb.__version__)
    contract = contracts.load()
    label = contract.label.name
    records = [e for e in synthetic.events(rows, seed=seed) if e.get(label) is not None]
    train, holdout = split(records)
    stats = fit_statistics(train, contract)

    def matrix(part: Sequence[Record]) -> tuple[Any, Any]:
        features = np.array([encoder(r, stats) for r in part], dtype=np.float64)
        labels = np.array([float(r[label]) for r in part], dtype=np.float64)
        return features, labels

    x_train, y_train = matrix(train)
    x_holdout, y_holdout = matrix(holdout)
    params = {**HYPERPARAMETERS, "seed": seed, "base_score": float(y_train.mean())}
    booster = xgb.train(params, xgb.DMatrix(x_train, label=y_train), num_boost_round=NUM_BOOST_ROUND)
    predictions = booster.predict(xgb.DMatrix(x_holdout))
    rmse = float(np.sqrt(np.mean((predictions - y_holdout) ** 2)))

    stats["training"] = {
        "framework": "xgboost",
        "xgboost_version": xgb.__version__,
        "container_version": CONTAINER_VERSION,
        "hyperparameters": params,
        "num_boost_round": NUM_BOOST_ROUND,
        "seed": seed,
        "rows": {"train": len(train), "holdout": len(holdout)},
        "holdout_rmse": rmse,
    }
    model_bytes = bytes(booster.save_raw(raw_format="json"))
    statistics_text = json.dumps(stats, indent=2, sort_keys=True) + "\n"

    out.mkdir(parents=True, exist_ok=True)
    archive = out / ARCHIVE_FILE
    archive.write_bytes(deterministic_tar_gz({MODEL_MEMBER: model_bytes}))
    statistics_path = out / STATISTICS_FILE
    statistics_path.write_text(statistics_text, encoding="utf-8")
    return BuildResult(
        archive=archive,
        statistics=statistics_path,
        train_rows=len(train),
        holdout_rows=len(holdout),
        holdout_rmse=rmse,
        holdout_mean_price=float(y_holdout.mean()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.build_model",
        description="Train the XGBoost model on synthetic events and write model.tar.gz.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="events to generate")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator/training seed")
    args = parser.parse_args(argv)
    try:
        result = build(args.out, rows=args.rows, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
