"""Deduplication: one row per event id.

Producers retry, Firehose delivers at least once and batch uploads overlap the stream,
so the same event arrives more than once, sometimes re-sent later with corrections.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ID_COLUMN = "event_id"
TIME_COLUMN = "event_time"
_WINNER = "_winner"
_FILLED = "_filled"


def filled_count(columns: list[str]) -> Column:
    """How many of the columns are not null: the completeness of a record."""
    flags = [F.col(c).isNotNull().cast("int") for c in columns]
    return reduce(lambda a, b: a + b, flags, F.lit(0))


def deduplicate(df: DataFrame) -> DataFrame:
    """Keep, for each ``event_id``, the row with the latest ``event_time``.

    Ties on the time go to the more complete record (more non-null columns), then to
    the greatest remaining values compared column by column in input order, so the
    survivor depends only on the data, never on file order or partitioning. One
    grouped ``max`` over a struct does it in a single shuffle. Rows without an
    ``event_id`` cannot be matched and are dropped.
    """
    others = [c for c in df.columns if c not in (ID_COLUMN, TIME_COLUMN)]
    ranked = F.struct(
        F.col(TIME_COLUMN).alias(TIME_COLUMN),
        filled_count(others).alias(_FILLED),
        *[F.col(c) for c in others],
    )
    winners = df.where(F.col(ID_COLUMN).isNotNull()).groupBy(ID_COLUMN).agg(F.max(ranked).alias(_WINNER))
    return winners.select(
        *[F.col(c) if c == ID_COLUMN else F.col(_WINNER).getField(c).alias(c) for c in df.columns]
    )
