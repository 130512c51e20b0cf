"""The ETL benchmark's meter on a live session: Spark's account of its tasks' CPU covers
the stages an action ran, and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.spark_meter import SparkMeter

pytestmark = pytest.mark.spark


def test_task_cpu_counts_the_stages_of_the_measured_action(spark: Any, tmp_path: Path) -> None:
    meter = SparkMeter(spark, tmp_path / "no-gc.log")
    spark.range(100).selectExpr("sum(id)").first()  # an earlier action: not counted below
    busy = meter.measure(lambda: spark.range(100_000, numPartitions=2).selectExpr("sum(id)").first())
    assert busy.result[0] > 0
    assert busy.task_cpu is not None and busy.task_cpu > 0
    if busy.cpu is not None:  # the JVM's CPU (Linux) includes its tasks'
        assert busy.task_cpu <= busy.cpu + 0.05
    idle = meter.measure(lambda: sum(range(1000)))
    assert idle.task_cpu == 0 and idle.result == 499500
