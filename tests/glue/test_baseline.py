"""The drift baseline Spark fits equals the reference fit of contracts.drift on the same rows."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from housing_etl.baseline import fit_baseline
from housing_etl.pipeline import OutputPaths

from contracts.drift import BASELINE_FILE, PREDICTION, load_baseline
from contracts.drift import fit_baseline as reference_fit
from contracts.features import load_statistics

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]
STATS = load_statistics((ROOT / "model" / "feature_statistics.json").read_text(encoding="utf-8"))


def random_rows(count: int, seed: int) -> list[list[float]]:
    """Encoded vectors with ties (integers, a few repeated values) and many distinct values."""
    rng = random.Random(seed)
    columns = STATS["feature_columns"]
    rows = []
    for _ in range(count):
        row = [0.0] * len(columns)
        for name in STATS["numeric"]:
            row[columns.index(name)] = rng.choice([rng.gauss(0, 1), float(rng.randint(-2, 3))])
        row[columns.index("garden_size")] = float(rng.choice([0, 5, 10, 20]))
        row[columns.index("year_built_missing")] = float(rng.random() < 0.2)
        row[columns.index(rng.choice(STATS["nominal"]["home_type"]["columns"]))] = 1.0
        rows.append(row)
    return rows


def test_spark_fit_equals_the_reference_fit(spark: Any) -> None:
    rows = random_rows(400, seed=3)
    labels = [float(round(random.Random(i).uniform(1e5, 9e5))) for i in range(len(rows))]
    frame = spark.createDataFrame(
        [(label, *row) for label, row in zip(labels, rows, strict=True)], ["price", *STATS["feature_columns"]]
    )
    provenance = {"source": "test"}
    assert fit_baseline(frame, STATS, label="price", provenance=provenance) == reference_fit(
        rows, labels, STATS, provenance=provenance
    )


def test_pipeline_writes_the_baseline_of_its_train_split(fixture_run: tuple[Path, Path, Any]) -> None:
    _, out, counts = fixture_run
    paths = OutputPaths.under(str(out))
    baseline = load_baseline(Path(paths.baseline_files[0]).read_text(encoding="utf-8"))
    statistics = json.loads(Path(paths.statistics_file).read_text(encoding="utf-8"))
    assert baseline["statistics"] == statistics
    assert baseline["training_rows"] == counts.train
    assert sum(baseline[PREDICTION]["counts"]) == counts.train
    assert all(sum(spec["counts"]) == counts.train for spec in baseline["features"].values())
    assert paths.baseline_files == [f"{paths.statistics}/{BASELINE_FILE}"]
