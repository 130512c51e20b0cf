"""Glue job entry point: raw zone events in, curated Parquet and training data out.

A thin script: it reads the job arguments, reads only the raw files it has not seen
(job bookmarks, through a DynamicFrame with a transformation context), and calls the
transforms in `housing_etl` (shipped with `contracts` as `--extra-py-files`).

The curated zone is append-only: each run adds the newly curated events. Training data
is rebuilt from the whole curated zone, deduplicated again, so an event re-sent with a
later event time replaces the older copy wherever the data is used.

Arguments: JOB_NAME, raw_path, curated_path, training_path, statistics_path,
scaling_method, validation_fraction.
"""

from __future__ import annotations

import json
import sys

from awsglue.context import GlueContext  # type: ignore[import-not-found]
from awsglue.job import Job  # type: ignore[import-not-found]
from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
from housing_etl.dedup import deduplicate
from housing_etl.pipeline import OutputPaths, build_training_data, curate
from housing_etl.storage import conform_raw_events, path_exists, read_curated, write_curated
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
SPLIT_SEED = 0


def main() -> None:
    args = getResolvedOptions(sys.argv, ARGUMENTS)
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    contract = contracts.load()

    new_events = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={"paths": [args["raw_path"]], "recurse": True},
        format="json",
        transformation_ctx="raw_events",
    ).resolveChoice(choice="cast:string")
    curated_new, curation = curate(conform_raw_events(new_events.toDF(), contract), contract)
    if curation.curated:
        write_curated(curated_new, args["curated_path"], mode="append")
    curated_new.unpersist()
    report: dict[str, object] = {"event": "curation", **curation.__dict__}

    if path_exists(spark, args["curated_path"]):
        curated = deduplicate(read_curated(spark, args["curated_path"], contract)).cache()
        outputs = OutputPaths(
            curated=args["curated_path"], training=args["training_path"], statistics=args["statistics_path"]
        )
        _, training = build_training_data(
            curated,
            contract,
            outputs,
            scaling_method=args["scaling_method"],
            validation_fraction=float(args["validation_fraction"]),
            seed=SPLIT_SEED,
        )
        curated.unpersist()
        report["training"] = training.__dict__
    print(json.dumps(report))
    job.commit()


if __name__ == "__main__":
    main()
