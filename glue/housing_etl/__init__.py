"""Feature preparation for the housing listing events, as plain PySpark transforms.

The package ships to AWS Glue as an extra Python file (see ``glue/package.py``) next
to the ``contracts`` package it reads. Importing the package itself pulls in nothing
but the standard library, so :mod:`housing_etl.features` (the pure-Python encoder the
inference Lambda uses) loads where PySpark is not installed.

Modules:

- ``schema``: the raw and curated Spark schemas derived from the contract.
- ``storage``: reading raw NDJSON and curated Parquet; writing Parquet, CSV, JSON.
- ``standardise``: casing, units, timestamps, numeric casting, range checks.
- ``dedup``: one row per ``event_id``, the latest ``event_time`` winning.
- ``missing``: the contract's missing-value policy (median, constant, flag, drop).
- ``encode``: ordinal mapping and one-hot columns.
- ``scaling``: fitting and applying the feature statistics.
- ``split``: the deterministic train/validation split.
- ``features``: the same imputation, encoding and scaling for one record, no Spark.
- ``pipeline``: the composition the Glue job and the benchmark run.
"""
