"""Throughput of the Glue feature-preparation pipeline against a read-and-write floor.

    python -m benchmarks.etl_pipeline [--rows N] [--repeats R]

Generates ``N`` dirty synthetic events (``tools.synthetic.events(dirty=True)``) as gzip
NDJSON in a temporary raw zone, then, in one local Spark session, times:

- the floor: read the same files with the pipeline's reader and write them as Parquet;
- the pipeline: ``housing_etl.pipeline.run_pipeline`` (standardise, deduplicate,
  curated Parquet, fitted statistics, training and validation CSV).

The ratio pipeline/floor is the figure that travels between machines (target <= 2.0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "glue") not in sys.path:
    sys.path.insert(0, str(ROOT / "glue"))

from benchmarks.report import write_section  # noqa: E402
from tools.synthetic import events  # noqa: E402

BLOCK_ROWS = 50_000
CORRUPT_EVERY = 10_000
ID_KEY = '{"event_id": "'
TARGET_RATIO = 2.0


def generate_raw_zone(rows: int, directory: Path, *, seed: int = 7) -> tuple[list[Path], int]:
    """Write ``rows`` events as gzip NDJSON files of at most BLOCK_ROWS lines each.

    One block is generated with the synthetic generator and replicated with a
    per-file id prefix, so duplicates stay duplicates within a file while files
    never share ids. A malformed line is added every CORRUPT_EVERY events. Returns
    the files and the number of lines written.
    """
    block = [json.dumps(e) for e in events(min(rows, BLOCK_ROWS), seed=seed, dirty=True)]
    assert all(line.startswith(ID_KEY) for line in block)
    files: list[Path] = []
    lines = 0
    folder = directory / "events" / "event_date=2026-01-01" / "home_type=mixed"
    folder.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, BLOCK_ROWS)):
        prefix = f"{ID_KEY}r{index:04d}-"
        count = min(BLOCK_ROWS, rows - start)
        body = [prefix + line[len(ID_KEY) :] for line in block[:count]]
        body += ["{not json" for _ in range(count // CORRUPT_EVERY)]
        path = folder / f"part-{index:05d}.json.gz"
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as handle:
            handle.write("\n".join(body) + "\n")
        files.append(path)
        lines += len(body)
    return files, lines


class JvmClock:
    """Wall time and the Spark JVM's CPU time (Linux /proc; None elsewhere).

    CPU time is the steadier figure on a shared machine, where other work stretches
    wall time unevenly between the floor and the pipeline.
    """

    def __init__(self, spark: Any) -> None:
        self.stat = Path(f"/proc/{spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()}/stat")
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def cpu(self) -> float | None:
        if not self.stat.exists():
            return None
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def measure(self, action: Callable[[], object]) -> tuple[float, float | None, object]:
        cpu_before, start = self.cpu(), time.perf_counter()
        result = action()
        wall = time.perf_counter() - start
        cpu_after = self.cpu()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return wall, cpu, result


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def median_or_none(samples: list[float | None]) -> float | None:
    values = [s for s in samples if s is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed floor/pipeline pairs (default 3)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    from housing_etl.pipeline import OutputPaths, build_training_data, curate, run_pipeline
    from housing_etl.scaling import fit_scaler
    from housing_etl.split import split_train_validation
    from housing_etl.storage import read_curated, read_raw_events, write_curated
    from pyspark.sql import SparkSession

    import contracts

    work = Path(tempfile.mkdtemp(prefix="etl-bench-"))
    try:
        start = time.perf_counter()
        files, lines = generate_raw_zone(args.rows, work)
        generation = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"generated {lines:,} lines in {len(files)} files ({size_mb:.1f} MB gzip) in {generation:.1f} s")

        spark = (
            SparkSession.builder.master("local[*]")
            .appName("etl-pipeline-benchmark")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        clock = JvmClock(spark)
        contract = contracts.load()
        raw = str(work / "events")
        out = work / "out"

        def floor() -> None:
            read_raw_events(spark, raw, contract).write.mode("overwrite").parquet(str(out / "floor"))

        def pipeline() -> object:
            return run_pipeline(spark, raw, str(out / "pipeline"), "robust", 0.2, 0)

        floor()  # warm-up: JIT, class loading, file cache
        pipeline()
        pairs = []
        for run in range(args.repeats):
            floor_wall, floor_cpu, _ = clock.measure(floor)
            pipeline_wall, pipeline_cpu, counts = clock.measure(pipeline)
            pairs.append((floor_wall, floor_cpu, pipeline_wall, pipeline_cpu))
            print(f"run {run + 1}: floor {floor_wall:.2f} s, pipeline {pipeline_wall:.2f} s")

        staged = OutputPaths.under(str(out / "staged"))

        def curate_and_write() -> None:
            curation = curate(read_raw_events(spark, raw, contract), contract)
            write_curated(curation.rows, staged.curated)
            curation.counts()

        def fit() -> Any:
            labeled = read_curated(spark, staged.curated, contract).where("price IS NOT NULL")
            return fit_scaler(split_train_validation(labeled, 0.2, 0)[0], contract, "robust")

        def training_data() -> Any:
            curated = read_curated(spark, staged.curated, contract)
            return build_training_data(
                curated, contract, staged, scaling_method="robust", validation_fraction=0.2, seed=0
            )

        stages = [
            ("standardise, deduplicate, write curated Parquet", clock.measure(curate_and_write)),
            ("read back, fit, encode, scale, write the CSV channels", clock.measure(training_data)),
            ("of which the fit alone (one aggregate, exact quantiles)", clock.measure(fit)),
        ]
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor_s = statistics.median(p[0] for p in pairs)
    pipeline_s = statistics.median(p[2] for p in pairs)
    ratio = statistics.median(p[2] / p[0] for p in pairs)
    floor_cpu = median_or_none([p[1] for p in pairs])
    pipeline_cpu = median_or_none([p[3] for p in pairs])
    cpu_ratios = [p[3] / p[1] for p in pairs if p[1] and p[3] is not None]
    cpu_ratio = statistics.median(cpu_ratios) if cpu_ratios else None
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    command = "python -m benchmarks.etl_pipeline" + ("" if args.rows == 1_000_000 else f" --rows {args.rows}")
    cpu_rows = (
        [
            f"| floor, JVM CPU | {floor_cpu:.2f} | {lines / floor_cpu:,.0f} per CPU-s |",
            f"| pipeline, JVM CPU | {pipeline_cpu:.2f} | {lines / pipeline_cpu:,.0f} per CPU-s |",
        ]
        if floor_cpu and pipeline_cpu
        else []
    )
    body = "\n".join(
        [
            "## Glue ETL pipeline (local PySpark)",
            "",
            f"Command: `{command}`",
            "",
            f"Input: {lines:,} lines of dirty synthetic events (`tools.synthetic.events(dirty=True)`: duplicates,"
            " missing, wrong-typed and out-of-range values, unseen categories, alias units; plus a malformed"
            f" line every {CORRUPT_EVERY:,}) in {len(files)} gzip NDJSON files ({size_mb:.1f} MB).",
            "",
            "- floor: read the files with the pipeline's reader (all-string schema), write Parquet;",
            "- pipeline: `run_pipeline` (standardise, deduplicate, curated Parquet by date, read back,"
            " fit robust scaling, train/validation CSV, statistics JSON).",
            "",
            f"One `local[*]` session, one warm-up pair, then {args.repeats} interleaved floor/pipeline pairs; medians.",
            "",
            "| measurement | seconds | rows/s |",
            "| --- | ---: | ---: |",
            f"| floor, wall | {floor_s:.2f} | {lines / floor_s:,.0f} |",
            f"| pipeline, wall | {pipeline_s:.2f} | {lines / pipeline_s:,.0f} |",
            *cpu_rows,
            "",
            f"**Ratio pipeline / floor: {ratio:.2f} wall**"
            + (f", {cpu_ratio:.2f} JVM CPU" if cpu_ratio else "")
            + f" (target <= {TARGET_RATIO:.1f}: {verdict}).",
            "",
            f"Pipeline counts: `{json.dumps(counts.as_dict())}`." if hasattr(counts, "as_dict") else "",
            "",
            "Where the pipeline's time goes (one staged run after the pairs, same session):",
            "",
            "| stage | wall s | JVM CPU s |",
            "| --- | ---: | ---: |",
            *[f"| {name} | {wall:.2f} | {_format(cpu)} |" for name, (wall, cpu, _) in stages],
            f"| floor (parse + Parquet write), for scale | {floor_s:.2f} | {_format(floor_cpu)} |",
            "",
            f"Curation alone (the first stage) is {stages[0][1][0] / floor_s:.2f}x the floor; the training"
            f" data adds {stages[1][1][0] / floor_s:.2f}x.",
            "",
            "The floor parses and writes once. The pipeline parses once too, but also standardises"
            " every field (text trimming and casing, a strict number pattern, time zones, unit"
            " conversion, range checks), shuffles and sorts every row to deduplicate, then reads"
            " the curated Parquet back to fit exact quantiles on the training split and again to"
            " write the CSV channels (scaling needs the fitted statistics first).",
        ]
    )
    print(body)
    if not args.no_report:
        write_section("etl_pipeline", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
