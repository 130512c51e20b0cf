"""glue/job.py against a stand-in for the awsglue library (which only exists on Glue).

The stand-in reads S3 paths as local folders, infers JSON types per record as a
DynamicFrame would, and imitates job bookmarks: files read by a committed run are not
read again. Three runs check the job's contract: curate what is new and rebuild the
training data from the whole curated zone; do nothing when nothing is new; and let a
later re-send of an event replace the older copy in the training data.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from housing_etl.pipeline import OutputPaths
from housing_etl.storage import read_curated

import contracts
from tests.glue.conftest import read_csv, write_ndjson
from tests.glue.fixtures import RAW_EVENTS

pytestmark = pytest.mark.spark
JOB_SCRIPT = Path(__file__).resolve().parents[2] / "glue" / "job.py"


class FakeGlue:
    """The parts of awsglue the job uses, with file-level bookmarks."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.committed: set[str] = set()
        self.pending: set[str] = set()
        self.reads: list[dict[str, Any]] = []
        self.commits = 0

    def modules(self) -> dict[str, types.ModuleType]:
        fake = self

        class GlueContext:
            def __init__(self, _spark_context: Any) -> None:
                self.spark_session = fake.spark
                self.create_dynamic_frame = types.SimpleNamespace(from_options=fake.from_options)

        class Job:
            def __init__(self, _glue_context: Any) -> None:
                pass

            def init(self, name: str, args: dict[str, str]) -> None:
                assert name == args["JOB_NAME"]

            def commit(self) -> None:
                fake.committed |= fake.pending
                fake.commits += 1

        def get_resolved_options(argv: list[str], names: list[str]) -> dict[str, str]:
            pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
            return {name: pairs[f"--{name}"] for name in names}

        package = types.ModuleType("awsglue")
        context = types.ModuleType("awsglue.context")
        job = types.ModuleType("awsglue.job")
        utils = types.ModuleType("awsglue.utils")
        context.GlueContext = GlueContext  # type: ignore[attr-defined]
        job.Job = Job  # type: ignore[attr-defined]
        utils.getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
        return {"awsglue": package, "awsglue.context": context, "awsglue.job": job, "awsglue.utils": utils}

    def from_options(self, **kwargs: Any) -> Any:
        self.reads.append(kwargs)
        (root,) = kwargs["connection_options"]["paths"]
        files = sorted(str(p) for p in Path(root).rglob("*.gz") if str(p) not in self.committed)
        self.pending = set(files)
        spark = self.spark

        class DynamicFrame:
            def resolveChoice(self, choice: str) -> DynamicFrame:
                assert choice == "cast:string"
                return self

            def toDF(self) -> Any:
                if not files:
                    return spark.createDataFrame([], "dummy string").drop("dummy")
                return spark.read.json(files)  # types inferred, as a DynamicFrame does

        return DynamicFrame()


@pytest.fixture()
def glue_job(spark: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeGlue]]:
    fake = FakeGlue(spark)
    for name, module in fake.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("glue_job_under_test", JOB_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, fake


def test_incremental_runs(
    glue_job: tuple[Any, FakeGlue], spark: Any, tmp_path: Path, fixture_run: tuple[Path, Path, Any]
) -> None:
    job, fake = glue_job
    raw = tmp_path / "raw" / "events"
    shutil.copytree(fixture_run[0], raw)
    argv = ["job.py", "--JOB_NAME", "prepare-features", "--raw_path", str(raw)]
    for name in ("curated", "training", "statistics"):
        argv += [f"--{name}_path", str(tmp_path / name)]
    argv += ["--scaling_method", "robust", "--validation_fraction", "0.2"]

    first = job.main(argv)
    assert first["curation"] == {"read": 13, "corrupt": 2, "rejected": 2, "duplicates_removed": 2, "curated": 7}
    assert first["training"] == {"unlabeled": 1, "train": 5, "validation": 1}
    (read,) = fake.reads
    assert read["transformation_ctx"] == "raw_events" and read["format"] == "json"
    assert read["connection_options"]["recurse"] is True
    assert_same_outputs(tmp_path, fixture_run[1])

    second = job.main(argv)  # the bookmark hides the processed files
    assert second == {"event": "etl_run", "curation": dict.fromkeys(first["curation"], 0)}

    resend = {**RAW_EVENTS[6], "event_time": 1767400000000, "price": 430000}  # e5 again, later
    write_ndjson(raw / "event_date=2026-01-03" / "home_type=townhouse" / "part-2.json.gz", [resend])
    third = job.main([*argv, "--split_seed", "0", "--JOB_RUN_ID", "jr_third"])
    assert third["curation"]["curated"] == 1
    latest, kept = (
        json.loads(Path(p).read_text()) for p in OutputPaths.under(str(tmp_path), run="jr_third").baseline_files
    )
    assert kept == latest and latest["provenance"] == {"source": "glue", "etl_run": "jr_third"}
    assert third["training"] == {"unlabeled": 1, "train": 5, "validation": 1}
    assert fake.commits == 3

    curated = read_curated(spark, str(tmp_path / "curated"), contracts.load())
    assert sorted(r["price"] for r in curated.where("event_id = 'e5'").collect()) == [420000.0, 430000.0]
    assert [float(row[0]) for row in read_csv(OutputPaths.under(str(tmp_path)).validation)] == [430000.0]


def assert_same_outputs(job_root: Path, pipeline_out: Path) -> None:
    """The job (types inferred per record, appended, read back, deduplicated again) and
    run_pipeline (one pass) produce the same statistics and training rows."""
    job_stats = json.loads((job_root / "statistics" / "feature_statistics.json").read_text())
    pipeline_stats = json.loads((pipeline_out / "statistics" / "feature_statistics.json").read_text())
    assert job_stats.keys() == pipeline_stats.keys()
    for name, spec in pipeline_stats["numeric"].items():
        assert job_stats["numeric"][name]["fitted"] == pytest.approx(spec["fitted"], rel=1e-12)
        assert {k: v for k, v in job_stats["numeric"][name].items() if k != "fitted"} == {
            k: v for k, v in spec.items() if k != "fitted"
        }
    assert {k: v for k, v in job_stats.items() if k != "numeric"} == {
        k: v for k, v in pipeline_stats.items() if k != "numeric"
    }
    job, pipeline = OutputPaths.under(str(job_root)), OutputPaths.under(str(pipeline_out))
    job_baseline, pipeline_baseline = (json.loads(Path(p.baseline_files[0]).read_text()) for p in (job, pipeline))
    assert job_baseline["features"] == pipeline_baseline["features"]
    for job_channel, pipeline_channel in ((job.train, pipeline.train), (job.validation, pipeline.validation)):
        assert sorted(read_csv(job_channel)) == sorted(read_csv(pipeline_channel))
