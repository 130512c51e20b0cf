"""Glue job entry point: raw zone events in, curated Parquet and training data out.

A thin script: it reads the job arguments, reads only the raw files earlier runs have
not processed (job bookmarks, through a DynamicFrame with a transformation context),
and calls the transforms in ``housing_etl``, which ship with ``contracts`` as the
``--extra-py-files`` asset the ETL stack bundles. Only this script imports
``awsglue``; the transforms are plain PySpark and run anywhere.

The curated zone is append-only: each run adds the events it curated. Training data
and the feature statistics are rebuilt from the whole curated zone, deduplicated
again, so an event re-sent in a later run replaces its older copy there too.

Arguments (all required unless noted):

- ``--JOB_NAME``: set by Glue.
- ``--raw_path``: ``s3://`` prefix of the raw zone (read recursively).
- ``--curated_path``: ``s3://`` prefix of the curated zone (Parquet by ``event_date``).
- ``--training_path``: ``s3://`` prefix; ``channel=train/`` and ``channel=validation/`` CSV go below it.
- ``--statistics_path``: ``s3://`` prefix; ``feature_statistics.json`` and the drift
  baseline ``drift_baseline.json`` go below it, and this run's baseline also to
  ``runs/<JOB_RUN_ID>/drift_baseline.json``.
- ``--scaling_method``: ``standard``, ``minmax``, ``maxabs`` or ``robust``.
- ``--validation_fraction``: share of labeled events held out, in [0, 1).
- ``--split_seed`` (optional, default 0): seed of the deterministic split.
- ``--JOB_RUN_ID`` (set by Glue; optional elsewhere): names the run's baseline copy.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from awsglue.context import GlueContext  # type: ignore[import-not-found]
from awsglue.job import Job  # type: ignore[import-not-found]
from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
from housing_etl.pipeline import OutputPaths, run_increment
from housing_etl.storage import conform_raw_events
from pyspark.context import SparkContext

import contracts

ARGUMENTS = [
    "JOB_NAME",
    "raw_path",
    "curated_path",
    "training_path",
    "statistics_path",
    "scaling_method",
    "validation_fraction",
]
OPTIONAL_ARGUMENTS = {"split_seed": "0", "JOB_RUN_ID": ""}
RAW_CONTEXT = "raw_events"
MAX_GROUP_BYTES = str(128 * 1024 * 1024)


def resolve_arguments(argv: list[str]) -> dict[str, str]:
    """Required arguments, plus optional ones with their defaults."""
    present = [name for name in OPTIONAL_ARGUMENTS if f"--{name}" in argv]
    args: dict[str, str] = getResolvedOptions(argv, [*ARGUMENTS, *present])
    return {**OPTIONAL_ARGUMENTS, **args}


def read_new_raw_events(glue_context: Any, raw_path: str) -> Any:
    """The raw files not yet processed, as a DataFrame of the raw schema.

    The transformation context is what makes job bookmarks skip files earlier runs
    committed. Small Firehose objects are grouped into larger tasks. Types the
    DynamicFrame inferred per record (a "choice" of number and string) are cast to
    string so the standardisation sees the same input as from a plain Spark read.
    """
    frame = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={
            "paths": [raw_path],
            "recurse": True,
            "groupFiles": "inPartition",
            "groupSize": MAX_GROUP_BYTES,
        },
        format="json",
        transformation_ctx=RAW_CONTEXT,
    )
    return conform_raw_events(frame.resolveChoice(choice="cast:string").toDF(), contracts.load())


def main(argv: list[str]) -> dict[str, Any]:
    """Run one incremental curation and, if anything new was curated, rebuild training data."""
    args = resolve_arguments(argv)
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    contract = contracts.load()
    outputs = OutputPaths(
        curated=args["curated_path"],
        training=args["training_path"],
        statistics=args["statistics_path"],
        run=args["JOB_RUN_ID"] or None,
    )

    curation, training = run_increment(
        read_new_raw_events(glue_context, args["raw_path"]),
        contract,
        outputs,
        scaling_method=args["scaling_method"],
        validation_fraction=float(args["validation_fraction"]),
        seed=int(args["split_seed"]),
    )
    report: dict[str, Any] = {"event": "etl_run", "curation": asdict(curation)}
    if training is not None:
        report["training"] = asdict(training)
    print(json.dumps(report, sort_keys=True))
    job.commit()
    return report


if __name__ == "__main__":
    main(sys.argv)
