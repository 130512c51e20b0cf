"""The whole feature-preparation pipeline on a dirty fixture dataset, and its parity with
the inference Lambda: a record encoded at serving time equals its training-time row."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from housing_etl.pipeline import CurationCounts, OutputPaths, PipelineCounts, curate, feature_matrix, run_pipeline
from housing_etl.standardise import standardise
from housing_etl.storage import read_curated, read_raw_events, write_curated

import contracts
from contracts.features import FeatureEncoder, load_statistics
from tests.glue.conftest import read_csv, write_ndjson
from tools import synthetic

pytestmark = pytest.mark.spark
CONTRACT = contracts.load()
ROWS = 300


@pytest.fixture(scope="module")
def run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineCounts, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("etl")
    events = list(synthetic.events(ROWS, seed=5, dirty=True))
    write_ndjson(
        root / "raw.json",
        [*events, "not json", {"event_id": "late", "event_time": "2026-02-01T00:00:00Z", "price": 250000}],
    )
    counts = run_pipeline(spark, str(root / "raw.json"), str(root / "out"), "standard", 0.2, 0)
    return root, counts, events


def read_csv_rows(folder: str) -> list[list[float]]:
    return [[float(v) for v in row] for row in read_csv(folder)]


def test_counts_add_up(run: tuple[Path, PipelineCounts, list[dict[str, Any]]]) -> None:
    _, counts, events = run
    ids = [e["event_id"] for e in events]
    assert counts.read == ROWS + 2 and counts.corrupt == 1 and counts.rejected == 0
    assert counts.duplicates_removed == len(ids) - len(set(ids))
    assert counts.curated == len(set(ids)) + 1
    unlabeled = {e["event_id"] for e in events if "price" not in e} - {e["event_id"] for e in events if "price" in e}
    assert counts.unlabeled >= 1 and counts.curated == counts.unlabeled + counts.train + counts.validation
    assert counts.unlabeled <= len(unlabeled) + counts.duplicates_removed


def test_curated_parquet_is_partitioned_by_event_date(
    spark: Any, run: tuple[Path, PipelineCounts, list[dict[str, Any]]]
) -> None:
    root, counts, _ = run
    folders = sorted(p.name for p in (root / "out" / "curated").iterdir() if p.is_dir())
    assert folders == ["event_date=2026-01-01", "event_date=2026-02-01"]  # ~3 hours of events, plus the late one
    curated = read_curated(spark, str(root / "out" / "curated"), CONTRACT)
    assert curated.count() == counts.curated
    assert [f.name for f in curated.schema.fields][:3] == ["event_id", "event_time", "home_type"]


def test_training_csv_is_label_first_without_header(run: tuple[Path, PipelineCounts, list[dict[str, Any]]]) -> None:
    root, counts, _ = run
    paths = OutputPaths.under(str(root / "out"))
    train = read_csv_rows(paths.train)
    validation = read_csv_rows(paths.validation)
    assert (len(train), len(validation)) == (counts.train, counts.validation)
    width = 1 + len(CONTRACT.feature_columns())
    assert {len(row) for row in train + validation} == {width}
    columns = ["price", *CONTRACT.feature_columns()]
    by_column = dict(zip(columns, zip(*train, strict=True), strict=True))
    assert all(1000 <= p <= 1e8 for p in by_column["price"])
    assert set(by_column["garden_size"]) <= {0.0, 5.0, 10.0, 20.0}
    assert set(by_column["year_built_missing"]) <= {0.0, 1.0}
    one_hot = [c for c in columns if c.startswith("home_type_")]
    assert all(sum(values) == 1.0 for values in zip(*(by_column[c] for c in one_hot), strict=True))
    stats = json.loads((root / "out" / "statistics" / "feature_statistics.json").read_text())
    living = stats["numeric"]["living_area"]
    unscaled = [v * living["scale"] + living["center"] for v in by_column["living_area"]]
    assert all(10 - 1e-3 <= v <= 2000 + 1e-3 for v in unscaled)  # in-range areas, scaled and written as float32


def test_statistics_artifact_is_loadable_by_the_encoder(run: tuple[Path, PipelineCounts, list[dict[str, Any]]]) -> None:
    root, counts, _ = run
    stats = load_statistics((root / "out" / "statistics" / "feature_statistics.json").read_text())
    assert stats["training_rows"] == counts.train and stats["scaling_method"] == "standard"


def test_lambda_encoding_matches_spark_encoding(
    spark: Any, run: tuple[Path, PipelineCounts, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training/serving parity: the predict Lambda's CSV row equals the Spark feature row."""
    root, _, _ = run
    stats_file = root / "out" / "statistics" / "feature_statistics.json"
    stats = load_statistics(stats_file.read_text())
    cases = [
        {
            "home_type": "detached",
            "garden_size": "l",
            "living_area": 180.5,
            "lot_area": 900,
            "bedrooms": 4,
            "bathrooms": 2.5,
            "year_built": 1985,
            "distance_to_center": 12.3,
        },
        {"home_type": "Houseboat", "garden_size": "M", "living_area": 60, "bedrooms": 1, "bathrooms": 1},
        {
            "home_type": "condo",
            "garden_size": "N",
            "living_area": 45.25,
            "bedrooms": 0,
            "bathrooms": 1,
            "year_built": 2020,
        },
    ]
    lines = [{"event_id": f"p{i}", "event_time": "2026-01-01T00:00:00Z", **case} for i, case in enumerate(cases)]
    (root / "parity").mkdir(exist_ok=True)
    df = standardise(read_raw_events(spark, str(write_ndjson(root / "parity" / "raw.json", lines))), CONTRACT)
    spark_rows = {r["event_id"]: list(r)[2:] for r in feature_matrix(df, CONTRACT, stats, training=False).collect()}

    monkeypatch.setenv("STATISTICS_FILE", str(stats_file))
    monkeypatch.delitem(sys.modules, "predict", raising=False)
    import predict

    lambda_rows = [[float(v) for v in line.split(",")] for line in predict.to_csv(cases).split("\n")]
    for i, row in enumerate(lambda_rows):
        assert row == pytest.approx(spark_rows[f"p{i}"], abs=1e-9), cases[i]
        assert row == FeatureEncoder(stats).encode(cases[i])
    monkeypatch.delitem(sys.modules, "predict")


@pytest.mark.parametrize("content", [b"", b"\n  \n\n"], ids=["empty file", "blank lines"])
def test_empty_input_counts_zeros(spark: Any, tmp_path: Path, content: bytes) -> None:
    """Nothing to curate still reports its counts, promptly, instead of waiting for them."""
    (tmp_path / "raw.json").write_bytes(content)
    curation = curate(read_raw_events(spark, str(tmp_path / "raw.json")), CONTRACT)
    write_curated(curation.rows, str(tmp_path / "curated"))
    assert curation.counts(timeout_seconds=30) == CurationCounts(0, 0, 0, 0, 0)
