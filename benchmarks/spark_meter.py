"""Wall time, CPU time and heap of the local Spark JVM for one measured action.

CPU time is the steadier figure on a shared machine, where other work stretches wall
time unevenly between runs. It is read twice: the JVM's (every thread: the tasks, and
also the driver planning queries, the JIT compiling code and the garbage collector),
and Spark's own account of its tasks' CPU (the work done on the rows, which a cluster
spreads over its executors). Heap is read from the JVM's own garbage-collection log:
the highest occupancy right after a collection during the action, which is what the
action kept alive (heap in use before a collection also counts garbage, and grows
with whatever heap the JVM was given). A full collection before each action clears
what earlier actions left, so it is not counted against this one.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_UNITS = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}
_COLLECTION = re.compile(r"^\[(?P<uptime>[\d.]+)s\].* (?P<before>\d+)(?P<u1>[KMG])->(?P<after>\d+)(?P<u2>[KMG])\(")


def gc_log_options(gc_log: Path) -> str:
    """The JVM option that writes the log :class:`SparkMeter` reads."""
    return f"-Xlog:gc:file={gc_log}:uptime"


@dataclass(frozen=True)
class Sample:
    """One measured action: seconds of wall time, of JVM CPU time and of Spark task CPU
    time, the peak heap after a collection in MB (None without /proc or without a
    collection), and the action's result."""

    wall: float
    cpu: float | None
    heap_mb: float | None
    result: Any
    task_cpu: float | None = None


class SparkMeter:
    """Measures actions run on a local Spark session whose JVM writes :func:`gc_log_options`."""

    def __init__(self, spark: Any, gc_log: Path) -> None:
        self.jvm = spark.sparkContext._jvm
        self.gateway = spark.sparkContext._gateway
        self.status = spark.sparkContext._jsc.sc().statusStore()
        self.stat = Path(f"/proc/{self.jvm.java.lang.ProcessHandle.current().pid()}/stat")
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.gc_log = gc_log

    def cpu(self) -> float | None:
        """User plus system CPU seconds of the JVM so far (Linux /proc)."""
        if not self.stat.exists():
            return None
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def task_cpu_by_stage(self) -> dict[tuple[int, int], float]:
        """CPU seconds of each stage attempt's tasks, from Spark's status store (which
        keeps the last ``spark.ui.retainedStages``, UI or not)."""
        no_quantiles = self.gateway.new_array(self.jvm.double, 0)
        stages = self.status.stageList(None, False, False, no_quantiles, self.jvm.java.util.ArrayList())
        return {
            (stage.stageId(), stage.attemptId()): stage.executorCpuTime() / 1e9
            for stage in (stages.apply(i) for i in range(stages.size()))
        }

    def uptime(self) -> float:
        return float(self.jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime()) / 1000

    def peak_heap(self, start: float, end: float) -> float | None:
        """The highest heap occupancy after a collection between two uptimes, in MB."""
        if not self.gc_log.exists():
            return None
        return peak_after_collection(self.gc_log.read_text().splitlines(), start, end)

    def measure(self, action: Callable[[], object]) -> Sample:
        stages_before = self.task_cpu_by_stage()
        self.jvm.java.lang.System.gc()
        cpu_before, uptime_before, started = self.cpu(), self.uptime(), time.perf_counter()
        result = action()
        wall = time.perf_counter() - started
        cpu_after, uptime_after = self.cpu(), self.uptime()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        tasks = sum(seconds for stage, seconds in self.task_cpu_by_stage().items() if stage not in stages_before)
        return Sample(wall, cpu, self.peak_heap(uptime_before, uptime_after), result, tasks)


def peak_after_collection(lines: Iterable[str], start: float, end: float) -> float | None:
    """From ``-Xlog:gc`` lines (``[12.3s] GC(7) Pause Young ... 900M->120M(1024M) 4ms``),
    the largest "after" size of the collections between ``start`` and ``end`` seconds."""
    sizes = [
        int(m["after"]) * _UNITS[m["u2"]]
        for m in map(_COLLECTION.match, lines)
        if m is not None and start <= float(m["uptime"]) <= end
    ]
    return max(sizes) if sizes else None


def median_or_none(samples: Iterable[float | None]) -> float | None:
    values = [s for s in samples if s is not None]
    return statistics.median(values) if values else None
