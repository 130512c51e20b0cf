"""Drift function throughput: one window of 100,000 captured requests against the floor of
only reading and decoding the same capture lines, in one run.

The capture records come from real requests of the predict function scored by the bundled
model (``tools.captures``: mostly one listing per request, some batches of 2 to 5), in files
of 500 records in one hour's folder. Both sides read them through the same in-memory S3
stand-in (list page by page, get each object), so the ratio is the function's own work:

- floor: list and get every object, ``json.loads`` every line, split the CSV input into
  floats and parse the answers;
- drift function: ``drift.run`` for that window (decode with every check, map each row to
  its vector, bin, PSI and KS against the bundled baseline, metrics, report, summary).

Interleaved runs after a warm-up, medians. Also measures the PSI of a deliberately shifted
window (living areas 30% larger) next to the unshifted one. Run: ``python -m benchmarks.drift``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.report import median, write_section
from tools import captures

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "drift"))
import drift  # noqa: E402

RECORDS = 100_000
PER_FILE = 500
RUNS = 5
SHIFTED_LISTINGS = 15_000
LISTINGS_PER_REQUEST = 1.5  # 80% single listings, 20% batches of 2-5
BUCKET = "capture-zone"


class MemoryS3:
    """The S3 calls the drift function makes, served from memory (pages of 1,000 keys)."""

    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.reports: dict[str, bytes] = {}

    def get_paginator(self, _name: str) -> Any:
        keys = sorted(self.objects)

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:
                found = [k for k in keys if k.startswith(Prefix)]
                for start in range(0, len(found), 1000):
                    yield {"Contents": [{"Key": k} for k in found[start : start + 1000]]}

        return Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, **kwargs: Any) -> None:
        self.reports[kwargs["Key"]] = kwargs["Body"]


def window(
    listings: int, *, seed: int, scale: dict[str, float] | None = None, records: int | None = None
) -> dict[str, bytes]:
    """Capture files of one hour: the first ``records`` requests made of ``listings`` listings."""
    made = captures.capture_records(
        captures.listings(listings, seed=seed, scale=scale),
        captures.model_scorer(),
        seed=seed,
        spacing=timedelta(milliseconds=30),
    )[:records]
    return {f"inference-capture/{k}": v for k, v in captures.capture_files(made, per_file=PER_FILE).items()}


def settings() -> drift.Settings:
    return drift.Settings(
        capture_bucket=BUCKET,
        capture_prefix="inference-capture/",
        endpoint=captures.ENDPOINT,
        baselines={captures.VARIANT: str(ROOT / "model" / "drift_baseline.json")},
        report_bucket="curated-zone",
        report_prefix="drift-reports/",
        window_hours=1,
        min_sample_size=500,
        feature_psi_threshold=0.25,
        prediction_psi_threshold=0.1,
    )


EVENT = {"window_end": (captures.START + timedelta(hours=1)).isoformat()}


def run_function(s3: MemoryS3) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):
        (report,) = drift.run(settings(), s3, EVENT)
    return report


def run_floor(s3: MemoryS3) -> int:
    """Read and decode the same lines: the least any monitor of this capture must do."""
    rows = answers = 0
    prefix = f"inference-capture/{captures.ENDPOINT}/{captures.VARIANT}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page["Contents"]:
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for line in body.split(b"\n"):
                if line:
                    capture = json.loads(line)["captureData"]
                    vectors = [list(map(float, r.split(","))) for r in capture["endpointInput"]["data"].split("\n")]
                    rows += len(vectors)
                    answers += len(list(map(float, capture["endpointOutput"]["data"].split())))
    assert answers == rows
    return rows


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> int:
    count = int((argv if argv is not None else sys.argv[1:] or [RECORDS])[0])
    s3 = MemoryS3(window(round(count * LISTINGS_PER_REQUEST * 1.02), seed=99, records=count))
    records = sum(body.count(b"\n") for body in s3.objects.values())
    report = run_function(s3)
    assert run_floor(s3) == report["rows"] and report["records"] == records
    samples: dict[str, list[float]] = {"floor": [], "function": []}
    for _ in range(RUNS):
        samples["floor"].append(timed(run_floor, s3)[0])
        samples["function"].append(timed(run_function, s3)[0])
    floor_s, function_s = median(samples["floor"]), median(samples["function"])
    ratio = function_s / floor_s

    shifted = run_function(MemoryS3(window(SHIFTED_LISTINGS, seed=98, scale={"living_area": 1.3})))
    same = run_function(MemoryS3(window(SHIFTED_LISTINGS, seed=98)))
    features = report["features"]
    body = (
        "## Drift function: a window of captured requests against reading and decoding them\n\n"
        f"`python -m benchmarks.drift` - {records:,} capture records ({report['rows']:,} rows: real predict "
        f"requests scored by the bundled model, `tools.captures`) in {len(s3.objects)} files of {PER_FILE} "
        f"records, one hour's window, served from memory to both sides; {RUNS} interleaved runs after a "
        "warm-up, medians.\n\n"
        "| measurement | median seconds | records/s |\n| --- | ---: | ---: |\n"
        f"| floor: list, get, `json.loads` each line, parse the CSV input and the answers | {floor_s:.2f} "
        f"| {records / floor_s:,.0f} |\n"
        f"| drift function: `drift.run` (decode and check, bin, PSI and KS per feature, metrics, report) "
        f"| {function_s:.2f} | {records / function_s:,.0f} |\n\n"
        f"**Ratio: {ratio:.2f}x** the floor (target <= 2.0x, {'met' if ratio <= 2.0 else 'missed'}).\n\n"
        f"Against the bundled baseline, this unshifted window's largest feature PSI is "
        f"{max(f['psi'] for f in features.values()):.4f} and its prediction PSI "
        f"{report['prediction']['psi']:.4f}. A window of {same['rows']:,} rows with living areas 30% larger "
        f"than in training: living_area PSI {shifted['features']['living_area']['psi']:.3f} "
        f"(KS {shifted['features']['living_area']['ks']:.3f}), prediction PSI {shifted['prediction']['psi']:.3f}, "
        f"against {same['features']['living_area']['psi']:.4f} and {same['prediction']['psi']:.4f} for the same "
        f"listings unshifted; drifted features {shifted['drifted_features']}, predictions drifted "
        f"{shifted['prediction_drifted']}."
    )
    write_section("drift", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
