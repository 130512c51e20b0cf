"""Deterministic train/validation split.

``rand()`` gives a different split on every run (and on every task retry), which leaks
validation rows into training across re-runs and makes results irreproducible. A hash
of the event id puts each event on the same side every time, whatever the partitioning.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from housing_etl.dedup import ID_COLUMN

HASH_HEX_DIGITS = 13
HASH_RANGE = float(16**HASH_HEX_DIGITS)


def split_position(seed: int) -> Column:
    """A number in [0, 1) fixed by the seed and the event id.

    ``int(sha256(f"{seed}:{event_id}").hexdigest()[:13], 16) / 16**13``: 52 bits, so
    the value is exact in a double and reproducible outside Spark.
    """
    digest = F.sha2(F.concat(F.lit(f"{seed}:"), F.col(ID_COLUMN)), 256)
    prefix = F.conv(F.substring(digest, 1, HASH_HEX_DIGITS), 16, 10).cast("long")
    return prefix.cast("double") / F.lit(HASH_RANGE)


def is_validation(fraction: float, seed: int) -> Column:
    """True for rows that belong to the validation split."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    return split_position(seed) < F.lit(fraction)


def split_train_validation(df: DataFrame, fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """``(train, validation)``: about ``fraction`` of the events go to validation."""
    validation = is_validation(fraction, seed)
    return df.where(~validation), df.where(validation)
