"""What the ETL benchmark measures, besides the pipeline itself: its two floors and two
fits of the feature statistics. Also runs one of them in a JVM of its own with a small
heap, for the bounded-memory check:

    python -m benchmarks.etl_runs pipeline|percentile-fit|bounded-fit MEMORY INPUT OUTPUT

prints one JSON line (wall and CPU seconds, peak heap, result); a run that exhausts the
heap ends the JVM, which the caller reads from the exit status and the error output.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "glue") not in sys.path:
    sys.path.insert(0, str(ROOT / "glue"))

from housing_etl.dedup import ID_COLUMN, TIME_COLUMN  # noqa: E402
from housing_etl.pipeline import run_pipeline  # noqa: E402
from housing_etl.scaling import QUANTILES, fit_scaler, summary_columns  # noqa: E402
from housing_etl.schema import EVENT_DATE  # noqa: E402
from housing_etl.split import CHANNEL_COLUMN, channel, split_train_validation  # noqa: E402
from housing_etl.storage import read_curated, read_raw_events, write_curated, write_training_csv  # noqa: E402
from pyspark.sql import DataFrame, SparkSession, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

import contracts  # noqa: E402
from benchmarks.spark_meter import SparkMeter, gc_log_options  # noqa: E402

CONTRACT = contracts.load()
SCALING = "robust"
VALIDATION_FRACTION = 0.2
SEED = 0
SHUFFLE_PARTITIONS = 8


def local_session(memory: str, gc_log: Path) -> SparkSession:
    """A local Spark session using every core, with ``memory`` of heap (driver and
    executor are one JVM in local mode), writing the log :class:`SparkMeter` reads.

    Shuffles have SHUFFLE_PARTITIONS partitions (adaptive execution merges small ones),
    not Spark's 200, which suit a cluster: on a few local cores, 200 tasks per stage
    would be measured instead of the work.
    """
    spark = (
        SparkSession.builder.master("local[*]")
        .appName("etl-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
        .config("spark.driver.extraJavaOptions", gc_log_options(gc_log))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def pipeline(spark: SparkSession, raw: Sequence[str], out: Path) -> dict[str, int]:
    """The whole pipeline: ``run_pipeline`` with the Glue job's defaults."""
    return run_pipeline(spark, raw, str(out), SCALING, VALIDATION_FRACTION, SEED).as_dict()


def copy_floor(spark: SparkSession, raw: Sequence[str], out: Path) -> None:
    """Read with the pipeline's reader, write Parquet: the least any ETL does."""
    read_raw_events(spark, raw, CONTRACT).write.mode("overwrite").parquet(str(out / "copy"))


def skeleton_floor(spark: SparkSession, raw: Sequence[str], out: Path) -> None:
    """The pipeline's unavoidable data movement with none of its transforms.

    The same reader; one shuffle by event id keeping one row per id (a ``row_number``
    window keyed like the pipeline's, by the id's hash and the id, latest time first);
    the same partitioned Parquet write of the contract's fields, numbers as numbers (a
    plain cast: the text of a full-precision number is larger than the double the
    pipeline writes) and the date as the time text's first ten characters; reading
    it back for one aggregate pass (count, min, max of each numeric feature) and for
    one CSV write of the training data's 14 columns into the same two channel folders
    (a feature the raw data has no column for is a constant).
    """
    copies = Window.partitionBy(F.xxhash64(ID_COLUMN), ID_COLUMN).orderBy(F.col(TIME_COLUMN).desc())
    one = read_raw_events(spark, raw, CONTRACT).withColumn("_rank", F.row_number().over(copies)).where("_rank = 1")
    typed = [
        F.col(f.name).cast("int" if f.type == "integer" else "double").alias(f.name) if f.is_numeric else F.col(f.name)
        for f in CONTRACT.fields
    ]
    curated = str(out / "skeleton" / "curated")
    write_curated(one.select(*typed, F.substring(TIME_COLUMN, 1, 10).alias(EVENT_DATE)), curated)
    back = spark.read.parquet(curated)
    numeric = [f.name for f in CONTRACT.numeric_features]
    back.agg(F.count(F.lit(1)), *[a(n) for n in numeric for a in (F.count, F.min, F.max)]).first()
    columns = [F.col(c) if c in back.columns else F.lit(0).alias(c) for c in CONTRACT.feature_columns()]
    label = F.col(CONTRACT.label.name)
    training = back.select(label, *columns, channel(VALIDATION_FRACTION, SEED).alias(CHANNEL_COLUMN))
    write_training_csv(training, str(out / "skeleton" / "training"))


def train_split(spark: SparkSession, curated: str) -> DataFrame:
    labeled = read_curated(spark, curated, CONTRACT).where(F.col(CONTRACT.label.name).isNotNull())
    return split_train_validation(labeled, VALIDATION_FRACTION, SEED)[0]


def bounded_fit(spark: SparkSession, curated: str) -> dict[str, Any]:
    """The pipeline's fit of the feature statistics (bounded-memory exact quantiles)."""
    return fit_scaler(train_split(spark, curated), CONTRACT, SCALING)


def percentile_fit(spark: SparkSession, curated: str) -> list[Any]:
    """The same summary with Spark's exact ``percentile``, which keeps every distinct
    value of a column in one buffer (how the statistics were fitted before)."""
    aggregates = []
    for f in CONTRACT.numeric_features:
        aggregates += [*summary_columns(f.name), F.percentile(F.col(f.name).cast("double"), list(QUANTILES))]
    row = train_split(spark, curated).agg(*aggregates).first()
    return list(row or [])


def main(argv: list[str]) -> int:
    task, memory, source, out = argv
    with tempfile.TemporaryDirectory(prefix="etl-gc-") as logs:
        gc_log = Path(logs) / "gc.log"
        spark = local_session(memory, gc_log)
        meter = SparkMeter(spark, gc_log)
        if task == "pipeline":
            inputs = sorted(str(p) for p in Path(source).glob("*.json.gz"))
            sample = meter.measure(lambda: pipeline(spark, inputs, Path(out)))
        else:
            fit = bounded_fit if task == "bounded-fit" else percentile_fit
            sample = meter.measure(lambda: fit(spark, source))
        spark.stop()
    print(json.dumps(asdict(sample), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
