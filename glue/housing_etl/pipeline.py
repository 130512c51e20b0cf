"""The feature-preparation pipeline, composed from the transforms.

Two stages, so the Glue job can run them on different inputs:

- :func:`curate`: raw events -> standardised, valid, deduplicated rows (the curated
  zone's content), with counts of what was dropped and why.
- :func:`build_training_data`: curated rows -> fitted statistics and the SageMaker
  training/validation CSV.

:func:`run_pipeline` runs both on one input (tests, benchmark, a one-off backfill).
Nothing is cached: the raw files are parsed once, by the job that writes the curated
Parquet, and the training stage reads that Parquet back (columnar, so cheaper than any
cache of parsed rows). Counts are gathered on the way by Spark observations instead of
extra passes: ``read = corrupt + rejected + duplicates_removed + curated`` and
``curated = unlabeled + train + validation``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

import contracts
from contracts import Contract
from contracts.drift import BASELINE_FILE, dump_baseline, run_baseline
from contracts.features import STATISTICS_FILE, dump_statistics
from housing_etl.baseline import BaselineFit
from housing_etl.dedup import ID_COLUMN, deduplicate
from housing_etl.encode import encode
from housing_etl.missing import handle_missing
from housing_etl.scaling import apply_scaler, check_method, fit_statistics, summarise
from housing_etl.schema import CORRUPT_RECORD
from housing_etl.split import (
    CHANNEL_COLUMN,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    channel,
    channel_path,
)
from housing_etl.standardise import is_valid_record, reject_invalid_records, standardise
from housing_etl.storage import (
    read_curated,
    read_raw_events,
    write_curated,
    write_text,
    write_training_csv,
)

DEFAULT_SCALING_METHOD = "robust"
DEFAULT_VALIDATION_FRACTION = 0.2
DEFAULT_SEED = 0
OBSERVATION_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class OutputPaths:
    """Where the pipeline writes: curated Parquet, training CSV, statistics and drift baseline
    JSON. ``run`` (the Glue job run) also keeps this run's baseline under ``runs/<run>/``, where
    a model trained on this run's data can point at it after later runs replace the latest."""

    curated: str
    training: str
    statistics: str
    run: str | None = None

    @classmethod
    def under(cls, root: str, run: str | None = None) -> OutputPaths:
        """The conventional layout below one root (used by :func:`run_pipeline`)."""
        base = root.rstrip("/")
        return cls(curated=f"{base}/curated", training=f"{base}/training", statistics=f"{base}/statistics", run=run)

    @property
    def train(self) -> str:
        """The SageMaker ``train`` channel prefix."""
        return channel_path(self.training, TRAIN_CHANNEL)

    @property
    def validation(self) -> str:
        """The SageMaker ``validation`` channel prefix."""
        return channel_path(self.training, VALIDATION_CHANNEL)

    @property
    def statistics_file(self) -> str:
        """The statistics artifact's full path."""
        return f"{self.statistics.rstrip('/')}/{STATISTICS_FILE}"

    @property
    def baseline_files(self) -> list[str]:
        """The drift baseline beside the statistics, and this run's copy."""
        base = self.statistics.rstrip("/")
        return [f"{base}/{BASELINE_FILE}"] + ([run_baseline(base, self.run)] if self.run else [])


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


@dataclass(frozen=True)
class Curation:
    """The lazily curated rows of one run and the means to count them afterwards:
    ``arrived`` counts the records as they come out of standardisation, ``kept`` the
    rows left after deduplication."""

    rows: DataFrame
    arrived: Observation
    kept: Observation

    def counts(self, timeout_seconds: float = OBSERVATION_TIMEOUT_SECONDS) -> CurationCounts:
        """The counts, once an action (the curated write) has run over ``rows``."""
        arrived = observed_metrics(self.arrived, timeout_seconds)
        kept = observed_metrics(self.kept, timeout_seconds)
        read, corrupt, rejected = (int(arrived.get(name) or 0) for name in ("read", "corrupt", "rejected"))
        curated = int(kept.get("curated") or 0)
        return CurationCounts(
            read=read,
            corrupt=corrupt,
            rejected=rejected,
            duplicates_removed=read - corrupt - rejected - curated,
            curated=curated,
        )


def observed_metrics(observation: Observation, timeout_seconds: float) -> dict[str, Any]:
    """An observation's metrics, waiting at most ``timeout_seconds`` for them.

    Spark reports them from a listener shortly after the action; if they never come
    (a plan rewritten without its observation), fail loudly instead of hanging.
    """
    result: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: result.update(observation.get), daemon=True)
    waiter.start()
    waiter.join(timeout_seconds)
    if waiter.is_alive():
        raise RuntimeError(f"Spark did not report the observed counts within {timeout_seconds} s")
    return result


def curate(raw: DataFrame, contract: Contract) -> Curation:
    """Standardise, drop corrupt/invalid records and deduplicate, lazily.

    Returns the curated rows and, once they have been written, their counts (see
    :class:`Curation`). Two observations count as the rows flow into the write, so
    counting costs no extra pass over the input (an empty input counts zeros): one
    before the shuffle (read, corrupt, rejected), so invalid records are dropped
    before they are shuffled, and one after deduplication (curated); the duplicates
    are the difference.
    """
    standardised = standardise(raw, contract)
    valid = is_valid_record(standardised, contract)
    corrupt = F.col(CORRUPT_RECORD).isNotNull() if CORRUPT_RECORD in standardised.columns else F.lit(False)
    arrived, kept = Observation(), Observation()
    counted = standardised.observe(
        arrived,
        F.count(F.lit(1)).alias("read"),
        F.count(F.when(corrupt, 1)).alias("corrupt"),
        F.count(F.when(~valid & ~corrupt, 1)).alias("rejected"),
    )
    rows = deduplicate(reject_invalid_records(counted, contract))
    return Curation(rows=rows.observe(kept, F.count(F.lit(1)).alias("curated")), arrived=arrived, kept=kept)


def feature_matrix(
    df: DataFrame,
    contract: Contract,
    stats: Mapping[str, Any],
    *,
    training: bool = True,
    keep: Sequence[str] = (),
) -> DataFrame:
    """Impute, encode and scale; select the model's columns in order, then ``keep``.

    With ``training``: unlabeled rows dropped, the label first, then
    ``contract.feature_columns()``, as SageMaker's built-in XGBoost expects. Without:
    ``event_id``, the label (possibly null) and the features, for scoring and checks.
    """
    imputed = handle_missing(df, contract, stats, drop_unlabeled=training)
    prepared = apply_scaler(encode(imputed, contract), stats)
    features = contract.feature_columns()
    label = F.col(contract.label.name).cast("double").alias(contract.label.name)
    if training:
        return prepared.select(label, *features, *keep)
    return prepared.select(ID_COLUMN, label, *features, *keep)


def build_training_data(
    curated: DataFrame,
    contract: Contract,
    outputs: OutputPaths,
    *,
    scaling_method: str,
    validation_fraction: float,
    seed: int,
) -> tuple[dict[str, Any], TrainingCounts]:
    """Split labeled rows, fit statistics and the drift baseline on the train split,
    write CSV and JSON.

    Four passes: three over the train split fit the statistics and the baseline's
    percentiles together (a summary, then the sketch and exact passes of one
    ``QuantileQuery``: see ``housing_etl.scaling`` and ``housing_etl.baseline``),
    then one CSV write puts each row in its channel's folder and, on the way, counts
    unlabeled and validation rows and the baseline's categories.
    """
    check_method(scaling_method)
    label = F.col(contract.label.name)
    channels = curated.withColumn(CHANNEL_COLUMN, channel(validation_fraction, seed))
    held_out = F.col(CHANNEL_COLUMN) == F.lit(VALIDATION_CHANNEL)
    train = channels.where(label.isNotNull() & ~held_out)
    summary = summarise(train, contract)
    drift = BaselineFit(contract, summary)
    stats, query = fit_statistics(train, contract, scaling_method, summary, also=[drift.want])
    write_text(curated.sparkSession, outputs.statistics_file, dump_statistics(stats))
    split, categories = Observation(), Observation()
    counted = channels.observe(
        split,
        F.count(F.when(label.isNull(), 1)).alias("unlabeled"),
        F.count(F.when(label.isNotNull() & held_out, 1)).alias("validation"),
    )
    matrix = feature_matrix(counted, contract, stats, keep=[CHANNEL_COLUMN])
    in_train = F.col(CHANNEL_COLUMN) == F.lit(TRAIN_CHANNEL)
    write_training_csv(matrix.observe(categories, *drift.tallies(stats, where=in_train)), outputs.training)
    provenance = {"source": "glue", "etl_run": outputs.run}
    tallied = observed_metrics(categories, OBSERVATION_TIMEOUT_SECONDS)
    baseline = drift.document(query, stats, tallied, train, provenance)
    for path in outputs.baseline_files:
        write_text(curated.sparkSession, path, dump_baseline(baseline))
    metrics = observed_metrics(split, OBSERVATION_TIMEOUT_SECONDS)
    counts = TrainingCounts(
        unlabeled=int(metrics["unlabeled"]),
        train=int(stats["training_rows"]),
        validation=int(metrics["validation"]),
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
    curation = curate(read_raw_events(spark, input_paths, contract), contract)
    write_curated(curation.rows, outputs.curated, mode="overwrite")
    _, training = build_training_data(
        read_curated(spark, outputs.curated, contract),
        contract,
        outputs,
        scaling_method=scaling_method,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return PipelineCounts(**asdict(curation.counts()), **asdict(training))


def append_curated(raw: DataFrame, contract: Contract, curated_path: str) -> CurationCounts:
    """Curate raw events and append them to the curated zone (the Glue job's first step)."""
    curation = curate(raw, contract)
    write_curated(curation.rows, curated_path, mode="append")
    return curation.counts()


def rebuild_training_data(
    spark: SparkSession,
    contract: Contract,
    outputs: OutputPaths,
    *,
    scaling_method: str,
    validation_fraction: float,
    seed: int,
) -> TrainingCounts:
    """Statistics and training data from the whole curated zone (the Glue job's second step).

    The zone is append-only, so it is deduplicated again: an event re-sent in a later
    run replaces its older copy. This step reads the whole zone, so its cost grows with
    the zone, not with the new events (``docs/feature-preparation.md``, "What a daily
    run costs").
    """
    curated = deduplicate(read_curated(spark, outputs.curated, contract)).cache()
    try:
        _, counts = build_training_data(
            curated,
            contract,
            outputs,
            scaling_method=scaling_method,
            validation_fraction=validation_fraction,
            seed=seed,
        )
    finally:
        curated.unpersist()
    return counts


def run_increment(
    raw: DataFrame,
    contract: Contract,
    outputs: OutputPaths,
    *,
    scaling_method: str,
    validation_fraction: float,
    seed: int,
) -> tuple[CurationCounts, TrainingCounts | None]:
    """One run of the Glue job over the raw events it has not seen yet: append them to
    the curated zone and, if any were curated, rebuild the training data."""
    counts = append_curated(raw, contract, outputs.curated)
    if not counts.curated:
        return counts, None
    training = rebuild_training_data(
        raw.sparkSession,
        contract,
        outputs,
        scaling_method=scaling_method,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return counts, training
