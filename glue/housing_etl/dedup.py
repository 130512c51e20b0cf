"""Deduplication: one row per event id.

Producers retry, Firehose delivers at least once and batch uploads overlap the stream,
so the same event arrives more than once, sometimes re-sent later with corrections.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ID_COLUMN = "event_id"
TIME_COLUMN = "event_time"
_RANK = "_rank"


def filled_count(columns: list[str]) -> Column:
    """How many of the columns are not null: the completeness of a record."""
    flags = [F.col(c).isNotNull().cast("int") for c in columns]
    return reduce(lambda a, b: a + b, flags, F.lit(0))


def latest_first(columns: list[str]) -> list[Column]:
    """The order that puts the row to keep first among copies of one event.

    By ``event_time``, then completeness (more non-null columns), then the remaining
    values column by column in input order, greatest first and nulls last: the
    survivor depends only on the data, never on file order or partitioning.
    """
    others = [c for c in columns if c not in (ID_COLUMN, TIME_COLUMN)]
    return [
        F.col(TIME_COLUMN).desc_nulls_last(),
        filled_count(others).desc(),
        *[F.col(c).desc_nulls_last() for c in others],
    ]


def deduplicate(df: DataFrame) -> DataFrame:
    """Keep, for each ``event_id``, the row with the latest ``event_time``.

    Ties on the time go to the more complete record, then to the greatest remaining
    values (see :func:`latest_first`). Rows without an ``event_id`` cannot be matched
    and are dropped. One ``row_number`` window ranks the copies: one shuffle, one sort.

    The window is keyed by a 64-bit hash of the id before the id itself: the sort
    then compares a number that almost always differs, instead of ids that often
    share a long prefix (a producer or date stamp) and must be compared in full.
    """
    copies = Window.partitionBy(F.xxhash64(ID_COLUMN), ID_COLUMN).orderBy(*latest_first(df.columns))
    ranked = df.where(F.col(ID_COLUMN).isNotNull()).withColumn(_RANK, F.row_number().over(copies))
    return ranked.where(F.col(_RANK) == 1).drop(_RANK)
