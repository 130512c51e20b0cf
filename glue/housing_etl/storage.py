"""Reading and writing the zones: raw NDJSON in, Parquet, CSV and JSON out.

Paths are Hadoop URIs (``s3://`` on Glue, local paths in tests), and every write
goes through Spark or the Hadoop file system so the same code runs in both places.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import contracts
from contracts import Contract
from housing_etl.dedup import ID_COLUMN, TIME_COLUMN
from housing_etl.schema import CORRUPT_RECORD, EVENT_DATE, curated_schema, raw_columns, raw_schema, raw_text
from housing_etl.split import CHANNEL_COLUMN

UNIQUE_COLUMNS = (ID_COLUMN, TIME_COLUMN)


def read_raw_events(spark: SparkSession, paths: str | Sequence[str], contract: Contract | None = None) -> DataFrame:
    """Read gzip or plain NDJSON with the contract-derived all-string schema.

    PERMISSIVE mode puts a line that is not a JSON object into ``_corrupt_record``
    (other columns null) instead of failing the job. ``recursiveFileLookup`` reads
    the ``event_date=/home_type=`` folders without turning their names into columns:
    the values inside the records are the ones that count.
    """
    return (
        spark.read.schema(raw_schema(contract or contracts.load()))
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .option("recursiveFileLookup", "true")
        .json([paths] if isinstance(paths, str) else list(paths))
    )


def conform_raw_events(df: DataFrame, contract: Contract) -> DataFrame:
    """Give a DataFrame of inferred types (a Glue DynamicFrame's) the raw schema.

    Present raw keys are cast to string, absent ones become null columns, unknown
    keys are dropped, so the standardisation sees the same input whichever reader
    produced it.
    """
    return df.select(*[raw_text(df, name) for name in [*raw_columns(contract), CORRUPT_RECORD]])


def read_curated(spark: SparkSession, path: str, contract: Contract) -> DataFrame:
    """Read the curated zone with its declared schema (no partition type inference)."""
    return spark.read.schema(curated_schema(contract)).parquet(path)


def write_curated(df: DataFrame, path: str, *, mode: str = "overwrite") -> None:
    """Write Parquet partitioned by ``event_date``.

    Each task writes one file per date it holds. A run normally covers a day or two
    of events, so that is a few right-sized files per date; a backfill over many
    dates gives more, smaller files (repartition by ``event_date`` first if that
    matters more than the extra shuffle).

    The event id and time get no dictionary encoding: they are (nearly) unique, so
    Parquet would build a dictionary per column chunk only to abandon it, which
    costs a third of the write.
    """
    writer = df.write.mode(mode).partitionBy(EVENT_DATE)
    for column in UNIQUE_COLUMNS:
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    writer.parquet(path)


def as_float32(df: DataFrame) -> DataFrame:
    """Double columns as 32-bit floats, the precision XGBoost reads every value with.

    The text of a float is the shortest that reads back as the same float, so the
    model sees exactly the values it would from the double's text, in about half
    the characters and formatting time.
    """
    return df.select(*[F.col(name).cast("float") if kind == "double" else F.col(name) for name, kind in df.dtypes])


def write_training_csv(df: DataFrame, path: str) -> None:
    """Write SageMaker built-in XGBoost CSV below ``path``, one folder per value of the
    ``channel`` column: no header, no index, the other columns as given, doubles with
    float32 precision (:func:`as_float32`).

    The ``_SUCCESS`` marker stays at ``path``, outside the channel folders that the
    training job reads in full.
    """
    writer = as_float32(df).write.mode("overwrite").partitionBy(CHANNEL_COLUMN)
    writer.option("header", "false").csv(path)


def _file_system(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm: Any = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    configuration = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop_path.getFileSystem(configuration), hadoop_path


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write one small UTF-8 object (the statistics artifact), replacing any old one."""
    fs, hadoop_path = _file_system(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
