"""The drift baseline Spark fits from raw training rows equals the reference fit of
contracts.drift over the same rows encoded."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from housing_etl.baseline import Imputed, fit_baseline
from housing_etl.pipeline import OutputPaths
from housing_etl.scaling import fit_scaler
from housing_etl.schema import curated_schema
from housing_etl.split import split_train_validation
from housing_etl.storage import read_curated

import contracts
from contracts.drift import BASELINE_FILE, PREDICTION, load_baseline
from contracts.drift import fit_baseline as reference_fit
from contracts.features import FeatureEncoder, load_statistics

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]
CONTRACT = contracts.load()
STATS = load_statistics((ROOT / "model" / "feature_statistics.json").read_text(encoding="utf-8"))


def random_records(count: int, seed: int) -> list[dict[str, Any]]:
    """Curated training rows with ties (integers, a few repeated values), many distinct
    values and missing values, so imputation adds copies of the median."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        record: dict[str, Any] = {"event_id": f"e{i}", "price": float(round(rng.uniform(1e5, 9e5)))}
        for field in CONTRACT.numeric_features:
            low, high = field.min or 0, field.max or 1000
            choices = [rng.uniform(low, high), float(rng.randint(int(low), int(low) + 3)), None]
            value = rng.choice(choices)
            record[field.name] = int(value) if field.type == "integer" and value is not None else value
        record["home_type"] = rng.choice([*STATS["nominal"]["home_type"]["categories"], "castle", None])
        record["garden_size"] = rng.choice([*STATS["ordinal"]["garden_size"]["mapping"], None])
        records.append(record)
    return records


def frame(spark: Any, records: list[dict[str, Any]]) -> Any:
    schema = curated_schema(CONTRACT)
    return spark.createDataFrame([[r.get(f.name) for f in schema.fields] for r in records], schema).repartition(3)


def reference(records: list[dict[str, Any]], stats: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    encoder = FeatureEncoder(stats)
    return reference_fit(
        [encoder.encode(r) for r in records], [r["price"] for r in records], stats, provenance=provenance
    )


@pytest.fixture(scope="module")
def fitted(spark: Any) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    """Random training rows, their frame and the statistics fitted on them."""
    records = random_records(400, seed=3)
    train = frame(spark, records)
    return records, train, fit_scaler(train, CONTRACT, "robust")


def test_spark_fit_equals_the_reference_fit(fitted: tuple[list[dict[str, Any]], Any, dict[str, Any]]) -> None:
    records, train, stats = fitted
    provenance = {"source": "test"}
    assert fit_baseline(train, CONTRACT, stats, provenance=provenance) == reference(records, stats, provenance)


def test_edges_the_exact_pass_cannot_count_are_counted_in_one_more_pass(
    fitted: tuple[list[dict[str, Any]], Any, dict[str, Any]], monkeypatch: Any
) -> None:
    records, train, stats = fitted
    known = Imputed.count_below
    monkeypatch.setattr(Imputed, "count_below", lambda c, *a: None if c.column == "lot_area" else known(c, *a))
    provenance = {"source": "test"}
    assert fit_baseline(train, CONTRACT, stats, provenance=provenance) == reference(records, stats, provenance)


def test_an_imputed_value_other_than_the_median_is_refused(
    fitted: tuple[list[dict[str, Any]], Any, dict[str, Any]],
) -> None:
    _, train, stats = fitted
    moved = json.loads(json.dumps(stats))
    moved["numeric"]["living_area"]["impute"] = 1e9
    with pytest.raises(ValueError, match=r"living_area: the imputed value 1000000000\.0 is not the median"):
        fit_baseline(train, CONTRACT, moved, provenance={})


def test_the_pipeline_baseline_equals_the_reference_fit_of_its_train_split(
    spark: Any, fixture_run: tuple[Path, Path, Any]
) -> None:
    """The pipeline fits the baseline in the statistics fit's passes (integer features
    counted value by value): the same document as the reference fit of its train rows."""
    paths = OutputPaths.under(str(fixture_run[1]))
    baseline = load_baseline(Path(paths.baseline_files[0]).read_text(encoding="utf-8"))
    curated = read_curated(spark, paths.curated, CONTRACT).where("price IS NOT NULL")
    records = [row.asDict() for row in split_train_validation(curated, 0.2, 0)[0].collect()]
    assert baseline == reference(records, baseline["statistics"], baseline["provenance"])


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
