"""Feature preparation for the housing listing events, as plain PySpark transforms.

The package ships to AWS Glue as an extra Python file (bundled by the ETL stack) next
to the ``contracts`` package it reads. The per-record encoder the inference Lambda
uses lives in :mod:`contracts.features`, so training and serving share one definition.

Modules:

- ``schema``: the raw and curated Spark schemas derived from the contract.
- ``storage``: reading raw NDJSON and curated Parquet; writing Parquet, CSV, JSON.
- ``standardise``: casing, units, timestamps, numeric casting, range checks.
- ``dedup``: one row per ``event_id``, the latest ``event_time`` winning.
- ``missing``: the contract's missing-value policy (median, constant, flag, drop).
- ``encode``: ordinal mapping and one-hot columns.
- ``scaling``: fitting and applying the feature statistics.
- ``baseline``: the drift baseline of the training split (``contracts.drift``'s definitions).
- ``split``: the deterministic train/validation split.
- ``pipeline``: the composition the Glue job and the benchmark run.
"""
