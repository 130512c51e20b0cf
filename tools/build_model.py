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
- ``drift_baseline.json``: the distribution of each monitored feature and of the
  label on the training rows (``contracts.drift``), the baseline the drift function
  compares a variant serving this model with.

The build is deterministic: the same arguments give a byte-identical archive.
Rows are encoded with :class:`contracts.features.FeatureEncoder`, the encoder the ETL
statistics and the inference Lambda share.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import statistics
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contracts
from contracts import Contract, drift, features
from stacks.image_uris import DEFAULT_VERSION as CONTAINER_VERSION
from tools import synthetic

MODEL_MEMBER = "xgboost-model"
ARCHIVE_FILE = "model.tar.gz"
STATISTICS_FILE = "feature_statistics.json"
BASELINE_FILE = drift.BASELINE_FILE
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


def summarise(values: Sequence[float]) -> dict[str, float | None]:
    """The summary `contracts.features.build_statistics` fits scalers from (exact quantiles)."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else (values[0],) * 3
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),  # population std, as the ETL fits it
        "min": min(values),
        "max": max(values),
        "max_abs": max(abs(v) for v in values),
        "q1": q1,
        "median": median,
        "q3": q3,
    }


def fit_statistics(records: Sequence[Record], contract: Contract | None = None, method: str = "standard") -> Statistics:
    """Fit the feature statistics on training records, in the ETL's artifact format."""
    contract = contract or contracts.load()
    summaries = {}
    for f in contract.numeric_features:
        spec = {"type": f.type, "valid_range": [f.min, f.max]}
        values = [v for v in (features.parse_number(r.get(f.name), spec) for r in records) if v is not None]
        if not values:
            raise ValueError(f"no observed values of {f.name} to fit its scaling")
        summaries[f.name] = summarise(values)
    return features.build_statistics(contract, method, summaries, len(records))


def csv_row(features: Sequence[float]) -> str:
    """One inference row: the feature values only, comma-separated, no header, no label."""
    return ",".join(repr(float(v)) for v in features)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and how well the model did on the held-out split."""

    archive: Path
    statistics: Path
    baseline: Path
    train_rows: int
    holdout_rows: int
    holdout_rmse: float
    holdout_mean_price: float

    def summary(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "statistics": str(self.statistics),
            "baseline": str(self.baseline),
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
    encode = features.FeatureEncoder(stats).encode

    def matrix(part: Sequence[Record]) -> tuple[Any, Any]:
        encoded = np.array([encode(r) for r in part], dtype=np.float64)
        labels = np.array([float(r[label]) for r in part], dtype=np.float64)
        return encoded, labels

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
    baseline = drift.fit_baseline(
        x_train.tolist(),
        (float(r[label]) for r in train),
        stats,
        provenance={"source": "tools.build_model", "seed": seed, "rows": rows},
    )

    out.mkdir(parents=True, exist_ok=True)
    archive = out / ARCHIVE_FILE
    archive.write_bytes(deterministic_tar_gz({MODEL_MEMBER: model_bytes}))
    statistics_path = out / STATISTICS_FILE
    statistics_path.write_text(statistics_text, encoding="utf-8")
    baseline_path = out / BASELINE_FILE
    baseline_path.write_text(drift.dump_baseline(baseline), encoding="utf-8")
    return BuildResult(
        archive=archive,
        statistics=statistics_path,
        baseline=baseline_path,
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
