"""Categorical encoding by the contract: ordinal mapping and one-hot columns.

Ordinal values carry an order the model may use (a large garden is more than a small
one); nominal values do not, so they are one-hot encoded and never given integers.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import Contract, Field


def ordinal_code(field: Field) -> Column:
    """The mapped value; unseen or missing values take the code of the missing constant.

    The contract says an unseen ordinal value is treated as missing, so it ends up
    where a missing value does instead of failing or getting an invented code.
    """
    fallback = int(field.mapping[field.missing_value])
    branches = [(F.col(field.name) == F.lit(k), F.lit(int(v))) for k, v in field.mapping.items()]
    first, *rest = branches
    expr = reduce(lambda acc, b: acc.when(b[0], b[1]), rest, F.when(first[0], first[1]))
    return expr.otherwise(F.lit(fallback))


def one_hot(field: Field) -> dict[str, Column]:
    """One 0/1 int column per contract category, plus ``<name>_other`` for the rest.

    Unseen and missing values both set the ``_other`` column, so an unexpected value
    at inference time still yields a vector of the trained width.
    """
    value = F.col(field.name)
    columns = {f"{field.name}_{c}": F.coalesce((value == F.lit(c)).cast("int"), F.lit(0)) for c in field.categories}
    known = F.coalesce(value.isin(*field.categories), F.lit(False))
    columns[field.one_hot_columns[-1]] = (~known).cast("int")
    return columns


def encode(df: DataFrame, contract: Contract) -> DataFrame:
    """Replace ordinal values by their codes and add the one-hot columns.

    Numeric features become doubles; ordinal codes and one-hot columns are ints
    (they are whole numbers, and ints are cheaper to write as CSV than doubles).
    """
    columns: dict[str, Column] = {f.name: F.col(f.name).cast("double") for f in contract.numeric_features}
    for f in contract.ordinal_features:
        columns[f.name] = ordinal_code(f)
    for f in contract.nominal_features:
        columns.update(one_hot(f))
    return df.withColumns(columns)
