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
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def timed(action: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    samples: list[float] = []
    result: object = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - start)
    return samples, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (default 3)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    from housing_etl.pipeline import run_pipeline
    from housing_etl.storage import read_raw_events
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
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        contract = contracts.load()
        raw = str(work / "events")
        out = work / "out"

        def floor() -> None:
            read_raw_events(spark, raw, contract).write.mode("overwrite").parquet(str(out / "floor"))

        def pipeline() -> object:
            return run_pipeline(spark, raw, str(out / "pipeline"), "robust", 0.2, 0)

        floor()
        pipeline()
        floor_samples, _ = timed(floor, args.repeats)
        pipeline_samples, counts = timed(pipeline, args.repeats)
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor_s = statistics.median(floor_samples)
    pipeline_s = statistics.median(pipeline_samples)
    ratio = pipeline_s / floor_s
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    body = "\n".join(
        [
            "## Glue ETL pipeline (local PySpark)",
            "",
            "Command: `python -m benchmarks.etl_pipeline"
            + ("" if args.rows == 1_000_000 else f" --rows {args.rows}")
            + "`",
            "",
            f"Input: {lines:,} lines of dirty synthetic events (`tools.synthetic.events(dirty=True)`,"
            f" duplicates, missing and wrong-typed values, aliases, a malformed line every"
            f" {CORRUPT_EVERY:,}) in {len(files)} gzip NDJSON files ({size_mb:.1f} MB).",
            f"Median of {args.repeats} runs each, after one warm-up run, in one `local[*]` session.",
            "",
            "| step | seconds | rows/s |",
            "| --- | ---: | ---: |",
            f"| floor: read raw NDJSON, write Parquet | {floor_s:.2f} | {lines / floor_s:,.0f} |",
            f"| pipeline: `run_pipeline` (curated Parquet + statistics + train/validation CSV)"
            f" | {pipeline_s:.2f} | {lines / pipeline_s:,.0f} |",
            "",
            f"**Ratio pipeline / floor: {ratio:.2f}** (target <= {TARGET_RATIO:.1f}: {verdict}).",
            "",
            f"Pipeline counts: `{json.dumps(counts.as_dict())}`." if hasattr(counts, "as_dict") else "",
        ]
    )
    print(body)
    if not args.no_report:
        write_section("etl_pipeline", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
