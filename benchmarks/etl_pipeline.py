"""The Glue feature-preparation pipeline at scale, against two floors measured in the same run.

    python -m benchmarks.etl_pipeline            # 1M-row floors, 1-8M-row curve, small-heap run; ~20 min
    python -m benchmarks.etl_pipeline --quick    # the same at a tenth of the sizes, printed only

Generates dirty synthetic events (``benchmarks.etl_data``) under ``build/``, then in
one local Spark session:

1. Floors, at the smallest size: the copy floor (read, write Parquet) and the
   I/O-skeleton floor (the pipeline's data movement without its transforms, see
   ``benchmarks.etl_runs.skeleton_floor``), interleaved with the pipeline; medians.
   Target: pipeline <= 1.5x the skeleton, wall and CPU.
2. The scale curve: the pipeline at each size, the sizes interleaved in rounds
   (medians of seconds per million rows: wall, JVM CPU and Spark task CPU; peak heap),
   and the statistics fit alone, bounded against Spark's exact ``percentile``.
   Target: time per row flat within 25%, judged on the task CPU (see ``render_curve``).
3. The Glue job's daily run: a curated zone plus a 5% batch with late re-sends,
   against a full run over the same events, at three zone sizes.
4. The largest size again in JVMs of their own with a small heap: the ``percentile``
   fit, then the whole pipeline.

Generated data is deleted at the end. A full run rewrites the ``etl_pipeline`` section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.etl_data import BLOCK_ROWS, increment, raw_zone
from benchmarks.etl_runs import (
    CONTRACT,
    ROOT,
    SCALING,
    SEED,
    VALIDATION_FRACTION,
    bounded_fit,
    copy_floor,
    local_session,
    percentile_fit,
    pipeline,
    skeleton_floor,
)
from benchmarks.report import write_section
from benchmarks.spark_meter import Sample, SparkMeter, median_or_none

FULL_SIZES = (1_000_000, 2_000_000, 4_000_000, 8_000_000)
QUICK_SIZES = tuple(size // 10 for size in FULL_SIZES)
BATCH_SHARE = 0.05
HEAP = "4g"
SMALL_HEAP = "1g"
SKELETON_TARGET = 1.5
FLATNESS_TARGET = 1.25
CURVE_ROUNDS = 2
CHILD_TIMEOUT_SECONDS = 3600


def millions(rows: int) -> str:
    return f"{rows / 1e6:g}M"


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


@dataclass(frozen=True)
class CurvePoint:
    """One size of the scale curve: the pipeline's runs, and the two fits over its curated zone."""

    rows: int
    runs: list[Sample]
    exact: Sample
    bounded: Sample

    def median(self, field: str) -> float:
        """The median of a field of the runs: ``wall``, ``cpu`` or ``task_cpu`` seconds."""
        return statistics.median(getattr(s, field) or 0.0 for s in self.runs)

    def per_million(self, field: str) -> float:
        """:meth:`median` in seconds per million rows."""
        return self.median(field) / self.rows * 1e6

    @property
    def heap_mb(self) -> float | None:
        return max((s.heap_mb for s in self.runs if s.heap_mb is not None), default=None)


@dataclass(frozen=True)
class SmallHeapRun:
    """A task run in a JVM of its own: its measurement, or how it ended."""

    task: str
    sample: Sample | None
    outcome: str


def small_heap_run(task: str, memory: str, source: Path, out: Path) -> SmallHeapRun:
    """Run ``benchmarks.etl_runs`` in a fresh JVM limited to ``memory`` of heap."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.etl_runs", task, memory, str(source), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return SmallHeapRun(task, Sample(**json.loads(lines[-1])), "finished")
    reason = "java.lang.OutOfMemoryError" if "java.lang.OutOfMemoryError" in done.stderr else "an error"
    return SmallHeapRun(task, None, f"failed with {reason} after {elapsed:.0f} s")


class Bench:
    """One benchmark run: the data, the session and what was measured."""

    def __init__(self, work: Path, sizes: tuple[int, ...], repeats: int) -> None:
        self.work, self.sizes, self.repeats = work, sizes, repeats
        self.raw = work / "raw"
        self.files = [str(p) for p in raw_zone(self.raw, max(sizes))]
        self.gc_log = work / "gc.log"
        self.spark = local_session(HEAP, self.gc_log)
        self.meter = SparkMeter(self.spark, self.gc_log)

    def inputs(self, rows: int) -> list[str]:
        return self.files[: rows // BLOCK_ROWS]

    def curated(self, rows: int) -> Path:
        return self.work / "curve" / millions(rows) / "curated"

    def floors(self) -> dict[str, list[Sample]]:
        """Copy floor, skeleton floor and pipeline, interleaved; one warm-up round."""
        raw, out = self.inputs(self.sizes[0]), self.work / "floors"
        runs: dict[str, Callable[[], object]] = {
            "copy": lambda: copy_floor(self.spark, raw, out),
            "skeleton": lambda: skeleton_floor(self.spark, raw, out),
            "pipeline": lambda: pipeline(self.spark, raw, out / "pipeline"),
        }
        for run in runs.values():
            run()
        samples: dict[str, list[Sample]] = {name: [] for name in runs}
        for repeat in range(self.repeats):
            for name, run in runs.items():
                samples[name].append(self.meter.measure(run))
                print(f"floors {repeat + 1}: {name} {samples[name][-1].wall:.2f} s", flush=True)
        return samples

    def curve(self) -> list[CurvePoint]:
        """The pipeline at each size, sizes interleaved in CURVE_ROUNDS rounds; after the
        first run at each size, the two fits over its curated zone."""
        runs: dict[int, list[Sample]] = {rows: [] for rows in self.sizes}
        fits: dict[int, tuple[Sample, Sample]] = {}
        for _, rows in itertools.product(range(CURVE_ROUNDS), self.sizes):
            out, inputs = self.curated(rows).parent, self.inputs(rows)
            runs[rows].append(self.meter.measure(lambda inputs=inputs, out=out: pipeline(self.spark, inputs, out)))
            print(f"curve {millions(rows)}: {runs[rows][-1].wall:.1f} s", flush=True)
            if rows not in fits:
                shutil.rmtree(out / "training", ignore_errors=True)
                curated = str(self.curated(rows))
                exact = self.meter.measure(lambda curated=curated: percentile_fit(self.spark, curated))
                fits[rows] = exact, self.meter.measure(lambda curated=curated: bounded_fit(self.spark, curated))
        return [CurvePoint(rows, runs[rows], *fits[rows]) for rows in self.sizes]

    def increments(self) -> list[tuple[int, int, Sample, Sample, Sample]]:
        """The Glue job's run over a 5% batch, against a full run over the same events."""
        from housing_etl.pipeline import OutputPaths, append_curated, rebuild_training_data
        from housing_etl.storage import read_raw_events

        results = []
        for rows in self.sizes[:3]:
            zone = [Path(p) for p in self.inputs(rows)]
            batch = [str(p) for p in increment(self.work / "batches" / millions(rows), zone, BATCH_SHARE)]
            job = OutputPaths.under(str(self.work / "job" / millions(rows)))
            shutil.copytree(self.curated(rows), job.curated)
            step1 = self.meter.measure(
                lambda batch=batch, job=job: append_curated(read_raw_events(self.spark, batch), CONTRACT, job.curated)
            )
            step2 = self.meter.measure(
                lambda job=job: rebuild_training_data(
                    self.spark,
                    CONTRACT,
                    job,
                    scaling_method=SCALING,
                    validation_fraction=VALIDATION_FRACTION,
                    seed=SEED,
                )
            )
            full = self.meter.measure(
                lambda rows=rows, batch=batch: pipeline(self.spark, [*self.inputs(rows), *batch], self.work / "full")
            )
            shutil.rmtree(self.work / "job", ignore_errors=True)
            results.append((rows, len(batch), step1, step2, full))
            print(f"increment on {millions(rows)}: job {step1.wall + step2.wall:.1f} s, full {full.wall:.1f} s")
        return results


def render_floors(rows: int, samples: dict[str, list[Sample]]) -> list[str]:
    def ratio(name: str, base: str, field: str) -> float | None:
        pairs = zip(samples[name], samples[base], strict=True)
        return median_or_none([getattr(a, field) / getattr(b, field) for a, b in pairs if getattr(b, field)])

    wall, cpu = ratio("pipeline", "skeleton", "wall"), ratio("pipeline", "skeleton", "cpu")
    verdict = "within" if max(wall or 0, cpu or 0) <= SKELETON_TARGET else "over"
    names = {"copy": "copy floor", "skeleton": "I/O-skeleton floor", "pipeline": "pipeline"}
    return [
        f"### Floors ({millions(rows)} rows, {len(samples['pipeline'])} interleaved rounds, medians)",
        "",
        "| run | wall s | JVM CPU s | pipeline / run, wall | pipeline / run, CPU |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {label} | {statistics.median(s.wall for s in samples[name]):.2f} |"
            f" {fmt(median_or_none([s.cpu for s in samples[name]]))} |"
            f" {fmt(ratio('pipeline', name, 'wall'))} | {fmt(ratio('pipeline', name, 'cpu'))} |"
            for name, label in names.items()
        ],
        "",
        "The copy floor reads with the pipeline's reader and writes Parquet. The I/O-skeleton floor is the"
        " pipeline's data movement without its transforms: the same reader, one shuffle by event id keeping"
        " one row per id, the same partitioned Parquet write, reading it back for one aggregate pass and one"
        " CSV write of the training columns. The pipeline adds to it the transforms and two passes: its"
        " summary pass stands for the skeleton's aggregate, then a sketch pass and an exact pass find the"
        " statistics' quantiles and the drift baseline's percentiles together.",
        "",
        f"**Pipeline / I/O skeleton: {fmt(wall)}x wall, {fmt(cpu)}x JVM CPU** (target <= {SKELETON_TARGET}: {verdict})."
        f" Pipeline / copy floor: {fmt(ratio('pipeline', 'copy', 'wall'))}x wall,"
        f" {fmt(ratio('pipeline', 'copy', 'cpu'))}x CPU (no target).",
        "",
        f"Pipeline counts: `{json.dumps(samples['pipeline'][-1].result)}`.",
    ]


def linear_costs(points: list[CurvePoint]) -> list[str]:
    """The least-squares line through the curve (what a run costs before its first row,
    and per million rows), and the cost of each further million rows between sizes."""
    millions_ = [p.rows / 1e6 for p in points]
    walls = [p.median("wall") for p in points]
    fit = statistics.linear_regression(millions_, walls)
    steps = [(b - a) / (y - x) for (x, a), (y, b) in itertools.pairwise(zip(millions_, walls, strict=True))]
    return [
        f"Least-squares line through the wall times: {fit.intercept:.1f} s + {fit.slope:.2f} s per million rows."
        f" Each further million rows between sizes: {', '.join(f'{step:.2f}' for step in steps)} s"
        f" (largest / smallest {max(steps) / min(steps):.2f}).",
    ]


def spread(points: list[CurvePoint], field: str) -> float:
    """Largest / smallest seconds per million rows along the curve."""
    values = [p.per_million(field) for p in points]
    return max(values) / min(values)


def render_curve(points: list[CurvePoint]) -> list[str]:
    """The curve, judged on the Spark task CPU per row: the work the rows cause. Wall time
    and JVM CPU also carry what each run costs whatever its size (planning the queries,
    compiling their code, the last tasks of a stage running alone), so their time per
    row falls as that cost is spread over more rows; the table shows them beside it."""
    tasks, wall, cpu = spread(points, "task_cpu"), spread(points, "wall"), spread(points, "cpu")
    verdict = "within" if tasks <= FLATNESS_TARGET else "over"
    first, last = points[0], points[-1]
    lines = [
        f"### Scale curve ({CURVE_ROUNDS} rounds over the sizes, after the floors; medians)",
        "",
        "| rows | wall s | wall s per M rows | JVM CPU s per M rows | Spark task CPU s per M rows"
        " | peak heap after GC, MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {millions(p.rows)} | {p.median('wall'):.1f} | {p.per_million('wall'):.2f} |"
            f" {p.per_million('cpu'):.2f} | {p.per_million('task_cpu'):.2f} | {fmt(p.heap_mb, 0)} |"
            for p in points
        ],
        "",
        f"**Largest / smallest Spark task CPU per row: {tasks:.2f}** (target <= {FLATNESS_TARGET}: {verdict})."
        f" Wall and JVM CPU per row: {wall:.2f} and {cpu:.2f}; at {millions(last.rows)} against"
        f" {millions(first.rows)} they are {last.per_million('wall') / first.per_million('wall'):.2f} and"
        f" {last.per_million('cpu') / first.per_million('cpu'):.2f} (below 1: what a run costs whatever its"
        " size is spread over more rows).",
        "",
        *linear_costs(points),
        "",
        "The statistics fit alone over each size's curated zone (training split), Spark's exact"
        " `percentile` against the pipeline's bounded fit:",
        "",
        "| rows | percentile: JVM CPU s | percentile: peak heap MB | bounded: JVM CPU s | bounded: peak heap MB |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {millions(p.rows)} | {fmt(p.exact.cpu)} | {fmt(p.exact.heap_mb, 0)} | {fmt(p.bounded.cpu)} |"
            f" {fmt(p.bounded.heap_mb, 0)} |"
            for p in points
        ],
    ]
    return lines


def render_increments(results: list[tuple[int, int, Sample, Sample, Sample]]) -> list[str]:
    lines = [
        f"### The Glue job's daily run: a curated zone plus a {BATCH_SHARE:.0%} batch",
        "",
        "The batch: new events, and every tenth line a late re-send of an event already in the zone"
        " (a day later, another price). Job run = step 1 (curate the batch, append it) + step 2"
        " (read the whole zone, deduplicate it again, fit, write the training data); full run ="
        " `run_pipeline` over the zone's raw events and the batch.",
        "",
        "| curated zone | step 1: CPU s | step 2: CPU s | job run: wall s | full run: wall s"
        " | job / full, CPU | step 2 CPU s per M zone rows |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows, _, step1, step2, full in results:
        job_cpu = (step1.cpu or 0) + (step2.cpu or 0)
        lines.append(
            f"| {millions(rows)} | {fmt(step1.cpu)} | {fmt(step2.cpu)} | {step1.wall + step2.wall:.1f} |"
            f" {full.wall:.1f} | {fmt(job_cpu / full.cpu if full.cpu else None)} |"
            f" {fmt((step2.cpu or 0) / rows * 1e6)} |"
        )
    return lines


def render_small_heap(rows: int, runs: list[SmallHeapRun]) -> list[str]:
    labels = {
        "percentile-fit": f"fit with Spark's exact `percentile` over the {millions(rows)}-row curated zone",
        "pipeline": f"the whole pipeline over {millions(rows)} rows (bounded fit)",
    }
    return [
        f"### Bounded memory: {millions(rows)} rows with a {SMALL_HEAP} heap (driver and executor: one JVM)",
        "",
        "| run | outcome | wall s | JVM CPU s | peak heap after GC, MB |",
        "| --- | --- | ---: | ---: | ---: |",
        *[
            f"| {labels[r.task]} | {r.outcome} | {fmt(r.sample.wall if r.sample else None, 1)} |"
            f" {fmt(r.sample.cpu if r.sample else None, 1)} | {fmt(r.sample.heap_mb if r.sample else None, 0)} |"
            for r in runs
        ],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, no small-heap runs, no report")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved floor rounds (default 3)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES

    (ROOT / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="etl-bench-", dir=ROOT / "build"))
    started = time.perf_counter()
    try:
        bench = Bench(work, sizes, args.repeats)
        print(f"generated {max(sizes):,} events in {len(bench.files)} files in {time.perf_counter() - started:.0f} s")
        floors = bench.floors()
        curve = bench.curve()
        increments = bench.increments()
        bench.spark.stop()
        small_heap = []
        if not args.quick:
            largest = bench.curated(sizes[-1])
            small_heap = [
                small_heap_run("percentile-fit", SMALL_HEAP, largest, work / "small-heap"),
                small_heap_run("pipeline", SMALL_HEAP, bench.raw, work / "small-heap"),
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    command = "python -m benchmarks.etl_pipeline" + (" --quick" if args.quick else "")
    body = "\n".join(
        [
            "## Glue ETL pipeline at scale (local PySpark)",
            "",
            f"Command: `{command}` ({minutes:.0f} minutes on this machine). Input: dirty synthetic events"
            f" (`tools.synthetic.events(dirty=True, rounded=False)`, one seed per file of {BLOCK_ROWS:,} events,"
            " plus a malformed line every 10,000) in gzip NDJSON files; a size of N rows is the first N / 50,000"
            " files. One `local[*]` Spark session with a "
            f"{HEAP} heap. CPU is the JVM's user + system time (/proc); peak heap is the highest occupancy"
            " right after a garbage collection during the run (the JVM's GC log).",
            "",
            *render_floors(sizes[0], floors),
            "",
            *render_curve(curve),
            "",
            *render_increments(increments),
            "",
            *(render_small_heap(sizes[-1], small_heap) if small_heap else ["(No small-heap runs with `--quick`.)"]),
        ]
    )
    print(body)
    if not (args.quick or args.no_report):
        write_section("etl_pipeline", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
