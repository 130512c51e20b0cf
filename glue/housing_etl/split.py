"""Deterministic train/validation split.

``rand()`` gives a different split on every run (and on every task retry), which leaks
validation rows into training across re-runs and makes results irreproducible. A hash
of the event id puts each event on the same side every time, whatever the partitioning.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from housing_etl.dedup import ID_COLUMN

CHANNEL_COLUMN = "channel"
TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
HASH_BITS = 52
HASH_MASK = (1 << HASH_BITS) - 1


def split_position(seed: int) -> Column:
    """A number in [0, 1) fixed by the seed and the event id.

    The low 52 bits of Spark's ``xxhash64(seed, event_id)`` over 2**52: exact in a
    double, uniform, and stable across Spark versions and partitionings.
    """
    digest = F.xxhash64(F.lit(seed), F.col(ID_COLUMN))
    return digest.bitwiseAND(F.lit(HASH_MASK)).cast("double") / F.lit(float(1 << HASH_BITS))


def is_validation(fraction: float, seed: int) -> Column:
    """True for rows that belong to the validation split."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    return split_position(seed) < F.lit(fraction)


def split_train_validation(df: DataFrame, fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """``(train, validation)``: about ``fraction`` of the events go to validation."""
    validation = is_validation(fraction, seed)
    return df.where(~validation), df.where(validation)


def channel(fraction: float, seed: int) -> Column:
    """The SageMaker channel of each row: ``validation`` or ``train``."""
    return F.when(is_validation(fraction, seed), F.lit(VALIDATION_CHANNEL)).otherwise(F.lit(TRAIN_CHANNEL))


def channel_path(training: str, name: str) -> str:
    """The folder one channel's files go to below the training prefix (Hive style, so
    one CSV write fills both and a crawler sees ``channel`` as a partition)."""
    return f"{training.rstrip('/')}/{CHANNEL_COLUMN}={name}"
