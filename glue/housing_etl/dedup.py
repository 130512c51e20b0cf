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
ROWS_COLUMN = "_rows"
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


def collapse(df: DataFrame, columns: list[str], keep: Column, counters: dict[str, Column]) -> DataFrame:
    """Deduplicate the rows where ``keep`` holds, and count everything on the way.

    Returns ``columns`` for one row per ``event_id`` among kept rows plus, if any row
    was not kept, one row with a null ``event_id`` standing for all of those (its
    other values are meaningless). Each row carries ``_rows`` (how many input rows it
    stands for) and the sum of each of ``counters`` (a number per input row), so the
    caller gets every count from the deduplicated data without reading the input
    twice. A window ranks the copies: one shuffle and one sort.

    The window is keyed by a 64-bit hash of the id before the id itself: the sort
    then compares a number that almost always differs, instead of ids that often
    share a long prefix (a producer or date stamp) and must be compared in full.
    """
    keyed = df.select(
        *[F.when(keep, F.col(c)).alias(c) if c == ID_COLUMN else F.col(c) for c in columns],
        *[expr.alias(name) for name, expr in counters.items()],
    )
    copies = Window.partitionBy(F.xxhash64(ID_COLUMN), ID_COLUMN)
    ranked = keyed.select(
        *columns,
        F.row_number().over(copies.orderBy(*latest_first(columns))).alias(_RANK),
        F.count(F.lit(1)).over(copies).alias(ROWS_COLUMN),
        *[F.sum(name).over(copies).alias(name) for name in counters],
    )
    return ranked.where(F.col(_RANK) == 1).select(*columns, ROWS_COLUMN, *counters)


def deduplicate(df: DataFrame) -> DataFrame:
    """Keep, for each ``event_id``, the row with the latest ``event_time``.

    Ties on the time go to the more complete record, then to the greatest remaining
    values (see :func:`latest_first`). Rows without an ``event_id`` cannot be matched
    and are dropped.
    """
    collapsed = collapse(df, df.columns, F.col(ID_COLUMN).isNotNull(), {})
    return collapsed.where(F.col(ID_COLUMN).isNotNull()).drop(ROWS_COLUMN)
