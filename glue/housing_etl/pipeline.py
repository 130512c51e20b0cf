"""The feature-preparation pipeline, composed from the transforms.

Two stages, so the Glue job can run them on different inputs:

- :func:`curate`: raw events -> standardised, valid, deduplicated rows (the curated
  zone's content), with counts of what was dropped and why.
- :func:`build_training_data`: curated rows -> fitted statistics and the SageMaker
  training/validation CSV.

:func:`run_pipeline` runs both on one input (tests, benchmark, a one-off backfill).
The raw input is parsed once: the standardised rows and the curated rows are cached,
and every count comes from an aggregate over a cache rather than a re-read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import contracts
from contracts import Contract
from housing_etl.dedup import deduplicate
from housing_etl.encode import encode
from housing_etl.features import STATISTICS_FILE, dump_statistics
from housing_etl.missing import handle_missing
from housing_etl.scaling import apply_scaler, fit_scaler
from housing_etl.schema import CORRUPT_RECORD
from housing_etl.split import is_validation, split_train_validation
from housing_etl.standardise import is_valid_record, reject_invalid_records, standardise
from housing_etl.storage import read_raw_events, write_curated, write_text, write_training_csv

DEFAULT_SCALING_METHOD = "robust"
DEFAULT_VALIDATION_FRACTION = 0.2
DEFAULT_SEED = 0


@dataclass(frozen=True)
class OutputPaths:
    """Where the pipeline writes: curated Parquet, training CSV, statistics JSON."""

    curated: str
    training: str
    statistics: str

    @classmethod
    def under(cls, root: str) -> OutputPaths:
        """The conventional layout below one root (used by :func:`run_pipeline`)."""
        base = root.rstrip("/")
        return cls(curated=f"{base}/curated", training=f"{base}/training", statistics=f"{base}/statistics")

    @property
    def train(self) -> str:
        """The SageMaker ``train`` channel prefix."""
        return f"{self.training.rstrip('/')}/train"

    @property
    def validation(self) -> str:
        """The SageMaker ``validation`` channel prefix."""
        return f"{self.training.rstrip('/')}/validation"

    @property
    def statistics_file(self) -> str:
        """The statistics artifact's full path."""
        return f"{self.statistics.rstrip('/')}/{STATISTICS_FILE}"


@dataclass(frozen=True)
class CurationCounts:
    """What happened to the raw records of one curation run."""

    read: int
    corrupt: int
    rejected: int
    duplicates_removed: int
    curated: int


@dataclass(frozen=True)
class TrainingCounts:
    """How the curated rows were divided into training output."""

    unlabeled: int
    train: int
    validation: int


@dataclass(frozen=True)
class PipelineCounts:
    """Counts of a whole run; ``read = corrupt + rejected + duplicates_removed + curated``
    and ``curated = unlabeled + train + validation``."""

    read: int
    corrupt: int
    rejected: int
    duplicates_removed: int
    curated: int
    unlabeled: int
    train: int
    validation: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def curate(raw: DataFrame, contract: Contract) -> tuple[DataFrame, CurationCounts]:
    """Standardise, drop corrupt/invalid records and deduplicate.

    Returns the curated rows, cached (the caller unpersists them when done), and the
    counts. The standardised rows are cached while needed so the raw files are
    parsed once.
    """
    standardised = standardise(raw, contract).persist(StorageLevel.MEMORY_AND_DISK)
    valid = is_valid_record(standardised, contract)
    corrupt = (
        F.col(CORRUPT_RECORD).isNotNull() if CORRUPT_RECORD in standardised.columns else F.lit(False)
    )
    totals = standardised.agg(
        F.count(F.lit(1)).alias("read"),
        F.count(F.when(corrupt, 1)).alias("corrupt"),
        F.count(F.when(valid, 1)).alias("valid"),
    ).first()
    assert totals is not None
    curated = deduplicate(reject_invalid_records(standardised, contract)).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    curated_rows = curated.count()
    standardised.unpersist()
    counts = CurationCounts(
        read=totals["read"],
        corrupt=totals["corrupt"],
        rejected=totals["read"] - totals["corrupt"] - totals["valid"],
        duplicates_removed=totals["valid"] - curated_rows,
        curated=curated_rows,
    )
    return curated, counts


def feature_matrix(
    df: DataFrame, contract: Contract, stats: Mapping[str, Any], *, training: bool = True
) -> DataFrame:
    """Impute, encode and scale; select the model's columns in order.

    With ``training``: unlabeled rows dropped, the label first, then
    ``contract.feature_columns()``, as SageMaker's built-in XGBoost expects. Without:
    ``event_id``, the label (possibly null) and the features, for scoring and checks.
    """
    prepared = apply_scaler(encode(handle_missing(df, contract, stats, drop_unlabeled=training), contract), stats)
    features = [F.col(c).cast("double") for c in contract.feature_columns()]
    label = F.col(contract.label.name).cast("double").alias(contract.label.name)
    if training:
        return prepared.select(label, *features)
    return prepared.select("event_id", label, *features)


def build_training_data(
    curated: DataFrame,
    contract: Contract,
    outputs: OutputPaths,
    *,
    scaling_method: str,
    validation_fraction: float,
    seed: int,
) -> tuple[dict[str, Any], TrainingCounts]:
    """Split labeled rows, fit statistics on the train split, write CSV and JSON.

    ``curated`` must be deduplicated and is scanned four times (counts, fit, two
    writes), so pass a cached DataFrame.
    """
    label = F.col(contract.label.name)
    validation = is_validation(validation_fraction, seed)
    totals = curated.agg(
        F.count(F.when(label.isNull(), 1)).alias("unlabeled"),
        F.count(F.when(label.isNotNull() & ~validation, 1)).alias("train"),
        F.count(F.when(label.isNotNull() & validation, 1)).alias("validation"),
    ).first()
    assert totals is not None
    labeled = curated.where(label.isNotNull())
    train, held_out = split_train_validation(labeled, validation_fraction, seed)
    stats = fit_scaler(train, contract, scaling_method)
    write_text(curated.sparkSession, outputs.statistics_file, dump_statistics(stats))
    write_training_csv(feature_matrix(train, contract, stats), outputs.train)
    write_training_csv(feature_matrix(held_out, contract, stats), outputs.validation)
    counts = TrainingCounts(
        unlabeled=totals["unlabeled"], train=totals["train"], validation=totals["validation"]
    )
    return stats, counts


def run_pipeline(
    spark: SparkSession,
    input_paths: str | Sequence[str],
    output_root: str,
    scaling_method: str = DEFAULT_SCALING_METHOD,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> PipelineCounts:
    """Raw NDJSON in; curated Parquet, training CSV and statistics out below ``output_root``.

    Outputs are replaced, not appended: the run is a pure function of its input.
    """
    contract = contracts.load()
    outputs = OutputPaths.under(output_root)
    curated, curation = curate(read_raw_events(spark, input_paths, contract), contract)
    try:
        write_curated(curated, outputs.curated, mode="overwrite")
        _, training = build_training_data(
            curated,
            contract,
            outputs,
            scaling_method=scaling_method,
            validation_fraction=validation_fraction,
            seed=seed,
        )
    finally:
        curated.unpersist()
    return PipelineCounts(**asdict(curation), **asdict(training))
