"""The training channels the Spark pipeline writes are what the built-in XGBoost reads.

The container (version 1.7-1, XGBoost 1.7.6 like the local package) loads each channel
folder as CSV with the label in column 0 (`<folder>?format=csv&label_column=0`, the
delimiter sniffed from the first line) and rejects hidden files. This trains a real model
on the hand-worked fixture's channels with the training jobs' static hyperparameters and
XGBoost's defaults for the tuned ones, then puts its validation RMSE through the gate.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import xgboost
from evaluation_gate import evaluate
from housing_etl.pipeline import OutputPaths
from housing_etl.split import channel_path

import contracts
from stacks.config import load_stage
from stacks.training_flow import CHANNELS, channel_uri, static_hyperparameters
from tests.glue.conftest import read_csv
from tests.synth import CONTEXT

pytestmark = pytest.mark.spark


def as_s3_channel(folder: str, destination: Path) -> Path:
    """What the channel's S3 prefix holds: the part files (Hadoop's local .crc files never reach S3)."""
    destination.mkdir(parents=True)
    for part in Path(folder).glob("part-*.csv"):
        shutil.copy(part, destination / part.name)
    assert not [p for p in destination.iterdir() if p.name.startswith((".", "_"))]
    return destination


def container_dmatrix(folder: Path) -> xgboost.DMatrix:
    """The container's file-mode CSV reading: sniff the delimiter, label in column 0."""
    with next(folder.glob("part-*.csv")).open() as first:
        delimiter = csv.Sniffer().sniff(first.readline()).delimiter
    return xgboost.DMatrix(f"{folder}?format=csv&label_column=0&delimiter={delimiter}")


@pytest.fixture(scope="module")
def trained(fixture_run: tuple[Path, Path, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, out, _ = fixture_run
    outputs = OutputPaths.under(str(out))
    root = tmp_path_factory.mktemp("channels")
    channels = {
        "train": as_s3_channel(outputs.train, root / "train"),
        "validation": as_s3_channel(outputs.validation, root / "validation"),
    }
    train, validation = (container_dmatrix(channels[c]) for c in CHANNELS)
    config = load_stage(CONTEXT["stages"], "sandbox").training
    hyperparameters = static_hyperparameters(config)
    params = {k: v for k, v in hyperparameters.items() if k not in ("num_round", "early_stopping_rounds")}
    history: dict[str, Any] = {}
    booster = xgboost.train(
        {**params, "nthread": 1, "seed": 0},
        train,
        num_boost_round=int(hyperparameters["num_round"]),
        evals=[(validation, "validation")],
        early_stopping_rounds=int(hyperparameters["early_stopping_rounds"]),
        evals_result=history,
        verbose_eval=False,
    )
    return {
        "outputs": outputs,
        "train": train,
        "validation": validation,
        "booster": booster,
        "rmse": history["validation"]["rmse"][booster.best_iteration],
        "config": config,
    }


def test_the_container_reads_label_first_and_every_feature(trained: dict[str, Any]) -> None:
    outputs, train = trained["outputs"], trained["train"]
    rows = read_csv(outputs.train)
    assert train.num_row() == len(rows) == 5 and trained["validation"].num_row() == 1
    assert train.num_col() == len(contracts.load().feature_columns())
    # The labels are the first column (the reader lists the part files in its own order).
    assert sorted(train.get_label()) == pytest.approx(sorted(float(r[0]) for r in rows))


def test_the_model_learns_and_its_rmse_goes_through_the_gate(trained: dict[str, Any]) -> None:
    rmse, config = trained["rmse"], trained["config"]
    (label,) = trained["validation"].get_label()
    mean = float(trained["train"].get_label().mean())
    # Having learned from the features means beating the prediction that ignores them.
    assert 0 < rmse < abs(label - mean)
    print(f"validation:rmse of the fixture model: {rmse:.1f} (label {label:.0f}, training mean {mean:.0f})")
    decision = evaluate(rmse, threshold=config.rmse_threshold, tolerance=config.rmse_tolerance, current=None)
    assert decision.passed is (rmse < config.rmse_threshold)
    assert "no Approved model yet" in decision.reason
    rejected = evaluate(rmse, threshold=rmse / 2, tolerance=config.rmse_tolerance, current=None)
    assert not rejected.passed and "is not under the threshold" in rejected.reason


def test_training_jobs_read_the_folders_the_pipeline_writes() -> None:
    for channel in CHANNELS:
        assert channel_uri(channel) == channel_path("s3://${CuratedBucket}/training", channel) + "/"
