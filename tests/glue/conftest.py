"""One local Spark session (the Glue 5 engine: Spark 3.5) shared by every Spark test."""

from __future__ import annotations

import csv
import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # Spark hands timestamps to Python as local wall-clock times: make local time UTC.
    previous_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("housing-etl-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.adaptive.enabled", "true")
        # Tiny inputs: compiling generated code costs more than it saves.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if previous_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous_tz
    time.tzset()


@pytest.fixture(scope="session")
def fixture_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """``run_pipeline`` over the hand-worked fixture (robust scaling, fraction 0.2, seed 0).

    Returns the raw events folder (two gzip files in raw-zone partition folders), the
    output root and the counts; shared by the tests that check the outputs exactly.
    """
    from housing_etl.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("pipeline")
    events = write_fixture_raw_zone(root / "raw" / "events")
    counts = run_pipeline(spark, str(events), str(root / "out"), "robust", 0.2, 0)
    return events, root / "out", counts


def ndjson(lines: list[Any]) -> str:
    """Raw-zone style text: one JSON document (or raw text) per line."""
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    """Write NDJSON, gzip-compressed when the name ends in ``.gz`` (as Firehose writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(ndjson(lines))
    else:
        path.write_text(ndjson(lines), encoding="utf-8")
    return path


def read_csv(folder: str | Path) -> list[list[str]]:
    """The rows of every CSV part file in a folder (one training channel), in file order."""
    return [row for part in sorted(Path(folder).glob("part-*.csv")) for row in csv.reader(part.open())]


def write_fixture_raw_zone(events: Path) -> Path:
    """The hand-worked fixture as two gzip files in raw-zone partition folders below ``events``."""
    from tests.glue.fixtures import RAW_EVENTS

    write_ndjson(events / "event_date=2026-01-01" / "home_type=detached" / "part-0.json.gz", RAW_EVENTS[:6])
    write_ndjson(events / "event_date=2026-01-03" / "home_type=condo" / "part-1.json.gz", RAW_EVENTS[6:])
    return events
